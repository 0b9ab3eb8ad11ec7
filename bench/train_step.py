"""Training throughput on CPU: our model vs GluonCV's, and what the data loader costs.

1. One training step (forward, weighted L2 loss, backward, Adam update), hybridized, on a pre-loaded
   batch: ``simplepose.model.get_pose_model(NAME)`` vs ``gluoncv.model_zoo.get_model(NAME,
   pretrained_base=False)`` at the same batch and input size, both run by the real training loop
   (``simplepose.training.loop.EpochLoop.train_epoch``, given each side's network and trainer).
   Ratio ours/GluonCV (goal >= 0.95).
2. The training loop's samples/s with the real loader (``PoseSamples`` in ``--num-workers`` worker
   processes, on 640x480 COCO-like JPEGs) vs the same loop fed one pre-loaded batch over and over:
   the loader's share of training time, 1 - real/pre-loaded (goal < 10% with 2 workers at 128x96),
   and, immune to the shared machine's load, the workers' share of the CPU seconds of those epochs.

Turns alternate (ours, GluonCV step by step; real, pre-loaded epoch by epoch) so the shared machine's
load hits both alike; ratios are medians over neighbouring pairs.

    .venv/bin/python bench/train_step.py                              # resnet18, 128x96, batch 32, 2 workers
    .venv/bin/python bench/train_step.py --input-size 256,192 --batch-size 16
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
from mxnet import gluon

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gluoncv.model_zoo import get_model as gluoncv_get_model  # noqa: E402

from simplepose.synthetic import ensure_dataset  # noqa: E402
from simplepose.training.build import Built, build_parts, lr_schedule  # noqa: E402
from simplepose.config import TrainConfig  # noqa: E402
from simplepose.training.config import build_config  # noqa: E402
from simplepose.training.guards import NanPolicy  # noqa: E402
from simplepose.training.loop import EpochLoop, Parts  # noqa: E402
from simplepose.training.state import RunState  # noqa: E402
from simplepose.training.tensorboard import TensorBoardLog  # noqa: E402


def make_run(args: argparse.Namespace, paths: dict[str, str], save_dir: str) -> tuple[TrainConfig, Built]:
    """The config and parts of a real training run (no validation set) with this benchmark's settings."""
    argv = ["--train-ann", paths["train_ann"], "--train-images", paths["train_images"], "--model", args.model,
            "--input-size", args.input_size, "--batch-size", str(args.batch_size),
            "--num-data-workers", str(args.num_workers), "--log-interval", "0", "--save-dir", save_dir]
    cfg, _ = build_config(argv)
    return cfg, build_parts(cfg)


def gluoncv_net_and_trainer(cfg: TrainConfig, built: Built) -> tuple[gluon.HybridBlock, gluon.Trainer]:
    """GluonCV's model of the same name, set up as the build sets up ours (init, hybridize, Adam + schedule)."""
    net = gluoncv_get_model(cfg.model, num_joints=built.data.meta.num_joints, pretrained_base=False)
    net.initialize(mx.init.MSRAPrelu(), ctx=built.parts.ctx)
    net.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), "adam",
                            {"learning_rate": cfg.lr, "wd": cfg.wd,
                             "lr_scheduler": lr_schedule(cfg, built.parts.iters_per_epoch)})
    return net, trainer


def timed_epoch(cfg: TrainConfig, parts: Parts, epoch: int) -> float:
    """samples/s of one pass of the training loop over ``parts`` (its network, trainer and loader)."""
    loop = EpochLoop(parts, RunState(), NanPolicy(cfg.nan_policy, parts.workers, Path(cfg.save_dir)),
                     cfg.log_interval, cfg.num_epochs, TensorBoardLog(cfg.save_dir, enabled=False))
    return loop.train_epoch(epoch)["samples_per_sec"]


