"""Drawing a figure into an image and into its owner map.

Every figure is drawn twice: anti-aliased in colour into the image (H, W, 3) uint8 BGR, and without
anti-aliasing into an owner map (H, W) uint16 that records which part of which figure covers each pixel.
The scene reads a keypoint's visibility from the owner map under it. Drawing calls use OpenCV's fixed-point
coordinates (``shift=SHIFT``: 1/16 pixel), exactly the grid on which the figure's keypoints lie.

Owner codes: 0 background, :data:`OWN_OCCLUDER`, :data:`OWN_CROWD`, :data:`OWN_TINY`; labelled person slot
``s`` owns ``(s + 1) * PARTS_PER_PERSON + part``, part 0..16 being that keypoint's own disc or face mark,
:data:`PART_BODY` the body (head, limbs, torso, soles) and ``PART_FOOT + j`` foot keypoint ``j`` (0..5).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from simplepose.synthetic.figure import (LAN, LEAR, LEL, LEYE, LHIP, LKN, LSH, LWR, NOSE, ONE, RAN, REAR, REL, REYE, RHIP, RKN, RSH,
                     RWR, SHIFT, Figure)

OWN_OCCLUDER, OWN_CROWD, OWN_TINY = 1, 2, 3
PART_BODY = 17
PART_FOOT = 18
PARTS_PER_PERSON = 32

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


def _bgr(name: str, scale: float = 1.0) -> tuple[float, float, float]:
    """PALETTE_RGB[name] as a BGR colour, brightened or darkened by scale (clipped at 255)."""
    r, g, b = PALETTE_RGB[name]
    return (min(255.0, b * scale), min(255.0, g * scale), min(255.0, r * scale))


def _fix(pt: np.ndarray) -> tuple[int, int]:
    """A point (2,) in (already 1/16-quantised) pixels -> OpenCV fixed-point ints."""
    return (int(round(float(pt[0]) * ONE)), int(round(float(pt[1]) * ONE)))


class _Pen:
    """Draws shapes into the image and the owner map at once, in one figure's colouring."""

    def __init__(self, img: np.ndarray, owner: np.ndarray, owner_base: int, per_part: bool, shade: float,
                 muted: float):
        self.img, self.owner = img, owner
        self.owner_base, self.per_part = owner_base, per_part
        self.shade, self.muted = shade, muted

    def col(self, c: Sequence[float]) -> tuple[float, float, float]:
        """The figure's shading, then a blend of ``muted`` towards grey, of a BGR colour."""
        m = 128.0 * self.muted
        k = self.shade * (1.0 - self.muted)
        return tuple(min(255.0, max(0.0, float(v) * k + m)) for v in c)  # type: ignore[return-value]

    def code(self, part: int) -> int:
        return self.owner_base + part if self.per_part else self.owner_base

    def seg(self, a: np.ndarray, b: np.ndarray, color: Sequence[float], thick: int, part: int) -> None:
        cv2.line(self.img, _fix(a), _fix(b), self.col(color), thick, cv2.LINE_AA, SHIFT)
        cv2.line(self.owner, _fix(a), _fix(b), self.code(part), thick, cv2.LINE_8, SHIFT)

    def disc(self, c: np.ndarray, r: float, color: Sequence[float], part: int, ring: bool) -> None:
        """A filled disc of radius r px (with a dark outline ring when ``ring``); owns at least 1 px radius."""
        rr = max(1, int(round(r * ONE)))
        if ring:
            ring_r = int(round((r + max(0.8, 0.25 * r)) * ONE))
            cv2.circle(self.img, _fix(c), ring_r, self.col(PALETTE_RGB["outline"]), -1, cv2.LINE_AA, SHIFT)
        cv2.circle(self.img, _fix(c), rr, self.col(color), -1, cv2.LINE_AA, SHIFT)
        cv2.circle(self.owner, _fix(c), max(rr, ONE), self.code(part), -1, cv2.LINE_8, SHIFT)

    def poly(self, pts: np.ndarray, color: Sequence[float], part: int) -> None:
        """A filled polygon; pts (1, N, 2) int32 in fixed-point (1/16 px) units."""
        cv2.fillPoly(self.img, pts, self.col(color), cv2.LINE_AA, SHIFT)
        cv2.fillPoly(self.owner, pts, self.code(part), cv2.LINE_8, SHIFT)

    def circle(self, c: np.ndarray, r: float, color: Sequence[float], part: int) -> None:
        """A filled circle of radius r px (no minimum size)."""
        rr = int(round(r * ONE))
        cv2.circle(self.img, _fix(c), rr, self.col(color), -1, cv2.LINE_AA, SHIFT)
        cv2.circle(self.owner, _fix(c), rr, self.code(part), -1, cv2.LINE_8, SHIFT)


