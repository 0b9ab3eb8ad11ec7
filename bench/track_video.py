#!/usr/bin/env python
"""How well ``simplepose-predict --detector hog --track`` holds ids on a real video: ids per 100 detections.

Runs the predict command (``python -m simplepose.predict``, this worktree's package) on ``--video`` with
OpenCV's HOG people detector and the tracker, then reads the ``STEM.jsonl`` it writes (one record per frame,
``{"frame": i, "people": [{"box", "score", "keypoints", "track_id"}, ...]}``, ``predict.outputs``) and prints:
frames, tracked detections (people reported with a track id), distinct ids, ids per 100 tracked detections,
the median and mean track length (frames in which an id is reported), the tracks of 1-2 frames, and the
command that reruns it. Issue 21's goal on real pedestrian video: at most 3 ids per 100 tracked detections
and a median track of 10 frames or more.

The pose model: ``--model`` (an export directory or checkpoint), else ResNet-18 at 64x64 with random weights,
exported on the fly (``bench/video_pose.random_checkpoint``, seed 0). The ids come from the HOG boxes: that
model's keypoints all score about 0, and the tracker compares poses only where both have 3 keypoints scored
above 0.2, so it follows the boxes alone (a trained model's poses join in). No ground truth:
the figures say how often ids are reborn, not whether they stay on the right person; bench/tracking.py scores
identities against ground truth on generated videos. HOG and the model ran at 1 frame/s on a busy shared
2-core machine, up to 6 frames/s when it was idle (vtest.avi: 2-17 minutes).

    .venv/bin/python bench/track_video.py --video /work/videos/vtest.avi
    .venv/bin/python bench/track_video.py --video street.mp4 --model runs/demo --det-thresh 0.3
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from simplepose.io import JsonRecord, read_jsonl   # noqa: E402
from simplepose.tempfiles import temporary_dir     # noqa: E402


def track_lengths(jsonl: str | Path) -> tuple[int, int, dict[int, int]]:
    """(frames, people reported, frames per track id) of a predict ``STEM.jsonl``; people without an id (a
    tentative track) count as reported but in no track."""
    frames = people = 0
    lengths: dict[int, int] = {}
    for line, value in read_jsonl(jsonl, "predict JSONL"):
        rec = JsonRecord(value, jsonl, f"line {line}")
        frames += 1
        for i, person in enumerate(rec.raw("people")):
            people += 1
            track_id = JsonRecord(person, jsonl, f"line {line} people[{i}]").int("track_id", None)
            if track_id is not None:
                lengths[track_id] = lengths.get(track_id, 0) + 1
    return frames, people, lengths


def summary(frames: int, people: int, lengths: dict[int, int]) -> list[str]:
    """The printed figures of :func:`track_lengths`."""
    tracked = sum(lengths.values())
    spans = list(lengths.values()) or [0]
    short = sum(1 for n in lengths.values() if n <= 2)
    return [f"frames {frames}, people reported {people}, tracked detections {tracked} "
            f"(with an id; {people - tracked} tentative)",
            f"distinct ids {len(lengths)}: {100 * len(lengths) / max(tracked, 1):.2f} ids per 100 tracked detections "
            "(goal <= 3)",
            f"track length in frames: median {statistics.median(spans):g} (goal >= 10), mean {np.mean(spans):.1f}, "
            f"tracks of 1-2 frames {short}"]


def random_export(where: Path) -> str:
    """An export of ResNet-18 at 64x64 with random weights in ``where``; its directory."""
    sys.path.insert(0, str(ROOT / "bench"))
    import mxnet as mx   # MXNet and GluonCV: only when no --model is given
    from video_pose import random_checkpoint
    from simplepose.export.command import export_checkpoint
    mx.random.seed(0)    # the same weights each run
    export_checkpoint(random_checkpoint("simple_pose_resnet18_v1b", (64, 64), where), where / "export")
    return str(where / "export")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", required=True, help="a video file of walking people")
    p.add_argument("--model", default=None, help="export directory or checkpoint (default: random ResNet-18 64x64)")
    p.add_argument("--det-thresh", default=None, help="predict's --det-thresh (default: predict's, 0.5 for hog)")
    p.add_argument("--det-low", default=None, help="predict's --det-low (default: predict's, 0 for hog)")
    p.add_argument("--out", default=None, help="keep predict's output (MP4 and JSONL) here (default: a temporary "
                                               "folder, removed)")
    args = p.parse_args(argv)
    if not Path(args.video).is_file():
        p.error(f"--video {args.video}: no such file")
    work = temporary_dir(tempfile.gettempdir(), "track-video")
    try:
        model = args.model or random_export(work)
        out = Path(args.out) if args.out else work / "predictions"
        command = [sys.executable, "-m", "simplepose.predict", "--model", model, "--input", args.video,
                   "--out", str(out), "--detector", "hog", "--track"]
        for flag, value in (("--det-thresh", args.det_thresh), ("--det-low", args.det_low)):
            command += [flag, value] if value is not None else []
        print("running:", " ".join(command), flush=True)
        subprocess.run(command, check=True, cwd=ROOT)
        jsonl = out / f"{Path(args.video).stem}.jsonl"
        print(f"{args.video}, HOG boxes, model {args.model or 'ResNet-18 64x64 with random weights'}:")
        for line in summary(*track_lengths(jsonl)):
            print("  " + line)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rerun = [f"--video {args.video}"] + [f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                                         if k != "video" and v is not None]
    print(f"rerun: .venv/bin/python bench/track_video.py {' '.join(rerun)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
