#!/usr/bin/env python
"""Per-image latency of an exported model: MXNet (live hybridized model) vs ONNX Runtime, on the CPU.

    .venv/bin/python bench/export_latency.py [--model simple_pose_resnet50_v1b] [--input-size 256,192]
                                            [--batch-size 1] [--repeats 30]

Builds the model (random weights: latency does not depend on them), saves it as a checkpoint,
exports it with ``simplepose.export.command`` and times, in one process and interleaved, the live
hybridized MXNet model, the exported MXNet symbol and the ONNX file under ONNX Runtime, on the
same uint8 crops (normalisation included, as evaluation and prediction run them). Prints the median
milliseconds per image of each, the ratio MXNet / ONNX Runtime, and the largest output difference of
each export to the live model.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from simplepose.rundir.checkpoint import save_checkpoint  # noqa: E402
from simplepose.runtime.load import load_model  # noqa: E402
from simplepose.export.command import export_checkpoint  # noqa: E402
from simplepose.runtime.mxnet import mxnet_forward  # noqa: E402
from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SKELETON, KeypointMeta  # noqa: E402
from simplepose.model import get_pose_model  # noqa: E402
from simplepose.training.optimizer_state import Trainer  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="simple_pose_resnet50_v1b")
    p.add_argument("--input-size", default="256,192")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    h, w = (int(v) for v in args.input_size.split(","))
    meta = KeypointMeta.build(COCO_KEYPOINT_NAMES, COCO_SKELETON, skeleton_one_based=True)
    net = get_pose_model(args.model, meta.num_joints)
    net.initialize(mx.init.MSRAPrelu())
    net.hybridize(static_alloc=True)
    cfg = {"model": args.model, "input_size": [h, w], "mean": [0.485, 0.456, 0.406],
           "std": [0.229, 0.224, 0.225], "sigma": 2.0, "codec": "standard"}
    x = np.random.default_rng(0).integers(0, 256, (args.batch_size, h, w, 3), dtype=np.uint8)   # BGR crops
    live = mxnet_forward(net, [mx.cpu()], cfg["mean"], cfg["std"])
    live(x)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_checkpoint(Path(tmp) / "ckpt", net, Trainer(net.collect_params(), "adam"), 0, cfg,
                               meta.to_dict())
        tic = time.perf_counter()
        export_checkpoint(ckpt, Path(tmp) / "export")
        export_s = time.perf_counter() - tic
        runners = {"mxnet live": live,
                   "mxnet symbol": load_model(Path(tmp) / "export", "mxnet").forward,
                   "onnxruntime": load_model(Path(tmp) / "export", "onnx").forward}
        reference = runners["mxnet live"](x)
        diffs = {name: float(np.abs(run(x) - reference).max()) for name, run in runners.items()}
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(3):                       # warm-up
            for run in runners.values():
                run(x)
        for _ in range(args.repeats):            # interleaved, so machine noise hits all alike
            for name, run in runners.items():
                tic = time.perf_counter()
                run(x)
                times[name].append((time.perf_counter() - tic) / args.batch_size * 1e3)
    print(f"{args.model} at {h}x{w}, batch {args.batch_size}, {args.repeats} timed runs each "
          f"(export took {export_s:.1f} s)")
    for name in runners:
        print(f"  {name:<13} median {np.median(times[name]):7.2f} ms/image   max |diff| to live {diffs[name]:.2e}")
    ratio = np.median(times["mxnet live"]) / np.median(times["onnxruntime"])
    print(f"ratio MXNet live / ONNX Runtime latency: {ratio:.2f}x")


if __name__ == "__main__":
    main()
