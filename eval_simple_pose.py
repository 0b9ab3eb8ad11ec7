#!/usr/bin/env python
"""Evaluate a simplepose checkpoint on a COCO-format keypoint set: `python eval_simple_pose.py --help`.

Reports the validation loss (weighted L2) and HeatmapAccuracy on ground-truth
boxes. COCO OKS AP evaluation is not built yet.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from simplepose.cli import run_main, setup_logging
from simplepose.options import DATA_FLAGS, add_data_options, add_runtime_options, explicit_flags, resolve_data


def eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate a simplepose checkpoint (validation loss and HeatmapAccuracy).")
    p.add_argument("--params", required=True, help="checkpoint: its .json manifest, .params file or prefix")
    add_data_options(p, train=False)
    add_runtime_options(p)
    p.add_argument("--metrics-json", default=None, help="also write the figures to this JSON file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = eval_parser()
    args = parser.parse_args(argv)
    given = explicit_flags(parser, argv if argv is not None else sys.argv[1:])
    setup_logging()
    from simplepose.checkpoint import atomic_write_text, load_manifest
    from simplepose.errors import SimplePoseError
    ckpt = load_manifest(args.params)
    # The checkpoint's config (model, input size, data) with this command line's flags on top;
    # data flags given here replace the checkpoint's validation files.
    cfg = {**ckpt["config"], **{k: getattr(args, k) for k in given}}
    data_flags = [k for k in DATA_FLAGS if hasattr(args, k)]
    if given & set(data_flags):
        cfg.update({k: getattr(args, k) for k in data_flags})
    cfg.update(gpus=args.gpus, num_gpus=args.num_gpus)   # devices are this machine's, not the trainer's
    resolve_data(cfg, train=False)
    if not cfg.get("val_ann"):
        raise SimplePoseError("no evaluation data: give --val-ann and --val-images, --data-dir, or --dataset synthetic")
    if args.batch_size < 1:
        raise SimplePoseError(f"--batch-size {args.batch_size}: must be at least 1")

    from mxnet import gluon
    from simplepose.codec import HeatmapCodec
    from simplepose.data.coco import COCOKeyPoints
    from simplepose.data.samples import PoseSamples
    from simplepose.data.transforms import ValTransform
    from simplepose.meta import KeypointMeta
    from simplepose.model import get_pose_model, load_checkpoint_params
    from simplepose.train import contexts, evaluate_heatmaps, prepare_synthetic

    prepare_synthetic(cfg)
    meta = KeypointMeta.from_dict(ckpt["meta"])
    val = COCOKeyPoints(cfg["val_ann"], cfg["val_images"], meta=meta, category_id=cfg.get("category_id"))
    ctx = contexts(cfg)
    net = get_pose_model(cfg["model"], meta.num_joints)
    load_checkpoint_params(net, ckpt["params"], ctx)  # float16 checkpoints evaluate in float32
    net.hybridize(static_alloc=True)
    h, w = cfg["input_size"]
    samples = PoseSamples(val, ValTransform((h, w), cfg["mean"], cfg["std"]), HeatmapCodec((h, w), 4, cfg["sigma"]))
    loader = gluon.data.DataLoader(samples, batch_size=args.batch_size * len(ctx), shuffle=False,
                                   num_workers=args.num_workers)
    loss, acc = evaluate_heatmaps(net, loader, ctx)
    report = {"checkpoint": ckpt["params"], "epoch": ckpt["epoch"], "ann": cfg["val_ann"], "people": len(val),
              "boxes": "ground truth", "val_loss": loss, "val_acc": acc}
    print(f"{ckpt['params']} (epoch {ckpt['epoch']}) on {cfg['val_ann']}, {len(val)} people, ground-truth boxes:")
    print(f"  val loss (weighted L2)  {loss:.6f}")
    print(f"  val HeatmapAccuracy     {acc:.4f}")
    if args.metrics_json:
        atomic_write_text(args.metrics_json, json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
