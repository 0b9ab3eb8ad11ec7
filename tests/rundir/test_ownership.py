"""A run owns only what it wrote: a user's files in --save-dir survive every kind of start byte for byte."""
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import mxnet as mx
import pytest

import train_simple_pose
from simplepose.rundir.checkpoint import load_manifest
from simplepose.cli import run_main
from simplepose.model import get_pose_model

MODEL = "simple_pose_resnet18_v1b"
TINY = ["--model", MODEL, "--input-size", "64,64", "--batch-size", "16", "-j", "0", "--seed", "11",
        "--lr-decay-epoch", "20", "--log-interval", "0", "--save-frequency", "1"]
# A user's files, named to tempt a clean-up by pattern: checkpoint-like, temporary-like, our folder names.
FOREIGN = {
    f"{MODEL}-epoch0001.params": b"the user's own epoch 1",   # what this run's first checkpoint is called
    f"{MODEL}-epoch0001.states": b"the user's own states",
    ".x.tmp": b"hidden",
    ".m-epoch0003.params.abc.tmp": b"an old-style temporary name",
    "notes.txt": b"notes",
    "other.json": json.dumps({"format": "mine", "epoch": 3, "params": "notes.txt"}).encode(),
    "previous-mine/a.txt": b"in a folder named like ours",
    "superseded/x.txt": b"in our folder name",
}

pytestmark = pytest.mark.usefixtures("drop_log_handlers")


def data_args(paths):
    return ["--train-ann", paths["train_ann"], "--train-images", paths["train_images"],
            "--val-ann", paths["val_ann"], "--val-images", paths["val_images"]]


def digests(run_dir, names):
    return {name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest() for name in names}


def plant(run_dir, files):
    for name, data in files.items():
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_bytes(data)
    return digests(run_dir, files)


def tree(run_dir):
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*"))


def plain_params(path):
    """A plain MXNet parameter file of MODEL (17 keypoints), as GluonCV's ``save_parameters`` writes one."""
    net = get_pose_model(MODEL, 17)
    net.initialize()
    net(mx.nd.zeros((1, 3, 64, 64)))
    net.save_parameters(str(path))
    return path.read_bytes()


