"""Optimizer state files carry no code: the nd.save + JSON format, old pickles through the restricted unpickler."""
import json
import os
import pickle
import subprocess
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from gluoncv.utils import LRScheduler, LRSequential
from mxnet import gluon

import train_simple_pose
from simplepose.rundir.checkpoint import load_manifest, save_checkpoint
from simplepose.cli import run_main
from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord
from simplepose.training.optimizer_state import Trainer

CONFIG = {"model": "simple_pose_resnet18_v1b", "input_size": [64, 64], "mean": [0.5, 0.5, 0.5],
          "std": [0.2, 0.2, 0.2], "sigma": 2.0}


# --- a tiny network: the format itself ---------------------------------------------------------------------------

def tiny(ctx, dtype="float32", on_kvstore=None):
    """A conv + BatchNorm net and its Adam trainer (GluonCV's warm-up schedule), same weights on every call;
    ``on_kvstore``: MXNet's update_on_kvstore (None: its default, True for several devices)."""
    mx.random.seed(3)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(3, 3, in_channels=2), gluon.nn.BatchNorm(in_channels=3),
            gluon.nn.Conv2D(2, 1, in_channels=3))
    net.initialize(mx.init.Xavier(), ctx=ctx)
    net.cast(dtype)
    schedule = LRSequential([LRScheduler("linear", base_lr=0.001, target_lr=0.01, nepochs=1, iters_per_epoch=4),
                             LRScheduler("step", base_lr=0.01, nepochs=2, iters_per_epoch=4, step_epoch=[1])])
    opt = {"learning_rate": 0.01, "wd": 1e-4, "lr_scheduler": schedule, "multi_precision": dtype != "float32"}
    return net, Trainer(list(net.collect_params().values()), "adam", opt, update_on_kvstore=on_kvstore)


def trainable(net):
    return [p for p in net.collect_params().values() if p.grad_req != "null"]


def step(net, trainer, ctx, k, dtype):
    """One update; float16 (no float16 convolution on CPU) gets gradients set by hand, as backward would."""
    if dtype == "float32":
        xs = [mx.nd.full((2, 2, 6, 6), 0.3 * (k + 1) * (i + 1), ctx=c) for i, c in enumerate(ctx)]
        with mx.autograd.record():
            losses = [(net(x) ** 2).sum() for x in xs]
        for loss in losses:
            loss.backward()
    else:
        for j, p in enumerate(trainable(net)):
            for grad, data in zip(p.list_grad(), p.list_data()):
                grad[:] = 0.01 * (k + 1) * (j + 1)
                data._fresh_grad = True
    trainer.step(2 * len(ctx))


def weights(net, ctx):
    return [p.data(ctx[0]).asnumpy() for p in trainable(net)]


def continued(ctx, dtype, on_kvstore, params, load):
    """Weights after updates 3-4 of a fresh net given the weights ``params`` and ``load(trainer)``'s state."""
    net, trainer = tiny(ctx, dtype, on_kvstore)
    net.load_parameters(str(params), ctx=ctx, cast_dtype=True)
    load(trainer)
    for k in (3, 4):
        step(net, trainer, ctx, k, dtype)
    return weights(net, ctx), trainer


@pytest.mark.parametrize("devices,dtype,on_kvstore", [(1, "float32", None), (1, "float16", None),
                                                      (2, "float32", True), (2, "float32", False)])
