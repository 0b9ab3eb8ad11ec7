"""Person boxes to run the pose model on: the annotated people's, or a detector's.

Plain NumPy: the boxes of a COCO-format keypoint file (``gt_boxes``) or of a detection file in
COCO results format (``detection_boxes``, read through ``io.JsonRecord`` so that a malformed
detection is one line naming the file, the detection and the field).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.coco import COCOKeyPoints
from .errors import SimplePoseError
from .io import JsonRecord, read_json

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

    Keeps the detections of the dataset's keypoint category (all of them when the file carries no
    ``category_id``) with score >= ``thresh``, on images of the annotation file. Every image of the
    annotation file is evaluated, so a person the detector missed counts as missed.
    """
    path = Path(det_file)
    dets = read_json(path, "detection file")
    if not isinstance(dets, list):
        raise SimplePoseError(f"{path}: expected a list of detections in COCO results format "
                              "([{\"image_id\", \"bbox\": [x, y, w, h], \"score\"}, ...])")
    ids, paths, boxes, scores = [], [], [], []
    unknown = 0
    for i, item in enumerate(dets):
        det = JsonRecord(item, path, f"detection {i}")
        image_id, score = det.int("image_id"), det.number("score")
        x, y, w, h = det.numbers("bbox", length=4)
        if not (w > 0 and h > 0):
            raise det.error("bbox", f"is {det.raw('bbox')}: width and height must be positive")
        if det.int("category_id", dataset.category_id) != dataset.category_id or score < thresh:
            continue
        if image_id not in dataset.image_files:
            unknown += 1
            continue
        ids.append(image_id)
        paths.append(dataset.image_files[image_id])
        boxes.append([x, y, x + w, y + h])   # Simple Baselines crops a detection at its full w x h
        scores.append(score)
    if unknown:
        log.warning("%s: %d detections on images not in %s were ignored", path, unknown, dataset.ann_file)
    return PersonBoxes(np.array(ids, np.int64), paths, np.array(boxes, np.float32).reshape(-1, 4),
                       np.array(scores, np.float32), f"detector boxes from {path} (score >= {thresh:g})",
                       sorted(dataset.image_files))
