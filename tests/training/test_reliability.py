"""Crashes and resume, NaN losses, several devices, float16: the training loop under stress."""
import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

import simplepose.runtime.mxnet
import train_simple_pose
from simplepose.rundir.checkpoint import load_manifest, save_checkpoint
from simplepose.cli import run_main
from simplepose.data.guard import GuardedSamples
from simplepose.model import get_pose_model, load_checkpoint_params
from simplepose.training.build import build_parts
from simplepose.training.config import build_config
from simplepose.training.fit import Training
from tests.conftest import RUN_FLAGS

ROOT = Path(__file__).resolve().parents[2]
TINY = RUN_FLAGS   # the flags of the session's finished_run (tests/conftest.py), the interrupted runs' reference
FINAL = "simple_pose_resnet18_v1b-epoch0003.json"
DEADLINE = 240   # seconds any one training subprocess may take before the test gives up


pytestmark = pytest.mark.usefixtures("drop_log_handlers")   # see tests/conftest.py


def data_args(paths, val=True):
    args = ["--train-ann", paths["train_ann"], "--train-images", paths["train_images"]]
    return args + (["--val-ann", paths["val_ann"], "--val-images", paths["val_images"]] if val else [])


def params_of(manifest):
    return {k: v.asnumpy() for k, v in mx.nd.load(load_manifest(manifest)["params"]).items()}


def largest_difference(a, b):
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k].astype(np.float64) - b[k]).max()) for k in a)


