"""The run directory: lock, refusals, best without a window, superseded/, clean-up, SIGTERM, kills."""
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import pytest

import eval_simple_pose
import train_simple_pose
from simplepose.checkpoint import checkpoints_in, load_manifest, save_checkpoint
from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.export import main as export_main
from simplepose.rundir import RunDirectory, find_resume

ROOT = Path(__file__).resolve().parents[1]
MODEL = "simple_pose_resnet18_v1b"
TINY = ["--model", MODEL, "--input-size", "64,64", "--batch-size", "16", "-j", "0", "--seed", "11",
        "--lr-decay-epoch", "20", "--log-interval", "1"]
DEADLINE = 240   # seconds any one training subprocess may take before a test gives up
CONFIG = {"model": "m", "input_size": [64, 64], "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2], "sigma": 2.0}


@pytest.fixture(autouse=True)
def _drop_log_handlers():
    """The command lines log to the stream of the test that ran them; do not let later tests write there."""
    import logging
    yield
    logging.getLogger().handlers.clear()


def data_args(paths):
    return ["--train-ann", paths["train_ann"], "--train-images", paths["train_images"],
            "--val-ann", paths["val_ann"], "--val-images", paths["val_images"]]


class Fake:
    """Stands in for a network and its trainer: writes ``tag`` as parameters and as states."""

    def __init__(self, tag: str):
        self.tag = tag

    def save_parameters(self, path):
        Path(path).write_text(f"params {self.tag}")

    def save_states(self, path):
        Path(path).write_text(f"states {self.tag}")


def save_best(rundir, epoch, ap):
    return rundir.save(Fake(str(epoch)), Fake(str(epoch)), epoch, CONFIG, {}, {"metrics": {"val_ap": ap}}, best=True)


def best_of(run_dir):
    doc = load_manifest(Path(run_dir) / "best.json")
    return doc["epoch"], doc["metrics"]["val_ap"], Path(doc["params"]).read_text(), Path(doc["states"]).read_text()


# --- fast: the run directory object alone ------------------------------------------------------------------------

@pytest.mark.parametrize("failure", ["ctrl-c", "full disk"])
def test_replacing_the_best_leaves_no_window(tmp_path, monkeypatch, failure):
    """A second Ctrl-C or a full disk at each file operation of a best replacement in turn: best.json
    always loads, with the old epoch's files or the new one's, and the next start leaves no stray file."""
    real = {"replace": os.replace, "unlink": os.unlink}
    outcomes = []
    for n in range(1, 20):
        run = tmp_path / f"run{n}"
        with RunDirectory(run, "m").claim() as rundir:
            save_best(rundir, 1, 0.25)
            calls = []

            def failing(op):
                def call(*args):
                    calls.append(op)
                    if len(calls) == n:
                        outcomes.append(f"{op} {n}")
                        raise KeyboardInterrupt if failure == "ctrl-c" else OSError(errno.ENOSPC, "No space left")
                    return real[op](*args)
                return call
            monkeypatch.setattr(os, "replace", failing("replace"))
            monkeypatch.setattr(os, "unlink", failing("unlink"))
            try:
                save_best(rundir, 2, 0.5)
                outcomes.append("done")
            except (KeyboardInterrupt, SimplePoseError) as exc:
                assert failure == "ctrl-c" or re.fullmatch(r".*: cannot write the checkpoint \(No space left\); "
                                                            r"what .* holds is intact: .*--resume .*", str(exc))
            finally:
                monkeypatch.undo()
        assert best_of(run) in [(1, 0.25, "params 1", "states 1"), (2, 0.5, "params 2", "states 2")], outcomes
        with RunDirectory(run, "m").claim(load_manifest(run / "best.json")):
            named = set(json.loads((run / "best.json").read_text())[k] for k in ("params", "states"))
            assert {p.name for p in run.iterdir()} == named | {"best.json", "run.lock"}
        if outcomes[-1] == "done":
            break
    # Interrupted at each of the 3 renames (params, states, manifest) and the 2 removals of old files.
    assert outcomes == ["replace 1", "replace 2", "replace 3", "unlink 4", "unlink 5", "done"]


def test_rewriting_a_checkpoint_under_its_own_name_switches_files(tmp_path):
    """The same name twice (a resumed run stopped again at the same batch): the new files take other
    names, the manifest switches, the old files go; the first name comes back the time after."""
    prefix = tmp_path / "m-epoch0002-batch00003"
    names = []
    for tag in ("a", "b", "c"):
        doc = load_manifest(save_checkpoint(prefix, Fake(tag), Fake(tag), 1, CONFIG, {}, {"batch": 3}))
        names.append(Path(doc["params"]).name)
        assert Path(doc["params"]).read_text() == f"params {tag}"
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [prefix.name + ".json", Path(doc["params"]).name, Path(doc["states"]).name])
    assert names == ["m-epoch0002-batch00003.params", "m-epoch0002-batch00003-1.params", "m-epoch0002-batch00003.params"]


