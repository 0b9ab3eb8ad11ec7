"""Boxes from files, through the real predict and evaluate commands: each image gets its own boxes (found by the
longest unique suffix of its path among the annotation file's entries), an ambiguous name is refused, boxes no
person can be cropped from are dropped and counted, detections on no input image are reported."""
import json
import math
import shutil

import cv2
import numpy as np
import pytest

import eval_simple_pose
from simplepose.data.boxes import detection_boxes
from simplepose.cli import run_main
from simplepose.data.coco import COCOKeyPoints
from simplepose.errors import SimplePoseError
from simplepose.predict.image_match import ImageIndex
from simplepose.io import JsonRecord
from simplepose.predict.command import main as predict_main
from tests.predict.test_predict import exported, predictor, val_image, write_video  # noqa: F401 (fixtures: an ONNX export)

pytestmark = pytest.mark.usefixtures("drop_log_handlers")

NAME = "000000000017.jpg"   # the same base name in both camera folders
CAM1_BOX, CAM2_BOXES = [20.5, 10.0, 60.0, 120.0], [[5.0, 8.0, 50.0, 110.0], [70.0, 15.0, 55.0, 100.0]]


@pytest.fixture
def cameras(synthetic, tmp_path):
    """``root/cam1/NAME`` and ``root/cam2/NAME`` (two different images), an annotation file naming them as COCO's
    do (ids 101 and 202, extra fields, one person on cam1 and two on cam2) and detections in COCO results format
    (float ids, extra fields, another category)."""
    root = tmp_path / "root"
    for cam, i in (("cam1", 0), ("cam2", 1)):
        (root / cam).mkdir(parents=True)
        shutil.copy(val_image(synthetic, i), root / cam / NAME)
    h, w = cv2.imread(str(root / "cam1" / NAME)).shape[:2]
    images = [{"id": image_id, "file_name": f"{cam}/{NAME}", "width": w, "height": h, "license": 1,
               "date_captured": "2013-11-14 17:02:52", "coco_url": f"http://example.org/{cam}/{NAME}"}
              for cam, image_id in (("cam1", 101), ("cam2", 202))]
    boxes = [(101, CAM1_BOX)] + [(202, box) for box in CAM2_BOXES]
    annotations = [{"id": n + 1, "image_id": image_id, "category_id": 1, "bbox": box, "iscrowd": 0,
                    "area": box[2] * box[3], "num_keypoints": 0, "keypoints": [0] * 51}
                   for n, (image_id, box) in enumerate(boxes)]
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"info": {"year": 2017}, "images": images, "annotations": annotations,
                               "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}))
    dets = [{"image_id": float(image_id), "category_id": 1, "bbox": box, "score": 0.93, "area": box[2] * box[3]}
            for image_id, box in boxes]
    dets.append({"image_id": 101.0, "category_id": 18, "bbox": [1.0, 1.0, 30.0, 30.0], "score": 0.99})
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(dets))
    return {"root": root, "ann": ann, "dets": det_file, "size": (w, h), "records": dets}


def test_the_entry_sharing_the_most_trailing_components_wins(tmp_path):
    entries = [{"id": 1, "file_name": "x.jpg"}, {"id": 2.0, "file_name": "val\\cam1\\x.jpg"},   # Windows-written
               {"id": 3, "file_name": "./val/cam2/x.jpg"}, {"id": 4, "file_name": "cam3/y.jpg"},
               {"id": 5, "file_name": "cam3/y.jpg", "width": 640}]
    index = ImageIndex(JsonRecord({"images": entries}, "ann.json").records("images"), "ann.json")
    assert index.find(str(tmp_path / "val" / "cam1" / "x.jpg")).image_id == 2
    assert index.find("/data/cam2/x.jpg").image_id == 3
    with pytest.raises(SimplePoseError, match=r"^/elsewhere/x.jpg: matches 3 images of ann.json equally well"):
        index.find("/elsewhere/x.jpg")                           # the bare name: one component shared with each
    with pytest.raises(SimplePoseError, match=r"^/data/cam3/y.jpg: ann.json lists this image 2 times "
                                              r"\('cam3/y.jpg' \(id 4\), 'cam3/y.jpg' \(id 5\)\); give each"):
        index.find("/data/cam3/y.jpg")


def predict(exported, out, *flags):
    """The predict command as a user runs it: (exit status)."""
    return run_main(lambda: predict_main(["--model", str(exported), "--out", str(out), *map(str, flags)]))


def people(out, stem):
    return json.loads((out / f"{stem}.json").read_text())["people"]


def xywh(box):
    return [round(v, 2) for v in box]


