"""A whole image: background, figures placed with limited overlap, occluders, and its COCO annotations.

Every image holds 1-4 labelled frontal figures (facing the camera, so a person's *left* side is normally
on the *image right*), sometimes a crowd region of small muted figures (annotated ``iscrowd=1`` with an
RLE mask) and sometimes one tiny far-away figure (a person box without keypoints).

Visibility (COCO ``v``) comes from the owner map drawn alongside the image (see :mod:`.render`): ``v=2``
when the pixel under the joint still shows that joint's own disc (or face mark), ``v=1`` when the joint
is inside the image but covered (by an occluder rectangle/ellipse, a person drawn later, the person's own
limb, or an ear turned away behind the head), ``v=0`` with ``x=y=0`` when the joint lies outside
``[0, W-1] x [0, H-1]``.
"""
from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from simplepose.synthetic.background import draw_background, draw_occluder
from simplepose.synthetic.figure import NUM_BODY, NUM_FEET, Figure, sample_figure
from simplepose.synthetic.render import OWN_CROWD, OWN_TINY, PART_FOOT, PARTS_PER_PERSON, draw_figure

# Relative frequencies.
_P_CROWD = 1.0 / 15.0
_P_TINY = 1.0 / 15.0
_P_OCCLUDER = 0.4
_PEOPLE_COUNT_P = (0.35, 0.30, 0.20, 0.15)   # 1, 2, 3, 4 people


def _rle_uncompressed(mask: np.ndarray) -> dict[str, Any]:
    """COCO uncompressed RLE of a (H, W) bool mask: column-major run lengths starting with zeros."""
    flat = mask.flatten(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {"counts": [int(c) for c in counts], "size": [int(mask.shape[0]), int(mask.shape[1])]}


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of boxes (x0, y0, x1, y1) over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    area = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / max(area, 1e-6))


def _clip_box(box: np.ndarray, w: int, h: int) -> np.ndarray:
    """Clip a box (x0, y0, x1, y1), pixels, to the image rectangle [0, w] x [0, h]."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.array([min(max(x0, 0.0), w), min(max(y0, 0.0), h), min(max(x1, 0.0), w), min(max(y1, 0.0), h)])


def _xywh(box: np.ndarray) -> list[float]:
    """A box (x0, y0, x1, y1) as COCO's [x, y, width, height], pixels rounded to 0.01."""
    x0, y0, x1, y1 = (round(float(v), 2) for v in box)
    return [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)]


def _box_annotation(xywh: list[float], keypoints: list[float | int], num_keypoints: int) -> dict[str, Any]:
    """A person annotation (no id, no image_id) whose area and polygon are its box."""
    x, y, bw, bh = xywh
    polygon = [x, y, round(x + bw, 2), y, round(x + bw, 2), round(y + bh, 2), x, round(y + bh, 2)]
    return {"category_id": 1, "iscrowd": 0, "bbox": xywh, "area": round(bw * bh, 2),
            "num_keypoints": num_keypoints, "keypoints": keypoints, "segmentation": [polygon]}


def _add_crowd(rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, num_kp: int) -> dict[str, Any] | None:
    """Draw 5-12 small muted figures in a random region, blur it; its iscrowd annotation (None if unseen)."""
    h, w = owner.shape
    rw, rh = rng.uniform(0.3, 0.55) * w, rng.uniform(0.18, 0.32) * h
    rx, ry = rng.uniform(-0.1 * rw, w - 0.9 * rw), rng.uniform(0, h - rh)
    for _ in range(int(rng.integers(5, 13))):
        fh = rh * rng.uniform(0.6, 0.95)
        fig = sample_figure(rng, fh, rotation_deg=float(rng.normal(0, 5)))
        b = fig.box()
        fig.centre_box_at(np.array([rng.uniform(rx, rx + rw), ry + rh - (b[3] - b[1]) / 2]))
        draw_figure(img, owner, fig, OWN_CROWD, per_part=False, muted=rng.uniform(0.2, 0.5))
    mask = owner == OWN_CROWD
    if not mask.any():
        return None
    x0, y0 = max(0, int(rx)), max(0, int(ry))
    x1, y1 = min(w, int(math.ceil(rx + rw)) + 1), min(h, int(math.ceil(ry + rh)) + 1)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), 1.2)
    mask = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
    return {"category_id": 1, "iscrowd": 1, "bbox": _xywh(box), "area": float(mask.sum()),
            "num_keypoints": 0, "keypoints": [0.0, 0.0, 0] * num_kp, "segmentation": _rle_uncompressed(mask)}


