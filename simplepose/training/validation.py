"""Validation during training: loss, HeatmapAccuracy and COCO keypoint AP on ground-truth boxes.

AP is computed without flip test from the same forward pass as the validation loss. The samples
are training's (``PoseSamples`` without augmentation: uint8 crop, targets, weights); the forward
(``inference.net_heatmaps``) and the decoding to image pixels (``pose_inference.keypoints_in_image``)
are those of evaluation and prediction, so the AP reported here is the AP ``eval_simple_pose.py``
reports for the same checkpoint on ground-truth boxes. ``build_validator`` is the one place that
chooses how validation runs.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..boxes import gt_boxes
from ..codec import HeatmapCodec
from ..data.coco import COCOKeyPoints
from ..data.samples import PoseSamples
from ..data.transforms import ValTransform
from ..device_input import InputNormalizer
from ..geometry import Crop
from ..inference import net_heatmaps
from ..loader import pose_loader
from ..meta import KeypointMeta
from ..metrics import HeatmapAccuracy
from ..pose_inference import BoxCrops, keypoints_in_image
from ..scoring.coco import evaluate_keypoints, load_coco_gt
from .config import TrainConfig

log = logging.getLogger(__name__)

Scores = dict[str, float | None]   # val_loss, val_acc, val_ap (None: not computed)
NOT_VALIDATED: Scores = {"val_loss": None, "val_acc": None, "val_ap": None}


def validate(net: gluon.Block, loader: gluon.data.DataLoader, ctx: list[mx.Context], to_input: InputNormalizer,
             dtype: str = "float32", crops: Sequence[Crop] | None = None, codec: HeatmapCodec | None = None
             ) -> tuple[float, float, np.ndarray | None]:
    """Mean weighted L2 loss per sample, HeatmapAccuracy and keypoints over a loader of (crop, heatmaps, weights).

    Args:
        crops: the loader's crops, in order; given (with the ``codec``), the heatmaps are also decoded.
    Returns:
        loss, accuracy, and (N, K, 3) float32 keypoints in image pixels with scores (None without ``crops``).
    """
    loss_fn = gluon.loss.L2Loss()
    metric = HeatmapAccuracy()
    total, count, parts = 0.0, 0, []
    for batch in loader:
        # A last batch smaller than the device count goes to fewer devices (no empty slices).
        devices = ctx[:min(len(ctx), batch[0].shape[0])]
        for x, y, w in zip(*[gluon.utils.split_and_load(b, devices, even_split=False) for b in batch]):
            out = net_heatmaps(net, to_input, x, dtype)
            total += float(loss_fn(out, y, w).sum().asscalar())
            heatmaps = out.asnumpy()
            metric.update(y.asnumpy(), heatmaps)
            if crops is not None:
                parts.append(keypoints_in_image(heatmaps, crops[count:count + len(heatmaps)], codec))
            count += x.shape[0]
    keypoints = None
    if crops is not None:
        if count != len(crops):
            raise RuntimeError(f"{count} validation crops decoded, {len(crops)} expected")
        keypoints = np.concatenate(parts) if parts else np.zeros((0, 0, 3), np.float32)
    return total / max(count, 1), metric.get()[1], keypoints


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
            self.crops = BoxCrops(self.boxes.image_paths, self.boxes.boxes, transform.input_size)
            self.coco = (load_coco_gt(val), val.category_id)
        else:
            log.warning("%s: no OKS sigmas, so validation reports no COCO AP (give --sigmas FILE)", ann_file)

    def __call__(self, net: gluon.Block) -> Scores:
        crops = self.crops.crops if self.coco else None
        loss, acc, keypoints = validate(net, self.loader, self.ctx, self.to_input, self.dtype, crops, self.codec)
        ap = None
        if keypoints is not None:
            gt, category_id = self.coco
            report, _ = evaluate_keypoints(gt, keypoints, self.boxes, self.crops.areas, self.meta,
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
