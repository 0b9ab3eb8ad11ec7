"""The loop of ``simplepose.predict.command``: inputs -> boxes -> poses (batched across images and frames) -> files.

Images go through the model a chunk at a time (``chunk`` images, all their people in shared batches), a video
``chunk`` frames at a time. On a video with more than one thread (``RunOptions.threads``) the chunks go through
a ``pipeline.Pipeline``: a chunk is decoded while the one before is in the box source and the one before that
in the pose network, tracking, drawing and encoding taking the results in order in this thread; a single image
or ``--threads 1`` starts no thread. ``--track`` gives people ids across a video's frames (``tracking.Tracker``:
Kalman-predicted boxes, IoU and OKS with the model's sigmas, ByteTrack's pass over low-score boxes) and
``--smooth`` filters the keypoints of confirmed tracks over time (``smoothing.PoseSmoother``, One Euro). A
tqdm bar counts the images (unit "image"), then one per video its frames (unit "frame", with an ETA when the
video declares its length). An image where no one was found is named in a log line saying why that may be
(the box source and its threshold), and counted in the summary.

A video none of whose frames decodes is an error, raised before anything is written for it; frames that
fail within a video are left out (no record, no picture: the records' frame numbers skip them), counted
in the summary line with the numbers of the first few, and logged.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from simplepose.predict.box_sources import BoxFile, BoxSource, WholeImage
from simplepose.predict.detectors import HogDetector
from simplepose.data.decode import MAX_IMAGE_PIXELS
from simplepose.errors import SimplePoseError
from simplepose.predict.inputs import Input, VideoFrames, check_video_size, frame_chunks, open_video, read_bgr, video_info
from simplepose.predict.pipeline import in_order
from simplepose.predict.outputs import VideoSink, write_image_result, write_video_result
from simplepose.predict.tracking import NO_PERSON, Tracker, lost_frames
from simplepose.runtime.predictor import Person, PosePredictor

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """How to run: images or frames per model chunk, the joint score drawn, tracking and smoothing."""

    chunk: int = 8
    kpt_thresh: float = 0.2
    track: bool = False
    smooth: bool = False
    smooth_params: tuple[float, float] = (1.0, 0.05)   # One Euro's min cutoff (Hz) and beta
    max_pixels: int = MAX_IMAGE_PIXELS                  # largest image or video frame read (0: no limit)
    det_thresh: float | None = None                     # tracking: box scores below this are low (None: none)
    threads: int = 1                                    # > 1: a video's stages run side by side (pipeline)


@dataclass
class Tally:
    """What a run did: images, those where no one was found, video frames, people found, files written,
    undecodable video frames (``failed_frames``: 'VIDEO: ``VideoFrames.failures()``' per video that had some),
    seconds."""

    images: int = 0
    no_one: int = 0
    frames: int = 0
    people: int = 0
    written: list[str] = field(default_factory=list)
    failed_frames: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def summary(self) -> str:
        seconds = time.perf_counter() - self.started
        done = self.images + self.frames
        failed = "".join(f"; {what} could not be decoded, left out" for what in self.failed_frames)
        no_one = f" ({self.no_one} with no one found)" if self.no_one else ""
        return (f"{self.images} images{no_one}, {self.frames} video frames, {self.people} people in {seconds:.1f} s "
                f"({done / max(seconds, 1e-9):.1f} images+frames/s){failed}")


def _boxes_of(source: BoxSource, frames: Sequence[np.ndarray], names: Sequence[str],
              numbers: Sequence[int] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(boxes (N, 4) float32 image pixels, scores (N,)) of each frame from ``source`` (``numbers``: a video's
    frame numbers)."""
    return [source(f, n, None if numbers is None else numbers[i]) for i, (f, n) in enumerate(zip(frames, names))]


def _people_of(predictor: PosePredictor, frames: Sequence[np.ndarray], found: Sequence[tuple[np.ndarray, np.ndarray]],
               names: Sequence[str]) -> list[list[Person]]:
    """The poses of every frame's boxes (``found``: ``_boxes_of``), in shared batches."""
    return predictor.predict(frames, [b for b, _ in found], [s for _, s in found], names)


