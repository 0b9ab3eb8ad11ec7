"""Person boxes for prediction, per image: from a file (detections or annotations) or the whole image.

A box source is called once per image or frame: ``source(image, name, frame)`` -> (boxes (N, 4) float32
(x0, y0, x1, y1) image pixels, scores (N,) float32). ``BoxFile`` reads its file once and indexes it by
image, so the boxes of every image cost one look-up (linear in the number of boxes overall); an image is found
in an annotation file by the longest unique suffix of its path (``image_match``), and boxes no person can be
cropped from are dropped and counted (``box_filter``). The detectors (``predict.detectors``) are box sources
too (:func:`make_detector`). Plain NumPy: a GluonCV detector's module (MXNet) is imported only when one is asked for.
"""
from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from simplepose.data.box_filter import NON_FINITE_SCORE, DroppedBoxes, read_bbox, read_score
from simplepose.errors import SimplePoseError, missing_mxnet
from simplepose.predict.detectors import DEFAULT_THRESH, HOG, HogDetector, detector_preset
from simplepose.predict.image_match import ImageIndex
from simplepose.io import JsonRecord, read_json

log = logging.getLogger(__name__)

# COCO's person category: the detections of GluonCV's and mmdetection's COCO models carry it.
COCO_PERSON = 1
NO_BOXES = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


