"""Loading variants of real keypoint files, each on a hand-written fixture in the real dataset's style.

AP-10K (one category per species, one shared keypoint list), MPII converted to COCO format
(``center`` + ``scale``, no ``bbox``), DeepPoseKit's zebras (keypoints only), a 300W-like face-landmark
file (an empty keypoint name list), nested keypoint triples, duplicate image entries, image sizes that
disagree with the file, an EXIF-rotated JPEG, and detection files on unknown categories.
"""
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from simplepose.data.boxes import detection_boxes
from simplepose.data import quirks
from simplepose.data.coco import COCOKeyPoints
from simplepose.errors import SimplePoseError
from simplepose.meta import COCO_KEYPOINT_NAMES
from simplepose.scoring.coco import load_coco_gt

AP10K_NAMES = ["left_eye", "right_eye", "nose", "neck", "root_of_tail", "left_shoulder", "left_elbow",
               "left_front_paw", "right_shoulder", "right_elbow", "right_front_paw", "left_hip", "left_knee",
               "left_back_paw", "right_hip", "right_knee", "right_back_paw"]
AP10K_SKELETON = [[1, 2], [1, 3], [2, 3], [3, 4], [4, 5], [4, 6], [6, 7], [7, 8], [4, 9], [9, 10], [10, 11],
                  [5, 12], [12, 13], [13, 14], [5, 15], [15, 16], [16, 17]]
MPII_NAMES = ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
              "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
              "left_elbow", "left_wrist"]
ZEBRA_NAMES = ["snout", "head", "neck", "forelegL1", "forelegR1", "hindlegL1", "hindlegR1", "tailbase", "tailtip"]


def write_image(path, height=120, width=160, value=90):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), value, np.uint8))


def keypoints(k, x0=40.0, y0=30.0, labelled=None):
    """Flat COCO keypoints: joint i at (x0 + 3 i, y0 + 2 i), visible, the first ``labelled`` of them."""
    labelled = k if labelled is None else labelled
    out = []
    for i in range(k):
        out += [x0 + 3 * i, y0 + 2 * i, 2] if i < labelled else [0, 0, 0]
    return out


def write(root, doc, name="ann.json"):
    (root / name).write_text(json.dumps(doc))
    return root / name


# --- AP-10K: one category per species, all with the same 17 keypoints ----------------------------------

def ap10k_doc():
    species = [(1, "antelope", "Bovidae"), (2, "argali sheep", "Bovidae"), (9, "bobcat", "Felidae")]
    images = [{"license": 1, "id": i, "file_name": f"0000000{i:05d}.jpg", "width": 160, "height": 120,
               "background": 2} for i in (1, 2, 3, 4)]
    anns = []
    for n, (cat, image_id) in enumerate([(1, 1), (2, 2), (9, 3), (55, 4)], start=1):   # 55: not in categories
        kps = keypoints(17, 30 + n, 20 + n)
        anns.append({"id": n, "image_id": image_id, "category_id": cat, "bbox": [20.0, 10.0, 100.0, 90.0],
                     "area": 9000.0, "iscrowd": 0, "num_keypoints": 17, "keypoints": kps})
    cats = [{"id": i, "name": name, "supercategory": sup, "keypoints": AP10K_NAMES, "skeleton": AP10K_SKELETON}
            for i, name, sup in species]
    return {"info": {"description": "AP-10K"}, "images": images, "annotations": anns, "categories": cats}


@pytest.fixture
def ap10k(tmp_path):
    doc = ap10k_doc()
    for img in doc["images"]:
        write_image(tmp_path / "data" / img["file_name"])
    return tmp_path, doc


