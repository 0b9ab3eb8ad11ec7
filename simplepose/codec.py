"""Heatmap codec: joints <-> Gaussian heatmaps, one object for both directions.

Training targets and inference decoding come from the same object so they
cannot drift apart. Two methods:

- ``"standard"`` reproduces GluonCV / Simple Baselines exactly: the Gaussian
  centre is the joint position divided by the stride and rounded to an integer
  heatmap pixel, sigma in heatmap pixels, the Gaussian is cut to a
  (6 sigma + 1) square window, a joint's weight is 0 when it is unlabelled or
  its whole window lies off the map; decoding is argmax plus a quarter-pixel
  step towards the higher neighbour. Rounding costs up to half a heatmap pixel
  (2 input pixels at stride 4) in both directions.
- ``"dark"`` (Zhang et al., "Distribution-Aware Coordinate Representation",
  CVPR 2020): targets are Gaussians centred on the exact sub-pixel position, and
  decoding refines the argmax by one Newton step on the log of the (smoothed)
  heatmap, which is exact for a Gaussian because its log is a quadratic.

In both, heatmap pixel ``u`` is model-input pixel ``stride * u``.
"""
from __future__ import annotations

import cv2
import numpy as np

from simplepose.geometry import STRIDE


class HeatmapCodec:
    """Encode joints into heatmaps and decode heatmaps into joints; the base of the two methods.

    ``HeatmapCodec(input_size, stride, sigma, method)`` makes the codec of ``method`` (a
    :class:`StandardCodec` or a :class:`DarkCodec`), as ``pathlib.Path`` makes a ``PosixPath``;
    the subclasses can also be made directly. They share the heatmap geometry, the argmax and
    the flip-back, and differ in where a target's Gaussian sits, how the argmax is refined and
    how far a flipped-back heatmap is moved.

    Args:
        input_size: (height, width) of the model input, pixels.
        stride: input pixels per heatmap pixel (``geometry.STRIDE``).
        sigma: Gaussian sigma, heatmap pixels.
        method: ``"standard"`` (GluonCV) or ``"dark"`` (sub-pixel targets, Newton-refined decoding).
    """

    method = ""

    def __new__(cls, input_size: tuple[int, int] = (256, 192), stride: int = STRIDE, sigma: float = 2.0,
                method: str | None = None):
        if cls is HeatmapCodec:
            method = method or "standard"
            if method not in CODECS:
                raise ValueError(f"codec method {method!r}: expected one of {', '.join(METHODS)}")
            cls = CODECS[method]
        return super().__new__(cls)

    def __init__(self, input_size: tuple[int, int] = (256, 192), stride: int = STRIDE, sigma: float = 2.0,
                 method: str | None = None):
        if method is not None and method != self.method:
            raise ValueError(f"codec method {method!r} given to the {self.method} codec")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.stride = int(stride)
        self.sigma = float(sigma)
        # int(i / 4) as GluonCV's training script sizes the heatmap.
        self.heatmap_size = (int(self.input_size[0] / stride), int(self.input_size[1] / stride))
        # Feature stride per axis: input size over heatmap size, as GluonCV's target generator.
        self._feat_stride = np.array([self.input_size[1] / self.heatmap_size[1],
                                      self.input_size[0] / self.heatmap_size[0]])
        # Mirroring the input maps input x to w_in - 1 - x, i.e. heatmap u to (w_in - 1) / s - u, while
        # mirroring the heatmap maps u to w_hm - 1 - u: a flipped-back heatmap sits this many heatmap
        # pixels to the left (0.75 at stride 4). GluonCV and Simple Baselines shift by a whole pixel.
        self.flip_shift = (self.input_size[1] - 1) / self._feat_stride[0] - (self.heatmap_size[1] - 1)

    def encode(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joints -> targets.

        Args:
            joints: (K, 3) float32, model-input pixels, third column COCO visibility (0 = unlabelled).
        Returns:
            heatmaps (K, h, w) float32 in [0, 1] and weights (K,) float32 in {0, 1}: a joint's weight
            is 0 when it is unlabelled or its whole window (3 sigma each side) lies off the map.
        """
        hh, hw = self.heatmap_size
        xs = np.arange(hw, dtype=np.float32)
        ys = np.arange(hh, dtype=np.float32)
        ul, br, centre, in_x, in_y = self._support(joints[:, :2] / self._feat_stride, xs, ys)
        on_map = ~((ul[:, 0] >= hw) | (ul[:, 1] >= hh) | (br[:, 0] < 0) | (br[:, 1] < 0))
        weights = ((joints[:, 2] > 0) & on_map).astype(np.float32)
        two_s2 = np.float32(2 * self.sigma ** 2)
        # The weight (0 or 1) goes into the (K, w) factor: one pass over the (K, h, w) maps, not three.
        gx = np.exp(-((xs[None, :] - centre[:, :1].astype(np.float32)) ** 2) / two_s2) * in_x * weights[:, None]
        gy = np.exp(-((ys[None, :] - centre[:, 1:].astype(np.float32)) ** 2) / two_s2) * in_y
        return np.einsum("ky,kx->kyx", gy, gx), weights  # the outer products; einsum is the fastest here

    def _support(self, mu: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple:
        """Where the Gaussians of joints at ``mu`` ((K, 2) heatmap pixels) go.

        Returns:
            ul, br: (K, 2) corners of each window, heatmap pixels (br exclusive), for the weights;
            centre: (K, 2) the Gaussian centres; in_x (K, w), in_y (K, h): which columns and rows
            the Gaussian covers (or True for all).
        """
        raise NotImplementedError

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
        """Heatmaps -> joints in model-input pixels: the argmax, refined by this codec's method.

        Args:
            heatmaps: (N, K, h, w) float32.
        Returns:
            coords (N, K, 2) float32 model-input pixels, maxvals (N, K) float32 peak scores.
        """
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        coords, maxvals = self.argmax(heatmaps)
        coords = coords + self._refine(heatmaps, coords) * (maxvals > 0)[..., None]
        return (coords * self._feat_stride).astype(np.float32), maxvals

    def _refine(self, heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """(N, K, 2) sub-pixel offsets, heatmap pixels, of the integer peaks ``coords`` of ``heatmaps``."""
        raise NotImplementedError

    def _back_shift(self) -> float:
        """How far ``flip_back`` moves a mirrored heatmap to the right, heatmap pixels."""
        raise NotImplementedError

    def flip_back(self, heatmaps: np.ndarray, flip_index: np.ndarray) -> np.ndarray:
        """Heatmaps of horizontally mirrored inputs -> heatmaps in the unmirrored frame.

        Mirrors each map, swaps left/right channels (``flip_index``, (K,) int: the joint each output channel
        takes its map from) and undoes the misalignment (see ``flip_shift``) by this codec's shift, with
        linear interpolation for a fractional one.

        Args:
            heatmaps: (N, K, h, w) float32, outputs for mirrored inputs.
        Returns:
            (N, K, h, w) float32.
        """
        out = np.asarray(heatmaps, dtype=np.float32)[:, flip_index, :, ::-1]
        shift = self._back_shift()
        whole, frac = int(np.floor(shift)), shift - np.floor(shift)
        # out[x] <- out[x - shift]: columns that would come from left of the map repeat column 0.
        src = np.clip(np.arange(out.shape[3]) - whole, 0, None)
        moved = out[..., src]
        if frac:
            before = out[..., np.clip(src - 1, 0, None)]
            moved = (1 - frac) * moved + frac * before
        return np.ascontiguousarray(moved, dtype=np.float32)


class StandardCodec(HeatmapCodec):
    """GluonCV / Simple Baselines: integer-rounded Gaussians in a (6 sigma + 1) window, quarter-pixel decoding."""

    method = "standard"

    def _support(self, mu: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple:
        tmp = self.sigma * 3
        # int() truncates towards zero; np.trunc keeps GluonCV's rounding for negative coordinates too.
        mu = np.trunc(mu + 0.5)
        ul = np.trunc(mu - tmp)
        br = np.trunc(mu + tmp + 1)
        size = len(np.arange(0, 2 * tmp + 1, 1))  # window side, as np.arange sizes it
        centre = ul + (2 * tmp + 1) // 2          # window centre, heatmap pixels
        dx = xs[None, :] - ul[:, :1]              # (K, w) offset inside the window
        dy = ys[None, :] - ul[:, 1:]
        in_x = (dx >= 0) & (dx < size) & (xs[None, :] < br[:, :1])
        in_y = (dy >= 0) & (dy < size) & (ys[None, :] < br[:, 1:])
        return ul, br, centre, in_x, in_y

    def _refine(self, heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """GluonCV's refinement: 0.25 heatmap pixel towards the higher neighbour, away from the border."""
        n, k, h, w = heatmaps.shape
        px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
        py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
        inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
        pxc = np.clip(px, 1, w - 2)
        pyc = np.clip(py, 1, h - 2)
        ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
        dx = heatmaps[ni, ki, pyc, pxc + 1] - heatmaps[ni, ki, pyc, pxc - 1]
        dy = heatmaps[ni, ki, pyc + 1, pxc] - heatmaps[ni, ki, pyc - 1, pxc]
        return 0.25 * np.stack([np.sign(dx), np.sign(dy)], axis=-1) * inside[..., None]

    def _back_shift(self) -> float:
        return round(self.flip_shift)   # a whole heatmap pixel, as GluonCV and Simple Baselines


class DarkCodec(HeatmapCodec):
    """DARK: Gaussians on the exact sub-pixel position, decoding by a Newton step on the log heatmap."""

    method = "dark"

    def _support(self, mu: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple:
        # The whole Gaussian, so that its log stays a quadratic around the peak.
        tmp = self.sigma * 3
        return mu - tmp, mu + tmp + 1, mu, True, True

    def _refine(self, heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """DARK's refinement: offset = -H^-1 g of the log heatmap at the integer peak, heatmap pixels.

        Network heatmaps are not exact Gaussians, so each is first smoothed with a Gaussian kernel
        (as DARK does; a Gaussian stays one) and rescaled to its original peak. The map is first
        continued past its border (see ``_continue_log``), so that neither the smoothing nor the
        differences at a peak on the border see a cut-off Gaussian.
        """
        n, k, h, w = heatmaps.shape
        ksize = int(6 * self.sigma - 1) | 1
        r = ksize // 2
        flat = heatmaps.reshape(n * k, h, w).astype(np.float64)
        # r + 1: after the blur, one continued pixel remains on each side for the differences.
        wide = np.exp(_continue_log(np.log(np.maximum(flat, 1e-10)), r + 1)).astype(np.float32)
        smooth = np.stack([cv2.GaussianBlur(m, (ksize, ksize), 0, borderType=cv2.BORDER_REPLICATE)
                           for m in wide])[:, r:-r, r:-r] if len(wide) else wide
        peak_before = flat.reshape(n * k, -1).max(axis=1) if len(flat) else np.zeros(0)
        peak_after = smooth[:, 1:-1, 1:-1].reshape(n * k, -1).max(axis=1) if len(flat) else np.zeros(0)
        smooth *= (peak_before / np.maximum(peak_after, 1e-12))[:, None, None]
        logh = np.log(np.maximum(smooth, 1e-10)).reshape(n, k, h + 2, w + 2)
        px = coords[..., 0].astype(np.int64) + 1   # +1: the continued border
        py = coords[..., 1].astype(np.int64) + 1
        ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")

        def at(dy: int, dx: int) -> np.ndarray:
            return logh[ni, ki, py + dy, px + dx].astype(np.float64)

        c = at(0, 0)
        gx, gy = 0.5 * (at(0, 1) - at(0, -1)), 0.5 * (at(1, 0) - at(-1, 0))
        hxx, hyy = at(0, 1) - 2 * c + at(0, -1), at(1, 0) - 2 * c + at(-1, 0)
        hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
        det = hxx * hyy - hxy ** 2
        # Only a maximum (negative-definite Hessian) gives a meaningful step; a step longer than a
        # pixel means the quadratic model does not hold there, so keep the integer peak.
        ok = (det > 1e-12) & (hxx < 0)
        safe = np.where(ok, det, 1.0)
        ox = -(hyy * gx - hxy * gy) / safe
        oy = -(hxx * gy - hxy * gx) / safe
        ok &= (np.abs(ox) <= 1) & (np.abs(oy) <= 1)
        return (np.stack([ox, oy], axis=-1) * ok[..., None]).astype(np.float32)

    def _back_shift(self) -> float:
        return float(self.flip_shift)   # the exact fraction, by linear interpolation


METHODS = ("standard", "dark")
CODECS: dict[str, type[HeatmapCodec]] = {"standard": StandardCodec, "dark": DarkCodec}


def _continue_log(logh: np.ndarray, r: int) -> np.ndarray:
    """Continue (M, h, w) log heatmaps by ``r`` pixels on every side -> (M, h + 2r, w + 2r).

    Each row (then each column) goes on as the parabola through its last three values, the log of a
    Gaussian, when that parabola bends down, else as its last value; the continuation never exceeds
    the map's maximum, so it cannot invent a peak. An exact Gaussian is continued exactly, which is
    what makes decoding of a joint near the crop border as exact as in the middle.
    """
    t = np.arange(1, r + 1, dtype=np.float64)

    def along_last(a: np.ndarray) -> np.ndarray:
        parts = [a]
        for end in (a, a[..., ::-1]):   # the right side, then the left side mirrored
            e0, e1, e2 = end[..., -1], end[..., -2], end[..., -3]
            slope, curv = 1.5 * e0 - 2 * e1 + 0.5 * e2, 0.5 * e0 - e1 + 0.5 * e2
            ext = e0[..., None] + slope[..., None] * t + curv[..., None] * t ** 2
            ext = np.where((curv < 0)[..., None], ext, e0[..., None])
            parts = parts + [ext] if end is a else [ext[..., ::-1]] + parts
        return np.concatenate(parts, axis=-1)

    top = logh.reshape(len(logh), -1).max(axis=1)[:, None, None] if len(logh) else 0.0
    wide = np.swapaxes(along_last(np.swapaxes(along_last(logh), 1, 2)), 1, 2)
    return np.minimum(wide, top)
