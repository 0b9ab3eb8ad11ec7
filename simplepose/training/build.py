"""Building a run's parts from its config: data, model, optimizer, and the surgery of a resume.

Each function makes one thing and returns it; ``build_parts`` calls them in a fixed order
(the order fixes what the seeded random generators draw, so it is part of "same seed, same
numbers"): seed, data, validation, model, trainer, resume.
"""
from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from typing import Callable

import mxnet as mx
import numpy as np
from gluoncv.utils import LRScheduler, LRSequential
from mxnet import gluon

from simplepose.runtime import mxnet as mxnet_runtime
from simplepose.codec import HeatmapCodec
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.decode import REGION_DECODING
from simplepose.data.guard import GuardedSamples
from simplepose.data.pack import PackedCrops
from simplepose.data.samples import EpochSampler, PoseSamples
from simplepose.data.transforms import TrainTransform
from simplepose.runtime.mxnet import InputNormalizer
from simplepose.errors import SimplePoseError
from simplepose.training.loader import pose_loader
from simplepose.meta import KeypointMeta
from simplepose.model import SimplePoseResNet, get_pose_model, load_checkpoint_params
from simplepose.data.paths import prepare_synthetic
from simplepose.training.transfer import check_settings, gluoncv_source, transfer_weights, weight_source
from simplepose.config import TrainConfig
from simplepose.training.distributed import Workers
from simplepose.training.loop import Parts, aux_params
from simplepose.training.optimizer_state import Trainer
from simplepose.training.state import ResumePoint
from simplepose.training.pictures import validation_pictures
from simplepose.training.validation import Scores, build_validator

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and MXNet's generators (initialisation draws from MXNet's)."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def load_datasets(cfg: TrainConfig, meta: KeypointMeta | None = None
                  ) -> tuple[COCOKeyPoints, COCOKeyPoints | None]:
    """(train, val) person datasets (val None without --val-ann); ``meta`` (a resumed run's) else the train file's."""
    kw = dict(flip_pairs=cfg.flip_pairs, sigmas_file=cfg.sigmas, category_id=cfg.category_id,
              keypoint_fields=cfg.keypoint_fields,
              on_bad_record=cfg.on_bad_record, max_pixels=cfg.max_image_pixels,
              allow_outside_root=cfg.allow_outside_root)
    train = COCOKeyPoints(cfg.train_ann, cfg.train_images, meta=meta, **kw)
    if cfg.val_ann and _same_files((cfg.val_ann, cfg.val_images), (cfg.train_ann, cfg.train_images)):
        # Read once: reading it again would only repeat every warning of the file.
        log.info("%s: validating on the training file and images (the same %d people)", cfg.val_ann, len(train))
        return train, train
    val = COCOKeyPoints(cfg.val_ann, cfg.val_images, meta=meta or train.meta, **kw) if cfg.val_ann else None
    return train, val


def _same_files(paths: tuple[str, str], others: tuple[str, str]) -> bool:
    """Whether two (annotation file, image folder) pairs are the same files (by identity, not by spelling)."""
    try:
        return all(os.path.samefile(a, b) for a, b in zip(paths, others))
    except (OSError, TypeError):   # a missing path: COCOKeyPoints says which
        return False


def check_meta(cfg: TrainConfig, meta: KeypointMeta) -> None:
    """--num-joints against the data's K; a warning when flipping cannot swap any joints."""
    if not meta.flip_pairs and cfg.flip_prob > 0:
        log.warning("%s: no left/right keypoint pairs found in %s; flipping will not swap any joints "
                    "(give --flip-pairs if the names mark sides another way)", cfg.train_ann, list(meta.names))
    if cfg.num_joints is not None and cfg.num_joints != meta.num_joints:
        raise SimplePoseError(f"--num-joints {cfg.num_joints}: {cfg.train_ann} has {meta.num_joints} keypoints")


@dataclass(frozen=True)
class TrainData:
    """The training people and how they reach the loop; ``batch_size`` = --batch-size x devices."""

    meta: KeypointMeta
    train: COCOKeyPoints
    val: COCOKeyPoints | None
    codec: HeatmapCodec
    samples: GuardedSamples
    sampler: EpochSampler
    loader: gluon.data.DataLoader
    batch_size: int
    shard: int                 # people per epoch on this worker
    iters_per_epoch: int


