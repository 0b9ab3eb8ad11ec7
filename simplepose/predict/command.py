"""Pose on your own photos and videos: ``simplepose-predict --model MODEL --input PATH --out DIR``.

The model is an export directory, a checkpoint, a training run directory or GluonCV's model-zoo name
(``simple_pose_resnet50_v1b``: its published COCO weights); the inputs images, folders,
globs, videos or a webcam index; the person boxes come from a detections or annotation file (``--boxes``),
a detector (``--detector hog`` or a GluonCV model-zoo detector) or, with neither, the whole image. Each
image gives ``DIR/STEM.png`` (skeletons drawn) and ``DIR/STEM.json``; each video ``DIR/STEM.mp4`` and
``DIR/STEM.jsonl`` (one record per frame). Nothing is written beside the inputs. Each file appears whole
under its name, or not at all (written as a marked temporary file, then renamed); the temporary files a killed
predict left in DIR are removed by the next one, with one log line.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Sequence

import cv2

from simplepose.cli import check_output_dir, command_parser, setup_logging
from simplepose.codec import METHODS
from simplepose.runtime.load import BACKENDS
from simplepose.errors import SimplePoseError
from simplepose.flags import FRACTION, MAX_BATCH, integer, numbers, real
from simplepose.tempfiles import remove_leftovers
from simplepose.options import add_image_options
from simplepose.predict.box_sources import BoxFile, BoxSource, WholeImage, make_detector
from simplepose.predict.detectors import DEFAULT_THRESH, HOG
from simplepose.predict.inputs import VIDEO_SUFFIXES, Input, check_images, check_videos, expand_inputs
from simplepose.predict.run import RunOptions, run
from simplepose.predict.tracking import LOST_SECONDS, MIN_HITS
from simplepose.runtime.onnx import usable_cores
from simplepose.runtime.predictor import PosePredictor

log = logging.getLogger(__name__)

# --det-low's defaults: ByteTrack's low threshold for detector scores in [0, 1]; HOG's SVM margins start at 0.
LOW_SCORE, LOW_SCORE_HOG = 0.1, 0.0


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The predict command's flags; ``prog``: the name its usage line shows (see ``cli.command_parser``)."""
    p = command_parser("simplepose.predict", __doc__.splitlines()[0], prog)
    p.add_argument("--model", required=True, metavar="PATH|NAME",
                   help="export directory (simplepose-export), checkpoint (.json manifest, .params file or "
                        "prefix), training run directory (its best checkpoint, else its latest), or GluonCV's "
                        "model-zoo name simple_pose_resnet{18,50,101,152}_v1{b,d} (its published COCO weights, from "
                        "GluonCV's model store in $MXNET_HOME/models, run with MXNet; a path of that name wins)")
    p.add_argument("--input", action="append", required=True, metavar="PATH",
                   help="image file, folder of images, quoted glob ('photos/*.jpg'), video file "
                        f"({', '.join(VIDEO_SUFFIXES[:4])}...) or webcam index (0); repeat for more")
    p.add_argument("--out", default="predictions", metavar="DIR",
                   help="output directory: STEM.png + STEM.json per image, STEM.mp4 + STEM.jsonl per video")
    g = p.add_argument_group("person boxes (default: the whole image as one person)")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--boxes", default=None, metavar="FILE",
                     help="COCO detections (results format: each image's boxes by image_id), a list of "
                          "[x, y, w, h] boxes for every image, or a COCO annotation file (each image's own boxes); "
                          "boxes outside the image or of absurd size are dropped and counted")
    src.add_argument("--detector", default=None, metavar="NAME",
                     help="person detector: hog (OpenCV's, no download; upright people >= ~64x128 pixels) or a "
                          "GluonCV model-zoo detector, e.g. yolo3_mobilenet1.0_coco, faster_rcnn_resnet50_v1b_coco")
    g.add_argument("--ann", default=None, metavar="FILE",
                   help="COCO annotation file naming the images of --boxes detections: an input is the entry "
                        "sharing the longest suffix of its path (cam1/x.jpg, not cam2/x.jpg; a tie is refused); "
                        "default: the image_id is the file's numeric stem (000000397133.jpg -> 397133)")
    g.add_argument("--category-id", type=integer(0, 2 ** 63 - 1), default=None, metavar="ID",
                   help="person category of --boxes detections (when not given: 1, COCO's person)")
    g.add_argument("--box-thresh", type=FRACTION, default=0.5, metavar="X",
                   help="minimum score of --boxes detections")
    g.add_argument("--det-thresh", type=real(-10, 10), default=None, metavar="X",
                   help="minimum person score of --detector (when not given: 0.5): a GluonCV detector's score, in "
                        "[0, 1]; for hog, its SVM margin (mostly 0 to 3). With --track it splits high-score boxes "
                        "(people) from low-score ones (down to --det-low), as --box-thresh does for --boxes")
    g.add_argument("--det-low", type=real(-10, 10), default=None, metavar="X",
                   help="with --track: boxes scored from X up to --det-thresh (or --box-thresh) are kept for the "
                        "tracker's second pass (ByteTrack): they continue a track, never start one, and are "
                        f"reported only when they do (when not given: {LOW_SCORE}; hog: {LOW_SCORE_HOG})")
    m = p.add_argument_group("model")
    m.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="runtime of an export: auto (with ONNX Runtime installed, its INT8 model when it has one, "
                        "else its ONNX model; else MXNet), onnx, onnx-int8 (its INT8 model, simplepose-export --int8: "
                        "about 2-3x faster on one CPU thread) or mxnet; a checkpoint runs with MXNet")
    m.add_argument("--decode", choices=METHODS, default=None, help="heatmap decoding (default: the model's codec)")
    m.add_argument("--flip-test", action="store_true", help="average with the mirrored crops' heatmaps")
    m.add_argument("--batch-size", type=integer(1, MAX_BATCH), default=32, metavar="N",
                   help="person crops per forward pass, across images and frames")
    m.add_argument("--chunk", type=integer(1, MAX_BATCH), default=8, metavar="N",
                   help="images or video frames read and batched together")
    m.add_argument("--threads", type=integer(0, 1024), default=0, metavar="N",
                   help="CPU threads: ONNX Runtime's and OpenCV's; on a video, with more than one, reading, person "
                        "boxes, the pose network and drawing run side by side (1: all in turn in one thread; "
                        "0: every core this process may use)")
    v = p.add_argument_group("video")
    v.add_argument("--track", action="store_true",
                   help="keep person ids across a video's frames: a Kalman filter per person's box, optimal "
                        "matching by box overlap and OKS, a second pass over low-score boxes (--det-low); a new "
                        f"person gets an id after {MIN_HITS} frames in a row (drawn without one until then), a lost "
                        f"one keeps it for {LOST_SECONDS:g} s of video")
    v.add_argument("--smooth", action="store_true",
                   help="One Euro filter on each tracked keypoint coordinate (implies --track)")
    v.add_argument("--smooth-params", type=numbers(2, 0, 1000), default="1.0,0.05", metavar="X,Y",
                   help="One Euro min cutoff (Hz) and beta: lower cutoff is smoother, higher beta lags less on fast "
                        "motion")
    p.add_argument("--kpt-thresh", type=FRACTION, default=0.2, metavar="X",
                   help="joints drawn above this score")
    add_image_options(p, outside_root=False)
    return p


