"""Validation during training: loss, HeatmapAccuracy, COCO keypoint AP (when OKS sigmas are known),
PCK@0.2, AUC and EPE, on ground-truth boxes.

AP and PCK are computed without flip test from the same forward pass as the validation loss. The samples
are training's (``PoseSamples`` without augmentation: uint8 crop, targets, weights); the forward
(``runtime.mxnet.net_heatmaps``) and the decoding to image pixels (``runtime.pose.keypoints_in_image``)
are those of evaluation and prediction, and so is the scoring (``scoring.evaluation``), so the AP and
PCK reported here are those ``eval_simple_pose.py`` reports for the same checkpoint on ground-truth
boxes. ``build_validator`` is the one place that chooses how validation runs, and ``Validator.best_by``
which score picks the best checkpoint: AP when sigmas are known, else PCK@0.2.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon

from simplepose.data.boxes import gt_boxes
from simplepose.codec import HeatmapCodec
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.samples import PoseSamples
from simplepose.data.transforms import ValTransform
from simplepose.runtime.mxnet import InputNormalizer
from simplepose.geometry import Crop
from simplepose.runtime.mxnet import net_heatmaps
from simplepose.training.loader import pose_loader
from simplepose.meta import KeypointMeta
from simplepose.training.metrics import HeatmapAccuracy
from simplepose.runtime.pose import BoxCrops, keypoints_in_image
from simplepose.scoring.coco import load_coco_gt
from simplepose.scoring.evaluation import evaluate_poses
from simplepose.scoring.matching import GroundTruthPeople
from simplepose.config import TrainConfig

log = logging.getLogger(__name__)

# val_loss, val_acc, val_ap, val_pck_0.2, val_auc, val_epe (None: not computed), and best_by: the name of
# the score that picks the best checkpoint (None: not validated).
Scores = dict[str, float | str | None]
NOT_VALIDATED: Scores = {"val_loss": None, "val_acc": None, "val_ap": None, "val_pck_0.2": None, "val_auc": None,
                         "val_epe": None, "best_by": None}


def validate(net: gluon.Block, loader: gluon.data.DataLoader, ctx: list[mx.Context], to_input: InputNormalizer,
             crops: Sequence[Crop], codec: HeatmapCodec, dtype: str = "float32") -> tuple[float, float, np.ndarray]:
    """Mean weighted L2 loss per sample, HeatmapAccuracy and keypoints over a loader of (crop, heatmaps, weights).

    Args:
        crops: the loader's crops, in order: the heatmaps are decoded through them with ``codec``.
    Returns:
        loss, accuracy, and (N, K, 3) float32 keypoints in image pixels with scores.
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
            parts.append(keypoints_in_image(heatmaps, crops[count:count + len(heatmaps)], codec))
            count += x.shape[0]
    if count != len(crops):
        raise RuntimeError(f"{count} validation crops decoded, {len(crops)} expected")
    keypoints = np.concatenate(parts) if parts else np.zeros((0, 0, 3), np.float32)
    return total / max(count, 1), metric.get()[1], keypoints


class Validator:
    """``validator(net)`` -> Scores over the validation people, cropped on their ground-truth boxes.

    Without OKS sigmas in ``meta`` (``sigmas`` None) it reports no AP, and PCK@0.2 picks the best checkpoint.
    """

    def __init__(self, val: COCOKeyPoints, meta: KeypointMeta, codec: HeatmapCodec, transform: ValTransform,
                 loader: gluon.data.DataLoader, ctx: list[mx.Context], to_input: InputNormalizer, dtype: str,
                 ann_file: str):
        self.loader, self.codec, self.meta = loader, codec, meta
        self.ctx, self.to_input, self.dtype = ctx, to_input, dtype
        # The loader crops the same ground-truth boxes, in the same order, as these.
        self.boxes = gt_boxes(val)
        self.crops = BoxCrops(self.boxes.image_paths, self.boxes.boxes, transform.input_size, val.max_pixels)
        self.people = GroundTruthPeople.from_records(val.records, meta.num_joints)
        self.category_id = val.category_id
        self.gt = None
        if meta.sigmas is not None:
            self.gt, self.best_by = load_coco_gt(val), "val_ap"
        else:
            self.best_by = "val_pck_0.2"
            log.warning("%s: no OKS sigmas, so validation reports no COCO AP (give --sigmas FILE or uniform:X); the best "
                        "checkpoint is the one with the highest PCK@0.2", ann_file)

    def __call__(self, net: gluon.Block) -> Scores:
        loss, acc, keypoints = validate(net, self.loader, self.ctx, self.to_input, self.crops.crops, self.codec,
                                        self.dtype)
        report, _ = evaluate_poses(keypoints, self.boxes, self.crops.areas, self.meta, self.people, self.category_id,
                                   self.gt, per_keypoint=False)
        figures = report.distances.overall
        return {"val_loss": loss, "val_acc": acc, "val_ap": report.stats["AP"] if report.stats else None,
                "val_pck_0.2": figures["PCK@0.2"], "val_auc": figures["AUC"], "val_epe": figures["EPE"],
                "best_by": self.best_by}


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
