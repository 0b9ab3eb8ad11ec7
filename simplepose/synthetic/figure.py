"""The figure model: a posed stick figure in image pixels, and its random pose.

Coordinates are image pixels (x right, y down, OpenCV's convention: the centre of pixel ``(col, row)`` is at
``(col, row)``), always on the renderer's 1/16-pixel grid, so that the labels written are
exactly the points drawn. Keypoints are in COCO order (:data:`simplepose.meta.COCO_KEYPOINT_NAMES`), then,
for a figure with feet, the six foot points (:data:`simplepose.meta.FOOT_KEYPOINT_NAMES`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simplepose.meta import COCO_KEYPOINT_NAMES, FOOT_KEYPOINT_NAMES

# Keypoint indices, COCO order.
NOSE, LEYE, REYE, LEAR, REAR = 0, 1, 2, 3, 4
LSH, RSH, LEL, REL, LWR, RWR = 5, 6, 7, 8, 9, 10
LHIP, RHIP, LKN, RKN, LAN, RAN = 11, 12, 13, 14, 15, 16
NUM_BODY = len(COCO_KEYPOINT_NAMES)
NUM_FEET = len(FOOT_KEYPOINT_NAMES)

SHIFT = 4                   # OpenCV fixed-point bits: coordinates in 1/16 pixel
ONE = 1 << SHIFT

_STANDING_HEIGHT = 0.95     # body-frame height of a standing figure (head top to ankle)

# Neutral shirt colours (RGB) and skin tones (RGB); these vary per person.
_SHIRTS_RGB = np.array([
    (200, 200, 200), (90, 90, 90), (150, 120, 90), (110, 120, 70), (240, 235, 220),
    (60, 60, 80), (170, 160, 140), (120, 100, 110),
], dtype=np.float64)
_SKINS_RGB = np.array([
    (255, 224, 189), (234, 192, 150), (198, 145, 105), (150, 105, 70), (105, 75, 50),
], dtype=np.float64)


def _quantise(a: np.ndarray) -> np.ndarray:
    """Round pixel coordinates to the renderer's 1/16-pixel grid (exact in float)."""
    return np.round(np.asarray(a, dtype=np.float64) * ONE) / ONE


def _rotate(v: np.ndarray, ang: float) -> np.ndarray:
    """Rotate 2-vector(s) (..., 2) by ang radians (clockwise on screen, y down)."""
    c, s = math.cos(ang), math.sin(ang)
    return np.stack([v[..., 0] * c - v[..., 1] * s, v[..., 0] * s + v[..., 1] * c], axis=-1)


