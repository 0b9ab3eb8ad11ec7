"""Person boxes to run the pose model on: the annotated people's, or a detector's.

Plain NumPy: the boxes of a COCO-format keypoint file (``gt_boxes``) or of a detection file in
COCO results format (``detection_boxes``, read through ``io.JsonRecord`` so that a malformed
detection is one line naming the file, the detection and the field).
"""
from __future__ import annotations

import logging
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from simplepose.data.box_filter import NON_FINITE_SCORE, DroppedBoxes, read_bbox, read_score
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.decode import image_header
from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord, read_json

log = logging.getLogger(__name__)


@dataclass
class PersonBoxes:
    """Person boxes to run the pose model on.

    Attributes:
        image_ids: (N,) int64 COCO image ids.
        image_paths: N image files.
        boxes: (N, 4) float32 (x0, y0, x1, y1), image pixels.
        scores: (N,) float32 box scores (1 for ground truth).
        source: what the boxes are, for reports ("ground-truth boxes" or the detection file).
        image_set: the image ids evaluated (images with no box count as images with nothing found).
    """

    image_ids: np.ndarray
    image_paths: list[str]
    boxes: np.ndarray
    scores: np.ndarray
    source: str
    image_set: list[int]

    def __len__(self) -> int:
        return len(self.image_ids)


def gt_boxes(dataset: COCOKeyPoints) -> PersonBoxes:
    """The annotated people's boxes, score 1, over the images that have at least one."""
    recs = dataset.records
    return PersonBoxes(np.array([r.image_id for r in recs], np.int64), [r.image_path for r in recs],
                       np.array([r.bbox for r in recs], np.float32).reshape(-1, 4),
                       np.ones(len(recs), np.float32), "ground-truth boxes", list(dataset.image_ids))


def detection_boxes(det_file: str | os.PathLike, dataset: COCOKeyPoints, thresh: float = 0.0) -> PersonBoxes:
    """Boxes from a COCO detection results file (``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``).

    Keeps the detections of the dataset's keypoint categories (all of them when the file carries no
    ``category_id``) with score >= ``thresh``, on images of the annotation file. Every image of the
    annotation file is evaluated, so a person the detector missed counts as missed. What was left out
    is logged in one line, by reason (with a few of the unknown image ids); boxes no person can be cropped
    from (``box_filter``: not finite, empty, absurdly large, outside their image, whose size is read from its
    header) and NaN or infinite scores are dropped and summed up in one more line. A detection whose fields
    are of the wrong type or shape is refused naming it; so is a file none of whose detections is on an image
    of the annotation file, or whose every detection is on a category id the annotation file does not have
    (YOLO's 0-based class ids): no detection would be evaluated.
    """
    path = Path(det_file)
    dets = read_json(path, "detection file")
    if not isinstance(dets, list):
        raise SimplePoseError(f"{path}: expected a list of detections in COCO results format "
                              "([{\"image_id\", \"bbox\": [x, y, w, h], \"score\"}, ...])")
    ids, paths, boxes, scores = [], [], [], []
    left: Counter = Counter()
    unknown: Counter = Counter()   # category id -> detections on it, ids the annotation file does not have
    elsewhere: Counter = Counter()   # image id -> detections on it, ids the annotation file does not have
    unusable, sizes = DroppedBoxes(str(path)), ImageSizes()
    for i, item in enumerate(dets):
        det = JsonRecord(item, path, f"detection {i}")
        image_id, score, box = det.int("image_id"), read_score(det), read_bbox(det)
        category = det.int("category_id", None)
        if category is not None and category not in dataset.category_ids:
            if category in dataset.known_category_ids:
                left["on another category"] += 1
            else:
                unknown[category] += 1
            continue
        if image_id not in dataset.image_files:
            elsewhere[image_id] += 1
            continue
        if not math.isfinite(score):
            unusable.add(NON_FINITE_SCORE, f"detection {i} (image {image_id}): score {score}")
            continue
        if score < thresh:
            left[f"scored below {thresh:g}"] += 1
            continue
        width, height = sizes(dataset.image_files[image_id], image_id)
        if not unusable.keep(box, width, height, f"detection {i} (image {image_id})"):
            continue
        ids.append(image_id)
        paths.append(dataset.image_files[image_id])
        boxes.append(box)   # Simple Baselines crops a detection at its full w x h
        scores.append(score)
    _report_left_out(path, dataset, len(dets), len(ids), left, unknown, elsewhere)
    unusable.report()
    return PersonBoxes(np.array(ids, np.int64), paths, np.array(boxes, np.float32).reshape(-1, 4),
                       np.array(scores, np.float32), f"detector boxes from {path} (score >= {thresh:g})",
                       sorted(dataset.image_files))


class ImageSizes:
    """(width, height) of image files, stored frame, each header read once (``decode.image_header``)."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[int, int]] = {}

    def __call__(self, path: str, image_id: int) -> tuple[int, int]:
        if path not in self.known:
            try:
                width, height, _ = image_header(path)
            except (OSError, ValueError) as exc:
                raise SimplePoseError(f"{path}: cannot read image {image_id} (detections are on it): "
                                      f"{getattr(exc, 'strerror', None) or exc}; check the --images folder") from None
            self.known[path] = (width, height)
        return self.known[path]


def _examples(ids: Iterable[int], n: int = 5) -> str:
    """``3, 9, 12, ...``: the ``n`` smallest of ``ids``."""
    keys = sorted(ids)
    return ", ".join(map(str, keys[:n])) + (", ..." if len(keys) > n else "")


def _report_left_out(path: Path, dataset: COCOKeyPoints, total: int, kept: int, left: Counter,
                     unknown: Counter, elsewhere: Counter) -> None:
    """One warning line on the detections left out, by reason; refuse a file none of whose detections is on an
    image of the annotation file, or whose every detection is on a category the annotation file does not have."""
    expected = ",".join(map(str, dataset.category_ids))
    if unknown and sum(unknown.values()) == total:
        raise SimplePoseError(
            f"{path}: all {total} detections are on category ids {sorted(unknown)}, which {dataset.ann_file} does "
            f"not have (its keypoint category: {expected}); set their 'category_id' to {dataset.category_id} "
            "(0-based class ids, as YOLO writes them?) or remove the field to use every detection")
    on_other_images = sum(elsewhere.values())
    if on_other_images and on_other_images == total - sum(unknown.values()) - left["on another category"]:
        raise SimplePoseError(
            f"{path}: none of its {on_other_images} detections' image ids (e.g. {_examples(elsewhere)}) is an image "
            f"of {dataset.ann_file} (ids {_examples(dataset.image_files)}); give the detections made on "
            "this annotation file's images, or the annotation file they were made on (--ann)")
    if on_other_images:
        left[f"on image ids not in {dataset.ann_file} (e.g. {_examples(elsewhere)})"] = on_other_images
    if unknown:
        left[f"on category ids not in {dataset.ann_file} ({', '.join(f'{c}: {n}' for c, n in sorted(unknown.items()))}"
             f"; the keypoint category is {expected})"] = sum(unknown.values())
    if left:
        log.warning("%s: kept %d of %d detections; left out %s", path, kept, total,
                    "; ".join(f"{n} {why}" for why, n in left.items()))
