#!/usr/bin/env python
"""Pose-stage throughput on video: ours (ONNX Runtime FP32, INT8, MXNet) vs GluonCV's demo path, same model, boxes.

A 640x480 video of 3 moving synthetic figures (``simplepose.synthetic.video``) is generated and decoded
into memory first; each person's ground-truth box is given (no detector runs). Timed per side, from the
decoded BGR frames and the boxes to keypoints in image pixels as NumPy arrays:

  (a) GluonCV's demo path, frame by frame, as its webcam demo does: ``cv2.cvtColor`` to RGB,
      ``gluoncv.data.transforms.pose.detector_to_simple_pose`` (the boxes as detections of class 0,
      score 1), GluonCV's own ``simple_pose_resnet*`` (``get_model(..., pretrained=False)``,
      ``load_parameters`` of OUR checkpoint's ``.params``, ``hybridize(static_alloc=True)``), then
      ``gluoncv.data.transforms.pose.heatmap_to_coord``;
  (b) ours, ``simplepose.runtime.predictor.PosePredictor.predict`` on ``--batch-frames`` frames at a time (all their
      people in one batch: crop, normalise, run, decode, map back), the export of the same checkpoint
      (``export_checkpoint(..., int8=...)``, as ``simplepose-export --int8`` makes it) run (b1) with ONNX Runtime,
      (b2) its INT8 model with ONNX Runtime (``--backend onnx-int8``), (b3) with MXNet (the exported symbol,
      ``--backend mxnet``), and (b4) the INT8 model again with as many ONNX Runtime intra-op threads as this
      process has cores (``runtime.onnx.usable_cores``), which is what ``simplepose-predict`` gives it.

The INT8 model is calibrated on ``--calib-size`` person crops: of a small generated synthetic dataset for
random weights, of the checkpoint's own validation (else training) data with ``--params``.

Before timing it checks that the weights are the same: GluonCV's network and our ONNX file give the same
heatmaps on the same normalised crops. The sides take turns chunk by chunk (who goes first rotates) so the
shared machine's load hits them alike; a round is one pass over the video; the median round counts and each
ratio is the median of the rounds' ratios. The time inside each side's network call is counted apart, so
the output says where the time goes: the network (the same on both sides but for the runtime) and
everything else. MXNet runs its synchronous engine with ``OMP_NUM_THREADS`` threads (default 1; DESIGN.md:
its threaded engine slows whatever runs next in the process), ONNX Runtime as many intra-op threads, except on
the all-core line. That line times the network on all cores only: the rest of predict's video pipeline
(decoding, tracking, drawing, encoding in threads of their own beside it) is not in this bench, whose frames
are decoded before the clocks start on every side.
Random weights unless ``--params`` gives a checkpoint (time does not depend on them).

    .venv/bin/python bench/video_pose.py                                   # resnet18 at 256x192
    .venv/bin/python bench/video_pose.py --model simple_pose_resnet50_v1b --frames 16
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")  # before MXNet loads: see the docstring
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import gluon  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gluoncv.data.transforms.pose import detector_to_simple_pose, heatmap_to_coord  # noqa: E402
from gluoncv.model_zoo import get_model as gluoncv_get_model  # noqa: E402

from simplepose.rundir.checkpoint import load_manifest, save_checkpoint  # noqa: E402
from simplepose.training.optimizer_state import Trainer  # noqa: E402
from simplepose.data.transforms import normalize_batch  # noqa: E402
from simplepose.runtime.describe import load_deploy  # noqa: E402
from simplepose.runtime.load import load_model  # noqa: E402
from simplepose.runtime.onnx import onnx_forward, usable_cores  # noqa: E402
from simplepose.export.command import export_checkpoint  # noqa: E402
from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SKELETON, KeypointMeta  # noqa: E402
from simplepose.model import get_pose_model  # noqa: E402
from simplepose.flags import parse_input_size  # noqa: E402
from simplepose.runtime.predictor import PosePredictor  # noqa: E402
from simplepose.synthetic import generate  # noqa: E402
from simplepose.synthetic.video import VideoSpec, render_video, write_video  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
THREADS = int(os.environ["OMP_NUM_THREADS"])   # ONNX Runtime gets as many threads as MXNet's OpenMP


class Timed:
    """A callable that adds up the wall-clock and the CPU seconds of this process spent in ``fn``.

    Timings are exact because every runtime here is synchronous: NaiveEngine runs each MXNet operator when
    it is pushed, ONNX Runtime returns its outputs.
    """

    def __init__(self, fn: Callable):
        self.fn, self.wall, self.cpu = fn, 0.0, 0.0

    def __call__(self, *args):
        wall, cpu = time.perf_counter(), time.process_time()
        out = self.fn(*args)
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        return out


def random_checkpoint(model: str, input_size: tuple[int, int], out: Path) -> str:
    """A checkpoint of ``model`` with random weights for COCO's 17 keypoints; its manifest path."""
    meta = KeypointMeta.build(COCO_KEYPOINT_NAMES, COCO_SKELETON, skeleton_one_based=True)
    net = get_pose_model(model, meta.num_joints)
    net.initialize(mx.init.MSRAPrelu())
    net(mx.nd.zeros((1, 3) + input_size))
    cfg = {"model": model, "input_size": list(input_size), "mean": list(MEAN), "std": list(STD), "sigma": 2.0,
           "codec": "standard"}
    return str(save_checkpoint(out / "ckpt", net, Trainer(net.collect_params(), "adam"), 0, cfg,
                               meta.to_dict()))