# Images with no one found named one by one in the log; the summary counts them all.
SHOWN_NO_ONE = 10


def note_no_one(path: str, source: BoxSource, tally: Tally) -> None:
    """Count an image where no one was found and, for the first ``SHOWN_NO_ONE``, say which and why that may be."""
    tally.no_one += 1
    if tally.no_one <= SHOWN_NO_ONE:
        if not isinstance(source, BoxFile):
            why = ("the detector found no person at or above its threshold; a lower --det-thresh may find people "
                   "it scores low")
        elif source.from_annotations:
            why = "the annotation file has no box for it"
        else:
            why = "the boxes file has no box for it at or above the score threshold; a lower --box-thresh keeps more"
        log.warning("%s: no one found (%s): %s%s", path, source.description, why, "" if tally.no_one < SHOWN_NO_ONE
                    else " (further images with no one found are counted in the summary, not named)")


def run_images(predictor: PosePredictor, items: Sequence[Input], source: BoxSource, out: Path, opts: RunOptions,
               tally: Tally) -> None:
    """Predict on image inputs, ``opts.chunk`` at a time; write ``STEM.png`` and ``STEM.json`` for each."""
    if not items:
        return
    with tqdm(total=len(items), unit="image", desc="predict images", dynamic_ncols=True) as bar:
        for start in range(0, len(items), opts.chunk):
            chunk = items[start:start + opts.chunk]
            images = [read_bgr(item, opts.max_pixels) for item in chunk]
            names = [i.path for i in chunk]
            people_of = _people_of(predictor, images, _boxes_of(source, images, names), names)
            for item, image, people in zip(chunk, images, people_of):
                write_image_result(out, item.stem, item.path, image, people, predictor.meta, opts.kpt_thresh,
                                   predictor.name)
                if not people:
                    note_no_one(item.path, source, tally)
                tally.images += 1
                tally.people += len(people)
                tally.written += [str(out / f"{item.stem}.png"), str(out / f"{item.stem}.json")]
                bar.update(1)


class _Follow:
    """Track ids and smoothing across the frames of one video (nothing when neither is asked)."""

    def __init__(self, predictor: PosePredictor, fps: float, opts: RunOptions):
        self.tracker = self.smoother = None
        if opts.track or opts.smooth:
            sigmas = predictor.meta.sigmas
            split = float("-inf") if opts.det_thresh is None else opts.det_thresh
            self.tracker = Tracker(sigmas=None if sigmas is None else np.asarray(sigmas), det_thresh=split,
                                   max_lost=lost_frames(fps))
        if opts.smooth:
            from simplepose.predict.smoothing import PoseSmoother
            min_cutoff, beta = opts.smooth_params
            self.smoother = PoseSmoother(fps=fps, min_cutoff=min_cutoff, beta=beta)

    def __call__(self, people: list[Person]) -> list[Person]:
        """One frame's people, frames in order, with their track ids (None while a track is tentative) and
        smoothed keypoints; low-score boxes that continued no track are left out."""
        if self.tracker is None:
            return people
        k = len(people[0].keypoints) if people else 0
        keypoints = np.array([p.keypoints for p in people], np.float32).reshape(len(people), k, 3)
        boxes = np.array([p.box for p in people], np.float32).reshape(-1, 4)
        ids = self.tracker.update(keypoints, boxes, np.array([p.score for p in people], np.float64))
        kept = ids >= 0
        if self.smoother is not None:   # confirmed tracks only: a filter per id
            keypoints[kept] = self.smoother.update(keypoints[kept], ids[kept])
        out = []
        for person, track_id, kp in zip(people, ids.tolist(), keypoints):
            if track_id != NO_PERSON:
                person.track_id, person.keypoints = (None if track_id < 0 else track_id), kp
                out.append(person)
        return out