def score_split(args: argparse.Namespace) -> tuple[float | None, float | None]:
    """(the least score of a box kept, the tracker's split of high- from low-score boxes): (None, None) for
    the whole image; without tracking the box source's threshold and no split; with --track (or --smooth)
    --det-low and the box source's threshold. A threshold out of the detector's range, or a --det-low above it,
    is refused."""
    if not (args.boxes or args.detector):
        return None, None
    if args.detector and args.detector != HOG:
        for flag, value in (("--det-thresh", args.det_thresh), ("--det-low", args.det_low)):
            if value is not None and not 0 <= value <= 1:
                raise SimplePoseError(f"{flag} {value}: {args.detector} scores are in [0, 1]")
    high = args.box_thresh if args.boxes else args.det_thresh
    if high is None:
        high = DEFAULT_THRESH[HOG if args.detector == HOG else "gluoncv"]
    if not (args.track or args.smooth):
        return high, None
    low = (LOW_SCORE_HOG if args.detector == HOG else LOW_SCORE) if args.det_low is None else args.det_low
    if low > high:
        raise SimplePoseError(f"--det-low {low:g}: above the {'--box-thresh' if args.boxes else '--det-thresh'} "
                              f"{high:g} that splits high- from low-score boxes; give a lower --det-low")
    return low, high


