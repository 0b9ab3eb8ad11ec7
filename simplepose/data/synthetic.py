"""A built-in, learnable COCO-format keypoint dataset of rendered stick figures.

:func:`generate` writes a small dataset laid out like COCO 2017::

    DIR/annotations/person_keypoints_train.json
    DIR/annotations/person_keypoints_val.json
    DIR/train/000000000001.jpg ...
    DIR/val/000000000601.jpg ...
    DIR/synthetic.json            # generator arguments, written last ("complete" marker)

Every image holds 1-4 frontal stick figures (facing the camera, so a person's
*left* side is normally on the *image right*) drawn with thick coloured limbs,
small joint discs and a head with a face (nose, eyes, ears).  Colours are the
same for every person (see :data:`PALETTE_RGB`): the person's left limbs and
joints are warm (red/orange/crimson/pink, yellow joint discs), the right ones
cool (blue/violet/green/teal, cyan joint discs).

Coordinates follow OpenCV's pixel convention: x right, y down, the centre of
pixel ``(col, row)`` is at ``(col, row)``.  Keypoints are stored exactly as
rendered: the renderer works with 1/16-pixel fixed-point coordinates
(``shift=4`` in OpenCV drawing calls) and the labels are those very values.

Visibility (COCO ``v``) comes from a per-pixel "owner" map drawn alongside the
image: ``v=2`` when the pixel under the joint still shows that joint's own disc
(or face mark), ``v=1`` when the joint is inside the image but covered (by an
occluder rectangle/ellipse, a person drawn later, the person's own limb, or an
ear turned away behind the head), ``v=0`` with ``x=y=0`` when the joint lies
outside ``[0, W-1] x [0, H-1]``.

``generate(..., feet=True)`` (``--feet``) writes a 23-keypoint variant: COCO's 17 plus
COCO-WholeBody's six foot points (big toe, small toe, heel per side), drawn as a dark sole
with small joint discs below each ankle; their positions are a fixed function of the knee and
ankle (see ``_Figure.feet``) and their visibility comes from the owner map like the others.

This module imports no MXNet: NumPy, OpenCV and the standard library only.
"""
from __future__ import annotations

import argparse
import inspect
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "COCO_KEYPOINT_NAMES",
    "COCO_SKELETON",
    "FOOT_KEYPOINT_NAMES",
    "FOOT_SIGMAS",
    "PALETTE_RGB",
    "generate",
    "ensure_dataset",
    "main",
]

COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# COCO's 19 skeleton links, 1-based exactly as in person_keypoints_*.json.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7),
    (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5),
    (4, 6), (5, 7),
)

#: COCO-WholeBody's six foot keypoints, appended after COCO's 17 by ``generate(..., feet=True)``.
FOOT_KEYPOINT_NAMES: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)

#: COCO-WholeBody's published OKS sigmas of the foot keypoints, in FOOT_KEYPOINT_NAMES order.
FOOT_SIGMAS: tuple[float, ...] = (0.068, 0.066, 0.066, 0.092, 0.094, 0.094)

# Foot links, 1-based in the 23-keypoint list: ankle-heel, heel-big toe, heel-small toe, big-small toe.
FOOT_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 20), (20, 18), (20, 19), (18, 19), (17, 23), (23, 21), (23, 22), (21, 22),
)

#: Bump whenever the rendered content changes, so ensure_dataset() regenerates.
GENERATOR_VERSION = 1

#: Fixed colour scheme (RGB, 0-255) shared by every labelled person.  "left"
#: is the person's left (image right for these camera-facing figures).
PALETTE_RGB: dict[str, tuple[int, int, int]] = {
    # person's left side: warm
    "left_upper_arm": (220, 40, 40),     # red
    "left_forearm": (255, 140, 0),       # orange
    "left_thigh": (170, 0, 80),          # crimson
    "left_shin": (255, 100, 160),        # pink
    "left_joint": (255, 240, 0),         # yellow discs: shoulder..ankle
    "left_eye": (255, 90, 0),
    "left_ear": (255, 200, 0),
    # person's right side: cool
    "right_upper_arm": (40, 70, 230),    # blue
    "right_forearm": (140, 60, 230),     # violet
    "right_thigh": (0, 130, 70),         # dark green
    "right_shin": (0, 190, 160),         # teal
    "right_joint": (0, 230, 255),        # cyan discs: shoulder..ankle
    "right_eye": (0, 90, 255),
    "right_ear": (0, 200, 255),
    # centre
    "nose": (255, 0, 255),               # magenta
    "outline": (25, 25, 25),             # ring around joint discs
}

# Neutral shirt colours (RGB) and skin tones (RGB); these vary per person.
_SHIRTS_RGB = np.array([
    (200, 200, 200), (90, 90, 90), (150, 120, 90), (110, 120, 70), (240, 235, 220),
    (60, 60, 80), (170, 160, 140), (120, 100, 110),
], dtype=np.float64)
_SKINS_RGB = np.array([
    (255, 224, 189), (234, 192, 150), (198, 145, 105), (150, 105, 70), (105, 75, 50),
], dtype=np.float64)

_SHIFT = 4                  # OpenCV fixed-point bits: coordinates in 1/16 pixel
_ONE = 1 << _SHIFT

