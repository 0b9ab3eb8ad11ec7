"""Command-line options of train_simple_pose.py and eval_simple_pose.py, and their checks.

Every flag of GluonCV's ``scripts/pose/simple_pose/train_simple_pose.py`` is
accepted with its meaning; every flag we accept is used. The parsed options
become a plain JSON-able config dict, stored in each checkpoint.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Sequence

from .errors import SimplePoseError
from .synthetic import dataset_paths

SYNTHETIC_DIR = os.path.join("data", "synthetic")
# Flags that choose the data; giving any of them replaces all of a checkpoint's data files.
DATA_FLAGS = ("dataset", "data_dir", "train_ann", "train_images", "val_ann", "val_images")


def parse_ints(text: str, flag: str) -> list[int]:
    """'256,192' -> [256, 192]; anything else raises SimplePoseError naming ``flag``."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SimplePoseError(f"{flag} {text!r}: expected comma-separated integers") from None


def _floats(text: str, flag: str, n: int) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise SimplePoseError(f"{flag} {text!r}: expected {n} comma-separated numbers")
    return vals


def add_data_options(p: argparse.ArgumentParser, train: bool) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=("coco", "synthetic"), default="coco",
                   help="'synthetic' generates the built-in rendered dataset on first use (default: coco)")
    g.add_argument("--data-dir", default=None,
                   help="COCO 2017 layout root (annotations/person_keypoints_{train,val}2017.json, "
                        "train2017/, val2017/); for --dataset synthetic, where it is written (default data/synthetic)")
    if train:
        g.add_argument("--train-ann", default=None, help="training annotation file (COCO format)")
        g.add_argument("--train-images", default=None, help="directory of the training images")
    # Evaluation also spells them --ann/--images: there they are simply the data evaluated.
    g.add_argument("--val-ann", *(() if train else ("--ann",)), default=None,
                   help="validation annotation file (COCO format)")
    g.add_argument("--val-images", *(() if train else ("--images",)), default=None,
                   help="directory of the validation images")
    g.add_argument("--category-id", type=int, default=None, help="keypoint category to use when a file has several")
    if train:  # evaluation takes the keypoint metadata from the checkpoint
        g.add_argument("--flip-pairs", default=None,
                       help="left/right pairs 'a:b,c:d' (names or 0-based indices) when names do not pair by left/right")
        g.add_argument("--sigmas", default=None,
                       help="file with K OKS sigmas (JSON list or numbers), for non-COCO keypoints")
        g.add_argument("--on-bad-record", choices=("error", "skip"), default="error",
                       help="a bad annotation or image: stop with an error naming it (default), or skip it, "
                            "count it and report the count at the end")
    g.add_argument("--synthetic-train-images", type=int, default=600, help="images in the synthetic train split")
    g.add_argument("--synthetic-val-images", type=int, default=100, help="images in the synthetic val split")