def int8_calibration(params: str | None, size: int, out: Path) -> dict[str, object]:
    """``export_checkpoint``'s ``int8`` argument: the checkpoint's own data (``params`` given), else a small
    generated synthetic dataset's validation images (random weights: time does not depend on the data)."""
    if params:
        return {"size": size}
    data = generate(out / "calibration", num_train_images=0, num_val_images=max(4, size // 2), seed=1)
    return {"ann": data["val_ann"], "images": data["val_images"], "size": size}


def decoded_video(frames: int, seed: int, out: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The frames (H, W, 3) uint8 BGR of a written and re-read synthetic video, and per frame the people's
    ground-truth boxes (N, 4) (x0, y0, x1, y1) image pixels."""
    spec = VideoSpec(num_frames=frames, num_people=3, image_size=(640, 480), seed=seed)
    path = write_video(out / "video.mp4", spec)["video"]
    cap = cv2.VideoCapture(path)
    images = [cap.read()[1] for _ in range(frames)]
    cap.release()
    boxes = [np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], np.float32)
             for _, anns in render_video(spec)]
    return images, boxes


def gluoncv_network(model: str, params: str, num_joints: int) -> gluon.HybridBlock:
    """GluonCV's own model of that name with the parameters of ``params``, hybridized."""
    net = gluoncv_get_model(model, pretrained=False, pretrained_base=False, num_joints=num_joints)
    net.load_parameters(params, ctx=mx.cpu())
    net.hybridize(static_alloc=True)
    return net


def gluoncv_side(net: Callable, input_size: tuple[int, int]
                 ) -> Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]]:
    """GluonCV's demo path with network ``net`` over a list of frames, one frame at a time."""

    def run(frames: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for frame, b in zip(frames, boxes):
            img = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)   # the webcam demo's frame: RGB
            n = len(b)
            pose_input, upscaled = detector_to_simple_pose(
                img, mx.nd.zeros((1, n, 1)), mx.nd.ones((1, n, 1)), mx.nd.array(b[None]),
                output_shape=input_size, mean=MEAN, std=STD)
            coords, confidence = heatmap_to_coord(net(pose_input), upscaled)
            out.append(np.concatenate([coords.asnumpy(), confidence.asnumpy()], axis=-1))
        return out
    return run


def ours_side(predictor: PosePredictor) -> Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]]:
    """Our predictor over a list of frames, all of their people in one batch."""
    def run(frames: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
        return [np.stack([p.keypoints for p in people]) for people in predictor.predict(frames, boxes)]
    return run


def measure(sides: dict[str, Timed], frames: list[np.ndarray], boxes: list[np.ndarray], batch_frames: int,
            rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Per side, per round: (wall-clock, CPU) frames per second of a pass over the video, the sides taking
    turns chunk by chunk, who goes first rotating."""
    chunks = [slice(i, i + batch_frames) for i in range(0, len(frames), batch_frames)]
    names = list(sides)
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for _ in range(rounds):
        before = {name: (side.wall, side.cpu) for name, side in sides.items()}
        for c, chunk in enumerate(chunks):
            for name in names[c % len(names):] + names[:c % len(names)]:
                sides[name](frames[chunk], boxes[chunk])
        for name, side in sides.items():
            rates[name].append((len(frames) / (side.wall - before[name][0]), len(frames) / (side.cpu - before[name][1])))
    return rates


def report(rates: dict[str, list[tuple[float, float]]], sides: dict[str, Timed], networks: dict[str, Timed],
           frames: int) -> None:
    """Frames/s of each side, where its time went, and ours / GluonCV's ratios."""
    names = list(sides)
    for name in names:
        walls = [w for w, _ in rates[name]]
        net_ms, all_ms = 1e3 * networks[name].cpu / frames, 1e3 * sides[name].cpu / frames
        print(f"  {name:<34} {statistics.median(walls):6.2f} frames/s (rounds: {', '.join(f'{v:.2f}' for v in walls)}),"
              f" {statistics.median(c for _, c in rates[name]):6.2f} per CPU second; CPU per frame {all_ms:6.1f} ms: "
              f"network {net_ms:6.1f} ms, everything else {all_ms - net_ms:5.2f} ms")
    for name in names[1:]:
        wall, cpu = (statistics.median(a[i] / b[i] for a, b in zip(rates[name], rates[names[0]])) for i in (0, 1))
        rest = (sides[names[0]].cpu - networks[names[0]].cpu) / (sides[name].cpu - networks[name].cpu)
        print(f"{name} / GluonCV demo path = {wall:.2f}x frames/s, {cpu:.2f}x per CPU second (medians of the "
              f"rounds' ratios; goal >= 3); everything but the network {rest:.1f}x faster")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="simple_pose_resnet18_v1b", help="model name (default: %(default)s)")
    p.add_argument("--input-size", default="256,192", metavar="H,W", help="model input (default: %(default)s)")
    p.add_argument("--params", default=None, metavar="FILE",
                   help="a checkpoint manifest (.json) to use instead of random weights")
    p.add_argument("--frames", type=int, default=24, metavar="N", help="frames of the video (default: %(default)s)")
    p.add_argument("--batch-frames", type=int, default=8, metavar="N",
                   help="frames per call of ours, all their people in one batch (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=3, metavar="N", help="passes over the video (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the video (default: %(default)s)")
    p.add_argument("--calib-size", type=int, default=32, metavar="N",
                   help="person crops the INT8 model is calibrated on (default: %(default)s)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt_path = args.params or random_checkpoint(args.model, parse_input_size(args.input_size), Path(tmp))
        export_checkpoint(ckpt_path, Path(tmp) / "export",
                          int8=int8_calibration(args.params, args.calib_size, Path(tmp)))
        doc = load_deploy(Path(tmp) / "export")
        input_size = tuple(doc["input_size"])
        frames, boxes = decoded_video(args.frames, args.seed, Path(tmp))
        gluoncv_net = gluoncv_network(doc["model"], load_manifest(ckpt_path)["params"], len(doc["meta"]["names"]))
        onnx_fwd = onnx_forward(doc["onnx"], doc["mean"], doc["std"], threads=THREADS)
        cores = usable_cores()
        networks = {"GluonCV demo path (MXNet)": Timed(gluoncv_net), "ours, ONNX Runtime": Timed(onnx_fwd),
                    "ours, ONNX Runtime INT8": Timed(onnx_forward(doc["int8"], doc["mean"], doc["std"],
                                                                  threads=THREADS)),
                    "ours, MXNet": Timed(load_model(Path(tmp) / "export", "mxnet").forward),
                    f"ours, ONNX Runtime INT8, {cores} cores": Timed(onnx_forward(doc["int8"], doc["mean"],
                                                                                   doc["std"], threads=cores))}
        names = list(networks)
        sides = {names[0]: Timed(gluoncv_side(networks[names[0]], input_size))}
        for name, backend in zip(names[1:], ("onnx", "onnx-int8", "mxnet", "onnx-int8")):
            sides[name] = Timed(ours_side(PosePredictor(networks[name], doc, batch_size=3 * args.batch_frames,
                                                        backend=backend)))
        crops = np.random.default_rng(0).integers(0, 256, (3,) + input_size + (3,), dtype=np.uint8)
        reference = onnx_fwd(crops)
        weights_diff = float(np.abs(gluoncv_net(mx.nd.array(normalize_batch(crops, doc["mean"], doc["std"])))
                                    .asnumpy() - reference).max()) / float(np.abs(reference).max())
        for name, side in sides.items():   # warm-up (graphs built, memory allocated), then the clocks restart
            side(frames[:args.batch_frames], boxes[:args.batch_frames])
            side.wall = side.cpu = networks[name].wall = networks[name].cpu = 0.0
        rates = measure(sides, frames, boxes, args.batch_frames, args.rounds)
    print(f"{doc['model']} at {input_size[0]}x{input_size[1]} "
          f"({'weights of ' + args.params if args.params else 'random weights'}), {len(frames)} frames of 640x480 "
          f"with {sum(len(b) for b in boxes) / len(frames):g} people each, boxes given; {args.rounds} rounds; "
          f"MXNET_ENGINE_TYPE={os.environ['MXNET_ENGINE_TYPE']}, OMP_NUM_THREADS={THREADS}, ONNX Runtime "
          f"intra-op threads {THREADS} ({cores} on the all-core line); INT8 calibrated on "
          f"{doc['calibration'].get('crops', '?')} crops; ours batches {args.batch_frames} frames "
          f"({3 * args.batch_frames} crops)")
    print(f"same weights: max |GluonCV network - our ONNX file| / max |heatmap| on the same crops = "
          f"{weights_diff:.1e}")
    report(rates, sides, networks, args.rounds * len(frames))
    print("rerun: .venv/bin/python bench/video_pose.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