@dataclass
class Figure:
    """One posed figure in image pixels.

    kp: (17, 2) float64, image pixels (x, y), on the 1/16-pixel grid.
    neck, head_c: (2,) float64 image pixels.
    head_r: head radius, pixels.  thick_*: limb line widths, pixels (int).
    disc_r: joint disc radius, pixels.  face_r: (5,) radii of nose/eyes/ears marks, pixels.
    ear_shown: (2,) bool, whether the left/right ear is drawn (not turned away).
    shirt_bgr, skin_bgr: BGR colours, 0-255; shade: brightness factor of every colour drawn.
    arms_first_left, legs_first_left: drawing order of the limbs (which one overlaps the other).
    has_feet: the figure also has (draws and labels) the six foot points.
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
        for kn, an, side in ((LKN, LAN, 1.0), (RKN, RAN, -1.0)):
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
        limb_r = np.full(NUM_BODY, self.disc_r + 1.0)
        limb_r[[LSH, RSH, LEL, REL]] = max(self.thick_upper_arm / 2.0, self.disc_r + 1.0)
        limb_r[[LWR, RWR]] = max(self.thick_forearm / 2.0, self.disc_r + 1.0)
        limb_r[[LHIP, RHIP, LKN, RKN]] = max(self.thick_thigh / 2.0, self.disc_r + 1.0)
        limb_r[[LAN, RAN]] = max(self.thick_shin / 2.0, self.disc_r + 1.0)
        limb_r[:5] = self.face_r + 1.0
        pts = np.vstack([kp, self.head_c[None], self.neck[None]])
        rad = np.concatenate([limb_r, [self.head_r + 1.0, self.thick_neck / 2.0]])
        if self.has_feet:
            pts = np.vstack([pts, self.feet()])
            rad = np.concatenate([rad, np.full(NUM_FEET, self.disc_r + 1.0)])
        return pts, rad

    def box(self) -> np.ndarray:
        """Tight unclipped box (x0, y0, x1, y1), float64 pixels, around the rendered body."""
        pts, rad = self.extent_points()
        return np.array([
            np.min(pts[:, 0] - rad), np.min(pts[:, 1] - rad),
            np.max(pts[:, 0] + rad), np.max(pts[:, 1] + rad),
        ])

    def shift(self, delta: np.ndarray) -> None:
        """Move the figure by delta (2,) pixels, rounded to the 1/16 grid so the figure stays on it."""
        d = _quantise(delta)
        self.kp = self.kp + d
        self.neck = self.neck + d
        self.head_c = self.head_c + d

    def centre_box_at(self, target: np.ndarray) -> None:
        """Move the figure so that the centre of its box lands on target (2,) pixels."""
        b = self.box()
        self.shift(target - (b[:2] + b[2:]) / 2)


def _limb_dir(theta: float, side: float, up: np.ndarray, perp: np.ndarray) -> np.ndarray:
    """Unit direction of a limb theta radians from "down" (-up), positive = outwards from the midline."""
    return -up * math.cos(theta) + side * perp * math.sin(theta)


def _pose_head(rng: np.random.Generator, kp: np.ndarray, neck: np.ndarray, u: np.ndarray, p: np.ndarray,
               head_r: float, neck_len: float) -> tuple[np.ndarray, list[bool]]:
    """Fill the face keypoints of kp (body frame) in place; return the head centre and which ears show.

    The head turns (yaw) and tilts; face marks sit on a sphere projected orthographically.
    """
    deg = math.pi / 180.0
    head_tilt = float(np.clip(rng.normal(0.0, 10.0), -30.0, 30.0)) * deg
    uh, ph = _rotate(u, head_tilt), _rotate(p, head_tilt)
    head_c = neck + uh * (neck_len + head_r)
    yaw = float(np.clip(rng.normal(0.0, 20.0), -50.0, 50.0)) * deg
    kp[NOSE] = head_c + ph * (0.95 * head_r * math.sin(yaw)) - uh * (0.12 * head_r)
    for idx, az in ((LEYE, 30.0), (REYE, -30.0)):
        kp[idx] = head_c + ph * (0.85 * head_r * math.sin(az * deg + yaw)) + uh * (0.28 * head_r)
    ear_shown = []
    for idx, az in ((LEAR, 90.0), (REAR, -90.0)):
        kp[idx] = head_c + ph * (head_r * math.sin(az * deg + yaw)) + uh * (0.05 * head_r)
        ear_shown.append(math.cos(az * deg + yaw) > -0.4)
    return head_c, ear_shown


def _pose_limbs(rng: np.random.Generator, kp: np.ndarray, u: np.ndarray, p: np.ndarray) -> None:
    """Fill elbows, wrists, knees and ankles of kp (body frame) in place.

    Arms are free; legs move moderately in a nearly upright leg frame (the torso leans from the hips).
    """
    deg = math.pi / 180.0
    for sh, el, wr, side in ((LSH, LEL, LWR, 1.0), (RSH, REL, RWR, -1.0)):
        t_up = rng.uniform(-25.0, 170.0) * deg
        bend = rng.uniform(-140.0, 140.0) * deg
        l_up = 0.165 * rng.uniform(0.7, 1.0)
        l_fo = 0.145 * rng.uniform(0.7, 1.0)
        kp[el] = kp[sh] + _limb_dir(t_up, side, u, p) * l_up
        kp[wr] = kp[el] + _limb_dir(t_up + bend, side, u, p) * l_fo

    leg_lean = float(np.clip(rng.normal(0.0, 4.0), -10.0, 10.0)) * deg
    ul, pl = _rotate(np.array([0.0, -1.0]), leg_lean), _rotate(np.array([1.0, 0.0]), leg_lean)
    for hip, kn, an, side in ((LHIP, LKN, LAN, 1.0), (RHIP, RKN, RAN, -1.0)):
        if rng.random() < 0.1:
            t_th = rng.uniform(35.0, 85.0) * deg
            bend = rng.uniform(-100.0, 10.0) * deg
        else:
            t_th = rng.uniform(-12.0, 35.0) * deg
            bend = rng.uniform(-45.0, 20.0) * deg
        l_th = 0.245 * rng.uniform(0.75, 1.0)
        l_sh = 0.245 * rng.uniform(0.75, 1.0)
        kp[kn] = kp[hip] + _limb_dir(t_th, side, ul, pl) * l_th
        kp[an] = kp[kn] + _limb_dir(t_th + bend, side, ul, pl) * l_sh


def sample_figure(rng: np.random.Generator, height_px: float, centre: np.ndarray | None = None,
                  rotation_deg: float | None = None) -> Figure:
    """Sample a random human-like pose and place it, body centre at ``centre`` (px).

    The pose is built in a body frame (a standing figure measures 0.95 units from head top to ankle),
    then rotated in-plane by ``rotation_deg`` (drawn at random when None) about the body centre and
    scaled. height_px is the height of the figure when standing upright (pixels); the posed figure may be
    shorter (bent limbs, foreshortening). With ``centre=None`` the body centre is at (0, 0) and the caller
    moves it (:meth:`Figure.shift`).
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
    kp = np.zeros((NUM_BODY, 2))
    tilt = rng.normal(0.0, 0.012)
    kp[LSH] = neck + p * shoulder_w / 2 + u * tilt
    kp[RSH] = neck - p * shoulder_w / 2 - u * tilt
    kp[LHIP] = pelvis + p * hip_w / 2
    kp[RHIP] = pelvis - p * hip_w / 2
    head_c, ear_shown = _pose_head(rng, kp, neck, u, p, head_r, neck_len)
    _pose_limbs(rng, kp, u, p)

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
        return _quantise(origin + _rotate(pts - body_c, ang) * scale)

    shade = rng.uniform(0.85, 1.1)
    shirt = _SHIRTS_RGB[rng.integers(len(_SHIRTS_RGB))] * rng.uniform(0.85, 1.15)
    skin = _SKINS_RGB[rng.integers(len(_SKINS_RGB))] * rng.uniform(0.95, 1.05)
    shirt = np.clip(shirt, 0, 255)[::-1]
    skin = np.clip(skin, 0, 255)[::-1]

    def width(frac: float) -> int:
        return max(2, int(round(frac * scale)))

    return Figure(
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
