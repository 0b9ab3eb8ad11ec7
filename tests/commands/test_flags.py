"""Every numeric flag of every command is bounded where it enters (simplepose.flags): a bad value is one
line naming the flag and its range, exit status 2, before any work. The parsers run in-process."""
import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simplepose.cli import run_main
from simplepose.commands import COMMANDS
from simplepose.flags import Bound

ROOT = Path(__file__).resolve().parents[2]

BY_SCRIPT = {c.script: c for c in COMMANDS}
# The flags each command requires, so that only the flag under test is wrong.
REQUIRED = {
    "simplepose-train": [], "simplepose-synthetic": [], "simplepose-launch": [],
    "simplepose-eval": ["--params", "p"], "simplepose-export": ["--params", "p", "--out", "o"],
    "simplepose-predict": ["--model", "m", "--input", "i"], "simplepose-plot": ["RUN"],
    "simplepose-pack": ["--ann", "a", "--images", "i", "--out", "o"],
}
INT32 = "an integer in [0, 4294967295]"
MEAN = "3 comma-separated finite numbers in [0, 1]"
STD = "3 comma-separated finite numbers in (0, 1]"
FRACTION = "a finite number in [0, 1]"

HUGE = "9" * 5000   # past Python's 4,300-digit limit of int(): still a one-line error
UNREADABLE = {"1e3", "0.5,0.5", HUGE}   # not numbers of the kind asked: the line quotes the text as typed
BAD = [   # (command, flag, value, the range the line states)
    ("simplepose-train", "--seed", "-1", INT32),
    ("simplepose-train", "--seed", "4294967296", INT32),
    ("simplepose-train", "--seed", "1e3", INT32),
    ("simplepose-train", "--mean", "nan,0,0", MEAN),
    ("simplepose-train", "--mean", "123.7,116.3,103.5", MEAN),   # pixel units: a silently wrong model
    ("simplepose-train", "--mean", "0.5,0.5", MEAN),
    ("simplepose-train", "--std", "0,0,0", STD),
    ("simplepose-train", "--std", "inf,0.2,0.2", STD),
    ("simplepose-train", "--batch-size", "0", "an integer in [1, 4096]"),
    ("simplepose-train", "--batch-size", "100000", "an integer in [1, 4096]"),
    ("simplepose-train", "--num-data-workers", "-1", "an integer in [0, 256]"),
    ("simplepose-train", "--num-gpus", "-1", "an integer in [0, 64]"),
    ("simplepose-train", "--num-joints", "0", "an integer in [1, 1000]"),
    ("simplepose-train", "--num-epochs", "0", "an integer in [1, 1000000]"),
    ("simplepose-train", "--lr", "0", "a finite number in (0, 10]"),
    ("simplepose-train", "--lr", "nan", "a finite number in (0, 10]"),
    ("simplepose-train", "--wd", "-0.1", "a finite number in [0, 1]"),
    ("simplepose-train", "--lr-decay", "0", "a finite number in (0, 1]"),
    ("simplepose-train", "--lr-decay-period", "-1", "an integer in [0, 1000000]"),
    ("simplepose-train", "--warmup-lr", "inf", "a finite number in [0, 10]"),
    ("simplepose-train", "--warmup-epochs", "-1", "an integer in [0, 1000000]"),
    ("simplepose-train", "--sigma", "0", "a finite number in (0, 64]"),
    ("simplepose-train", "--scale-factor", "1", "a finite number in [0, 1)"),
    ("simplepose-train", "--rotation-factor", "inf", "a finite number in [0, 180]"),
    ("simplepose-train", "--flip-prob", "1.5", FRACTION),
    ("simplepose-train", "--half-body-prob", "nan", FRACTION),
    ("simplepose-train", "--synthetic-train-images", "0", "an integer in [1, 1000000]"),
    ("simplepose-train", "--synthetic-val-images", "-5", "an integer in [1, 1000000]"),
    ("simplepose-train", "--save-frequency", "-1", "an integer in [0, 1000000]"),
    ("simplepose-train", "--val-interval", "0", "an integer in [1, 1000000]"),
    ("simplepose-train", "--log-interval", "-1", "an integer in [0, 1000000]"),
    ("simplepose-eval", "--box-thresh", "nan", FRACTION),
    ("simplepose-eval", "--kpt-thresh", "1", "a finite number in [0, 1)"),
    ("simplepose-eval", "--oks-nms", "0", "a finite number in (0, 1]"),
    ("simplepose-eval", "--analysis-worst", "-1", "an integer in [0, 1000]"),
    ("simplepose-eval", "--mean", "nan,0,0", MEAN),
    ("simplepose-eval", "--std", "0,0,0", STD),
    ("simplepose-eval", "--batch-size", "0", "an integer in [1, 4096]"),
    ("simplepose-eval", "--num-joints", "-17", "an integer in [1, 1000]"),
    ("simplepose-export", "--mean", "nan,0,0", MEAN),
    ("simplepose-export", "--std", "0,0,0", STD),
    ("simplepose-export", "--num-joints", "0", "an integer in [1, 1000]"),
    ("simplepose-predict", "--box-thresh", "nan", FRACTION),
    ("simplepose-predict", "--det-thresh", "nan", "a finite number in [-10, 10]"),
    ("simplepose-predict", "--kpt-thresh", "5", FRACTION),
    ("simplepose-predict", "--batch-size", "0", "an integer in [1, 4096]"),
    ("simplepose-predict", "--chunk", "0", "an integer in [1, 4096]"),
    ("simplepose-predict", "--category-id", "-1", "an integer in [0, 9223372036854775807]"),
    ("simplepose-predict", "--smooth-params", "1,nan", "2 comma-separated finite numbers in [0, 1000]"),
    ("simplepose-plot", "--samples", "-1", "an integer in [0, 64]"),
    ("simplepose-plot", "--seed", "-1", INT32),
    ("simplepose-synthetic", "--seed", "-1", INT32),
    ("simplepose-synthetic", "--seed", HUGE, INT32),
    ("simplepose-synthetic", "--fps", "1e400", "a finite number in [1, 240]"),
    ("simplepose-synthetic", "--width", "100000", "an integer in [32, 8192]"),
    ("simplepose-synthetic", "--height", "31", "an integer in [32, 8192]"),
    ("simplepose-synthetic", "--train-images", "-1", "an integer in [0, 1000000]"),
    ("simplepose-synthetic", "--val-images", "2000000", "an integer in [0, 1000000]"),
    ("simplepose-synthetic", "--frames", "0", "an integer in [1, 100000]"),
    ("simplepose-synthetic", "--fps", "nan", "a finite number in [1, 240]"),
    ("simplepose-synthetic", "--people", "1000", "an integer in [1, 50]"),
    ("simplepose-launch", "--port", "-1", "an integer in [1, 65535]"),
    ("simplepose-launch", "--port", "70000", "an integer in [1, 65535]"),
    ("simplepose-launch", "--num-workers", "0", "an integer in [1, 256]"),
    ("simplepose-launch", "--num-servers", "0", "an integer in [1, 256]"),
    ("simplepose-launch", "--timeout", "nan", "a finite number in (0, 10000000]"),
    ("simplepose-pack", "--quality", "0", "an integer in [1, 100]"),
    ("simplepose-pack", "--quality", "101", "an integer in [1, 100]"),
    ("simplepose-pack", "--scale-factor", "nan", "a finite number in [0, 1)"),
]


