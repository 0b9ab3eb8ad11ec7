"""predict on video with its stages side by side (predict/pipeline.py): the same records and frames, in the same
order, as one thread gives; a stage that raises ends the run in one line, exit 2, no thread left, nothing
written; the progress bars count images and frames; an image where no one was found is named and counted."""
import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from simplepose.errors import SimplePoseError
from simplepose.predict import pipeline as pipeline_module
from simplepose.predict.box_sources import BoxFile
from simplepose.predict.command import main as predict_main
from simplepose.predict.inputs import Input, VideoFrames
from simplepose.predict.outputs import VideoSink
from simplepose.predict.pipeline import Pipeline
from simplepose.predict.run import RunOptions, run
from simplepose.runtime.predictor import PosePredictor
from simplepose.synthetic.video import VideoSpec, write_video
from tests.data.test_hostile_images import one_line_error
from tests.data.test_hostile_images import run as run_command

pytestmark = pytest.mark.usefixtures("drop_log_handlers")

FRAMES = 12


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """A generated video of 3 walking figures, 160x120, with its ground-truth boxes as frame detections."""
    return write_video(tmp_path_factory.mktemp("walk") / "walk.mp4",
                       VideoSpec(num_frames=FRAMES, num_people=3, image_size=(160, 120), seed=2))


def pipeline_threads():
    return [t for t in threading.enumerate() if t.name.startswith("pipeline-")]