def _add_tiny(rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, num_kp: int) -> dict[str, Any]:
    """Draw one tiny far-away figure anywhere in the image; its annotation (a box, no keypoints)."""
    h, w = owner.shape
    fig = sample_figure(rng, rng.uniform(0.07, 0.14) * h)
    b = fig.box()
    bw, bh = b[2] - b[0], b[3] - b[1]
    fig.centre_box_at(np.array([rng.uniform(bw / 2 + 1, max(bw / 2 + 2, w - bw / 2 - 1)),
                                rng.uniform(bh / 2 + 1, max(bh / 2 + 2, h - bh / 2 - 1))]))
    draw_figure(img, owner, fig, OWN_TINY, per_part=False)
    return _box_annotation(_xywh(_clip_box(fig.box(), w, h)), [0.0, 0.0, 0] * num_kp, 0)


def _add_people(rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, feet: bool) -> list[Figure]:
    """Draw 1-4 labelled figures in order, person slot s owning codes from (s + 1) * PARTS_PER_PERSON.

    Each figure (35-90 % of the image height) goes to the first of up to 25 random places whose clipped
    box covers under 20 % of an earlier one (else the least overlapping); 40 % get an occluder on a joint.
    """
    h, w = owner.shape
    n_people = int(rng.choice(len(_PEOPLE_COUNT_P), p=_PEOPLE_COUNT_P)) + 1
    people: list[Figure] = []
    placed: list[np.ndarray] = []
    for slot in range(n_people):
        height = rng.uniform(0.35, 0.9) * h
        fig = sample_figure(rng, height)
        fig.has_feet = feet
        b = fig.box()
        best, best_score = None, math.inf
        for _ in range(25):
            target = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.25, 0.75) * h])
            cand = b + np.tile(target - (b[:2] + b[2:]) / 2, 2)
            score = max([_overlap(_clip_box(cand, w, h), q) for q in placed], default=0.0)
            if score < best_score:
                best, best_score = target, score
            if score < 0.2:
                break
        fig.centre_box_at(best)
        placed.append(_clip_box(fig.box(), w, h))
        draw_figure(img, owner, fig, (slot + 1) * PARTS_PER_PERSON, per_part=True)
        if rng.random() < _P_OCCLUDER:
            draw_occluder(rng, img, owner, fig.kp[int(rng.integers(5, NUM_BODY))], height * rng.uniform(0.12, 0.3))
        people.append(fig)
    return people


def _person_annotation(fig: Figure, owner: np.ndarray, slot: int, num_kp: int) -> dict[str, Any]:
    """The annotation of labelled person ``slot``: keypoints with visibility read from the owner map."""
    h, w = owner.shape
    base = (slot + 1) * PARTS_PER_PERSON
    kps: list[float | int] = []
    n_lab = 0
    points = fig.keypoints()
    for k in range(num_kp):
        x, y = float(points[k, 0]), float(points[k, 1])
        part = k if k < NUM_BODY else PART_FOOT + k - NUM_BODY
        if 0.0 <= x <= w - 1 and 0.0 <= y <= h - 1:
            v = 2 if int(owner[int(round(y)), int(round(x))]) == base + part else 1
            kps += [x, y, v]
            n_lab += 1
        else:
            kps += [0.0, 0.0, 0]
    return _box_annotation(_xywh(_clip_box(fig.box(), w, h)), kps, n_lab)


def render_image(rng: np.random.Generator, w: int, h: int,
                 feet: bool = False) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Render one image (with ``feet``, labelled people also get 6 drawn foot keypoints).

    Returns the image (h, w, 3) uint8 BGR and its annotations (COCO dicts
    without ``id``/``image_id``), people first in drawing order, then an optional
    unlabelled tiny figure, then an optional crowd region.
    """
    num_kp = NUM_BODY + (NUM_FEET if feet else 0)
    img = draw_background(rng, w, h)
    owner = np.zeros((h, w), dtype=np.uint16)
    extra: list[dict[str, Any]] = []
    # Back to front: the crowd, the tiny figure, then the labelled people.
    if rng.random() < _P_CROWD:
        crowd = _add_crowd(rng, img, owner, num_kp)
        if crowd is not None:
            extra.append(crowd)
    if rng.random() < _P_TINY:
        extra.insert(0, _add_tiny(rng, img, owner, num_kp))
    people = _add_people(rng, img, owner, feet)
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 0.8)))
    return img, [_person_annotation(fig, owner, slot, num_kp) for slot, fig in enumerate(people)] + extra
