"""The fast sample path: geometry before decoding, reduced JPEG decoding, fused normalisation, loader workers."""
import os

import cv2
import numpy as np
import pytest

from simplepose.codec import HeatmapCodec
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.samples import PoseSamples
from simplepose.data.transforms import TrainTransform, normalize
from simplepose.geometry import Crop, decode_reduction, reduced_matrix, source_region, transform_points
from simplepose.training.loader import pose_loader

# A small input makes the session's 320x240 figures downsampled 2-4x: the reduced paths run.
SIZE = (64, 48)


def test_decode_reduction_keeps_at_least_one_image_pixel_per_output_pixel():
    for zoom, expected in [(1.3, 1), (0.51, 1), (0.5, 2), (0.3, 2), (0.25, 4), (0.2, 4), (0.125, 8), (0.05, 8)]:
        for rotation in (0.0, 37.0):
            m = Crop((100.0, 80.0), (64 / zoom, 48 / zoom), (64, 48), rotation).matrix
            assert decode_reduction(m) == expected, (zoom, rotation)
    m = Crop((100.0, 80.0), (640.0, 480.0), (64, 48)).matrix
    assert decode_reduction(m, max_reduction=2) == 2


def test_reduced_matrix_puts_reduced_pixels_where_their_image_pixels_go():
    m = Crop((150.0, 90.0), (260.0, 200.0), (64, 48), 25.0, flip=True).matrix
    reduced_pts = np.array([[0.0, 0.0], [10.0, 7.0], [33.5, 2.25]])
    for r in (2, 4, 8):
        # Reduced pixel i covers image pixels r*i .. r*i + r - 1: its centre is r*i + (r - 1) / 2.
        np.testing.assert_allclose(transform_points(reduced_pts, reduced_matrix(m, r)),
                                   transform_points(reduced_pts * r + (r - 1) / 2, m), atol=1e-4)
    assert reduced_matrix(m, 1) is m


def test_flip_matrix_is_gluoncvs_flip_then_crop():
    """Mirroring about the crop centre equals mirroring the image (x -> W - 1 - x) and cropping there."""
    center, size, rot, width = (120.0, 70.0), (120.0, 90.0), -20.0, 321
    pts = np.array([[5.0, 9.0], [200.0, 100.0], [120.0, 70.0]])
    mirrored = np.stack([width - 1 - pts[:, 0], pts[:, 1]], axis=1)
    plain = Crop((width - 1 - center[0], center[1]), size, (64, 48), rot)
    np.testing.assert_allclose(Crop(center, size, (64, 48), rot, flip=True).to_input(pts),
                               transform_points(mirrored, plain.matrix), atol=1e-4)


def test_normalize_is_the_plain_formula():
    image = np.random.default_rng(0).integers(0, 256, (17, 13, 3), dtype=np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ref = ((image / 255.0 - np.array(mean)) / np.array(std)).transpose(2, 0, 1)
    out = normalize(image, mean, std)
    assert out.shape == (3, 17, 13) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, ref, atol=2e-6)
    np.testing.assert_array_equal(normalize(np.ascontiguousarray(image[..., ::-1]), mean, std, bgr=True), out)


