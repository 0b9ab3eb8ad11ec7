"""Top-down crops: affine warp of one person into the model input, with augmentation.

The train transform samples GluonCV's augmentation (scale, rotation, flip) from
an explicit ``numpy.random.Generator`` and folds the horizontal flip into the
affine matrix, so each sample is one ``cv2.warpAffine`` of the decoded image.
A crop's geometry (matrix and joints, hence the targets) is computed before the
image is decoded, so the decoder can be told how much resolution the crop needs
(``decode_reduction``, ``reduced_matrix``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from ..meta import KeypointMeta
from .coco import PersonRecord, box_to_center_scale

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def affine_matrix(center: np.ndarray, scale: np.ndarray, rotation: float,
                  output_size: tuple[int, int], flip: bool = False) -> np.ndarray:
    """(2, 3) float64 matrix from image pixels to output pixels.

    The crop of width ``scale[0]`` (image pixels) centred on ``center`` and
    rotated by ``rotation`` degrees (counter-clockwise on screen) fills an
    output of ``output_size`` = (width, height) pixels. With ``flip`` the crop
    is mirrored horizontally about its centre. That is exactly GluonCV's
    flip-then-crop (mirror the image, x -> W - 1 - x, and crop around the
    mirrored centre): the image width cancels out, so the matrix is known
    before the image is decoded.
    """
    cx, cy = float(center[0]), float(center[1])
    k = output_size[0] / float(scale[0])
    t = math.radians(rotation)
    cos, sin = math.cos(t) * k, math.sin(t) * k
    # Rotate by -rotation and scale about the crop centre, then move it to the output centre.
    tx, ty = output_size[0] * 0.5 - cos * cx - sin * cy, output_size[1] * 0.5 + sin * cx - cos * cy
    if flip:  # mirror about the crop centre first, x -> 2 cx - x: negate the x column, shift by 2 cx
        return np.array([[-cos, sin, tx + 2.0 * cx * cos], [sin, cos, ty - 2.0 * cx * sin]])
    return np.array([[cos, sin, tx], [-sin, cos, ty]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (N, 2) points; returns (N, 2) float32."""
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def source_region(matrix: np.ndarray, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), source pixels that a bilinear ``cv2.warpAffine`` by ``matrix`` reads.

    ``matrix`` maps source pixels to output pixels; ``output_size`` is (w, h). The box of the
    output pixel centres mapped back, widened by two pixels each side: one for the bilinear
    neighbour, one for OpenCV's 1/32-pixel rounding of the source coordinates.
    """
    w, h = output_size
    inv = cv2.invertAffineTransform(matrix)
    corners = np.array([[0.0, 0.0], [w - 1.0, 0.0], [0.0, h - 1.0], [w - 1.0, h - 1.0]]) @ inv[:, :2].T + inv[:, 2]
    lo, hi = np.floor(corners.min(axis=0)), np.floor(corners.max(axis=0))
    return int(lo[0]) - 2, int(lo[1]) - 2, int(hi[0]) + 3, int(hi[1]) + 3


def crop_to_image(points: np.ndarray, center: np.ndarray, scale: np.ndarray,
                  output_size: tuple[int, int]) -> np.ndarray:
    """Inverse of an unrotated, unflipped crop: model-input pixels back to image pixels.

    Args:
        points: (N, K, 2) model-input pixels (x, y).
        center, scale: (N, 2) each, image pixels, as given to ``affine_matrix``.
        output_size: model input (width, height), pixels.
    Returns:
        (N, K, 2) float32 image pixels.
    """
    # affine_matrix maps x to (x - cx) * k + w / 2 with k = w / scale_w on both axes.
    k = (output_size[0] / np.asarray(scale, np.float64)[:, 0])[:, None, None]
    half = np.array([output_size[0] * 0.5, output_size[1] * 0.5])
    return ((points - half) / k + np.asarray(center, np.float64)[:, None, :]).astype(np.float32)


DECODE_REDUCTIONS = (1, 2, 4, 8)


def decode_reduction(matrix: np.ndarray, max_reduction: int = 8) -> int:
    """Largest JPEG decode reduction (1, 2, 4 or 8) that keeps the crop at full detail.

    ``matrix`` maps image pixels to output pixels. A reduction ``r`` is allowed when
    ``r`` image pixels still span at most one output pixel, i.e. the crop is
    downsampled by at least ``r``: then the 1/r decode (JPEG's DCT scaling, an
    r x r box filter) loses nothing the warp would have kept, and it aliases less.
    """
    zoom = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))  # output pixels per image pixel
    best = 1
    for r in DECODE_REDUCTIONS:
        if r <= max_reduction and r * zoom <= 1.0 + 1e-9:  # exact 1/r zooms up to rounding
            best = r
    return best


def reduced_matrix(matrix: np.ndarray, reduction: int) -> np.ndarray:
    """The (2, 3) matrix of ``matrix`` (image pixels -> output) for the image decoded at 1/``reduction``.

    Reduced pixel i covers image pixels r*i .. r*i + r - 1, so its centre is the
    image coordinate ``r * i + (r - 1) / 2``; composing with that map keeps the
    crop exactly where the full-resolution warp puts it.
    """
    if reduction == 1:
        return matrix
    r = float(reduction)
    m = matrix.copy()
    m[:, :2] *= r
    m[:, 2] += matrix[:, :2].sum(axis=1) * (r - 1) * 0.5
    return m


def normalize(image: np.ndarray, mean: Sequence[float], std: Sequence[float], bgr: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 RGB (or BGR with ``bgr``) -> (3, H, W) float32 RGB, (pixel / 255 - mean) / std.

    Written plane by plane into the channel-first output: no float copy of the
    whole image and no float transpose (which cost 10x more than this); a BGR
    image's planes are just taken in reverse order.
    """
    scale = np.float32(1 / 255) / np.asarray(std, np.float32)
    shift = np.asarray(mean, np.float32) / np.asarray(std, np.float32)
    out = np.empty((3,) + image.shape[:2], np.float32)
    planes = cv2.split(image)
    for c, plane in enumerate(planes[::-1] if bgr else planes):
        np.multiply(plane, scale[c], out=out[c], dtype=np.float32)
        out[c] -= shift[c]
    return out