def metrics(save_dir):
    return [json.loads(line) for line in (Path(save_dir) / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def reference(finished_run):
    """The uninterrupted 3-epoch run (in-process, -j 0; the interrupted runs load with -j 1): the parameters
    and metrics the interrupted runs must reach."""
    return finished_run


def start_training(synthetic, save, trace):
    """The training command as a separate process, logging every batch, through tests/kill_at.py: it
    waits at the start of batch 3 of epoch 2 until a signal reaches its training loop (see there)."""
    return subprocess.Popen([sys.executable, "tests/kill_at.py", "epoch2-batch3", "before", "pause", str(trace), "--",
                             *TINY, *data_args(synthetic), "-j", "1", "--save-dir", str(save)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(proc, condition, what):
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"training ended (status {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within {DEADLINE} s")
        time.sleep(0.05)


def signal_in_epoch_2(synthetic, tmp_path, save, sig, expected_status):
    """Train in a subprocess, send ``sig`` inside epoch 2 (after checkpoint 1 and two of its 5 batches: the
    process waits there for it, whatever the machine's speed), check its exit status; returns its stderr."""
    trace = tmp_path / "trace.txt"
    proc = start_training(synthetic, save, trace)
    try:
        wait_for(proc, lambda: trace.exists() and trace.read_text().startswith("epoch2-batch3 before pause "),
                 "batch 3 of epoch 2")
        proc.send_signal(sig)
        assert proc.wait(timeout=DEADLINE) == expected_status
        return proc.stderr.read()
    finally:
        proc.kill()
        proc.stderr.close()


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_exact(synthetic, reference, tmp_path):
    save = tmp_path / "killed"
    signal_in_epoch_2(synthetic, tmp_path, save, signal.SIGKILL, -signal.SIGKILL)
    killed_log = (save / "train.log").read_text()
    # Killed inside epoch 2:
    assert "Epoch[1/3] done" in killed_log and "Epoch[2] Batch[2/" in killed_log and "Epoch[2/3]" not in killed_log
    # The kill left checkpoint 1 loadable (and nothing later, temporary files aside).
    assert sorted(p.name for p in save.glob("simple_pose*.json")) == ["simple_pose_resnet18_v1b-epoch0001.json"]
    assert load_manifest(save / "simple_pose_resnet18_v1b-epoch0001.json")["epoch"] == 1

    assert train_simple_pose.main(["--resume", str(save), "-j", "1"]) == 0
    worst = largest_difference(params_of(reference / FINAL), params_of(save / FINAL))
    print(f"SIGKILL in epoch 2, resumed from epoch 1: largest parameter difference {worst}")
    assert worst == 0.0
    assert [(r["epoch"], r["train_loss"], r["val_acc"]) for r in metrics(save)] == \
        [(r["epoch"], r["train_loss"], r["val_acc"]) for r in metrics(reference)]


@pytest.mark.slow
def test_ctrl_c_checkpoints_mid_epoch_and_resumes_exactly(synthetic, reference, tmp_path):
    save = tmp_path / "interrupted"
    err = signal_in_epoch_2(synthetic, tmp_path, save, signal.SIGINT, 130)
    assert err.strip().splitlines()[-1] == "error: interrupted" and "Traceback" not in err
    stopped = sorted(save.glob("*-batch*.json"))
    assert len(stopped) == 1, err
    manifest = load_manifest(stopped[0])
    # Written at the batch boundary after the signal: one epoch done, 3 batches of the second.
    assert manifest["epoch"] == 1 and manifest["batch"] == 3 and manifest["interrupted"]
    assert stopped[0].name == f"simple_pose_resnet18_v1b-epoch0002-batch{manifest['batch']:05d}.json"
    assert manifest["progress"]["batches"] == manifest["batch"] and manifest["progress"]["seen"] == 16 * manifest["batch"]

    assert train_simple_pose.main(["--resume", str(save), "-j", "1"]) == 0
    worst = largest_difference(params_of(reference / FINAL), params_of(save / FINAL))
    print(f"Ctrl-C after batch {manifest['batch']} of epoch 2, resumed: largest parameter difference {worst}")
    assert worst == 0.0
    # The epoch's running sums travelled too: epoch 2's loss and accuracy are the uninterrupted run's.
    assert [(r["epoch"], r["train_loss"], r["train_acc"], r["val_acc"]) for r in metrics(save)] == \
        [(r["epoch"], r["train_loss"], r["train_acc"], r["val_acc"]) for r in metrics(reference)]
    # The mid-epoch checkpoint is superseded by the epoch checkpoints written after it.
    assert not list(save.glob("*-batch*"))


def poisoned(synthetic):
    """GuardedSamples.__getitem__ returning NaN targets for the 20th sample of epoch 2 (in batch 2).

    (A NaN input would not do: ReLU turns NaN into 0.)
    """
    from simplepose.data.coco import COCOKeyPoints
    from simplepose.data.samples import EpochSampler
    people = len(COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"]))
    index = EpochSampler(people, seed=11).indices(2)[19]
    real = GuardedSamples.__getitem__

    def getitem(self, key):
        inp, heatmaps, weights, bad = real(self, key)
        if key[0] == index and key[1] == 2:
            heatmaps = np.full_like(heatmaps, np.nan)
        return inp, heatmaps, weights, bad
    return getitem


def test_nan_loss_stops_naming_the_batch_and_keeps_the_checkpoint(synthetic, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(GuardedSamples, "__getitem__", poisoned(synthetic))
    save = tmp_path / "nan"
    args = TINY[:-4] + ["--num-epochs", "2", "--log-interval", "0", "-j", "0", "--save-dir", str(save)]
    status = run_main(lambda: train_simple_pose.main(args + data_args(synthetic, val=False)))
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("error: epoch 2 batch 2: ") and "training loss is nan; stopped before updating" in err[-1]
    # The last good checkpoint stays, finite, and no checkpoint of the poisoned state was written.
    assert sorted(p.name for p in save.glob("*.json")) == ["config.json", "run-files.json",
                                                           "simple_pose_resnet18_v1b-epoch0001.json"]
    assert all(np.isfinite(v).all() for v in params_of(save / "simple_pose_resnet18_v1b-epoch0001.json").values())


def test_nan_policy_skip_skips_that_update_only(synthetic, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(GuardedSamples, "__getitem__", poisoned(synthetic))
    save = tmp_path / "skip"
    args = TINY[:-4] + ["--num-epochs", "2", "--log-interval", "0", "-j", "0", "--save-dir", str(save),
                        "--nan-policy", "skip"]
    assert run_main(lambda: train_simple_pose.main(args + data_args(synthetic, val=False))) == 0
    err = capsys.readouterr().err
    rows = metrics(save)
    assert [r["nan_skipped"] for r in rows[1:]] == [0, 1]
    assert "update skipped (--nan-policy skip, 1 so far)" in err
    assert "1 batch updates skipped for a non-finite loss" in err
    manifest = load_manifest(save / "simple_pose_resnet18_v1b-epoch0002.json")
    params = params_of(save / "simple_pose_resnet18_v1b-epoch0002.json")
    assert all(np.isfinite(v).all() for v in params.values())
    optimizer = manifest["optimizer"]
    # The skipped batch was no update: 9 updates in 10 batches, for the schedule and for Adam.
    assert optimizer["attributes"]["num_update"] == 9
    assert set(optimizer["update_counts"][str(optimizer["current_device"])].values()) == {9}


def run_for(synthetic, tmp_path, flags, monkeypatch, ctx):
    """A built run (not started) on the devices ``ctx``: its parts and its epoch loop."""
    monkeypatch.setattr(simplepose.runtime.mxnet, "contexts", lambda gpus, num_gpus: ctx)
    cfg, _ = build_config(TINY + data_args(synthetic, val=False) + ["-j", "0", "--save-dir", str(tmp_path),
                                                                    "--mode", "imperative", *flags])
    training = Training(cfg, build_parts(cfg))
    return training.built.parts, training.loop


def test_two_devices_step_equals_one_device_on_the_same_batch(synthetic, tmp_path, monkeypatch):
    """One step on 2 CPU contexts (4 samples each) against one context with the same 8 samples.

    BatchNorm normalises with each device's own batch statistics, so one context running all 8
    samples at once computes a different function. The equivalent single-context computation is
    one context running the two halves one after the other, adding up their gradients
    (grad_req 'add'), then one update for the 8 samples: this is what the devices compute in
    parallel and the 'device' kvstore sums. The BatchNorm running statistics are left out of
    the comparison: each device keeps its own (the saved file averages them), while the single
    context updates them twice.
    """
    two, two_loop = run_for(synthetic, tmp_path / "two", ["--batch-size", "4"], monkeypatch, [mx.cpu(0), mx.cpu(1)])
    one, one_loop = run_for(synthetic, tmp_path / "one", ["--batch-size", "8"], monkeypatch, [mx.cpu(0)])
    assert two.batch_size == one.batch_size == 8      # --batch-size is per device, as in GluonCV
    names = list(one.net._collect_params_with_prefix())
    p1, p2 = one.net._collect_params_with_prefix(), two.net._collect_params_with_prefix()
    for name in names:   # same seed, same initialisation, whatever the device count
        np.testing.assert_array_equal(p1[name].data(mx.cpu(0)).asnumpy(), p2[name].data(mx.cpu(1)).asnumpy())
    one.sampler.set_epoch(1)
    data, label, weight, _ = next(iter(one.loader))

    two_loop.step(data, label, weight)

    trainable = [name for name in names if p1[name].grad_req != "null"]
    for name in trainable:
        p1[name].grad_req = "add"
        p1[name].zero_grad()
    for part in (slice(0, 4), slice(4, 8)):
        with autograd.record():
            loss = one_loop.loss_fn(one.net(one.to_input(data[part])), label[part], weight[part])
        loss.backward()
    one.trainer.step(8)

    # Each device keeps its own half's gradient (the kvstore sums them into the update).
    grad_diff = max(float(np.abs(p1[n].grad().asnumpy() - sum(g.asnumpy() for g in p2[n].list_grad())).max())
                    for n in trainable)
    worst = max(float(np.abs(p1[n].data().asnumpy() - p2[n].data(ctx).asnumpy()).max())
                for n in trainable for ctx in (mx.cpu(0), mx.cpu(1)))
    print(f"2 devices vs 1: largest gradient difference {grad_diff}, parameter difference {worst}")
    assert grad_diff <= 1e-6 and worst <= 1e-6
    # And the step really moved the parameters (Adam's first step is about lr = 1e-3 per weight).
    first = trainable[0]
    moved = np.abs(p2[first].data(mx.cpu(0)).asnumpy() - get_initial(synthetic, tmp_path, monkeypatch, first))
    assert moved.max() > 1e-4


def get_initial(synthetic, tmp_path, monkeypatch, name):
    fresh, _ = run_for(synthetic, tmp_path / "fresh", ["--batch-size", "8"], monkeypatch, [mx.cpu(0)])
    return fresh.net._collect_params_with_prefix()[name].data().asnumpy()


def test_float16_casting_path_on_cpu(synthetic, tmp_path, monkeypatch):
    """What --dtype float16 does that a CPU can run: cast, multi-precision Adam, float16 checkpoints.

    The forward pass in float16 needs a GPU (MXNet has no float16 matrix multiply on CPU), so
    the gradients here are set by hand.
    """
    with pytest.raises(Exception, match="--dtype float16 needs GPUs"):
        run_for(synthetic, tmp_path / "refused", ["--dtype", "float16"], monkeypatch, [mx.cpu(0)])
    monkeypatch.setattr(simplepose.runtime.mxnet, "contexts", lambda gpus, num_gpus: [mx.cpu(0)])
    cfg, _ = build_config(TINY + data_args(synthetic, val=False) + ["-j", "0", "--save-dir", str(tmp_path)])
    cfg = dataclasses.replace(cfg, dtype="float16")   # past the CPU refusal, as on a GPU machine
    built = build_parts(cfg)
    run = built.parts
    params = run.net._collect_params_with_prefix()
    dtypes = {name: np.dtype(p.dtype) for name, p in params.items()}
    assert dtypes["final_layer.weight"] == np.float16 and dtypes["resnet.0.weight"] == np.float16
    # BatchNorm keeps float32 parameters (MXNet's rule for float16 networks).
    assert all(dtypes[n] == np.float32 for n in dtypes if "running_" in n or n.endswith(("gamma", "beta")))
    assert run.trainer.optimizer.multi_precision
    before = params["final_layer.weight"].data().asnumpy().astype(np.float32)
    for p in params.values():
        if p.grad_req != "null":
            p.grad()[:] = 0.01
            p.data()._fresh_grad = True   # what backward() would have flagged
    run.trainer.step(1)
    after = params["final_layer.weight"].data()
    assert after.dtype == np.float16
    # Adam's first step moves each weight by about lr = 1e-3; the float32 master copy holds it exactly.
    np.testing.assert_allclose(after.asnumpy().astype(np.float32) - before, -1e-3, atol=2e-4)
    updater = run.trainer._updaters[0]
    master = next(s for s in updater.states.values() if isinstance(s, tuple))[0]
    assert master.dtype == np.float32
    manifest = save_checkpoint(tmp_path / "fp16", run.net, run.trainer, 1, cfg.to_dict(), built.data.meta.to_dict())
    assert mx.nd.load(str(tmp_path / "fp16.params"))["final_layer.weight"].dtype == np.float16
    # A float16 checkpoint evaluates in a float32 model (eval_simple_pose, CPU machines).
    net = get_pose_model("simple_pose_resnet18_v1b", 17)
    load_checkpoint_params(net, load_manifest(manifest)["params"], mx.cpu())
    loaded = net._collect_params_with_prefix()["final_layer.weight"].data()
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.asnumpy(), after.asnumpy().astype(np.float32))
