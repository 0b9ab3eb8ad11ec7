"""The training loop: data, model, weighted L2 loss, Adam with a step schedule, checkpoints.

``run(config)`` trains from a config dict (see ``options.train_parser``) and
writes into ``config["save_dir"]``:

- the log file (``--logging-file``),
- ``metrics.jsonl``: one JSON object per epoch (epoch 0 is the untrained model):
  epoch, train_loss, lr, train_acc, val_loss, val_acc (null between ``--val-interval`` epochs),
  samples_per_sec, seconds,
- checkpoints ``MODEL-epochNNNN.{params,states,json}`` (see ``checkpoint``).
"""
from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from gluoncv.utils import LRScheduler, LRSequential
from tqdm import tqdm

from .checkpoint import atomic_write_text, checkpoints_in, latest_checkpoint, load_manifest, save_checkpoint
from .codec import HeatmapCodec
from .data.coco import COCOKeyPoints
from .data.pack import PackedCrops
from .data.samples import EpochSampler, PoseSamples
from .data.transforms import TrainTransform, ValTransform
from .errors import MissingFileError, SimplePoseError
from .loader import pose_loader
from .meta import KeypointMeta
from .metrics import HeatmapAccuracy
from .model import SimplePoseResNet, get_pose_model, load_gluoncv_pose_weights
from .options import gpu_ids

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


def contexts(cfg: dict[str, Any]) -> list[mx.Context]:
    """The devices of --gpus/--num-gpus, checked against what this MXNet build sees; else the CPU."""
    ids = gpu_ids(cfg)
    if ids and max(ids) >= mx.context.num_gpus():
        raise SimplePoseError(f"--gpus {','.join(map(str, ids))}: this machine's MXNet sees "
                              f"{mx.context.num_gpus()} GPU(s); install mxnet-cu112 (requirements-gpu.txt) or drop the flag")
    return [mx.gpu(i) for i in ids] if ids else [mx.cpu()]


def prepare_synthetic(cfg: dict[str, Any]) -> None:
    """Generate the built-in dataset on first use (no-op when it is already complete)."""
    if cfg["dataset"] == "synthetic":
        from .data.synthetic import ensure_dataset
        ensure_dataset(cfg["data_dir"], num_train_images=cfg["synthetic_train_images"],
                       num_val_images=cfg["synthetic_val_images"], seed=0)


def load_datasets(cfg: dict[str, Any], meta: KeypointMeta | None = None
                  ) -> tuple[COCOKeyPoints | None, COCOKeyPoints | None]:
    """(train, val) person datasets; either is None when its files are not configured."""
    kw = dict(flip_pairs=cfg.get("flip_pairs"), sigmas_file=cfg.get("sigmas"), category_id=cfg.get("category_id"))
    train = COCOKeyPoints(cfg["train_ann"], cfg["train_images"], meta=meta, **kw) if cfg.get("train_ann") else None
    meta = meta or (train.meta if train else None)
    val = COCOKeyPoints(cfg["val_ann"], cfg["val_images"], meta=meta, **kw) if cfg.get("val_ann") else None
    return train, val


def lr_schedule(cfg: dict[str, Any], iters_per_epoch: int) -> LRSequential:
    """GluonCV's warm-up + step/poly/cosine schedule, as a function of the update count."""
    decay = cfg["lr_decay_epoch"]
    if cfg["lr_decay_period"] > 0:
        decay = list(range(cfg["lr_decay_period"], cfg["num_epochs"], cfg["lr_decay_period"]))
    warm = cfg["warmup_epochs"]
    schedule = LRSequential([
        LRScheduler("linear", base_lr=cfg["warmup_lr"], target_lr=cfg["lr"], nepochs=warm,
                    iters_per_epoch=iters_per_epoch),
        LRScheduler(cfg["lr_mode"], base_lr=cfg["lr"], target_lr=0, nepochs=cfg["num_epochs"] - warm,
                    iters_per_epoch=iters_per_epoch, step_epoch=[e - warm for e in decay],
                    step_factor=cfg["lr_decay"], power=2)])
    # MXNet's optimizer compares its learning_rate with base_lr; LRSequential itself does not use it.
    schedule.base_lr = cfg["lr"]
    return schedule


