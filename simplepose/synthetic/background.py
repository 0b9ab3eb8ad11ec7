"""What is not a person: the textured background behind the figures and the occluders in front of them."""
from __future__ import annotations

import math

import cv2
import numpy as np

from simplepose.synthetic.render import OWN_OCCLUDER


def draw_background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
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


def draw_occluder(rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, at: np.ndarray,
                  size_px: float) -> None:
    """Draw an opaque rectangle or ellipse of ~size_px around ``at`` (2,) px into img; mark it in owner.

    img (H, W, 3) uint8 BGR and owner (H, W) uint16 (see :mod:`.render`) are changed in place.
    """
    w_half = size_px * rng.uniform(0.35, 1.0) / 2
    h_half = size_px * rng.uniform(0.35, 1.0) / 2
    c = at + rng.uniform(-0.5, 0.5, 2) * np.array([w_half, h_half])
    color = tuple(float(v) for v in rng.uniform(0, 255, 3))
    if rng.random() < 0.7:
        p0 = (int(round(c[0] - w_half)), int(round(c[1] - h_half)))
        p1 = (int(round(c[0] + w_half)), int(round(c[1] + h_half)))
        cv2.rectangle(img, p0, p1, color, -1)
        cv2.rectangle(owner, p0, p1, OWN_OCCLUDER, -1)
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
        cv2.ellipse(owner, ctr, axes, ang, 0, 360, OWN_OCCLUDER, -1, cv2.LINE_8)
