"""What ``--input`` names, expanded, and the frames read from it.

An ``--input`` is an image file, a folder (the images in it, sorted by name), a glob pattern (quoted, so
the shell leaves it alone), a video file, or a webcam index (``0``). Each becomes an ``Input`` with a
unique output stem: two inputs ``a/x.jpg`` and ``b/x.jpg`` write ``a-x.*`` and ``b-x.*``, not both ``x.*``.
Images are decoded as (H, W, 3) uint8 BGR by the data pipeline's decoder (stored frame), each header checked
first (``check_images``: no pixels, or more than ``--max-image-pixels``); videos and cameras through
``cv2.VideoCapture``, a video's frame size checked against the same limit before its first frame is decoded
(and each video file opened once before any work, ``check_videos``).
A path that is no regular file (a FIFO, a socket, a broken symbolic link...) is refused by what it is, never
opened. ``VideoFrames`` numbers a video's frames as the file does and counts those that fail to decode.
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

from simplepose.data.coco import read_image
from simplepose.data.decode import MAX_IMAGE_PIXELS, check_pixels, image_header
from simplepose.data.image_files import file_problem
from simplepose.errors import MissingFileError, SimplePoseError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
# Failed reads in a row after which the rest of a video is taken as undecodable (OpenCV's read fails once
# per frame it cannot decode and then goes on with the next one; at the end of the file it fails for good).
MAX_FAILED_READS = 25
# Frame numbers of a video's undecodable frames kept for the report.
SHOWN_FAILED_FRAMES = 5


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
    if os.path.lexists(spec) and not glob.has_magic(spec):   # there, but no file nor folder: say what it is
        problem = file_problem(spec)
        raise (MissingFileError if problem and problem.missing else SimplePoseError)(
            f"--input {spec}: {problem or 'is no file'}; give an image, folder or video file")
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


def check_images(items: list[Input], max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Read each image input's header, before any work: one line naming the first that is no regular file,
    no image, or of no pixels or more than ``max_pixels`` (0: no limit)."""
    for item in items:
        if item.kind == "image":
            try:
                image_header(item.path, max_pixels)
            except (OSError, ValueError) as exc:
                raise SimplePoseError(f"--input {item.path}: {exc}") from None


def check_videos(items: list[Input], max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Open each video file input once, before any work (nothing is written yet): one line naming the first
    that OpenCV cannot open or whose frames, as its header gives them, have more than ``max_pixels``.
    Cameras are opened when their turn comes."""
    for item in items:
        if item.kind == "video":
            capture = open_video(item)
            try:
                check_video_size(item, video_info(capture)[2], max_pixels)
            finally:
                capture.release()


def read_bgr(item: Input, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An image input decoded: (H, W, 3) uint8 BGR; an unreadable file is one line naming it."""
    return read_image(item.path, "--input", rgb=False, max_pixels=max_pixels)


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


def check_video_size(item: Input, size: tuple[int, int], max_pixels: int) -> None:
    """Refuse a video whose frames, as its header gives them ((width, height) pixels; 0x0 when it does not
    say), have more than ``max_pixels`` (0: no limit), before one is decoded."""
    if min(size) > 0:
        try:
            check_pixels(*size, max_pixels)
        except ValueError as exc:
            raise SimplePoseError(f"--input {item.path}: video frames of {exc}") from None


class VideoFrames:
    """Iterates (frame number, (H, W, 3) uint8 BGR frame) over a video, numbered as in the file, and counts
    the frames that do not decode.

    A failed read is a frame that did not decode while the file declares more frames (``declared``); reading
    goes on with the next one, up to ``MAX_FAILED_READS`` failures in a row. Frames the file declares beyond
    the last one decoded count as failed too (a file cut short). Without a declared count (a camera, some
    containers) the first failed read ends the video.
    """

    def __init__(self, capture: cv2.VideoCapture, declared: int | None):
        self.capture, self.declared = capture, declared
        self.decoded = 0
        self.failed = 0
        self.failed_shown: list[int] = []   # the first SHOWN_FAILED_FRAMES numbers of failed frames
        self.next = 0                       # number of the next frame in the file

    def _fail(self, count: int) -> None:
        """Frames ``next`` .. ``next + count - 1`` did not decode."""
        self.failed_shown += range(self.next, self.next + min(count, SHOWN_FAILED_FRAMES - len(self.failed_shown)))
        self.failed += count
        self.next += count

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        misses = 0
        while True:
            ok, frame = self.capture.read()
            if ok:
                self._fail(misses)
                misses = 0
                self.decoded += 1
                self.next += 1
                yield self.next - 1, frame
                continue
            misses += 1
            if self.declared is None or self.next + misses >= self.declared or misses >= MAX_FAILED_READS:
                break
        if self.declared is not None and self.next < self.declared:
            self._fail(self.declared - self.next)

    def failures(self) -> str:
        """'2 of 20 frames (10, 11)': the failed frames, for reports."""
        more = ", ..." if self.failed > len(self.failed_shown) else ""
        return (f"{self.failed} of {self.declared or self.decoded + self.failed} frames "
                f"({', '.join(map(str, self.failed_shown))}{more})")


def frame_chunks(frames: Iterator[tuple[int, np.ndarray]], size: int
                 ) -> Iterator[list[tuple[int, np.ndarray]]]:
    """Consecutive (frame number, frame) pairs, ``size`` at a time (the last chunk may be shorter)."""
    chunk: list[tuple[int, np.ndarray]] = []
    for pair in frames:
        chunk.append(pair)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
