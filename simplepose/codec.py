"""Heatmap codec: joints <-> Gaussian heatmaps, one object for both directions.

Training targets and inference decoding come from the same object so they
cannot drift apart. The default (``"standard"``) reproduces GluonCV / Simple
Baselines exactly: the Gaussian centre is the joint position divided by the
stride and rounded to an integer heatmap pixel, sigma in heatmap pixels, the
Gaussian is cut to a (6 sigma + 1) square window, a joint's weight is 0 when it
is unlabelled or its whole window lies off the map; decoding is argmax plus a
quarter-pixel step towards the higher neighbour.
"""
from __future__ import annotations

import numpy as np


class HeatmapCodec:
    """Encode joints into heatmaps and decode heatmaps into joints.

    Args:
        input_size: (height, width) of the model input, pixels.
        stride: input pixels per heatmap pixel (4 for three stride-2 deconvolutions after a stride-32 backbone).
        sigma: Gaussian sigma, heatmap pixels.
    """

    def __init__(self, input_size: tuple[int, int] = (256, 192), stride: int = 4, sigma: float = 2.0):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.stride = int(stride)
        self.sigma = float(sigma)
        # int(i / 4) as GluonCV's training script sizes the heatmap.
        self.heatmap_size = (int(self.input_size[0] / stride), int(self.input_size[1] / stride))
        # Feature stride per axis: input size over heatmap size, as GluonCV's target generator.
        self._feat_stride = np.array([self.input_size[1] / self.heatmap_size[1],
                                      self.input_size[0] / self.heatmap_size[0]])

    def encode(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joints -> targets.

        Args:
            joints: (K, 3) float32, model-input pixels, third column COCO visibility (0 = unlabelled).
        Returns:
            heatmaps (K, h, w) float32 in [0, 1] and weights (K,) float32 in {0, 1}.
        """
        hh, hw = self.heatmap_size
        tmp = self.sigma * 3
        labelled = joints[:, 2] > 0
        # int() truncates towards zero; np.trunc keeps GluonCV's rounding for negative coordinates too.
        mu = np.trunc(joints[:, :2] / self._feat_stride + 0.5)
        ul = np.trunc(mu - tmp)
        br = np.trunc(mu + tmp + 1)
        on_map = ~((ul[:, 0] >= hw) | (ul[:, 1] >= hh) | (br[:, 0] < 0) | (br[:, 1] < 0))
        weights = (labelled & on_map).astype(np.float32)

        size = len(np.arange(0, 2 * tmp + 1, 1))  # window side, as np.arange sizes it
        centre = ul + (2 * tmp + 1) // 2          # window centre, heatmap pixels
        xs = np.arange(hw, dtype=np.float32)
        ys = np.arange(hh, dtype=np.float32)
        dx = xs[None, :] - ul[:, :1]              # (K, w) offset inside the window
        dy = ys[None, :] - ul[:, 1:]
        in_x = (dx >= 0) & (dx < size) & (xs[None, :] < br[:, :1])
        in_y = (dy >= 0) & (dy < size) & (ys[None, :] < br[:, 1:])
        two_s2 = np.float32(2 * self.sigma ** 2)
        gx = np.exp(-((xs[None, :] - centre[:, :1].astype(np.float32)) ** 2) / two_s2) * in_x
        gy = np.exp(-((ys[None, :] - centre[:, 1:].astype(np.float32)) ** 2) / two_s2) * in_y
        heatmaps = (gy[:, :, None] * gx[:, None, :]).astype(np.float32)
        heatmaps *= weights[:, None, None]
        return heatmaps, weights

    @staticmethod
    def argmax(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer peak of each heatmap.

        Args:
            heatmaps: (N, K, h, w).
        Returns:
            coords (N, K, 2) float32 heatmap pixels (x, y), (0, 0) where the peak is not positive;
            maxvals (N, K) float32.
        """
        n, k, h, w = heatmaps.shape
        flat = heatmaps.reshape(n, k, h * w)
        idx = flat.argmax(axis=2)
        maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0].astype(np.float32)
        coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
        coords *= (maxvals > 0)[..., None]
        return coords, maxvals

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps -> joints in model-input pixels, GluonCV's way (argmax + quarter-pixel step).

        Args:
            heatmaps: (N, K, h, w) float32.
        Returns:
            coords (N, K, 2) float32 model-input pixels, maxvals (N, K) float32 peak scores.
        """
        coords, maxvals = self.argmax(heatmaps)
        n, k, h, w = heatmaps.shape
        px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
        py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
        inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
        pxc = np.clip(px, 1, w - 2)
        pyc = np.clip(py, 1, h - 2)
        ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
        dx = heatmaps[ni, ki, pyc, pxc + 1] - heatmaps[ni, ki, pyc, pxc - 1]
        dy = heatmaps[ni, ki, pyc + 1, pxc] - heatmaps[ni, ki, pyc - 1, pxc]
        coords = coords + 0.25 * np.stack([np.sign(dx), np.sign(dy)], axis=-1) * inside[..., None]
        return (coords * self._feat_stride).astype(np.float32), maxvals