def box_source(args: argparse.Namespace) -> BoxSource:
    """The person boxes the flags ask for, down to the least score ``score_split`` gives."""
    least, _ = score_split(args)
    if args.boxes:
        return BoxFile(args.boxes, least, args.ann, args.category_id)
    if args.ann or args.category_id is not None:
        raise SimplePoseError("--ann and --category-id describe a --boxes detections file; give --boxes FILE")
    if args.detector:
        return make_detector(args.detector, least)
    return WholeImage()


def check_out(out: Path, inputs: Sequence[Input]) -> None:
    """Refuse an output directory that holds inputs: results never land beside (or over) the user's files."""
    check_output_dir(out, "--out")
    here = os.path.realpath(out)
    for item in inputs:
        if item.kind != "webcam" and os.path.realpath(os.path.dirname(os.path.abspath(item.path))) == here:
            raise SimplePoseError(f"--out {out}: holds the input {item.path}; write the predictions to another "
                                  "directory (nothing is written beside the inputs)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    min_cutoff, beta = args.smooth_params
    if min_cutoff <= 0:   # a cutoff of 0 Hz would freeze every keypoint at its first position
        raise SimplePoseError(f"--smooth-params {min_cutoff:g},{beta:g}: the min cutoff must be > 0 Hz")
    inputs = expand_inputs(args.input)
    out = Path(args.out)
    check_out(out, inputs)
    check_images(inputs, args.max_image_pixels)
    check_videos(inputs, args.max_image_pixels)
    source = box_source(args)
    if isinstance(source, BoxFile):   # every image's boxes found before the model loads
        images = [i.path for i in inputs if i.kind == "image"]
        source.prepare(images, frames_too=len(images) < len(inputs))
    threads = args.threads or usable_cores()
    # A video's stages share the cores with the network: its idle threads must not spin then.
    pipelined = threads > 1 and any(i.kind != "image" for i in inputs)
    predictor = PosePredictor.load(args.model, args.backend, threads, not pipelined, flip_test=args.flip_test,
                                   decode=args.decode, batch_size=args.batch_size)
    log.info("predicting with %s on %d inputs, %d threads%s; boxes: %s", predictor.name, len(inputs), threads,
             " (video stages side by side)" if pipelined else "", source.description)
    out.mkdir(parents=True, exist_ok=True)
    gone = remove_leftovers(out)
    if gone:
        log.info("removed %d temporary file(s) that interrupted runs left in %s: %s", len(gone), out,
                 ", ".join(p.name for p in gone))
    opts = RunOptions(args.chunk, args.kpt_thresh, args.track or args.smooth, args.smooth, (min_cutoff, beta),
                      args.max_image_pixels, score_split(args)[1], threads)
    previous = cv2.getNumThreads()
    cv2.setNumThreads(threads)   # OpenCV's pool (HOG, resizing), given back for whatever runs next in the process
    try:
        tally = run(predictor, inputs, source, out, opts)
    finally:
        cv2.setNumThreads(previous)
    if isinstance(source, BoxFile):
        source.report()
    dropped = getattr(source, "dropped", 0)
    if dropped:
        log.warning("%d detector boxes empty or not finite after clipping to the image were dropped", dropped)
    nested = getattr(source, "nested", 0)
    if nested:
        log.info("%d HOG boxes inside a better-scored one (the same person at two scales) were left out", nested)
    print(f"{tally.summary()}; wrote {len(tally.written)} files to {out}")
    return 0
