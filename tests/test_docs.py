"""The documentation builds with warnings as errors: Sphinx-Gallery executes both tutorials and their pages
carry their figures, the API reference has a page for every public module, and the CLI reference lists every
option of every command (slow: one build). Without a build: the development guide's layout tables name every
package and module once, in its layer, with the MXNet importers marked; the API reference's landing page lists
every package and top-level module once, the internals apart; docs/cli.rst has every command."""
import argparse
import ast
import html as html_module
import importlib
import importlib.util
import pkgutil
import posixpath
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sphinx.util.inventory import InventoryFile

import simplepose

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """A fresh build of a copy of docs/ next to a link to the package: Sphinx-Gallery writes its pages into
    the source tree and skips tutorials it has run before, so building a copy really executes them."""
    tmp = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "docs", tmp / "docs", ignore=shutil.ignore_patterns(
        "_build", "auto_tutorials", "generated", "sg_execution_times.rst"))
    (tmp / "simplepose").symlink_to(ROOT / "simplepose")
    out = tmp / "html"
    res = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
                          str(tmp / "docs"), str(out)], capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out


def html_text(page: str) -> str:
    """The text of an HTML page: tags (e.g. the highlighter's spans) removed, entities decoded."""
    return html_module.unescape(re.sub(r"<[^>]+>", "", page))


def public_modules() -> list[str]:
    """Every Python module of the package whose dotted name has no component starting with '_'."""
    names = []
    for info in pkgutil.walk_packages(simplepose.__path__, "simplepose."):
        spec = importlib.util.find_spec(info.name)
        if spec.origin.endswith(".py") and not any(p.startswith("_") for p in info.name.split(".")):
            names.append(info.name)
    return names


def commands() -> dict[str, str]:
    """'module:parser function' of every command -> its console script (``simplepose.commands.COMMANDS``),
    after checking that every module run as ``python -m`` starts one of them."""
    from simplepose.commands import COMMANDS
    started = set()
    for path in [*(ROOT / "simplepose").rglob("*.py"), *ROOT.glob("*.py")]:
        started |= set(re.findall(r'run_command\("([\w.]+)"\)', path.read_text()))
    assert started == {c.module for c in COMMANDS}, "a module runs a command that COMMANDS does not list"
    return {c.parser: c.script for c in COMMANDS}


def inventory(html: Path, kind: str) -> set[str]:
    """The names of one kind of object in the build's objects.inv ('py:module', 'std:cmdoption', ...)."""
    with open(html / "objects.inv", "rb") as f:
        return set(InventoryFile.load(f, "", posixpath.join).get(kind, {}))


def documented_parsers() -> dict[str, str]:
    """'module:function' -> prog of each ``cli-parser`` directive of docs/cli.rst."""
    text = (ROOT / "docs" / "cli.rst").read_text()
    return dict(re.findall(r"^\.\. cli-parser:: (\S+)\n   :prog: (.+)$", text, re.M))


@pytest.mark.slow
def test_docs_build_runs_the_tutorials(html):
    assert "auto_tutorials/index.html" in (html / "index.html").read_text()
    pages = {"plot_1_dive_deep": ["COCO keypoint evaluation on ground-truth boxes", "BatchNormCudnnOff",
                                  "max abs difference 0"],
             "plot_2_own_keypoints": ["checkpoint: K = 23", "right_small_toe", "worst_instances.png",
                                      'class="highlight-bash']}
    for name, texts in pages.items():
        page = (html / "auto_tutorials" / f"{name}.html").read_text()
        for text in texts:
            assert text in page, (name, text)
        figures = sorted(set(re.findall(rf"_images/(sphx_glr_{name}_\d+\.png)", page)))
        assert len(figures) >= 7, (name, figures)
        for fig in figures:
            assert (html / "_images" / fig).stat().st_size > 10_000, fig
        # One figure per row: none is squeezed beside another.
        assert "sphx-glr-multi-img" not in page, name