# Keypoint indices (COCO order).
_NOSE, _LEYE, _REYE, _LEAR, _REAR = 0, 1, 2, 3, 4
_LSH, _RSH, _LEL, _REL, _LWR, _RWR = 5, 6, 7, 8, 9, 10
_LHIP, _RHIP, _LKN, _RKN, _LAN, _RAN = 11, 12, 13, 14, 15, 16
_NUM_KP = len(COCO_KEYPOINT_NAMES)

# Owner-map codes.  0 background, 1 occluder, 2 crowd figure, 3 unlabelled
# tiny figure; labelled person slot s owns codes (s+1)*32 + part, part 0..16
# being that keypoint's own disc/mark and 17.. the body (head, limbs, torso).
_OWN_OCCLUDER, _OWN_CROWD, _OWN_TINY = 1, 2, 3
_PART_BODY = 17
_PART_FOOT = 18             # foot keypoint j (0..5) is part 18 + j
_PARTS_PER_PERSON = 32

# Relative frequencies.
_P_CROWD = 1.0 / 15.0
_P_TINY = 1.0 / 15.0
_P_OCCLUDER = 0.4
_PEOPLE_COUNT_P = (0.35, 0.30, 0.20, 0.15)   # 1, 2, 3, 4 people

_STANDING_HEIGHT = 0.95     # body-frame height of a standing figure (head top to ankle)


def _bgr(name: str, scale: float = 1.0) -> tuple[float, float, float]:
    r, g, b = PALETTE_RGB[name]
    return (min(255.0, b * scale), min(255.0, g * scale), min(255.0, r * scale))


def _fix(pt: np.ndarray) -> tuple[int, int]:
    """A point (2,) in (already 1/16-quantised) pixels -> OpenCV fixed-point ints."""
    return (int(round(float(pt[0]) * _ONE)), int(round(float(pt[1]) * _ONE)))


def _quantise(a: np.ndarray) -> np.ndarray:
    """Round pixel coordinates to the renderer's 1/16-pixel grid (exact in float)."""
    return np.round(np.asarray(a, dtype=np.float64) * _ONE) / _ONE


