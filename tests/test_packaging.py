"""The package people install: its wheel in a fresh virtual environment, the requirement files, the console
scripts, every command's --help, the optional build of the region decoder and the ONNX Runtime pin."""
import functools
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from simplepose.cli import HelpFormatter
from simplepose.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What a wheel is built from: the files of an sdist, without anything a local build left behind.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "simplepose")
BUILD_LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "build", "*.egg-info")


def pip(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """This interpreter's pip; fails the test with pip's output when it fails."""
    res = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, f"pip {' '.join(args)}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def copy_sources(dest: Path, *extra: str) -> Path:
    """``dest`` holding a clean copy of the package's sources (and the ``extra`` files of the checkout):
    builds there leave nothing in the checkout nor find anything an earlier build left."""
    dest.mkdir(parents=True)
    for name in SOURCES + extra:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=BUILD_LEFTOVERS)
        else:
            shutil.copy2(ROOT / name, dest / name)
    return dest


def build_wheel(out: Path, env: dict | None = None) -> tuple[Path, subprocess.CompletedProcess]:
    """A wheel built (verbosely, with build isolation) from a clean copy of the package's sources."""
    src = copy_sources(out / "src")
    res = pip("wheel", "--no-deps", "-v", "-w", str(out / "wheel"), str(src), cwd=out, env=env)
    (wheel,) = (out / "wheel").glob("simplepose-*.whl")
    return wheel, res


def fresh_venv(venv: Path) -> Path:
    """A new virtual environment at ``venv`` without pip (this interpreter's pip installs into it) and without
    the system's site-packages; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    return venv / "bin" / "python"


def wheelhouse(request, tmp_path: Path, name: str) -> Path:
    """Where the dependencies' wheels are kept between runs (pytest's cache, as pip's cache would keep them)."""
    cache = getattr(request.config, "cache", None)   # None with -p no:cacheprovider
    return cache.mkdir(name) if cache else tmp_path / name


def install_into(python: Path, house: Path, *args: str, cwd: Path = ROOT) -> None:
    """``pip install ARGS`` into the environment of ``python``: from the wheels in ``house`` when they hold
    all it needs, else downloaded there from the package index first."""
    install = ("--python", str(python), "install", "--quiet", "--no-compile", "--no-index", "--find-links",
               str(house), *args)
    if subprocess.run([sys.executable, "-m", "pip", *install], cwd=cwd, capture_output=True, timeout=900).returncode:
        pip("download", "--quiet", "-d", str(house), *args, cwd=cwd)
        pip(*install, cwd=cwd)


def install_wheel(python: Path, wheel: Path, extra: str, house: Path) -> None:
    """``wheel[extra]`` into the environment of ``python`` (see :func:`install_into`); ``house`` keeps the
    dependencies' wheels, not this one's."""
    install_into(python, house, f"{wheel}[{extra}]", cwd=wheel.parent)
    (house / wheel.name).unlink(missing_ok=True)


def requirement_names(requirements: list[str]) -> set[str]:
    """{'numpy', ...} of ['numpy>=1.21,<1.24', ...] (PEP 508 strings, as in pyproject.toml or metadata)."""
    return {re.split(r"[\s<>=!~;(\[]", r, maxsplit=1)[0].lower() for r in requirements}


def shown_help(parser) -> str:
    """The --help text with one line per action and an unwrapped usage line."""
    parser.formatter_class = functools.partial(HelpFormatter, width=100_000, max_help_position=100_000)
    return parser.format_help()


@pytest.mark.parametrize("command", COMMANDS, ids=[c.script for c in COMMANDS])
def test_help_states_defaults_with_meaningful_metavars(command):
    parser = command.build_parser()
    assert parser.formatter_class is HelpFormatter
    text = shown_help(parser)
    usage, lines = text.splitlines()[0], text.splitlines()[1:]
    assert usage.startswith(f"usage: {command.script} "), usage
    actions = [a for a in parser._actions if a.dest != "help"]
    assert actions
    for action in actions:
        name = action.option_strings[-1] if action.option_strings else action.metavar or action.dest
        assert action.help and action.help.strip(), f"{command.script} {name}: no help text"
        # every option in the usage line (simplepose.launch's hand-written usage once left some out)
        assert any(f"{s} " in usage or f"{s}]" in usage for s in action.option_strings or [action.metavar]), name
        if action.nargs == 0:
            continue
        if action.option_strings:   # argparse's fallback metavar is the upper-cased dest, e.g. INPUT_SIZE
            assert action.choices is not None or action.metavar not in (None, action.dest.upper()), name
        else:
            assert action.metavar not in (None, action.dest), name
        line = next(ln for ln in lines if re.match(rf"  ((-\S+)( \S+)?, )*{re.escape(name)}( |$)", ln))
        if action.default is None or action.default in ("", []):
            continue
        # the formatter states a value's default, and the help text must not state it a second time
        assert line.rstrip().endswith(f"(default: {action.default})"), line
        assert "default" not in action.help, f"{command.script} {name}: help states the default itself"
    # a default stated by hand is spelled as the formatter spells it
    assert not re.search(r"\(default[^:]", text), text


