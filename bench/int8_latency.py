#!/usr/bin/env python
"""Milliseconds per crop of an INT8 export against FP32, on one CPU thread: MXNet, ONNX Runtime FP32 and INT8.

    MXNET_ENGINE_TYPE=NaiveEngine OMP_NUM_THREADS=1 .venv/bin/python bench/int8_latency.py \\
        [--model simple_pose_resnet18_v1b] [--input-size 256,192] [--batch-sizes 1,8] [--repeats 20]

Builds the model (random weights: latency does not depend on them), saves it as a checkpoint, exports it
(``export.command``) and quantizes the ONNX file (``export.quantize``: graph passes, static U8S8 per-channel,
calibrated on 16 random crops: enough for timing, not for accuracy). Times, in one process and interleaved,
the live hybridized MXNet model, the FP32 ONNX file and the INT8 one under ONNX Runtime with one intra-op
thread, on the same uint8 crops (normalisation included, as evaluation and prediction run them); prints the
median ms per crop of each and the ratios against FP32 of the same run.
"""
from __future__ import annotations

import os

# One thread, and MXNet's threaded engine off: it slows the next workload in the same process (DESIGN.md).
os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from simplepose.export.command import export_checkpoint  # noqa: E402
from simplepose.export.quantize import quantize_int8  # noqa: E402
from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SKELETON, KeypointMeta  # noqa: E402
from simplepose.model import get_pose_model  # noqa: E402
from simplepose.rundir.checkpoint import save_checkpoint  # noqa: E402
from simplepose.runtime.mxnet import mxnet_forward  # noqa: E402
from simplepose.runtime.onnx import onnx_forward  # noqa: E402
from simplepose.training.optimizer_state import Trainer  # noqa: E402

COMMAND = ("MXNET_ENGINE_TYPE=NaiveEngine OMP_NUM_THREADS=1 .venv/bin/python bench/int8_latency.py "
           "--model {model} --input-size {size} --batch-sizes {batches} --repeats {repeats}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="simple_pose_resnet18_v1b")
    p.add_argument("--input-size", default="256,192")
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    h, w = (int(v) for v in args.input_size.split(","))
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    meta = KeypointMeta.build(COCO_KEYPOINT_NAMES, COCO_SKELETON, skeleton_one_based=True)
    net = get_pose_model(args.model, meta.num_joints)
    net.initialize(mx.init.MSRAPrelu())
    net.hybridize(static_alloc=True)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    cfg = {"model": args.model, "input_size": [h, w], "mean": mean, "std": std, "sigma": 2.0, "codec": "standard"}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        net(mx.nd.zeros((1, 3, h, w)))
        ckpt = save_checkpoint(Path(tmp) / "ckpt", net, Trainer(net.collect_params(), "adam"), 0, cfg,
                               meta.to_dict())
        doc = export_checkpoint(ckpt, Path(tmp) / "export")
        fp32_file = str(Path(tmp) / "export" / doc["onnx"])
        tic = time.perf_counter()
        quantize_int8(fp32_file, Path(tmp) / "int8.onnx", rng.integers(0, 256, (16, h, w, 3), dtype=np.uint8),
                      mean, std)
        quantize_s = time.perf_counter() - tic
        runners = {"mxnet fp32": mxnet_forward(net, [mx.cpu()], mean, std),
                   "onnxruntime fp32": onnx_forward(fp32_file, mean, std, threads=1),
                   "onnxruntime int8": onnx_forward(str(Path(tmp) / "int8.onnx"), mean, std, threads=1)}
        print(f"{args.model} at {h}x{w}, 1 thread, {args.repeats} timed runs each, median ms per crop "
              f"(quantization took {quantize_s:.1f} s)")
        for batch in batch_sizes:
            x = rng.integers(0, 256, (batch, h, w, 3), dtype=np.uint8)   # BGR crops
            times: dict[str, list[float]] = {name: [] for name in runners}
            for run in runners.values():          # warm-up
                run(x)
            for _ in range(args.repeats):         # interleaved, so machine noise hits all alike
                for name, run in runners.items():
                    tic = time.perf_counter()
                    run(x)
                    times[name].append((time.perf_counter() - tic) / batch * 1e3)
            ms = {name: float(np.median(t)) for name, t in times.items()}
            print(f"  batch {batch}: " + "   ".join(f"{name} {v:6.2f} ms" for name, v in ms.items()))
            print(f"    int8 / mxnet fp32 = {ms['mxnet fp32'] / ms['onnxruntime int8']:.2f}x   "
                  f"int8 / onnxruntime fp32 = {ms['onnxruntime fp32'] / ms['onnxruntime int8']:.2f}x speed")
    print("rerun: " + COMMAND.format(model=args.model, size=args.input_size, batches=args.batch_sizes,
                                     repeats=args.repeats))


if __name__ == "__main__":
    main()