@pytest.mark.slow
def test_tutorial_pages_show_each_command_then_its_output_in_order_and_no_helper(html):
    """The page shows a shell command once (its bash block), its output right below, stdout and stderr in the
    order they were written; the helper that runs the commands, and the empty code cell it leaves, are off it."""
    page = (html / "auto_tutorials" / "plot_2_own_keypoints.html").read_text()
    for helper in ("sh(", "Shell", "_helpers", "PYTHONPATH", "sphinx_gallery"):
        assert helper not in page, helper
    empty_cell = re.compile(r'<div class="highlight-Python notranslate"><div class="highlight"><pre>'
                            r'<span></span>\s*</pre>')
    assert not empty_cell.search(page)
    # Every bash block (one command each) is followed by the output of its command.
    bash_then_output = re.findall(r'<div class="highlight-bash notranslate">.*?</pre></div>\s*</div>\s*'
                                  r'<div class="sphx-glr-script-out', page, re.S)
    assert len(bash_then_output) == page.count('class="highlight-bash') == 7
    text = html_text(page)
    assert "python -m simplepose.train --dataset synthetic --data-dir $WORK/coco17" in text
    # The synthetic command logs on stderr, then prints its paths on stdout.
    assert 0 < page.index("INFO synthetic dataset written to $WORK/feet") < page.index("train_ann: $WORK/feet")


@pytest.mark.slow
def test_command_lines_and_logs_are_not_highlighted_as_python(html):
    """Usage lines (``[--input FILE] [--id N]``) and the guide's literal blocks (error messages, logs) are plain
    text: Python's lexer would colour from, input, id, dir as keywords and builtins."""
    cli = (html / "cli.html").read_text()
    assert cli.count('class="highlight-text') >= 8
    assert "highlight-default" not in cli and "highlight-python" not in cli.lower()
    for name in ("bad-input", "export-predict", "run-directory", "transfer"):
        page = (html / "guide" / f"{name}.html").read_text()
        assert 'class="highlight-text' in page and "highlight-default" not in page, name
        assert not re.search(r'<span class="(kn|k|nb)">(from|input|id|dir|import)</span>', page), name


@pytest.mark.slow
def test_api_reference_covers_every_public_module(html):
    modules = public_modules()
    assert {"simplepose.meta", "simplepose.data.coco", "simplepose.scoring.oks"} <= set(modules)
    documented = inventory(html, "py:module")
    missing = [m for m in modules
               if m not in documented or not (html / "api" / "generated" / f"{m}.html").is_file()]
    assert not missing, f"modules without an API page: {missing}"


def test_cli_reference_has_every_command_under_its_console_script():
    assert documented_parsers() == commands(), "docs/cli.rst: one cli-parser per command, as its console script"


@pytest.mark.slow
def test_cli_reference_lists_every_flag_of_every_command(html):
    documented = documented_parsers()
    options = inventory(html, "std:cmdoption")     # 'PROG.OPTION', spaces in PROG as '-'
    missing = []
    for spec, prog in documented.items():
        module, _, function = spec.partition(":")
        parser: argparse.ArgumentParser = getattr(importlib.import_module(module), function)()
        for action in parser._actions:
            names = action.option_strings or [action.metavar or action.dest.upper()]
            missing += [f"{prog} {name}" for name in names
                        if f"{prog.replace(' ', '-')}.{name}" not in options]
    assert not missing, f"options missing from the CLI reference: {missing}"
    assert len(documented) == 8 and len(options) > 140


def layout_tables() -> list[tuple[str, str, bool]]:
    """(layer name, path below simplepose/, marked MXNet) of every row of the development guide's layout
    tables, in page order; the layer is the ``.. rubric:: N. NAME`` above the table."""
    text = (ROOT / "docs" / "guide" / "development.rst").read_text()
    section = text[text.index("\nLayout\n------\n"):text.index("\nDocumentation\n-------------\n")]
    rows, layer = [], None
    for line in section.splitlines():
        if m := re.match(r"\.\. rubric:: (\d+)\. (.+)$", line):
            layer = m.group(2)
            assert int(m.group(1)) == len({r[0] for r in rows}) + 1, f"layer {layer!r} out of order"
        elif m := re.match(r"``([^`]+)``\s{2,}(.*)$", line):
            assert layer, f"{m.group(1)}: a row before the first layer"
            rows.append((layer, m.group(1), "*(MXNet)*" in m.group(2)))
    return rows


def dotted(path: str) -> str:
    """'runtime/load.py' -> 'runtime.load', 'runtime/' -> 'runtime' (test_layout's names)."""
    return path.removesuffix("/").removesuffix(".py").replace("/", ".")