class BoxSource(Protocol):
    description: str

    def __call__(self, image: np.ndarray, name: str, frame: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) float32 (x0, y0, x1, y1) image pixels and scores (N,) of (H, W, 3) uint8 BGR ``image``,
        read from ``name`` (frame ``frame`` of it for a video)."""


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
      carries none) of its ``image_id`` with score >= ``thresh``. The id of an image is that of its entry in
      the COCO annotation file ``ann`` when given (``image_match``: the entry sharing the longest suffix of
      path components, ambiguity refused), else its numeric stem (``000000397133.jpg`` is 397133); the id of
      a video frame is its index;
    - a list of ``[x, y, w, h]`` boxes or of detections without ``image_id``: the same boxes on every image;
    - a COCO annotation file (``images`` and ``annotations``): the non-crowd boxes of the image's entry
      (found as with ``ann``).

    Boxes no person can be cropped from (``data.box_filter``: not finite, empty, absurdly large, outside the image)
    and detections of a NaN or infinite score are dropped and counted (``report``). ``prepare`` finds every
    input image's id before any work and reports detections that are on none of them.
    """

    def __init__(self, path: str | os.PathLike, thresh: float = 0.5, ann: str | os.PathLike | None = None,
                 category_id: int | None = None):
        self.path, self.thresh = Path(path), thresh
        self.unusable = DroppedBoxes(str(self.path))
        self.index: ImageIndex | None = None   # the annotation file naming the images, when there is one
        self.from_annotations = False
        self.by_id: dict[Any, list[tuple[list[float], float]]] = defaultdict(list)
        self.ids_of: dict[str, int] = {}       # input path -> its image id, once found
        self.asked: set[Any] | None = None     # the ids of the file looked up, when a video's frames are
        items = read_json(self.path, "boxes file")
        if isinstance(items, dict):
            self._index_annotations(JsonRecord(items, self.path))
            self.description = f"annotated boxes of {self.path}"
        elif isinstance(items, list):
            self._index_detections(items, category_id)
            if ann is not None and self.per_image:
                self.index = ImageIndex.from_file(ann, "--ann annotation file")
            self.description = f"boxes of {self.path} (score >= {thresh:g})"
        else:
            raise SimplePoseError(f"{self.path}: expected a list of [x, y, width, height] boxes or of COCO detections "
                                  "({'bbox': [x, y, width, height], 'score': s}), or a COCO annotation file")

    def _index_annotations(self, doc: JsonRecord) -> None:
        """Index the non-crowd annotation boxes by image id; annotations are not thresholded."""
        self.per_image, self.from_annotations = True, True
        self.thresh = float("-inf")
        self.index = ImageIndex(doc.records("images", []), self.path)
        for ann in doc.records("annotations"):
            if not ann.int("iscrowd", 0) and ann.int("image_id") in self.index.ids:
                self.by_id[ann.int("image_id")].append((read_bbox(ann), 1.0))

    def _index_detections(self, items: list[Any], category_id: int | None) -> None:
        """Index the detections by image id (the ones without an image id under None); one pass."""
        wanted = COCO_PERSON if category_id is None else category_id
        categories: set[int] = set()
        without_id = None
        for i, item in enumerate(items):
            # A bare [x, y, w, h] is checked as the 'bbox' field of its entry.
            det = JsonRecord(item if isinstance(item, dict) else {"bbox": item}, self.path, f"box {i}")
            box, score = read_bbox(det), read_score(det, 1.0)
            category = det.int("category_id", None)
            if category is not None:
                categories.add(category)
                if category != wanted:
                    continue
            image_id = det.int("image_id", None)
            if image_id is None and without_id is None:
                without_id = i
            if not math.isfinite(score):
                on = "" if image_id is None else f" (image_id {image_id})"
                self.unusable.add(NON_FINITE_SCORE, f"box {i}{on}: score {score}")
                continue
            self.by_id[image_id].append((box, score))
        self.per_image = any(key is not None for key in self.by_id)
        if self.per_image and without_id is not None:
            raise SimplePoseError(f"{self.path}: box {without_id}: field 'image_id' is missing while other "
                                  "detections have one; give every detection its image_id")
        if categories and wanted not in categories:
            raise SimplePoseError(f"{self.path}: no detection has category_id {wanted} (the person category), the "
                                  f"file has {sorted(categories)[:10]}; give the person category with --category-id")

    def image_id(self, name: str, frame: int | None) -> Any:
        """The key of ``name``'s boxes: its entry's id in the annotation file, its numeric stem or the frame."""
        if not self.per_image:
            return None
        if frame is not None and not self.from_annotations:
            if self.asked is not None and frame in self.by_id:   # bounded by the file, however long the video
                self.asked.add(frame)
            return frame
        if name not in self.ids_of:
            if self.index is not None:
                self.ids_of[name] = self.index.find(name).image_id
            elif Path(name).stem.isdigit():
                self.ids_of[name] = int(Path(name).stem)
            else:
                raise SimplePoseError(f"{name}: cannot tell its image_id in {self.path} (its name is not a number as "
                                      "COCO's 000000397133.jpg); give --ann with the annotation file naming the images")
        return self.ids_of[name]

    def prepare(self, images: Sequence[str], frames_too: bool = False) -> None:
        """Find the image id of every input image before any work (refusing a name that is in no entry, or
        matches several equally well, and two files taken for one image), then report the detections that are
        on none of them: refused when that is all of them and no video is to come (``frames_too``)."""
        if not self.per_image:
            return
        owner: dict[int, str] = {}
        for name in images:
            other = owner.setdefault(self.image_id(name, None), name)
            if os.path.realpath(other) != os.path.realpath(name):
                raise SimplePoseError(f"--input {name} and {other}: both are image {self.ids_of[name]} of "
                                      f"{self.index.source if self.index else self.path} by their names; give only "
                                      "the one the boxes are for" + ("" if self.index else ", or --ann naming both"))
        if self.from_annotations:
            return
        if frames_too:   # the frames' ids are known as they come: reported at the end (``report``)
            self.asked = set(owner)
            return
        inputs = ", ".join(map(str, sorted(owner)[:5])) + (", ..." if len(owner) > 5 else "")
        named, fix = ((f"one of the ids {self.index.source} gives the --input images ({inputs})",
                       "give the annotation file these detections were made on") if self.index else
                      (f"an --input image's (their numeric file names: {inputs})",
                       "give --ann with the annotation file naming the images"))
        _report_unmatched(self.path, self._counts(), set(owner), named, fix)

    def _counts(self) -> dict[Any, int]:
        return {key: len(boxes) for key, boxes in self.by_id.items()}

    def __call__(self, image: np.ndarray, name: str, frame: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        height, width = image.shape[:2]
        where = name if frame is None else f"{name} frame {frame}"
        kept = [(b, s) for b, s in self.by_id.get(self.image_id(name, frame), ()) if s >= self.thresh]
        if not kept:
            return NO_BOXES
        # Checked as float32, as the predictor checks them again: a box at a limit cannot pass here and fail there.
        boxes = np.array([b for b, _ in kept], np.float32)
        usable = np.array([self.unusable.keep(b, width, height, where) for b in boxes.tolist()], bool)
        return boxes[usable], np.array([s for _, s in kept], np.float32)[usable]

    def report(self) -> None:
        """Log the boxes dropped as unusable, in one line, and with videos among the inputs the detections on
        no image or frame of them (nothing when there are none)."""
        self.unusable.report()
        if self.asked is not None:
            _report_unmatched(self.path, self._counts(), self.asked, "an input image's nor the index of a video "
                              "frame (from 0)", "", refuse=False)


def _report_unmatched(path: Path, counts: dict[Any, int], matched: set[Any], named: str, fix: str,
                      refuse: bool = True) -> None:
    """One warning on the detections of ``path`` (``counts``: image id -> detections) whose image id is not in
    ``matched`` (the inputs' ids, or frame indices), saying they are not ``named``; with ``refuse`` an error
    (ending in ``fix``) when that is every detection."""
    unmatched = [key for key in counts if key not in matched]
    count = sum(counts[key] for key in unmatched)
    if not count:
        return
    total = sum(counts.values())
    examples = ", ".join(map(str, sorted(unmatched)[:5])) + (", ..." if len(unmatched) > 5 else "")
    if count == total and refuse:
        raise SimplePoseError(f"{path}: none of its {total} detections' image ids (e.g. {examples}) is {named}; "
                              f"{fix}, or the images the detections are for")
    log.warning("%s: %d of %d detections are on image ids (e.g. %s) that are not %s; they are not used",
                path, count, total, examples, named)


def make_detector(name: str, thresh: float | None = None, pretrained: bool = True) -> BoxSource:
    """``hog`` or a GluonCV model-zoo detector name; ``thresh`` None: the detector's default."""
    if name == HOG:
        return HogDetector(DEFAULT_THRESH[HOG] if thresh is None else thresh)
    detector_preset(name)   # a misspelt family is told as such, with MXNet or without
    try:   # MXNet and GluonCV, only for this optional detector
        from simplepose.predict.gluon_detector import GluonDetector
    except ModuleNotFoundError as exc:
        missing = missing_mxnet(exc, f"--detector {name}", "give --detector hog or --boxes FILE")
        if missing is None:
            raise
        raise missing from None
    return GluonDetector(name, DEFAULT_THRESH["gluoncv"] if thresh is None else thresh, pretrained)