def test_species_sharing_one_keypoint_list_train_together(ap10k, caplog):
    root, doc = ap10k
    with caplog.at_level("WARNING"):
        ds = COCOKeyPoints(write(root, doc), root / "data")
    assert ds.category_ids == (1, 2, 9) and ds.category_id == 1 and ds.meta.num_joints == 17
    assert sorted(r.ann_id for r in ds.records) == [1, 2, 3, 4]       # the unknown category 55 is used too
    assert ds.fixed[quirks.UNKNOWN_CATEGORY] == 1
    assert "3 categories share one keypoint list of 17 keypoints" in caplog.text
    assert f"{quirks.UNKNOWN_CATEGORY}: 1 record, e.g. annotation 4 (annotations[3])" in caplog.text
    # COCOeval sees one category: every annotation under id 1.
    gt = load_coco_gt(ds)
    assert {a["category_id"] for a in gt.dataset["annotations"]} == {1} and len(gt.dataset["annotations"]) == 4
    # --category-id narrows, to one id or several; annotations of an unknown category are then dropped.
    one = COCOKeyPoints(root / "ann.json", root / "data", category_id=2)
    assert [r.ann_id for r in one.records] == [2] and one.dropped["other category"] == 2
    assert one.dropped["on a category missing from 'categories'"] == 1
    two = COCOKeyPoints(root / "ann.json", root / "data", category_id="1,9")
    assert [r.ann_id for r in two.records] == [1, 3] and two.category_id == 1


def test_categories_with_different_keypoint_lists_are_refused_unless_picked(ap10k):
    root, doc = ap10k
    doc["categories"].append({"id": 30, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES), "skeleton": []})
    doc["annotations"].append({**doc["annotations"][0], "id": 5, "category_id": 30})
    with pytest.raises(SimplePoseError) as err:
        COCOKeyPoints(write(root, doc), root / "data")
    assert "categories with different keypoint lists: 1 'antelope' (17 keypoints), 2 'argali sheep' " in str(err.value)
    assert "30 'person' (17 keypoints); pick categories that share one with --category-id" in str(err.value)
    ds = COCOKeyPoints(root / "ann.json", root / "data", category_id=[1, 2, 9])
    # Category 55 cannot be attributed any more (the file has two keypoint lists): dropped, counted.
    assert sorted(r.ann_id for r in ds.records) == [1, 2, 3]
    assert ds.dropped["on a category missing from 'categories'"] == 1 and ds.dropped["other category"] == 1
    with pytest.raises(SimplePoseError, match=r"--category-id 4: the keypoint categories are 1 'antelope'"):
        COCOKeyPoints(root / "ann.json", root / "data", category_id=4)


# --- nested keypoints -------------------------------------------------------------------------------

def test_nested_keypoint_triples_are_flattened_and_pairs_refused(ap10k):
    root, doc = ap10k
    flat = COCOKeyPoints(write(root, doc), root / "data")
    kps = doc["annotations"][1]["keypoints"]
    doc["annotations"][1]["keypoints"] = [kps[i:i + 3] for i in range(0, len(kps), 3)]
    nested = COCOKeyPoints(write(root, doc), root / "data")
    assert nested.fixed[quirks.NESTED] == 1
    for a, b in zip(flat.records, nested.records):
        np.testing.assert_array_equal(a.joints, b.joints)
    assert load_coco_gt(nested).dataset["annotations"][1]["keypoints"] == [float(v) for v in kps]
    doc["annotations"][1]["keypoints"] = [p[:2] for p in doc["annotations"][1]["keypoints"]]
    with pytest.raises(SimplePoseError, match=r"annotation 2 \(annotations\[1\]\): field 'keypoints': point 0 is "
                                              r"\[32, 22\], expected \[x, y, v\] triples"):
        COCOKeyPoints(write(root, doc), root / "data")


# --- no bbox: MPII-style center + scale, or keypoints only ---------------------------------------------

