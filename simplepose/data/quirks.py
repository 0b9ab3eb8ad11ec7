"""The ground-truth quirks of real keypoint files, each fixed where the fix is certain and counted.

Public COCO-format keypoint files differ from COCO's own in ways that silently change training or
COCOeval's figures: nested ``[[x, y, v], ...]`` keypoints, no ``bbox`` (MPII-style ``center`` + ``scale``,
or keypoints only), ``area`` missing, NaN, zero or negative, ``num_keypoints`` missing or wrong (COCOeval
ignores a person whose ``num_keypoints`` is 0), annotation ids repeated (pycocotools indexes by id: one
of each pair is lost) or 0 (COCOeval stores a match as the ground truth's id, so a match with id 0 counts
as a false positive). Each is fixed here and counted in a :class:`Fixes`, which logs one line per kind
of fix with its count and the first record it was applied to.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.io import JsonRecord
from simplepose.json_numbers import INT64_MAX

log = logging.getLogger(__name__)

# MPII-style ``scale`` is the person's size in units of 200 pixels.
PIXEL_STD = 200.0
# A box from the labelled keypoints' extent is widened by this share of it on each side (1.25x about its
# centre, as rtmlib's PoseTracker, by the RTMPose authors, turns a pose into a box): joints lie inside the body.
KEYPOINT_BOX_PADDING = 0.125

NESTED = "keypoints written as nested [x, y, v] triples: flattened"
BOX_FROM_CENTER = f"no 'bbox': the box of 'center' and 'scale' (MPII-style, scale x {PIXEL_STD:g} px)"
BOX_FROM_KEYPOINTS = (f"no 'bbox': the labelled keypoints' extent widened {100 * KEYPOINT_BOX_PADDING:g}% "
                      "each side, clipped to the image")
AREA_MISSING = "no 'area': the box's width x height"
AREA_INVALID = "'area' NaN, infinite, zero or negative: the box's width x height"
NUM_KEYPOINTS_MISSING = "no 'num_keypoints': counted from the visibilities"
NUM_KEYPOINTS_WRONG = "'num_keypoints' disagrees with the visibilities (COCOeval ignores a person with 0): recounted"
DUPLICATE_ID = "annotation id already used (pycocotools keeps one annotation per id): renumbered"
NONPOSITIVE_ID = "annotation id 0 or negative (COCOeval counts a match with id 0 as a false positive): renumbered"
UNKNOWN_CATEGORY = "'category_id' missing from 'categories': read as the keypoint category (all share one list)"
IMAGE_SIZE = "image size differs from the entry's width/height: the decoded size is used"
DUPLICATE_IMAGE = "image id listed twice with the same file: merged"
FILENAME_FIELD = "image file named by 'filename' (ATRW's spelling), not 'file_name': used"
EXIF_ORIENTATION = ("JPEG with an EXIF orientation: read in its stored pixel frame (as COCO's tools do), "
                    "the orientation is ignored")


class BadRecord(Exception):
    """One annotation (or image entry) that cannot be used; ``reason`` is its short tally name."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class BadRecords:
    """What becomes of a bad record: raised (``on_bad_record`` "error") or counted in ``skipped`` ("skip")."""

    def __init__(self, on_bad_record: str):
        self.on_bad_record = on_bad_record
        self.skipped: Counter = Counter()

    def __call__(self, message: str, reason: str) -> None:
        if self.on_bad_record == "error":
            hint = "" if reason == "missing image file" else "; fix the record or pass --on-bad-record skip"
            raise (MissingFileError if reason == "missing image file" else SimplePoseError)(message + hint)
        self.skipped[f"skipped ({reason})"] += 1
        log.warning("skipping bad record: %s", message)


def named_entry(entry: Any, source: str | Path, section: str, index: int, noun: str) -> tuple[JsonRecord, int]:
    """``section[index]`` as a JsonRecord named by its id (``annotation 5 (annotations[12])``), and the id."""
    rec = JsonRecord(entry, source, f"{section}[{index}]")
    entry_id = rec.int("id")
    rec.record = f"{noun} {entry_id} ({section}[{index}])"
    return rec, entry_id


class Fixes:
    """The fixes applied to one file: kind of fix -> count (``counts``) and the first record fixed."""

    def __init__(self, source: str):
        self.source = source
        self.counts: Counter = Counter()
        self.examples: dict[str, str] = {}

    def add(self, fix: str, record: str) -> None:
        self.counts[fix] += 1
        self.examples.setdefault(fix, record)

    def log(self) -> None:
        """One warning line per kind of fix: what, how many, the first record."""
        for fix, n in self.counts.items():
            log.warning("%s: %s: %d record%s, e.g. %s", self.source, fix, n, "" if n == 1 else "s",
                        self.examples[fix])