def test_each_camera_gets_its_own_boxes_from_detections_and_from_the_annotation_file(exported, cameras, tmp_path):
    root = cameras["root"]
    for name, source in (("dets", ["--boxes", cameras["dets"], "--ann", cameras["ann"]]),
                         ("ann", ["--boxes", cameras["ann"]])):
        out = tmp_path / name
        assert predict(exported, out, "--input", root / "cam1", "--input", root / "cam2", *source) == 0
        assert [p["box"] for p in people(out, "cam1-000000000017")] == [xywh(CAM1_BOX)]
        assert [p["box"] for p in people(out, "cam2-000000000017")] == [xywh(b) for b in CAM2_BOXES]


def test_a_name_that_matches_two_entries_equally_well_is_refused(exported, cameras, tmp_path, capsys,
                                                                 monkeypatch):
    elsewhere = tmp_path / "copied"
    elsewhere.mkdir()
    shutil.copy(cameras["root"] / "cam2" / NAME, elsewhere / NAME)
    for source in (["--boxes", cameras["dets"], "--ann", cameras["ann"]], ["--boxes", cameras["ann"]]):
        assert predict(exported, tmp_path / "out", "--input", elsewhere / NAME, *source) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"error: {elsewhere / NAME}: matches 2 images of {cameras['ann']} equally well "
                       f"('cam1/{NAME}' (id 101), 'cam2/{NAME}' (id 202)); give the image by a path that tells them "
                       f"apart (run from the image root or pass the folder, e.g. --input IMAGE_ROOT/cam1/{NAME})"]
    assert not (tmp_path / "out").exists()
    # Given from the image root, a relative path tells them apart.
    monkeypatch.chdir(cameras["root"])
    assert predict(exported, tmp_path / "out", "--input", f"cam2/{NAME}", "--boxes", cameras["ann"]) == 0
    assert [p["box"] for p in people(tmp_path / "out", "000000000017")] == [xywh(b) for b in CAM2_BOXES]


