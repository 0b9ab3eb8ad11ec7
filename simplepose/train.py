"""The training loop: data, model, weighted L2 loss, Adam with a step schedule, checkpoints.

``run(config)`` trains from a config dict (see ``options.train_parser``) and
writes into ``config["save_dir"]``:

- the log file (``--logging-file``),
- ``metrics.jsonl``: one JSON object per epoch (epoch 0 is the untrained model):
  epoch, train_loss, lr, train_acc, val_loss, val_acc, val_ap (null between ``--val-interval`` epochs),
  samples_per_sec, seconds,
- checkpoints ``MODEL-epochNNNN.{params,states,json}`` (see ``checkpoint``), and
  ``MODEL-epochNNNN-batchBBBBB.*`` when training stops inside epoch NNNN (Ctrl-C, a bad
  image): the state after BBBBB batches, from which ``--resume`` continues exactly,
- ``best.{params,states,json}``: the checkpoint with the highest validation COCO AP so far.

Reliability: a NaN/infinite loss stops (``--nan-policy stop``) before the update, or
skips that update (``skip``); bad records stop or are skipped (``--on-bad-record``).
With ``--kvstore dist_sync[_device]`` each worker trains on its shard of the data and
only rank 0 validates and writes files.

Validation AP is COCO keypoint AP on ground-truth boxes without flip test, computed from the
same forward pass as the validation loss (see ``evaluate``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from gluoncv.utils import LRScheduler, LRSequential
from tqdm import tqdm

from .io import atomic_write_text
from .checkpoint import (checkpoints_in, latest_checkpoint, load_manifest, position,
                         remove_checkpoint, save_checkpoint)
from .codec import HeatmapCodec
from .data.coco import COCOKeyPoints
from .data.decode import REGION_DECODING
from .data.guard import GuardedSamples
from .data.pack import PackedCrops
from .data.samples import EpochSampler, PoseSamples
from .data.transforms import TrainTransform, ValTransform
from .device_input import InputNormalizer
from .errors import MissingFileError, SimplePoseError
from .evaluate import BoxCrops, KeypointCollector, evaluate_keypoints, gt_boxes, load_coco_gt
from .loader import pose_loader
from .meta import KeypointMeta
from .metrics import HeatmapAccuracy
from .model import SimplePoseResNet, get_pose_model, load_checkpoint_params, load_gluoncv_pose_weights
from .options import gpu_ids

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
BEST = "best"
# kvstore keys of our own, clear of gluon.Trainer's (0 .. number of parameters - 1).
_FLAG_KEY = 1 << 20
_AUX_KEY = (1 << 20) + 1


class StopRequested(KeyboardInterrupt):
    """Ctrl-C, acted on between two batches: the state is consistent and gets checkpointed."""


class _DeferredInterrupt:
    """SIGINT sets a flag that the loop checks between batches; a second SIGINT stops at once.

    An interrupt inside ``trainer.step`` could leave some parameters updated and others not, so
    the first Ctrl-C only asks the loop to stop at the next clean point. Only in the main thread
    (Python delivers signals there).
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> "_DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupted: stopping after this batch and writing a checkpoint (Ctrl-C again to stop now)")

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@dataclass
class EpochProgress:
    """Running sums of one training epoch, so that a stop inside it can be resumed exactly."""

    epoch: int
    batches: int = 0
    loss_sum: float = 0.0
    seen: int = 0
    hits: list[int] | None = None      # HeatmapAccuracy's pooled hits and counts per joint type
    counted: list[int] | None = None
    seconds: float = 0.0
    nan_skipped: list[int] = field(default_factory=list)   # batch numbers whose update was skipped


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
        from .synthetic import ensure_dataset
        ensure_dataset(cfg["data_dir"], num_train_images=cfg["synthetic_train_images"],
                       num_val_images=cfg["synthetic_val_images"], seed=0)