def build_model(cfg: dict[str, Any], num_joints: int, ctx: list[mx.Context]) -> SimplePoseResNet:
    """Model with initialised parameters (random, ImageNet backbone, or GluonCV pose weights)."""
    net = get_pose_model(cfg["model"], num_joints, pretrained_base=cfg["use_pretrained_base"],
                         last_gamma=cfg["last_gamma"], ctx=ctx)
    if cfg["use_pretrained_base"]:
        for block in net.head():
            block.initialize(mx.init.MSRAPrelu(), ctx=ctx)
    else:
        net.initialize(mx.init.MSRAPrelu(), ctx=ctx)
    if cfg["use_pretrained"]:
        load_gluoncv_pose_weights(net, cfg["model"])
    return net


def evaluate_heatmaps(net: SimplePoseResNet, loader: gluon.data.DataLoader, ctx: list[mx.Context],
                      dtype: str = "float32") -> tuple[float, float]:
    """Mean weighted L2 loss per sample and HeatmapAccuracy over a loader of (input, heatmaps, weights)."""
    loss_fn = gluon.loss.L2Loss()
    metric = HeatmapAccuracy()
    total, count = 0.0, 0
    for batch in loader:
        # A last batch smaller than the device count goes to fewer devices (no empty slices).
        devices = ctx[:min(len(ctx), batch[0].shape[0])]
        parts = [gluon.utils.split_and_load(b, devices, even_split=False) for b in batch]
        for x, y, w in zip(*parts):
            out = net(x.astype(dtype, copy=False)).astype("float32", copy=False)
            total += float(loss_fn(out, y, w).sum().asscalar())
            count += x.shape[0]
            metric.update(y.asnumpy(), out.asnumpy())
    return total / max(count, 1), metric.get()[1]


