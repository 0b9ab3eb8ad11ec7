"""Person boxes for prediction, per image: from a file (detections or annotations) or the whole image.

A box source is called once per image or frame: ``source(image, name, frame)`` -> (boxes (N, 4) float32
(x0, y0, x1, y1) image pixels, scores (N,) float32). ``BoxFile`` reads its file once and indexes it by
image, so the boxes of every image cost one look-up (linear in the number of boxes overall). The
detectors (``simplepose.detectors``) are box sources too. Plain NumPy.
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import SimplePoseError
from .io import JsonRecord, read_json

log = logging.getLogger(__name__)

# COCO's person category: the detections of GluonCV's and mmdetection's COCO models carry it.
COCO_PERSON = 1
NO_BOXES = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


class BoxSource(Protocol):
    description: str

    def __call__(self, image: np.ndarray, name: str, frame: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) float32 (x0, y0, x1, y1) image pixels and scores (N,) of (H, W, 3) uint8 BGR ``image``,
        read from ``name`` (frame ``frame`` of it for a video)."""


def check_boxes(boxes: np.ndarray, where: str) -> np.ndarray:
    """(N, 4) (x0, y0, x1, y1) image pixels as float32; a box with NaN, infinite or non-positive size is refused
    in one line naming ``where`` and the box."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    with np.errstate(invalid="ignore", over="ignore"):
        wh = boxes[:, 2:] - boxes[:, :2]
        bad = ~(np.isfinite(boxes).all(axis=1) & np.isfinite(wh).all(axis=1) & (wh > 0).all(axis=1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        x0, y0, x1, y1 = (float(v) for v in boxes[i])
        raise SimplePoseError(f"{where}: box {i} [x, y, w, h] = [{x0:g}, {y0:g}, {x1 - x0:g}, {y1 - y0:g}]: width "
                              "and height must be finite and positive; fix or drop that box")
    return boxes


def whole_image_boxes(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The whole (H, W, 3) image as one box of score 1."""
    h, w = image.shape[:2]
    return np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32)