def decoded(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            capture.release()
            return frames
        frames.append(frame)


# ---- the pipeline itself --------------------------------------------------------------------------------------

def test_results_come_in_order_through_threads_of_their_own():
    seen = []

    def step(item):
        seen.append(threading.current_thread().name)
        return item * 10

    with Pipeline(range(50), [step, lambda x: x + 1], depth=2) as results:
        assert list(results) == [10 * i + 1 for i in range(50)]
    assert set(seen) == {"pipeline-step0"} and not pipeline_threads()


@pytest.mark.parametrize("where", ["read", "step"])
def test_an_exception_comes_after_the_items_before_it_and_every_thread_ends(where):
    boom = SimplePoseError("frame 7: boom")

    def items():
        for i in range(20):
            if where == "read" and i == 7:
                raise boom
            yield i

    def step(i):
        if where == "step" and i == 7:
            raise boom
        return i

    got = []
    with pytest.raises(SimplePoseError) as raised:
        with Pipeline(items(), [step, step]) as results:
            for item in results:
                got.append(item)
    assert raised.value is boom and got == list(range(7)) and not pipeline_threads()


def test_leaving_early_stops_reading_within_the_queues_bounds():
    read = []

    def items():
        for i in range(1000):
            read.append(i)
            yield i

    with Pipeline(items(), [lambda x: x], depth=2) as results:
        for item in results:
            if item == 3:
                break
    assert not pipeline_threads()
    assert len(read) <= 4 + 3 * 2 + 2   # the items taken, the queues' depth, one in hand per thread


# ---- predict on a video, with and without the pipeline ---------------------------------------------------------

def test_the_pipeline_gives_the_records_and_frames_of_one_thread(exported_model, walk, tmp_path, monkeypatch):
    predictor = PosePredictor.load(exported_model, "onnx", threads=1, batch_size=4)
    started = []
    original = pipeline_module.Pipeline.__init__

    def counted(self, *args, **kwargs):
        started.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(pipeline_module.Pipeline, "__init__", counted)
    outputs = {}
    for threads in (1, 3):
        out = tmp_path / f"threads{threads}"
        out.mkdir()
        opts = RunOptions(chunk=2, track=True, smooth=True, det_thresh=0.5, threads=threads)
        tally = run(predictor, [Input("video", walk["video"], "walk")], BoxFile(walk["boxes"], 0.1), out, opts)
        assert tally.frames == FRAMES and tally.people == 3 * FRAMES
        outputs[threads] = ((out / "walk.jsonl").read_bytes(), decoded(out / "walk.mp4"))
        assert len(started) == (threads > 1)   # one thread: no pipeline; three: one pipeline for the video
    records = [json.loads(line) for line in outputs[1][0].splitlines()]
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert {p["track_id"] for p in records[-1]["people"]} == {0, 1, 2}
    assert outputs[3][0] == outputs[1][0]   # byte for byte: order, keypoints, track ids, smoothing
    assert len(outputs[3][1]) == FRAMES and all(np.array_equal(a, b) for a, b in zip(*(outputs[t][1] for t in (1, 3))))


def fail_in(stage, monkeypatch):
    """Make ``stage`` of a video's run raise a SimplePoseError at frame 5."""
    message = f"walk.mp4 frame 5: {stage} failed"
    if stage == "read":
        original = VideoFrames.__iter__

        def frames(self):
            for number, frame in original(self):
                if number == 5:
                    raise SimplePoseError(message)
                yield number, frame
        monkeypatch.setattr(VideoFrames, "__iter__", frames)
    elif stage == "boxes":
        original = BoxFile.__call__
        monkeypatch.setattr(BoxFile, "__call__", lambda self, image, name, frame=None: (
            original(self, image, name, frame) if frame != 5 else (_ for _ in ()).throw(SimplePoseError(message))))
    elif stage == "poses":
        original, calls = PosePredictor.predict, []

        def predict(self, frames, boxes, scores=None, names=None):
            calls.append(1)
            if len(calls) == 3:   # the third chunk of two frames: frames 4 and 5
                raise SimplePoseError(message)
            return original(self, frames, boxes, scores, names)
        monkeypatch.setattr(PosePredictor, "predict", predict)
    else:
        original = VideoSink.write
        monkeypatch.setattr(VideoSink, "write", lambda self, image, number, frame, people: (
            original(self, image, number, frame, people) if number != 5 else
            (_ for _ in ()).throw(SimplePoseError(message))))
    return message


@pytest.mark.parametrize("stage", ["read", "boxes", "poses", "draw"])
def test_a_stage_raising_mid_video_ends_in_one_line_exit_2_and_leaves_nothing(exported_model, walk, tmp_path,
                                                                               capsys, monkeypatch, stage):
    message = fail_in(stage, monkeypatch)
    out = tmp_path / "out"
    ended = {}
    argv = ["--model", str(exported_model), "--input", walk["video"], "--out", str(out), "--boxes", walk["boxes"],
            "--track", "--chunk", "2", "--threads", "2"]
    worker = threading.Thread(target=lambda: ended.update(result=run_command(predict_main, argv, capsys)),
                              daemon=True)
    worker.start()
    worker.join(120)   # a guard against a hang, not a timing: the run takes a few seconds
    assert not worker.is_alive(), "predict hung after a stage raised"
    status, err = ended["result"]
    assert one_line_error(status, err, message) == f"error: {message}"
    assert "video stages side by side" in err   # the pipeline ran
    assert not pipeline_threads() and sorted(p.name for p in out.iterdir()) == []


# ---- feedback: bars and images with no one found ---------------------------------------------------------------

def test_bars_count_images_and_frames_and_no_one_found_is_named_and_counted(exported_model, synthetic, walk,
                                                                            tmp_path, capsys):
    images = sorted(Path(synthetic["val_images"]).glob("*.jpg"))[:3]
    stems = [int(p.stem) for p in images]
    boxes = tmp_path / "boxes.json"   # boxes for the first image only; the second's is under --box-thresh
    boxes.write_text(json.dumps([{"image_id": stems[0], "category_id": 1, "bbox": [10, 10, 80, 150], "score": 0.9},
                                 {"image_id": stems[1], "category_id": 1, "bbox": [10, 10, 80, 150], "score": 0.3}]))
    assert predict_main(["--model", str(exported_model), "--input", str(images[0]), "--input", str(images[1]),
                         "--input", str(images[2]), "--out", str(tmp_path / "out"), "--boxes", str(boxes)]) == 0
    printed = capsys.readouterr()
    for quiet in images[1:]:
        assert (f"{quiet}: no one found (boxes of {boxes} (score >= 0.5)): the boxes file has no box for it at or "
                "above the score threshold; a lower --box-thresh keeps more") in printed.err
    assert f"{images[0]}: no one found" not in printed.err
    assert "3 images (2 with no one found), 0 video frames, 1 people" in printed.out
    assert json.loads((tmp_path / "out" / f"{images[1].stem}.json").read_text())["people"] == []
    bars = printed.err.replace("\r", "\n")
    assert "predict images: 100%" in bars and "3/3" in bars and "image/s" in bars and "frame" not in bars

    assert predict_main(["--model", str(exported_model), "--input", walk["video"], "--out", str(tmp_path / "video"),
                         "--boxes", walk["boxes"]]) == 0
    bars = capsys.readouterr().err.replace("\r", "\n")
    assert "predict walk: 100%" in bars and f"{FRAMES}/{FRAMES}" in bars and "frame/s" in bars
    assert "0/1 " not in bars and "image" not in bars and "no one found" not in bars


def test_ctrl_c_on_a_camera_ends_its_files_normally_with_the_pipeline(exported_model, walk, tmp_path, monkeypatch):
    """Ctrl-C reaches the main thread, where the results are drawn: here raised there at frame 5."""
    from simplepose.predict import run as run_module
    monkeypatch.setattr(run_module, "open_video", lambda item: cv2.VideoCapture(walk["video"]))
    original = VideoSink.write

    def write(self, image, number, frame, people):
        if number == 5:
            raise KeyboardInterrupt
        original(self, image, number, frame, people)
    monkeypatch.setattr(VideoSink, "write", write)
    predictor = PosePredictor.load(exported_model, "onnx", threads=1)
    tally = run(predictor, [Input("webcam", "0", "webcam0")], BoxFile(walk["boxes"], 0.5), tmp_path,
                RunOptions(chunk=2, threads=3))
    records = [json.loads(line) for line in (tmp_path / "webcam0.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4] and tally.frames == 5
    assert len(decoded(tmp_path / "webcam0.mp4")) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["webcam0.jsonl", "webcam0.mp4"] and not pipeline_threads()


def test_a_gluoncv_detector_and_an_mxnet_pose_model_share_one_thread():
    """MXNet's engine is not called from two threads: detector and pose network in one step then."""
    from types import SimpleNamespace

    from simplepose.predict.detectors import HogDetector
    from simplepose.predict.run import _video_steps

    class GluonLike:   # any box source that is not known to run without MXNet
        description = "GluonCV yolo3_mobilenet1.0_coco person boxes (score >= 0.5)"

    for backend, source, steps in (("mxnet", GluonLike(), 1), ("onnx", GluonLike(), 2),
                                   ("mxnet", HogDetector(), 2)):
        assert len(_video_steps(SimpleNamespace(backend=backend), source, "walk.mp4")) == steps
