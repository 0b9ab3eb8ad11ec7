"""What predict writes: per image ``STEM.png`` + ``STEM.json``, per video ``STEM.mp4`` + ``STEM.jsonl``.

A record is ``{"image": path, "people": [Person.to_json(), ...]}`` (``"frame": i`` added for a video frame).
Every file is written atomically (``io.atomic_write``): a video's MP4 and JSONL appear only when the whole
video is done, so an interrupted run leaves no half file under a final name. Until then they are temporary
files carrying simplepose's marker and the PID (``.simplepose-tmp-PID-STEM.mp4.XXXX.mp4``); those of a
killed run are removed by the next predict into the folder (``tempfiles.remove_leftovers``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from simplepose.io import atomic_write, atomic_write_text
from simplepose.meta import KeypointMeta
from simplepose.predict.drawing import draw_label, draw_people, upscaled
from simplepose.runtime.predictor import Person


def record(image: str, people: Sequence[Person], frame: int | None = None) -> dict[str, Any]:
    """The JSON record of an image (or of frame ``frame`` of a video)."""
    head: dict[str, Any] = {"image": image} if frame is None else {"image": image, "frame": frame}
    return {**head, "people": [p.to_json() for p in people]}


def write_image_result(out_dir: Path, stem: str, image_path: str, image: np.ndarray, people: Sequence[Person],
                       meta: KeypointMeta, kpt_thresh: float, title: str) -> None:
    """``STEM.json`` and ``STEM.png`` in ``out_dir``: the (H, W, 3) uint8 BGR image with the skeletons and
    ``title`` in its top left corner, drawn on an upscaled copy when the image is narrower than
    ``drawing.MIN_WIDTH`` (the JSON keeps the image's own pixels)."""
    atomic_write_text(out_dir / f"{stem}.json", json.dumps(record(image_path, people), indent=1), "keypoints JSON")
    picture, factors = upscaled(image)
    draw_people(picture, people, meta, kpt_thresh, factors)
    draw_label(picture, title, (0, 0), (0, 0, 0))

    def write_png(tmp: str) -> None:
        ok, png = cv2.imencode(".png", picture)
        if not ok:   # an OSError: atomic_write reports it as one line naming the PNG
            raise OSError(f"OpenCV could not encode a {picture.shape[1]}x{picture.shape[0]} PNG")
        png.tofile(tmp)
    atomic_write(out_dir / f"{stem}.png", write_png, "pose picture")


class VideoSink:
    """An MP4 (OpenCV's ``mp4v``) of drawn frames and a JSONL of their records, at temporary paths (the MP4's
    ends in ``.mp4``: VideoWriter picks the container by the name's suffix)."""

    def __init__(self, mp4_tmp: str, jsonl_tmp: str, fps: float, size: tuple[int, int], meta: KeypointMeta,
                 kpt_thresh: float):
        self.writer = cv2.VideoWriter(mp4_tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise OSError(f"OpenCV cannot write an mp4v video of {size[0]}x{size[1]} at {fps:g} frames/s")
        self.jsonl = open(jsonl_tmp, "w", encoding="utf-8")
        self.meta, self.kpt_thresh, self.size = meta, kpt_thresh, size

    def write(self, image: str, frame_index: int, frame: np.ndarray, people: Sequence[Person]) -> None:
        """Append frame ``frame_index`` ((H, W, 3) uint8 BGR, drawn on in place) and its record."""
        self.jsonl.write(json.dumps(record(image, people, frame_index)) + "\n")
        draw_people(frame, people, self.meta, self.kpt_thresh)
        if frame.shape[1::-1] != self.size:   # a camera may change resolution; the file cannot
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(frame)

    def close(self) -> None:
        self.jsonl.close()
        self.writer.release()


def write_video_result(out_dir: Path, stem: str, fps: float, size: tuple[int, int], meta: KeypointMeta,
                       kpt_thresh: float, produce: Callable[[VideoSink], None]) -> None:
    """Run ``produce(sink)``, which writes every frame, then move ``STEM.mp4`` and ``STEM.jsonl`` into place."""
    def with_mp4(mp4_tmp: str) -> None:
        def with_jsonl(jsonl_tmp: str) -> None:
            sink = VideoSink(mp4_tmp, jsonl_tmp, fps, size, meta, kpt_thresh)
            try:
                produce(sink)
            finally:
                sink.close()
        atomic_write(out_dir / f"{stem}.jsonl", with_jsonl, "keypoints JSONL")
    atomic_write(out_dir / f"{stem}.mp4", with_mp4, "pose video", suffix=".mp4")