def _video_steps(predictor: PosePredictor, source: BoxSource, name: str
                 ) -> list[Callable[[list[tuple[int, np.ndarray]]], tuple[list[int], list[np.ndarray], Any]]]:
    """A chunk of (frame number, frame) -> (numbers, frames, their boxes) -> (numbers, frames, their people).

    One step per stage, so that the box source and the pose network overlap in a pipeline; one step for both
    when a GluonCV detector (MXNet) meets an MXNet pose model: MXNet's engine is not called from two threads.
    """
    def boxes(chunk: list[tuple[int, np.ndarray]]) -> tuple[list[int], list[np.ndarray], Any]:
        numbers, images = [n for n, _ in chunk], [f for _, f in chunk]
        return numbers, images, _boxes_of(source, images, [name] * len(images), numbers)

    def poses(found: tuple[list[int], list[np.ndarray], Any]) -> tuple[list[int], list[np.ndarray], Any]:
        numbers, images, boxes_found = found
        return numbers, images, _people_of(predictor, images, boxes_found, [name] * len(images))

    if predictor.backend == "mxnet" and not isinstance(source, (WholeImage, BoxFile, HogDetector)):
        return [lambda chunk: poses(boxes(chunk))]
    return [boxes, poses]


def run_video(predictor: PosePredictor, item: Input, source: BoxSource, out: Path, opts: RunOptions,
              tally: Tally) -> None:
    """Predict on every frame of a video file or camera; write ``STEM.mp4`` and ``STEM.jsonl``.

    A camera runs until Ctrl-C, which ends its files normally. A video of no decodable frame raises
    SimplePoseError naming it, before its files are begun (and before its progress bar).
    """
    capture = open_video(item)
    try:
        fps, count, size = video_info(capture)
        check_video_size(item, size, opts.max_pixels)
        frames = VideoFrames(capture, count)
        chunks = frame_chunks(iter(frames), opts.chunk)
        first = next(chunks, None)
        if first is None:
            declared = f" (its header declares {count})" if count else ""
            what = "the camera gave no frame" if item.kind == "webcam" else \
                f"none of its frames could be decoded{declared}: a damaged file, or a codec OpenCV's build lacks"
            raise SimplePoseError(f"--input {item.path}: {what}; nothing was written for it")
        # The frames' own size: a damaged header may give another, or none.
        size = first[0][1].shape[1::-1]
        check_video_size(item, size, opts.max_pixels)
        follow = _Follow(predictor, fps, opts)
        with tqdm(total=count, unit="frame", desc=f"predict {item.stem}", dynamic_ncols=True) as bar:
            def produce(sink: VideoSink) -> None:
                done = 0
                results = in_order(itertools.chain([first], chunks), _video_steps(predictor, source, item.path),
                                   threaded=opts.threads > 1)
                try:
                    with contextlib.closing(results):   # the pipeline's threads end here, however it ends
                        for numbers, images, people_of_frames in results:
                            for number, frame, people in zip(numbers, images, people_of_frames):
                                people = follow(people)
                                sink.write(item.path, number, frame, people)
                                done += 1
                                tally.frames += 1
                                tally.people += len(people)
                                bar.update(1)
                except KeyboardInterrupt:
                    if item.kind != "webcam":
                        raise
                    log.info("camera %s stopped after %d frames", item.path, done)
            write_video_result(out, item.stem, fps, size, predictor.meta, opts.kpt_thresh, produce)
            if frames.failed:
                bar.update(frames.failed)   # the bar counted them in the video's length
    finally:
        capture.release()
    if frames.failed:
        tally.failed_frames.append(f"{item.path}: {frames.failures()}")
        log.warning("%s: %s could not be decoded and were left out (the file may be damaged or cut short)",
                    item.path, frames.failures())
    tally.written += [str(out / f"{item.stem}.mp4"), str(out / f"{item.stem}.jsonl")]


def run(predictor: PosePredictor, inputs: Sequence[Input], source: BoxSource, out: Path, opts: RunOptions
        ) -> Tally:
    """Every input, images first in chunks (one bar), then each video (a bar each)."""
    tally = Tally()
    run_images(predictor, [i for i in inputs if i.kind == "image"], source, out, opts, tally)
    for video in (i for i in inputs if i.kind != "image"):
        run_video(predictor, video, source, out, opts, tally)
    return tally