def add_runtime_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("devices")
    g.add_argument("--gpus", default=None, help="GPU ids, e.g. '0,1' (default: CPU)")
    g.add_argument("--num-gpus", type=int, default=0, help="use GPUs 0..N-1 (GluonCV's flag; --gpus wins)")
    g.add_argument("--batch-size", type=int, default=32, help="batch size per device (default 32)")
    g.add_argument("-j", "--num-data-workers", dest="num_workers", type=int, default=4,
                   help="data loading worker processes (default 4; 0 loads in the main process)")


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train a Simple Baselines pose model (simplepose).")
    add_data_options(p, train=True)
    add_runtime_options(p)
    g = p.add_argument_group("model")
    g.add_argument("--model", default="simple_pose_resnet50_v1b",
                   help="simple_pose_resnet{18,34,50,101,152}_v1{b,d} (default simple_pose_resnet50_v1b)")
    g.add_argument("--num-joints", type=int, default=None, help="checked against the data when given")
    g.add_argument("--input-size", default="256,192", help="model input 'height,width', multiples of 32")
    g.add_argument("--sigma", type=float, default=2.0, help="target Gaussian sigma, heatmap pixels (default 2)")
    g.add_argument("--codec", choices=("standard", "dark"), default="standard",
                   help="heatmap codec: standard (GluonCV: integer-rounded targets, quarter-pixel decoding) or "
                        "dark (sub-pixel targets, DARK decoding)")
    g.add_argument("--mean", default="0.485,0.456,0.406", help="RGB mean for normalisation")
    g.add_argument("--std", default="0.229,0.224,0.225", help="RGB std for normalisation")
    g.add_argument("--use-pretrained", action="store_true", help="start from GluonCV's published simple_pose weights")
    g.add_argument("--use-pretrained-base", action="store_true", help="start from GluonCV's ImageNet backbone weights")
    g.add_argument("--last-gamma", action="store_true", help="init the last BatchNorm gamma of each residual block to 0")
    g.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                   help="training data type; float16 uses multi-precision Adam (GPU)")
    g.add_argument("--kvstore", choices=("device", "local", "dist_sync", "dist_sync_device"), default="device",
                   help="gradient reduction: 'device' (default) over this machine's devices; dist_sync / "
                        "dist_sync_device over MXNet's parameter server, one shard of the data per worker "
                        "(start with python -m simplepose.launch)")
    g.add_argument("--mode", choices=("hybrid", "imperative"), default="hybrid",
                   help="hybrid: hybridize with static_alloc/static_shape (default); imperative: eager")
    g = p.add_argument_group("augmentation")
    g.add_argument("--scale-factor", type=float, default=0.30, help="crop scale jitter (default 0.30)")
    g.add_argument("--rotation-factor", type=float, default=40.0, help="rotation jitter, degrees (default 40)")
    g.add_argument("--flip-prob", type=float, default=0.5, help="horizontal flip probability (default 0.5)")
    g.add_argument("--half-body-prob", type=float, default=0.0, help="half-body crop probability (default 0: off)")
    g.add_argument("--full-decode", action="store_true",
                   help="decode training JPEGs at full resolution even when the crop is downsampled 2x or more "
                        "(default: 1/2, 1/4 or 1/8 DCT-scaled decoding; same targets, slightly different pixels)")
    g.add_argument("--train-pack", default=None, metavar="PACK",
                   help="person crops packed by 'python -m simplepose.data.pack' for these training files "
                        "(PACK.bin + PACK.npz): crops it covers decode a small JPEG instead of the image")
    g = p.add_argument_group("optimisation")
    g.add_argument("--num-epochs", type=int, default=140, help="training epochs (default 140)")
    g.add_argument("--lr", type=float, default=0.001, help="Adam learning rate (default 0.001)")
    g.add_argument("--wd", type=float, default=0.0, help="weight decay (default 0)")
    g.add_argument("--no-wd", action="store_true", help="no weight decay on biases and BatchNorm beta/gamma")
    g.add_argument("--lr-mode", choices=("step", "poly", "cosine"), default="step", help="LR schedule (default step)")
    g.add_argument("--lr-decay", type=float, default=0.1, help="step decay factor (default 0.1)")
    g.add_argument("--lr-decay-period", type=int, default=0, help="decay every N epochs (overrides --lr-decay-epoch)")
    g.add_argument("--lr-decay-epoch", default="90,120", help="epochs at which the LR decays (default 90,120)")
    g.add_argument("--warmup-lr", type=float, default=0.0, help="LR at the start of the warm-up (default 0)")
    g.add_argument("--warmup-epochs", type=int, default=0, help="linear warm-up epochs (default 0)")
    g.add_argument("--nan-policy", choices=("stop", "skip"), default="stop",
                   help="a NaN or infinite loss: stop with an error naming the batch (default), or skip that "
                        "batch's update, count it and go on")
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0, help="seed for initialisation, shuffling and augmentation")
    g.add_argument("--save-dir", default="params", help="run directory: log, metrics, checkpoints (default params)")
    g.add_argument("--save-frequency", type=int, default=1, help="checkpoint every N epochs (0: only the last)")
    g.add_argument("--val-interval", type=int, default=1,
                   help="validate (loss, HeatmapAccuracy, COCO AP on ground-truth boxes) every N epochs and "
                        "after the last (default 1); epoch 0 is always validated")
    g.add_argument("--log-interval", type=int, default=20, help="log every N batches (0: per epoch only)")
    g.add_argument("--logging-file", default="train.log", help="log file name, inside --save-dir when relative")
    g.add_argument("--resume", default=None,
                   help="checkpoint (.json/.params/prefix) or run directory to continue from; its config is used "
                        "and flags given on this command line override it")
    return p


def flag_name(dest: str) -> str:
    """The command-line spelling of a config key."""
    return {"num_workers": "--num-data-workers"}.get(dest, "--" + dest.replace("_", "-"))