def test_layout_tables_name_every_module_once_in_its_layer():
    from tests.test_layout import LAYERS, PACKAGE, graph, layer_of, modules
    rows = layout_tables()
    assert [name for name, _ in LAYERS] == list(dict.fromkeys(layer for layer, _, _ in rows))
    paths = [path for _, path, _ in rows]
    assert sorted({p for p in paths if paths.count(p) > 1}) == [], "named twice in development.rst"
    assert [p for p in paths if not (PACKAGE / p).exists()] == [], "named in development.rst, not in the tree"
    python = {dotted(p): layer for layer, p, _ in rows if p.endswith(("/", ".py"))}
    tree = set(modules()) - {""}
    assert sorted(tree - set(python)) == [], "add a row to docs/guide/development.rst's layout tables"
    assert sorted(set(python) - tree) == []
    misplaced = [f"{name}: under {layer!r}, test_layout.py says {LAYERS[layer_of(name)][0]!r}"
                 for name, layer in python.items() if LAYERS[layer_of(name)][0] != layer]
    assert misplaced == []
    # The MXNet boundary: the rows marked (MXNet) are exactly the modules that import MXNet or GluonCV.
    marked = {dotted(p) for _, p, mxnet in rows if mxnet}
    imports = {n for n, t in graph().items() if t & {"ext:mxnet", "ext:gluoncv"}}
    assert {"marked (MXNet) but imports none": sorted(marked - imports),
            "imports MXNet, not marked": sorted(imports - marked)} == {
        "marked (MXNet) but imports none": [], "imports MXNet, not marked": []}


def test_layout_section_states_the_mxnet_boundary_of_test_layout():
    from tests.test_layout import MXNET_MODULES
    text = (ROOT / "docs" / "guide" / "development.rst").read_text()
    boundary = re.search(r"\*\*The MXNet boundary\.\*\* Only (.+?) may import MXNet", text, re.S).group(1)
    assert sorted(re.findall(r"``([\w.]+)``", boundary)) == sorted(MXNET_MODULES)


def api_landing_sections() -> dict[str, list[str]]:
    """Section title of docs/api.rst -> the modules its autosummary tables list, in order."""
    sections: dict[str, list[str]] = {}
    title = None
    lines = (ROOT / "docs" / "api.rst").read_text().splitlines()
    for line, underline in zip(lines, lines[1:] + [""]):
        if underline.startswith("---") and len(underline) == len(line):
            title = line
            sections[title] = []
        elif m := re.match(r"   (simplepose(?:\.\w+)+)$", line):
            sections[title].append(m.group(1))
    return sections


def test_api_landing_page_lists_each_package_and_module_once_internals_apart():
    from tests.test_layout import modules
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    internal = conf["INTERNAL_MODULES"]
    assert conf["autosummary_context"]["internal"] is internal
    sections = api_landing_sections()
    assert list(sections) == ["Packages", "Modules", "Commands", "Internals"]
    listed = [name for names in sections.values() for name in names]
    assert sorted({n for n in listed if listed.count(n) > 1}) == [], "listed twice in docs/api.rst"
    tree = {f"simplepose.{name}" for name in modules() if name and not name.endswith("__main__")}
    top = {name for name in tree if name.count(".") == 1}    # packages and modules directly in simplepose/
    assert sorted(set(listed) - tree) == [], "docs/api.rst lists a module that is not in the tree"
    assert sorted(top - set(listed)) == [], "add the package or module to docs/api.rst"
    packages = {f"simplepose.{path.parent.name}" for path in (ROOT / "simplepose").glob("*/__init__.py")}
    assert sorted(sections["Packages"]) == sorted(packages)
    # Internals: their own section on the landing page, the same list as the note on their pages.
    assert sorted(sections["Internals"]) == sorted(internal) and set(internal) <= tree
    assert [n for n in listed if n.count(".") > 1 and n not in internal] == []


def test_every_package_says_in_its_first_line_what_it_holds():
    empty = [p.parent.name for p in sorted((ROOT / "simplepose").glob("*/__init__.py"))
             if not (ast.get_docstring(ast.parse(p.read_text())) or "").strip()]
    assert empty == [], "the API reference's landing page shows a package's first docstring line"
