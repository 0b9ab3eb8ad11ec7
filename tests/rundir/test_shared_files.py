"""The best checkpoint and the epoch checkpoint of its epoch share their files: hard links, a copy where the
file system refuses links; removing, moving or replacing one name leaves the other whole."""
import errno
import json
import logging
import os
from pathlib import Path

import pytest

from simplepose.rundir import checkpoint
from simplepose.rundir.checkpoint import load_manifest, remove_checkpoint
from simplepose.rundir.directory import RunDirectory
from tests.rundir.test_rundir import CONFIG, Fake, best_of, save_best


def save_epoch(rundir, epoch, tag):
    """The epoch checkpoint after ``epoch``, of a network and trainer that would write ``tag``."""
    return rundir.save(Fake(tag), Fake(tag), epoch, CONFIG, {}, {"metrics": {"val_ap": None}})


def files_of(manifest):
    doc = load_manifest(manifest)
    return Path(doc["params"]), Path(doc["states"])


def test_the_epoch_checkpoint_of_the_best_epoch_links_to_best_files(tmp_path):
    """Written right after best.json, the epoch checkpoint is best's files under its own names (not what its net
    would write anew: the same state); an epoch without a best of its own gets files of its own."""
    with RunDirectory(tmp_path, "m").claim() as rundir:
        save_best(rundir, 2, 0.5)
        shared = save_epoch(rundir, 2, "2 again")
        alone = save_epoch(rundir, 3, "3")
    for best_file, epoch_file in zip(files_of(tmp_path / "best.json"), files_of(shared)):
        assert epoch_file.name.startswith("m-epoch0002.") and os.path.samefile(best_file, epoch_file)
        assert os.stat(epoch_file).st_nlink == 2
    assert files_of(shared)[0].read_text() == "params 2"
    assert json.loads(shared.read_text())["optimizer"] == {"tag": "2"}   # best's JSON rest of the state
    assert [os.stat(f).st_nlink for f in files_of(alone)] == [1, 1]
    assert files_of(alone)[0].read_text() == "params 3"


def test_removing_moving_or_replacing_one_name_leaves_the_other_whole(tmp_path):
    """A new best unlinks only the old best's names; resuming an earlier epoch moves the shared epoch checkpoint
    into superseded/ and best.json still loads; removing the epoch checkpoint leaves best's files."""
    with RunDirectory(tmp_path, "m").claim() as rundir:
        save_epoch(rundir, 1, "1")
        save_best(rundir, 2, 0.5)
        epoch2 = save_epoch(rundir, 2, "2")
        save_best(rundir, 3, 0.7)
        epoch3 = save_epoch(rundir, 3, "3")
    assert not (tmp_path / "best-epoch0002.params").exists()
    assert [f.read_text() for f in files_of(epoch2)] == ["params 2", "states 2"]
    assert [os.stat(f).st_nlink for f in files_of(epoch2)] == [1, 1]

    with RunDirectory(tmp_path, "m").claim((1, 0)) as rundir:   # resumed at epoch 1: epochs 2 and 3 move aside
        rundir.start(CONFIG)
    (aside,) = (tmp_path / "superseded").iterdir()
    assert load_manifest(aside / epoch3.name)["epoch"] == 3
    assert best_of(tmp_path) == (3, 0.7, "params 3", "states 3")
    assert os.path.samefile(files_of(aside / epoch3.name)[0], files_of(tmp_path / "best.json")[0])

    remove_checkpoint(aside / epoch3.name)
    assert best_of(tmp_path) == (3, 0.7, "params 3", "states 3")
    assert [os.stat(f).st_nlink for f in files_of(tmp_path / "best.json")] == [1, 1]


def test_where_links_fail_the_files_are_copied_and_that_is_said_once(tmp_path, monkeypatch, caplog):
    """A file system without hard links (os.link: EPERM): copies of the same bytes, one warning for the run."""
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(checkpoint, "_copying_in", set())
    with caplog.at_level(logging.WARNING, logger="simplepose"), RunDirectory(tmp_path, "m").claim() as rundir:
        for epoch in (1, 2):
            save_best(rundir, epoch, epoch / 10)
            shared = save_epoch(rundir, epoch, "other")
    best_files, epoch_files = files_of(tmp_path / "best.json"), files_of(shared)
    assert [f.read_text() for f in epoch_files] == [f.read_text() for f in best_files] == ["params 2", "states 2"]
    assert not os.path.samefile(best_files[0], epoch_files[0])
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path}: no hard links here (Operation not permitted): the best checkpoint and the epoch checkpoint "
        "of its epoch are written as copies, taking the room of two"]


def test_a_full_disk_while_linking_is_the_one_line_error_not_a_copy(tmp_path, monkeypatch):
    """ENOSPC from os.link is reported as the full disk it is (a copy would only fail later)."""
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    with RunDirectory(tmp_path, "m").claim() as rundir:
        save_best(rundir, 1, 0.5)
        monkeypatch.setattr(os, "link", full)
        with pytest.raises(checkpoint.SimplePoseError, match=r"m-epoch0001\.params: cannot write the checkpoint: "
                                                             r"no space left on the device"):
            save_epoch(rundir, 1, "1")
    assert not (tmp_path / "m-epoch0001.json").exists()
    assert best_of(tmp_path) == (1, 0.5, "params 1", "states 1")