def draw_figure(img: np.ndarray, owner: np.ndarray, fig: Figure, owner_base: int,
                per_part: bool, muted: float = 0.0) -> None:
    """Draw fig into img (H, W, 3) uint8 BGR and owner (H, W) uint16 in place.

    ``owner`` receives ``owner_base + part`` (per_part) or ``owner_base`` for every
    pixel the figure covers (no anti-aliasing), so later drawing can be traced.
    ``muted`` in [0, 1] blends all colours towards grey (for indistinct figures).
    Back to front: legs, soles, torso, neck and head with face marks, arms, then the joint discs.
    """
    pen = _Pen(img, owner, owner_base, per_part, fig.shade, muted)
    kp = fig.kp
    body = PART_BODY
    legs = [(LHIP, LKN, LAN, "left"), (RHIP, RKN, RAN, "right")]
    arms = [(LSH, LEL, LWR, "left"), (RSH, REL, RWR, "right")]
    if not fig.legs_first_left:
        legs.reverse()
    if not fig.arms_first_left:
        arms.reverse()

    for hip, kn, an, side in legs:
        pen.seg(kp[hip], kp[kn], _bgr(f"{side}_thigh"), fig.thick_thigh, body)
        pen.seg(kp[kn], kp[an], _bgr(f"{side}_shin"), fig.thick_shin, body)
    feet = fig.feet() if fig.has_feet else None
    if feet is not None:
        # Each foot: a filled sole (heel, small toe, big toe) in the shin's colour, darker.
        for j, (an, side) in enumerate(((LAN, "left"), (RAN, "right"))):
            sole = np.round(np.vstack([kp[an], feet[3 * j + 2], feet[3 * j + 1], feet[3 * j]]) * ONE)
            pen.poly(sole.astype(np.int32)[None], _bgr(f"{side}_shin", 0.6), body)

    # Torso: quad shoulders -> hips, widened by half an arm.
    sh_mid = (kp[LSH] + kp[RSH]) / 2
    hip_mid = (kp[LHIP] + kp[RHIP]) / 2
    quad = np.array([kp[LSH], kp[RSH], kp[RHIP], kp[LHIP]])
    quad = quad + (quad - (sh_mid + hip_mid) / 2) * 0.12
    pen.poly(np.round(quad * ONE).astype(np.int32)[None], fig.shirt_bgr, body)
    pen.seg(kp[LHIP], kp[RHIP], fig.shirt_bgr, max(2, fig.thick_thigh // 2), body)

    # Neck, head, face marks.
    pen.seg(fig.neck, fig.head_c, fig.skin_bgr, fig.thick_neck, body)
    pen.circle(fig.head_c, fig.head_r, fig.skin_bgr, body)
    for idx, name, shown in ((LEAR, "left_ear", fig.ear_shown[0]), (REAR, "right_ear", fig.ear_shown[1])):
        if shown:
            pen.disc(kp[idx], fig.face_r[idx], _bgr(name), idx, ring=False)
    pen.disc(kp[LEYE], fig.face_r[LEYE], _bgr("left_eye"), LEYE, ring=False)
    pen.disc(kp[REYE], fig.face_r[REYE], _bgr("right_eye"), REYE, ring=False)
    pen.disc(kp[NOSE], fig.face_r[NOSE], _bgr("nose"), NOSE, ring=False)

    for sh, el, wr, side in arms:
        pen.seg(kp[sh], kp[el], _bgr(f"{side}_upper_arm"), fig.thick_upper_arm, body)
        pen.seg(kp[el], kp[wr], _bgr(f"{side}_forearm"), fig.thick_forearm, body)

    # Joint discs, extremities last (on top).
    for idx in (LHIP, RHIP, LKN, RKN, LAN, RAN, LSH, RSH, LEL, REL, LWR, RWR):
        side = "left" if idx % 2 == 1 else "right"    # COCO order: odd indices are the person's left
        pen.disc(kp[idx], fig.disc_r, _bgr(f"{side}_joint"), idx, ring=True)
    if feet is not None:
        for j, pt in enumerate(feet):
            side = "left" if j < 3 else "right"
            pen.disc(pt, 0.7 * fig.disc_r, _bgr(f"{side}_joint"), PART_FOOT + j, ring=True)
