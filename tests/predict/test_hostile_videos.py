"""Hostile videos for predict: none of whose frames decodes (random frame bytes in a valid container, a text file
named .mp4, an MP4 cut after its header) is exit 2 and leaves nothing (what OpenCV cannot open is refused before
--out is made); frames damaged or cut off in the middle
are counted and named in the summary line; frames over the pixel limit are refused before decoding."""
import json

import cv2
import numpy as np
import pytest

from simplepose.predict.command import main as predict_main
from tests.data.test_hostile_images import one_line_error, run

pytestmark = pytest.mark.usefixtures("drop_log_handlers")

FRAMES = 20


def write_video(path, fourcc="mp4v", frames=FRAMES):
    """A small video as a phone or OpenCV writes it: a disc moving over a changing background."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (64, 48))
    for i in range(frames):
        frame = np.full((48, 64, 3), 10 * i, np.uint8)
        cv2.circle(frame, (10 + i, 20), 8, (0, 255, 0), -1)
        writer.write(frame)
    writer.release()
    return path


def mdat(data):
    """(start, end) of the payload of an MP4's media data box."""
    at = data.index(b"mdat")
    return at + 4, at - 4 + int.from_bytes(data[at - 4:at], "big")


def garbage_payload(path):
    """The MP4's container (ftyp, moov: 20 frames of 64x48) intact, every frame's bytes random."""
    data = bytearray(path.read_bytes())
    start, end = mdat(data)
    data[start:end] = np.random.default_rng(1).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def text_as_mp4(path):
    path.write_text("this is not a video\n")


def cut_after_header(path):
    """An MP4 cut short: OpenCV's writer puts the index (moov) last, so nothing is left to read by."""
    data = path.read_bytes()
    path.write_bytes(data[:mdat(data)[0] + 200])


@pytest.mark.parametrize("damage", [garbage_payload, text_as_mp4, cut_after_header])
def test_a_video_of_no_decodable_frame_is_exit_2_and_leaves_nothing(exported_model, tmp_path, capsys, damage):
    video = write_video(tmp_path / "clip.mp4")
    damage(video)
    good = write_video(tmp_path / "good.mp4")
    out = tmp_path / "out"
    status, err = run(predict_main, ["--model", str(exported_model), "--input", str(good), "--input", str(video),
                                     "--out", str(out)], capsys)
    one_line_error(status, err, f"--input {video}")
    if "OpenCV cannot open this video" in err:   # refused with the other input checks, before any work
        assert damage is not garbage_payload and not out.exists()
        return
    # The video before it is complete; nothing at all for the damaged one, not even a temporary file.
    assert sorted(p.name for p in out.iterdir()) == ["good.jsonl", "good.mp4"]


def corrupt_middle(path):
    """Random bytes over 300 bytes in the middle of the frames: a few frames do not decode, later ones do."""
    data = bytearray(path.read_bytes())
    start, end = mdat(data)
    middle = (start + end) // 2
    data[middle:middle + 300] = np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def cut_in_the_middle(path):
    """An AVI (MJPG; its frame count in the header at the start) cut at half its length."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("fourcc, suffix, damage", [("mp4v", ".mp4", corrupt_middle),
                                                     ("MJPG", ".avi", cut_in_the_middle)])
def test_frames_failing_mid_video_are_counted_and_named(exported_model, tmp_path, capsys, fourcc, suffix, damage):
    video = write_video(tmp_path / f"clip{suffix}", fourcc)
    damage(video)
    out = tmp_path / "out"
    assert predict_main(["--model", str(exported_model), "--input", str(video), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    records = [json.loads(line) for line in (out / "clip.jsonl").read_text().splitlines()]
    kept = [r["frame"] for r in records]
    lost = sorted(set(range(FRAMES)) - set(kept))
    assert 0 < len(lost) < FRAMES and kept == sorted(kept)
    shown = ", ".join(map(str, lost[:5])) + (", ..." if len(lost) > 5 else "")
    summary = printed.out.strip().splitlines()[-1]
    assert f"{len(kept)} video frames" in summary
    assert f"{video}: {len(lost)} of {FRAMES} frames ({shown}) could not be decoded" in summary, summary
    assert f"{len(lost)} of {FRAMES} frames ({shown}) could not be decoded" in printed.err
    assert cv2.VideoCapture(str(out / "clip.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == len(kept)


def test_a_video_whose_frames_exceed_the_limit_is_refused_before_decoding(exported_model, tmp_path, capsys):
    video = write_video(tmp_path / "clip.mp4")
    status, err = run(predict_main, ["--model", str(exported_model), "--input", str(video),
                                     "--out", str(tmp_path / "out"), "--max-image-pixels", "1000"], capsys)
    one_line_error(status, err, f"--input {video}: video frames of 64x48 = 3,072 pixels", "--max-image-pixels")
    assert not (tmp_path / "out").exists()   # refused with the other input checks, before --out is made