def test_both_formats_restore_bit_exactly(tmp_path, devices, dtype, on_kvstore):
    """3 updates, a checkpoint, 2 more: a trainer restored from the checkpoint (nd.save + JSON) or from
    MXNet's own pickled save_states (through the restricted unpickler) lands on the very same weights.
    Two devices: the state in the local kvstore's updater, or in one updater per device."""
    ctx = [mx.cpu(i) for i in range(devices)]
    net, trainer = tiny(ctx, dtype, on_kvstore)
    for k in range(3):
        step(net, trainer, ctx, k, dtype)
    manifest = save_checkpoint(tmp_path / "ckpt", net, trainer, 1, CONFIG, {})
    gluon.Trainer.save_states(trainer, str(tmp_path / "old.states"))   # MXNet's pickle, as GluonCV writes it
    saved_lr, saved_counts = trainer.learning_rate, dict(trainer.optimizer._index_update_count)
    for k in (3, 4):
        step(net, trainer, ctx, k, dtype)
    reference = weights(net, ctx)

    doc = load_manifest(manifest)
    opt = doc["optimizer"]
    arrays = mx.nd.load(doc["states"])
    # Adam's mean and var per trained parameter, and a float32 master copy of each float16 one (BatchNorm
    # stays float32); indices as the trainer's list counts them, BatchNorm's running statistics (4, 5) have none.
    assert sorted(opt["states"], key=int) == ["0", "1", "2", "3", "6", "7"]
    assert len(arrays) == sum(3 if np.dtype(p.dtype) == np.float16 else 2 for p in trainable(net))
    assert len(arrays) > 2 * len(opt["states"]) if dtype == "float16" else len(arrays) == 2 * len(opt["states"])
    assert {a.dtype for a in arrays.values()} == {np.float32} and {a.context for a in arrays.values()} == {mx.cpu()}
    assert opt["class"] == "Adam" and opt["attributes"]["num_update"] == 3 and opt["learning_rate"] == saved_lr
    assert opt["attributes"]["multi_precision"] == (dtype == "float16")
    params = tmp_path / "ckpt.params"
    record = JsonRecord(opt, manifest, "optimizer")
    new, restored = continued(ctx, dtype, on_kvstore, params, lambda t: t.load_states(doc["states"], record))
    old, _ = continued(ctx, dtype, on_kvstore, params, lambda t: t.load_states(str(tmp_path / "old.states")))
    none, _ = continued(ctx, dtype, on_kvstore, params, lambda t: None)
    for ref, a, b in zip(reference, new, old):
        np.testing.assert_array_equal(a, ref)
        np.testing.assert_array_equal(b, ref)
    assert any(not np.array_equal(a, ref) for ref, a in zip(reference, none))   # the state matters
    # After updates 3-4 the restored optimizer counts 5 updates per parameter on every device, as the original.
    assert restored.optimizer._all_index_update_counts == trainer.optimizer._all_index_update_counts
    assert set(saved_counts.values()) == {3} and set(restored.optimizer._index_update_count.values()) == {5}
    assert restored.learning_rate == trainer.learning_rate
    on_kv = devices == 2 and on_kvstore is not False
    assert bool(restored._update_on_kvstore) == bool(trainer._update_on_kvstore) == on_kv


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_old_pickles_of_every_protocol_load(tmp_path, protocol):
    """What MXNet pickles ((states, optimizer), GluonCV's schedule inside) loads whatever the protocol
    (Python 2's are protocols 0-2): the same moments and counts as a restore from MXNet's own file."""
    ctx = [mx.cpu()]
    net, trainer = tiny(ctx)
    for k in range(2):
        step(net, trainer, ctx, k, "float32")
    updater = trainer._updaters[0]
    (tmp_path / "p.states").write_bytes(pickle.dumps((updater.states, trainer.optimizer), protocol=protocol))
    _, fresh = tiny(ctx)
    fresh.load_states(str(tmp_path / "p.states"))
    loaded = fresh._updaters[0].states
    assert loaded.keys() == updater.states.keys() == {0, 1, 2, 3, 6, 7}
    for i in loaded:
        for a, b in zip(loaded[i], updater.states[i]):
            np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    assert fresh.optimizer._all_index_update_counts == {0: dict.fromkeys(loaded, 2)}
    assert fresh.optimizer.num_update == 2 and isinstance(fresh.optimizer.lr_scheduler, LRSequential)


