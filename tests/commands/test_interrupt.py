"""Ctrl-C at any instant of any command is one line, ``error: interrupted``, and exit status 130.

The interrupt comes from inside, at a chosen instant (no timed sleep): tests/interrupt_at/sitecustomize.py
sends the process SIGINT when a given module is first imported, which for every command happens while
it loads (the window before ``run_main`` took over used to give a traceback).
"""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simplepose import cli
from simplepose.commands import COMMANDS
from simplepose.errors import SimplePoseError

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "tests" / "interrupt_at"
BIN = Path(sys.executable).parent
SHIMS = {"simplepose.train": "train_simple_pose.py", "simplepose.evaluate": "eval_simple_pose.py"}


def entries():
    """(name, argv, module imported while the command loads) of every way to start every command, at two
    instants: the first import ``commands.run_command`` makes (``simplepose.cli``: a millisecond or so after
    Python's own start-up) and one while the command's own imports load."""
    for c in COMMANDS:
        later = "socket" if c.module == "simplepose.launch" else "numpy"   # the launcher needs no NumPy
        for loads in ("simplepose.cli", later):
            yield f"{c.script} at {loads}", [str(BIN / c.script)], loads
            yield f"python -m {c.python_m} at {loads}", [sys.executable, "-m", c.python_m], loads
            if c.module in SHIMS:
                yield f"{SHIMS[c.module]} at {loads}", [sys.executable, SHIMS[c.module]], loads


ENTRIES = list(entries())


@pytest.mark.parametrize("name,argv,loads", ENTRIES, ids=[e[0] for e in ENTRIES])
def test_ctrl_c_while_the_command_loads_is_one_line_and_130(name, argv, loads):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HOOK), str(ROOT)]), "SIMPLEPOSE_SIGINT_AT": loads}
    # --help: were the interrupt missed, the command would print its help and exit 0.
    res = subprocess.run([*argv, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert (res.returncode, res.stderr, res.stdout) == (130, "error: interrupted\n", "")


@pytest.mark.usefixtures("drop_log_handlers")
def test_ctrl_c_during_logging_set_up_is_one_line_and_130(capsys, monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        monkeypatch.undo()   # the closing line sets logging up again
        raise KeyboardInterrupt
    monkeypatch.setattr(logging, "basicConfig", interrupted)
    assert cli.run_main(lambda: cli.setup_logging(tmp_path / "run.log")) == 130
    assert capsys.readouterr().err == "error: interrupted\n"


@pytest.mark.usefixtures("drop_log_handlers")
def test_ctrl_c_while_an_error_line_is_written_still_ends_as_interrupted(capsys, monkeypatch):
    written = []

    def closing_line(text):
        if not written:   # the bad-input line is being written when Ctrl-C comes
            written.append(text)
            raise KeyboardInterrupt
        written.append(text)
    monkeypatch.setattr(cli, "_closing_line", closing_line)

    def bad_input():
        raise SimplePoseError("a.json: bad")
    assert cli.run_main(bad_input) == 130
    assert written == ["error: a.json: bad", "error: interrupted"]
