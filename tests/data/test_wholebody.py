"""COCO-WholeBody: 133 keypoints in five annotation fields (--keypoint-fields), their bad records, the metadata
(names, mirror pairs, published sigmas) and the per-part AP, on a stand-in shaped like the real file
(tests/real_style_wholebody.py); then a tiny training evaluated through the command line."""
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from simplepose.data.boxes import gt_boxes
from simplepose.data.coco import COCOKeyPoints, keypoint_meta
from simplepose.data.keypoint_fields import INVALID_PART, SCORE_VISIBILITY, parse_keypoint_fields
from simplepose.errors import SimplePoseError
from simplepose.meta import KeypointMeta
from simplepose.scoring.coco import evaluate_keypoints, load_coco_gt

from tests.real_style import build

# mmpose's configs/_base_/datasets/coco_wholebody.py sigmas, in its keypoint order, written out again here.
MMPOSE_SIGMAS = [
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089,
    0.089, 0.068, 0.066, 0.066, 0.092, 0.094, 0.094, 0.042, 0.043, 0.044, 0.043, 0.040, 0.035, 0.031, 0.025, 0.020,
    0.023, 0.029, 0.032, 0.037, 0.038, 0.043, 0.041, 0.045, 0.013, 0.012, 0.011, 0.011, 0.012, 0.012, 0.011, 0.011,
    0.013, 0.015, 0.009, 0.007, 0.007, 0.007, 0.012, 0.009, 0.008, 0.016, 0.010, 0.017, 0.011, 0.009, 0.011, 0.009,
    0.007, 0.013, 0.008, 0.011, 0.012, 0.010, 0.034, 0.008, 0.008, 0.009, 0.008, 0.008, 0.007, 0.010, 0.008, 0.009,
    0.009, 0.009, 0.007, 0.007, 0.008, 0.011, 0.008, 0.008, 0.008, 0.01, 0.008, 0.029, 0.022, 0.035, 0.037, 0.047,
    0.026, 0.025, 0.024, 0.035, 0.018, 0.024, 0.022, 0.026, 0.017, 0.021, 0.021, 0.032, 0.02, 0.019, 0.022, 0.031,
    0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024, 0.022, 0.026, 0.017, 0.021, 0.021,
    0.032, 0.02, 0.019, 0.022, 0.031]
PARTS = ("body", "foot", "face", "lefthand", "righthand")
FIELDS = ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")


@pytest.fixture(scope="module")
def wholebody(small, tmp_path_factory):
    return build("coco_wholebody", tmp_path_factory.mktemp("wholebody"), small)


def edited(paths, tmp_path, edit):
    """A copy of the stand-in's train file with ``edit(doc)`` applied; its path."""
    doc = json.loads(Path(paths["train_ann"]).read_text())
    edit(doc)
    out = tmp_path / "train.json"
    out.write_text(json.dumps(doc))
    return out


def first_person(doc):
    return next(a for a in doc["annotations"] if not a["iscrowd"] and a["face_valid"] and a["lefthand_valid"])


def test_all_133_in_wholebody_order_by_default(wholebody):
    ds = COCOKeyPoints(wholebody["train_ann"], wholebody["train_images"])
    meta = ds.meta
    assert meta.parts == (("body", 17), ("foot", 6), ("face", 68), ("lefthand", 21), ("righthand", 21))
    assert meta.sigmas == pytest.approx(MMPOSE_SIGMAS) and meta.sigmas_source == "COCO-WholeBody"
    assert meta.names[17] == "left_big_toe" and meta.names[23] == "face-0" and meta.names[91] == "left_hand_root"
    pairs = dict(meta.flip_pairs)
    assert pairs[23] == 39 and pairs[59] == 68 and pairs[91] == 112 and len(meta.flip_pairs) == 61   # face-0/16...
    doc = json.loads(Path(wholebody["train_ann"]).read_text())
    ann = first_person(doc)
    joints = next(r.joints for r in ds.records if r.ann_id == ann["id"])
    flat = np.concatenate([np.asarray(ann[f], np.float32).reshape(-1, 3) for f in FIELDS])
    assert np.allclose(joints[:, :2], flat[:, :2])
    # The hands' confidences (0 < v < 1) are labelled joints; the body's and face's visibilities stay.
    assert 0 < flat[91:, 2].min() < 1 and set(joints[91:112, 2]) == {1.0}
    assert np.array_equal(joints[:91, 2], flat[:91, 2])
    invalid = next(a for a in doc["annotations"] if not a["iscrowd"] and not a["lefthand_valid"])
    assert not next(r.joints for r in ds.records if r.ann_id == invalid["id"])[91:112, 2].any()
    assert ds.fixed == {SCORE_VISIBILITY: sum(1 for a in doc["annotations"] if a["lefthand_valid"]
                                              or a["righthand_valid"])}


