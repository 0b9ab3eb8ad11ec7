"""Top-down crops: one person's crop and joints in the model input, with augmentation.

The train transform samples GluonCV's augmentation (scale, rotation, flip) from
an explicit ``numpy.random.Generator`` and folds the horizontal flip into the
crop (``geometry.Crop``), so each sample is one ``cv2.warpAffine`` of the decoded image.
A crop's geometry (matrix and joints, hence the targets) is computed before the
image is decoded, so the decoder can be told how much resolution the crop needs
(``geometry.decode_reduction``, ``geometry.reduced_matrix``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from simplepose.geometry import Crop
from simplepose.meta import KeypointMeta
from simplepose.data.coco import PersonRecord
from simplepose.zoo import IMAGENET_MEAN, IMAGENET_STD

HALF_BODY_PADDING = 1.5   # a half-body crop is the box of its joints times this (GluonCV)


def warp(image: np.ndarray, matrix: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """One bilinear warp of (H, W, 3) uint8 ``image`` by ``matrix`` (image pixels -> model-input pixels)
    -> (h, w, 3) uint8 crop of ``input_size`` = (h, w), same channel order."""
    h, w = input_size
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR)


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


def normalize_batch(crops: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(B, h, w, 3) uint8 BGR crops -> (B, 3, h, w) float32 RGB model input, the numbers of
    ``runtime.mxnet.InputNormalizer`` (for a runtime without MXNet)."""
    out = np.empty((len(crops), 3) + crops.shape[1:3], np.float32)
    for i, crop in enumerate(crops):
        out[i] = normalize(crop, mean, std, bgr=True)
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
        mean, std: per RGB channel, in [0, 1] units, for ``render``.
    """

    def __init__(self, input_size: tuple[int, int] = (256, 192),
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.mean, self.std = tuple(mean), tuple(std)

    @staticmethod
    def place(joints: np.ndarray, crop: Crop) -> np.ndarray:
        """(K, 3) joints in image pixels -> (K, 3) float32 in ``crop``'s model-input pixels.

        The visibility column is kept; joints are not reordered here.
        """
        out = joints.astype(np.float32, copy=True)
        out[:, :2] = crop.to_input(joints[:, :2])
        return out

    def warp(self, image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """One bilinear warp of (H, W, 3) uint8 ``image`` by ``matrix`` -> (h, w, 3) uint8 crop, same channel order."""
        return warp(image, matrix, self.input_size)

    def render(self, image: np.ndarray, crop: Crop, bgr: bool = False) -> np.ndarray:
        """One warp of (H, W, 3) uint8 RGB (BGR with ``bgr``) ``image`` to ``crop``
        -> input (3, h, w) float32 RGB normalised."""
        return normalize(self.warp(image, crop.matrix), self.mean, self.std, bgr)

    def geometry(self, record: PersonRecord) -> tuple[Crop, np.ndarray]:
        """``record``'s crop (its box's) and its joints (K, 3) in model-input pixels, before any pixel is touched."""
        crop = Crop.from_box(record.bbox, self.input_size)
        return crop, self.place(record.joints, crop)

    def __call__(self, image: np.ndarray, record: PersonRecord) -> tuple[np.ndarray, np.ndarray]:
        crop, joints = self.geometry(record)
        return self.render(image, crop), joints


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

    def geometry(self, record: PersonRecord, aug: Augmentation | None = None) -> tuple[Crop, np.ndarray]:
        """``record``'s crop under ``aug`` (none: the plain box crop) and its joints.

        Returns:
            the crop; joints (K, 3) float32, model-input pixels, left/right swapped when flipped.
        """
        aug = aug or Augmentation()
        pts = record.joints[list(aug.half_body or ()), :2]
        lo, hi = (pts.min(axis=0), pts.max(axis=0)) if len(pts) else (0, 0)
        if aug.half_body is not None and np.all(hi - lo >= 1):
            crop = Crop.from_box(np.concatenate([lo, hi]), self.input_size, HALF_BODY_PADDING)
        else:  # no half-body draw, or its joints (nearly) coincide: the person's box
            crop = Crop.from_box(record.bbox, self.input_size)
        crop = crop.augmented(aug.scale_mult, aug.rotation, aug.flip)
        joints = record.joints[self.flip_index] if aug.flip else record.joints
        return crop, self.place(joints, crop)

    def apply(self, image: np.ndarray, record: PersonRecord, aug: Augmentation) -> tuple[np.ndarray, np.ndarray]:
        """Crop ``record`` from ``image`` under a given augmentation.

        Returns:
            input (3, h, w) float32 normalised; joints (K, 3) float32, model-input pixels,
            left/right swapped when flipped.
        """
        crop, joints = self.geometry(record, aug)
        return self.render(image, crop), joints

    def __call__(self, image: np.ndarray, record: PersonRecord,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.apply(image, record, self.sample(record, rng or np.random.default_rng()))