def load_datasets(cfg: dict[str, Any], meta: KeypointMeta | None = None
                  ) -> tuple[COCOKeyPoints | None, COCOKeyPoints | None]:
    """(train, val) person datasets; either is None when its files are not configured."""
    kw = dict(flip_pairs=cfg.get("flip_pairs"), sigmas_file=cfg.get("sigmas"), category_id=cfg.get("category_id"),
              on_bad_record=cfg.get("on_bad_record", "error"))
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
                      to_input: InputNormalizer, dtype: str = "float32",
                      collector: KeypointCollector | None = None) -> tuple[float, float]:
    """Mean weighted L2 loss per sample and HeatmapAccuracy over a loader of (crop, heatmaps, weights).

    With a ``collector``, the predicted heatmaps are also decoded into keypoints, in loader order.
    """
    loss_fn = gluon.loss.L2Loss()
    metric = HeatmapAccuracy()
    total, count = 0.0, 0
    for batch in loader:
        # A last batch smaller than the device count goes to fewer devices (no empty slices).
        devices = ctx[:min(len(ctx), batch[0].shape[0])]
        parts = [gluon.utils.split_and_load(b, devices, even_split=False) for b in batch]
        for x, y, w in zip(*parts):
            out = net(to_input(x).astype(dtype, copy=False)).astype("float32", copy=False)
            total += float(loss_fn(out, y, w).sum().asscalar())
            count += x.shape[0]
            heatmaps = out.asnumpy()
            metric.update(y.asnumpy(), heatmaps)
            if collector is not None:
                collector.add(heatmaps)
    return total / max(count, 1), metric.get()[1]