def test_a_checkpoint_is_found_by_any_of_its_names_and_a_run_directory_by_its_best(tmp_path):
    run = tmp_path / "run"
    rundir = RunDirectory(run, "m").claim()
    with pytest.raises(MissingFileError, match=r"run: no checkpoint to resume from in this directory"):
        find_resume(run)
    rundir.save(Fake("1"), Fake("1"), 1, CONFIG, {}, {"metrics": {"val_ap": 0.1}})
    assert load_manifest(run)["epoch"] == 1                                            # no best yet: the latest
    save_best(rundir, 2, 0.3)
    rundir.save(Fake("3"), Fake("3"), 3, CONFIG, {}, {"metrics": {"val_ap": 0.2}})
    rundir.release()
    assert load_manifest(run)["params"] == str(run / "best-epoch0002.params")         # eval, export: the best
    assert load_manifest(run / "best-epoch0002.params")["epoch"] == 2                  # named by best.json
    assert load_manifest(run / "best.params")["epoch"] == 2                            # the name before the change
    assert find_resume(run)["manifest"] == str(run / "m-epoch0003.json")               # resume: the latest


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("format"), r"best\.json: field 'format': is None, expected 'simplepose-checkpoint-1'"),
    (lambda d: d.update(epoch="1"), r"best\.json: field 'epoch': is a string, expected an integer"),
    (lambda d: d.pop("params"), r"best\.json: field 'params': is missing"),
    (lambda d: d["config"].update(input_size=[64]), r"best\.json: config: field 'input_size': has 1 values, expected 2"),
    (lambda d: d.update(states="gone.states"), r"gone\.states: file of checkpoint .*best\.json is missing "
                                               r"\(field 'states'\)"),
])
def test_a_bad_manifest_is_one_line_naming_the_file_and_field(tmp_path, change, message):
    manifest = save_checkpoint(tmp_path / "best", Fake("1"), Fake("1"), 1, CONFIG, {})
    doc = json.loads(manifest.read_text())
    change(doc)
    manifest.write_text(json.dumps(doc))
    with pytest.raises(SimplePoseError, match=message) as info:
        load_manifest(tmp_path)
    assert "\n" not in str(info.value)


def test_a_bad_metrics_line_fails_at_the_start(tmp_path):
    save_checkpoint(tmp_path / "m-epoch0001", Fake("1"), Fake("1"), 1, CONFIG, {})
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": 1, "val_ap": 0.\n')
    with pytest.raises(SimplePoseError, match=r"metrics\.jsonl line 2: metrics file is not valid JSON"):
        RunDirectory(tmp_path, "m").claim(find_resume(tmp_path))
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": "1"}\n')
    with pytest.raises(SimplePoseError, match=r"metrics\.jsonl: line 2: field 'epoch': is a string"):
        RunDirectory(tmp_path, "m").claim(find_resume(tmp_path))
    assert not (tmp_path / "run.lock").exists()         # a refused claim leaves no lock behind


def test_start_removes_what_killed_writes_left_and_finishes_interrupted_moves(tmp_path):
    for epoch in (1, 2):
        save_checkpoint(tmp_path / f"m-epoch000{epoch}", Fake(str(epoch)), Fake(str(epoch)), epoch, CONFIG, {})
    leftovers = [".m-epoch0003.params.abc123.tmp", ".metrics.jsonl.x1.tmp", "m-epoch0003.params",
                 "best-epoch0002-1.states"]
    kept = ["notes.txt", "other.params"]   # not names this code writes: a user's files stay
    for name in leftovers + kept:
        (tmp_path / name).write_text("x")
    # A move into superseded/ killed after the manifest went, before its files followed.
    aside = tmp_path / "superseded" / "20250101-000000"
    aside.mkdir(parents=True)
    os.replace(tmp_path / "m-epoch0002.json", aside / "m-epoch0002.json")
    with RunDirectory(tmp_path, "m").claim(find_resume(tmp_path)):
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["m-epoch0001.json", "m-epoch0001.params", "m-epoch0001.states", "run.lock", "superseded", *kept])
    assert load_manifest(aside / "m-epoch0002.json")["epoch"] == 2     # whole again in superseded/


def test_lock_refuses_a_second_run_naming_its_pid_and_takes_over_a_dead_ones(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); "
                               "from simplepose.rundir import RunDirectory; RunDirectory(sys.argv[2], 'm').claim(); "
                               "print('locked', flush=True); time.sleep(60)", str(ROOT), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SimplePoseError, match=rf"^{tmp_path}: another training run \(PID {holder.pid} on .*\) "
                                                  r"is writing this directory \(run\.lock\); wait"):
            RunDirectory(tmp_path, "m").claim()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # Killed holding it: the file still names it, the kernel has dropped the lock.
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == holder.pid
    rundir = RunDirectory(tmp_path, "m").claim()
    assert rundir._notes == [f"{tmp_path}/run.lock: took over the lock of PID {holder.pid} on "
                             f"{json.loads((tmp_path / 'run.lock').read_text())['host']}, which ended without "
                             "releasing it"]
    with pytest.raises(SimplePoseError, match=rf"another training run \(PID {os.getpid()} "):
        RunDirectory(tmp_path, "m").claim()         # this process holds it already
    rundir.release()
    assert not (tmp_path / "run.lock").exists()
