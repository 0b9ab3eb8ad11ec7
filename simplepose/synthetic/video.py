"""A short synthetic video: stick figures walking smoothly over a still background, with ground truth.

``python -m simplepose.synthetic --video OUT.mp4`` (or :func:`write_video`) writes ``OUT.mp4`` (MPEG-4 part 2,
OpenCV's ``mp4v``) and ``OUT.json``, its ground truth in PoseTrack 2018's COCO-style layout: one ``images``
entry per frame (``frame_id`` from 0, ``nframes``, ``file_name`` ``OUT/000000.jpg`` as extracted frames would
be named) and one annotation per person and frame with its ``track_id``, ``bbox`` ([x, y, w, h], clipped to
the frame) and ``keypoints`` (visibility read from what was drawn on top, as in the still images). Beside
them ``OUT.boxes.json`` holds the same boxes as a detector's output would be (COCO results format, ``image_id``
the frame index from 0, ``category_id`` 1, ``score`` 1), for ``python -m simplepose.predict --boxes``.

Every person keeps one look (colours, thicknesses) from :func:`.figure.sample_figure` and moves between two
random poses of the same height (a smooth cosine blend of the keypoints) while the body centre follows a
Lissajous path around its own column of the frame. Person ``i`` of a video is drawn from
``numpy.random.default_rng([seed, 2, i + 1])`` (the still images use splits 0 and 1), the background from
``[seed, 2, 0]``: nothing else changes what a person does.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from simplepose.errors import SimplePoseError
from simplepose.io import atomic_write, atomic_write_text
from simplepose.synthetic.background import draw_background
from simplepose.synthetic.figure import Figure, _quantise, sample_figure
from simplepose.synthetic.render import PARTS_PER_PERSON, draw_figure
from simplepose.synthetic.scene import _person_annotation
from simplepose.synthetic.writer import _categories

_VIDEO_SPLIT = 2          # the rng stream of videos, after the still images' train (0) and val (1)
FOURCC = "mp4v"           # MPEG-4 part 2: OpenCV's wheels write and read it without extra codecs


@dataclass(frozen=True)
class VideoSpec:
    """What :func:`render_video` draws.

    Attributes:
        num_frames: frames (>= 1). fps: frames per second (> 0).
        num_people: people in every frame (>= 1). image_size: (width, height), pixels, each >= 32.
        seed: base seed. feet: also draw and label the six foot points (23 keypoints).
    """

    num_frames: int = 48
    fps: float = 24.0
    num_people: int = 3
    image_size: tuple[int, int] = (640, 480)
    seed: int = 0
    feet: bool = False

    def __post_init__(self) -> None:
        w, h = (int(v) for v in self.image_size)
        object.__setattr__(self, "image_size", (w, h))
        problems = [f"{name} is {value}; give {fix}" for name, value, ok, fix in (
            ("num_frames", self.num_frames, self.num_frames >= 1, "at least 1 frame"),
            ("fps", self.fps, self.fps > 0, "a positive frame rate"),
            ("num_people", self.num_people, self.num_people >= 1, "at least 1 person"),
            ("seed", self.seed, self.seed >= 0, "a seed >= 0"),
            ("image_size", (w, h), min(w, h) >= 32, "at least 32 x 32 pixels")) if not ok]
        if problems:
            raise SimplePoseError(f"synthetic video: {problems[0]}")


@dataclass
class _Walker:
    """One person's motion: two poses (body centre at the origin) blended over time, moved along a path.

    pose_a, pose_b: the Figures (same look, same height) between which the keypoints move.
    home: (2,) image pixels, the path's centre; amp: (2,) pixels; period: (3,) seconds of the x and y
    motion and of the pose blend; phase: (3,) radians.
    """

    pose_a: Figure
    pose_b: Figure
    home: np.ndarray
    amp: np.ndarray
    period: np.ndarray
    phase: np.ndarray

    def at(self, t: float) -> Figure:
        """The figure at time t seconds, on the renderer's 1/16-pixel grid."""
        s = 0.5 - 0.5 * math.cos(2 * math.pi * t / self.period[2] + self.phase[2])
        centre = self.home + self.amp * np.sin(2 * math.pi * t / self.period[:2] + self.phase[:2])

        def blend(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return _quantise(centre + a + (b - a) * s)

        a, b = self.pose_a, self.pose_b
        return dataclasses.replace(a, kp=blend(a.kp, b.kp), neck=blend(a.neck, b.neck),
                                   head_c=blend(a.head_c, b.head_c))


def _walker(rng: np.random.Generator, slot: int, spec: VideoSpec) -> _Walker:
    """Person ``slot`` of the video: its own column of the frame, 50-75 % of the frame height tall."""
    w, h = spec.image_size
    height = rng.uniform(0.5, 0.75) * h
    a = sample_figure(rng, height, rotation_deg=float(rng.normal(0.0, 4.0)))
    b = sample_figure(rng, height, rotation_deg=float(rng.normal(0.0, 4.0)))
    a.has_feet = spec.feet
    column = w / spec.num_people
    return _Walker(a, b, home=np.array([(slot + 0.5) * column, 0.5 * h]),
                   amp=np.array([rng.uniform(0.15, 0.3) * column, rng.uniform(0.02, 0.06) * h]),
                   period=rng.uniform([2.5, 1.5, 2.0], [5.0, 3.0, 4.0]), phase=rng.uniform(0, 2 * math.pi, 3))


def render_video(spec: VideoSpec) -> Iterator[tuple[np.ndarray, list[dict[str, Any]]]]:
    """The frames of ``spec`` in order: (h, w, 3) uint8 BGR, and per person (in ``track_id`` order) its
    annotation (COCO fields ``bbox`` [x, y, w, h] image pixels, ``keypoints`` K x (x, y, v), ``num_keypoints``,
    ``area``, ... plus ``track_id``, the person's index)."""
    w, h = spec.image_size
    background = draw_background(np.random.default_rng([spec.seed, _VIDEO_SPLIT, 0]), w, h)
    walkers = [_walker(np.random.default_rng([spec.seed, _VIDEO_SPLIT, i + 1]), i, spec)
               for i in range(spec.num_people)]
    num_kp = len(walkers[0].pose_a.keypoints())
    for frame in range(spec.num_frames):
        img = background.copy()
        owner = np.zeros((h, w), np.uint16)
        figures = [walker.at(frame / spec.fps) for walker in walkers]
        for slot, fig in enumerate(figures):
            draw_figure(img, owner, fig, (slot + 1) * PARTS_PER_PERSON, per_part=True)
        yield img, [{**_person_annotation(fig, owner, slot, num_kp), "track_id": slot}
                    for slot, fig in enumerate(figures)]


def video_ground_truth(spec: VideoSpec, stem: str = "video") -> dict[str, Any]:
    """The ground truth of ``spec`` as a PoseTrack-style COCO document (see the module docstring); renders
    the frames without keeping them."""
    return _ground_truth_doc(spec, stem, (anns for _, anns in render_video(spec)))


def _ground_truth_doc(spec: VideoSpec, stem: str, frames: Iterator[list[dict[str, Any]]]) -> dict[str, Any]:
    w, h = spec.image_size
    images, annotations = [], []
    for frame, anns in enumerate(frames):
        images.append({"id": frame + 1, "file_name": f"{stem}/{frame:06d}.jpg", "frame_id": frame,
                       "nframes": spec.num_frames, "width": w, "height": h})
        annotations += [{"id": len(annotations) + j + 1, "image_id": frame + 1, **ann} for j, ann in enumerate(anns)]
    return {"info": {"description": "simplepose synthetic video ground truth", "fps": spec.fps, "seed": spec.seed},
            "images": images, "annotations": annotations, "categories": _categories(spec.feet)}


def frame_detections(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The ground truth ``doc``'s boxes as COCO detections of the frames (``image_id`` = frame index from 0)."""
    frame_of = {img["id"]: img["frame_id"] for img in doc["images"]}
    return [{"image_id": frame_of[a["image_id"]], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
            for a in doc["annotations"]]


def write_video(path: str | os.PathLike, spec: VideoSpec) -> dict[str, str]:
    """Write the video of ``spec`` to ``path`` (.mp4), its ground truth (same stem, .json) and its boxes as
    detections (same stem, .boxes.json) beside it.

    Each file is written atomically. Returns ``{"video": ..., "ground_truth": ..., "boxes": ...}`` path strings.
    """
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise SimplePoseError(f"{path}: the synthetic video is written as MP4; give a file name ending in .mp4")
    frames: list[list[dict[str, Any]]] = []

    def write(tmp: str) -> None:
        # OpenCV picks the container from the file name's extension, so write NAME.mp4 and move it.
        named = f"{tmp}.mp4"
        writer = cv2.VideoWriter(named, cv2.VideoWriter_fourcc(*FOURCC), spec.fps, spec.image_size)
        try:
            if not writer.isOpened():
                raise SimplePoseError(f"{path}: OpenCV cannot write {FOURCC} MP4 video here "
                                      "(opencv-python's wheels can; is OpenCV built without FFmpeg?)")
            for img, anns in render_video(spec):
                writer.write(img)
                frames.append(anns)
            writer.release()
            os.replace(named, tmp)
        finally:
            writer.release()
            if os.path.exists(named):
                os.unlink(named)

    atomic_write(path, write, "synthetic video")
    doc = _ground_truth_doc(spec, path.stem, iter(frames))
    out = {"video": str(path), "ground_truth": str(path.with_suffix(".json")),
           "boxes": str(path.with_suffix(".boxes.json"))}
    atomic_write_text(out["ground_truth"], json.dumps(doc, separators=(",", ":")), "synthetic video ground truth")
    atomic_write_text(out["boxes"], json.dumps(frame_detections(doc), separators=(",", ":")), "synthetic video boxes")
    return out