class Run:
    """One training run; see the module docstring for what it writes."""

    def __init__(self, cfg: dict[str, Any], resume_from: dict[str, Any] | None = None):
        self.cfg = cfg
        self.save_dir = Path(cfg["save_dir"])
        self.ctx = contexts(cfg)
        self.start_epoch = resume_from["epoch"] if resume_from else 0
        seed = cfg["seed"]
        random.seed(seed)
        np.random.seed(seed)
        mx.random.seed(seed)

        prepare_synthetic(cfg)
        train, val = load_datasets(cfg, KeypointMeta.from_dict(resume_from["meta"]) if resume_from else None)
        self.meta = train.meta
        k = self.meta.num_joints
        if not self.meta.flip_pairs and cfg["flip_prob"] > 0:
            log.warning("%s: no left/right keypoint pairs found in %s; flipping will not swap any joints "
                        "(give --flip-pairs if the names mark sides another way)", cfg["train_ann"],
                        list(self.meta.names))
        if cfg.get("num_joints") is not None and cfg["num_joints"] != k:
            raise SimplePoseError(f"--num-joints {cfg['num_joints']}: {cfg['train_ann']} has {k} keypoints")
        cfg["num_joints"] = k
        h, w = cfg["input_size"]
        self.codec = HeatmapCodec((h, w), stride=4, sigma=cfg["sigma"])
        train_tf = TrainTransform(self.meta, (h, w), scale_factor=cfg["scale_factor"],
                                  rotation_factor=cfg["rotation_factor"], flip_prob=cfg["flip_prob"],
                                  half_body_prob=cfg["half_body_prob"], mean=cfg["mean"], std=cfg["std"])
        self.batch_size = cfg["batch_size"] * len(self.ctx)
        if len(train) < self.batch_size:
            raise SimplePoseError(f"{cfg['train_ann']}: {len(train)} people, fewer than one batch of "
                                  f"{self.batch_size}; lower --batch-size")
        self.sampler = EpochSampler(len(train), shuffle=True, seed=seed)
        workers = cfg["num_workers"]
        packed = PackedCrops(cfg["train_pack"], train) if cfg.get("train_pack") else None
        self.train_loader = pose_loader(
            PoseSamples(train, train_tf, self.codec, seed, reduced_decode=not cfg.get("full_decode", False),
                        packed=packed),
            self.batch_size, workers, sampler=self.sampler, last_batch="discard")
        self.val_loader = None
        if val is not None and len(val):
            self.val_loader = pose_loader(
                PoseSamples(val, ValTransform((h, w), cfg["mean"], cfg["std"]), self.codec),
                self.batch_size, workers, shuffle=False, last_batch="keep")
        self.iters_per_epoch = len(train) // self.batch_size
        log.info("training %s on %d people (%d keypoints), %d batches of %d per epoch, contexts %s",
                 cfg["model"], len(train), k, self.iters_per_epoch, self.batch_size, self.ctx)

        self.net = build_model(cfg, k, self.ctx) if not resume_from else get_pose_model(cfg["model"], k)
        if resume_from:
            # cast_dtype: a float16 checkpoint loads into the float32 model, which is cast below.
            self.net.load_parameters(resume_from["params"], ctx=self.ctx, cast_dtype=True)
        self.net.cast(cfg["dtype"])
        if cfg["mode"] == "hybrid":
            self.net.hybridize(static_alloc=True, static_shape=True)
        if cfg["no_wd"]:
            self.net.collect_params(".*beta|.*gamma|.*bias").setattr("wd_mult", 0.0)
        opt = {"learning_rate": cfg["lr"], "wd": cfg["wd"], "lr_scheduler": lr_schedule(cfg, self.iters_per_epoch)}
        if cfg["dtype"] != "float32":
            opt["multi_precision"] = True
        # A list in structural order: Trainer sorts a ParameterDict by name, and names carry global
        # counters (conv2dtranspose0_ vs conv2dtranspose3_), which would shuffle Adam's saved states.
        self.trainer = gluon.Trainer(list(self.net._collect_params_with_prefix().values()), "adam", opt)
        if resume_from:
            self.trainer.load_states(resume_from["states"])
            # The unpickled optimizer carries the old run's schedule; use this config's (the same
            # function of the update count when the config is unchanged, longer when --num-epochs grew).
            self.trainer.optimizer.lr_scheduler = opt["lr_scheduler"]
            # Count updates in this run's batches (--batch-size or device count may have changed) and
            # honour this run's weight decay.
            self.trainer.optimizer.num_update = self.start_epoch * self.iters_per_epoch
            self.trainer.optimizer.wd = cfg["wd"]
            log.info("resumed from %s at epoch %d (update %d, lr %g)", resume_from["manifest"], self.start_epoch,
                     self.trainer.optimizer.num_update, self.trainer.learning_rate)
        self.loss_fn = gluon.loss.L2Loss()

    def validate(self) -> tuple[float | None, float | None]:
        if self.val_loader is None:
            return None, None
        return evaluate_heatmaps(self.net, self.val_loader, self.ctx, self.cfg["dtype"])

    def _append_metrics(self, row: dict[str, Any]) -> None:
        # Strict JSON: NaN (e.g. an accuracy with no counted joint) becomes null.
        row = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        path = self.save_dir / METRICS_FILE
        rows = []
        if path.exists():
            # Keep rows of epochs before this one: a resumed run replaces what came after its checkpoint.
            rows = [line for line in path.read_text().splitlines()
                    if line.strip() and json.loads(line)["epoch"] < row["epoch"]]
        rows.append(json.dumps(row))
        atomic_write_text(path, "\n".join(rows) + "\n")

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        cfg, dtype = self.cfg, self.cfg["dtype"]
        self.sampler.set_epoch(epoch)
        metric = HeatmapAccuracy()
        loss_sum, seen, tic, btic = 0.0, 0, time.time(), time.time()
        bar = tqdm(self.train_loader, desc=f"epoch {epoch}/{cfg['num_epochs']}", disable=None, leave=False)
        for i, (data, label, weight) in enumerate(bar):
            xs = gluon.utils.split_and_load(data, self.ctx)
            ys = gluon.utils.split_and_load(label, self.ctx)
            ws = gluon.utils.split_and_load(weight, self.ctx)
            with autograd.record():
                outs = [self.net(x.astype(dtype, copy=False)) for x in xs]
                losses = [self.loss_fn(o.astype("float32", copy=False), y, w) for o, y, w in zip(outs, ys, ws)]
            autograd.backward(losses)
            self.trainer.step(self.batch_size)
            batch_loss = sum(float(l.sum().asscalar()) for l in losses)
            if not np.isfinite(batch_loss):
                raise SimplePoseError(f"epoch {epoch} batch {i + 1}: training loss is {batch_loss}; the last "
                                      f"checkpoint in {self.save_dir} is intact; lower --lr and --resume")
            loss_sum += batch_loss
            seen += data.shape[0]
            metric.update([y.asnumpy() for y in ys], [o.astype("float32").asnumpy() for o in outs])
            bar.set_postfix(loss=f"{loss_sum / seen:.2e}", acc=f"{metric.get()[1]:.3f}")
            if cfg["log_interval"] and (i + 1) % cfg["log_interval"] == 0:
                log.info("Epoch[%d] Batch[%d] Speed: %.1f samples/sec loss=%.6f lr=%g %s=%.3f", epoch, i + 1,
                         self.batch_size * cfg["log_interval"] / (time.time() - btic), loss_sum / seen,
                         self.trainer.learning_rate, *metric.get())
                btic = time.time()
        seconds = time.time() - tic
        return {"train_loss": loss_sum / max(seen, 1), "lr": self.trainer.learning_rate,
                "train_acc": metric.get()[1], "samples_per_sec": seen / seconds, "seconds": seconds}

    def fit(self) -> dict[str, Any]:
        """Train to ``num_epochs``; returns the last metrics row."""
        cfg = self.cfg
        if self.start_epoch >= cfg["num_epochs"]:
            raise SimplePoseError(f"the checkpoint is at epoch {self.start_epoch}; raise --num-epochs to train on")
        self.save_dir.mkdir(parents=True, exist_ok=True)
        row: dict[str, Any] = {}
        if self.start_epoch == 0:
            val_loss, val_acc = self.validate()
            row = {"epoch": 0, "train_loss": None, "lr": None, "train_acc": None,
                   "val_loss": val_loss, "val_acc": val_acc, "samples_per_sec": None, "seconds": 0.0}
            self._append_metrics(row)
            log.info("Epoch[0] (untrained) val loss=%s val heatmap_accuracy=%s", _fmt(val_loss), _fmt(val_acc))
        if self.start_epoch:
            drop_later_checkpoints(self.save_dir, self.start_epoch)
        for epoch in range(self.start_epoch + 1, cfg["num_epochs"] + 1):
            stats = self.train_epoch(epoch)
            due = epoch % cfg["val_interval"] == 0 or epoch == cfg["num_epochs"]
            val_loss, val_acc = self.validate() if due else (None, None)
            row = {"epoch": epoch, **stats, "val_loss": val_loss, "val_acc": val_acc}
            self._append_metrics(row)
            log.info("Epoch[%d] done in %.0fs: %.1f samples/sec, train loss=%.6f acc=%.3f, lr=%g, "
                     "val loss=%s acc=%s", epoch, stats["seconds"], stats["samples_per_sec"], stats["train_loss"],
                     stats["train_acc"], stats["lr"], _fmt(val_loss), _fmt(val_acc))
            freq = cfg["save_frequency"]
            if epoch == cfg["num_epochs"] or (freq and epoch % freq == 0):
                path = save_checkpoint(self.save_dir / f"{cfg['model']}-epoch{epoch:04d}", self.net, self.trainer,
                                       epoch, cfg, self.meta.to_dict(), {"metrics": row})
                log.info("saved checkpoint %s", path)
        return row


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def drop_later_checkpoints(save_dir: Path, epoch: int) -> None:
    """Remove manifests of epochs after ``epoch``: a resumed run replaces that abandoned future."""
    for later, manifest in checkpoints_in(save_dir):
        if later > epoch:
            log.info("removing checkpoint %s (epoch %d, after the resumed epoch %d)", manifest, later, epoch)
            manifest.unlink()


def find_resume(spec: str) -> dict[str, Any]:
    """Manifest (with full paths) of ``--resume``: a checkpoint or a run directory (its latest)."""
    path = Path(spec)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise MissingFileError(f"{path}: no checkpoint to resume from in this directory")
        path = found
    doc = load_manifest(path)
    doc["manifest"] = str(path)
    return doc