def test_box_from_center_and_scale_mpii_style(tmp_path):
    write_image(tmp_path / "images" / "015601864.jpg", 240, 320)
    base = {"image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 16, "keypoints": keypoints(16, 120, 90)}
    doc = {"images": [{"id": 1, "file_name": "015601864.jpg", "width": 320, "height": 240}],
           "annotations": [{**base, "id": 1, "center": [160.0, 120.0], "scale": 0.4},
                           {**base, "id": 2, "center": [150.0, 110.0], "scale": [0.3, 0.45]}],
           "categories": [{"id": 1, "name": "person", "keypoints": MPII_NAMES, "skeleton": []}]}
    ds = COCOKeyPoints(write(tmp_path, doc), tmp_path / "images")
    assert ds.fixed[quirks.BOX_FROM_CENTER] == 2 and ds.fixed[quirks.AREA_MISSING] == 2
    gt = load_coco_gt(ds).dataset["annotations"]
    np.testing.assert_allclose(gt[0]["bbox"], [120, 80, 80, 80])          # scale 0.4 -> an 80 px square
    np.testing.assert_allclose(gt[1]["bbox"], [120, 65, 60, 90])          # [sx, sy] -> 60 x 90
    assert gt[0]["area"] == pytest.approx(6400) and gt[1]["area"] == pytest.approx(5400)
    np.testing.assert_allclose(ds.records[0].bbox, [120, 80, 199, 159])   # GluonCV's x + w - 1


def test_box_from_the_labelled_keypoints_zebra_style(tmp_path):
    """DeepPoseKit's zebras as converted to COCO format, without their boxes: keypoints only."""
    write_image(tmp_path / "images" / "0.jpg", 160, 160)
    kps = [60, 50, 2, 70, 52, 2, 80, 60, 2, 90, 100, 2, 95, 100, 2, 130, 100, 2, 135, 102, 0, 140, 70, 2, 155, 90, 2]
    doc = {"images": [{"id": 0, "file_name": "0.jpg", "height": 160, "width": 160}],
           "annotations": [{"keypoints": kps, "image_id": 0, "id": 0, "num_keypoints": 8, "iscrowd": 0,
                            "category_id": 1}],
           "categories": [{"supercategory": "animal", "id": 1, "name": "zebra", "keypoints": ZEBRA_NAMES,
                           "skeleton": [[2, 1], [3, 2], [4, 3]]}]}
    ds = COCOKeyPoints(write(tmp_path, doc), tmp_path / "images")
    assert ds.fixed[quirks.BOX_FROM_KEYPOINTS] == 1 and ds.fixed[quirks.NONPOSITIVE_ID] == 1
    # Labelled extent x 60..155, y 50..100 widened 12.5% a side (11.875, 6.25), clipped at x = 160.
    (gt,) = load_coco_gt(ds).dataset["annotations"]
    np.testing.assert_allclose(gt["bbox"], [48.125, 43.75, 160 - 48.125, 62.5])
    assert gt["id"] == 1 and ds.records[0].ann_id == 1                   # id 0 renumbered


# --- face landmarks: no keypoint names ------------------------------------------------------------------

def test_face_landmarks_take_k_from_the_annotations(tmp_path):
    """300W as mmpose distributes it: the face category lists no keypoint names."""
    for name in ("indoor_001.png", "indoor_002.png"):
        write_image(tmp_path / "images" / name, 240, 240)
    anns = [{"image_id": i, "id": i, "category_id": 1, "keypoints": keypoints(68, 20, 20), "num_keypoints": 68,
             "bbox": [10, 10, 220, 220], "iscrowd": 0, "area": 48400} for i in (1, 2, 3)]
    anns[2]["keypoints"] = anns[2]["keypoints"][:-3]                       # 67 points: a bad record
    doc = {"images": [{"file_name": "indoor_001.png", "height": 240, "width": 240, "id": 1},
                      {"file_name": "indoor_002.png", "height": 240, "width": 240, "id": 2},
                      {"file_name": "indoor_002.png", "height": 240, "width": 240, "id": 3}],
           "annotations": anns,
           "categories": [{"supercategory": "person", "id": 1, "name": "face", "keypoints": [], "skeleton": []}]}
    with pytest.raises(SimplePoseError, match=r"annotation 3 \(annotations\[2\]\): 201 keypoint values, "
                                              r"expected 3 x 68"):
        COCOKeyPoints(write(tmp_path, doc), tmp_path / "images")
    ds = COCOKeyPoints(tmp_path / "ann.json", tmp_path / "images", on_bad_record="skip")
    assert ds.meta.num_joints == 68 and ds.meta.names[:2] == ("kpt_0", "kpt_1") and ds.meta.flip_pairs == ()
    assert len(ds) == 2 and ds.skipped["skipped (wrong keypoint count)"] == 1
    # Validation data is checked against the training metadata by these generated names.
    assert COCOKeyPoints(tmp_path / "ann.json", tmp_path / "images", meta=ds.meta, on_bad_record="skip").meta is ds.meta


# --- images: duplicate ids, sizes, EXIF ------------------------------------------------------------

def test_duplicate_image_ids_merged_or_refused(ap10k):
    root, doc = ap10k
    doc["images"].append(dict(doc["images"][0]))                          # COCO-style copy of an entry
    ds = COCOKeyPoints(write(root, doc), root / "data")
    assert ds.fixed[quirks.DUPLICATE_IMAGE] == 1 and len(ds) == 4
    doc["images"][-1]["file_name"] = "000000000099.jpg"
    with pytest.raises(SimplePoseError) as err:
        COCOKeyPoints(write(root, doc), root / "data")
    assert "images[0] and images[4] share id 1 but name different files ('000000000001.jpg', " \
           "'000000000099.jpg')" in str(err.value)
    skipped = COCOKeyPoints(root / "ann.json", root / "data", on_bad_record="skip")
    assert 1 not in skipped.image_files and skipped.skipped["skipped (duplicate image id)"] == 1
    assert skipped.dropped["on a skipped image entry"] == 1 and len(skipped) == 3


def test_atrw_filename_field_read_and_animal_pose_images_dict_refused(ap10k):
    root, doc = ap10k
    for img in doc["images"]:                                 # ATRW's official spelling
        img["filename"] = img.pop("file_name")
    ds = COCOKeyPoints(write(root, doc), root / "data")
    assert ds.fixed[quirks.FILENAME_FIELD] == 4 and len(ds) == 4
    assert ds.image_files[1].endswith("000000000001.jpg")
    # Animal-Pose's own keypoints.json: images as an id -> file name mapping, not COCO's records.
    doc["images"] = {str(img["id"]): img["filename"] for img in doc["images"]}
    with pytest.raises(SimplePoseError, match=r"ann.json: 'images' maps ids to file names .* convert the file "
                                              r"first, e.g. with mmpose's .*parse_animalpose_dataset.py"):
        COCOKeyPoints(write(root, doc), root / "data")


def test_decoded_image_size_wins_over_the_entry(ap10k, caplog):
    root, doc = ap10k
    doc["images"][0].update(width=640, height=480)                         # the file is 160 x 120
    write_image(root / "data" / doc["images"][1]["file_name"], 1, 1)       # a 1 x 1 file under 160 x 120
    with caplog.at_level("WARNING"):
        with pytest.raises(SimplePoseError, match=r"annotation 2 \(annotations\[1\]\): 17 labelled keypoint\(s\) "
                                                  r"outside the 1x1 image of image 2"):
            COCOKeyPoints(write(root, doc), root / "data")
    ds = COCOKeyPoints(root / "ann.json", root / "data", on_bad_record="skip")
    assert ds.fixed[quirks.IMAGE_SIZE] == 2 and len(ds) == 3               # image 2 lost its person
    assert ds.records[0].bbox[2] <= 159 and ds.skipped["skipped (keypoints outside the image)"] == 1


def test_exif_rotated_jpeg_is_read_in_its_stored_frame(tmp_path):
    """Orientation 6 (viewers turn it a quarter): keypoints are on the stored pixels, and so is our decode."""
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[10:14, 44:48] = 255                                             # a white mark at x 44..47, y 10..13
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    (tmp_path / "images").mkdir()
    image.save(tmp_path / "images" / "phone.jpg", quality=95, exif=exif.tobytes())
    kps = [45.5, 11.5, 2] + [30, 20, 2] * 16
    doc = {"images": [{"id": 7, "file_name": "phone.jpg", "width": 60, "height": 40}],
           "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [2, 2, 56, 36], "area": 2016,
                            "iscrowd": 0, "num_keypoints": 17, "keypoints": kps}],
           "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES)}]}
    ds = COCOKeyPoints(write(tmp_path, doc), tmp_path / "images")
    assert ds.fixed[quirks.EXIF_ORIENTATION] == 1 and not ds.fixed[quirks.IMAGE_SIZE]
    pixels, rec = ds[0]
    assert pixels.shape == (40, 60, 3)                                     # not turned to 60 x 40
    x, y = rec.joints[0, :2].astype(int)
    assert pixels[y, x].min() > 200 and pixels[30, 10].max() < 50          # the mark is under the keypoint