def parse(script, argv):
    """``script``'s parser on ``argv`` through run_main, as the command line runs it: (status, namespace)."""
    parsed = []

    def main():
        parsed.append(BY_SCRIPT[script].build_parser().parse_args(argv))
        return 0
    return run_main(main), (parsed or [None])[0]


@pytest.mark.usefixtures("drop_log_handlers")
@pytest.mark.parametrize("script,flag,value,bound", BAD, ids=[f"{s[11:]} {f} {v[:12]}" for s, f, v, _ in BAD])
def test_a_bad_number_is_one_line_naming_the_flag_and_its_range(capsys, script, flag, value, bound):
    status, _ = parse(script, REQUIRED[script] + [f"{flag}={value}"])
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    shown = repr(value) if value in UNREADABLE else value
    assert lines == [f"error: {flag} {shown}: must be {bound} (see {script} --help)"]


@pytest.mark.usefixtures("drop_log_handlers")
def test_the_ends_of_each_range_are_accepted(capsys):
    for script, argv, key, value in [
            ("simplepose-launch", ["--port", "65535", "-n", "256"], "port", 65535),
            ("simplepose-train", ["--seed", "4294967295", "--std", "1,1,1"], "std", (1.0, 1.0, 1.0)),
            ("simplepose-train", ["--mean", "0,0,1", "--flip-prob", "1"], "mean", (0.0, 0.0, 1.0)),
            ("simplepose-pack", REQUIRED["simplepose-pack"] + ["--quality", "1"], "quality", 1),
            ("simplepose-synthetic", ["--width", "8192", "--height", "32"], "width", 8192),
            ("simplepose-plot", ["RUN", "--samples", "0"], "samples", 0)]:
        status, ns = parse(script, argv)
        assert status == 0 and getattr(ns, key) == value, capsys.readouterr().err


@pytest.mark.usefixtures("drop_log_handlers")
@pytest.mark.parametrize("argv,line", [
    (["--seed", "abc"], "error: --seed 'abc': must be an integer in [0, 4294967295]"),
    (["--on-bad-record", "ignore"], "error: --on-bad-record: invalid choice: 'ignore' (choose from 'error', 'skip')"),
    (["--seed"], "error: --seed: expected one argument"),
    (["--no-such-flag"], "error: unknown flag --no-such-flag"),
    (["--train-ann", "a.json", "extra"], "error: unrecognized arguments: extra"),
])
def test_every_parse_error_is_one_line_with_exit_status_2(capsys, argv, line):
    assert parse("simplepose-train", argv)[0] == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"{line} (see simplepose-train --help)"]


def numeric_actions(parser: argparse.ArgumentParser):
    return [a for a in parser._actions
            if a.type in (int, float) or isinstance(a.type, Bound)
            or (isinstance(a.default, (int, float)) and not isinstance(a.default, bool))]


