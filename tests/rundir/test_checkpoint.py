"""Atomic writes and checkpoint manifests: a failed write leaves the previous file whole and no temporary behind."""
import json
import os
import stat

import pytest

from simplepose.rundir.checkpoint import latest_checkpoint, load_manifest
from simplepose.io import atomic_write, atomic_write_text
from simplepose.errors import MissingFileError, SimplePoseError

CONFIG = {"model": "simple_pose_resnet18_v1b", "input_size": [64, 64], "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2], "sigma": 2.0}


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "deep" / "metrics.json"
    atomic_write_text(target, "old")                       # creates the missing folder
    assert target.read_text() == "old"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()

    def dies_half_way(tmp):
        with open(tmp, "w") as f:
            f.write("half of the new cont")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, dies_half_way)
    assert target.read_text() == "old"
    assert os.listdir(target.parent) == ["metrics.json"]


def test_manifest_errors_are_named(tmp_path):
    with pytest.raises(MissingFileError, match=r"x\.json: checkpoint manifest not found"):
        load_manifest(tmp_path / "x.params")
    (tmp_path / "y.json").write_text("{not json")
    with pytest.raises(SimplePoseError, match=r"y\.json: checkpoint manifest is not valid JSON \(line 1, column 2"):
        load_manifest(tmp_path / "y")
    (tmp_path / "z.json").write_text(json.dumps({"format": "simplepose-checkpoint-1", "epoch": 3, "params": "z.params",
                                                 "states": "z.states", "config": CONFIG, "meta": {}}))
    with pytest.raises(MissingFileError, match=r"z\.params: file of checkpoint .*z\.json is missing"):
        load_manifest(tmp_path / "z.json")
    assert latest_checkpoint(tmp_path) == tmp_path / "z.json"    # the corrupt one is passed over


def test_an_older_manifest_config_gets_the_newer_flags_defaults_and_types_are_checked(tmp_path):
    """A config written before a flag existed reads with that flag's default; a wrong value is one line."""
    for name in ("old.params", "old.states"):
        (tmp_path / name).write_text("x")
    doc = {"format": "simplepose-checkpoint-1", "epoch": 1, "params": "old.params", "states": "old.states",
           "config": {**CONFIG, "retired_flag": 1}, "meta": {}}
    (tmp_path / "old.json").write_text(json.dumps(doc))
    config = load_manifest(tmp_path / "old.json")["config"]
    assert (config["codec"], config["category_id"], config["synthetic_val_images"]) == ("standard", None, 100)
    assert "retired_flag" not in config and config["input_size"] == [64, 64]
    (tmp_path / "old.json").write_text(json.dumps({**doc, "config": {**CONFIG, "codec": "fancy"}}))
    with pytest.raises(SimplePoseError, match=r"old\.json: config: field 'codec': is 'fancy' \(--codec\), "
                                              "expected one of standard, dark$"):
        load_manifest(tmp_path / "old.json")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_resume_moves_later_checkpoints_and_rows_aside(tmp_path):
    """Resuming epoch 1 of 3 keeps epochs 2 and 3 (checkpoints and metrics rows) in superseded/."""
    from simplepose.rundir.directory import RunDirectory
    for epoch in (1, 2, 3):
        (tmp_path / f"m-epoch{epoch}.params").write_text(str(epoch))
        (tmp_path / f"m-epoch{epoch}.states").write_text(str(epoch))
        (tmp_path / f"m-epoch{epoch}.json").write_text(json.dumps(
            {"format": "simplepose-checkpoint-1", "epoch": epoch, "params": f"m-epoch{epoch}.params",
             "states": f"m-epoch{epoch}.states", "config": CONFIG, "meta": {}}))
    rows = [json.dumps({"epoch": e, "val_ap": e / 10}) + "\n" for e in range(4)]
    (tmp_path / "metrics.jsonl").write_text("".join(rows))
    with RunDirectory(tmp_path, "m").claim((1, 0)) as rundir:   # an earlier version's: metrics.jsonl adopted
        rundir.start(CONFIG)
    (aside,) = (tmp_path / "superseded").iterdir()
    assert sorted(p.name for p in aside.iterdir()) == [
        "m-epoch2.json", "m-epoch2.params", "m-epoch2.states", "m-epoch3.json", "m-epoch3.params", "m-epoch3.states",
        "metrics.jsonl"]
    assert load_manifest(aside / "m-epoch3.json")["epoch"] == 3
    assert [json.loads(line)["epoch"] for line in (aside / "metrics.jsonl").read_text().splitlines()] == [2, 3]
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [0, 1]
    assert latest_checkpoint(tmp_path) == tmp_path / "m-epoch1.json"
    assert json.loads((tmp_path / "config.json").read_text()) == CONFIG
