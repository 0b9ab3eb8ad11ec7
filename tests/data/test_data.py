"""COCO-format dataset parsing, filtering, errors, and the sample pipeline on generated images."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from simplepose.codec import HeatmapCodec
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.samples import EpochSampler, PoseSamples
from simplepose.data.transforms import Augmentation, TrainTransform, ValTransform
from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.meta import COCO_KEYPOINT_NAMES
from tests.custom_keypoints import write_crowdpose_like

K = len(COCO_KEYPOINT_NAMES)


def person(ann_id, image_id=1, bbox=(20, 10, 60, 100), n_labelled=10, **extra):
    kps = []
    for i in range(K):
        kps += [30 + i, 20 + 4 * i, 2 if i < n_labelled else 0]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": list(bbox), "keypoints": kps, **extra}


@pytest.fixture
def coco_dir(tmp_path):
    """A hand-written annotation file with one of each case the loader must handle."""
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.full((120, 160, 3), 90, np.uint8))
    anns = [
        person(1, area=3000.0, iscrowd=0, num_keypoints=10, segmentation=[[20, 10, 80, 10, 80, 110]]),
        person(2),                                            # no area/iscrowd/num_keypoints/segmentation
        person(3, bbox=(-30, 50, 100, 200)),                  # box sticking out: clipped
        person(4, iscrowd=1),                                 # crowd
        person(5, n_labelled=0),                              # no labelled keypoint
        person(6, bbox=(10, 10, 0, 40)),                      # zero width
        {**person(7), "category_id": 2},                      # another category
    ]
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 160, "height": 120}], "annotations": anns,
           "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES),
                           "skeleton": [[1, 2]]}, {"id": 2, "name": "car"}]}
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    return tmp_path, doc


def test_filtering_and_clipping(coco_dir, caplog):
    root, _ = coco_dir
    with caplog.at_level("INFO"):
        ds = COCOKeyPoints(root / "ann.json", root / "images")
    assert [r.ann_id for r in ds.records] == [1, 2, 3]
    assert dict(ds.dropped) == {"crowd": 1, "with no labelled keypoint": 1, "with an empty box": 1,
                                "other category": 1}
    assert "kept 3 people from 7 annotations" in caplog.text and "1 crowd" in caplog.text
    np.testing.assert_allclose(ds.records[2].bbox, [0, 50, 69, 119])       # GluonCV's x + w - 1, clipped
    assert ds.records[1].area == pytest.approx(60 * 100)                    # missing area: the box w * h
    image, rec = ds[0]
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8 and rec.joints.shape == (K, 3)
    assert ds.meta.num_joints == K and ds.meta.skeleton == ((0, 1),)


@pytest.mark.parametrize("change,error,message", [
    (lambda root, doc: (root / "images" / "a.jpg").unlink(), MissingFileError,
     r"a\.jpg: image file not found \(image 1, annotation 1\)"),
    (lambda root, doc: doc["annotations"][0]["keypoints"].pop(), SimplePoseError,
     r"annotation 1 \(annotations\[0\]\): 50 keypoint values, expected 3 x 17"),
    (lambda root, doc: doc["annotations"][1]["keypoints"].__setitem__(0, float("nan")), SimplePoseError,
     r"annotation 2 \(annotations\[1\]\): keypoints contain NaN"),
    (lambda root, doc: doc["annotations"][0].__setitem__("image_id", 9), SimplePoseError,
     r"annotation 1 \(annotations\[0\]\): image_id 9 is not in 'images'"),
    (lambda root, doc: doc.pop("categories"), SimplePoseError, r"not a COCO annotation file"),
])
def test_bad_records_are_named(coco_dir, change, error, message):
    root, doc = coco_dir
    change(root, doc)
    (root / "ann.json").write_text(json.dumps(doc))
    with pytest.raises(error, match=message):
        COCOKeyPoints(root / "ann.json", root / "images")


def test_bad_files_are_named(coco_dir):
    root, _ = coco_dir
    with pytest.raises(MissingFileError, match="nope: image directory not found"):
        COCOKeyPoints(root / "ann.json", root / "nope")
    (root / "cut.json").write_text((root / "ann.json").read_text()[:200])
    with pytest.raises(SimplePoseError, match=r"cut\.json: annotation file is not valid JSON \(line 1"):
        COCOKeyPoints(root / "cut.json", root / "images")
    # Image headers are read at load (the stored size is checked), so a file that is no image is named there.
    (root / "images" / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SimplePoseError, match=r"a\.jpg: cannot be decoded as an image \(image 1, annotation 1\)"):
        COCOKeyPoints(root / "ann.json", root / "images")


def test_samples_are_keyed_by_seed_epoch_index(synthetic):
    ds = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    codec = HeatmapCodec((128, 96), 4, 2)
    samples = PoseSamples(ds, TrainTransform(ds.meta, (128, 96)), codec, seed=3)
    inp, heatmaps, weights = samples[(5, 1)]
    assert inp.shape == (128, 96, 3) and inp.dtype == np.uint8             # the crop, BGR, normalised on device
    assert heatmaps.shape == (K, 32, 24) and weights.shape == (K, 1, 1)
    assert inp.std() > 10                                                  # a picture, not a blank
    np.testing.assert_array_equal(samples[(5, 1)][0], inp)                   # repeatable
    assert not np.array_equal(samples[(5, 2)][0], inp)                       # a new draw each epoch
    # Weighted joints have a Gaussian (peak 1 when its centre is on the map); unweighted ones have none.
    assert np.all(heatmaps.reshape(K, -1).max(1)[weights.ravel() > 0] > 0) and heatmaps.max() == 1
    assert np.all(heatmaps.reshape(K, -1).max(1)[weights.ravel() == 0] == 0)
    sampler = EpochSampler(len(ds), seed=3)
    sampler.set_epoch(4)
    first = list(sampler)
    assert first == list(sampler) and sorted(i for i, _ in first) == list(range(len(ds)))
    sampler.set_epoch(5)
    assert [i for i, _ in sampler] != [i for i, _ in first]
    val = PoseSamples(ds, ValTransform((128, 96)), codec)
    np.testing.assert_array_equal(val[(5, 1)][0], val[(5, 9)][0])           # no augmentation


def test_flip_swaps_left_and_right(synthetic):
    """A flipped crop labels the mirrored right wrist as the left wrist (the classic flip bug)."""
    ds = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    tf = TrainTransform(ds.meta, (128, 96))
    lw, rw = COCO_KEYPOINT_NAMES.index("left_wrist"), COCO_KEYPOINT_NAMES.index("right_wrist")
    idx = next(i for i, r in enumerate(ds.records) if r.joints[lw, 2] == 2 and r.joints[rw, 2] == 2)
    image, rec = ds[idx]
    _, plain = tf.apply(image, rec, Augmentation())
    flipped_inp, flipped = tf.apply(image, rec, Augmentation(flip=True))
    # Mirroring about the crop centre: x -> width - x, and the sides trade names.
    np.testing.assert_allclose(flipped[lw, 0], 96 - plain[rw, 0], atol=1e-3)
    np.testing.assert_allclose(flipped[lw, 1], plain[rw, 1], atol=1e-3)
    np.testing.assert_allclose(flipped[rw, 0], 96 - plain[lw, 0], atol=1e-3)
    # The pixel under the flipped "left wrist" is the right wrist's pixel in the unflipped crop.
    plain_inp, _ = tf.apply(image, rec, Augmentation())
    x, y = (int(round(v)) for v in flipped[lw, :2])
    xr, yr = (int(round(v)) for v in plain[rw, :2])
    if 0 <= x < 96 and 0 <= y < 128 and 0 <= xr < 96 and 0 <= yr < 128:
        np.testing.assert_allclose(flipped_inp[:, y, x], plain_inp[:, yr, xr], atol=0.35)


def test_half_body_crop_of_coinciding_joints_falls_back_to_the_box(synthetic):
    ds = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    image, rec = ds[0]
    rec.joints[11:13, :2] = rec.joints[11, :2]            # both hips at one point
    tf = TrainTransform(ds.meta, (128, 96))
    inp, joints = tf.apply(image, rec, Augmentation(half_body=(11, 12)))
    np.testing.assert_array_equal(inp, tf.apply(image, rec, Augmentation())[0])


def test_to_fourteen_keypoints(synthetic, tmp_path):
    """A 14-keypoint file with its own skeleton loads with no code change."""
    ann = write_crowdpose_like(synthetic["train_ann"], tmp_path / "cp.json")
    ds = COCOKeyPoints(ann, synthetic["train_images"])
    assert ds.meta.num_joints == 14 and ds.meta.names[-2:] == ("head", "neck")
    assert len(ds.meta.flip_pairs) == 6 and ds[0][1].joints.shape == (14, 3)
    heatmaps, weights = HeatmapCodec((128, 96)).encode(TrainTransform(ds.meta, (128, 96))(*ds[0])[1])
    assert heatmaps.shape == (14, 32, 24)
    assert Path(ann).exists()


def test_given_metadata_is_checked_not_rederived(coco_dir, tmp_path):
    """Validation data and checkpoints carry the training metadata, user flip pairs included."""
    root, doc = coco_dir
    names = ["head", "L_paw", "R_paw"]
    meta = COCOKeyPoints(root / "ann.json", root / "images").meta
    odd = {**doc, "categories": [{"id": 1, "name": "cat", "keypoints": names}],
           "annotations": [{**person(1), "keypoints": [40, 40, 2] * 3}]}
    (tmp_path / "odd.json").write_text(json.dumps(odd))
    with pytest.raises(SimplePoseError, match=r"odd\.json: keypoints \['head', 'L_paw', 'R_paw'\] differ"):
        COCOKeyPoints(tmp_path / "odd.json", root / "images", meta=meta)
    paws = COCOKeyPoints(tmp_path / "odd.json", root / "images", flip_pairs="L_paw:R_paw").meta
    assert COCOKeyPoints(tmp_path / "odd.json", root / "images", meta=paws).meta.flip_pairs == ((1, 2),)