@pytest.mark.parametrize("command", COMMANDS, ids=[c.script for c in COMMANDS])
def test_every_numeric_flag_is_bounded_and_its_help_states_the_range(command):
    parser = command.build_parser()
    actions = numeric_actions(parser)
    assert actions, "every command has numeric flags"
    unbounded = [a.option_strings[-1] for a in actions if not isinstance(a.type, Bound)]
    assert not unbounded, f"{command.script}: numeric flags without a simplepose.flags bound: {unbounded}"
    text = " ".join(parser.format_help().split())
    for action in actions:
        assert action.type.describe().removeprefix("must be ") in text, action.option_strings


@pytest.mark.usefixtures("drop_log_handlers")
def test_bounds_that_depend_on_another_flag_are_checked_before_any_work(tmp_path):
    from simplepose.predict import command as predict
    from simplepose.errors import SimplePoseError
    # a cutoff of 0 Hz would freeze every smoothed keypoint; checked before the inputs are even looked at
    with pytest.raises(SimplePoseError, match=r"^--smooth-params 0,0.05: the min cutoff must be > 0 Hz$"):
        predict.main(["--model", str(tmp_path / "m"), "--input", str(tmp_path / "none"), "--smooth-params", "0,0.05"])
    # hog's threshold is an SVM margin (any finite number); a GluonCV detector's a score in [0, 1]
    args = predict.build_parser().parse_args(["--model", "m", "--input", "i", "--detector", "yolo3_mobilenet1.0_coco",
                                              "--det-thresh", "2"])
    with pytest.raises(SimplePoseError, match=r"^--det-thresh 2.0: yolo3_mobilenet1.0_coco scores are in \[0, 1\]$"):
        predict.box_source(args)
    args.detector = "hog"
    assert predict.box_source(args).thresh == 2.0


MISTYPED = [   # (command, its arguments, the line naming the nearest flags or choices)
    ("simplepose-train", ["--lr-rate", "0.1"], "unknown flag --lr-rate: did you mean --lr?"),
    ("simplepose-train", ["--epochs=3", "--batchsize", "8"],
     "unknown flag --epochs: did you mean --num-epochs?; unknown flag --batchsize: did you mean --batch-size?"),
    ("simplepose-train", ["--nothing-like-it"], "unknown flag --nothing-like-it"),
    ("simplepose-train", ["--codec", "DARK"], "--codec: invalid choice: 'DARK'; did you mean 'dark'? "
                                              "(choose from 'standard', 'dark')"),
    # the typo named, not the required flag it leaves missing
    ("simplepose-eval", ["--parms", "run"], "unknown flag --parms: did you mean --params?"),
    ("simplepose-eval", ["--params", "p", "--flip_test"], "unknown flag --flip_test: did you mean --flip-test?"),
    ("simplepose-export", REQUIRED["simplepose-export"] + ["--outdir", "o"], "unknown flag --outdir: did you mean --out?"),
    ("simplepose-predict", REQUIRED["simplepose-predict"] + ["--detektor", "hog"],
     "unknown flag --detektor: did you mean --detector?"),
    ("simplepose-plot", ["RUN", "--ouput", "d"], "unknown flag --ouput: did you mean --out?"),
    ("simplepose-synthetic", ["--people-count", "3"], "unknown flag --people-count: did you mean --people?"),
    # after --, the worker command's own flags
    ("simplepose-launch", ["--workers", "2", "--", "python", "x.py", "--lr-rate", "1"],
     "unknown flag --workers: did you mean --num-workers?"),
    ("simplepose-pack", REQUIRED["simplepose-pack"] + ["--qualiti", "90"], "unknown flag --qualiti: did you mean --quality?"),
]


@pytest.mark.usefixtures("drop_log_handlers")
@pytest.mark.parametrize("script,argv,line", MISTYPED, ids=[f"{s[11:]} {a[-2] if len(a) > 1 else a[0]}"
                                                            for s, a, _ in MISTYPED])
def test_a_mistyped_flag_or_choice_names_the_nearest_in_one_line(capsys, script, argv, line):
    assert parse(script, argv)[0] == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {line} (see {script} --help)"]


@pytest.mark.parametrize("shim,argv,line", [
    ("train_simple_pose.py", ["--lr-rate", "0.1"], "unknown flag --lr-rate: did you mean --lr?"),
    ("eval_simple_pose.py", ["--parms", "run"], "unknown flag --parms: did you mean --params?"),
])
def test_the_shims_name_the_nearest_flag_in_one_line(shim, argv, line):
    res = subprocess.run([sys.executable, shim, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"error: {line} (see {shim} --help)"]


@pytest.mark.parametrize("command", COMMANDS, ids=[c.script for c in COMMANDS])
def test_help_is_plain_words_naming_the_console_scripts(command):
    """Descriptions come from docstrings (reStructuredText, rendered as such in docs/cli.rst): the terminal
    shows their words without the markup; no text sends the user to ``python -m``."""
    text = command.build_parser().format_help()
    assert "``" not in text and not re.search(r":[a-z]+:`", text), text
    assert "python -m" not in text, text
