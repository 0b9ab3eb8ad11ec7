"""simplepose.predict.command: inputs (image, folder, glob, video, webcam index), box sources (detections by image,
annotations, HOG, GluonCV detectors, the whole image), outputs under --out only, deploy.json checks, bad boxes."""
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from simplepose.predict import box_sources as person_boxes
from simplepose.predict.detectors import HogDetector, nested_duplicates
from simplepose.predict.gluon_detector import GluonDetector, model_store_file
from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.data.box_filter import check_boxes
from simplepose.predict.box_sources import BoxFile
from simplepose.predict.command import main as predict_main
from simplepose.predict.inputs import Input, expand_inputs, open_video
from simplepose.runtime.predictor import PosePredictor

pytestmark = pytest.mark.usefixtures("drop_log_handlers")


@pytest.fixture(scope="session")
def exported(exported_model):
    """The session's export of ``trained`` (tests/conftest.py): read here, never changed (copies are)."""
    return exported_model


@pytest.fixture(scope="module")
def predictor(exported):
    return PosePredictor.load(exported, "onnx")


def val_image(synthetic, i=0):
    return sorted(Path(synthetic["val_images"]).glob("*.jpg"))[i]


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def write_video(path, frames, fps=10.0):
    """A tiny MP4 as a phone would hand it over (mp4v), from (H, W, 3) uint8 BGR frames."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def decoded_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


# ---- inputs ----------------------------------------------------------------------------------------------

def test_inputs_of_each_kind_expand_in_order_with_unique_stems(tmp_path):
    for folder in ("a", "b", "clips"):
        (tmp_path / folder).mkdir()
    for name in ("a/x.jpg", "a/y.png", "a/notes.txt", "b/x.jpg", "clips/walk.MP4", "b/x.png"):
        (tmp_path / name).write_bytes(b"")
    inputs = expand_inputs([str(tmp_path / "a"), str(tmp_path / "b" / "*.jpg"), str(tmp_path / "clips/walk.MP4"),
                            "0", str(tmp_path / "a" / "x.jpg")])
    assert [(i.kind, Path(i.path).name, i.stem) for i in inputs] == [
        ("image", "x.jpg", "a-x"), ("image", "y.png", "y"),           # the folder's images, sorted, no .txt
        ("image", "x.jpg", "b-x"),                                    # the glob's match: a/x and b/x apart
        ("video", "walk.MP4", "walk"), ("webcam", "0", "webcam0"),
        ("image", "x.jpg", "a-x-2")]                                  # the same file twice: numbered
    assert inputs[4].camera == 0
    with pytest.raises(MissingFileError, match="no such file or folder"):
        expand_inputs([str(tmp_path / "missing.jpg")])
    with pytest.raises(MissingFileError, match="matches no image or video"):
        expand_inputs([str(tmp_path / "*.gif")])
    with pytest.raises(SimplePoseError, match="no image in this folder"):
        expand_inputs([str(tmp_path / "clips")])
    with pytest.raises(SimplePoseError, match="not an image"):
        expand_inputs([str(tmp_path / "a" / "notes.txt")])


def test_a_webcam_that_does_not_exist_is_one_line():
    index = next(i for i in range(9, 64) if not Path(f"/dev/video{i}").exists())
    with pytest.raises(SimplePoseError, match=f"no camera {index}"):
        open_video(Input("webcam", str(index)))


# ---- box sources -----------------------------------------------------------------------------------------

COCO_DETECTIONS = [   # as mmdetection / GluonCV write COCO results: several images, persons and others
    {"image_id": 397133, "category_id": 1, "bbox": [388.66, 69.92, 109.41, 277.62], "score": 0.999},
    {"image_id": 397133, "category_id": 1, "bbox": [0.0, 262.81, 62.16, 36.77], "score": 0.31},
    {"image_id": 397133, "category_id": 44, "bbox": [217.62, 240.54, 38.99, 57.75], "score": 0.95},
    {"image_id": 37777, "category_id": 1, "bbox": [102.49, 118.47, 7.9, 17.31], "score": 0.62},
    {"image_id": 397133, "category_id": 1, "bbox": [1.36, 164.33, 192.92, 262.7], "score": 0.5},
    {"image_id": 252219, "category_id": 1, "bbox": [326.28, 174.56, 71.24, 197.25], "score": 0.98},
]


def test_detections_are_kept_for_this_image_at_or_above_the_threshold(tmp_path):
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(COCO_DETECTIONS))
    image = np.zeros((480, 640, 3), np.uint8)
    boxes, scores = BoxFile(path, 0.5)(image, "val2017/000000397133.jpg")
    np.testing.assert_allclose(boxes, [[388.66, 69.92, 498.07, 347.54], [1.36, 164.33, 194.28, 427.03]], atol=1e-3)
    np.testing.assert_allclose(scores, [0.999, 0.5])
    boxes, scores = BoxFile(path, 0.3)(image, "000000397133.jpg")
    assert len(boxes) == 3                                          # the 0.31 person too; never the category 44
    assert len(BoxFile(path, 0.5)(image, "000000000139.jpg")[0]) == 0   # an image without detections: none
    # Names resolved through an annotation file (--ann) instead of the numeric stem.
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 252219, "file_name": "street.jpg", "height": 480, "width": 640}],
                               "annotations": [], "categories": [{"id": 1, "name": "person"}]}))
    boxes, _ = BoxFile(path, 0.5, ann=ann)(image, "photos/street.jpg")
    np.testing.assert_allclose(boxes, [[326.28, 174.56, 397.52, 371.81]], atol=1e-3)
    with pytest.raises(SimplePoseError, match=r"photos/other.jpg: no image of .*ann.json is named 'other.jpg'"):
        BoxFile(path, 0.5, ann=ann)(image, "photos/other.jpg")
    with pytest.raises(SimplePoseError, match="cannot tell its image_id"):
        BoxFile(path, 0.5)(image, "photos/street.jpg")
    with pytest.raises(SimplePoseError, match=r"no detection has category_id 3 .* \[1, 44\]"):
        BoxFile(path, 0.5, category_id=3)


def test_the_detection_file_is_read_once_not_once_per_image(tmp_path, monkeypatch):
    """Post-processing linear in the number of boxes: every detection is parsed once, however many images."""
    dets = [{"image_id": i, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9} for i in range(300)]
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(dets))
    parsed = []
    real = person_boxes.JsonRecord
    monkeypatch.setattr(person_boxes, "JsonRecord", lambda *a, **k: parsed.append(1) or real(*a, **k))
    source = BoxFile(path, 0.5)
    found = [len(source(np.zeros((8, 8, 3), np.uint8), f"{i:012d}.jpg")[0]) for i in range(300)]
    assert found == [1] * 300 and len(parsed) == 300


def test_boxes_for_every_image_and_annotated_boxes_by_file_name(tmp_path):
    image = np.zeros((100, 100, 3), np.uint8)
    path = tmp_path / "boxes.json"
    for content, score in (([[10, 20, 30, 40]], 1.0), ([{"bbox": [10, 20, 30, 40], "score": 0.5}], 0.5),
                           ({"images": [{"id": 3, "file_name": "a/img.jpg"}, {"id": 4, "file_name": "b.jpg"}],
                             "annotations": [{"image_id": 3, "bbox": [10, 20, 30, 40]},
                                             {"image_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1},
                                             {"image_id": 4, "bbox": [0, 0, 9, 9]}]}, 1.0)):
        path.write_text(json.dumps(content))
        boxes, scores = BoxFile(path, 0.5)(image, "photos/img.jpg")
        np.testing.assert_array_equal(boxes, [[10, 20, 40, 60]])
        np.testing.assert_array_equal(scores, [score])
    with pytest.raises(SimplePoseError, match="no image of .*boxes.json is named 'other.jpg'"):
        BoxFile(path, 0.5)(image, "other.jpg")


@pytest.mark.parametrize("content, problem", [
    ([[10, 20, 30]], "box 0: field 'bbox': has 3 values, expected 4"),
    ([{"bbox": [10, 20, 30, 40], "score": "high"}], "box 0: field 'score': is a string, expected a finite number"),
    ([[10, 20, 30, 40], [1, 2, "3", 4]], "box 1: field 'bbox': holds a string, expected finite numbers"),
    ([{"image_id": 1, "bbox": [1, 2, 3, 4]}, {"bbox": [1, 2, 3, 4]}], "box 1: field 'image_id' is missing"),
    ({"images": [{"id": 1, "file_name": "img.jpg"}], "annotations": [{"image_id": "1", "bbox": [1, 2, 3, 4]}]},
     "annotations[0]: field 'image_id': is a string, expected an integer"),
    ("boxes", "expected a list of [x, y, width, height] boxes"),
])
def test_a_bad_box_file_is_one_line_naming_file_box_and_field(tmp_path, content, problem):
    box_file = tmp_path / "boxes.json"
    box_file.write_text(json.dumps(content))
    with pytest.raises(SimplePoseError) as err:
        BoxFile(box_file, 0.5)(np.zeros((9, 9, 3), np.uint8), "photos/img.jpg")
    assert str(err.value).startswith(f"{box_file}: ") and problem in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("box, shown", [([5, 5, float("nan"), 20], "nan"), ([5, 5, float("inf"), 20], "inf"),
                                        ([5, 5, 5, 20], "w, h] = [5, 5, 0, 15]"), ([3e38, 0, 4e38, 10], "inf")])
def test_a_box_of_nan_infinite_or_empty_size_is_refused_naming_it(box, shown):
    with pytest.raises(SimplePoseError) as err:
        check_boxes(np.array([[0, 0, 10, 10], box]), "frame 7")
    assert str(err.value).startswith("frame 7: box 1 [x, y, w, h] = [") and shown in str(err.value)


def test_the_predictor_refuses_a_nan_box_and_the_command_drops_an_overflowing_one(predictor, synthetic, exported,
                                                                                  tmp_path, capsys):
    frame = cv2.imread(str(val_image(synthetic)))
    with pytest.raises(SimplePoseError, match="frame 0: box 0"):
        predictor.predict([frame], [np.array([[1, 1, np.nan, 50]])])
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[3e38, 0, 3e38, 10]]))     # finite in JSON, infinite as x + w in float32
    from simplepose.cli import run_main
    status = run_main(lambda: predict_main(["--model", str(exported), "--input", str(val_image(synthetic)),
                                            "--boxes", str(boxes), "--out", str(tmp_path / "out")]))
    err = capsys.readouterr().err
    assert status == 0 and "Traceback" not in err
    assert f"{boxes}: dropped 1 boxes no person can be cropped from: 1 not finite; first: " in err   # inf in float32
    assert json.loads((tmp_path / "out" / f"{val_image(synthetic).stem}.json").read_text())["people"] == []


# ---- the command on images ---------------------------------------------------------------------------------

def test_folders_and_globs_write_png_and_json_under_out_only(exported, predictor, synthetic, tmp_path,
                                                             monkeypatch):
    for folder, i in (("a", 0), ("b", 1)):
        (tmp_path / folder).mkdir()
        shutil.copy(val_image(synthetic, i), tmp_path / folder / "x.jpg")
    detections = tmp_path / "dets.json"
    detections.write_text(json.dumps([{"bbox": [40, 30, 80, 150], "score": 0.9}, {"bbox": [150, 40, 70, 160]}]))
    before = listing(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert predict_main(["--model", str(exported), "--input", "a", "--input", "b/*.jpg",
                         "--boxes", str(detections)]) == 0
    out = tmp_path / "predictions"                                   # the default --out, in the working directory
    assert sorted(p.name for p in out.iterdir()) == ["a-x.json", "a-x.png", "b-x.json", "b-x.png"]
    assert listing(tmp_path) == sorted(before + ["predictions"] + [f"predictions/{p.name}" for p in out.iterdir()])
    doc = json.loads((out / "b-x.json").read_text())
    assert doc["image"] == str(Path("b") / "x.jpg") and len(doc["people"]) == 2
    person = doc["people"][1]
    assert person["box"] == [150, 40, 70, 160] and person["score"] == 1.0 and person["track_id"] is None
    # The keypoints are the predictor's on the same image and boxes, as the evaluation path gives them.
    image = cv2.imread(str(tmp_path / "b" / "x.jpg"))
    expected = predictor.predict([image], [np.array([[40, 30, 120, 180], [150, 40, 220, 200]])])[0]
    np.testing.assert_allclose([p["keypoints"] for p in doc["people"]], [p.keypoints for p in expected], atol=0.006)
    h, w = image.shape[:2]                                           # 320x240: drawn upscaled to 640 wide
    assert cv2.imread(str(out / "b-x.png")).shape == (round(h * 640 / w), 640, 3)


def test_out_holding_the_inputs_is_refused(exported, synthetic, tmp_path):
    shutil.copy(val_image(synthetic), tmp_path / "x.jpg")
    with pytest.raises(SimplePoseError, match="holds the input"):
        predict_main(["--model", str(exported), "--input", str(tmp_path / "x.jpg"), "--out", str(tmp_path)])
    assert listing(tmp_path) == ["x.jpg"]


def test_without_boxes_the_whole_image_is_one_person_with_a_warning(exported, synthetic, tmp_path, capsys):
    assert predict_main(["--model", str(exported), "--input", str(val_image(synthetic)), "--out",
                         str(tmp_path), "--backend", "mxnet"]) == 0
    assert "WARNING no --boxes and no --detector: each image is taken as ONE person box" in capsys.readouterr().err
    people = json.loads((tmp_path / f"{val_image(synthetic).stem}.json").read_text())["people"]
    h, w = cv2.imread(str(val_image(synthetic))).shape[:2]
    assert len(people) == 1 and people[0]["box"] == [0, 0, w, h]


def test_a_checkpoint_and_a_run_directory_give_the_exports_keypoints(trained, exported, synthetic, tmp_path):
    results = {}
    for name, model in (("export", exported), ("checkpoint", trained), ("run", Path(trained).parent)):
        assert predict_main(["--model", str(model), "--input", str(val_image(synthetic)), "--out",
                             str(tmp_path / name), "--boxes", str(synthetic["val_ann"])]) == 0
        results[name] = json.loads((tmp_path / name / f"{val_image(synthetic).stem}.json").read_text())["people"]
    assert len(results["export"]) >= 1
    for name in ("checkpoint", "run"):
        np.testing.assert_allclose([p["keypoints"] for p in results[name]],
                                   [p["keypoints"] for p in results["export"]], atol=0.02)


# ---- video ---------------------------------------------------------------------------------------------------

def test_a_video_gives_an_mp4_and_one_jsonl_record_per_frame(exported, predictor, synthetic, tmp_path):
    frames = [cv2.imread(str(val_image(synthetic, i))) for i in range(5)]
    video = write_video(tmp_path / "clip.mp4", frames)
    boxes = tmp_path / "boxes.json"
    # COCO detections of a video: the image_id of a frame is its index.
    boxes.write_text(json.dumps([{"image_id": f, "category_id": 1, "bbox": [30 + 10 * f, 20, 90, 170],
                                  "score": 0.8 if f != 3 else 0.2} for f in range(5)]))
    assert predict_main(["--model", str(exported), "--input", str(video), "--out", str(tmp_path / "out"),
                         "--boxes", str(boxes), "--chunk", "2"]) == 0
    assert listing(tmp_path / "out") == ["clip.jsonl", "clip.mp4"]
    records = [json.loads(line) for line in (tmp_path / "out" / "clip.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4] and {r["image"] for r in records} == {str(video)}
    assert [len(r["people"]) for r in records] == [1, 1, 1, 0, 1]    # frame 3's box is under --box-thresh
    assert records[4]["people"][0]["box"] == [70, 20, 90, 170]
    decoded = decoded_frames(video)
    expected = predictor.predict([decoded[4]], [np.array([[70, 20, 160, 190]])])[0][0]
    np.testing.assert_allclose(records[4]["people"][0]["keypoints"], expected.keypoints, atol=0.006)
    drawn = decoded_frames(tmp_path / "out" / "clip.mp4")
    assert len(drawn) == 5 and drawn[0].shape == frames[0].shape


def test_track_gives_stable_ids_on_a_video(exported, synthetic, tmp_path):
    frames = [cv2.imread(str(val_image(synthetic, 0)))] * 6
    video = write_video(tmp_path / "still.mp4", frames)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[20, 20, 100, 180], [160, 30, 100, 170]]))
    assert predict_main(["--model", str(exported), "--input", str(video), "--out", str(tmp_path / "out"),
                         "--boxes", str(boxes), "--smooth"]) == 0
    records = [json.loads(line) for line in (tmp_path / "out" / "still.jsonl").read_text().splitlines()]
    ids = [[p["track_id"] for p in r["people"]] for r in records]
    # tentative (no id) for two frames, confirmed at the third, then the same ids to the end
    assert ids[:2] == [[None, None]] * 2 and ids[2] in ([0, 1], [1, 0]) and all(i == ids[2] for i in ids[2:])


# ---- detectors -------------------------------------------------------------------------------------------------

def test_hog_boxes_flow_to_the_pose_model(exported, synthetic, tmp_path):
    images = [val_image(synthetic, i) for i in range(12)]
    hog = HogDetector(0.0)
    found = {p.stem: hog(cv2.imread(str(p))) for p in images}
    assert sum(len(b) for b, _ in found.values()) >= 1                  # the figures are upright people
    for boxes, scores in found.values():
        assert (scores >= 0).all() and (boxes[:, 2:] > boxes[:, :2]).all()
    assert predict_main(["--model", str(exported), "--input", str(Path(synthetic["val_images"]) / "*.jpg"),
                         "--out", str(tmp_path), "--detector", "hog", "--det-thresh", "0"]) == 0
    for stem, (boxes, scores) in found.items():
        people = json.loads((tmp_path / f"{stem}.json").read_text())["people"]
        np.testing.assert_allclose(np.reshape([[x, y, x + w, y + h] for x, y, w, h in (p["box"] for p in people)],
                                              (-1, 4)), boxes, atol=0.01)
        np.testing.assert_allclose([p["score"] for p in people], scores, atol=1e-4)
    assert sum(len(HogDetector(9.0)(cv2.imread(str(p)))[0]) for p in images) == 0   # nothing at margin 9


def test_hog_leaves_out_a_window_nested_in_a_better_one_and_keeps_people_side_by_side():
    """HOG's windows as vtest.avi shows them: one person at two scales (the larger window, scored lower, around
    the smaller: IoU 0.37), two people side by side (each 43 % inside the other), and a confident small box
    inside a doubtful large one (the large one goes, whatever the order)."""
    boxes = np.array([[512, 212, 582, 351], [490, 128, 605, 358],      # one person: 2.67 inside, 0.83 around
                      [100, 100, 170, 240], [140, 100, 210, 240],      # side by side, 43 % of each other
                      [300, 200, 400, 400], [320, 260, 380, 390]], float)   # doubtful large, sure small
    scores = np.array([2.67, 0.83, 1.5, 1.2, 0.4, 2.0])
    assert nested_duplicates(boxes, scores).tolist() == [False, True, False, False, True, False]
    order = np.random.default_rng(0).permutation(6)
    assert nested_duplicates(boxes[order], scores[order]).tolist() == [order[i] in (1, 4) for i in range(6)]
    hog = HogDetector(0.0)
    rects = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
    hog.hog = SimpleNamespace(detectMultiScale=lambda *a, **k: (rects[order], scores[order]))
    found, kept = hog(np.zeros((576, 768, 3), np.uint8))
    assert kept.tolist() == pytest.approx([2.67, 2.0, 1.5, 1.2]) and hog.nested == 2
    np.testing.assert_array_equal(found[0], boxes[0])


def test_a_gluoncv_detector_feeds_its_person_boxes_above_the_threshold(exported, synthetic, tmp_path, monkeypatch):
    """Random weights (no download): the wiring is tested, not the detections."""
    import mxnet as mx
    mx.random.seed(1)
    detector = GluonDetector("ssd_512_mobilenet1.0_coco", 0.0, pretrained=False)   # (YOLO's random scores tie)
    image = cv2.imread(str(val_image(synthetic)))
    boxes, scores = detector(image)
    assert len(boxes) >= 4 and ((boxes >= 0) & (boxes <= [320, 240, 320, 240])).all()
    detector.thresh = float(np.median(scores))
    kept, kept_scores = detector(image)
    assert 0 < len(kept) < len(boxes) and (kept_scores >= detector.thresh).all()
    import simplepose.predict.command
    monkeypatch.setattr(simplepose.predict.command, "make_detector", lambda name, thresh: detector)
    assert predict_main(["--model", str(exported), "--input", str(val_image(synthetic)), "--out", str(tmp_path),
                         "--detector", "ssd_512_mobilenet1.0_coco"]) == 0
    people = json.loads((tmp_path / f"{val_image(synthetic).stem}.json").read_text())["people"]
    assert len(people) == len(kept)
    np.testing.assert_allclose([p["box"][:2] for p in people], kept[:, :2], atol=0.01)
    np.testing.assert_allclose([p["score"] for p in people], kept_scores, atol=1e-4)


def test_a_detector_without_its_weights_offline_names_the_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path))
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")      # nothing listens: offline
    file, folder = model_store_file("ssd_512_mobilenet1.0_coco")
    assert folder == str(tmp_path / "models") and file.startswith("ssd_512_mobilenet1.0_coco-")
    with pytest.raises(SimplePoseError) as err:
        GluonDetector("ssd_512_mobilenet1.0_coco")
    assert str(err.value) == ("cannot get GluonCV's detector weights for ssd_512_mobilenet1.0_coco (no connection to "
                              f"GluonCV's model store); run once online, or put GluonCV's file {file} into {folder}")
    with pytest.raises(SimplePoseError, match="not a GluonCV detector family"):
        GluonDetector("resnet50_v1b")
    # in GluonCV's zoo, but its store has no weights for it: no download is tried
    with pytest.raises(SimplePoseError, match="^--detector center_net_dla34_coco: GluonCV publishes no weights"):
        GluonDetector("center_net_dla34_coco")
    assert not list((tmp_path / "models").glob("center_net*"))


# ---- deploy.json against the model files ------------------------------------------------------------------------

def export_copy(exported, tmp_path, **changes):
    out = tmp_path / "export"
    out.mkdir()
    doc = json.loads((exported / "deploy.json").read_text())
    for key in ("symbol", "params", "onnx"):
        (out / doc[key]).symlink_to(exported / doc[key])
    doc["checkpoint"] = str(Path(exported) / doc["checkpoint"])     # the checkpoint, still beside the export
    doc.update(changes)
    (out / "deploy.json").write_text(json.dumps(doc))
    return out


@pytest.mark.parametrize("backend", ["onnx", "mxnet"])
@pytest.mark.parametrize("change, problem", [
    ({"input_size": [128, 96]}, "field 'input_size' is 128,96 but"),
    ({"stride": 8}, "field 'stride' is 8 but 64x64 crops give 16x16 heatmaps"),
    ({"mean": [0.5, 0.5, 0.5]}, "field 'mean' is [0.5, 0.5, 0.5] but checkpoint"),
])
def test_a_deploy_json_that_disagrees_with_its_model_is_refused(exported, tmp_path, backend, change, problem):
    out = export_copy(exported, tmp_path, **change)
    with pytest.raises(SimplePoseError) as err:
        PosePredictor.load(out, backend)
    assert str(err.value).startswith(f"{out / 'deploy.json'}: ") and problem in str(err.value)


def test_a_deploy_json_with_another_keypoint_count_is_refused(exported, tmp_path):
    doc = json.loads((exported / "deploy.json").read_text())
    meta = dict(doc["meta"], names=doc["meta"]["names"][:5], skeleton=[[0, 1]], flip_pairs=[[1, 2], [3, 4]],
                upper_body=[0, 1, 2], lower_body=[],
                sigmas=doc["meta"]["sigmas"][:5] if doc["meta"].get("sigmas") else None)
    out = export_copy(exported, tmp_path, meta=meta, checkpoint=None)
    with pytest.raises(SimplePoseError, match="field 'meta' names 5 keypoints but the model .* gives 17 heatmaps"):
        PosePredictor.load(out, "onnx")


def test_a_plain_params_file_is_sent_to_the_export_command(trained, tmp_path):
    plain = tmp_path / "gluoncv_pose.params"
    shutil.copy(Path(trained).with_suffix(".params"), plain)          # GluonCV's save_parameters: no manifest
    with pytest.raises(SimplePoseError, match=r"a plain \.params file .*\(simplepose-export --params"):
        PosePredictor.load(plain)


def test_coco_results_group_boxes_by_image_in_file_order():
    """Evaluation's post-processing groups the boxes by image with one sort (it scanned all boxes per image)."""
    from simplepose.data.boxes import PersonBoxes
    from simplepose.scoring.oks import coco_results
    ids = np.array([7, 3, 7, 3, 9, 3], np.int64)
    keypoints = np.tile(np.arange(6, dtype=np.float32)[:, None, None], (1, 17, 3)) + 1
    boxes = PersonBoxes(ids, ["x.jpg"] * 6, np.tile([0, 0, 10, 10], (6, 1)).astype(np.float32),
                        np.linspace(0.5, 1, 6).astype(np.float32), "test", [3, 7, 9])
    results = coco_results(keypoints, boxes, np.full(6, 100.0), 1, np.full(17, 0.05), oks_nms_thresh=1.0)
    assert [(r["image_id"], r["keypoints"][0]) for r in results] == [(3, 2.0), (3, 4.0), (3, 6.0), (7, 1.0),
                                                                     (7, 3.0), (9, 5.0)]
    assert coco_results(keypoints[:0], PersonBoxes(ids[:0], [], np.zeros((0, 4), np.float32), np.zeros(0),
                                                   "none", []), np.zeros(0), 1, np.full(17, 0.05)) == []
