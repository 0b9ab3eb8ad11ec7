"""Person crops: the matrix, its exact inverse, boxes to crops, and OpenCV's inverse without OpenCV."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from simplepose.geometry import Crop, invert_affine, source_region, transform_points


def random_crops(n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield Crop(tuple(rng.uniform(0, 600, 2)), tuple(rng.uniform(20, 400, 2)), (256, 192),
                   float(rng.choice([0.0, rng.uniform(-80, 80)])), bool(rng.random() < 0.5))


def test_to_image_is_the_inverse_of_the_matrix():
    pts = np.random.default_rng(1).uniform(-50, 300, (40, 2))
    for crop in random_crops(200):
        back = crop.to_image(crop.to_input(pts))
        np.testing.assert_allclose(back, pts, atol=2e-3)   # float32 round trip of image coordinates
        # The same map as inverting the matrix.
        inv = cv2.invertAffineTransform(crop.matrix)
        q = np.random.default_rng(2).uniform(0, 200, (5, 2))
        np.testing.assert_allclose(crop.to_image(q), transform_points(q, inv), atol=1e-3)


def test_to_image_of_an_unrotated_crop_is_simple_baselines_formula_bit_for_bit():
    """(p - input_centre) / zoom + crop centre, in float64, then float32: nothing else touches the numbers."""
    crop = Crop.from_box(np.array([13.5, 20.25, 77.0, 190.5], np.float32), (64, 48))
    p = np.random.default_rng(3).uniform(0, 64, (17, 2)).astype(np.float32)
    k = 48 / crop.size[1]
    expected = ((p - np.array([24.0, 32.0])) / k + np.array(crop.center)).astype(np.float32)
    np.testing.assert_array_equal(crop.to_image(p), expected)


def test_flip_mirrors_about_the_crop_centre():
    crop = Crop((100.0, 50.0), (80.0, 60.0), (64, 48), 30.0)
    mirrored = Crop((100.0, 50.0), (80.0, 60.0), (64, 48), 30.0, flip=True)
    pts = np.array([[90.0, 40.0], [130.0, 70.0]])
    # Mirroring the image point about x = 100 and cropping equals cropping with the flip.
    np.testing.assert_allclose(mirrored.to_input(pts), crop.to_input(np.c_[200.0 - pts[:, 0], pts[:, 1]]),
                               atol=1e-5)


def test_box_becomes_the_input_aspect_ratio_padded():
    # A 40 x 120 (w x h) box for a 64 x 48 (h x w) input: widened to 90 x 120, padded 1.25.
    crop = Crop.from_box(np.array([10.0, 20.0, 50.0, 140.0]), (64, 48))
    assert crop.center == (30.0, 80.0) and crop.size == (150.0, 112.5) and crop.area == 150.0 * 112.5
    # A wide box grows in height instead.
    assert Crop.from_box(np.array([0.0, 0.0, 120.0, 40.0]), (64, 48)).size == (200.0, 150.0)
    # The crop fills the input: its corners land on the input's edges.
    corners = np.array([[30 - 56.25, 80 - 75.0], [30 + 56.25, 80 + 75.0]])
    np.testing.assert_allclose(crop.to_input(corners), [[0, 0], [48, 64]], atol=1e-4)
    # Augmented: scale in float32 (as GluonCV), rotation and flip carried.
    big = crop.augmented(1.3, 20.0, True)
    assert big.size == tuple(float(v) for v in np.float32([150.0, 112.5]) * 1.3) and big.rotation == 20.0 and big.flip


def test_matrix_is_gluoncvs_affine_transform():
    from gluoncv.data.transforms.pose import get_affine_transform
    for crop in random_crops(50, seed=4):
        if crop.flip:
            continue
        theirs = get_affine_transform(np.array(crop.center), np.array(crop.size[::-1]), crop.rotation,
                                      crop.input_size[::-1])
        np.testing.assert_allclose(crop.matrix, theirs, rtol=1e-4, atol=1e-2)   # GluonCV solves in float32


def test_invert_affine_is_opencvs_bit_for_bit():
    rng = np.random.default_rng(5)
    for _ in range(2000):
        m = rng.normal(size=(2, 3)) * rng.choice([0.01, 1.0, 300.0], size=(2, 3))
        np.testing.assert_array_equal(invert_affine(m), cv2.invertAffineTransform(m))
    np.testing.assert_array_equal(invert_affine(np.zeros((2, 3))), cv2.invertAffineTransform(np.zeros((2, 3))))


def test_source_region_covers_what_the_warp_reads():
    """Blanking every pixel outside the region leaves the crop as it was."""
    crop = Crop((60.0, 50.0), (40.0, 30.0), (32, 24), 25.0)
    x0, y0, x1, y1 = source_region(crop.matrix, crop.input_size)
    image = np.random.default_rng(6).integers(0, 256, (120, 140, 3), np.uint8)
    outside = image.copy()
    outside[:, :max(x0, 0)] = 0
    outside[:, x1:] = 0
    outside[:max(y0, 0)] = 0
    outside[y1:] = 0
    warp = lambda im: cv2.warpAffine(im, crop.matrix, (24, 32), flags=cv2.INTER_LINEAR)   # noqa: E731
    np.testing.assert_array_equal(warp(outside), warp(image))
    assert 0 < x0 < x1 < 140 and 0 < y0 < y1 < 120


def test_geometry_imports_neither_opencv_nor_mxnet():
    code = ("import sys, simplepose.geometry; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cv2', 'mxnet')))")
    res = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stderr