@dataclass(frozen=True)
class Augmentation:
    """One draw of the train augmentation.

    scale_mult: crop size multiplier; rotation: degrees; flip: mirror horizontally;
    half_body: joint indices whose box replaces the person's box, or None.
    """

    scale_mult: float = 1.0
    rotation: float = 0.0
    flip: bool = False
    half_body: tuple[int, ...] | None = None


class ValTransform:
    """Crop a person without augmentation.

    Args:
        input_size: (height, width) of the model input, pixels.
    """

    def __init__(self, input_size: tuple[int, int] = (256, 192),
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.aspect_ratio = self.input_size[1] / self.input_size[0]
        self.mean, self.std = tuple(mean), tuple(std)

    def place(self, joints: np.ndarray, center: np.ndarray, scale: np.ndarray,
              rotation: float = 0.0, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Geometry of one crop, before any pixel is touched.

        Args:
            joints: (K, 3) image pixels. center, scale: (2,) image pixels.
        Returns:
            matrix (2, 3) float64, image pixels -> model-input pixels; joints (K, 3) float32 in
            model-input pixels (same visibility; joints are not reordered here).
        """
        h, w = self.input_size
        m = affine_matrix(center, scale, rotation, (w, h), flip)
        out = joints.astype(np.float32, copy=True)
        out[:, :2] = transform_points(joints[:, :2], m)
        return m, out

    def warp(self, image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """One bilinear warp of (H, W, 3) uint8 ``image`` by ``matrix`` -> (h, w, 3) uint8 crop, same channel order."""
        h, w = self.input_size
        return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR)

    def render(self, image: np.ndarray, matrix: np.ndarray, bgr: bool = False) -> np.ndarray:
        """One warp of (H, W, 3) uint8 RGB (BGR with ``bgr``) ``image`` by ``matrix``
        -> input (3, h, w) float32 RGB normalised."""
        return normalize(self.warp(image, matrix), self.mean, self.std, bgr)

    def crop(self, image: np.ndarray, joints: np.ndarray, center: np.ndarray, scale: np.ndarray,
             rotation: float = 0.0, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Warp one crop: input (3, h, w) float32 normalised, joints (K, 3) model-input pixels (see ``place``)."""
        m, out = self.place(joints, center, scale, rotation, flip)
        return self.render(image, m), out

    def geometry(self, record: PersonRecord) -> tuple[np.ndarray, np.ndarray]:
        """(matrix, joints) of ``record``'s crop; see ``place``."""
        center, scale = box_to_center_scale(record.bbox, self.aspect_ratio)
        return self.place(record.joints, center, scale)

    def __call__(self, image: np.ndarray, record: PersonRecord) -> tuple[np.ndarray, np.ndarray]:
        m, joints = self.geometry(record)
        return self.render(image, m), joints


class TrainTransform(ValTransform):
    """GluonCV-equivalent train augmentation, with optional half-body crops.

    Args:
        meta: keypoint metadata (flip pairs, upper/lower body).
        input_size: (height, width) of the model input, pixels.
        scale_factor: crop scale multiplier ~ clip(N(1, sf), 1 - sf, 1 + sf).
        rotation_factor: rotation ~ clip(N(0, rf), -2 rf, 2 rf) degrees, applied with ``rotation_prob``.
        flip_prob: probability of a horizontal flip (left/right joints are swapped).
        half_body_prob: probability of cropping to the upper or lower body when more than
            ``half_body_min_joints`` joints are labelled (0 disables it, as in GluonCV).
    """

    def __init__(self, meta: KeypointMeta, input_size: tuple[int, int] = (256, 192),
                 scale_factor: float = 0.30, rotation_factor: float = 40.0, rotation_prob: float = 0.6,
                 flip_prob: float = 0.5, half_body_prob: float = 0.0, half_body_min_joints: int = 8,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        super().__init__(input_size, mean, std)
        self.meta = meta
        self.flip_index = meta.flip_index
        self.scale_factor = scale_factor
        self.rotation_factor = rotation_factor
        self.rotation_prob = rotation_prob
        self.flip_prob = flip_prob
        self.half_body_prob = half_body_prob
        self.half_body_min_joints = half_body_min_joints

    def sample(self, record: PersonRecord, rng: np.random.Generator) -> Augmentation:
        """Draw an augmentation for ``record`` (GluonCV's distributions)."""
        half = None
        if self.half_body_prob > 0:
            labelled = np.flatnonzero(record.joints[:, 2] > 0)
            if len(labelled) > self.half_body_min_joints and rng.random() < self.half_body_prob:
                upper = [i for i in labelled if i in self.meta.upper_body]
                lower = [i for i in labelled if i in self.meta.lower_body]
                part = upper if rng.random() < 0.5 else lower
                half = tuple(int(i) for i in (part if len(part) >= 2 else (upper if len(upper) >= 2 else lower)))
                half = half if len(half) >= 2 else None
        sf, rf = self.scale_factor, self.rotation_factor
        # Python's min/max on floats: np.clip costs 10x more on a scalar.
        scale_mult = min(max(rng.standard_normal() * sf + 1, 1 - sf), 1 + sf)
        rotation = min(max(rng.standard_normal() * rf, -2 * rf), 2 * rf) if rng.random() <= self.rotation_prob else 0.0
        flip = bool(rng.random() < self.flip_prob)
        return Augmentation(scale_mult, rotation, flip, half)

    def geometry(self, record: PersonRecord, aug: Augmentation | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(matrix, joints) of ``record``'s crop under ``aug`` (none: the plain box crop).

        Returns:
            matrix (2, 3) float64, image pixels -> model-input pixels; joints (K, 3) float32,
            model-input pixels, left/right swapped when flipped.
        """
        aug = aug or Augmentation()
        pts = record.joints[list(aug.half_body or ()), :2]
        lo, hi = (pts.min(axis=0), pts.max(axis=0)) if len(pts) else (0, 0)
        if aug.half_body is not None and np.all(hi - lo >= 1):
            center, scale = box_to_center_scale(np.concatenate([lo, hi]), self.aspect_ratio, padding=1.5)
        else:  # no half-body draw, or its joints (nearly) coincide: the person's box
            center, scale = box_to_center_scale(record.bbox, self.aspect_ratio)
        joints = record.joints[self.flip_index] if aug.flip else record.joints
        return self.place(joints, center, scale * aug.scale_mult, aug.rotation, aug.flip)

    def apply(self, image: np.ndarray, record: PersonRecord, aug: Augmentation) -> tuple[np.ndarray, np.ndarray]:
        """Crop ``record`` from ``image`` under a given augmentation.

        Returns:
            input (3, h, w) float32 normalised; joints (K, 3) float32, model-input pixels,
            left/right swapped when flipped.
        """
        m, joints = self.geometry(record, aug)
        return self.render(image, m), joints

    def __call__(self, image: np.ndarray, record: PersonRecord,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.apply(image, record, self.sample(record, rng or np.random.default_rng()))
