#!/usr/bin/env python
"""Milliseconds per crop of exported models on the CPU: MXNet FP32, ONNX Runtime FP32 and INT8, by model, batch
size and thread count, in one process and interleaved.

    MXNET_ENGINE_TYPE=NaiveEngine OMP_NUM_THREADS=2 .venv/bin/python bench/export_latency.py \\
        [--models simple_pose_resnet18_v1b,simple_pose_resnet50_v1b] [--input-size 256,192] \\
        [--batch-sizes 1,8] [--threads 1,2] [--repeats 5]

For each model: builds it (random weights: latency does not depend on them), saves it as a checkpoint, exports it
(``export.command``) and quantizes the ONNX file (``export.quantize``: the graph passes, static U8S8
per-channel, calibrated on 16 random crops: enough for timing, not for accuracy). Then times, round after round,
every runner on the same uint8 crops (normalisation included, as evaluation and prediction run them): the live
hybridized MXNet model (its OpenMP threads set per call with ``MXSetNumOMPThreads``), the FP32 and the INT8 ONNX
files under ONNX Runtime (``runtime.onnx.onnx_forward``, one session per thread count), so that the machine's
noise hits all alike. Prints one table of median ms per crop with the INT8 speed-ups, and the command to rerun.
"""
from __future__ import annotations

import os

# MXNet's threaded engine off: it slows the next workload in the same process (DESIGN.md). OpenMP's thread pool
# is sized at start: it must hold the largest --threads.
os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

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

COMMAND = ("MXNET_ENGINE_TYPE=NaiveEngine OMP_NUM_THREADS={omp} .venv/bin/python bench/export_latency.py "
           "--models {models} --input-size {size} --batch-sizes {batches} --threads {threads} --repeats {repeats}")
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
Runner = Callable[[np.ndarray], np.ndarray]


def mxnet_threads(run: Runner, threads: int) -> Runner:
    """``run`` with MXNet's OpenMP threads (its oneDNN convolutions') set to ``threads`` for each call."""
    def call(x: np.ndarray) -> np.ndarray:
        mx.base._LIB.MXSetNumOMPThreads(ctypes.c_int(threads))
        return run(x)
    return call


def build(model: str, size: tuple[int, int], threads: list[int], tmp: Path) -> tuple[dict[tuple[str, int], Runner],
                                                                                      float]:
    """Runners of ``model`` keyed by (runtime, threads), and the seconds quantization took."""
    h, w = size
    meta = KeypointMeta.build(COCO_KEYPOINT_NAMES, COCO_SKELETON, skeleton_one_based=True)
    net = get_pose_model(model, meta.num_joints)
    net.initialize(mx.init.MSRAPrelu())
    net.hybridize(static_alloc=True)
    net(mx.nd.zeros((1, 3, h, w)))
    cfg = {"model": model, "input_size": [h, w], "mean": MEAN, "std": STD, "sigma": 2.0, "codec": "standard"}
    ckpt = save_checkpoint(tmp / model / "ckpt", net, Trainer(net.collect_params(), "adam"), 0, cfg, meta.to_dict())
    doc = export_checkpoint(ckpt, tmp / model / "export")
    fp32 = str(tmp / model / "export" / doc["onnx"])
    int8 = tmp / model / "int8.onnx"
    tic = time.perf_counter()
    quantize_int8(fp32, int8, np.random.default_rng(0).integers(0, 256, (16, h, w, 3), dtype=np.uint8), MEAN, STD)
    quantize_s = time.perf_counter() - tic
    live = mxnet_forward(net, [mx.cpu()], MEAN, STD)
    runners: dict[tuple[str, int], Runner] = {}
    for t in threads:
        runners[("MXNet FP32", t)] = mxnet_threads(live, t)
        runners[("ORT FP32", t)] = onnx_forward(fp32, MEAN, STD, threads=t)
        runners[("ORT INT8", t)] = onnx_forward(str(int8), MEAN, STD, threads=t)
    return runners, quantize_s


def median_ms(runners: dict[tuple[str, int], Runner], x: np.ndarray, repeats: int) -> dict[tuple[str, int], float]:
    """Median ms per crop of each runner on ``x`` (B, h, w, 3) uint8, round after round (after one warm-up)."""
    times: dict[tuple[str, int], list[float]] = {key: [] for key in runners}
    for run in runners.values():
        run(x)
    for _ in range(repeats):
        for key, run in runners.items():
            tic = time.perf_counter()
            run(x)
            times[key].append((time.perf_counter() - tic) / len(x) * 1e3)
    return {key: float(np.median(t)) for key, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="simple_pose_resnet18_v1b,simple_pose_resnet50_v1b")
    p.add_argument("--input-size", default="256,192")
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    size = tuple(int(v) for v in args.input_size.split(","))
    batches = [int(b) for b in args.batch_sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    if max(threads) > int(os.environ["OMP_NUM_THREADS"]):
        p.error(f"--threads {args.threads}: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} caps MXNet's threads; "
                f"set it to {max(threads)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            runners, quantize_s = build(model, size, threads, Path(tmp))
            print(f"{model}: quantization took {quantize_s:.0f} s", flush=True)
            x_all = np.random.default_rng(1).integers(0, 256, (max(batches),) + size + (3,), dtype=np.uint8)
            for batch in batches:
                ms = median_ms(runners, x_all[:batch], args.repeats)
                rows += [(model, batch, t, *(ms[(r, t)] for r in ("MXNet FP32", "ORT FP32", "ORT INT8")))
                         for t in threads]
    print(f"\nmedian ms per crop at {size[0]}x{size[1]}, {args.repeats} interleaved rounds "
          "(INT8 speed = FP32 ms / INT8 ms)")
    print(f"{'model':<26}{'batch':>6}{'threads':>8}{'MXNet FP32':>12}{'ORT FP32':>10}{'ORT INT8':>10}"
          f"{'INT8/MXNet':>12}{'INT8/ORT':>10}")
    for model, batch, t, mxnet_ms, fp32_ms, int8_ms in rows:
        print(f"{model:<26}{batch:>6}{t:>8}{mxnet_ms:>12.2f}{fp32_ms:>10.2f}{int8_ms:>10.2f}"
              f"{mxnet_ms / int8_ms:>11.2f}x{fp32_ms / int8_ms:>9.2f}x")
    print("rerun: " + COMMAND.format(omp=os.environ["OMP_NUM_THREADS"], models=args.models, size=args.input_size,
                                     batches=args.batch_sizes, threads=args.threads, repeats=args.repeats))


if __name__ == "__main__":
    main()
