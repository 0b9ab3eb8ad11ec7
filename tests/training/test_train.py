"""End-to-end training through the command lines on generated data."""
import json
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

import eval_simple_pose
import train_simple_pose
from simplepose.rundir.checkpoint import load_manifest
from simplepose.training.loop import EpochLoop
from tests.conftest import RUN_FLAGS, data_flags


def params_of(manifest):
    return {k: v.asnumpy() for k, v in mx.nd.load(load_manifest(manifest)["params"]).items()}


def metrics(save_dir):
    return [json.loads(line) for line in (Path(save_dir) / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_interrupted_run_resumes_exactly(synthetic, finished_run, tmp_path, monkeypatch):
    # The uninterrupted run is the session's finished_run (tests/conftest.py): the same flags.
    ref_dir, cut_dir = finished_run, tmp_path / "cut"
    args = RUN_FLAGS + data_flags(synthetic) + ["-j", "0"]

    # The same run, killed at the start of epoch 2 (after checkpoint 1 was written).
    real_epoch = EpochLoop.train_epoch

    def dies_in_epoch_2(self, epoch, *rest):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(self, epoch, *rest)
    monkeypatch.setattr(EpochLoop, "train_epoch", dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_simple_pose.main(args + ["--save-dir", str(cut_dir)])
    monkeypatch.undo()
    assert sorted(p.name for p in cut_dir.glob("*-epoch*.json")) == ["simple_pose_resnet18_v1b-epoch0001.json"]

    # Resume from the directory alone: the checkpoint's config is used.
    assert train_simple_pose.main(["--resume", str(cut_dir), "-j", "0"]) == 0
    ref_rows, cut_rows = metrics(ref_dir), metrics(cut_dir)
    assert [r["epoch"] for r in cut_rows] == [0, 1, 2, 3]
    for ref, cut in zip(ref_rows, cut_rows):
        assert (cut["lr"], cut["train_loss"], cut["val_acc"]) == (ref["lr"], ref["train_loss"], ref["val_acc"])
    assert [r["lr"] for r in ref_rows[1:]] == [0.001, 0.0001, 0.0001]   # step decay after epoch 2
    final = "simple_pose_resnet18_v1b-epoch0003.json"
    ref_p, cut_p = params_of(ref_dir / final), params_of(cut_dir / final)
    assert ref_p.keys() == cut_p.keys()
    worst = max(float(np.abs(ref_p[k] - cut_p[k]).max()) for k in ref_p)
    # Bit-exact on CPU: same data order and augmentation (keyed by seed, epoch, index), same Adam state.
    assert worst == 0.0, f"resumed parameters differ by {worst}"
    ref_m, cut_m = load_manifest(ref_dir / final), load_manifest(cut_dir / final)
    # Adam's moments and update counts travelled too: the same arrays (nd.save), the same JSON rest.
    ref_opt, cut_opt = ref_m["optimizer"], cut_m["optimizer"]
    assert ref_opt == cut_opt and cut_opt["attributes"]["num_update"] == 3 * 5
    assert set(cut_opt["update_counts"]["0"].values()) == {3 * 5}
    ref_states, cut_states = mx.nd.load(ref_m["states"]), mx.nd.load(cut_m["states"])
    assert ref_states.keys() == cut_states.keys() and len(ref_states) == 2 * len(cut_opt["states"]) > 0
    for key in ref_states:
        np.testing.assert_array_equal(ref_states[key].asnumpy(), cut_states[key].asnumpy())
    assert cut_m["epoch"] == 3 and cut_m["meta"]["names"][0] == "nose"
    # K comes from the metadata (--num-joints, not given, stays unset); the stored config is plain JSON.
    assert len(cut_m["meta"]["names"]) == 17 and cut_m["config"]["num_joints"] is None
    assert cut_m["config"]["input_size"] == [64, 64] and cut_m["config"]["lr_decay_epoch"] == [2]


@pytest.mark.slow
def test_training_learns_and_eval_reports(synthetic, tmp_path, capsys):
    save = tmp_path / "run"
    args = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "8", "-j", "2",
            "--num-epochs", "8", "--lr", "0.002", "--lr-decay-epoch", "7", "--log-interval", "4",
            "--save-dir", str(save), "--save-frequency", "4", "--rotation-factor", "10", "--seed", "1",
            "--val-interval", "3"]
    assert train_simple_pose.main(args + data_flags(synthetic)) == 0
    rows = metrics(save)
    assert [r["epoch"] for r in rows] == list(range(9))
    assert [r["epoch"] for r in rows if r["val_acc"] is not None] == [0, 3, 6, 8]   # --val-interval 3, and last
    assert rows[-1]["train_loss"] < 0.75 * rows[1]["train_loss"]
    # ~90 updates from scratch: accuracy 0.01 -> ~0.2, validation loss down to about a quarter.
    assert rows[-1]["val_acc"] > rows[0]["val_acc"] + 0.1, rows
    assert rows[-1]["val_loss"] < 0.4 * rows[0]["val_loss"], rows
    assert sorted(p.name for p in save.glob("*.json")) == [
        "best.json", "config.json", "run-files.json", "simple_pose_resnet18_v1b-epoch0004.json",
        "simple_pose_resnet18_v1b-epoch0008.json"]
    # COCO AP on ground-truth boxes is validated with the loss, and best.* holds the best epoch by it.
    aps = {r["epoch"]: r["val_ap"] for r in rows if r["val_ap"] is not None}
    assert list(aps) == [0, 3, 6, 8] and aps[8] > aps[0] + 0.05, aps
    best = load_manifest(save / "best.json")
    assert best["metrics"]["val_ap"] == max(list(aps.values())[1:])
    assert {r["best_by"] for r in rows if r["val_acc"] is not None} == {"val_ap"}   # the sigmas are known
    assert best["epoch"] == max((e for e in aps if e), key=lambda e: (aps[e], -e))
    log = (save / "train.log").read_text()
    assert "Speed:" in log and "samples/sec" in log and "heatmap_accuracy" in log
    out = tmp_path / "reports" / "eval.json"   # a folder that does not exist yet
    assert eval_simple_pose.main(["--params", str(save / "simple_pose_resnet18_v1b-epoch0008.params"),
                                  "-j", "0", "--metrics-json", str(out)]) == 0
    report = json.loads(out.read_text())
    # Evaluation on the checkpoint's own validation files reproduces the last epoch's AP.
    assert report["boxes"] == "ground-truth boxes" and report["flip_test"] is False
    assert report["AP"] == pytest.approx(rows[-1]["val_ap"], abs=1e-9)
    assert report["PCK@0.2"] == pytest.approx(rows[-1]["val_pck_0.2"])
    assert rows[-1]["val_pck_0.2"] > rows[0]["val_pck_0.2"]
    printed = capsys.readouterr().out
    assert "ground-truth boxes" in printed and "AP50" in printed and "left_ankle" in printed
