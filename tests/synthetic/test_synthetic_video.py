"""Tests for simplepose.synthetic.video: the generated video, its ground truth and its command line."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from simplepose.errors import SimplePoseError
from simplepose.synthetic.__main__ import main
from simplepose.synthetic.video import VideoSpec, render_video, video_ground_truth, write_video


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A 12-frame 640x480 video of 3 people at 24 fps (seed 1): its paths and its spec."""
    spec = VideoSpec(num_frames=12, fps=24.0, num_people=3, seed=1)
    return write_video(tmp_path_factory.mktemp("video") / "walk.mp4", spec), spec


def read_frames(path: str) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return frames, fps


def test_opencv_reads_the_frames_back(written):
    paths, spec = written
    frames, fps = read_frames(paths["video"])
    assert len(frames) == 12 and fps == pytest.approx(24.0)
    assert {f.shape for f in frames} == {(480, 640, 3)}
    # MPEG-4 is lossy: the decoded frames are close to the rendered ones, not equal
    for frame, (rendered, _) in zip(frames, render_video(spec)):
        assert np.abs(frame.astype(np.int16) - rendered).mean() < 4.0


def test_ground_truth_is_posetrack_style_coco(written):
    paths, spec = written
    doc = json.loads(open(paths["ground_truth"]).read())
    assert doc == video_ground_truth(spec, "walk")      # the frames written are the frames described
    assert [img["frame_id"] for img in doc["images"]] == list(range(12))
    assert doc["images"][3] == {"id": 4, "file_name": "walk/000003.jpg", "frame_id": 3, "nframes": 12,
                                "width": 640, "height": 480}
    assert len(doc["annotations"]) == 36 and len({a["id"] for a in doc["annotations"]}) == 36
    assert doc["categories"][0]["keypoints"][:2] == ["nose", "left_eye"]
    for ann in doc["annotations"]:
        kps = np.array(ann["keypoints"]).reshape(17, 3)
        x, y, w, h = ann["bbox"]
        lab = kps[kps[:, 2] > 0]
        assert ann["num_keypoints"] == len(lab) > 10
        assert (lab[:, 0] >= x - 0.01).all() and (lab[:, 0] <= x + w + 0.01).all()
        assert (lab[:, 1] >= y - 0.01).all() and (lab[:, 1] <= y + h + 0.01).all()
        assert set(kps[:, 2].tolist()) <= {0.0, 1.0, 2.0}


def test_people_move_smoothly(written):
    """Every person's keypoints move between frames, by at most 12 px (24 fps), and the track ids are 0, 1, 2."""
    _, spec = written
    per_frame = [anns for _, anns in render_video(spec)]
    assert [[a["track_id"] for a in anns] for anns in per_frame] == [[0, 1, 2]] * 12
    kp = np.array([[a["keypoints"] for a in anns] for anns in per_frame]).reshape(12, 3, 17, 3)
    both = (kp[1:, ..., 2] > 0) & (kp[:-1, ..., 2] > 0)
    step = np.linalg.norm(kp[1:, ..., :2] - kp[:-1, ..., :2], axis=-1)[both]
    assert 0.5 < np.median(step) and step.max() < 12.0


def test_same_spec_same_video_and_people_independent_of_their_number():
    a = video_ground_truth(VideoSpec(num_frames=3, num_people=2, image_size=(320, 240), seed=4))
    b = video_ground_truth(VideoSpec(num_frames=3, num_people=2, image_size=(320, 240), seed=4))
    c = video_ground_truth(VideoSpec(num_frames=3, num_people=2, image_size=(320, 240), seed=5))
    assert a == b and a["annotations"] != c["annotations"]


def test_command_line_writes_the_video(tmp_path, capsys, drop_log_handlers):
    assert main(["--video", str(tmp_path / "clip.mp4"), "--frames", "5", "--fps", "10", "--people", "2",
                 "--width", "160", "--height", "128"]) == 0
    printed = capsys.readouterr().out
    assert f"video: {tmp_path / 'clip.mp4'}" in printed and f"ground_truth: {tmp_path / 'clip.json'}" in printed
    frames, fps = read_frames(str(tmp_path / "clip.mp4"))
    assert len(frames) == 5 and frames[0].shape == (128, 160, 3) and fps == pytest.approx(10.0)
    assert len(json.loads((tmp_path / "clip.json").read_text())["annotations"]) == 10
    detections = json.loads((tmp_path / "clip.boxes.json").read_text())
    assert [d["image_id"] for d in detections] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert detections[2] == {"image_id": 1, "category_id": 1, "score": 1.0,
                             "bbox": json.loads((tmp_path / "clip.json").read_text())["annotations"][2]["bbox"]}
    # no temporary file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.boxes.json", "clip.json", "clip.mp4"]


def test_bad_requests_are_one_line_errors(tmp_path):
    with pytest.raises(SimplePoseError, match="clip.avi: the synthetic video is written as MP4"):
        write_video(tmp_path / "clip.avi", VideoSpec(num_frames=2))
    with pytest.raises(SimplePoseError, match="synthetic video: num_people is 0; give at least 1 person"):
        VideoSpec(num_people=0)
    for argv in ([], ["--out", str(tmp_path), "--video", str(tmp_path / "v.mp4")]):
        with pytest.raises(SimplePoseError, match=r"^give exactly one of --out DIR \(the dataset\) and --video "
                                                  r"FILE.mp4 \(see .*simplepose.synthetic --help\)$"):
            main(argv)