class WholeImage:
    """No boxes given: the whole image is one person (warned once)."""

    description = "the whole image as one person box"

    def __init__(self) -> None:
        log.warning("no --boxes and no --detector: each image is taken as ONE person box filling it; give "
                    "--detector hog (or a GluonCV detector, or --boxes FILE) for photos of several people")

    def __call__(self, image: np.ndarray, name: str, frame: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return whole_image_boxes(image)


class BoxFile:
    """The boxes of a JSON file for each image.

    The file is one of:

    - COCO detections (results format, ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``):
      an image's boxes are the person detections (``category_id``, default COCO's 1; all when the file
      carries none) of its ``image_id`` with score >= ``thresh``. The id of an image comes from its file
      name through the COCO annotation file ``ann`` when given, else from a numeric stem
      (``000000397133.jpg`` is 397133); the id of a video frame is its index;
    - a list of ``[x, y, w, h]`` boxes or of detections without ``image_id``: the same boxes on every image;
    - a COCO annotation file (``images`` and ``annotations``): the non-crowd boxes of the image of that file name.
    """

    def __init__(self, path: str | os.PathLike, thresh: float = 0.5, ann: str | os.PathLike | None = None,
                 category_id: int | None = None):
        self.path, self.thresh = Path(path), thresh
        items = read_json(self.path, "boxes file")
        self.ids_by_name: dict[str, int] | None = None
        self.by_id: dict[Any, list[tuple[list[float], float]]] = defaultdict(list)
        if isinstance(items, dict):
            self._index_annotations(JsonRecord(items, self.path))
            self.description = f"annotated boxes of {self.path}"
        elif isinstance(items, list):
            self._index_detections(items, category_id)
            if ann is not None and self.per_image:
                self.ids_by_name = _image_ids(ann)
            self.description = f"boxes of {self.path} (score >= {thresh:g})"
        else:
            raise SimplePoseError(f"{self.path}: expected a list of [x, y, width, height] boxes or of COCO detections "
                                  "({'bbox': [x, y, width, height], 'score': s}), or a COCO annotation file")

    def _index_annotations(self, doc: JsonRecord) -> None:
        """Index the non-crowd annotation boxes by image file name; annotations are not thresholded."""
        self.per_image, self.by_file = True, True
        self.thresh = float("-inf")
        names = {img.int("id"): Path(img.string("file_name")).name for img in doc.records("images", [])}
        self.known = set(names.values())
        for ann in doc.records("annotations"):
            if not ann.int("iscrowd", 0) and ann.int("image_id") in names:
                self.by_id[names[ann.int("image_id")]].append((_box(ann), 1.0))

    def _index_detections(self, items: list[Any], category_id: int | None) -> None:
        """Index the detections by image id (the ones without an image id under None); one pass."""
        self.by_file = False
        wanted = COCO_PERSON if category_id is None else category_id
        categories: set[int] = set()
        without_id = None
        for i, item in enumerate(items):
            # A bare [x, y, w, h] is checked as the 'bbox' field of its entry.
            det = JsonRecord(item if isinstance(item, dict) else {"bbox": item}, self.path, f"box {i}")
            box, score = _box(det), det.number("score", 1.0)
            category = det.int("category_id", None)
            if category is not None:
                categories.add(category)
                if category != wanted:
                    continue
            image_id = det.int("image_id", None)
            if image_id is None and without_id is None:
                without_id = i
            self.by_id[image_id].append((box, score))
        self.per_image = any(key is not None for key in self.by_id)
        if self.per_image and without_id is not None:
            raise SimplePoseError(f"{self.path}: box {without_id}: field 'image_id' is missing while other "
                                  "detections have one; give every detection its image_id")
        if categories and wanted not in categories:
            raise SimplePoseError(f"{self.path}: no detection has category_id {wanted} (the person category), the "
                                  f"file has {sorted(categories)[:10]}; give the person category with --category-id")

    def image_id(self, name: str, frame: int | None) -> Any:
        """The key of ``name``'s boxes: its file name, its id through ``--ann``, its numeric stem or the frame."""
        if self.by_file:
            if Path(name).name not in self.known:
                raise SimplePoseError(f"{self.path}: no image named {Path(name).name} in this annotation file")
            return Path(name).name
        if not self.per_image:
            return None
        if frame is not None:
            return frame
        if self.ids_by_name is not None:
            found = self.ids_by_name.get(Path(name).name)
            if found is None:
                raise SimplePoseError(f"{name}: no image of this file name in the --ann file; give the annotation "
                                      f"file the detections of {self.path} refer to")
            return found
        stem = Path(name).stem
        if not stem.isdigit():
            raise SimplePoseError(f"{name}: cannot tell its image_id in {self.path} (its name is not a number as "
                                  "COCO's 000000397133.jpg); give --ann with the annotation file naming the images")
        return int(stem)

    def __call__(self, image: np.ndarray, name: str, frame: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        kept = [(b, s) for b, s in self.by_id.get(self.image_id(name, frame), ()) if s >= self.thresh]
        if not kept:
            return NO_BOXES
        return np.array([b for b, _ in kept], np.float32), np.array([s for _, s in kept], np.float32)


def _box(rec: JsonRecord) -> list[float]:
    """The record's ``bbox`` [x, y, w, h] as [x0, y0, x1, y1] image pixels; non-positive sizes refused."""
    x, y, w, h = rec.numbers("bbox", length=4)
    if not (w > 0 and h > 0):
        raise rec.error("bbox", f"is {rec.raw('bbox')}: width and height must be positive")
    return [x, y, x + w, y + h]


def _image_ids(ann: str | os.PathLike) -> dict[str, int]:
    """File name -> image id of a COCO annotation file's ``images``."""
    doc = read_json(ann, "--ann annotation file")
    if not isinstance(doc, dict):
        raise SimplePoseError(f"{ann}: not a COCO annotation file (expected an object with an 'images' list)")
    return {Path(img.string("file_name")).name: img.int("id") for img in JsonRecord(doc, ann).records("images")}