def worker_cpu_seconds(loader) -> float:
    """User + system CPU seconds so far of a DataLoader's worker processes (Linux /proc)."""
    ticks = 0
    for proc in loader._worker_pool._pool:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="simple_pose_resnet18_v1b")
    p.add_argument("--input-size", default="128,96", help="model input 'height,width'")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-workers", type=int, default=2, help="loader worker processes for part 2")
    p.add_argument("--steps", type=int, default=16, help="part 1: timed steps per model, one step per turn")
    p.add_argument("--rounds", type=int, default=3, help="part 2: epochs per side")
    p.add_argument("--data-dir", default="data/bench_coco640", help="where the 640x480 images are generated (cached)")
    p.add_argument("--images", type=int, default=200, help="images to generate (about 2.2 people each)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    paths = ensure_dataset(args.data_dir, num_train_images=args.images, num_val_images=1, seed=0,
                           image_size=(640, 480))
    with tempfile.TemporaryDirectory() as save_dir:
        cfg, built = make_run(args, paths, save_dir)
        parts = built.parts
        batch = next(iter(parts.loader))
        print(f"{args.model}, input {args.input_size}, batch {parts.batch_size}, CPU "
              f"({mx.context.num_gpus()} GPUs seen); {len(parts.loader)} batches per epoch of "
              f"{len(parts.samples)} people")

        # 1. one training step: ours vs GluonCV, on the same pre-loaded batch
        ours = (parts.net, parts.trainer)
        theirs = gluoncv_net_and_trainer(cfg, built)
        rates: dict[str, list[float]] = {"ours": [], "gluoncv": []}
        cpu_rates: dict[str, list[float]] = {"ours": [], "gluoncv": []}
        sides = [("ours", ours), ("gluoncv", theirs)]
        for turn in range(args.steps + 1):
            for name, (net, trainer) in sides[::1 if turn % 2 else -1]:  # who goes first alternates
                cpu = time.process_time()
                rate = timed_epoch(cfg, dataclasses.replace(parts, net=net, trainer=trainer, loader=[batch]), 1)
                if turn:  # the first turn builds the graphs
                    rates[name].append(rate)
                    cpu_rates[name].append(parts.batch_size / (time.process_time() - cpu))
        step_ours, step_theirs = (statistics.median(rates[k]) for k in ("ours", "gluoncv"))
        # Each ratio pairs two neighbouring steps, so a burst of load elsewhere mostly cancels out.
        step_ratio = statistics.median(a / b for a, b in zip(rates["ours"], rates["gluoncv"]))
        cpu_ratio = statistics.median(a / b for a, b in zip(cpu_rates["ours"], cpu_rates["gluoncv"]))
        print(f"train step, ours    (simplepose.model)        {step_ours:7.2f} samples/s  "
              f"(steps: {', '.join(f'{r:.1f}' for r in rates['ours'])})")
        print(f"train step, GluonCV (gluoncv.model_zoo)       {step_theirs:7.2f} samples/s  "
              f"(steps: {', '.join(f'{r:.1f}' for r in rates['gluoncv'])})")
        print(f"ours / GluonCV = {step_ratio:.3f}  (median of paired steps; goal >= 0.95)")
        print(f"ours / GluonCV per CPU second = {cpu_ratio:.3f}  (samples per CPU second of the process, "
              f"which other programs' load disturbs less)")

        # 2. the training loop with the real loader vs a pre-loaded batch, same number of steps
        preloaded = dataclasses.replace(parts, loader=[batch] * len(parts.loader))
        loop: dict[str, list[float]] = {"real": [], "preloaded": []}
        main_cpu = workers_cpu = 0.0
        for epoch in range(1, args.rounds + 1):
            cpu, workers = time.process_time(), worker_cpu_seconds(parts.loader) if args.num_workers else 0.0
            loop["real"].append(timed_epoch(cfg, parts, epoch))
            main_cpu += time.process_time() - cpu
            workers_cpu += (worker_cpu_seconds(parts.loader) if args.num_workers else 0.0) - workers
            loop["preloaded"].append(timed_epoch(cfg, preloaded, epoch))
        real, pre = (statistics.median(loop[k]) for k in ("real", "preloaded"))
        share = statistics.median(1 - a / b for a, b in zip(loop["real"], loop["preloaded"]))
        print(f"training loop, real loader ({args.num_workers} workers)     {real:7.2f} samples/s  "
              f"(epochs: {', '.join(f'{r:.2f}' for r in loop['real'])})")
        print(f"training loop, pre-loaded batch           {pre:7.2f} samples/s  "
              f"(epochs: {', '.join(f'{r:.2f}' for r in loop['preloaded'])})")
        print(f"loader share of training time = {100 * share:.1f}%  (median of paired epochs, "
              f"1 - real / pre-loaded; goal < 10%)")
        if args.num_workers:
            # CPU seconds do not depend on what else the shared machine runs: the workers' part of all
            # the CPU time the real-loader epochs used is the most the loader can take from training.
            print(f"loader workers' share of the CPU time of those epochs = "
                  f"{100 * workers_cpu / (workers_cpu + main_cpu):.1f}% "
                  f"({workers_cpu:.1f} s of {workers_cpu + main_cpu:.1f} s)")


if __name__ == "__main__":
    main()