def flat_keypoints(ann: JsonRecord, fixes: Fixes) -> list[Any]:
    """The annotation's ``keypoints`` as COCO's flat ``[x1, y1, v1, x2, ...]`` (nested triples flattened)."""
    kps = ann.list("keypoints")
    if not kps or not all(isinstance(p, list) for p in kps):
        return kps
    bad = next((i for i, p in enumerate(kps) if len(p) != 3), None)
    if bad is not None:
        raise BadRecord(str(ann.error("keypoints", f"point {bad} is {kps[bad]!r}, expected [x, y, v] triples")),
                        "wrong keypoint count")
    fixes.add(NESTED, ann.record)
    return [v for p in kps for v in p]


def person_box(ann: JsonRecord, joints: np.ndarray, size: tuple[int, int], fixes: Fixes) -> list[float]:
    """The person's box ``[x, y, w, h]``, image pixels: ``bbox``, else from ``center`` + ``scale``, else from
    the labelled keypoints of ``joints`` ((K, 3), image pixels) in an image of ``size`` (width, height)."""
    if "bbox" in ann:
        return ann.numbers("bbox", length=4)
    if "center" in ann and "scale" in ann:
        cx, cy = ann.numbers("center", length=2)
        scale = ann.numbers("scale", length=2) if isinstance(ann.raw("scale"), list) else [ann.number("scale")] * 2
        w, h = (s * PIXEL_STD for s in scale)
        fixes.add(BOX_FROM_CENTER, ann.record)
        return [cx - w / 2, cy - h / 2, w, h]
    labelled = joints[joints[:, 2] > 0, :2].astype(np.float64)
    if not len(labelled):
        raise BadRecord(str(ann.error("bbox", "is missing, and so are 'center'/'scale' and labelled keypoints")),
                        "no box")
    (x0, y0), (x1, y1) = labelled.min(0), labelled.max(0)
    px, py = KEYPOINT_BOX_PADDING * (x1 - x0), KEYPOINT_BOX_PADDING * (y1 - y0)
    x0, y0 = max(x0 - px, 0.0), max(y0 - py, 0.0)
    x1, y1 = min(x1 + px, float(size[0])), min(y1 + py, float(size[1]))
    fixes.add(BOX_FROM_KEYPOINTS, ann.record)
    return [x0, y0, max(x1 - x0, 0.0), max(y1 - y0, 0.0)]


def person_area(ann: JsonRecord, box: list[float], fixes: Fixes) -> float:
    """``area`` (image pixels squared), or the box's w x h when it is missing, NaN, infinite, zero or negative.

    A non-number (a string) is malformed, not a quirk: it raises as any mistyped field.
    """
    value = ann.raw("area", None)
    if isinstance(value, float) and not np.isfinite(value):
        fixes.add(AREA_INVALID, ann.record)
    elif value is None:
        fixes.add(AREA_MISSING, ann.record)
    elif ann.number("area") <= 0:
        fixes.add(AREA_INVALID, ann.record)
    else:
        return float(value)
    return float(box[2] * box[3])


def num_keypoints(ann: JsonRecord, joints: np.ndarray, fixes: Fixes) -> int:
    """The labelled keypoints of ``joints`` (v > 0), counted; a missing or disagreeing ``num_keypoints`` is counted."""
    n = int(np.count_nonzero(joints[:, 2] > 0))
    given = ann.int("num_keypoints", None)
    if given is None:
        fixes.add(NUM_KEYPOINTS_MISSING, ann.record)
    elif given != n:
        fixes.add(NUM_KEYPOINTS_WRONG, ann.record)
    return n


class AnnotationIds:
    """Unique positive annotation ids: the first annotation with an id keeps it; a later one with the same
    id, or an id of 0 or below, gets the next id above every id of the file (when the file's ids reach
    int64's top, the smallest positive id the file does not use: ids stay int64)."""

    def __init__(self, annotations: list[Any]):
        ids = [a.get("id") for a in annotations if isinstance(a, dict)]
        self.taken = {int(i) for i in ids if isinstance(i, (int, float)) and not isinstance(i, bool)
                      and np.isfinite(i) and abs(i) <= INT64_MAX and float(i).is_integer()}
        self.next = max(self.taken | {0}) + 1
        self.used: set[int] = set()

    def assign(self, ann_id: int, record: str, fixes: Fixes) -> int:
        if ann_id > 0 and ann_id not in self.used:
            self.used.add(ann_id)
            return ann_id
        while self.next > INT64_MAX or self.next in self.taken:
            self.next = 1 if self.next > INT64_MAX else self.next + 1
        fixes.add(DUPLICATE_ID if ann_id > 0 else NONPOSITIVE_ID, f"{record} -> id {self.next}")
        self.taken.add(self.next)
        self.next += 1
        return self.next - 1