def test_console_scripts_run_every_command_through_run_main():
    scripts = PYPROJECT["project"]["scripts"]
    assert set(scripts) == {c.script for c in COMMANDS}
    for script, target in scripts.items():
        module, attr = target.split(":")
        entry = getattr(importlib.import_module(module), attr)
        assert entry.__self__.script == script and entry.__func__.__name__ == "run"
    for command in COMMANDS:
        assert callable(importlib.import_module(command.module).main)
        assert importlib.util.find_spec(command.python_m) is not None


def test_onnx_extra_lists_what_the_pinned_onnxruntime_declares():
    """onnxruntime goes in with --no-deps (its NumPy claim) beside [cpu] or [gpu]; the [onnx] extra must carry
    everything else it needs. Checked against the installed onnxruntime, which must be the pinned one."""
    pin = [ln for ln in (ROOT / "requirements-onnxruntime.txt").read_text().splitlines() if ln and ln[0] != "#"]
    assert pin == [f"onnxruntime=={importlib.metadata.version('onnxruntime')}"], pin
    declared = requirement_names(importlib.metadata.requires("onnxruntime"))
    extra = requirement_names(PYPROJECT["project"]["optional-dependencies"]["onnx"])
    project = PYPROJECT["project"]
    core = requirement_names(project["dependencies"] + project["optional-dependencies"]["cpu"])
    assert not declared - extra - core, f"add to the [onnx] extra: {declared - extra - core}"
    # the reason for --no-deps; when a pinned onnxruntime stops claiming NumPy >= 1.24, drop --no-deps
    assert any(re.fullmatch(r"numpy\s*\(?>=1\.24\.2\)?", r) for r in importlib.metadata.requires("onnxruntime"))