def test_device_normalisation_equals_the_numpy_one():
    """Training normalises the loader's uint8 BGR crops on the device; evaluation and export use NumPy."""
    import mxnet as mx
    from simplepose.runtime.mxnet import InputNormalizer
    crops = np.random.default_rng(1).integers(0, 256, (4, 17, 13, 3), dtype=np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ref = np.stack([normalize(c, mean, std, bgr=True) for c in crops])
    to_input = InputNormalizer(mean, std)
    for ctx in (mx.cpu(0), mx.cpu(1)):
        out = to_input(mx.nd.array(crops, ctx=ctx, dtype="uint8"))
        assert out.context == ctx and out.dtype == np.float32 and out.shape == (4, 3, 17, 13)
        np.testing.assert_array_equal(out.asnumpy(), ref)  # bit for bit


def test_reduced_decode_keeps_targets_and_crops_within_tolerance(synthetic):
    ds = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    tf = TrainTransform(ds.meta, SIZE)
    codec = HeatmapCodec(SIZE)
    reduced = PoseSamples(ds, tf, codec, seed=1, reduced_decode=True)
    full = PoseSamples(ds, tf, codec, seed=1, reduced_decode=False)
    used, diffs, to_box, misregistered = [], [], [], []
    for idx in range(len(ds)):
        rec = ds.records[idx]
        matrix = tf.geometry(rec, tf.sample(rec, np.random.default_rng([1, 0, idx])))[0].matrix
        r = decode_reduction(matrix)
        used.append(r)
        crop, heatmaps, weights = reduced[idx]
        ref_crop, ref_heatmaps, ref_weights = full[idx]
        assert crop.shape == SIZE + (3,) and crop.dtype == np.uint8
        # Targets never see the pixels: identical, bit for bit.
        np.testing.assert_array_equal(heatmaps, ref_heatmaps)
        np.testing.assert_array_equal(weights, ref_weights)
        if r == 1:
            np.testing.assert_array_equal(crop, ref_crop)
            continue
        crop = crop.astype(np.float32)
        diffs.append(np.abs(crop - ref_crop))
        # Against an r x r box filter of the full image (what DCT scaling approximates), warped by the
        # reduced matrix, and against the same warp without the half-block offset.
        image = ds.read(idx, rgb=False)
        box = cv2.resize(image, (image.shape[1] // r, image.shape[0] // r), interpolation=cv2.INTER_AREA)
        to_box.append(np.abs(crop - tf.warp(box, reduced_matrix(matrix, r))).mean())
        shifted = matrix.copy()
        shifted[:, :2] *= r
        misregistered.append(np.abs(crop - tf.warp(box, shifted)).mean())
    assert used.count(2) >= 10 and used.count(4) >= 3
    diffs = np.concatenate([d.ravel() for d in diffs])
    # The README's stated difference from full decoding: mean about 2 grey levels on these figures'
    # sharp edges, 99% of pixels within 30.
    assert diffs.mean() < 4 and np.quantile(diffs, 0.99) < 40
    # Registration: the reduced crop sits on the box-filtered image, not half a block off.
    assert np.mean(to_box) < 2.5 and np.mean(to_box) < 0.6 * np.mean(misregistered)


def test_region_decoding_gives_the_crops_of_whole_images(synthetic):
    """Each sample decodes only the part of its image the warp reads: the crop is the same, bit for bit."""
    ds = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    tf = TrainTransform(ds.meta, SIZE)
    samples = PoseSamples(ds, tf, HeatmapCodec(SIZE), seed=4, reduced_decode=True)
    decoded = []
    for idx in range(len(ds)):
        rec = ds.records[idx]
        matrix = tf.geometry(rec, tf.sample(rec, np.random.default_rng([4, 0, idx])))[0].matrix
        r = decode_reduction(matrix)
        matrix = reduced_matrix(matrix, r)
        whole = ds.read(idx, r, rgb=False)
        np.testing.assert_array_equal(samples[idx][0], tf.warp(whole, matrix))
        part = ds.read_region(idx, r, source_region(matrix, SIZE))
        decoded.append(part.any(axis=2).mean())
    assert np.mean(decoded) < 0.6  # the people are small in their images: most of each is skipped


def test_reduced_decode_only_for_jpeg(synthetic, tmp_path):
    """A PNG goes through the full decode (OpenCV would resample it without a box filter)."""
    ds = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    rec = ds.records[0]
    png = tmp_path / "x.png"
    cv2.imwrite(str(png), cv2.imread(rec.image_path))
    ds.records[0] = type(rec)(str(png), rec.image_id, rec.ann_id, rec.bbox, rec.joints, rec.area)
    tf = TrainTransform(ds.meta, SIZE, scale_factor=0, rotation_factor=0, flip_prob=0)
    reads = []
    read = ds.read_region
    ds.read_region = lambda idx, reduction, region: reads.append(reduction) or read(idx, reduction, region)
    PoseSamples(ds, tf, HeatmapCodec(SIZE), reduced_decode=True)[0]
    ds.records[0] = rec
    PoseSamples(ds, tf, HeatmapCodec(SIZE), reduced_decode=True)[0]
    assert reads[0] == 1 and reads[1] > 1


class _WorkerProbe:
    """Each item reports the process that made it and OpenCV's thread count there."""

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        return np.array([os.getpid(), cv2.getNumThreads()], np.int64)


def test_loader_workers_persist_and_run_single_threaded_opencv():
    # The parent has used OpenCV's thread pool (where setNumThreads in a forked child would hang).
    cv2.warpAffine(np.zeros((1200, 1200, 3), np.uint8), np.eye(2, 3), (1100, 1100))
    threads = cv2.getNumThreads()
    loader = pose_loader(_WorkerProbe(), batch_size=2, num_workers=2, shuffle=False, timeout=60)
    epochs = [np.concatenate([b.asnumpy() for b in loader]) for _ in range(2)]
    pids = [set(e[:, 0].tolist()) for e in epochs]
    assert os.getpid() not in pids[0] and 1 <= len(pids[0]) <= 2
    assert pids[0] == pids[1] or pids[1] <= pids[0]            # the same worker processes in epoch 2
    assert all(e[:, 1].tolist() == [1] * 8 for e in epochs)
    assert cv2.getNumThreads() == threads                      # the main process is left alone


def test_full_decode_and_pack_flags_reach_the_training_samples(synthetic, tmp_path):
    from simplepose.training.build import build_parts
    from simplepose.training.config import build_config
    base = ["--train-ann", synthetic["train_ann"], "--train-images", synthetic["train_images"],
            "--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "4", "-j", "0",
            "--save-dir", str(tmp_path)]
    from simplepose.pack import main as pack_main
    pack_main(["--ann", synthetic["train_ann"], "--images", synthetic["train_images"], "--out",
               str(tmp_path / "p"), "--input-size", "64,64"])
    for extra, reduced, packed in (([], True, False), (["--full-decode"], False, False),
                                   (["--train-pack", str(tmp_path / "p")], True, True)):
        samples = build_parts(build_config(base + extra)[0]).parts.samples.samples   # inside the --on-bad-record guard
        assert samples.reduced_decode is reduced and (samples.packed is not None) is packed


def test_pack_round_trip_serves_covered_crops_with_the_same_targets(synthetic, tmp_path):
    from simplepose.data.pack import PackedCrops
    from simplepose.pack import main as pack_main
    from simplepose.data.transforms import Augmentation
    PACK_SIZE = (64, 64)   # packs are for model inputs, multiples of the backbone's stride
    assert pack_main(["--ann", synthetic["train_ann"], "--images", synthetic["train_images"],
                      "--out", str(tmp_path / "p"), "--input-size", "64,64"]) == 0
    ds = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    packed = PackedCrops(tmp_path / "p", ds)
    tf = TrainTransform(ds.meta, PACK_SIZE)
    codec = HeatmapCodec(PACK_SIZE)
    with_pack = PoseSamples(ds, tf, codec, seed=2, reduced_decode=True, packed=packed)
    without = PoseSamples(ds, tf, codec, seed=2, reduced_decode=True)
    full = PoseSamples(ds, tf, codec, seed=2)
    served, diffs, shifted = 0, [], []
    for idx in range(len(ds)):
        rec = ds.records[idx]
        matrix = tf.geometry(rec, tf.sample(rec, np.random.default_rng([2, 0, idx])))[0].matrix
        got = packed.crop(idx, matrix, PACK_SIZE)
        crop, heatmaps, weights = with_pack[idx]
        ref_crop, ref_heatmaps, ref_weights = full[idx]
        np.testing.assert_array_equal(heatmaps, ref_heatmaps)
        np.testing.assert_array_equal(weights, ref_weights)
        if got is None:  # not covered: exactly the unpacked path
            np.testing.assert_array_equal(crop, without[idx][0])
            continue
        served += 1
        ref_crop = ref_crop.astype(np.float32)
        diffs.append(np.abs(crop - ref_crop))
        image, m = got
        off = m.copy()
        off[:, 2] += m[:, 0]  # the stored crop read one stored pixel to the side
        shifted.append(np.abs(tf.warp(image, off) - ref_crop).mean())
    assert served > 0.7 * len(ds)
    diffs = np.concatenate([d.ravel() for d in diffs])
    # The README's stated difference (resampling + JPEG quality 95) against a full decode.
    # Resampled to the stored zoom, re-encoded, warped again: about 5 grey levels on average here (64x48
    # crops of small figures), 3.5 at 128x96 on the benchmark's 640x480 images (README).
    assert diffs.mean() < 7 and np.quantile(diffs, 0.99) < 55
    assert diffs.mean() < 0.7 * np.mean(shifted)  # registered to the image, not a stored pixel off
    # A crop reaching outside the stored region falls back to the image.
    rec = ds.records[0]
    wide, _ = tf.geometry(rec, Augmentation(scale_mult=3.0))
    assert packed.crop(0, wide.matrix, PACK_SIZE) is None


def test_pack_refuses_other_people_and_a_cut_file(synthetic, tmp_path):
    from simplepose.data.pack import PackedCrops, pack
    from simplepose.errors import MissingFileError, SimplePoseError
    train = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    val = COCOKeyPoints(synthetic["val_ann"], synthetic["val_images"])
    bin_path, _ = pack(val, tmp_path / "v", SIZE)
    with pytest.raises(SimplePoseError, match=r"v\.npz: packed for other people than .*person_keypoints_train"):
        PackedCrops(tmp_path / "v", train)
    bin_path.write_bytes(bin_path.read_bytes()[:-10])
    with pytest.raises(SimplePoseError, match=r"v\.bin: .* bytes, the index expects"):
        PackedCrops(tmp_path / "v", val)
    with pytest.raises(MissingFileError, match=r"nope\.bin: pack file not found"):
        PackedCrops(tmp_path / "nope", val)
