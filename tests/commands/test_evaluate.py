"""COCO keypoint evaluation: oracle heatmaps, flip test, OKS-NMS, detector boxes, the command line."""
import json
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from pycocotools.coco import COCO

import eval_simple_pose
from simplepose.data.boxes import detection_boxes, gt_boxes
from simplepose.codec import HeatmapCodec
from simplepose.errors import SimplePoseError
from simplepose.data.coco import COCOKeyPoints
from simplepose.runtime.pose import BoxCrops, keypoints_in_image
from simplepose.scoring.coco import evaluate_keypoints, load_coco_gt
from simplepose.scoring.oks import oks, oks_nms

SIZE = (128, 96)   # model input (height, width)


def oracle_heatmaps(dataset, crops, codec, mirrored=False):
    """Targets of the ground-truth joints in each crop, as a perfect model would output them.

    ``mirrored``: the heatmaps a perfect model outputs for the horizontally mirrored crop.
    """
    h, w = SIZE
    out = []
    for rec, crop in zip(dataset.records, crops.crops):
        joints = rec.joints.copy()
        joints[:, :2] = crop.to_input(rec.joints[:, :2])
        if mirrored:
            joints[:, 0] = w - 1 - joints[:, 0]
            joints = joints[dataset.meta.flip_index]
        out.append(codec.encode(joints)[0])
    return np.stack(out)


@pytest.fixture(scope="module")
def val(synthetic):
    ds = COCOKeyPoints(synthetic["val_ann"], synthetic["val_images"])
    boxes = gt_boxes(ds)
    crops = BoxCrops(boxes.image_paths, boxes.boxes, SIZE)
    return ds, boxes, crops, load_coco_gt(ds)


def evaluate(val, heatmaps, codec, **kw):
    ds, boxes, crops, gt = val
    # Batches of 7: order across batches must hold.
    keypoints = np.concatenate([keypoints_in_image(heatmaps[i:i + 7], crops.crops[i:i + 7], codec)
                                for i in range(0, len(heatmaps), 7)])
    return evaluate_keypoints(gt, keypoints, boxes, crops.areas, ds.meta, ds.category_id, **kw)


@pytest.mark.parametrize("method", ["standard", "dark"])
def test_oracle_heatmaps_score_perfect_ap(val, method):
    codec = HeatmapCodec(SIZE, 4, 2, method)
    ds = val[0]
    report, results = evaluate(val, oracle_heatmaps(ds, val[2], codec), codec)
    assert report.stats["AP"] >= 0.99 and report.stats["AR"] >= 0.99, report.stats
    assert report.boxes == "ground-truth boxes" and len(results) == len(ds) == report.people
    # Per keypoint, the standard codec's rounding (up to 2 input pixels) shows on the small-sigma face joints.
    assert min(report.per_keypoint_ap.values()) >= (0.8 if method == "standard" else 0.99), report.per_keypoint_ap
    # The same predictions moved by 3 % of the crop height are visibly worse: the figures can fail.
    ds, boxes, crops, gt = val
    moved = [dict(r, keypoints=[v + (0.03 * crops.crops[i].size[0] if j % 3 == 1 else 0)
                                for j, v in enumerate(r["keypoints"])]) for i, r in enumerate(results)]
    worse, _ = evaluate_keypoints(gt, np.array([np.reshape(m["keypoints"], (-1, 3)) for m in moved]),
                                  boxes, crops.areas, ds.meta, ds.category_id)
    assert worse.stats["AP"] < report.stats["AP"] - 0.1


