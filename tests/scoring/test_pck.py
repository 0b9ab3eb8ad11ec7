"""PCK, AUC, EPE and NME on hand-computed examples; matching predictions to people; reports."""
import json
from pathlib import Path

import numpy as np
import pytest

from simplepose.data.boxes import PersonBoxes
from simplepose.scoring.matching import OWN_BOXES, GroundTruthPeople, match_predictions
from simplepose.scoring.pck import distance_metrics, eye_pair
from simplepose.scoring.report import EvalReport

NAMES = ["left_eye", "right_eye", "nose", "tail", "head"]
# One person: box (x0, y0, x1, y1) = (0, 0, 199, 99) is 200 x 100 pixels (inclusive bounds), longer side 200,
# diagonal sqrt(200^2 + 100^2) = 223.607; eyes 20 pixels apart. "head" is not labelled.
BOX = np.array([[0, 0, 199, 99]], np.float64)
GT = np.array([[[40, 20, 2], [60, 20, 2], [50, 30, 1], [100, 80, 2], [0, 0, 0]]], np.float64)
# Errors: left_eye 0, right_eye 5 (3-4-5), nose 13 (5-12-13), tail 29 (20-21-29); head far off but unlabelled.
# As fractions of the longer side 200: 0, 0.025, 0.065, 0.145.
PRED = np.array([[[40, 20, 0.9], [63, 24, 0.9], [55, 42, 0.9], [120, 101, 0.9], [500, 500, 0.9]]], np.float64)


def test_hand_computed_pck_auc_epe_nme():
    m = distance_metrics(PRED, GT, BOX, NAMES, eye_pair(NAMES))
    per = m.per_keypoint
    # PCK (strictly closer than t x 200): per keypoint hits at 0.05 / 0.1 / 0.2.
    assert [per[n]["PCK@0.05"] for n in NAMES[:4]] == [1, 1, 0, 0]
    assert [per[n]["PCK@0.1"] for n in NAMES[:4]] == [1, 1, 1, 0]
    assert [per[n]["PCK@0.2"] for n in NAMES[:4]] == [1, 1, 1, 1]
    # Overall PCK is the mean over the 4 labelled keypoints; "head" (never labelled) has no figures.
    assert (m.overall["PCK@0.05"], m.overall["PCK@0.1"], m.overall["PCK@0.2"]) == (0.5, 0.75, 1.0)
    assert per["head"] == {"PCK@0.05": None, "PCK@0.1": None, "PCK@0.2": None, "AUC": None, "EPE": None,
                           "NME": None, "labelled": 0}
    # AUC over thresholds 0.01 .. 0.20: a hit at every threshold above the error: 20, 18 (0.03..), 14 (0.07..)
    # and 6 (0.15..) of 20.
    assert [per[n]["AUC"] for n in NAMES[:4]] == pytest.approx([1.0, 0.9, 0.7, 0.3])
    assert m.overall["AUC"] == pytest.approx((1.0 + 0.9 + 0.7 + 0.3) / 4)
    # EPE in pixels, pooled; NME divides by the inter-ocular distance, 20.
    assert m.overall["EPE"] == pytest.approx((0 + 5 + 13 + 29) / 4)
    assert [per[n]["EPE"] for n in NAMES[:4]] == pytest.approx([0, 5, 13, 29])
    assert m.overall["NME"] == pytest.approx(11.75 / 20)
    assert [per[n]["NME"] for n in NAMES[:4]] == pytest.approx([0, 0.25, 0.65, 1.45])
    assert "inter-ocular" in m.nme_normaliser and (m.people, m.matched) == (1, 1)


def test_nme_without_eyes_divides_by_the_box_diagonal():
    names = ["a", "b", "c", "d", "e"]
    assert eye_pair(names) is None and eye_pair(NAMES) == (0, 1)
    m = distance_metrics(PRED, GT, BOX, names, eye_pair(names))
    assert m.overall["NME"] == pytest.approx(11.75 / np.hypot(200, 100)) and "diagonal" in m.nme_normaliser
    assert m.overall["PCK@0.1"] == 0.75       # the normaliser of NME does not touch PCK