def test_mxnet_comes_only_with_the_cpu_and_gpu_extras_which_differ_only_in_its_build():
    """The base and [deploy] install neither MXNet nor GluonCV (an ONNX export runs without them); [cpu] and
    [gpu] carry the whole MXNet environment's pins, the same but for MXNet's build."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    mxnet_side = {"mxnet", "mxnet-cu112", "gluoncv"}
    assert not requirement_names(PYPROJECT["project"]["dependencies"] + extras["deploy"]) & mxnet_side
    assert extras["cpu"][0] == "mxnet==1.9.1" and extras["gpu"][0] == "mxnet-cu112==1.9.1"
    assert extras["cpu"][1:] == extras["gpu"][1:] and "gluoncv==0.10.5.post0" in extras["cpu"]
    # what the base asks for with lower bounds only, the MXNet installs cap (NumPy < 1.24 above all)
    assert requirement_names(PYPROJECT["project"]["dependencies"]) - {"tqdm", "simplejpeg"} <= \
        requirement_names(extras["cpu"])
    assert "numpy>=1.21,<1.24" in extras["cpu"] and "onnxruntime" in requirement_names(extras["deploy"])


def test_region_decoder_build_failure_only_warns(tmp_path):
    """No C compiler: the wheel still builds, without libroijpeg.so, and says what it means."""
    wheel, res = build_wheel(tmp_path, env={**os.environ, "CC": str(tmp_path / "no-such-cc")})
    assert "the region-of-interest JPEG decoder (simplepose/data/roi_jpeg.c) was not built" in res.stdout + res.stderr
    files = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True, text=True).stdout
    assert "simplepose/data/roi_jpeg.c" in files and "libroijpeg" not in files


def dry_runs(tmp_path: Path, *requirement_files: str) -> list[dict[str, str]]:
    """For each file, name -> version of everything pip would install from it into an empty environment
    (the resolutions run side by side, each in a copy of the checkout: they mostly wait for the index)."""
    reports = [tmp_path / f"{name}.json" for name in requirement_files]
    runs = [subprocess.Popen([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                              "--report", str(report), "-r", name], cwd=copy_sources(tmp_path / name, name),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name, report in zip(requirement_files, reports)]
    for name, run in zip(requirement_files, runs):
        output = run.communicate(timeout=900)[0]
        assert run.returncode == 0, f"pip install --dry-run -r {name}:\n{output[-3000:]}"
    return [{i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(r.read_text())["install"]}
            for r in reports]


@pytest.mark.slow
def test_cpu_and_gpu_requirements_resolve_to_the_same_packages_but_mxnet(tmp_path):
    cpu, gpu = dry_runs(tmp_path, "requirements.txt", "requirements-gpu.txt")
    assert cpu.pop("mxnet") == gpu.pop("mxnet-cu112") == "1.9.1"
    assert cpu == gpu
    assert {"simplepose", "simplejpeg", "gluoncv", "onnx", "numpy"} <= set(gpu)
    assert gpu["numpy"].startswith("1.23.")


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_every_command_runs(tmp_path, request):
    """The wheel with the cpu and onnx extras and ONNX Runtime in a new virtual environment (no system
    site-packages), as the README installs them: pip check, every console script's --help, python -m and
    tensorboard, from a directory outside the checkout."""
    timings = {}
    start = time.monotonic()
    wheel, _ = build_wheel(tmp_path)
    timings["build wheel"] = time.monotonic() - start
    venv = tmp_path / "venv"
    python = fresh_venv(venv)
    mark = time.monotonic()
    # the README's CPU install: the cpu and onnx extras, then ONNX Runtime without its dependencies
    house = wheelhouse(request, tmp_path, "simplepose-wheelhouse")
    install_wheel(python, wheel, "cpu,onnx", house)
    install_into(python, house, "--no-deps", "-r", str(ROOT / "requirements-onnxruntime.txt"))
    timings["install"] = time.monotonic() - mark
    # pip check: only onnxruntime's NumPy claim, the reason for --no-deps (its other dependencies are there)
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "check"], capture_output=True,
                         text=True, timeout=300)
    assert [ln for ln in res.stdout.splitlines() if ln] == [
        f"onnxruntime {importlib.metadata.version('onnxruntime')} has requirement numpy>=1.24.2, but you have "
        f"numpy {importlib.metadata.version('numpy')}."], res.stdout + res.stderr
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    mark = time.monotonic()
    for command in COMMANDS:
        res = subprocess.run([str(venv / "bin" / command.script), "--help"], cwd=outside, env=env,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(f"usage: {command.script} "), res.stdout[:200]
    timings["--help of every command"] = time.monotonic() - mark
    # bad input ends as everywhere else (run_main): one line, exit status 2
    res = subprocess.run([str(venv / "bin" / "simplepose-plot"), "no-such-run"], cwd=outside, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1] == "error: no-such-run: run directory not found"
    probe = "import simplepose.data.decode as d; print(d.__file__); print(d.REGION_DECODING)"
    res = subprocess.run([str(python), "-c", probe], cwd=outside, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    location, region = res.stdout.splitlines()
    assert Path(location).is_relative_to(venv), location
    from simplepose.data import decode
    assert region == str(decode.REGION_DECODING)   # built here as in the checkout (or skipped in both)
    res = subprocess.run([str(python), "-m", "simplepose.predict", "--help"], cwd=outside, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.startswith("usage: python -m simplepose.predict "), res.stderr
    # tensorboard, as the README shows it, reads the event files a run writes (tensorboardX's)
    events = outside / "runs" / "demo"
    write = ("from tensorboardX import SummaryWriter; w = SummaryWriter(%r); "
             "[w.add_scalar('train/loss', 1 / (i + 1), i) for i in range(3)]; w.close()" % str(events))
    subprocess.run([str(python), "-c", write], cwd=outside, env=env, check=True, timeout=300)
    res = subprocess.run([str(venv / "bin" / "tensorboard"), "--inspect", "--logdir", str(events)], cwd=outside,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "train/loss" in res.stdout and "num_steps            3" in res.stdout, \
        res.stdout + res.stderr
    print("wheel test: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