class Run:
    """One training run; see the module docstring for what it writes."""

    def __init__(self, cfg: dict[str, Any], resume_from: dict[str, Any] | None = None,
                 kv: mx.kv.KVStore | None = None):
        self.cfg = cfg
        self.save_dir = Path(cfg["save_dir"])
        self.ctx = contexts(cfg)
        self.resumed = resume_from
        self.start_epoch = resume_from["epoch"] if resume_from else 0
        # A checkpoint written inside an epoch: the batches done in the next epoch and its running sums.
        self.start_batch = resume_from.get("batch", 0) if resume_from else 0
        self.partial = EpochProgress(**resume_from["progress"]) if self.start_batch else None
        # Distributed: the parameter-server kvstore (it connects to the scheduler now) and our rank.
        kvstore = cfg.get("kvstore", "device")
        self.kv = kv or (mx.kv.create(kvstore) if kvstore.startswith("dist") else None)
        self.rank, self.num_workers = (self.kv.rank, self.kv.num_workers) if self.kv else (0, 1)
        self.writer = self.rank == 0   # only rank 0 validates and writes metrics and checkpoints
        self._interrupt = _DeferredInterrupt()   # replaced by fit's, which listens for Ctrl-C
        self._clean = True                      # False while a batch is half done (see _save_on_stop)
        self.progress: EpochProgress | None = None
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
        self.codec = HeatmapCodec((h, w), stride=4, sigma=cfg["sigma"], method=cfg["codec"])
        train_tf = TrainTransform(self.meta, (h, w), scale_factor=cfg["scale_factor"],
                                  rotation_factor=cfg["rotation_factor"], flip_prob=cfg["flip_prob"],
                                  half_body_prob=cfg["half_body_prob"], mean=cfg["mean"], std=cfg["std"])
        # --batch-size is per device, as in GluonCV: a step takes batch_size x devices samples on each worker.
        self.batch_size = cfg["batch_size"] * len(self.ctx)
        self.train_data, self.val_data = train, val
        # Each worker reads its own shard of every epoch's shuffled order (all shards the same length).
        self.sampler = EpochSampler(len(train), shuffle=True, seed=seed, num_parts=self.num_workers,
                                    part_index=self.rank)
        shard = len(self.sampler.indices(0))
        if shard < self.batch_size:
            raise SimplePoseError(f"{cfg['train_ann']}: {len(train)} people"
                                  f"{f' ({shard} per worker)' if self.num_workers > 1 else ''}, fewer than one "
                                  f"batch of {self.batch_size}; lower --batch-size")
        workers = cfg["num_workers"]
        packed = PackedCrops(cfg["train_pack"], train) if cfg.get("train_pack") else None
        self.train_samples = GuardedSamples(
            PoseSamples(train, train_tf, self.codec, seed, reduced_decode=not cfg.get("full_decode", False),
                        packed=packed), cfg.get("on_bad_record", "error"))
        self.train_loader = pose_loader(self.train_samples, self.batch_size, workers, sampler=self.sampler,
                                        last_batch="discard")
        self.to_input = InputNormalizer(cfg["mean"], cfg["std"])   # the loaders' uint8 crops -> model input
        if not REGION_DECODING:
            log.warning("simplepose/data/libroijpeg.so is not built (make builds it; it needs libjpeg-dev): "
                        "decoding whole JPEG images, the same pixels but slower")
        self.val_loader = None
        self.val_coco = None
        if val is not None and len(val) and self.writer:
            val_tf = ValTransform((h, w), cfg["mean"], cfg["std"])
            self.val_loader = pose_loader(PoseSamples(val, val_tf, self.codec), self.batch_size, workers,
                                          shuffle=False, last_batch="keep")
            if self.meta.sigmas is not None:
                # The loader crops the same ground-truth boxes, in the same order, as these.
                self.val_boxes = gt_boxes(val)
                self.val_crops = BoxCrops(self.val_boxes, val_tf)
                self.val_coco = (load_coco_gt(cfg["val_ann"], val.category_id), val.category_id)
            else:
                log.warning("%s: no OKS sigmas, so validation reports no COCO AP (give --sigmas FILE)", cfg["val_ann"])
        self.iters_per_epoch = shard // self.batch_size
        log.info("training %s on %d people (%d keypoints), %d batches of %d per epoch, contexts %s%s",
                 cfg["model"], len(train), k, self.iters_per_epoch, self.batch_size, self.ctx,
                 f", worker {self.rank} of {self.num_workers} ({shard} people each, kvstore {kvstore})"
                 if self.kv else "")
        # Bad samples met by the loader (dataset indices, --on-bad-record skip); batches skipped for NaN.
        self.bad_samples: set[int] = set(resume_from.get("bad_samples", [])) if resume_from else set()
        self.nan_skipped = int(resume_from.get("nan_skipped", 0)) if resume_from else 0

        self.net = build_model(cfg, k, self.ctx) if not resume_from else get_pose_model(cfg["model"], k)
        if resume_from:
            # cast_dtype: a float16 checkpoint loads into the float32 model, which is cast below.
            load_checkpoint_params(self.net, resume_from["params"], self.ctx)
        else:
            # Finish Gluon's deferred initialisation now, so every parameter exists from the start (an
            # inference pass leaves BatchNorm's running statistics alone and draws the same numbers).
            self.net(mx.nd.zeros((1, 3, h, w), ctx=self.ctx[0]))
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
        # Distributed: the server sums gradients and every worker runs Adam itself
        # (update_on_kvstore=False), so each holds the optimizer state a checkpoint needs.
        self.trainer = gluon.Trainer(list(self.net._collect_params_with_prefix().values()), "adam", opt,
                                     kvstore=self.kv or kvstore, update_on_kvstore=False if self.kv else None)
        # BatchNorm running statistics: not trained, updated by the forward pass itself.
        self._aux = [p for p in self.net.collect_params().values() if p.grad_req == "null"]
        if self.kv:
            self._init_kv_keys()
        if resume_from:
            self.trainer.load_states(resume_from["states"])
            # The unpickled optimizer carries the old run's schedule; use this config's (the same
            # function of the update count when the config is unchanged, longer when --num-epochs grew).
            self.trainer.optimizer.lr_scheduler = opt["lr_scheduler"]
            # Count updates in this run's batches (--batch-size or device count may have changed) and
            # honour this run's weight decay.
            # Skipped batches (--nan-policy skip) were no updates.
            self.trainer.optimizer.num_update = (self.start_epoch * self.iters_per_epoch + self.start_batch
                                                 - self.nan_skipped)
            was = resume_from.get("batch_size_total")
            if self.start_batch and was != self.batch_size * self.num_workers:
                raise SimplePoseError(
                    f"--resume {resume_from['manifest']}: stopped inside epoch {self.start_epoch + 1} after "
                    f"{self.start_batch} batches of {was}; resume with the same batch size, devices and "
                    f"workers (now {self.batch_size * self.num_workers}), or from an epoch checkpoint")
            self.trainer.optimizer.wd = cfg["wd"]
            log.info("resumed from %s at epoch %d (update %d, lr %g)", resume_from["manifest"], self.start_epoch,
                     self.trainer.optimizer.num_update, self.trainer.learning_rate)
        self.loss_fn = gluon.loss.L2Loss()

    def validate(self) -> dict[str, float | None]:
        """val_loss, val_acc and (when the metadata has OKS sigmas) val_ap on ground-truth boxes."""
        if self.val_loader is None:
            return {"val_loss": None, "val_acc": None, "val_ap": None}
        collector = KeypointCollector(self.codec, self.val_crops.centers, self.val_crops.scales) \
            if self.val_coco else None
        loss, acc = evaluate_heatmaps(self.net, self.val_loader, self.ctx, self.to_input, self.cfg["dtype"],
                                      collector)
        ap = None
        if collector is not None:
            gt, category_id = self.val_coco
            report, _ = evaluate_keypoints(gt, collector.keypoints, self.val_boxes, self.val_crops, self.meta,
                                           category_id, per_keypoint=False)
            ap = report.stats["AP"]
        return {"val_loss": loss, "val_acc": acc, "val_ap": ap}

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

    def _init_kv_keys(self) -> None:
        """Our kvstore keys (every worker calls this; rank 0's values are the initial ones)."""
        self.kv.init(_FLAG_KEY, mx.nd.zeros((1,)))
        self.kv.init([_AUX_KEY + i for i in range(len(self._aux))], [p.data(self.ctx[0]) for p in self._aux])

    def _all_workers_sum(self, value: float) -> float:
        """Sum of ``value`` over the distributed workers (a collective: every worker must call it)."""
        arr = mx.nd.array([value])
        self.kv.pushpull(_FLAG_KEY, arr, out=arr)
        return float(arr.asscalar())

    def _average_aux_states(self) -> None:
        """Average BatchNorm running statistics over the workers (each saw only its shard)."""
        for i, param in enumerate(self._aux):
            total = param.data(self.ctx[0]).copy()
            self.kv.pushpull(_AUX_KEY + i, total, out=total)
            param.set_data(total / self.num_workers)

    def step(self, data: mx.nd.NDArray, label: mx.nd.NDArray, weight: mx.nd.NDArray
             ) -> tuple[float, list[mx.nd.NDArray], list[mx.nd.NDArray]]:
        """One update on one batch split over the devices, unless the loss is not finite.

        Returns the summed loss of the batch and the per-device labels and outputs. A NaN or
        infinite loss is found before the update: the caller stops (``--nan-policy stop``), or
        the update is skipped (``skip``; with several workers, all skip together).
        """
        dtype, skip = self.cfg["dtype"], self.cfg.get("nan_policy", "stop") == "skip"
        # The forward pass moves BatchNorm's running statistics; a skipped batch must not.
        aux = [[a.copy() for a in p.list_data()] for p in self._aux] if skip else []
        xs = gluon.utils.split_and_load(data, self.ctx)
        ys = gluon.utils.split_and_load(label, self.ctx)
        ws = gluon.utils.split_and_load(weight, self.ctx)
        with autograd.record():
            outs = [self.net(self.to_input(x).astype(dtype, copy=False)) for x in xs]
            losses = [self.loss_fn(o.astype("float32", copy=False), y, w) for o, y, w in zip(outs, ys, ws)]
        autograd.backward(losses)
        batch_loss = sum(float(l.sum().asscalar()) for l in losses)
        bad = not np.isfinite(batch_loss)
        if self.kv and skip:
            bad = self._all_workers_sum(float(bad)) > 0
            batch_loss = float("nan") if bad else batch_loss
        if bad:
            if skip:
                for param, saved in zip(self._aux, aux):
                    for arr, old in zip(param.list_data(), saved):
                        old.copyto(arr)
            return batch_loss, ys, outs
        # Distributed: the server sums the workers' gradients, so normalise by the global batch.
        self.trainer.step(self.batch_size * self.num_workers)
        return batch_loss, ys, outs

    def train_epoch(self, epoch: int, progress: EpochProgress | None = None) -> dict[str, Any]:
        """Train one epoch, or its remaining batches when ``progress`` (a resumed stop) is given."""
        cfg = self.cfg
        p = progress or EpochProgress(epoch)
        self.progress = p
        metric = HeatmapAccuracy()
        if p.hits is not None:
            metric.hits, metric.counted = np.array(p.hits), np.array(p.counted)
        self.sampler.set_epoch(epoch, skip=p.batches * self.batch_size)
        tic, btic, seconds0 = time.time(), time.time(), p.seconds
        bar = tqdm(self.train_loader, desc=f"epoch {epoch}/{cfg['num_epochs']}", disable=None, leave=False,
                   initial=p.batches, total=self.iters_per_epoch)
        for i, (data, label, weight, bad) in enumerate(bar, start=p.batches + 1):
            self._clean = False
            batch_loss, ys, outs = self.step(data, label, weight)
            if not np.isfinite(batch_loss):
                if cfg.get("nan_policy", "stop") == "stop":
                    raise SimplePoseError(
                        f"epoch {epoch} batch {i}: training loss is {batch_loss}; stopped before updating. The "
                        f"last checkpoint in {self.save_dir} is intact: lower --lr and --resume it, or pass "
                        "--nan-policy skip")
                p.nan_skipped.append(i)
                self.nan_skipped += 1
                log.warning("epoch %d batch %d: training loss is %s; update skipped (--nan-policy skip, %d so far)",
                            epoch, i, batch_loss, self.nan_skipped)
            else:
                p.loss_sum += batch_loss
                p.seen += data.shape[0]
                metric.update([y.asnumpy() for y in ys], [o.astype("float32").asnumpy() for o in outs])
            self._count_bad(bad.asnumpy())
            p.batches = i
            if metric.hits is not None:
                p.hits, p.counted = metric.hits.tolist(), metric.counted.tolist()
            p.seconds = seconds0 + time.time() - tic
            self._clean = True
            bar.set_postfix(loss=f"{p.loss_sum / max(p.seen, 1):.2e}", acc=f"{metric.get()[1]:.3f}")
            if cfg["log_interval"] and i % cfg["log_interval"] == 0:
                log.info("Epoch[%d] Batch[%d] Speed: %.1f samples/sec loss=%.6f lr=%g %s=%.3f", epoch, i,
                         self.batch_size * cfg["log_interval"] / (time.time() - btic), p.loss_sum / max(p.seen, 1),
                         self.trainer.learning_rate, *metric.get())
                btic = time.time()
            if self._stop_requested():
                raise StopRequested
        if self.kv:
            self._average_aux_states()
        return {"train_loss": p.loss_sum / max(p.seen, 1), "lr": self.trainer.learning_rate,
                "train_acc": metric.get()[1], "samples_per_sec": p.seen / max(p.seconds, 1e-9),
                "seconds": p.seconds, "nan_skipped": len(p.nan_skipped)}

    def _stop_requested(self) -> bool:
        """Ctrl-C seen here or, distributed, by any worker: all workers stop after the same batch."""
        if self.kv:
            return self._all_workers_sum(float(self._interrupt.requested)) > 0
        return self._interrupt.requested

    def _count_bad(self, bad: np.ndarray) -> None:
        for idx in bad[bad >= 0].tolist():
            if idx not in self.bad_samples:
                log.warning("skipped bad image %s (--on-bad-record skip)", self.train_samples.describe(idx))
            self.bad_samples.add(int(idx))

    def _prefix(self, epoch: int, batch: int = 0) -> Path:
        name = f"{self.cfg['model']}-epoch{epoch:04d}" + (f"-batch{batch:05d}" if batch else "")
        return self.save_dir / name

    def _save(self, epoch: int, row: dict[str, Any] | None, progress: EpochProgress | None = None,
              best: bool = False) -> Path:
        """Checkpoint after ``epoch`` epochs (as ``best`` when asked), or ``progress.batches`` into the next one."""
        extra: dict[str, Any] = {"metrics": row, "bad_samples": sorted(self.bad_samples),
                                 "nan_skipped": self.nan_skipped,
                                 "batch_size_total": self.batch_size * self.num_workers}
        prefix = self.save_dir / BEST if best else self._prefix(epoch)
        if progress is not None and progress.batches:
            extra.update(batch=progress.batches, progress=asdict(progress), interrupted=True)
            prefix = self._prefix(progress.epoch, progress.batches)
        # A hybridized (static_alloc) network's BatchNorm running statistics can be read before the last
        # forward pass has written them (seen with MXNet 1.9.1 on CPU, mid-epoch): finish all work first.
        mx.nd.waitall()
        path = save_checkpoint(prefix, self.net, self.trainer, epoch, self.cfg, self.meta.to_dict(), extra)
        if progress is None:
            # Checkpoints written inside earlier epochs are superseded by this one.
            for _, manifest in checkpoints_in(self.save_dir):
                doc = json.loads(manifest.read_text())
                if doc.get("batch") and position(doc) < (epoch, 0):
                    remove_checkpoint(manifest)
        return path

    def _save_on_stop(self, completed: int) -> None:
        """Ctrl-C or a bad image between two batches: keep the state so that --resume continues exactly."""
        p = self.progress
        if not self.writer or not self._clean:
            return
        if p is not None and p.epoch == completed + 1 and p.batches:
            path = self._save(completed, None, p)
            log.warning("saved checkpoint %s (epoch %d stopped after batch %d of %d); --resume %s continues "
                        "exactly", path, p.epoch, p.batches, self.iters_per_epoch, self.save_dir)
        elif completed and not self._prefix(completed).with_suffix(".json").exists():
            log.warning("saved checkpoint %s", self._save(completed, None))

    def summary(self) -> str:
        """What was skipped in this run (bad records, bad images, NaN batches)."""
        parts = []
        for name, data in (("train", self.train_data), ("val", self.val_data)):
            if data is not None and data.skipped:
                parts.append(f"{sum(data.skipped.values())} bad {name} records skipped at load "
                             f"({', '.join(f'{n} {why}' for why, n in sorted(data.skipped.items()))})")
        if self.bad_samples:
            parts.append(f"{len(self.bad_samples)} bad training images skipped by the loader "
                         f"(e.g. {self.train_samples.describe(min(self.bad_samples))})")
        if self.nan_skipped:
            parts.append(f"{self.nan_skipped} batch updates skipped for a non-finite loss")
        return "; ".join(parts) if parts else "nothing"

    def fit(self) -> dict[str, Any]:
        """Train to ``num_epochs``; returns the last metrics row.

        A first Ctrl-C stops at the next batch boundary and writes a checkpoint of that exact state
        (``MODEL-epochNNNN-batchBBBBB``); so does a bad image with ``--on-bad-record error``.
        """
        cfg = self.cfg
        if self.start_epoch >= cfg["num_epochs"]:
            raise SimplePoseError(f"the checkpoint is at epoch {self.start_epoch}; raise --num-epochs to train on")
        if self.writer:
            self.save_dir.mkdir(parents=True, exist_ok=True)
        row: dict[str, Any] = {}
        if not self.resumed and self.writer:
            row = {"epoch": 0, "train_loss": None, "lr": None, "train_acc": None, **self.validate(),
                   "samples_per_sec": None, "seconds": 0.0}
            self._append_metrics(row)
            log.info("Epoch[0] (untrained) val loss=%s heatmap_accuracy=%s AP=%s", _fmt(row["val_loss"]),
                     _fmt(row["val_acc"]), _fmt(row["val_ap"]))
        if self.resumed and self.writer:
            drop_later_checkpoints(self.save_dir, self.start_epoch, self.start_batch)
        best_ap = best_val_ap(self.save_dir)
        completed = self.start_epoch
        with _DeferredInterrupt() as self._interrupt:
            try:
                for epoch in range(self.start_epoch + 1, cfg["num_epochs"] + 1):
                    stats = self.train_epoch(epoch, self.partial if epoch == self.start_epoch + 1 else None)
                    due = epoch % cfg["val_interval"] == 0 or epoch == cfg["num_epochs"]
                    val = self.validate() if due else {"val_loss": None, "val_acc": None, "val_ap": None}
                    row = {"epoch": epoch, **stats, **val}
                    if self.writer:
                        self._append_metrics(row)
                    log.info("Epoch[%d] done in %.0fs: %.1f samples/sec, train loss=%.6f acc=%.3f, lr=%g, "
                             "val loss=%s acc=%s AP=%s", epoch, stats["seconds"], stats["samples_per_sec"],
                             stats["train_loss"], stats["train_acc"], stats["lr"], _fmt(val["val_loss"]),
                             _fmt(val["val_acc"]), _fmt(val["val_ap"]))
                    freq = cfg["save_frequency"]
                    if self.writer and (epoch == cfg["num_epochs"] or (freq and epoch % freq == 0)):
                        log.info("saved checkpoint %s", self._save(epoch, row))
                    if self.writer and val["val_ap"] is not None and (best_ap is None or val["val_ap"] > best_ap):
                        best_ap = val["val_ap"]
                        self._save(epoch, row, best=True)
                        log.info("new best validation AP %.4f at epoch %d: saved %s", best_ap, epoch,
                                 self.save_dir / f"{BEST}.params")
                    completed, self.progress = epoch, None
                    if self._stop_requested():
                        raise StopRequested
            except StopRequested:
                # Between two batches the state is consistent: keep it. (Not after a second Ctrl-C.)
                self._save_on_stop(completed)
                if self.kv:
                    # All workers stopped together; the others leave the job after rank 0 has written.
                    self._all_workers_sum(0.0)
                raise
            except SimplePoseError:
                # Also consistent: a bad image stops before its batch starts (a NaN loss stops before
                # the update, but is not saved: the last good checkpoint is the one to resume from).
                self._save_on_stop(completed)
                raise
        log.info("skipped: %s", self.summary())
        log.info("final parameters sha256 %s", parameter_digest(self.net))
        return row


def parameter_digest(net: gluon.Block) -> str:
    """SHA-256 of all parameter values (structural order, first device): equal digests, equal parameters."""
    mx.nd.waitall()   # see Run._save
    digest = hashlib.sha256()
    for name, param in net._collect_params_with_prefix().items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(param.data(param.list_ctx()[0]).asnumpy()).tobytes())
    return digest.hexdigest()


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def best_val_ap(save_dir: Path) -> float | None:
    """Validation AP of the run's best checkpoint so far (None when there is none)."""
    manifest = save_dir / f"{BEST}.json"
    if not manifest.is_file():
        return None
    return load_manifest(manifest).get("metrics", {}).get("val_ap")


def drop_later_checkpoints(save_dir: Path, epoch: int, batch: int = 0) -> None:
    """Remove checkpoints after position (``epoch``, ``batch``): a resumed run replaces that abandoned future."""
    for later, manifest in checkpoints_in(save_dir):
        doc = json.loads(manifest.read_text())
        if position(doc) > (epoch, batch):
            log.info("removing checkpoint %s (epoch %d, after the resumed epoch %d)", manifest, later, epoch)
            if doc.get("batch"):
                remove_checkpoint(manifest)
            else:
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
