"""What ``--input`` names, expanded, and the frames read from it.

An ``--input`` is an image file, a folder (the images in it, sorted by name), a glob pattern (quoted, so
the shell leaves it alone), a video file, or a webcam index (``0``). Each becomes an ``Input`` with a
unique output stem: two inputs ``a/x.jpg`` and ``b/x.jpg`` write ``a-x.*`` and ``b-x.*``, not both ``x.*``.
Images are decoded as (H, W, 3) uint8 BGR by the data pipeline's decoder (EXIF orientation applied);
videos and cameras through ``cv2.VideoCapture``.
"""
from __future__ import annotations

import glob
import logging
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .data.coco import read_image
from .errors import MissingFileError, SimplePoseError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass
class Input:
    """One image, video or camera to predict on.

    Attributes:
        kind: "image", "video" or "webcam". path: the file (the camera index as text for a webcam).
        stem: output file stem, unique among the inputs.
    """

    kind: str
    path: str
    stem: str = ""

    @property
    def camera(self) -> int:
        return int(self.path)


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def _expand(spec: str) -> list[Input]:
    """The inputs one ``--input`` value names."""
    path = Path(spec)
    if spec.isdigit() and not path.exists():
        return [Input("webcam", str(int(spec)))]
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.is_file() and _kind(p) == "image")
        if not images:
            raise SimplePoseError(f"--input {spec}: no image in this folder ({', '.join(IMAGE_SUFFIXES)}); "
                                  "give image or video files")
        return [Input("image", str(p)) for p in images]
    if path.is_file():
        kind = _kind(path)
        if kind is None:
            raise SimplePoseError(f"--input {spec}: not an image ({', '.join(IMAGE_SUFFIXES)}) nor a video "
                                  f"({', '.join(VIDEO_SUFFIXES)}) by its name")
        return [Input(kind, spec)]
    if glob.has_magic(spec):
        found = sorted(Path(p) for p in glob.glob(spec, recursive=True))
        files = [Input(_kind(p), str(p)) for p in found if p.is_file() and _kind(p)]
        if not files:
            raise MissingFileError(f"--input {spec}: the pattern matches no image or video file")
        return files
    raise MissingFileError(f"--input {spec}: no such file or folder")


def _unique_stems(inputs: list[Input]) -> None:
    """Give each input an output stem: its file stem, prefixed by as few parent folders as tell inputs of the
    same stem apart (``a/x.jpg``, ``b/x.jpg`` -> ``a-x``, ``b-x``), else numbered (``x``, ``x-2``)."""
    groups: dict[str, list[Input]] = defaultdict(list)
    for item in inputs:
        item.stem = f"webcam{item.path}" if item.kind == "webcam" else Path(item.path).stem
        groups[item.stem].append(item)
    for stem, group in groups.items():
        paths = [Path(os.path.abspath(item.path)) for item in group]
        for depth in range(1, max(len(p.parts) for p in paths) if len(group) > 1 else 0):
            names = ["-".join(p.parts[-depth - 1:-1] + (stem,)) for p in paths]
            if len(set(names)) == len(set(paths)):   # the same file twice is numbered below
                for item, name in zip(group, names):
                    item.stem = name
                break
    used: set[str] = set()
    for item in inputs:   # the same file twice, x.jpg beside x.png, or a prefixed stem meeting another
        name, n = item.stem, 1
        while name in used:
            n += 1
            name = f"{item.stem}-{n}"
        item.stem = name
        used.add(name)


def expand_inputs(specs: list[str]) -> list[Input]:
    """Every ``--input`` expanded, in order, each with a unique output stem."""
    inputs = [item for spec in specs for item in _expand(spec)]
    _unique_stems(inputs)
    return inputs


def read_bgr(item: Input) -> np.ndarray:
    """An image input decoded: (H, W, 3) uint8 BGR; an unreadable file is one line naming it."""
    return read_image(item.path, "--input", rgb=False)


def open_video(item: Input) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` of a video file or a camera; one line when it cannot be opened."""
    if item.kind == "webcam":
        # Probe the device node first: OpenCV prints its own warnings and waits when the camera is absent.
        if sys.platform.startswith("linux") and not Path(f"/dev/video{item.camera}").exists():
            raise SimplePoseError(f"--input {item.path}: no camera {item.camera} (/dev/video{item.camera} does not "
                                  "exist); give an image, folder or video, or the index of a connected camera")
        capture = cv2.VideoCapture(item.camera)
    else:
        capture = cv2.VideoCapture(item.path)
    if not capture.isOpened():
        what = f"camera {item.camera}" if item.kind == "webcam" else "this video (its codec or container may not be " \
                                                                      "supported by OpenCV's build)"
        raise SimplePoseError(f"--input {item.path}: OpenCV cannot open {what}")
    return capture


def video_info(capture: cv2.VideoCapture) -> tuple[float, int | None, tuple[int, int]]:
    """(frames per second (25 when the file does not say), frame count or None, (width, height) pixels)."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    return (fps if fps and np.isfinite(fps) and fps > 0 else 25.0), (count if count > 0 else None), size


def frame_chunks(capture: cv2.VideoCapture, size: int) -> Iterator[list[np.ndarray]]:
    """Consecutive frames, (H, W, 3) uint8 BGR, ``size`` at a time (the last chunk may be shorter)."""
    chunk: list[np.ndarray] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
