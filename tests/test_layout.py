"""The package's shape, checked from the source (AST): layers that import only downwards, no import circles,
at most 25 modules directly in ``simplepose/``, MXNet only where the layout says, one ``load_model``.

Every import counts, a function-local one too (a local import hides a circle, it does not remove it); only the
``if __name__ == "__main__":`` block of a command module is left out: it starts the command line through
``commands.run_command``, it is not a dependency of the module.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "simplepose"

# Bottom to top. A module may import modules of its own layer or of a lower one, never of a higher one.
# Each entry is a module or a package (then every module in it); the longest matching entry decides.
LAYERS = (
    ("base", ("errors", "json_numbers", "tempfiles", "flags", "zoo")),
    ("files and command-line plumbing", ("io", "cli")),
    ("keypoint metadata", ("keypoint_names", "sigma_tables", "meta")),
    ("crops, heatmaps, rendered data", ("geometry", "codec", "synthetic")),
    ("data", ("data",)),
    ("scoring and pictures", ("scoring", "visualize")),
    ("training config", ("config",)),
    ("run directory", ("rundir",)),
    ("model and runtime", ("model", "runtime")),
    ("command-line options", ("options",)),
    ("training", ("training",)),
    ("commands", ("export", "predict", "train", "evaluate", "plot", "launch", "pack", "commands",
                  "synthetic.__main__")),
)
# Modules that may import MXNet or GluonCV (at module level or inside a function): the rest run without them.
MXNET_MODULES = ("model", "runtime.mxnet", "training", "export.command", "predict.gluon_detector", "evaluate")
MAX_TOP_LEVEL = 25


def modules() -> dict[str, Path]:
    """Dotted name below ``simplepose`` (``runtime.load``; a package by its name) -> file."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_main_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__")


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The simplepose modules ``name`` imports (``from simplepose.x import y`` counts ``x.y`` when that is a
    module, else ``x``), and the outside top-level packages, prefixed ``ext:``."""
    tree = ast.parse(path.read_text(), str(path))
    skip = {id(n) for node in ast.walk(tree) if _is_main_block(node) for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        assert not getattr(node, "level", 0), f"{path}:{node.lineno}: relative import (simplepose uses absolute ones)"
        targets = ([a.name for a in node.names] if isinstance(node, ast.Import)
                   else [f"{node.module}.{a.name}" for a in node.names])
        for target in targets:
            if not target.startswith("simplepose."):
                found.add("ext:" + target.split(".")[0])
                continue
            target = target.removeprefix("simplepose.")
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def layer_of(name: str) -> int:
    best, rank = -1, None
    for i, (_, members) in enumerate(LAYERS):
        for member in members:
            if (name == member or name.startswith(member + ".")) and len(member) > best:
                best, rank = len(member), i
    assert rank is not None, f"simplepose.{name} is in no layer of tests/test_layout.py: add it where it belongs"
    return rank


def test_imports_run_downwards_only():
    upward = [f"simplepose.{a} ({LAYERS[layer_of(a)][0]}) imports simplepose.{b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in graph().items() if a for b in sorted(targets)
              if not b.startswith("ext:") and b and layer_of(b) > layer_of(a)]
    assert upward == []


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    edges = {a: {b for b in targets if not b.startswith("ext:")} for a, targets in graph().items()}
    assert circles(edges) == []


def test_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_at_most_25_modules_directly_in_the_package():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert len(top) <= MAX_TOP_LEVEL, top


def test_mxnet_is_imported_only_where_the_layout_says():
    outside = sorted(name for name, targets in graph().items() if targets & {"ext:mxnet", "ext:gluoncv"}
                     and not any(name == m or name.startswith(m + ".") for m in MXNET_MODULES))
    assert outside == []


def test_one_load_model():
    defined = [f"{path.relative_to(PACKAGE)}:{node.lineno}" for path in PACKAGE.rglob("*.py")
               for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)
               and node.name in ("load_model", "box_iou")]
    assert sorted(d.split(":")[0] for d in defined) == ["geometry.py", "runtime/load.py"], defined


NO_MXNET = """
import sys
sys.modules["mxnet"] = sys.modules["gluoncv"] = None   # any import of them now raises ImportError
from simplepose.rundir.checkpoint import checkpoints_in, load_manifest
from simplepose.rundir.directory import find_resume, read_metrics
from simplepose.runtime.describe import describe
from simplepose.runtime.load import load_model
from simplepose import plot
run, export, out = sys.argv[1:4]
assert load_manifest(run)["epoch"] == 3 and find_resume(run)["epoch"] == 3 and checkpoints_in(run)
assert len(read_metrics(run + "/metrics.jsonl")) == 4
assert describe(run, zoo_weights=str)[0] == "checkpoint" and describe(export, zoo_weights=str)[0] == "export"
assert load_model(export, "onnx").description["input_size"] == [64, 64]   # deploy.json checked against the files
assert plot.main([run, "--out", out, "--samples", "1"]) == 0
print("ok", sorted(m for m in sys.modules if m.split(".")[0] in ("mxnet", "gluoncv") and sys.modules[m]))
"""


def test_reading_checkpoints_run_directories_and_exports_needs_no_mxnet(trained, exported_model, tmp_path):
    """A checkpoint, a run directory (metrics, resume lookup, plot) and an export's deploy.json checks work in a
    process where importing MXNet or GluonCV fails: they start fast, and an ONNX export runs without MXNet."""
    run = str(Path(trained).parent)
    res = subprocess.run([sys.executable, "-c", NO_MXNET, run, str(exported_model), str(tmp_path / "plots")],
                         capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300)
    assert res.returncode == 0 and res.stdout.splitlines()[-1] == "ok []", res.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["augmentations.png", "heatmaps.png",
                                                                      "training_curves.png"]


def test_tests_mirror_the_packages():
    """A test of a package's module lives in tests/PACKAGE/ (the command lines' in tests/commands/); the base
    layers' and the whole install's stay in tests/."""
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    folders = {p.parent.name for p in (PACKAGE.parent / "tests").glob("*/test_*.py")}
    assert folders <= packages | {"commands"}, folders - packages
    assert folders == packages | {"commands"}, packages - folders
