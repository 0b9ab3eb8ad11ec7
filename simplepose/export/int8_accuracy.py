"""What an INT8 model costs in AP: the FP32 and INT8 ONNX models scored on people held out of the calibration.

The calibration file's images that have people, in id order, are split in two: every other one (the 2nd, 4th,
...) is held out, the others are calibrated on (``export.quantize.calibration_crops``), so no held-out crop has
set a quantization range. Both models then run on the held-out people's own boxes through evaluation's path
(``runtime.pose``: the same crops, forward and decoding) and are scored as ``simplepose-eval`` scores them
(``scoring.evaluation``: COCO OKS AP with the model's sigmas, OKS-NMS and rescoring at eval's defaults).

The held-out part is capped at about :data:`MAX_HELD_OUT_PEOPLE` (whole images, spread over the file) so that a
large file does not make the export slow. Below :data:`MIN_HELD_OUT_PEOPLE` an AP says little: nothing is held
out then, every person is there to calibrate on, and the record says why no AP change was measured. So does it
when the file's keypoints are not the model's or no OKS sigmas are known.

No MXNet; ONNX Runtime through ``runtime.onnx``.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from simplepose.data.boxes import PersonBoxes
from simplepose.data.coco import COCOKeyPoints, PersonRecord
from simplepose.errors import SimplePoseError
from simplepose.meta import KeypointMeta
from simplepose.runtime.describe import deploy_codec, deploy_meta
from simplepose.runtime.onnx import onnx_forward
from simplepose.runtime.pose import BoxCrops, predict_keypoints
from simplepose.scoring.coco import load_coco_gt
from simplepose.scoring.evaluation import evaluate_poses
from simplepose.scoring.matching import GroundTruthPeople

log = logging.getLogger(__name__)

__all__ = ["CalibrationSplit", "MAX_HELD_OUT_PEOPLE", "MIN_HELD_OUT_PEOPLE", "held_out_images", "int8_accuracy",
           "split_calibration"]

MIN_HELD_OUT_PEOPLE = 20
# At 256x192 a ResNet-50 takes about 50 ms a crop in FP32 on one thread: 300 people add some 20 s to an export.
MAX_HELD_OUT_PEOPLE = 300
HELD_OUT = "every other image with people, in image id order (the 2nd, 4th, ...), none of them calibrated on"
BATCH = 8


@dataclass(frozen=True)
class CalibrationSplit:
    """The people of a calibration file in two parts, by image.

    Attributes:
        dataset: the file as read (its cleaned ground truth is what COCOeval scores).
        calibration: the people to take calibration crops from.
        held_out: the people scored with both models (empty when nothing is measured).
        unmeasured: why no AP change is measured (None when it is).
    """

    dataset: COCOKeyPoints
    calibration: list[PersonRecord]
    held_out: list[PersonRecord]
    unmeasured: str | None


def held_out_images(records: list[PersonRecord], max_people: int = MAX_HELD_OUT_PEOPLE) -> list[int]:
    """The image ids held out of ``records``: every other image with people in id order (the 2nd, 4th, ...),
    thinned evenly over the file to whole images of about ``max_people`` people in all."""
    ids = sorted({r.image_id for r in records})[1::2]
    people = Counter(r.image_id for r in records)
    total = sum(people[i] for i in ids)
    if total > max_people:
        keep = max(1, len(ids) * max_people // total)
        ids = [ids[i] for i in np.unique(np.linspace(0, len(ids) - 1, keep).round().astype(int))]
    return ids


def split_calibration(ann_file: str | os.PathLike, image_dir: str | os.PathLike, meta: KeypointMeta
                      ) -> CalibrationSplit:
    """Read the calibration file and split its people (see the module docstring); ``meta``: the model's keypoints
    (their names must be the file's for an AP, their sigmas score it)."""
    dataset = COCOKeyPoints(ann_file, image_dir)
    people = dataset.records
    if not people:
        raise SimplePoseError(f"{ann_file}: no person with keypoints to calibrate on; give --calib-ann and "
                              "--calib-images of images with people")
    unmeasured = None
    if dataset.meta.names != meta.names:
        unmeasured = (f"{ann_file} names keypoints {list(dataset.meta.names)}, not the model's "
                      f"{list(meta.names)}: its people cannot be scored")
    elif meta.sigmas is None:
        unmeasured = f"no OKS sigmas are known for the model's keypoints {list(meta.names)}: no AP"
    held = set(held_out_images(people)) if unmeasured is None else set()
    count = sum(r.image_id in held for r in people)
    if unmeasured is None and count < MIN_HELD_OUT_PEOPLE:
        unmeasured = (f"{ann_file} has {len(people)} people on {len(dataset.image_ids)} images: a held-out part of "
                      f"{count} people is too few for a meaningful AP (at least {MIN_HELD_OUT_PEOPLE}); all were "
                      "calibrated on")
        held = set()
    return CalibrationSplit(dataset, [r for r in people if r.image_id not in held],
                            [r for r in people if r.image_id in held], unmeasured)


def int8_accuracy(fp32_onnx: str | os.PathLike, int8_onnx: str | os.PathLike, split: CalibrationSplit,
                  desc: dict[str, Any]) -> dict[str, Any]:
    """deploy.json's ``int8_accuracy``: the AP of ``fp32_onnx`` and ``int8_onnx`` on ``split``'s held-out people
    (``desc``: the model's description: input size, normalisation, codec, keypoints), or why it was not measured.
    Logged in one line either way."""
    if split.unmeasured is not None:
        log.warning("INT8 accuracy not measured: %s", split.unmeasured)
        return {"measured": False, "reason": split.unmeasured}
    start = time.perf_counter()
    held = split.held_out
    images = sorted({r.image_id for r in held})
    people = PersonBoxes(np.array([r.image_id for r in held], np.int64), [r.image_path for r in held],
                         np.array([r.bbox for r in held], np.float32).reshape(-1, 4),
                         np.ones(len(held), np.float32), "ground-truth boxes", images)
    boxes = BoxCrops(people.image_paths, people.boxes, tuple(desc["input_size"]), split.dataset.max_pixels)
    crops = np.stack([boxes[i] for i in range(len(boxes))])
    truth = GroundTruthPeople.from_records(held, len(desc["meta"]["names"]))
    gt = load_coco_gt(split.dataset)

    def held_out_ap(onnx_file: str | os.PathLike) -> float:
        forward = onnx_forward(str(onnx_file), desc["mean"], desc["std"])
        batches = (crops[i:i + BATCH] for i in range(0, len(crops), BATCH))
        keypoints = predict_keypoints(forward, batches, boxes.crops, deploy_codec(desc))
        report, _ = evaluate_poses(keypoints, people, boxes.areas, deploy_meta(desc), truth,
                                   split.dataset.category_id, gt, per_keypoint=False)
        return float(report.stats["AP"])

    ap = {"fp32": held_out_ap(fp32_onnx), "int8": held_out_ap(int8_onnx)}
    if not all(math.isfinite(v) and 0 <= v <= 1 for v in ap.values()):   # COCOeval's -1: nothing to score
        reason = f"COCOeval gave no AP on the held-out people (FP32 {ap['fp32']}, INT8 {ap['int8']})"
        log.warning("INT8 accuracy not measured: %s", reason)
        return {"measured": False, "reason": reason}
    record = {"measured": True, "data": os.path.abspath(split.dataset.ann_file), "held_out": HELD_OUT,
              "images": len(images), "people": len(held), "boxes": people.source,
              "sigmas": deploy_meta(desc).sigmas_source, "ap_fp32": round(ap["fp32"], 6),
              "ap_int8": round(ap["int8"], 6), "ap_change": round(ap["int8"] - ap["fp32"], 6)}
    log.info("INT8 accuracy on %d held-out people (%d images) of %s, ground-truth boxes: AP %.4f FP32 -> %.4f INT8 "
             "(change %+.4f), measured in %.1f s", len(held), len(images), split.dataset.ann_file, ap["fp32"],
             ap["int8"], record["ap_change"], time.perf_counter() - start)
    return record
