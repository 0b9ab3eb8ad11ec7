"""Where a model input sits in an image: a person crop, its matrix and its exact inverse.

Coordinates are pixels with x right and y down, a pixel's centre on integer coordinates
(OpenCV's ``warpAffine`` convention), in one of three spaces: *image* pixels, *model-input*
pixels (the crop, ``input_size`` = (height, width)) and *heatmap* pixels (``STRIDE`` model-input
pixels each). Every size in this package is (height, width), as NumPy shapes are; points are
(x, y). Crop sizes are image pixels (no ``pixel_std = 200``: convert an MPII-style ``scale`` at
the edge, ``size = 200 * scale``).

NumPy and the standard library only, so that an ONNX Runtime deployment and the data workers
can use it without MXNet or OpenCV.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Model-input pixels per heatmap pixel: three stride-2 deconvolutions after a stride-32 backbone.
STRIDE = 4
BOX_PADDING = 1.25                 # a person's crop is its box, widened to the input's aspect ratio, times this
DECODE_REDUCTIONS = (1, 2, 4, 8)   # the JPEG DCT scalings libjpeg offers


@dataclass(frozen=True)
class Crop:
    """The part of an image one model input shows.

    Attributes:
        center: (x, y) image pixels, the crop's centre (mapped to the input's centre).
        size: (height, width) image pixels covered before rotation; its width sets the zoom
            (``input_size[1] / size[1]`` input pixels per image pixel, on both axes).
        input_size: (height, width) of the model input, pixels.
        rotation: degrees, counter-clockwise on screen.
        flip: mirrored horizontally about the centre, which is GluonCV's flip-then-crop
            (mirror the image, x -> W - 1 - x, and crop around the mirrored centre): the image
            width cancels out, so the matrix is known before the image is decoded.
    Values are float32 numbers held as Python floats (Simple Baselines computes them in float32;
    the matrices are float64 functions of them).
    """

    center: tuple[float, float]
    size: tuple[float, float]
    input_size: tuple[int, int]
    rotation: float = 0.0
    flip: bool = False

    @classmethod
    def from_box(cls, box: np.ndarray, input_size: tuple[int, int], padding: float = BOX_PADDING) -> "Crop":
        """The crop of a person box: the box widened to the input's aspect ratio, then padded.

        Args:
            box: (4,) (x0, y0, x1, y1), image pixels.
            input_size: (height, width) of the model input.
        """
        aspect_ratio = input_size[1] / input_size[0]   # width / height
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = x1 - x0, y1 - y0
        center = np.array([x0 + w * 0.5, y0 + h * 0.5], dtype=np.float32)
        if w > aspect_ratio * h:
            h = w / aspect_ratio
        elif w < aspect_ratio * h:
            w = h * aspect_ratio
        wh = np.array([w, h], dtype=np.float32) * padding   # float32 arithmetic, as Simple Baselines
        return cls((float(center[0]), float(center[1])), (float(wh[1]), float(wh[0])),
                   (int(input_size[0]), int(input_size[1])))

    def augmented(self, scale_mult: float, rotation: float, flip: bool) -> "Crop":
        """This crop ``scale_mult`` times larger (in float32, as GluonCV), with ``rotation`` and ``flip``."""
        size = np.asarray(self.size, np.float32) * scale_mult
        return Crop(self.center, (float(size[0]), float(size[1])), self.input_size, rotation, flip)

    @property
    def area(self) -> float:
        """height x width, image pixels squared (Simple Baselines' area of a pose for OKS-NMS)."""
        return self.size[0] * self.size[1]

    @cached_property
    def matrix(self) -> np.ndarray:
        """(2, 3) float64 affine matrix, image pixels -> model-input pixels (computed once, read-only)."""
        h, w = self.input_size
        cx, cy = self.center
        k = w / self.size[1]
        t = math.radians(self.rotation)
        cos, sin = math.cos(t) * k, math.sin(t) * k
        # Rotate by -rotation and scale about the crop centre, then move it to the input's centre.
        tx, ty = w * 0.5 - cos * cx - sin * cy, h * 0.5 + sin * cx - cos * cy
        if self.flip:  # mirror about the crop centre first, x -> 2 cx - x: negate the x column, shift by 2 cx
            m = np.array([[-cos, sin, tx + 2.0 * cx * cos], [sin, cos, ty - 2.0 * cx * sin]])
        else:
            m = np.array([[cos, sin, tx], [-sin, cos, ty]])
        m.setflags(write=False)   # shared by every use of this crop
        return m

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) image pixels -> (N, 2) float32 model-input pixels."""
        return transform_points(points, self.matrix)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) model-input pixels -> (..., 2) float32 image pixels: the exact inverse of ``matrix``.

        Undoes the steps of ``matrix`` one by one (move to the crop centre, unscale, unrotate,
        unmirror) rather than multiplying by an inverted matrix, so that an unrotated crop maps back
        with one subtraction, one division and one addition per coordinate, as Simple Baselines does.
        """
        h, w = self.input_size
        k = w / self.size[1]
        q = (np.asarray(points) - np.array([w * 0.5, h * 0.5])) / k   # image pixels about the centre, rotated
        t = math.radians(self.rotation)
        cos, sin = math.cos(t), math.sin(t)
        x = q[..., 0] * cos - q[..., 1] * sin
        y = q[..., 0] * sin + q[..., 1] * cos
        if self.flip:
            x = -x
        return np.stack([x + self.center[0], y + self.center[1]], axis=-1).astype(np.float32)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (N, 2) points; returns (N, 2) float32."""
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The (2, 3) inverse of a (2, 3) affine matrix, by OpenCV's ``invertAffineTransform`` arithmetic.

    The same float64 operations in the same order, so the result equals OpenCV's bit for bit
    (``tests/test_geometry.py``); a singular matrix gives zeros, as there.
    """
    (a11, a12, b1), (a21, a22, b2) = (float(v) for v in matrix[0]), (float(v) for v in matrix[1])
    d = a11 * a22 - a12 * a21
    d = 1.0 / d if d != 0 else 0.0
    i11, i22, i12, i21 = a22 * d, a11 * d, -a12 * d, -a21 * d
    return np.array([[i11, i12, -i11 * b1 - i12 * b2], [i21, i22, -i21 * b1 - i22 * b2]])


