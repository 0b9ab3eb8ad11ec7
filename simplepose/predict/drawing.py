"""Skeletons, boxes and labels drawn with OpenCV on the pictures predict writes: an image's PNG, each video frame.

Made to be read without zooming, on photos and on the colour-coded synthetic figures alike:

- every limb and joint is drawn twice, a dark outline first and the side colour on top (``visualize``'s
  colours: left warm, right cool, centre green), so a skeleton stands out from limbs of its own colour;
- line widths, joint sizes and fonts grow with the picture (``Pens``: one unit per 640 px of its longer side);
- a track id is a label with a filled background in the track's own colour, as is the box around the person;
- an image narrower than ``MIN_WIDTH`` is drawn on an upscaled copy (``upscaled``); the keypoints stay in the
  image's own pixels (the JSON), only the drawing maps them onto the copy.

OpenCV rather than matplotlib: a video has thousands of frames. Coordinates are drawn with sub-pixel precision
(OpenCV's fixed-point ``shift``), so the upscaled picture puts each joint where its image pixel lands.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from simplepose.meta import KeypointMeta
from simplepose.runtime.predictor import Person
from simplepose.visualize import OUTLINE_COLOUR, SIDE_COLOURS

MIN_WIDTH = 640                  # pictures of images narrower than this are drawn on an upscaled copy, pixels
# Boxes and labels of tracks: tab10's colours other than the three side colours, so a track's box is never
# mistaken for a limb. BGR.
TRACK_COLOURS = ((40, 39, 214), (189, 103, 148), (75, 86, 140), (194, 119, 227), (127, 127, 127),
                 (34, 189, 188), (207, 190, 23))
UNTRACKED = (255, 255, 255)      # the box of a person without a track id
_SHIFT = 4                       # fractional bits of OpenCV's fixed-point coordinates (1/16 pixel)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _bgr(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (b, g, r) for OpenCV."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return b, g, r


SIDE_BGR = {side: _bgr(c) for side, c in SIDE_COLOURS.items()}
OUTLINE = _bgr(OUTLINE_COLOUR)   # the dark edge under every limb, joint and box


@dataclass(frozen=True)
class Pens:
    """Line widths and font sizes for a picture of ``(height, width)`` pixels: one unit per 640 px of the
    longer side (so 1 for 640x480), never below what stays visible on a small frame."""

    limb: int         # colour line width, pixels
    edge: int         # outline beyond each side of a limb or joint, pixels
    joint: int        # joint radius, pixels
    box: int          # box line width, pixels (thinner than a limb: the skeleton is what the picture shows)
    box_edge: int     # outline beyond each side of a box line, pixels
    font: float       # OpenCV font scale (1.0 is about 22 px tall)
    text: int         # font stroke width, pixels

    @classmethod
    def for_size(cls, height: int, width: int) -> "Pens":
        unit = max(height, width) / 640
        limb = max(2, round(3 * unit))
        return cls(limb=limb, edge=max(1, round(1.5 * unit)), joint=limb + max(1, round(unit)),
                   box=max(1, round(unit)), box_edge=max(1, round(0.5 * unit)), font=max(0.45, 0.65 * unit),
                   text=max(1, round(1.6 * unit)))


def upscaled(image: np.ndarray, min_width: int = MIN_WIDTH) -> tuple[np.ndarray, tuple[float, float]]:
    """A copy of ``image`` ((H, W, 3) uint8) at least ``min_width`` pixels wide (bicubic, aspect kept), and the
    factors (fx, fy) from image pixels to the copy's; an image as wide already is copied unchanged, (1, 1)."""
    h, w = image.shape[:2]
    if w >= min_width:
        return image.copy(), (1.0, 1.0)
    size = (min_width, max(1, round(h * min_width / w)))
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC), (size[0] / w, size[1] / h)


