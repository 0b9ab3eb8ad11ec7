"""The loop of ``simplepose.predict.command``: inputs -> boxes -> poses (batched across images and frames) -> files.

Images go through the model a chunk at a time (``chunk`` images, all their people in shared batches), a video
``chunk`` frames at a time; ``--track`` gives people ids across a video's frames (``tracking.Tracker``:
Kalman-predicted boxes, IoU and OKS with the model's sigmas, ByteTrack's pass over low-score boxes) and
``--smooth`` filters the keypoints of confirmed tracks over time (``smoothing.PoseSmoother``, One Euro). One
tqdm bar counts images and frames, with an ETA when the number of frames is known.

A video none of whose frames decodes is an error, raised before anything is written for it; frames that
fail within a video are left out (no record, no picture: the records' frame numbers skip them), counted
in the summary line with the numbers of the first few, and logged.
"""
from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from simplepose.predict.box_sources import BoxSource
from simplepose.data.decode import MAX_IMAGE_PIXELS
from simplepose.errors import SimplePoseError
from simplepose.predict.inputs import Input, VideoFrames, check_video_size, frame_chunks, open_video, read_bgr, video_info
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


@dataclass
class Tally:
    """What a run did: images, video frames, people found, files written, undecodable video frames
    (``failed_frames``: 'VIDEO: ``VideoFrames.failures()``' per video that had some), seconds."""

    images: int = 0
    frames: int = 0
    people: int = 0
    written: list[str] = field(default_factory=list)
    failed_frames: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def summary(self) -> str:
        seconds = time.perf_counter() - self.started
        done = self.images + self.frames
        failed = "".join(f"; {what} could not be decoded, left out" for what in self.failed_frames)
        return (f"{self.images} images, {self.frames} video frames, {self.people} people in {seconds:.1f} s "
                f"({done / max(seconds, 1e-9):.1f} images+frames/s){failed}")


def _people_of(predictor: PosePredictor, source: BoxSource, frames: Sequence[np.ndarray], names: Sequence[str],
               numbers: Sequence[int] | None = None) -> list[list[Person]]:
    """Boxes of each frame from ``source`` (``numbers``: a video's frame numbers), then all their poses in
    shared batches."""
    found = [source(f, n, None if numbers is None else numbers[i]) for i, (f, n) in enumerate(zip(frames, names))]
    return predictor.predict(frames, [b for b, _ in found], [s for _, s in found], names)


def run_images(predictor: PosePredictor, items: Sequence[Input], source: BoxSource, out: Path, opts: RunOptions,
               tally: Tally, bar: tqdm) -> None:
    """Predict on image inputs, ``opts.chunk`` at a time; write ``STEM.png`` and ``STEM.json`` for each."""
    for start in range(0, len(items), opts.chunk):
        chunk = items[start:start + opts.chunk]
        images = [read_bgr(item, opts.max_pixels) for item in chunk]
        for item, image, people in zip(chunk, images, _people_of(predictor, source, images,
                                                                 [i.path for i in chunk])):
            write_image_result(out, item.stem, item.path, image, people, predictor.meta, opts.kpt_thresh,
                               predictor.name)
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


def run_video(predictor: PosePredictor, item: Input, source: BoxSource, out: Path, opts: RunOptions,
              tally: Tally, bar: tqdm) -> None:
    """Predict on every frame of a video file or camera; write ``STEM.mp4`` and ``STEM.jsonl``.

    A camera runs until Ctrl-C, which ends its files normally. A video of no decodable frame raises
    SimplePoseError naming it, before its files are begun.
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
        if count is not None and bar.total is not None:
            bar.total += count - 1   # the bar counted this video as one
            bar.refresh()
        follow = _Follow(predictor, fps, opts)

        def produce(sink: VideoSink) -> None:
            done = 0
            try:
                for chunk in itertools.chain([first], chunks):
                    numbers, images = [n for n, _ in chunk], [f for _, f in chunk]
                    for number, frame, people in zip(numbers, images, _people_of(
                            predictor, source, images, [item.path] * len(images), numbers)):
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
    finally:
        capture.release()
    if frames.failed:
        bar.update(frames.failed)   # the bar counted them in the video's length
        tally.failed_frames.append(f"{item.path}: {frames.failures()}")
        log.warning("%s: %s could not be decoded and were left out (the file may be damaged or cut short)",
                    item.path, frames.failures())
    tally.written += [str(out / f"{item.stem}.mp4"), str(out / f"{item.stem}.jsonl")]


def run(predictor: PosePredictor, inputs: Sequence[Input], source: BoxSource, out: Path, opts: RunOptions
        ) -> Tally:
    """Every input, images first in chunks, then each video; one progress bar."""
    tally = Tally()
    images = [i for i in inputs if i.kind == "image"]
    videos = [i for i in inputs if i.kind != "image"]
    # A camera has no length: the bar then counts without an ETA.
    total = None if any(v.kind == "webcam" for v in videos) else len(inputs)
    with tqdm(total=total, unit="frame", desc="predict", dynamic_ncols=True) as bar:
        run_images(predictor, images, source, out, opts, tally, bar)
        for video in videos:
            run_video(predictor, video, source, out, opts, tally, bar)
    return tally