def test_an_image_the_annotation_file_does_not_list_and_a_shared_numeric_name_are_refused(exported, cameras,
                                                                                          tmp_path, capsys):
    other = tmp_path / "photos" / "street.jpg"
    other.parent.mkdir()
    shutil.copy(cameras["root"] / "cam1" / NAME, other)
    assert predict(exported, tmp_path / "out", "--input", other, "--boxes", cameras["dets"], "--ann",
                   cameras["ann"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {other}: no image of {cameras['ann']} is named 'street.jpg' (its 'images' file_name); give the "
        "annotation file that lists this image")
    # Without --ann both cameras' files read as image 17: refused, not the same boxes on both.
    root = cameras["root"]
    assert predict(exported, tmp_path / "out", "--input", root / "cam1", "--input", root / "cam2", "--boxes",
                   cameras["dets"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --input {root / 'cam2' / NAME} and {root / 'cam1' / NAME}: both are image 17 of ")
    assert "--ann naming both" in err and not (tmp_path / "out").exists()


def test_unusable_boxes_are_dropped_and_counted_and_kept_keypoints_stay_near_the_image(exported, cameras, tmp_path,
                                                                                      capsys):
    w, h = cameras["size"]
    cam1 = {"image_id": 101.0, "category_id": 1, "score": 0.9}
    border = [-15.0, 20.0, 50.0, 90.0]   # a person cut by the left border: kept as it is
    dets = [{**cam1, "bbox": CAM1_BOX}, {**cam1, "bbox": border},
            {**cam1, "bbox": [w + 10.0, 10.0, 40.0, 80.0]},      # wholly right of the image
            {**cam1, "bbox": [0.0, 0.0, 1e30, 1e30]},            # absurd size
            {**cam1, "bbox": [10.0, 10.0, math.nan, 50.0]},      # NaN, as Python's json writes it
            {**cam1, "bbox": [10.0, 10.0, 30.0, 50.0], "score": math.nan}]
    det_file = tmp_path / "bad.json"
    det_file.write_text(json.dumps(dets))
    out = tmp_path / "out"
    assert predict(exported, out, "--input", cameras["root"] / "cam1" / NAME, "--boxes", det_file, "--ann",
                   cameras["ann"]) == 0
    found = people(out, "000000000017")
    assert [p["box"] for p in found] == [xywh(CAM1_BOX), xywh(border)]
    keypoints = np.array([p["keypoints"] for p in found])[..., :2]
    assert np.all(keypoints > -w) and np.all(keypoints[..., 0] < 2 * w) and np.all(keypoints[..., 1] < 2 * h)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "dropped" in line]
    assert len(warnings) == 1
    assert (f"{det_file}: dropped 4 boxes no person can be cropped from: 1 with a NaN or infinite score, "
            "1 outside the image, 1 over 4 times the image's width or height, 1 not finite; first: box 5 "
            "(image_id 101): score nan (with a NaN or infinite score)") in warnings[0]


def test_the_python_api_refuses_a_box_outside_its_frame_or_absurdly_large(predictor, synthetic):
    frame = cv2.imread(str(val_image(synthetic)))
    h, w = frame.shape[:2]
    for box, problem in (([w + 1, 5, w + 40, 80], "outside the image"),
                         ([0, 0, 4 * w + 1, 50], "over 4 times the image's width or height")):
        with pytest.raises(SimplePoseError, match=rf"^frame 0: box 0 \[x, y, w, h\] = \[.*\] is {problem} \({w}x{h}\)"):
            predictor.predict([frame], [np.array([box], np.float32)])
    border = predictor.predict([frame], [np.array([[-10, 5, 40, 80], [0, 0, 4 * w, 4 * h]], np.float32)])[0]
    assert len(border) == 2 and all(np.isfinite(p.keypoints).all() for p in border)


def test_detections_on_no_input_image_are_refused_and_on_some_reported(exported, cameras, tmp_path, capsys):
    stray = [{"image_id": image_id, "category_id": 1, "bbox": [1.0, 2.0, 30.0, 60.0], "score": 0.8}
             for image_id in (3.0, 9.0, 9.0)]
    det_file = tmp_path / "other.json"
    det_file.write_text(json.dumps(stray))
    image = cameras["root"] / "cam1" / NAME
    assert predict(exported, tmp_path / "out", "--input", image, "--boxes", det_file, "--ann", cameras["ann"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {det_file}: none of its 3 detections' image ids (e.g. 3, 9) is one of the ids {cameras['ann']} "
        "gives the --input images (101); give the annotation file these detections were made on, or the images "
        "the detections are for")
    det_file.write_text(json.dumps(stray + cameras["records"]))
    assert predict(exported, tmp_path / "out", "--input", image, "--boxes", det_file, "--ann", cameras["ann"]) == 0
    assert (f"WARNING {det_file}: 5 of 6 detections are on image ids (e.g. 3, 9, 202) that are not one of the ids "
            f"{cameras['ann']} gives the --input images (101); they are not used") in capsys.readouterr().err
    assert [p["box"] for p in people(tmp_path / "out", "000000000017")] == [xywh(CAM1_BOX)]


def test_detections_on_no_frame_of_a_video_are_reported_after_it(exported, synthetic, tmp_path, capsys):
    video = write_video(tmp_path / "clip.mp4", [cv2.imread(str(val_image(synthetic, i))) for i in range(3)])
    det_file = tmp_path / "clip.json"
    det_file.write_text(json.dumps([{"image_id": float(f), "category_id": 1, "bbox": [30.0, 20.0, 90.0, 170.0],
                                     "score": 0.9} for f in (1, 7, 7)]))
    assert predict(exported, tmp_path / "out", "--input", video, "--boxes", det_file) == 0
    assert (f"WARNING {det_file}: 2 of 3 detections are on image ids (e.g. 7) that are not an input image's nor "
            "the index of a video frame (from 0); they are not used") in capsys.readouterr().err
    frames = [json.loads(line) for line in (tmp_path / "out" / "clip.jsonl").read_text().splitlines()]
    assert [len(f["people"]) for f in frames] == [0, 1, 0]


def test_evaluation_drops_unusable_detections_and_refuses_a_file_on_other_images(synthetic, trained, tmp_path,
                                                                                caplog, capsys):
    ds = COCOKeyPoints(synthetic["val_ann"], synthetic["val_images"])
    image_id = sorted(ds.image_files)[0]
    w, h = cv2.imread(ds.image_files[image_id]).shape[1::-1]
    det = {"image_id": float(image_id), "category_id": 1, "score": 0.9}
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps([{**det, "bbox": [10.0, 10.0, 40.0, 80.0]}, {**det, "bbox": [-5.0, h + 1.0, 9, 9]},
                                    {**det, "bbox": [0, 0, 1e30, 50]}, {**det, "bbox": [0, 0, 9, 9], "score": math.inf},
                                    {**det, "image_id": 987654.0, "bbox": [0, 0, 9, 9]}]))
    with caplog.at_level("WARNING"):
        boxes = detection_boxes(det_file, ds)
    np.testing.assert_array_equal(boxes.boxes, [[10, 10, 50, 90]])
    assert f"left out 1 on image ids not in {ds.ann_file} (e.g. 987654)" in caplog.text
    assert (f"{det_file}: dropped 3 boxes no person can be cropped from: 1 outside the image, 1 over 4 times the "
            f"image's width or height, 1 with a NaN or infinite score; first: detection 1 (image {image_id}): box "
            f"[x, y, w, h] = [-5, {h + 1}, 9, 9] on the {w}x{h} image (outside the image)") in caplog.text
    det_file.write_text(json.dumps([{**det, "image_id": i, "bbox": [0, 0, 9, 9]} for i in (987654, 3e6)]))
    status = run_main(lambda: eval_simple_pose.main(["--params", trained, "--ann", synthetic["val_ann"], "--images",
                                                     synthetic["val_images"], "--boxes", str(det_file), "-j", "0"]))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 2 and err.startswith(f"error: {det_file}: none of its 2 detections' image ids (e.g. 987654, "
                                          f"3000000) is an image of {synthetic['val_ann']} (ids ")