def build_data(cfg: TrainConfig, num_devices: int, workers: Workers, meta: KeypointMeta | None = None) -> TrainData:
    """Datasets (generating the synthetic one on first use), codec, augmentation, sharded sampler, loader."""
    prepare_synthetic(cfg.dataset, cfg.data_dir, cfg.synthetic_train_images, cfg.synthetic_val_images)
    train, val = load_datasets(cfg, meta)
    check_meta(cfg, train.meta)
    codec = HeatmapCodec(cfg.input_size, sigma=cfg.sigma, method=cfg.codec)
    transform = TrainTransform(train.meta, cfg.input_size, scale_factor=cfg.scale_factor,
                               rotation_factor=cfg.rotation_factor, flip_prob=cfg.flip_prob,
                               half_body_prob=cfg.half_body_prob, mean=cfg.mean, std=cfg.std)
    # --batch-size is per device, as in GluonCV: a step takes batch_size x devices samples on each worker.
    batch_size = cfg.batch_size * num_devices
    # Each worker reads its own shard of every epoch's shuffled order (all shards the same length).
    sampler = EpochSampler(len(train), shuffle=True, seed=cfg.seed, num_parts=workers.num_workers,
                           part_index=workers.rank)
    shard = len(sampler.indices(0))
    if shard < batch_size:
        raise SimplePoseError(f"{cfg.train_ann}: {len(train)} people"
                              f"{f' ({shard} per worker)' if workers.num_workers > 1 else ''}, fewer than one "
                              f"batch of {batch_size}; lower --batch-size")
    packed = PackedCrops(cfg.train_pack, train) if cfg.train_pack else None
    samples = GuardedSamples(PoseSamples(train, transform, codec, cfg.seed, reduced_decode=not cfg.full_decode,
                                         packed=packed), cfg.on_bad_record)
    loader = pose_loader(samples, batch_size, cfg.num_workers, sampler=sampler, last_batch="discard")
    if not REGION_DECODING:
        log.warning("simplepose/data/libroijpeg.so is not built (make builds it; it needs libjpeg-dev): "
                    "decoding whole JPEG images, the same pixels but slower")
    return TrainData(train.meta, train, val, codec, samples, sampler, loader, batch_size, shard,
                     shard // batch_size)


def build_net(cfg: TrainConfig, meta: KeypointMeta, ctx: list[mx.Context], resume: ResumePoint | None
              ) -> SimplePoseResNet:
    """The network for ``meta``'s keypoints, initialised (random, ImageNet backbone, GluonCV pose weights,
    --init-from) or loaded from ``resume``; cast to --dtype, hybridized (--mode hybrid), no weight decay on
    biases and BatchNorm (--no-wd)."""
    if resume:
        net = get_pose_model(cfg.model, meta.num_joints)
        # cast_dtype: a float16 checkpoint loads into the float32 model, which is cast below.
        load_checkpoint_params(net, resume.params, ctx)
    else:
        net = get_pose_model(cfg.model, meta.num_joints, pretrained_base=cfg.use_pretrained_base,
                             last_gamma=cfg.last_gamma, ctx=ctx)
        if cfg.use_pretrained_base:
            for block in net.head():
                block.initialize(mx.init.MSRAPrelu(), ctx=ctx)
        else:
            net.initialize(mx.init.MSRAPrelu(), ctx=ctx)
        # Finish Gluon's deferred initialisation now, so every parameter exists from the start (an
        # inference pass leaves BatchNorm's running statistics alone and draws the same numbers) and
        # every shape is known to the weights copied next.
        net(mx.nd.zeros((1, 3, *cfg.input_size), ctx=ctx[0]))
        if cfg.use_pretrained or cfg.init_from:
            source = gluoncv_source(cfg.model) if cfg.use_pretrained else weight_source(cfg.init_from)
            check_settings(source, cfg.input_size, cfg.mean, cfg.std)
            transfer_weights(net, source, meta.names)
    net.cast(cfg.dtype)
    if cfg.mode == "hybrid":
        net.hybridize(static_alloc=True, static_shape=True)
    if cfg.no_wd:
        net.collect_params(".*beta|.*gamma|.*bias").setattr("wd_mult", 0.0)
    return net


def lr_schedule(cfg: TrainConfig, iters_per_epoch: int) -> LRSequential:
    """GluonCV's warm-up + step/poly/cosine schedule, as a function of the update count."""
    decay = list(cfg.lr_decay_epoch)
    if cfg.lr_decay_period > 0:
        decay = list(range(cfg.lr_decay_period, cfg.num_epochs, cfg.lr_decay_period))
    warm = cfg.warmup_epochs
    schedule = LRSequential([
        LRScheduler("linear", base_lr=cfg.warmup_lr, target_lr=cfg.lr, nepochs=warm,
                    iters_per_epoch=iters_per_epoch),
        LRScheduler(cfg.lr_mode, base_lr=cfg.lr, target_lr=0, nepochs=cfg.num_epochs - warm,
                    iters_per_epoch=iters_per_epoch, step_epoch=[e - warm for e in decay],
                    step_factor=cfg.lr_decay, power=2)])
    # MXNet's optimizer compares its learning_rate with base_lr; LRSequential itself does not use it.
    schedule.base_lr = cfg.lr
    return schedule


def build_trainer(cfg: TrainConfig, net: gluon.Block, iters_per_epoch: int, workers: Workers) -> Trainer:
    """Adam with the LR schedule; multi-precision for float16; state files that carry no code."""
    opt = {"learning_rate": cfg.lr, "wd": cfg.wd, "lr_scheduler": lr_schedule(cfg, iters_per_epoch)}
    if cfg.dtype != "float32":
        opt["multi_precision"] = True
    # A list in structural order: Trainer sorts a ParameterDict by name, and names carry global
    # counters (conv2dtranspose0_ vs conv2dtranspose3_), which would shuffle Adam's saved states.
    # Distributed: the server sums gradients and every worker runs Adam itself
    # (update_on_kvstore=False), so each holds the optimizer state a checkpoint needs.
    return Trainer(list(net._collect_params_with_prefix().values()), "adam", opt,
                   kvstore=workers.kv or cfg.kvstore, update_on_kvstore=False if workers.kv else None)


def restore_trainer(trainer: Trainer, cfg: TrainConfig, resume: ResumePoint, iters_per_epoch: int,
                    batch_size_total: int) -> None:
    """Adam's state from ``resume``, with this run's schedule, update count and weight decay."""
    # The optimizer keeps this config's schedule (the same function of the update count when the
    # config is unchanged, longer when --num-epochs grew); the checkpoint's moments, counts and settings.
    trainer.load_states(resume.states, resume.optimizer)
    # Count updates in this run's batches (--batch-size or device count may have changed); skipped
    # batches (--nan-policy skip) were no updates.
    trainer.optimizer.num_update = resume.epoch * iters_per_epoch + resume.batch - resume.nan_skipped
    if resume.batch and resume.batch_size_total != batch_size_total:
        raise SimplePoseError(
            f"--resume {resume.manifest}: stopped inside epoch {resume.epoch + 1} after {resume.batch} batches "
            f"of {resume.batch_size_total}; resume with the same batch size, devices and workers (now "
            f"{batch_size_total}), or from an epoch checkpoint")
    # Honour this run's weight decay.
    trainer.optimizer.wd = cfg.wd
    log.info("resumed from %s at epoch %d (update %d, lr %g)", resume.manifest, resume.epoch,
             trainer.optimizer.num_update, trainer.learning_rate)


@dataclass(frozen=True)
class Built:
    """Everything ``training.fit`` runs: the loop's parts, the data, how to validate."""

    parts: Parts
    data: TrainData
    validate: Callable[[gluon.Block], Scores]
    validates: bool            # whether ``validate`` measures anything (else it returns NOT_VALIDATED)
    val_pictures: Callable[[gluon.Block], list[np.ndarray]]   # for TensorBoard; [] when it is off


def build_parts(cfg: TrainConfig, resume: ResumePoint | None = None, workers: Workers | None = None) -> Built:
    """Build a run from ``cfg`` (and the checkpoint it resumes); ``workers`` default: join --kvstore's job."""
    ctx = mxnet_runtime.contexts(cfg.gpus, cfg.num_gpus)
    workers = workers or Workers.connect(cfg.kvstore)
    seed_everything(cfg.seed)
    data = build_data(cfg, len(ctx), workers, KeypointMeta.from_dict(resume.meta) if resume else None)
    to_input = InputNormalizer(cfg.mean, cfg.std)
    validate = build_validator(cfg, data.val, data.meta, data.codec, data.batch_size, ctx, to_input, workers.writer)
    validates = workers.writer and data.val is not None and len(data.val) > 0
    log.info("training %s on %d people (%d keypoints), %d batches of %d per epoch, contexts %s%s",
             cfg.model, len(data.train), data.meta.num_joints, data.iters_per_epoch, data.batch_size, ctx,
             f", worker {workers.rank} of {workers.num_workers} ({data.shard} people each, kvstore {cfg.kvstore})"
             if workers.kv else "")
    if workers.writer and not validates:
        log.warning("%s: this run writes no best.json (no best checkpoint) and no validation scores (loss, AP, PCK) "
                    "in metrics.jsonl; its last epoch checkpoint is the one to use",
                    "no validation (no --val-ann)" if data.val is None else f"--val-ann {cfg.val_ann} has no people")
    net = build_net(cfg, data.meta, ctx, resume)
    trainer = build_trainer(cfg, net, data.iters_per_epoch, workers)
    workers.init_keys(aux_params(net), ctx[0])
    if resume:
        restore_trainer(trainer, cfg, resume, data.iters_per_epoch, data.batch_size * workers.num_workers)
    parts = Parts(net, trainer, data.loader, data.sampler, data.samples, ctx, to_input, cfg.dtype,
                  data.batch_size, data.iters_per_epoch, workers)
    pictures = (validation_pictures(data.val, data.codec, cfg.input_size, ctx, cfg.mean, cfg.std, cfg.dtype)
                if validates and cfg.tensorboard else lambda net: [])
    return Built(parts, data, validate, validates, pictures)