def test_eyes_are_found_by_canonical_name():
    from simplepose.meta import KeypointMeta
    meta = KeypointMeta.build(["Nose", "R_Eye", "L_Eye", "tail"])
    assert eye_pair(meta.canonical_names) == (2, 1) and eye_pair(meta.names) is None


def test_exact_prediction_and_one_shifted_keypoint():
    exact = distance_metrics(GT.copy(), GT, BOX, NAMES)
    assert all(exact.overall[k] == 1.0 for k in ("PCK@0.05", "PCK@0.1", "PCK@0.2", "AUC"))
    assert exact.overall["EPE"] == 0 and exact.overall["NME"] == 0
    # The nose moved 30 pixels (0.15 of the longer side): it drops out of PCK@0.05 and @0.1, not @0.2.
    moved = GT.copy()
    moved[0, 2, :2] += (18, 24)
    m = distance_metrics(moved, GT, BOX, NAMES)
    assert m.per_keypoint["nose"]["PCK@0.1"] == 0 and m.per_keypoint["nose"]["PCK@0.2"] == 1
    assert m.per_keypoint["left_eye"]["PCK@0.05"] == 1
    assert m.overall["PCK@0.1"] == 0.75 and m.overall["PCK@0.2"] == 1
    assert m.overall["EPE"] == pytest.approx(30 / 4) and m.per_keypoint["nose"]["EPE"] == pytest.approx(30)
    assert m.per_keypoint["nose"]["AUC"] == pytest.approx(0.25)     # hits at 0.16 .. 0.20


def test_overall_pck_averages_keypoints_and_a_missed_person_is_a_miss_without_a_distance():
    """Two people: keypoint "a" hit on the first, missed (no prediction) on the second; keypoint "b"
    labelled only on the first. PCK(a) = 0.5, PCK(b) = 1: overall 0.75 (mean over keypoints, as mmpose),
    not the 2/3 of the pooled keypoints. EPE counts only the matched person."""
    gt = np.array([[[10, 10, 2], [20, 10, 2]], [[60, 60, 2], [0, 0, 0]]], np.float64)
    boxes = np.array([[0, 0, 49, 49], [50, 50, 99, 99]], np.float64)
    pred = np.array([[[11, 10, 1], [20, 12, 1]], [[np.nan] * 3] * 2])
    m = distance_metrics(pred, gt, boxes, ["a", "b"])
    assert m.per_keypoint["a"]["PCK@0.05"] == 0.5 and m.per_keypoint["b"]["PCK@0.05"] == 1
    assert m.overall["PCK@0.05"] == 0.75 and m.overall["EPE"] == pytest.approx(1.5)
    assert (m.people, m.matched) == (2, 1) and m.per_keypoint["a"]["labelled"] == 2


def _people():
    """Image 1: two people side by side; image 2: one person."""
    joints = np.zeros((3, 2, 3))
    joints[0] = [[20, 20, 2], [30, 40, 2]]
    joints[1] = [[120, 20, 2], [130, 40, 2]]
    joints[2] = [[50, 50, 2], [60, 70, 1]]
    boxes = np.array([[0, 0, 59, 79], [100, 0, 159, 79], [30, 30, 89, 99]], np.float64)
    return GroundTruthPeople(np.array([1, 1, 2]), boxes, joints, np.array([4800.0, 4800, 4200]))


def _detections(people, order, extra_box=None):
    """Detector-style boxes ([x, y, x + w, y + h]) around the people in ``order``, slightly off."""
    boxes = [people.boxes[i] + (2, -1, 3, 2) for i in order]
    ids = [people.image_ids[i] for i in order]
    kps = [people.joints[i] + (1, 1, 0) for i in order]
    if extra_box is not None:   # a false positive in image 1, far from everyone
        boxes.append(extra_box)
        ids.append(1)
        kps.append(np.full((2, 3), 400.0))
    return PersonBoxes(np.array(ids), ["x.jpg"] * len(ids), np.array(boxes, np.float32),
                       np.ones(len(ids), np.float32), "detector boxes", [1, 2]), np.array(kps)