class Calls:
    """A pickle whose unpickling calls ``func(*args)`` (the classic ``__reduce__`` payload)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker):
    import builtins
    return {
        "os.system": Calls(os.system, f"touch {marker}"),
        "builtins.eval": Calls(builtins.eval, f"__import__('os').system('touch {marker}')"),
        "subprocess.Popen": Calls(subprocess.Popen, ["touch", str(marker)]),
    }


# getattr(object, '__subclasses__')() and friends: a REDUCE of a builtin that reaches anything.
GETATTR = b"cbuiltins\ngetattr\n(cbuiltins\nobject\nS'__subclasses__'\ntR."
# copyreg._reconstructor (admitted for protocols 0-1) with a real class: only the stand-ins may be rebuilt.
RECONSTRUCT = b"ccopyreg\n_reconstructor\n(cbuiltins\nobject\ncbuiltins\nobject\nNtR."


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_a_pickle_calling_anything_else_is_refused_before_it_runs(tmp_path, payload):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.states"
    _, trainer = tiny([mx.cpu()])
    for protocol in (0, 2, 4):
        path.write_bytes(pickle.dumps(({0: payloads(marker)[payload]}, None), protocol=protocol))
        with pytest.raises(SimplePoseError) as err:
            trainer.load_states(str(path))
        name = {"os.system": "posix.system"}.get(payload, payload)
        assert str(err.value) == (f"{path}: this optimizer state file calls {name}, which no optimizer state needs; "
                                  "refused before running anything (the file may carry code): resume from a "
                                  "checkpoint you trust, or start over without --resume")
    assert not marker.exists()


@pytest.mark.parametrize("data,refused", [(GETATTR, "builtins.getattr"), (RECONSTRUCT, "copyreg._reconstructor")])
def test_builtins_that_reach_further_are_refused(tmp_path, data, refused):
    path = tmp_path / "evil.states"
    path.write_bytes(data)
    _, trainer = tiny([mx.cpu()])
    with pytest.raises(SimplePoseError, match="calls builtins.getattr, which" if "getattr" in refused
                       else "damaged optimizer state file .*rebuilds optimizers and schedulers only"):
        trainer.load_states(str(path))


def test_a_state_of_another_model_or_optimizer_is_refused(tmp_path):
    net, trainer = tiny([mx.cpu()])
    step(net, trainer, [mx.cpu()], 0, "float32")
    manifest = save_checkpoint(tmp_path / "ckpt", net, trainer, 1, CONFIG, {})
    doc = load_manifest(manifest)
    other = gluon.nn.Dense(4, in_units=5)
    other.initialize()
    sgd = Trainer(other.collect_params(), "sgd")
    with pytest.raises(SimplePoseError, match=r"ckpt\.states: optimizer state of Adam, this run trains with SGD"):
        sgd.load_states(doc["states"], JsonRecord(doc["optimizer"], manifest, "optimizer"))
    adam = Trainer(list(other.collect_params().values()), "adam")   # structural order, as build_trainer
    with pytest.raises(SimplePoseError, match=r"optimizer state of parameter 0 has shape \(3, 2, 3, 3\), "
                                              r"dense\d+_weight has \(4, 5\): the state of another model"):
        adam.load_states(doc["states"], JsonRecord(doc["optimizer"], manifest, "optimizer"))
    doc["optimizer"]["states"]["0"] = ["0.0", "9.9"]
    with pytest.raises(SimplePoseError, match=r"ckpt\.json: optimizer: field 'states': names 9\.9, which "
                                              r".*ckpt\.states does not hold"):
        trainer.load_states(doc["states"], JsonRecord(doc["optimizer"], manifest, "optimizer"))


# --- through the command line: --resume --------------------------------------------------------------------------

def checkpoint_copy(trained, out, states_bytes=None, old_from=None):
    """The ``trained`` checkpoint in ``out``: its own files, or an old-format one (no "optimizer" in the
    manifest) whose .states holds ``states_bytes`` or MXNet's pickle of the state of ``old_from``. Its own
    files are hard links (a run writes a checkpoint's files as new files, never in place)."""
    doc = json.loads(Path(trained).read_text())
    out.mkdir()
    src = Path(trained).parent
    os.link(src / doc["params"], out / doc["params"])
    if states_bytes is None and old_from is None:
        os.link(src / doc["states"], out / doc["states"])
    else:
        del doc["optimizer"]
        if old_from is not None:
            gluon.Trainer.save_states(old_from, str(out / doc["states"]))
        else:
            (out / doc["states"]).write_bytes(states_bytes)
    (out / Path(trained).name).write_text(json.dumps(doc))
    return out / Path(trained).name


@pytest.mark.usefixtures("drop_log_handlers")
def test_resume_refuses_a_hostile_states_file_in_one_line(trained, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    for name, payload in payloads(marker).items():
        manifest = checkpoint_copy(trained, tmp_path / name.replace(".", "_"),
                                   states_bytes=pickle.dumps(({0: payload}, None)))
        status = run_main(lambda: train_simple_pose.main(["--resume", str(manifest), "--num-epochs", "4", "-j", "0"]))
        err = capsys.readouterr().err
        assert status == 2 and "Traceback" not in err and err.strip().splitlines()[-1] == (
            f"error: {manifest.with_suffix('.states')}: this optimizer state file calls "
            f"{'posix.system' if name == 'os.system' else name}, which no optimizer state needs; refused before "
            "running anything (the file may carry code): resume from a checkpoint you trust, or start over without "
            "--resume"), err[-2000:]
        assert manifest.with_suffix(".states").read_bytes() == pickle.dumps(({0: payload}, None))   # left as it was
        assert not list(manifest.parent.glob("*-epoch0004*"))   # nothing trained
    assert not marker.exists()


@pytest.mark.usefixtures("drop_log_handlers")
def test_an_old_states_file_resumes_like_the_new_format(trained, tmp_path):
    """The trained checkpoint resumed for one more epoch from its nd.save state, and from the same state
    as MXNet's own pickle (an old simplepose or GluonCV checkpoint): the same weights, bit for bit."""
    from simplepose.model import get_pose_model
    doc = load_manifest(trained)
    net = get_pose_model(doc["config"]["model"], len(doc["meta"]["names"]))
    net.load_parameters(doc["params"])
    trainer = Trainer(list(net._collect_params_with_prefix().values()), "adam", {"learning_rate": 1.0})
    trainer.load_states(doc["states"], JsonRecord(doc["optimizer"], trained, "optimizer"))
    new = checkpoint_copy(trained, tmp_path / "new")
    old = checkpoint_copy(trained, tmp_path / "old", old_from=trainer)
    assert old.with_suffix(".states").read_bytes()[:1] == b"\x80"   # a pickle
    finals = []
    for manifest in (new, old):
        assert train_simple_pose.main(["--resume", str(manifest), "--num-epochs", "4", "-j", "0"]) == 0
        final = load_manifest(manifest.parent / "simple_pose_resnet18_v1b-epoch0004.json")
        finals.append((final, {k: v.asnumpy() for k, v in mx.nd.load(final["params"]).items()}))
    (new_doc, new_params), (old_doc, old_params) = finals
    assert new_params.keys() == old_params.keys()
    for key in new_params:
        np.testing.assert_array_equal(new_params[key], old_params[key])
    # The resumed old-format run writes the new format: the same JSON rest as the run resumed from nd.save.
    assert old_doc["optimizer"] == new_doc["optimizer"] and new_doc["optimizer"]["attributes"]["num_update"] > 0
    before = mx.nd.load(doc["params"])["final_layer.weight"].asnumpy()
    assert not np.array_equal(new_params["final_layer.weight"], before)   # the extra epoch did train


def test_a_crop_pack_index_that_is_a_pickle_is_refused_unrun(tmp_path):
    """The other binary file training reads: its index is np.load'ed without pickles."""
    from simplepose.data.pack import PackedCrops
    marker = tmp_path / "MARKER"
    (tmp_path / "pack.bin").write_bytes(b"")
    for content in (pickle.dumps(payloads(marker)["os.system"]), None):
        with open(tmp_path / "pack.npz", "wb") as f:
            f.write(content) if content else np.savez(f, ann_ids=np.array([payloads(marker)["os.system"]], object))
        with pytest.raises(SimplePoseError, match=r"pack\.npz: not a crop pack index \(ValueError: "
                                                  r".*allow_pickle=False\); write the pack again"):
            PackedCrops(tmp_path / "pack", dataset=None)   # the index is read before the dataset is looked at
    assert not marker.exists()