def test_only_the_evaluated_images_count(val):
    """Evaluating part of a file must not count the other images' people as misses."""
    ds, boxes, crops, gt = val
    codec = HeatmapCodec(SIZE)
    first = boxes.image_set[: len(boxes.image_set) // 2]
    keep = np.isin(boxes.image_ids, first)
    part = type(boxes)(boxes.image_ids[keep], [p for p, k in zip(boxes.image_paths, keep) if k], boxes.boxes[keep],
                       boxes.scores[keep], boxes.source, first)
    part_crops = BoxCrops(part.image_paths, part.boxes, SIZE)
    keypoints = keypoints_in_image(oracle_heatmaps(ds, crops, codec)[keep], part_crops.crops, codec)
    report, _ = evaluate_keypoints(gt, keypoints, part, part_crops.areas, ds.meta, ds.category_id,
                                   per_keypoint=False)
    assert report.stats["AP"] >= 0.99 and report.images == len(first)


@pytest.mark.parametrize("method", ["standard", "dark"])
def test_flip_test_swaps_sides_and_realigns(val, method):
    ds, boxes, crops, gt = val
    codec = HeatmapCodec(SIZE, 4, 2, method)
    plain = oracle_heatmaps(ds, crops, codec)
    back = codec.flip_back(oracle_heatmaps(ds, crops, codec, mirrored=True), ds.meta.flip_index)
    # Decoded alone, the flipped-back heatmaps land where the plain ones do, up to the codec's known shift:
    # a whole heatmap pixel undoes 0.75 for standard (0.25 left over = 1 input pixel), dark is exact.
    xy_plain, s_plain = codec.decode(plain)
    xy_back, _ = codec.decode(back)
    ok = s_plain > 0.5
    dx = (xy_back - xy_plain)[..., 0][ok]
    expected = 1.0 if method == "standard" else 0.0
    assert abs(dx.mean() - expected) < 0.12, dx.mean()
    report, _ = evaluate(val, 0.5 * (plain + back), codec, per_keypoint=False)
    assert report.stats["AP"] >= 0.99
    # Forgetting the left/right swap averages each joint with its mirror twin: far worse.
    unswapped = codec.flip_back(oracle_heatmaps(ds, crops, codec, mirrored=True), np.arange(ds.meta.num_joints))
    bad, _ = evaluate(val, 0.5 * (plain + unswapped), codec, per_keypoint=False)
    assert bad.stats["AP"] < report.stats["AP"] - 0.2


def test_decoding_matches_gluoncv_get_final_preds(val):
    from gluoncv.data.transforms.pose import get_final_preds
    ds, boxes, crops, gt = val
    codec = HeatmapCodec(SIZE)
    rng = np.random.default_rng(0)
    # Blurred, noisy peaks so the quarter-pixel step goes every way.
    heatmaps = oracle_heatmaps(ds, crops, codec)[:6] + rng.uniform(0, 0.05, (6, 17, 32, 24)).astype(np.float32)
    ours = keypoints_in_image(heatmaps, crops.crops[:6], codec)
    # GluonCV's crops: centre (x, y) and scale (width, height), image pixels.
    centers = np.array([c.center for c in crops.crops[:6]], np.float32)
    scales = np.array([c.size[::-1] for c in crops.crops[:6]], np.float32)
    theirs, maxvals = get_final_preds(mx.nd.array(heatmaps), centers, scales)
    np.testing.assert_allclose(ours[..., :2], theirs.asnumpy(), atol=1e-3)
    np.testing.assert_allclose(ours[..., 2], maxvals.asnumpy()[..., 0], atol=1e-6)


def test_oks_and_oks_nms():
    sigmas = np.full(4, 0.1)
    pose = np.array([[10, 10, 1], [20, 10, 1], [10, 30, 1], [20, 30, 1]], np.float64)
    # OKS of a keypoint off by d: exp(-d^2 / (2 * area * (2 sigma)^2)).
    moved = pose.copy()
    moved[:, 0] += 2.0
    expected = np.exp(-4.0 / (2 * 100.0 * 0.04))
    np.testing.assert_allclose(oks(pose, moved[None], 100.0, np.array([100.0]), sigmas), [expected])
    # Only keypoints scored above the threshold in both poses count.
    half = moved.copy()
    half[2:, 2] = 0.1
    half[2:, :2] += 50
    np.testing.assert_allclose(oks(pose, half[None], 100.0, np.array([100.0]), sigmas, 0.2), [expected])
    # A near-duplicate (OKS > 0.9) of a better pose goes; a distinct pose stays.
    near, far = pose + [1, 0, 0], pose + [100, 0, 0]    # OKS to pose: exp(-1 / 32) = 0.97, and 0
    poses = np.stack([pose, near, far])
    keep = oks_nms(poses, np.array([0.9, 0.8, 0.7]), np.full(3, 400.0), sigmas, 0.9)
    assert keep.tolist() == [0, 2]
    assert oks_nms(poses, np.array([0.5, 0.8, 0.7]), np.full(3, 400.0), sigmas, 0.9).tolist() == [1, 2]


def test_detector_boxes_missing_area_and_results_file(synthetic, trained, tmp_path, capsys):
    """Detector boxes through the command line, on a ground-truth file without 'area'."""
    doc = json.loads(Path(synthetic["val_ann"]).read_text())
    dets = []
    rng = np.random.default_rng(1)
    for ann in doc["annotations"]:
        x, y, w, h = ann["bbox"]
        dets.append({"image_id": ann["image_id"], "category_id": 1, "score": 0.9,
                     "bbox": [x + rng.uniform(-2, 2), y + rng.uniform(-2, 2), w, h]})
        dets.append({"image_id": ann["image_id"], "category_id": 1, "score": 0.05, "bbox": [0, 0, 20, 20]})
        dets.append({"image_id": ann["image_id"], "category_id": 7, "score": 0.99, "bbox": [0, 0, 30, 30]})
        del ann["area"]
    ann_file, det_file = tmp_path / "val_no_area.json", tmp_path / "dets.json"
    ann_file.write_text(json.dumps(doc))
    det_file.write_text(json.dumps(dets))
    ds = COCOKeyPoints(ann_file, synthetic["val_images"])
    boxes = detection_boxes(det_file, ds, thresh=0.1)
    assert len(boxes) == len(doc["annotations"]) and np.all(boxes.scores == np.float32(0.9))
    assert boxes.image_set == sorted(img["id"] for img in doc["images"])
    assert len(detection_boxes(det_file, ds, thresh=0.0)) == 2 * len(doc["annotations"])

    metrics, results = tmp_path / "m.json", tmp_path / "results.json"
    assert eval_simple_pose.main(["--params", trained, "--ann", str(ann_file), "--images", synthetic["val_images"],
                                  "--boxes", str(det_file), "--box-thresh", "0.1", "-j", "0", "--flip-test",
                                  "--metrics-json", str(metrics), "--results-json", str(results)]) == 0
    out = capsys.readouterr().out
    assert f"detector boxes from {det_file} (score >= 0.1)" in out and "flip test on" in out
    report = json.loads(metrics.read_text())
    assert report["boxes"].startswith("detector boxes") and 0 <= report["AP"] <= 1
    assert set(report) >= {"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}
    # The results file is what COCO.loadRes reads.
    gt = load_coco_gt(ds)
    dt = gt.loadRes(str(results))
    assert len(dt.anns) == report["predictions"] and isinstance(gt, COCO)


def test_sigmas_flag_overrides_the_metadata(synthetic, trained, tmp_path):
    """Larger OKS sigmas forgive more: AP cannot drop; a wrong count is a one-line error."""
    common = ["--params", trained, "--ann", synthetic["val_ann"], "--images", synthetic["val_images"], "-j", "0"]
    figures = {}
    for name, sigmas in (("coco", None), ("lenient", [0.5] * 17)):
        out = tmp_path / f"{name}.json"
        extra = []
        if sigmas:
            (tmp_path / "sigmas.json").write_text(json.dumps(sigmas))
            extra = ["--sigmas", str(tmp_path / "sigmas.json")]
        assert eval_simple_pose.main(common + extra + ["--metrics-json", str(out)]) == 0
        figures[name] = json.loads(out.read_text())["AP"]
    assert figures["lenient"] > figures["coco"] + 0.05, figures
    (tmp_path / "short.txt").write_text("0.1 0.2 0.3")
    with pytest.raises(SimplePoseError, match=r"short.txt: 3 sigmas given for 17 keypoints"):
        eval_simple_pose.main(common + ["--sigmas", str(tmp_path / "short.txt")])


GOOD_DET = {"image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 60], "score": 0.9}


@pytest.mark.parametrize("bad, problem", [
    ({"bbox": [10, 20, 30]}, "field 'bbox': has 3 values, expected 4"),
    ({"score": "high"}, "field 'score': is a string, expected a finite number"),
    ({"image_id": [1]}, "field 'image_id': is a list, expected an integer"),
    ({"bbox": [10, 20, "30", 60]}, "field 'bbox': holds a string, expected finite numbers"),
    ({"bbox": None}, "field 'bbox': is missing"),
])
def test_a_bad_detection_is_one_line_naming_file_detection_and_field(synthetic, tmp_path, bad, problem):
    ds = COCOKeyPoints(synthetic["val_ann"], synthetic["val_images"])
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps([GOOD_DET, {**GOOD_DET, **bad}]))
    with pytest.raises(SimplePoseError) as err:
        detection_boxes(det_file, ds)
    assert str(err.value) == f"{det_file}: detection 1: {problem}"