@pytest.mark.parametrize("sigmas", [None, np.array([0.025, 0.079])])
def test_detections_are_matched_one_to_one_by_similarity(sigmas):
    people = _people()
    # Detections in another order than the people, a false positive, and the person of image 2 missed.
    boxes, kps = _detections(people, [1, 0], extra_box=[300, 300, 340, 380])
    matched, how = match_predictions(people, kps, boxes, sigmas)
    assert np.array_equal(matched[0], kps[1]) and np.array_equal(matched[1], kps[0])
    assert np.isnan(matched[2]).all()
    assert ("IoU" if sigmas is None else "OKS") in how
    m = distance_metrics(matched, people.joints, people.boxes, ["a", "b"], matching=how)
    assert (m.matched, m.people) == (2, 3) and m.overall["EPE"] == pytest.approx(np.sqrt(2))
    assert m.overall["PCK@0.2"] == pytest.approx(2 / 3)    # the missed person misses every keypoint


def test_two_poses_for_one_person_the_more_similar_wins_by_oks():
    """Two detections over person 0 with equal boxes: by OKS the closer pose is matched, the other dropped."""
    people = _people()
    boxes, kps = _detections(people, [0, 0])
    kps[0, :, :2] += 15       # the first pose is 15 pixels off in x and y
    matched, _ = match_predictions(people, kps, boxes, np.array([0.025, 0.079]))
    assert np.array_equal(matched[0], kps[1]) and np.isnan(matched[1:]).all()


def test_ground_truth_boxes_keep_their_people():
    people = _people()
    boxes = PersonBoxes(people.image_ids, ["x.jpg"] * 3, people.boxes.astype(np.float32), np.ones(3, np.float32),
                        "ground-truth boxes", [1, 2])
    kps = people.joints + 3
    matched, how = match_predictions(people, kps, boxes)
    assert how == OWN_BOXES and np.array_equal(matched, kps)


def test_report_without_sigmas_prints_pck_and_says_ap_needs_sigmas():
    m = distance_metrics(PRED, GT, BOX, NAMES, eye_pair(NAMES), OWN_BOXES)
    report = EvalReport(None, None, "ground-truth boxes", 1, 1, 1, distances=m)
    text = "\n".join(report.lines())
    assert "AP needs --sigmas FILE" in text and "PCK@0.2" in text and "0.7250" in text and "11.7500" in text
    figures = json.loads(json.dumps(report.to_dict()))            # strict JSON: no NaN
    assert figures["AP"] is None and figures["PCK@0.1"] == 0.75 and figures["EPE"] == 11.75
    assert figures["per_keypoint_metrics"]["tail"]["PCK@0.2"] == 1 and figures["sigmas_source"] is None
    with_ap = EvalReport({"AP": 0.5}, None, "ground-truth boxes", 1, 1, 1, distances=m, sigmas_source="metadata")
    assert "OKS sigmas from metadata" in with_ap.lines()[0] and "PCK@0.05" in "\n".join(with_ap.lines())


def write_renamed(ann_file, out_path, names):
    """The file with its keypoints renamed (as a user's own set: no OKS sigmas known for these names)."""
    doc = json.loads(Path(ann_file).read_text())
    doc["categories"][0]["keypoints"] = list(names)
    Path(out_path).write_text(json.dumps(doc))
    return str(out_path)


