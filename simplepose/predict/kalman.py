"""A constant-velocity Kalman filter of a person's box, one per track (SORT's motion model).

State (8,): the box centre x, y, its width w and height h (image pixels), and their velocities (pixels per
frame). Measured: the detector's box as (x, y, w, h). Centre and size rather than SORT's area and aspect ratio:
a walking person's width swings with the legs and arms while the height holds, and SORT keeps the aspect
ratio without a velocity; with w and h each gets its own velocity and noise (as BoT-SORT does).

The noise scales with the box (as in DeepSORT and ByteTrack): position and size noise a twentieth of the box's
side, velocity noise a hundred-and-sixtieth, x and w by the width, y and h by the height, so a far (small) person
and a near (large) one are followed alike. The time step is one frame.

NumPy only.
"""
from __future__ import annotations

import numpy as np

POSITION_NOISE = 1 / 20    # std of the box's position and size, share of its side
VELOCITY_NOISE = 1 / 160   # std of their velocities per frame, share of the side

# x' = x + v each frame; the measurement is the first four entries of the state.
_MOTION = np.eye(8) + np.eye(8, k=4)
_MEASURE = np.eye(4, 8)


def box_to_xywh(box: np.ndarray) -> np.ndarray:
    """(4,) (x0, y0, x1, y1) -> (4,) float64 (centre x, centre y, width, height), image pixels."""
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0])


def xywh_to_box(xywh: np.ndarray) -> np.ndarray:
    """(4,) (centre x, centre y, width, height) -> (4,) float64 (x0, y0, x1, y1), image pixels."""
    x, y, w, h = xywh
    return np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2])


def _sides(xywh: np.ndarray) -> np.ndarray:
    """(4,) the side each entry's noise scales with: width for x and w, height for y and h (at least 1 px)."""
    w, h = max(float(xywh[2]), 1.0), max(float(xywh[3]), 1.0)
    return np.array([w, h, w, h])


class BoxKalman:
    """The Kalman filter of one track's box.

    Args:
        box: (4,) (x0, y0, x1, y1) image pixels, the first detection; the velocities start at 0, uncertain.
    Attributes:
        mean: (8,) float64 state (x, y, w, h, vx, vy, vw, vh); cov: (8, 8) its covariance.
    """

    def __init__(self, box: np.ndarray):
        xywh = box_to_xywh(box)
        sides = _sides(xywh)
        self.mean = np.concatenate([xywh, np.zeros(4)])
        std = np.concatenate([2 * POSITION_NOISE * sides, 10 * VELOCITY_NOISE * sides])
        self.cov = np.diag(std ** 2)

    def predict(self) -> np.ndarray:
        """Step one frame ahead; returns the predicted box (4,) (x0, y0, x1, y1), image pixels."""
        sides = _sides(self.mean[:4])
        noise = np.diag(np.concatenate([POSITION_NOISE * sides, VELOCITY_NOISE * sides]) ** 2)
        self.mean = _MOTION @ self.mean
        self.mean[2:4] = np.maximum(self.mean[2:4], 1.0)   # a shrinking box stops at one pixel, never flips
        self.cov = _MOTION @ self.cov @ _MOTION.T + noise
        return self.box()

    def update(self, box: np.ndarray) -> None:
        """Correct the state with a detected box (4,) (x0, y0, x1, y1), image pixels."""
        measured = box_to_xywh(box)
        noise = np.diag((POSITION_NOISE * _sides(self.mean[:4])) ** 2)
        innovation_cov = _MEASURE @ self.cov @ _MEASURE.T + noise
        gain = np.linalg.solve(innovation_cov, _MEASURE @ self.cov).T     # cov H^T S^-1 (S symmetric)
        self.mean = self.mean + gain @ (measured - _MEASURE @ self.mean)
        self.cov = self.cov - gain @ innovation_cov @ gain.T

    def box(self) -> np.ndarray:
        """The current box estimate (4,) (x0, y0, x1, y1), image pixels."""
        return xywh_to_box(self.mean[:4])
