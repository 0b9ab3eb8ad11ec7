"""Pictures of a training run: ``simplepose-plot RUN_DIR [--out DIR]``.

Writes into ``DIR`` (default ``RUN_DIR/plots``):

- ``training_curves.png``: loss, learning rate, HeatmapAccuracy and validation AP per epoch,
  from ``RUN_DIR/metrics.jsonl`` (training writes this one itself at the end of a run);
- ``augmentations.png``: one training person under several random draws of the run's train
  transform, joints drawn left/right coloured;
- ``heatmaps.png``: that person's unaugmented crop and its target heatmaps, one per keypoint.

The last two use the config and keypoint metadata of the run's latest checkpoint and need its
training files; ``--no-samples`` skips them.

:func:`write_error_analysis` writes the pictures of ``eval_simple_pose.py --analysis DIR``.
No MXNet is imported.
"""
from __future__ import annotations

if __name__ == "__main__":   # python -m: the command, its imports below made inside commands.run_command (see there)
    from simplepose.commands import run_command
    raise SystemExit(run_command("simplepose.plot"))

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from simplepose.rundir.checkpoint import latest_checkpoint, load_manifest
from simplepose.data.decode import MAX_IMAGE_PIXELS
from simplepose.rundir.directory import CURVES, PLOTS, read_metrics
from simplepose.io import atomic_write_text
from simplepose.cli import check_output_dir, command_parser, setup_logging
from simplepose.errors import MissingFileError
from simplepose.flags import SEED, integer
from simplepose.visualize import (augmentation_figure, denormalize, heatmap_figure, per_keypoint_ap_figure,
                        pr_curves_figure, save_figure, training_curves_figure,
                        worst_instances_figure)

log = logging.getLogger(__name__)

AUGMENTATIONS = "augmentations.png"
HEATMAPS = "heatmaps.png"
PR_CURVES = "pr_curves.png"
PER_KEYPOINT_AP = "per_keypoint_ap.png"
WORST = "worst_instances"