def explicit_flags(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """Destinations of the options the user actually typed."""
    quiet = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if action.nargs == 0:
                kwargs["action"] = "store_const"
                kwargs["const"] = True
            quiet.add_argument(*action.option_strings, **kwargs)
    return set(vars(quiet.parse_known_args(argv)[0]))


def resolve_data(cfg: dict[str, Any], train: bool) -> dict[str, Any]:
    """Fill train_ann/train_images/val_ann/val_images from --dataset/--data-dir; check what is needed."""
    if cfg["dataset"] == "synthetic":
        root = Path(cfg["data_dir"] or SYNTHETIC_DIR)
        cfg["data_dir"] = str(root)
        defaults = dataset_paths(root)
    elif cfg["data_dir"]:
        root = Path(os.path.expanduser(cfg["data_dir"]))
        defaults = {"train_ann": root / "annotations" / "person_keypoints_train2017.json",
                    "train_images": root / "train2017",
                    "val_ann": root / "annotations" / "person_keypoints_val2017.json", "val_images": root / "val2017"}
    else:
        defaults = {}
    keys = ("train_ann", "train_images", "val_ann", "val_images") if train else ("val_ann", "val_images")
    for key in keys:
        if not cfg.get(key) and key in defaults:
            cfg[key] = str(defaults[key])
    if train and not (cfg.get("train_ann") and cfg.get("train_images")):
        raise SimplePoseError("no training data: give --train-ann and --train-images, --data-dir, or --dataset synthetic")
    if bool(cfg.get("val_ann")) != bool(cfg.get("val_images")):
        raise SimplePoseError("--val-ann and --val-images go together")
    return cfg


def check_train_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise a training config in place; raise SimplePoseError naming the flag."""
    size = cfg["input_size"]
    hw = parse_ints(size, "--input-size") if isinstance(size, str) else list(size)
    if len(hw) != 2 or any(v <= 0 or v % 32 for v in hw):
        raise SimplePoseError(f"--input-size {size!r}: need 'height,width', both positive multiples of 32 "
                              "(the backbone's stride), e.g. 256,192")
    cfg["input_size"] = hw
    for key in ("mean", "std"):
        if isinstance(cfg[key], str):
            cfg[key] = _floats(cfg[key], f"--{key}", 3)
    if any(s <= 0 for s in cfg["std"]):
        raise SimplePoseError(f"--std {cfg['std']}: must be positive")
    decay = cfg["lr_decay_epoch"]
    cfg["lr_decay_epoch"] = parse_ints(decay, "--lr-decay-epoch") if isinstance(decay, str) else list(decay)
    if cfg["lr_decay_epoch"] != sorted(set(cfg["lr_decay_epoch"])):
        raise SimplePoseError(f"--lr-decay-epoch {decay!r}: epochs must be strictly increasing")
    checks = [
        ("batch_size", cfg["batch_size"] >= 1, "must be at least 1"),
        ("num_epochs", cfg["num_epochs"] >= 1, "must be at least 1"),
        ("num_workers", cfg["num_workers"] >= 0, "must be 0 or more"),
        ("num_gpus", cfg["num_gpus"] >= 0, "must be 0 or more"),
        ("lr", cfg["lr"] > 0, "must be positive"),
        ("wd", cfg["wd"] >= 0, "must be 0 or more"),
        ("sigma", cfg["sigma"] > 0, "must be positive"),
        ("lr_decay", 0 < cfg["lr_decay"] <= 1, "must be in (0, 1]"),
        ("lr_decay_period", cfg["lr_decay_period"] >= 0, "must be 0 or more"),
        ("warmup_epochs", 0 <= cfg["warmup_epochs"] < cfg["num_epochs"], "must be in [0, --num-epochs)"),
        ("warmup_lr", cfg["warmup_lr"] >= 0, "must be 0 or more"),
        ("scale_factor", 0 <= cfg["scale_factor"] < 1, "must be in [0, 1)"),
        ("rotation_factor", cfg["rotation_factor"] >= 0, "must be 0 or more"),
        ("flip_prob", 0 <= cfg["flip_prob"] <= 1, "must be in [0, 1]"),
        ("half_body_prob", 0 <= cfg["half_body_prob"] <= 1, "must be in [0, 1]"),
        ("save_frequency", cfg["save_frequency"] >= 0, "must be 0 or more"),
        ("val_interval", cfg["val_interval"] >= 1, "must be at least 1"),
        ("log_interval", cfg["log_interval"] >= 0, "must be 0 or more"),
        ("synthetic_train_images", cfg["synthetic_train_images"] >= 1, "must be at least 1"),
        ("synthetic_val_images", cfg["synthetic_val_images"] >= 1, "must be at least 1"),
        ("seed", 0 <= cfg["seed"] < 2 ** 32, "must be in [0, 2**32)"),
    ]
    for key, ok, why in checks:
        if not ok:
            raise SimplePoseError(f"{flag_name(key)} {cfg[key]}: {why}")
    if cfg["use_pretrained"] and cfg["use_pretrained_base"]:
        raise SimplePoseError("--use-pretrained and --use-pretrained-base exclude each other")
    from .model import parse_model_name  # validates --model; imported here to keep options light
    parse_model_name(cfg["model"])
    if cfg["kvstore"].startswith("dist") and os.environ.get("DMLC_ROLE") != "worker":
        raise SimplePoseError(f"--kvstore {cfg['kvstore']}: this process is not a worker of a parameter-server job "
                              "(no DMLC_ROLE=worker); start it with python -m simplepose.launch -n N -s S -- ...")
    if not gpu_ids(cfg) and cfg["dtype"] == "float16":
        raise SimplePoseError("--dtype float16 needs GPUs (--gpus): MXNet has no float16 matrix multiply on CPU")
    return cfg


def gpu_ids(cfg: dict[str, Any]) -> list[int]:
    """GPU ids from --gpus, else range(--num-gpus); empty means CPU."""
    if cfg.get("gpus"):
        ids = parse_ints(cfg["gpus"], "--gpus")
        if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
            raise SimplePoseError(f"--gpus {cfg['gpus']!r}: need distinct non-negative ids")
        return ids
    return list(range(cfg.get("num_gpus") or 0))