def draw_people(picture: np.ndarray, people: Sequence[Person], meta: KeypointMeta, kpt_thresh: float = 0.2,
                factors: tuple[float, float] = (1.0, 1.0)) -> None:
    """Draw each person's box, skeleton and track id onto ``picture`` ((H, W, 3) uint8 BGR) in place.

    Args:
        people: keypoints (K, 3) and boxes (x0, y0, x1, y1) in image pixels; joints at or below
            ``kpt_thresh`` and the limbs touching them are left out.
        factors: (fx, fy) from image pixels to ``picture``'s (``upscaled``'s), pixel centres kept aligned.
    """
    pens = Pens.for_size(*picture.shape[:2])
    sides = meta.sides   # a computed property: once per picture, not per limb
    for person in people:
        colour = UNTRACKED if person.track_id is None else TRACK_COLOURS[person.track_id % len(TRACK_COLOURS)]
        x0, y0 = _fixed(person.box[0], person.box[1], factors)
        x1, y1 = _fixed(person.box[2], person.box[3], factors)
        cv2.rectangle(picture, (x0, y0), (x1, y1), OUTLINE, pens.box + 2 * pens.box_edge, cv2.LINE_AA, _SHIFT)
        cv2.rectangle(picture, (x0, y0), (x1, y1), colour, pens.box, cv2.LINE_AA, _SHIFT)
        _draw_skeleton(picture, person.keypoints, meta.skeleton, sides, kpt_thresh, factors, pens)
        if person.track_id is not None:
            draw_label(picture, str(person.track_id), (x0 >> _SHIFT, y0 >> _SHIFT), colour, pens)


def _draw_skeleton(picture: np.ndarray, keypoints: np.ndarray, skeleton: Sequence[tuple[int, int]],
                   sides: Sequence[str], kpt_thresh: float, factors: tuple[float, float], pens: Pens) -> None:
    """Outlines of all limbs and joints first, then their colours: a limb's outline never cuts its neighbour."""
    shown = keypoints[:, 2] > kpt_thresh
    points = [_fixed(x, y, factors) for x, y in keypoints[:, :2]]
    limbs = [(a, b, sides[a] if sides[a] == sides[b] else "centre") for a, b in skeleton if shown[a] and shown[b]]
    joints = np.flatnonzero(shown)
    radius = pens.joint << _SHIFT
    for a, b, _ in limbs:
        cv2.line(picture, points[a], points[b], OUTLINE, pens.limb + 2 * pens.edge, cv2.LINE_AA, _SHIFT)
    for k in joints:
        cv2.circle(picture, points[k], radius + (pens.edge << _SHIFT), OUTLINE, -1, cv2.LINE_AA, _SHIFT)
    for a, b, side in limbs:
        cv2.line(picture, points[a], points[b], SIDE_BGR[side], pens.limb, cv2.LINE_AA, _SHIFT)
    for k in joints:
        cv2.circle(picture, points[k], radius, SIDE_BGR[sides[k]], -1, cv2.LINE_AA, _SHIFT)


def draw_label(picture: np.ndarray, text: str, corner: tuple[int, int], colour: tuple[int, int, int],
               pens: Pens | None = None) -> None:
    """``text`` on a filled ``colour`` rectangle whose lower left corner is ``corner`` (x, y, picture pixels),
    moved inside the picture where it would leave it (a box at the top edge gets its label inside). The text
    is black or white, whichever stands out from ``colour``."""
    pens = pens or Pens.for_size(*picture.shape[:2])
    (tw, th), baseline = cv2.getTextSize(text, _FONT, pens.font, pens.text)
    pad = max(2, th // 4)
    w, h = tw + 2 * pad, th + baseline + 2 * pad
    x = min(max(0, corner[0]), max(0, picture.shape[1] - w))
    y = corner[1] - h if corner[1] - h >= 0 else max(0, corner[1])   # above the corner, else below it
    y = min(y, max(0, picture.shape[0] - h))
    cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), colour, -1)
    luma = 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2]
    ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
    cv2.putText(picture, text, (x + pad, y + pad + th), _FONT, pens.font, ink, pens.text, cv2.LINE_AA)


def _fixed(x: float, y: float, factors: tuple[float, float]) -> tuple[int, int]:
    """Image pixels -> the picture's, as OpenCV fixed-point integers. Pixel centres stay aligned as in
    ``cv2.resize``: image pixel centre x maps to (x + 0.5) * fx - 0.5."""
    fx, fy = factors
    scale = 1 << _SHIFT
    return int(round(((float(x) + 0.5) * fx - 0.5) * scale)), int(round(((float(y) + 0.5) * fy - 0.5) * scale))