def test_chosen_fields_and_one_warning_for_the_rest(wholebody, caplog):
    caplog.set_level(logging.WARNING, logger="simplepose")
    by_part = COCOKeyPoints(wholebody["train_ann"], wholebody["train_images"], keypoint_fields="foot,body")
    by_field = COCOKeyPoints(wholebody["train_ann"], wholebody["train_images"], keypoint_fields="keypoints,foot_kpts")
    assert by_part.meta == by_field.meta and by_part.meta.num_joints == 23
    assert by_part.meta.sigmas_source == "COCO (cocoapi) + COCO-WholeBody feet"
    ignored = [r.getMessage() for r in caplog.records if "not read" in r.getMessage()]
    n = len(json.loads(Path(wholebody["train_ann"]).read_text())["annotations"])
    assert len(ignored) == 2 and ignored[0].endswith(
        f"3 keypoint fields not read: face_kpts (68 keypoints, in {n} annotations), lefthand_kpts (21 keypoints, in "
        f"{n} annotations), righthand_kpts (21 keypoints, in {n} annotations); 110 keypoints per person ignored "
        "(--keypoint-fields foot,body; the default reads every part the file has)")
    # Only the body: no parts recorded, COCO's metadata, and the file's num_keypoints (the body's) agrees.
    body = COCOKeyPoints(wholebody["train_ann"], wholebody["train_images"], keypoint_fields="body")
    assert body.meta.parts == () and body.meta.num_joints == 17 and not body.fixed
    assert keypoint_meta(wholebody["train_ann"]).num_joints == 133


def test_a_model_reads_its_own_parts(wholebody, caplog):
    """Evaluating a model: its parts by default; another choice is refused in one line naming the parts."""
    meta = COCOKeyPoints(wholebody["train_ann"], wholebody["train_images"], keypoint_fields="body,face").meta
    assert KeypointMeta.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta
    val = COCOKeyPoints(wholebody["val_ann"], wholebody["val_images"], meta=meta)
    assert val.meta.num_joints == 85 and val.records[0].joints.shape == (85, 3)
    body = COCOKeyPoints(wholebody["val_ann"], wholebody["val_images"], meta=KeypointMeta.from_dict(
        {**meta.to_dict(), "names": list(meta.names[:17]), "parts": [], "sigmas": None, "skeleton": [], "flip_pairs": [],
         "upper_body": [], "lower_body": []}))
    # A model of the body alone (GluonCV's, say) on the whole-body file: the other parts named in one warning.
    assert body.meta.num_joints == 17
    assert "4 keypoint fields not read: foot_kpts (6 keypoints, in 10 annotations)" in caplog.text
    assert "116 keypoints per person ignored (the model's parts are body)" in caplog.text
    with pytest.raises(SimplePoseError, match=r"\(85 keypoints\) \(the training data's or the checkpoint's, read from "
                                              r"the parts body,face: read the same --keypoint-fields\)"):
        COCOKeyPoints(wholebody["val_ann"], wholebody["val_images"], meta=meta, keypoint_fields="body")


def _set(field, value):
    def edit(doc):
        first_person(doc)[field] = value
    return edit


def _nan(doc):
    first_person(doc)["face_kpts"][4] = float("nan")