def fails(argv, capsys):
    """The one error line of a start that must fail (exit status 2)."""
    assert run_main(lambda: train_simple_pose.main(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_foreign_files_survive_failed_fresh_resumed_killed_and_overwritten_starts(small, tmp_path, capsys):
    run = tmp_path / "u"
    run.mkdir()
    user = {**FOREIGN, "mymodel-epoch0100.params": plain_params(tmp_path / "weights.params")}
    before = plant(run, user)
    listing = tree(run)

    def intact():
        assert digests(run, user) == before

    args = TINY + data_args(small) + ["--num-epochs", "1", "--save-dir", str(run)]
    # Failed starts: nothing in the directory changes (no lock, no log, no list of run files).
    assert fails(args + ["--lr", "-1"], capsys).startswith("error: --lr -1")   # the flag's own wording
    missing = tmp_path / "missing.json"
    assert fails(args + ["--train-ann", str(missing)], capsys).startswith(f"error: {missing}: ")
    assert fails(args + ["--init-from", str(run / "nothere.params")], capsys) == (
        f"error: --init-from {run}/nothere.params: no such file or directory; give a checkpoint, a run directory "
        "or a .params file")
    assert tree(run) == listing
    intact()
    new = tmp_path / "new"
    fails(TINY + data_args(small) + ["--save-dir", str(new), "--train-ann", str(missing)], capsys)
    assert not new.exists()            # a missing --save-dir is not made by a start that fails its checks

    # A fresh run started from the user's weights in the directory itself (the case): kept, and used.
    assert train_simple_pose.main(args + ["--init-from", str(run / "mymodel-epoch0100.params")]) == 0
    intact()
    assert f"plain parameter file {run}/mymodel-epoch0100.params" in (run / "train.log").read_text()
    first = load_manifest(run / f"{MODEL}-epoch0001.json")     # its files take other names than the user's
    assert Path(first["params"]).name == f"{MODEL}-epoch0001-1.params"
    owned = json.loads((run / "run-files.json").read_text())
    assert owned["paths"] == ["config.json", "metrics.jsonl", "plots", "tensorboard", "train.log"]
    assert owned["writing"] == [f"{MODEL}-epoch0001-1.params", f"{MODEL}-epoch0001-1.states"]   # the last save's

    # A kill left a marked temporary file of its (ended) process and a journalled .params no manifest names;
    # the marked temporary file of a running process (this one) is in use.
    ended = subprocess.Popen(["true"])
    ended.wait()
    kill_left = {f".simplepose-tmp-{ended.pid}-config.json.ab12.tmp": b"{", "best-epoch0007.params": b"half"}
    in_use = plant(run, {f".simplepose-tmp-{os.getpid()}-x.tmp": b"being written"})
    plant(run, kill_left)
    owned["writing"].append("best-epoch0007.params")
    (run / "run-files.json").write_text(json.dumps(owned))
    assert train_simple_pose.main(["--resume", str(run), "--num-epochs", "2"]) == 0
    intact()
    assert not any((run / name).exists() for name in kill_left)
    assert ("removed 2 file(s) left by a killed run: best-epoch0007.params, "
            f".simplepose-tmp-{ended.pid}-config.json.ab12.tmp") in (run / "train.log").read_text()
    assert load_manifest(run / f"{MODEL}-epoch0002.json")["epoch"] == 2
    # A resumed start that fails its checks changes nothing either (not even the log).
    finished = {p: (run / p).read_bytes() for p in tree(run) if (run / p).is_file()}
    assert fails(["--resume", str(run)], capsys) == "error: the checkpoint is at epoch 2; raise --num-epochs to train on"
    assert {p: (run / p).read_bytes() for p in tree(run) if (run / p).is_file()} == finished

    # --overwrite moves what the earlier run wrote into previous-DATE-TIME/, and nothing else.
    assert train_simple_pose.main(args + ["--overwrite"]) == 0
    intact()
    assert digests(run, in_use) == in_use
    (previous,) = [p for p in run.glob("previous-*") if p.name != "previous-mine"]
    best = [Path(load_manifest(previous / "best.json")[k]).name for k in ("params", "states")]
    assert sorted(p.name for p in previous.iterdir()) == sorted(
        ["best.json", *best, "config.json", "metrics.jsonl", "plots", "tensorboard", "train.log",
         f"{MODEL}-epoch0001.json", f"{MODEL}-epoch0001-1.params", f"{MODEL}-epoch0001-1.states",
         f"{MODEL}-epoch0002.json", f"{MODEL}-epoch0002.params", f"{MODEL}-epoch0002.states"])
    assert load_manifest(previous / f"{MODEL}-epoch0002.json")["epoch"] == 2
    assert [json.loads(line)["epoch"] for line in (previous / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2]
    now = {p for p in tree(run) if not p.startswith((previous.name, "tensorboard/"))}
    assert now == {*listing, *in_use, f"{MODEL}-epoch0001.json", f"{MODEL}-epoch0001-1.params",
                   f"{MODEL}-epoch0001-1.states", "best.json", "best-epoch0001.params", "best-epoch0001.states",
                   "config.json", "metrics.jsonl", "plots", "plots/training_curves.png", "run-files.json",
                   "tensorboard", "train.log"}


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "train.log", "plots/training_curves.png",
                                  "best.json", f"{MODEL}-epoch0001.json", "run-files.json", "run.lock"])
def test_a_fresh_run_refuses_to_write_over_a_users_file(small, tmp_path, capsys, name):
    run = tmp_path / "run"
    run.mkdir()
    before = plant(run, {name: b'{"mine": true}\n', "notes.txt": b"notes"})
    listing = tree(run)
    line = fails(TINY + data_args(small) + ["--num-epochs", "1", "--save-dir", str(run)], capsys)
    if name == "run-files.json":
        assert line == (f'error: {run}/run-files.json: not simplepose\'s list of its run files (no "format": '
                        '"simplepose-run-files-1"), and a run would write over it: move the file, or choose another '
                        "--save-dir")
    else:   # run.lock: what a lock holds is a PID; taking the lock would write over the user's file
        assert line == (f"error: --save-dir {run}: {name} was not written by simplepose in this run directory "
                        "(run-files.json does not list it), and a run would write over it: move it out of the "
                        "directory, or choose another --save-dir")
    assert digests(run, [name, "notes.txt"]) == before and tree(run) == listing


def test_a_run_files_list_cannot_point_outside_the_directory(tmp_path):
    from simplepose.errors import SimplePoseError
    from simplepose.rundir.files import RunFiles
    (tmp_path / "run-files.json").write_text(json.dumps(
        {"format": "simplepose-run-files-1", "paths": ["../elsewhere"], "writing": []}))
    with pytest.raises(SimplePoseError, match=re.escape(
            "run-files.json: field 'paths': holds '../elsewhere', expected relative paths inside the run directory")):
        RunFiles.read(tmp_path)


def test_a_manifest_naming_a_file_elsewhere_moves_nothing_there(tmp_path):
    """Only plain names beside a manifest are its files: --overwrite moves the manifest, not ../outside.params."""
    from simplepose.rundir.directory import RunDirectory
    run, outside = tmp_path / "run", tmp_path / "outside.params"
    run.mkdir()
    outside.write_bytes(b"the user's")
    (run / "m-epoch0001.json").write_text(json.dumps({
        "format": "simplepose-checkpoint-1", "epoch": 1, "params": "../outside.params", "states": "sub/x.states",
        "config": {}, "meta": {}}))
    with RunDirectory(run, "m").claim(overwrite=True):
        (previous,) = run.glob("previous-*")
    assert outside.read_bytes() == b"the user's"
    assert sorted(p.name for p in previous.iterdir()) == ["m-epoch0001.json"]