@pytest.mark.usefixtures("drop_log_handlers")
def test_no_sigmas_trains_with_pck_validation_and_evaluates_with_pck(synthetic, tmp_path, capsys):
    import eval_simple_pose
    import train_simple_pose
    from simplepose.rundir.checkpoint import load_manifest
    from simplepose.rundir.directory import read_metrics
    names = [f"marker{i}" for i in range(1, 18)]   # no side, no published sigmas
    train = write_renamed(synthetic["train_ann"], tmp_path / "train.json", names)
    val = write_renamed(synthetic["val_ann"], tmp_path / "val.json", names)
    save = tmp_path / "run"
    assert train_simple_pose.main([
        "--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "16", "-j", "0",
        "--log-interval", "0", "--num-epochs", "2", "--lr", "0.003", "--flip-prob", "0", "--seed", "2",
        "--save-frequency", "0", "--save-dir", str(save), "--train-ann", train,
        "--train-images", synthetic["train_images"], "--val-ann", val, "--val-images", synthetic["val_images"]]) == 0
    rows = read_metrics(save)
    assert all(r["val_ap"] is None and r["best_by"] == "val_pck_0.2" for r in rows)
    pck = {r["epoch"]: r["val_pck_0.2"] for r in rows}
    assert all(0 <= v <= 1 for v in pck.values()) and all(r["val_epe"] > 0 and 0 <= r["val_auc"] <= 1 for r in rows)
    best = load_manifest(save / "best.json")
    top = max(pck[e] for e in (1, 2))
    assert best["metrics"]["val_pck_0.2"] == top and best["epoch"] == min(e for e in (1, 2) if pck[e] == top)
    assert "new best validation PCK@0.2" in (save / "train.log").read_text()
    capsys.readouterr()
    out = tmp_path / "eval.json"
    assert eval_simple_pose.main(["--params", str(save / "best.json"), "-j", "0", "--metrics-json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "AP needs --sigmas FILE" in printed and "PCK@0.2" in printed and "marker17" in printed
    figures = json.loads(out.read_text())
    # Evaluation on the validation files, ground-truth boxes, reproduces validation's figures.
    assert figures["AP"] is None and figures["PCK@0.2"] == pytest.approx(best["metrics"]["val_pck_0.2"])
    assert figures["EPE"] == pytest.approx(best["metrics"]["val_epe"]) and "diagonal" in figures["nme_normaliser"]
    assert list(figures["per_keypoint_metrics"]) == names and figures["matching"] == OWN_BOXES


@pytest.mark.usefixtures("drop_log_handlers")
def test_coco_evaluation_reports_pck_beside_ap_and_on_detector_boxes(synthetic, trained, tmp_path, capsys):
    import eval_simple_pose
    out = tmp_path / "eval.json"
    assert eval_simple_pose.main(["--params", trained, "-j", "0", "--metrics-json", str(out)]) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert "OKS sigmas from COCO (cocoapi)" in printed and "PCK@0.05" in printed
    assert 0 <= figures["AP"] <= 1 and 0 <= figures["PCK@0.2"] <= 1 and figures["sigmas_source"] == "COCO (cocoapi)"
    assert "inter-ocular" in figures["nme_normaliser"] and figures["per_keypoint_metrics"]["left_eye"]["labelled"] > 0
    # Detector boxes: the ground-truth boxes widened 4 pixels, in reverse order, plus one box on empty ground.
    doc = json.loads(Path(synthetic["val_ann"]).read_text())
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.9,
             "bbox": [a["bbox"][0] - 2, a["bbox"][1] - 2, a["bbox"][2] + 4, a["bbox"][3] + 4]}
            for a in reversed(doc["annotations"])]
    dets.append({"image_id": doc["images"][0]["id"], "category_id": doc["categories"][0]["id"], "score": 0.3,
                 "bbox": [0, 0, 3, 3]})
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(dets))
    out_det = tmp_path / "eval_det.json"
    assert eval_simple_pose.main(["--params", trained, "-j", "0", "--boxes", str(det_file),
                                  "--metrics-json", str(out_det)]) == 0
    on_dets = json.loads(out_det.read_text())
    assert "by OKS" in on_dets["matching"] and on_dets["matched_people"] == figures["matched_people"]
    assert on_dets["PCK@0.2"] == pytest.approx(figures["PCK@0.2"], abs=0.1)