@pytest.mark.parametrize("edit, field, problem", [
    (lambda doc: first_person(doc)["face_kpts"].pop(), "face_kpts",
     "has 203 values, expected 3 x 68 for COCO-WholeBody's 68 face keypoints"),
    (_nan, "face_kpts", "value 4 is nan: keypoints contain NaN or infinity"),
    (_set("foot_valid", "yes"), "foot_valid", "is 'yes', expected true or false"),
    (lambda doc: first_person(doc)["lefthand_kpts"].__setitem__(2, 3.0), "lefthand_kpts",
     "keypoint visibility 3 is outside 0..2"),
    (lambda doc: first_person(doc).pop("righthand_kpts"), "righthand_kpts", "is missing"),
])
def test_bad_part_fields_name_file_annotation_field_and_fix(wholebody, tmp_path, edit, field, problem):
    ann_id = first_person(json.loads(Path(wholebody["train_ann"]).read_text()))["id"]
    path = edited(wholebody, tmp_path, edit)
    with pytest.raises(SimplePoseError) as err:
        COCOKeyPoints(path, wholebody["train_images"])
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: annotation {ann_id} (annotations[")
    assert f"field '{field}': {problem}" in message and "--keypoint-fields" in message
    assert message.endswith("; fix the record or pass --on-bad-record skip")
    skipped = COCOKeyPoints(path, wholebody["train_images"], on_bad_record="skip")
    assert sum(skipped.skipped.values()) == 1 and ann_id not in {r.ann_id for r in skipped.records}


def test_invalid_part_with_labels_reads_as_unlabelled(wholebody, tmp_path):
    ann_id = first_person(json.loads(Path(wholebody["train_ann"]).read_text()))["id"]
    path = edited(wholebody, tmp_path, _set("face_valid", False))
    ds = COCOKeyPoints(path, wholebody["train_images"])
    assert not next(r.joints for r in ds.records if r.ann_id == ann_id)[23:91, 2].any()
    assert ds.fixed[INVALID_PART] == 1


def test_unknown_or_absent_parts_are_refused(wholebody, small):
    with pytest.raises(SimplePoseError, match=r"--keypoint-fields 'body,hands': hands is not a part; give parts "
                                              r"among body,foot,face,lefthand,righthand"):
        parse_keypoint_fields("body,hands")
    with pytest.raises(SimplePoseError, match=r"no annotation has the field 'face_kpts' of part face "
                                              r"\(--keypoint-fields face\); its keypoint fields are keypoints"):
        COCOKeyPoints(small["train_ann"], small["train_images"], keypoint_fields="face")


def perfect(ds):
    """(keypoints (N, K, 3) with score 1, boxes, areas) predicting the ground truth exactly."""
    boxes = gt_boxes(ds)
    kps = np.array([r.joints for r in ds.records], np.float64)
    kps[..., 2] = 1.0
    return kps, boxes, np.array([r.area for r in ds.records])


def test_per_part_ap_as_coco_wholebody_scores_it(wholebody):
    ds = COCOKeyPoints(wholebody["val_ann"], wholebody["val_images"])
    meta, gt = ds.meta, load_coco_gt(ds)
    kps, boxes, areas = perfect(ds)
    # A person without a labelled left hand is ignored for the hand AP: any guess inside its box is no false positive.
    no_hand = np.array([not r.joints[91:112, 2].any() for r in ds.records])
    assert no_hand.any() and (~no_hand).any()
    kps[no_hand, 91:112, :2] = boxes.boxes[no_hand, None, :2] + 1
    report, _ = evaluate_keypoints(gt, kps, boxes, areas, meta, ds.category_id, per_keypoint=False, per_part=True)
    assert list(report.per_part) == [*PARTS, "wholebody"]
    assert all(report.per_part[p]["AP"] == pytest.approx(1.0) for p in PARTS)
    # Faces 40 px off: the face AP falls to 0 (face sigmas are small), the body's and hands' stay 1, the whole drops.
    kps[:, 23:91, 0] += 40
    report, _ = evaluate_keypoints(gt, kps, boxes, areas, meta, ds.category_id, per_keypoint=False, per_part=True)
    ap = {p: s["AP"] for p, s in report.per_part.items()}
    assert ap["face"] == pytest.approx(0.0) and ap["body"] == pytest.approx(1.0) and ap["righthand"] == 1.0
    assert ap["wholebody"] == report.stats["AP"] < 1.0
    assert "per_part" in report.to_dict() and any(re.match(r"\s+face\s+0\.0000", line) for line in report.lines())


@pytest.mark.usefixtures("drop_log_handlers")
def test_133_keypoints_train_and_evaluate(wholebody, tmp_path, capsys):
    """The acceptance, in-process: one epoch on all 133 keypoints, then evaluation of the checkpoint with its own
    parts (no --keypoint-fields): per-part AP printed and in --metrics-json."""
    import eval_simple_pose
    import train_simple_pose
    data = ["--train-ann", wholebody["train_ann"], "--train-images", wholebody["train_images"],
            "--val-ann", wholebody["val_ann"], "--val-images", wholebody["val_images"]]
    assert train_simple_pose.main(data + ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64",
                                          "--batch-size", "8", "-j", "0", "--num-epochs", "1",
                                          "--save-dir", str(tmp_path / "run")]) == 0
    manifest = json.loads((tmp_path / "run" / "simple_pose_resnet18_v1b-epoch0001.json").read_text())
    assert len(manifest["meta"]["names"]) == 133 and manifest["meta"]["parts"][2] == ["face", 68]
    capsys.readouterr()
    metrics = tmp_path / "eval.json"
    assert eval_simple_pose.main(["--params", str(tmp_path / "run"), "-j", "0", "--metrics-json", str(metrics)]) == 0
    out = capsys.readouterr().out
    assert "OKS sigmas from COCO-WholeBody" in out and "per-part AP (COCO-WholeBody" in out
    for part in [*PARTS, "wholebody"]:
        assert re.search(rf"^\s+{part}\s+(\d\.\d{{4}}\s+){{3}}\d\.\d{{4}}$", out, re.MULTILINE), (part, out)
    per_part = json.loads(metrics.read_text())["per_part"]
    assert list(per_part) == [*PARTS, "wholebody"] and 0.0 <= per_part["face"]["AP"] <= 1.0
