"""Validation during training: loss, HeatmapAccuracy and COCO keypoint AP on ground-truth boxes.

AP is computed without flip test from the same forward pass as the validation loss (see
``evaluate``). ``build_validator`` is the one place that chooses how validation runs.
"""
from __future__ import annotations

import logging
from typing import Callable

import mxnet as mx
from mxnet import gluon

from ..codec import HeatmapCodec
from ..data.coco import COCOKeyPoints
from ..data.samples import PoseSamples
from ..data.transforms import ValTransform
from ..device_input import InputNormalizer
from ..evaluate import BoxCrops, KeypointCollector, evaluate_keypoints, gt_boxes, load_coco_gt
from ..loader import pose_loader
from ..meta import KeypointMeta
from ..metrics import HeatmapAccuracy
from .config import TrainConfig

log = logging.getLogger(__name__)

Scores = dict[str, float | None]   # val_loss, val_acc, val_ap (None: not computed)
NOT_VALIDATED: Scores = {"val_loss": None, "val_acc": None, "val_ap": None}


def evaluate_heatmaps(net: gluon.Block, loader: gluon.data.DataLoader, ctx: list[mx.Context],
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


class Validator:
    """``validator(net)`` -> Scores over the validation people, cropped on their ground-truth boxes.

    Without OKS sigmas in ``meta`` (``sigmas`` None) it reports no AP.
    """

    def __init__(self, val: COCOKeyPoints, meta: KeypointMeta, codec: HeatmapCodec, transform: ValTransform,
                 loader: gluon.data.DataLoader, ctx: list[mx.Context], to_input: InputNormalizer, dtype: str,
                 ann_file: str):
        self.loader, self.codec, self.meta = loader, codec, meta
        self.ctx, self.to_input, self.dtype = ctx, to_input, dtype
        self.coco = None
        if meta.sigmas is not None:
            # The loader crops the same ground-truth boxes, in the same order, as these.
            self.boxes = gt_boxes(val)
            self.crops = BoxCrops(self.boxes, transform)
            self.coco = (load_coco_gt(ann_file, val.category_id), val.category_id)
        else:
            log.warning("%s: no OKS sigmas, so validation reports no COCO AP (give --sigmas FILE)", ann_file)

    def __call__(self, net: gluon.Block) -> Scores:
        collector = KeypointCollector(self.codec, self.crops.centers, self.crops.scales) if self.coco else None
        loss, acc = evaluate_heatmaps(net, self.loader, self.ctx, self.to_input, self.dtype, collector)
        ap = None
        if collector is not None:
            gt, category_id = self.coco
            report, _ = evaluate_keypoints(gt, collector.keypoints, self.boxes, self.crops, self.meta,
                                           category_id, per_keypoint=False)
            ap = report.stats["AP"]
        return {"val_loss": loss, "val_acc": acc, "val_ap": ap}


def build_validator(cfg: TrainConfig, val: COCOKeyPoints | None, meta: KeypointMeta, codec: HeatmapCodec,
                    batch_size: int, ctx: list[mx.Context], to_input: InputNormalizer,
                    writer: bool) -> Callable[[gluon.Block], Scores]:
    """How this run validates: a ``Validator`` when there are validation people and this process
    writes the run's files (rank 0), else a function returning ``NOT_VALIDATED``."""
    if val is None or not len(val) or not writer:
        return lambda net: dict(NOT_VALIDATED)
    transform = ValTransform(cfg.input_size, cfg.mean, cfg.std)
    loader = pose_loader(PoseSamples(val, transform, codec), batch_size, cfg.num_workers, shuffle=False,
                         last_batch="keep")
    return Validator(val, meta, codec, transform, loader, ctx, to_input, cfg.dtype, cfg.val_ann)