# --------------------------------------------------------------------------
# Figure model
# --------------------------------------------------------------------------
@dataclass
class _Figure:
    """One posed figure in image pixels.

    kp: (17, 2) float64, image pixels (x, y), on the 1/16-pixel grid.
    neck, head_c: (2,) float64 image pixels.
    head_r: head radius, pixels.  thick_*: limb line widths, pixels (int).
    disc_r: joint disc radius, pixels.  face_r: (5,) radii of nose/eyes/ears marks, pixels.
    ear_shown: (2,) bool, whether the left/right ear is drawn (not turned away).
    """

    kp: np.ndarray
    neck: np.ndarray
    head_c: np.ndarray
    head_r: float
    thick_upper_arm: int
    thick_forearm: int
    thick_thigh: int
    thick_shin: int
    thick_neck: int
    disc_r: float
    face_r: np.ndarray
    ear_shown: tuple[bool, bool]
    shirt_bgr: tuple[float, float, float]
    skin_bgr: tuple[float, float, float]
    shade: float
    arms_first_left: bool
    legs_first_left: bool
    has_feet: bool = False

    def feet(self) -> np.ndarray:
        """(6, 2) float64 image pixels of the foot points, FOOT_KEYPOINT_NAMES order, on the 1/16 grid.

        A pure function of knees and ankles (no randomness, so the 17-keypoint images do not
        change): frontal feet below the ankle along the shin, toes turned slightly outwards,
        the big toe on the inner side.
        """
        out = []
        for kn, an, side in ((_LKN, _LAN, 1.0), (_RKN, _RAN, -1.0)):
            shin = self.kp[an] - self.kp[kn]
            length = max(float(np.hypot(*shin)), 1e-6)
            d = shin / length                                   # down the shin
            # The person's left is image right for an upright figure: outward = +side x (d rotated).
            lateral = side * np.array([d[1], -d[0]])
            toe_base = self.kp[an] + d * 0.36 * length + lateral * 0.10 * length
            out += [toe_base - lateral * 0.12 * length,                       # big toe (inner)
                    toe_base + lateral * 0.12 * length - d * 0.05 * length,   # small toe (outer)
                    self.kp[an] + d * 0.12 * length - lateral * 0.04 * length]  # heel
        return _quantise(np.array(out))

    def keypoints(self) -> np.ndarray:
        """(K, 2) image pixels: COCO's 17, then the 6 foot points when the figure has feet."""
        return np.vstack([self.kp, self.feet()]) if self.has_feet else self.kp

    def extent_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Points (N, 2) px and radii (N,) px whose discs cover the rendered body."""
        kp = self.kp
        limb_r = np.full(_NUM_KP, self.disc_r + 1.0)
        limb_r[[_LSH, _RSH, _LEL, _REL]] = max(self.thick_upper_arm / 2.0, self.disc_r + 1.0)
        limb_r[[_LWR, _RWR]] = max(self.thick_forearm / 2.0, self.disc_r + 1.0)
        limb_r[[_LHIP, _RHIP, _LKN, _RKN]] = max(self.thick_thigh / 2.0, self.disc_r + 1.0)
        limb_r[[_LAN, _RAN]] = max(self.thick_shin / 2.0, self.disc_r + 1.0)
        limb_r[:5] = self.face_r + 1.0
        pts = np.vstack([kp, self.head_c[None], self.neck[None]])
        rad = np.concatenate([limb_r, [self.head_r + 1.0, self.thick_neck / 2.0]])
        if self.has_feet:
            pts = np.vstack([pts, self.feet()])
            rad = np.concatenate([rad, np.full(6, self.disc_r + 1.0)])
        return pts, rad

    def box(self) -> np.ndarray:
        """Tight unclipped box (x0, y0, x1, y1), float64 pixels, around the rendered body."""
        pts, rad = self.extent_points()
        return np.array([
            np.min(pts[:, 0] - rad), np.min(pts[:, 1] - rad),
            np.max(pts[:, 0] + rad), np.max(pts[:, 1] + rad),
        ])


def _rot(v: np.ndarray, ang: float) -> np.ndarray:
    """Rotate 2-vector(s) (..., 2) by ang radians (clockwise on screen, y down)."""
    c, s = math.cos(ang), math.sin(ang)
    return np.stack([v[..., 0] * c - v[..., 1] * s, v[..., 0] * s + v[..., 1] * c], axis=-1)


def _sample_figure(rng: np.random.Generator, height_px: float, centre: np.ndarray | None = None,
                   rotation_deg: float | None = None) -> _Figure:
    """Sample a random human-like pose and place it, body centre at ``centre`` (px).

    height_px is the height of the figure when standing upright (pixels); the
    posed figure may be shorter (bent limbs, foreshortening).  With
    ``centre=None`` the body centre is at (0, 0) and the caller translates it.
    """
    deg = math.pi / 180.0
    # Torso frame: u = "up" along the spine, p = towards the person's left (image right).
    lean = float(np.clip(rng.normal(0.0, 9.0), -28.0, 28.0)) * deg
    u = np.array([math.sin(lean), -math.cos(lean)])
    p = np.array([math.cos(lean), math.sin(lean)])

    torso_len = 0.30 * rng.uniform(0.85, 1.0)
    shoulder_w = 0.24 * rng.uniform(0.85, 1.05)
    hip_w = 0.15 * rng.uniform(0.9, 1.1)
    neck_len = 0.035
    head_r = 0.062 * rng.uniform(0.9, 1.1)

    pelvis = np.zeros(2)
    neck = pelvis + u * torso_len
    kp = np.zeros((_NUM_KP, 2))
    tilt = rng.normal(0.0, 0.012)
    kp[_LSH] = neck + p * shoulder_w / 2 + u * tilt
    kp[_RSH] = neck - p * shoulder_w / 2 - u * tilt
    kp[_LHIP] = pelvis + p * hip_w / 2
    kp[_RHIP] = pelvis - p * hip_w / 2

    # Head with yaw; face marks sit on a sphere projected orthographically.
    head_tilt = float(np.clip(rng.normal(0.0, 10.0), -30.0, 30.0)) * deg
    uh, ph = _rot(u, head_tilt), _rot(p, head_tilt)
    head_c = neck + uh * (neck_len + head_r)
    yaw = float(np.clip(rng.normal(0.0, 20.0), -50.0, 50.0)) * deg
    kp[_NOSE] = head_c + ph * (0.95 * head_r * math.sin(yaw)) - uh * (0.12 * head_r)
    for idx, az in ((_LEYE, 30.0), (_REYE, -30.0)):
        kp[idx] = head_c + ph * (0.85 * head_r * math.sin(az * deg + yaw)) + uh * (0.28 * head_r)
    ear_shown = []
    for idx, az in ((_LEAR, 90.0), (_REAR, -90.0)):
        kp[idx] = head_c + ph * (head_r * math.sin(az * deg + yaw)) + uh * (0.05 * head_r)
        ear_shown.append(math.cos(az * deg + yaw) > -0.4)

    def limb_dir(theta: float, side: float, up: np.ndarray, perp: np.ndarray) -> np.ndarray:
        # theta from "down" (-up), positive = outwards (away from the midline).
        return -up * math.cos(theta) + side * perp * math.sin(theta)

    # Arms: free.
    for sh, el, wr, side in ((_LSH, _LEL, _LWR, 1.0), (_RSH, _REL, _RWR, -1.0)):
        t_up = rng.uniform(-25.0, 170.0) * deg
        bend = rng.uniform(-140.0, 140.0) * deg
        l_up = 0.165 * rng.uniform(0.7, 1.0)
        l_fo = 0.145 * rng.uniform(0.7, 1.0)
        kp[el] = kp[sh] + limb_dir(t_up, side, u, p) * l_up
        kp[wr] = kp[el] + limb_dir(t_up + bend, side, u, p) * l_fo

    # Legs: moderate, in a nearly upright leg frame (the torso leans from the hips).
    leg_lean = float(np.clip(rng.normal(0.0, 4.0), -10.0, 10.0)) * deg
    ul, pl = _rot(np.array([0.0, -1.0]), leg_lean), _rot(np.array([1.0, 0.0]), leg_lean)
    for hip, kn, an, side in ((_LHIP, _LKN, _LAN, 1.0), (_RHIP, _RKN, _RAN, -1.0)):
        if rng.random() < 0.1:
            t_th = rng.uniform(35.0, 85.0) * deg
            bend = rng.uniform(-100.0, 10.0) * deg
        else:
            t_th = rng.uniform(-12.0, 35.0) * deg
            bend = rng.uniform(-45.0, 20.0) * deg
        l_th = 0.245 * rng.uniform(0.75, 1.0)
        l_sh = 0.245 * rng.uniform(0.75, 1.0)
        kp[kn] = kp[hip] + limb_dir(t_th, side, ul, pl) * l_th
        kp[an] = kp[kn] + limb_dir(t_th + bend, side, ul, pl) * l_sh

    # Whole-body in-plane rotation about the body centre, then scale.
    if rotation_deg is None:
        if rng.random() < 0.2:
            rotation_deg = rng.uniform(-45.0, 45.0)
        else:
            rotation_deg = float(np.clip(rng.normal(0.0, 6.0), -20.0, 20.0))
    body_c = (neck + pelvis) / 2.0
    scale = height_px / _STANDING_HEIGHT
    ang = float(rotation_deg) * deg
    origin = np.zeros(2) if centre is None else np.asarray(centre, dtype=np.float64)

    def place(pts: np.ndarray) -> np.ndarray:
        return _quantise(origin + _rot(pts - body_c, ang) * scale)

    shade = rng.uniform(0.85, 1.1)
    shirt = _SHIRTS_RGB[rng.integers(len(_SHIRTS_RGB))] * rng.uniform(0.85, 1.15)
    skin = _SKINS_RGB[rng.integers(len(_SKINS_RGB))] * rng.uniform(0.95, 1.05)
    shirt = np.clip(shirt, 0, 255)[::-1]
    skin = np.clip(skin, 0, 255)[::-1]

    def width(frac: float) -> int:
        return max(2, int(round(frac * scale)))

    return _Figure(
        kp=place(kp),
        neck=place(neck),
        head_c=place(head_c),
        head_r=max(2.5, head_r * scale),
        thick_upper_arm=width(0.048),
        thick_forearm=width(0.040),
        thick_thigh=width(0.066),
        thick_shin=width(0.054),
        thick_neck=width(0.045),
        disc_r=max(1.6, 0.022 * scale),
        face_r=np.maximum(np.array([0.19, 0.15, 0.15, 0.22, 0.22]) * head_r * scale, 0.9),
        ear_shown=(bool(ear_shown[0]), bool(ear_shown[1])),
        shirt_bgr=tuple(float(c) for c in shirt),
        skin_bgr=tuple(float(c) for c in skin),
        shade=float(shade),
        arms_first_left=bool(rng.random() < 0.5),
        legs_first_left=bool(rng.random() < 0.5),
    )


def _translate(fig: _Figure, delta: np.ndarray) -> _Figure:
    """Shift a figure by delta (2,) pixels; delta must be on the 1/16 grid."""
    d = _quantise(delta)
    fig.kp = fig.kp + d
    fig.neck = fig.neck + d
    fig.head_c = fig.head_c + d
    return fig


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------
def _draw_figure(img: np.ndarray, owner: np.ndarray, fig: _Figure, owner_base: int,
                 per_part: bool, muted: float = 0.0) -> None:
    """Draw fig into img (H, W, 3) uint8 BGR and owner (H, W) uint16 in place.

    ``owner`` receives ``owner_base + part`` (per_part) or ``owner_base`` for every
    pixel the figure covers (no anti-aliasing), so later drawing can be traced.
    ``muted`` in [0, 1] blends all colours towards grey (for indistinct figures).
    """
    aa = cv2.LINE_AA
    shade = fig.shade

    def col(c: Sequence[float]) -> tuple[float, float, float]:
        m = 128.0 * muted
        k = shade * (1.0 - muted)
        return tuple(min(255.0, max(0.0, float(v) * k + m)) for v in c)  # type: ignore[return-value]

    def code(part: int) -> int:
        return owner_base + part if per_part else owner_base

    def seg(a: np.ndarray, b: np.ndarray, color, thick: int, part: int) -> None:
        cv2.line(img, _fix(a), _fix(b), col(color), thick, aa, _SHIFT)
        cv2.line(owner, _fix(a), _fix(b), code(part), thick, cv2.LINE_8, _SHIFT)

    def disc(c: np.ndarray, r: float, color, part: int, ring: bool) -> None:
        rr = max(1, int(round(r * _ONE)))
        if ring:
            ring_r = int(round((r + max(0.8, 0.25 * r)) * _ONE))
            cv2.circle(img, _fix(c), ring_r, col(PALETTE_RGB["outline"]), -1, aa, _SHIFT)
        cv2.circle(img, _fix(c), rr, col(color), -1, aa, _SHIFT)
        cv2.circle(owner, _fix(c), max(rr, _ONE), code(part), -1, cv2.LINE_8, _SHIFT)

    kp = fig.kp
    body = _PART_BODY
    legs = [(_LHIP, _LKN, _LAN, "left"), (_RHIP, _RKN, _RAN, "right")]
    arms = [(_LSH, _LEL, _LWR, "left"), (_RSH, _REL, _RWR, "right")]
    if not fig.legs_first_left:
        legs.reverse()
    if not fig.arms_first_left:
        arms.reverse()

    for hip, kn, an, side in legs:
        seg(kp[hip], kp[kn], _bgr(f"{side}_thigh"), fig.thick_thigh, body)
        seg(kp[kn], kp[an], _bgr(f"{side}_shin"), fig.thick_shin, body)
    feet = fig.feet() if fig.has_feet else None
    if feet is not None:
        # Each foot: a filled sole (heel, small toe, big toe) in the shin's colour, darker.
        for j, (an, side) in enumerate(((_LAN, "left"), (_RAN, "right"))):
            sole = np.round(np.vstack([kp[an], feet[3 * j + 2], feet[3 * j + 1], feet[3 * j]]) * _ONE)
            pts = sole.astype(np.int32)[None]
            cv2.fillPoly(img, pts, col(_bgr(f"{side}_shin", 0.6)), aa, _SHIFT)
            cv2.fillPoly(owner, pts, code(body), cv2.LINE_8, _SHIFT)

    # Torso: quad shoulders -> hips, widened by half an arm.
    sh_mid = (kp[_LSH] + kp[_RSH]) / 2
    hip_mid = (kp[_LHIP] + kp[_RHIP]) / 2
    quad = np.array([kp[_LSH], kp[_RSH], kp[_RHIP], kp[_LHIP]])
    quad = quad + (quad - (sh_mid + hip_mid) / 2) * 0.12
    pts = np.round(quad * _ONE).astype(np.int32)[None]
    cv2.fillPoly(img, pts, col(fig.shirt_bgr), aa, _SHIFT)
    cv2.fillPoly(owner, pts, code(body), cv2.LINE_8, _SHIFT)
    seg(kp[_LHIP], kp[_RHIP], fig.shirt_bgr, max(2, fig.thick_thigh // 2), body)

    # Neck, head, face marks.
    seg(fig.neck, fig.head_c, fig.skin_bgr, fig.thick_neck, body)
    hr = int(round(fig.head_r * _ONE))
    cv2.circle(img, _fix(fig.head_c), hr, col(fig.skin_bgr), -1, aa, _SHIFT)
    cv2.circle(owner, _fix(fig.head_c), hr, code(body), -1, cv2.LINE_8, _SHIFT)
    for idx, name, shown in ((_LEAR, "left_ear", fig.ear_shown[0]), (_REAR, "right_ear", fig.ear_shown[1])):
        if shown:
            disc(kp[idx], fig.face_r[idx], _bgr(name), idx, ring=False)
    disc(kp[_LEYE], fig.face_r[_LEYE], _bgr("left_eye"), _LEYE, ring=False)
    disc(kp[_REYE], fig.face_r[_REYE], _bgr("right_eye"), _REYE, ring=False)
    disc(kp[_NOSE], fig.face_r[_NOSE], _bgr("nose"), _NOSE, ring=False)

    for sh, el, wr, side in arms:
        seg(kp[sh], kp[el], _bgr(f"{side}_upper_arm"), fig.thick_upper_arm, body)
        seg(kp[el], kp[wr], _bgr(f"{side}_forearm"), fig.thick_forearm, body)

    # Joint discs, extremities last (on top).
    for idx in (_LHIP, _RHIP, _LKN, _RKN, _LAN, _RAN, _LSH, _RSH, _LEL, _REL, _LWR, _RWR):
        side = "left" if idx % 2 == 1 else "right"
        disc(kp[idx], fig.disc_r, _bgr(f"{side}_joint"), idx, ring=True)
    if feet is not None:
        for j, pt in enumerate(feet):
            side = "left" if j < 3 else "right"
            disc(pt, 0.7 * fig.disc_r, _bgr(f"{side}_joint"), _PART_FOOT + j, ring=True)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A random textured background, (h, w, 3) uint8 BGR.

    A two-colour linear gradient plus blotchy low-frequency noise (built at 1/8
    resolution and upsampled), muted random shapes, optional fine grey noise and
    blur.  Overall brightness is dark, mid or light.
    """
    level = int(rng.integers(3))                 # dark / mid / light
    lo, hi = ((0, 110), (50, 200), (140, 255))[level]
    c1 = rng.uniform(lo, hi, 3).astype(np.float32)
    c2 = np.clip(c1 + rng.normal(0.0, 45.0, 3), 0, 255).astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    sw, sh = max(2, w // 8), max(2, h // 8)
    xs = np.linspace(0.0, w, sw, dtype=np.float32)[None, :] * math.cos(ang)
    ys = np.linspace(0.0, h, sh, dtype=np.float32)[:, None] * math.sin(ang)
    t = xs + ys
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    small = c1 * (1 - t[..., None]) + c2 * t[..., None]
    cells = int(rng.integers(2, 14))
    coarse = rng.standard_normal((cells, max(2, cells * w // h), 3), dtype=np.float32)
    small += cv2.resize(coarse, (sw, sh), interpolation=cv2.INTER_CUBIC) * float(rng.uniform(0, 28))
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    # Random shapes in muted colours (blended towards the background mean).
    mean = small.reshape(-1, 3).mean(axis=0)
    for _ in range(int(rng.integers(0, 10))):
        a = rng.uniform(0.2, 0.7)
        color = tuple(float(v) for v in mean * (1 - a) + rng.uniform(0, 255, 3) * a)
        kind = int(rng.integers(4))
        x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        if kind == 0:
            cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(8, w // 2)), y0 + int(rng.integers(8, h // 2))),
                          color, -1)
        elif kind == 1:
            cv2.circle(img, (x0, y0), int(rng.integers(4, h // 4)), color, -1, cv2.LINE_AA)
        elif kind == 2:
            cv2.line(img, (x0, y0), (int(rng.integers(0, w)), int(rng.integers(0, h))), color,
                     int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            cv2.ellipse(img, (x0, y0), (int(rng.integers(4, w // 4)), int(rng.integers(4, h // 4))),
                        float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)

    sigma = float(rng.uniform(0, 9))
    if sigma > 2.0:
        noise = rng.standard_normal((h, w), dtype=np.float32)
        noise *= sigma
        img += noise[..., None]
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 1.5)))
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)


def _draw_occluder(rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, at: np.ndarray,
                   size_px: float) -> None:
    """Draw an opaque rectangle or ellipse of ~size_px around ``at`` (2,) px; mark owner."""
    w_half = size_px * rng.uniform(0.35, 1.0) / 2
    h_half = size_px * rng.uniform(0.35, 1.0) / 2
    c = at + rng.uniform(-0.5, 0.5, 2) * np.array([w_half, h_half])
    color = tuple(float(v) for v in rng.uniform(0, 255, 3))
    if rng.random() < 0.7:
        p0 = (int(round(c[0] - w_half)), int(round(c[1] - h_half)))
        p1 = (int(round(c[0] + w_half)), int(round(c[1] + h_half)))
        cv2.rectangle(img, p0, p1, color, -1)
        cv2.rectangle(owner, p0, p1, _OWN_OCCLUDER, -1)
        if rng.random() < 0.5:  # a few stripes as texture
            stripe = tuple(float(v) for v in rng.uniform(0, 255, 3))
            step = max(3, int(rng.integers(3, 8)))
            for y in range(p0[1], p1[1] + 1, step):
                cv2.line(img, (p0[0], y), (p1[0], y), stripe, 1)
    else:
        axes = (max(1, int(round(w_half))), max(1, int(round(h_half))))
        ctr = (int(round(c[0])), int(round(c[1])))
        ang = float(rng.uniform(0, 180))
        cv2.ellipse(img, ctr, axes, ang, 0, 360, color, -1, cv2.LINE_AA)
        cv2.ellipse(owner, ctr, axes, ang, 0, 360, _OWN_OCCLUDER, -1, cv2.LINE_8)


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
    x0, y0, x1, y1 = (round(float(v), 2) for v in box)
    return [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)]


def _box_polygon(xywh: Sequence[float]) -> list[list[float]]:
    x, y, bw, bh = xywh
    return [[x, y, round(x + bw, 2), y, round(x + bw, 2), round(y + bh, 2), x, round(y + bh, 2)]]


def _render_image(rng: np.random.Generator, w: int, h: int,
                  feet: bool = False) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Render one image (with ``feet``, labelled people also get 6 drawn foot keypoints).

    Returns the image (h, w, 3) uint8 BGR and its annotations (COCO dicts
    without ``id``/``image_id``), people first in drawing order, then an optional
    unlabelled tiny figure, then an optional crowd region.
    """
    num_kp = _NUM_KP + (len(FOOT_KEYPOINT_NAMES) if feet else 0)
    img = _background(rng, w, h)
    owner = np.zeros((h, w), dtype=np.uint16)
    extra: list[dict[str, Any]] = []

    # Optional crowd region of small indistinct figures (drawn first, in the back).
    if rng.random() < _P_CROWD:
        rw, rh = rng.uniform(0.3, 0.55) * w, rng.uniform(0.18, 0.32) * h
        rx, ry = rng.uniform(-0.1 * rw, w - 0.9 * rw), rng.uniform(0, h - rh)
        for _ in range(int(rng.integers(5, 13))):
            fh = rh * rng.uniform(0.6, 0.95)
            fig = _sample_figure(rng, fh, rotation_deg=float(rng.normal(0, 5)))
            b = fig.box()
            target = np.array([rng.uniform(rx, rx + rw), ry + rh - (b[3] - b[1]) / 2])
            _translate(fig, target - (b[:2] + b[2:]) / 2)
            _draw_figure(img, owner, fig, _OWN_CROWD, per_part=False, muted=rng.uniform(0.2, 0.5))
        mask = owner == _OWN_CROWD
        if mask.any():
            x0, y0 = max(0, int(rx)), max(0, int(ry))
            x1, y1 = min(w, int(math.ceil(rx + rw)) + 1), min(h, int(math.ceil(ry + rh)) + 1)
            if x1 > x0 and y1 > y0:
                img[y0:y1, x0:x1] = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), 1.2)
            mask = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            ys, xs = np.nonzero(mask)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
            extra.append({
                "category_id": 1, "iscrowd": 1, "bbox": _xywh(box), "area": float(mask.sum()),
                "num_keypoints": 0, "keypoints": [0.0, 0.0, 0] * num_kp,
                "segmentation": _rle_uncompressed(mask),
            })

    # Optional tiny far-away figure, annotated as a person without keypoints.
    if rng.random() < _P_TINY:
        fig = _sample_figure(rng, rng.uniform(0.07, 0.14) * h)
        b = fig.box()
        bw, bh = b[2] - b[0], b[3] - b[1]
        target = np.array([rng.uniform(bw / 2 + 1, max(bw / 2 + 2, w - bw / 2 - 1)),
                           rng.uniform(bh / 2 + 1, max(bh / 2 + 2, h - bh / 2 - 1))])
        _translate(fig, target - (b[:2] + b[2:]) / 2)
        _draw_figure(img, owner, fig, _OWN_TINY, per_part=False)
        box = _clip_box(fig.box(), w, h)
        xywh = _xywh(box)
        extra.insert(0, {
            "category_id": 1, "iscrowd": 0, "bbox": xywh, "area": round(xywh[2] * xywh[3], 2),
            "num_keypoints": 0, "keypoints": [0.0, 0.0, 0] * num_kp,
            "segmentation": _box_polygon(xywh),
        })

    # Labelled people, placed with limited overlap, drawn in order.
    n_people = int(rng.choice(len(_PEOPLE_COUNT_P), p=_PEOPLE_COUNT_P)) + 1
    people: list[_Figure] = []
    placed: list[np.ndarray] = []
    for slot in range(n_people):
        height = rng.uniform(0.35, 0.9) * h
        fig = _sample_figure(rng, height)
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
        _translate(fig, best - (b[:2] + b[2:]) / 2)
        placed.append(_clip_box(fig.box(), w, h))
        base = (slot + 1) * _PARTS_PER_PERSON
        _draw_figure(img, owner, fig, base, per_part=True)
        if rng.random() < _P_OCCLUDER:
            _draw_occluder(rng, img, owner, fig.kp[int(rng.integers(5, _NUM_KP))], height * rng.uniform(0.12, 0.3))
        people.append(fig)

    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 0.8)))

    anns: list[dict[str, Any]] = []
    for slot, fig in enumerate(people):
        base = (slot + 1) * _PARTS_PER_PERSON
        kps: list[float | int] = []
        n_lab = 0
        points = fig.keypoints()
        for k in range(num_kp):
            x, y = float(points[k, 0]), float(points[k, 1])
            part = k if k < _NUM_KP else _PART_FOOT + k - _NUM_KP
            if 0.0 <= x <= w - 1 and 0.0 <= y <= h - 1:
                v = 2 if int(owner[int(round(y)), int(round(x))]) == base + part else 1
                kps += [x, y, v]
                n_lab += 1
            else:
                kps += [0.0, 0.0, 0]
        xywh = _xywh(_clip_box(fig.box(), w, h))
        anns.append({
            "category_id": 1, "iscrowd": 0, "bbox": xywh, "area": round(xywh[2] * xywh[3], 2),
            "num_keypoints": n_lab, "keypoints": kps, "segmentation": _box_polygon(xywh),
        })
    return img, anns + extra


# --------------------------------------------------------------------------
# Dataset writing
# --------------------------------------------------------------------------
_SPLITS = ("train", "val")
_MANIFEST = "synthetic.json"


def _paths(out_dir: Path) -> dict[str, str]:
    return {
        "train_ann": str(out_dir / "annotations" / "person_keypoints_train.json"),
        "train_images": str(out_dir / "train"),
        "val_ann": str(out_dir / "annotations" / "person_keypoints_val.json"),
        "val_images": str(out_dir / "val"),
    }


def _params(num_train_images: int, num_val_images: int, seed: int,
            image_size: Sequence[int], feet: bool = False) -> dict[str, Any]:
    """The canonical (JSON-comparable) generator arguments, validated."""
    w, h = (int(v) for v in image_size)
    if int(num_train_images) < 0 or int(num_val_images) < 0:
        raise ValueError("image counts must be >= 0")
    if w < 32 or h < 32:
        raise ValueError(f"image_size {tuple(image_size)} too small (need >= 32 x 32)")
    params = {
        "generator_version": GENERATOR_VERSION,
        "num_train_images": int(num_train_images),
        "num_val_images": int(num_val_images),
        "seed": int(seed),
        "image_size": [w, h],
    }
    if feet:   # only then, so that the manifests of 17-keypoint datasets stay as they were
        params["feet"] = True
    return params


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; datasets are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _categories(feet: bool = False) -> list[dict[str, Any]]:
    names, skeleton = COCO_KEYPOINT_NAMES, COCO_SKELETON
    if feet:
        names, skeleton = names + FOOT_KEYPOINT_NAMES, skeleton + FOOT_SKELETON
    return [{
        "id": 1, "name": "person", "supercategory": "person",
        "keypoints": list(names),
        "skeleton": [list(link) for link in skeleton],
    }]


def _write_split(out_dir: Path, split: str, split_code: int, n_images: int, first_image_id: int,
                 first_ann_id: int, params: dict[str, Any]) -> int:
    """Render one split into a temp dir, then move it and its JSON into place.

    Returns the next free annotation id.
    """
    w, h = params["image_size"]
    seed = params["seed"]
    tmp_dir = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{split}.tmp-"))
    os.chmod(tmp_dir, 0o755)  # mkdtemp makes 0700
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    ann_id = first_ann_id
    try:
        for i in range(n_images):
            image_id = first_image_id + i
            rng = np.random.default_rng([seed, split_code, i])
            img, anns = _render_image(rng, w, h, params.get("feet", False))
            file_name = f"{image_id:012d}.jpg"
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for {file_name}")
            (tmp_dir / file_name).write_bytes(buf.tobytes())
            images.append({"id": image_id, "file_name": file_name, "width": w, "height": h})
            for ann in anns:
                annotations.append({"id": ann_id, "image_id": image_id, **ann})
                ann_id += 1
        doc = {
            "info": {
                "description": "simplepose synthetic stick-figure keypoints",
                "version": str(GENERATOR_VERSION),
                "year": 2024,
                "contributor": "simplepose.data.synthetic",
                "split": split,
                "seed": seed,
            },
            "licenses": [{"id": 1, "name": "CC0 1.0 (synthetic data)",
                          "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
            "images": images,
            "annotations": annotations,
            "categories": _categories(params.get("feet", False)),
        }
        final = out_dir / split
        if final.exists():
            trash = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{split}.old-"))
            os.replace(final, trash / split)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp_dir, final)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    data = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    _atomic_write_bytes(Path(_paths(out_dir)[f"{split}_ann"]), data)
    n_kp = [a["num_keypoints"] for a in annotations]
    log.info("synthetic %s: %d images, %d annotations (%d with keypoints) -> %s",
             split, len(images), len(annotations), sum(1 for n in n_kp if n > 0), final)
    return ann_id


def generate(out_dir: str | os.PathLike, num_train_images: int = 600, num_val_images: int = 100,
             seed: int = 0, image_size: tuple[int, int] = (320, 240), feet: bool = False) -> dict[str, str]:
    """Write the synthetic dataset into ``out_dir`` (overwriting any previous one).

    Args:
        out_dir: target directory (created if needed).
        num_train_images / num_val_images: number of images per split.
        seed: base seed; image ``i`` of a split uses ``default_rng([seed, split, i])``
            (split 0 = train, 1 = val), so images are independent of each other.
        image_size: (width, height) of every image, pixels.
        feet: also draw and label COCO-WholeBody's six foot keypoints (23 keypoints: COCO's 17 then
            FOOT_KEYPOINT_NAMES; OKS sigmas for them in FOOT_SIGMAS), drawn as a sole with three
            small discs below each ankle, their visibility from the owner map like every joint.

    Image ids are ``1..num_train`` for train and continue after that for val;
    annotation ids are unique across both files.  ``out_dir/synthetic.json``
    (the arguments) is removed first and written last, atomically.

    Returns:
        ``{'train_ann', 'train_images', 'val_ann', 'val_images'}`` -> path strings.
    """
    t0 = time.perf_counter()
    params = _params(num_train_images, num_val_images, seed, image_size, feet)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / _MANIFEST
    if manifest.exists():
        manifest.unlink()  # the dataset is incomplete from here until rewritten
    (out / "annotations").mkdir(exist_ok=True)
    n_train = params["num_train_images"]
    next_ann = _write_split(out, "train", 0, n_train, 1, 1, params)
    _write_split(out, "val", 1, params["num_val_images"], n_train + 1, next_ann, params)
    _atomic_write_bytes(manifest, (json.dumps(params, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    log.info("synthetic dataset written to %s in %.1f s", out, time.perf_counter() - t0)
    return _paths(out)


def _complete(out: Path, params: dict[str, Any]) -> bool:
    """True if out holds a finished dataset made with exactly these params."""
    try:
        stored = json.loads((out / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if stored != params:
        return False
    paths = _paths(out)
    for split, n in (("train", params["num_train_images"]), ("val", params["num_val_images"])):
        if not os.path.isfile(paths[f"{split}_ann"]) or not os.path.isdir(paths[f"{split}_images"]):
            return False
        if sum(1 for name in os.listdir(paths[f"{split}_images"]) if name.endswith(".jpg")) != n:
            return False
    return True


def ensure_dataset(out_dir: str | os.PathLike, **kwargs: Any) -> dict[str, str]:
    """Return the dataset paths, generating it only if ``out_dir`` lacks a complete copy.

    kwargs are :func:`generate`'s (num_train_images, num_val_images, seed,
    image_size); a dataset counts as complete when ``out_dir/synthetic.json``
    records the same arguments (and generator version) and the annotation files
    and image counts are present.
    """
    bound = inspect.signature(generate).bind(out_dir, **kwargs)
    bound.apply_defaults()
    args = dict(bound.arguments)
    args.pop("out_dir")
    params = _params(**args)
    out = Path(out_dir)
    if _complete(out, params):
        log.info("synthetic dataset in %s is complete; not regenerating", out)
        return _paths(out)
    log.info("generating synthetic dataset in %s", out)
    return generate(out, **args)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m simplepose.data.synthetic --out DIR [...]``; prints the paths."""
    ap = argparse.ArgumentParser(prog="python -m simplepose.data.synthetic",
                                 description="Write the synthetic stick-figure COCO keypoint dataset.")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--train-images", type=int, default=600)
    ap.add_argument("--val-images", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--feet", action="store_true",
                    help="23 keypoints: COCO's 17 plus COCO-WholeBody's 6 foot points (drawn feet)")
    ap.add_argument("--force", action="store_true", help="regenerate even if a complete dataset exists")
    ns = ap.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kwargs = dict(num_train_images=ns.train_images, num_val_images=ns.val_images, seed=ns.seed,
                  image_size=(ns.width, ns.height), feet=ns.feet)
    paths = generate(ns.out, **kwargs) if ns.force else ensure_dataset(ns.out, **kwargs)
    for key, value in paths.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