# --- detection files ---------------------------------------------------------------------------------

def test_detections_on_unknown_categories_counted_or_refused(ap10k, caplog):
    root, doc = ap10k
    ds = COCOKeyPoints(write(root, doc), root / "data")
    det = {"image_id": 1, "bbox": [20.0, 10.0, 100.0, 90.0], "score": 0.9}
    dets = root / "dets.json"
    dets.write_text(json.dumps([{**det, "category_id": 0}, {**det, "category_id": 9}, {**det, "category_id": 0}]))
    with caplog.at_level("WARNING"):
        boxes = detection_boxes(dets, ds)
    assert len(boxes) == 1
    assert "kept 1 of 3 detections; left out 2 on category ids not in" in caplog.text and "(0: 2;" in caplog.text
    dets.write_text(json.dumps([{**det, "category_id": 0}] * 3))          # YOLO's 0-based person class
    with pytest.raises(SimplePoseError, match=r"all 3 detections are on category ids \[0\], which .* does not have "
                                              r"\(its keypoint category: 1,2,9\); set their 'category_id' to 1"):
        detection_boxes(dets, ds)
    for bad in (float("nan"), float("inf")):   # a detector's NaN box: dropped and counted, the others kept
        dets.write_text(json.dumps([{**det, "category_id": 1}, {**det, "category_id": 1, "bbox": [20.0, 10.0, bad, 90.0]}]))
        caplog.clear()
        with caplog.at_level("WARNING"):
            assert len(detection_boxes(dets, ds)) == 1
        assert "dets.json: dropped 1 boxes no person can be cropped from: 1 not finite; first: detection 1 (image 1)" \
            in caplog.text


def test_category_id_flag_takes_several_ids(tmp_path):
    from simplepose.data.categories import parse_category_ids
    from simplepose.config import TrainConfig
    from simplepose.training.config import build_config
    cfg, _ = build_config(["--train-ann", "a.json", "--train-images", "imgs", "--category-id", "1, 9"])
    assert cfg.category_id == "1,9" and parse_category_ids(cfg.category_id) == (1, 9)
    # An older checkpoint stored one integer.
    old = {**cfg.to_dict(), "category_id": 3}
    assert TrainConfig.from_dict(old, "old.json").category_id == "3"
    assert parse_category_ids(3) == (3,) and parse_category_ids([1, 2]) == (1, 2) and parse_category_ids(None) is None
    for bad in ("x", "", 1.5, "1;2"):
        with pytest.raises(SimplePoseError, match="--category-id .*: expected category ids, e.g. 1 or 1,3"):
            parse_category_ids(bad)
