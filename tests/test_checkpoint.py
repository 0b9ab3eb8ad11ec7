"""Atomic writes: a failed write leaves the previous file whole and no temporary behind."""
import os
import stat

import pytest

from simplepose.checkpoint import latest_checkpoint, load_manifest
from simplepose.io import atomic_write, atomic_write_text
from simplepose.errors import MissingFileError, SimplePoseError


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
    with pytest.raises(SimplePoseError, match=r"y\.json: corrupt checkpoint manifest"):
        load_manifest(tmp_path / "y")
    (tmp_path / "z.json").write_text('{"format": "simplepose-checkpoint-1", "epoch": 3, "params": "z.params", '
                                     '"states": "z.states"}')
    with pytest.raises(MissingFileError, match=r"z\.params: file of checkpoint .*z\.json is missing"):
        load_manifest(tmp_path / "z.json")
    assert latest_checkpoint(tmp_path) == tmp_path / "z.json"    # the corrupt one is passed over


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_resume_withdraws_later_checkpoints(tmp_path):
    from simplepose.training.rundir_legacy import drop_later_checkpoints
    for epoch in (1, 2, 3):
        (tmp_path / f"m-epoch{epoch}.json").write_text(
            f'{{"format": "simplepose-checkpoint-1", "epoch": {epoch}, "params": "p", "states": "s"}}')
    (tmp_path / "metrics.json").write_text('{"epoch": 9}')         # not a checkpoint: left alone
    drop_later_checkpoints(tmp_path, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-epoch1.json", "metrics.json"]
    assert latest_checkpoint(tmp_path) == tmp_path / "m-epoch1.json"
