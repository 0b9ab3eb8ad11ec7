"""Temporal smoothing of tracked keypoints: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012).

Each coordinate is low-pass filtered with an exponential smoother whose cutoff frequency rises with the
coordinate's speed: ``cutoff = min_cutoff + beta * |speed|``, the speed itself being the low-passed
(``d_cutoff``) finite difference. A still point is smoothed hard (little jitter), a moving one
lightly (little lag). For a time step ``te`` seconds and a cutoff ``fc`` Hz the smoothing factor is
``alpha = 1 / (1 + tau / te)`` with ``tau = 1 / (2 pi fc)``.

Units: coordinates image pixels, speeds image pixels per second, cutoffs Hz, time from the video's
frame rate. NumPy only; every coordinate of every keypoint is filtered at once.
"""
from __future__ import annotations

import math

import numpy as np

MIN_CUTOFF = 1.0    # Hz: the cutoff of a still point
BETA = 0.05         # Hz per (image pixel / s): how fast the cutoff rises with speed
D_CUTOFF = 1.0      # Hz: the cutoff of the speed estimate
FORGET_AFTER = 2.0  # seconds: a track unseen this long starts afresh


def _alpha(cutoff: np.ndarray | float, te: np.ndarray | float) -> np.ndarray:
    """Exponential smoothing factor for a cutoff (Hz) and a time step te (s), elementwise."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / te)


class OneEuroFilter:
    """One Euro filter of an array of coordinates of any shape, all filtered independently.

    Args:
        min_cutoff: Hz; beta: Hz per (unit / s); d_cutoff: Hz.
    """

    def __init__(self, min_cutoff: float = MIN_CUTOFF, beta: float = BETA, d_cutoff: float = D_CUTOFF):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f"One Euro filter: min_cutoff {min_cutoff} and d_cutoff {d_cutoff} must be > 0, "
                             f"beta {beta} >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.x: np.ndarray | None = None    # last filtered value
        self.dx: np.ndarray | None = None   # last filtered speed, units per second

    def __call__(self, x: np.ndarray, te: float) -> np.ndarray:
        """Filter the next sample ``x`` (any shape, float), ``te`` seconds after the previous one.

        The first sample is returned unchanged. Returns float64 of x's shape.
        """
        x = np.asarray(x, np.float64)
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return self.x.copy()
        if te <= 0:
            raise ValueError(f"One Euro filter: time step {te} s, expected > 0")
        dx = (x - self.x) / te
        self.dx = self.dx + _alpha(self.d_cutoff, te) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        self.x = self.x + _alpha(cutoff, te) * (x - self.x)
        return self.x.copy()


class PoseSmoother:
    """A One Euro filter per track over its keypoints' x, y; call :meth:`update` once per frame.

    Args:
        fps: frames per second of the video (one frame is ``1 / fps`` seconds).
        min_cutoff, beta, d_cutoff: the filter's parameters (Hz; Hz per image pixel / s; Hz).
        forget_after: seconds; a track unseen this long starts a fresh filter when it comes back.
    """

    def __init__(self, fps: float, min_cutoff: float = MIN_CUTOFF, beta: float = BETA,
                 d_cutoff: float = D_CUTOFF, forget_after: float = FORGET_AFTER):
        if not fps > 0:
            raise ValueError(f"PoseSmoother: fps {fps}, expected > 0")
        self.fps = float(fps)
        self.params = (min_cutoff, beta, d_cutoff)
        OneEuroFilter(*self.params)   # checks the parameters now rather than at the first track
        self.forget_frames = max(1, int(round(forget_after * self.fps)))
        self.frame = -1
        self.filters: dict[int, tuple[OneEuroFilter, int]] = {}   # track id -> (filter, last frame seen)

    def update(self, keypoints: np.ndarray, track_ids: np.ndarray) -> np.ndarray:
        """Smoothed keypoints of the next frame.

        Args:
            keypoints: (N, K, 3) image pixels + score; track_ids: (N,) from ``tracking.Tracker.update``.
        Returns:
            (N, K, 3) float32: x, y filtered per track and coordinate, the scores unchanged.
        """
        self.frame += 1
        out = np.array(keypoints, np.float32, copy=True)
        if len(out) != len(track_ids):
            raise ValueError(f"{len(out)} poses but {len(track_ids)} track ids")
        for i, tid in enumerate(int(t) for t in track_ids):
            filt, last = self.filters.get(tid, (None, None))
            if filt is None or self.frame - last > self.forget_frames:
                filt, last = OneEuroFilter(*self.params), self.frame
            out[i, :, :2] = filt(out[i, :, :2], (self.frame - last) / self.fps)
            self.filters[tid] = (filt, self.frame)
        # Drop the filters of tracks gone for good, so a long video does not accumulate them.
        self.filters = {t: v for t, v in self.filters.items() if self.frame - v[1] <= self.forget_frames}
        return out