def source_region(matrix: np.ndarray, input_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), source pixels that a bilinear ``cv2.warpAffine`` by ``matrix`` reads.

    ``matrix`` maps source pixels to model-input pixels; ``input_size`` is (height, width). The box
    of the input pixel centres mapped back, widened by two pixels each side: one for the bilinear
    neighbour, one for OpenCV's 1/32-pixel rounding of the source coordinates.
    """
    h, w = input_size
    inv = invert_affine(matrix)
    corners = np.array([[0.0, 0.0], [w - 1.0, 0.0], [0.0, h - 1.0], [w - 1.0, h - 1.0]]) @ inv[:, :2].T + inv[:, 2]
    lo, hi = np.floor(corners.min(axis=0)), np.floor(corners.max(axis=0))
    return int(lo[0]) - 2, int(lo[1]) - 2, int(hi[0]) + 3, int(hi[1]) + 3


def decode_reduction(matrix: np.ndarray, max_reduction: int = 8) -> int:
    """Largest JPEG decode reduction (1, 2, 4 or 8) that keeps the crop at full detail.

    ``matrix`` maps image pixels to model-input pixels. A reduction ``r`` is allowed when
    ``r`` image pixels still span at most one input pixel, i.e. the crop is
    downsampled by at least ``r``: then the 1/r decode (JPEG's DCT scaling, an
    r x r box filter) loses nothing the warp would have kept, and it aliases less.
    """
    zoom = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))  # input pixels per image pixel
    best = 1
    for r in DECODE_REDUCTIONS:
        if r <= max_reduction and r * zoom <= 1.0 + 1e-9:  # exact 1/r zooms up to rounding
            best = r
    return best


def reduced_matrix(matrix: np.ndarray, reduction: int) -> np.ndarray:
    """The (2, 3) matrix of ``matrix`` (image pixels -> input) for the image decoded at 1/``reduction``.

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


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """(M, 4) (x0, y0, x1, y1) image pixels -> (M,) float64 areas, image pixels squared."""
    boxes = np.asarray(boxes, np.float64)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) float64 areas of the intersections of boxes (A, 4) and (B, 4), (x0, y0, x1, y1) image pixels."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(hi - lo, 0, None), axis=-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) float64 intersection over union of boxes (A, 4) and (B, 4), (x0, y0, x1, y1) image pixels;
    0 for two empty boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    inter = box_intersections(a, b)
    return inter / np.maximum(box_areas(a)[:, None] + box_areas(b)[None, :] - inter, np.spacing(1))
