"""Boxes read from files, checked against their image: the ones no person can be cropped from are dropped and counted.

A box (x0, y0, x1, y1), image pixels, on a W x H image is usable when its four numbers are finite, its width and
height are positive and at most ``MAX_SIDE_RATIO`` times the image's, and it overlaps the image. A box partly
outside the image is kept as it is: a person cut by the border is a legitimate top-down crop (the crop pads the
outside). A box wholly outside the image, or of absurd size (a 1e30 box gave keypoints at 4.6e29 px), yields no
person: it is dropped, and the drops are summed up in one warning line (count by reason, the first example).
A detection's score that is NaN or infinite (Python's ``json`` writes and reads ``NaN``) is dropped the same way:
compared with a threshold it would silently count as below it. What a field holds (a string score, a bbox of
three values) is the file's shape, not a detector's quirk: that is refused in one line by the reader.
Boxes given through the API (:func:`check_boxes`) are refused, not dropped: the caller chose them.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any

import numpy as np

from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord

__all__ = ["MAX_SIDE_RATIO", "NON_FINITE_SCORE", "DroppedBoxes", "box_problem", "check_boxes", "describe_box",
           "read_bbox", "read_score"]

log = logging.getLogger(__name__)

# A box more than 4 image sides wide or high overlaps the image with a small fraction of itself at most: its crop
# is mostly padding and its keypoints land image sides away. Real detectors clip their boxes to the image.
MAX_SIDE_RATIO = 4.0
NON_FINITE_SCORE = "with a NaN or infinite score"


def _float(value: Any) -> float:
    """A JSON number as a float; an integer beyond float range becomes +-inf (and is then dropped, not a crash)."""
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_bbox(rec: JsonRecord, key: str = "bbox") -> list[float]:
    """The record's ``[x, y, w, h]`` as [x0, y0, x1, y1] image pixels, NaN and infinities kept (``box_problem``
    tells them); a field that is not four numbers is refused naming the file, the record and the field."""
    values = rec.list(key, length=4)
    if not all(map(_numeric, values)):
        rec.numbers(key, length=4)   # the reader's one line on what the field holds
    x, y, w, h = (_float(v) for v in values)
    return [x, y, x + w, y + h]


def read_score(rec: JsonRecord, default: float | None = None) -> float:
    """The record's ``score`` (``default`` when missing; required when None), NaN and infinities kept; anything
    but a number refused naming the file, the record and the field."""
    value = rec.raw("score") if default is None else rec.raw("score", default)
    if not _numeric(value):
        rec.number("score")   # the reader's one line on what the field holds
    return _float(value)


def box_problem(box: list[float], width: int, height: int) -> str | None:
    """Why box (x0, y0, x1, y1), image pixels, yields no person on a ``width`` x ``height`` image; None if usable."""
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box):
        return "not finite"
    if not (x1 > x0 and y1 > y0):
        return "of zero or negative width or height"
    if x1 - x0 > MAX_SIDE_RATIO * width or y1 - y0 > MAX_SIDE_RATIO * height:
        return f"over {MAX_SIDE_RATIO:g} times the image's width or height"
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        return "outside the image"
    return None


def describe_box(box: list[float]) -> str:
    """``[x, y, w, h] = [...]`` of box (x0, y0, x1, y1), for messages."""
    x0, y0, x1, y1 = box
    return f"[x, y, w, h] = [{x0:g}, {y0:g}, {x1 - x0:g}, {y1 - y0:g}]"


class DroppedBoxes:
    """The boxes of one file left out as unusable: counts by reason and the first example, for one warning line.

    Args:
        source: the file, for the warning.
    """

    def __init__(self, source: str):
        self.source = source
        self.reasons: Counter = Counter()
        self.first: str | None = None

    def add(self, reason: str, example: str) -> None:
        """Count one dropped box; ``example`` says where it was (image, record, box)."""
        self.reasons[reason] += 1
        if self.first is None:
            self.first = f"{example} ({reason})"

    def keep(self, box: list[float], width: int, height: int, where: str) -> bool:
        """True when ``box`` (x0, y0, x1, y1) is usable on the ``width`` x ``height`` image ``where``; else count it."""
        problem = box_problem(box, width, height)
        if problem is not None:
            self.add(problem, f"{where}: box {describe_box(box)} on the {width}x{height} image")
        return problem is None

    def line(self) -> str | None:
        """The summary: ``FILE: dropped N boxes: 2 outside the image, 1 not finite; first: ...``; None if none."""
        total = sum(self.reasons.values())
        if not total:
            return None
        why = ", ".join(f"{n} {reason}" for reason, n in self.reasons.most_common())
        return f"{self.source}: dropped {total} boxes no person can be cropped from: {why}; first: {self.first}"

    def report(self) -> None:
        """Log the summary line as a warning (nothing when no box was dropped)."""
        line = self.line()
        if line:
            log.warning("%s", line)


def check_boxes(boxes: np.ndarray, where: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """(N, 4) (x0, y0, x1, y1) image pixels as float32; a box with NaN, infinite or non-positive size is refused
    in one line naming ``where`` and the box; so is, given the image's ``size`` (width, height), a box no person
    can be cropped from (:func:`box_problem`: outside the image, absurdly large)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    with np.errstate(invalid="ignore", over="ignore"):
        wh = boxes[:, 2:] - boxes[:, :2]
        bad = ~(np.isfinite(boxes).all(axis=1) & np.isfinite(wh).all(axis=1) & (wh > 0).all(axis=1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        x0, y0, x1, y1 = (float(v) for v in boxes[i])
        raise SimplePoseError(f"{where}: box {i} [x, y, w, h] = [{x0:g}, {y0:g}, {x1 - x0:g}, {y1 - y0:g}]: width "
                              "and height must be finite and positive; fix or drop that box")
    for i, box in enumerate(boxes.tolist() if size is not None else ()):
        problem = box_problem(box, *size)
        if problem is not None:
            raise SimplePoseError(f"{where}: box {i} {describe_box(box)} is {problem} ({size[0]}x{size[1]}); "
                                  "no person can be cropped from it: fix or drop that box")
    return boxes