def write_training_curves(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """``training_curves.png`` of a run directory's ``metrics.jsonl``; returns its path."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / PLOTS
    fig = training_curves_figure(read_metrics(run_dir), title=str(run_dir))
    return save_figure(fig, out / CURVES)


def pick_person(dataset: Any, limit: int = 200) -> int:
    """Index of the person with the most labelled joints among the first ``limit`` (first on ties)."""
    counts = [int((dataset.records[i].joints[:, 2] > 0).sum()) for i in range(min(limit, len(dataset)))]
    return int(np.argmax(counts))


def write_sample_pictures(config: dict[str, Any], meta: Any, out_dir: str | Path, samples: int = 8,
                          seed: int = 0) -> list[Path]:
    """``augmentations.png`` and ``heatmaps.png`` for a run's config and keypoint metadata.

    Args:
        config: a training config (checkpoint manifest ``config``): train files, input size,
            augmentation, sigma, codec, mean/std.
        meta: the run's ``KeypointMeta``.
        samples: augmented crops drawn (besides the unaugmented one).
    """
    from simplepose.codec import HeatmapCodec
    from simplepose.data.coco import COCOKeyPoints
    from simplepose.data.transforms import Augmentation, TrainTransform

    # A run's config from before --max-image-pixels and --allow-outside-root has neither: their defaults.
    dataset = COCOKeyPoints(config["train_ann"], config["train_images"], meta=meta,
                            category_id=config["category_id"],
                            max_pixels=config.get("max_image_pixels", MAX_IMAGE_PIXELS),
                            allow_outside_root=config.get("allow_outside_root", False))
    idx = pick_person(dataset)
    image, record = dataset[idx]
    size = tuple(config["input_size"])
    transform = TrainTransform(meta, size, scale_factor=config["scale_factor"],
                               rotation_factor=config["rotation_factor"], flip_prob=config["flip_prob"],
                               half_body_prob=config["half_body_prob"], mean=config["mean"], std=config["std"])
    out = Path(out_dir)
    paths = [save_figure(augmentation_figure(image, record, transform, np.random.default_rng(seed), samples),
                         out / AUGMENTATIONS)]
    codec = HeatmapCodec(size, sigma=config["sigma"], method=config["codec"])
    inp, joints = transform.apply(image, record, Augmentation())
    heatmaps, _ = codec.encode(joints)
    fig = heatmap_figure(denormalize(inp, config["mean"], config["std"]), heatmaps, meta, joints,
                         title=f"target heatmaps ({codec.method} codec, sigma {codec.sigma:g}) of person "
                               f"{idx} in {Path(config['train_ann']).name}")
    paths.append(save_figure(fig, out / HEATMAPS))
    return paths


def write_error_analysis(out_dir: str | Path, report: Any, meta: Any, image_files: dict[int, str],
                         worst: int = 8, kpt_thresh: float = 0.2, max_pixels: int = MAX_IMAGE_PIXELS
                         ) -> list[Path]:
    """The error-analysis pictures of an evaluation (``evaluate_keypoints(..., analysis=True)``).

    Writes ``pr_curves.png`` (precision-recall at OKS 0.50 ... 0.95), ``per_keypoint_ap.png`` (when
    the report has per-keypoint AP), ``worst_instances.png`` (the ``worst`` people with the lowest
    OKS, prediction vs ground truth) and ``worst_instances.json`` (their image and annotation ids,
    boxes and OKS).

    Args:
        image_files: COCO image id -> image path.
        max_pixels: largest image read, pixels (0: no limit).
    """
    from simplepose.data.coco import read_image
    from simplepose.errors import SimplePoseError
    if report.analysis is None:
        raise SimplePoseError("no error analysis: there was no prediction to evaluate")
    out = Path(out_dir)
    analysis = report.analysis
    paths = [save_figure(pr_curves_figure(analysis, f"precision-recall on {report.boxes}"), out / PR_CURVES)]
    if report.per_keypoint_ap:
        paths.append(save_figure(per_keypoint_ap_figure(report.per_keypoint_ap, meta), out / PER_KEYPOINT_AP))
    chosen = analysis.instances[:max(0, worst)]
    if chosen:
        images = [read_image(image_files[i.image_id], f"image {i.image_id}", max_pixels=max_pixels) for i in chosen]
        paths.append(save_figure(worst_instances_figure(chosen, images, meta, kpt_thresh=kpt_thresh),
                                 out / f"{WORST}.png"))
    listing = [{"image_id": i.image_id, "ann_id": i.ann_id, "file": image_files[i.image_id],
                "bbox": list(i.bbox), "oks": round(i.oks, 4)} for i in chosen]
    atomic_write_text(out / f"{WORST}.json", json.dumps(listing, indent=1))
    paths.append(out / f"{WORST}.json")
    return paths


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The plot command's flags; ``prog``: the name its usage line shows (see ``cli.command_parser``)."""
    p = command_parser("simplepose.plot", __doc__.splitlines()[0], prog)
    p.add_argument("run_dir", metavar="DIR", help="a training run directory (--save-dir)")
    p.add_argument("--out", default=None, metavar="DIR", help="where to write the PNGs (default: DIR/plots)")
    p.add_argument("--no-samples", action="store_true", help="only the training curves")
    p.add_argument("--samples", type=integer(0, 64), default=8, metavar="N",
                   help="augmented crops in augmentations.png, besides the unaugmented one")
    p.add_argument("--seed", type=SEED, default=0, metavar="N", help="seed of the augmentation draws")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise MissingFileError(f"{run_dir}: run directory not found")
    out = Path(args.out) if args.out else run_dir / "plots"
    check_output_dir(out, "--out")
    written = [write_training_curves(run_dir, out)]
    if not args.no_samples:
        manifest = latest_checkpoint(run_dir)
        if manifest is None:
            raise MissingFileError(f"{run_dir}: no checkpoint, so no config for the sample pictures "
                                   "(give --no-samples for the curves only)")
        from simplepose.meta import KeypointMeta
        doc = load_manifest(manifest)
        written += write_sample_pictures(doc["config"], KeypointMeta.from_dict(doc["meta"]), out, args.samples,
                                         args.seed)
    for path in written:
        print(path)
    return 0
