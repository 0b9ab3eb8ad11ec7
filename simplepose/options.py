"""Command-line options of train_simple_pose.py and eval_simple_pose.py, and the parsing they share.

Every flag of GluonCV's ``scripts/pose/simple_pose/train_simple_pose.py`` is
accepted with its meaning; every flag we accept is used. A training flag's default, bound and
choices are stated once, by its field of ``simplepose.config.TrainConfig`` (``flag_spec``);
its spelling, group and help text are stated here.
"""
from __future__ import annotations

import argparse
from typing import Sequence

from simplepose.cli import command_parser
from simplepose.config import flag_spec



def add_data_options(p: argparse.ArgumentParser, train: bool) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", **flag_spec("dataset"),
                   help="'synthetic' generates the built-in rendered dataset on first use")
    g.add_argument("--data-dir", **flag_spec("data_dir"), metavar="DIR",
                   help="COCO 2017 layout root (annotations/person_keypoints_{train,val}2017.json, "
                        "train2017/, val2017/); for --dataset synthetic, where it is written (default: data/synthetic)")
    if train:
        g.add_argument("--train-ann", **flag_spec("train_ann"), metavar="FILE",
                       help="training annotation file (COCO format)")
        g.add_argument("--train-images", **flag_spec("train_images"), metavar="DIR",
                       help="directory of the training images")
    # Evaluation also spells them --ann/--images: there they are simply the data evaluated.
    g.add_argument("--val-ann", *(() if train else ("--ann",)), **flag_spec("val_ann"), metavar="FILE",
                   help="validation annotation file (COCO format)")
    g.add_argument("--val-images", *(() if train else ("--images",)), **flag_spec("val_images"), metavar="DIR",
                   help="directory of the validation images")
    g.add_argument("--category-id", **flag_spec("category_id"), metavar="IDS",
                   help="keypoint categories to read, e.g. 1 or 1,3 (default: every category sharing the one "
                        "keypoint list)")
    g.add_argument("--keypoint-fields", **flag_spec("keypoint_fields"), metavar="PARTS",
                   help="annotation fields holding the keypoints, for files that spread them over several fields "
                        "(COCO-WholeBody): parts among body,foot,face,lefthand,righthand (or the field names "
                        "keypoints,foot_kpts,...), read in that order (default: every part the file has, all 133 "
                        "keypoints of COCO-WholeBody; when evaluating a model, the parts it was trained on)")
    if train:  # evaluation takes the keypoint metadata from the checkpoint
        g.add_argument("--flip-pairs", **flag_spec("flip_pairs"), metavar="PAIRS",
                       help="left/right pairs 'a:b,c:d' (names or 0-based indices) when names do not pair by "
                            "left/right, or 'none'")
        g.add_argument("--sigmas", **flag_spec("sigmas"), metavar="FILE|uniform:X",
                       help="OKS sigmas when the keypoint names are in no published table (COCO, CrowdPose, AI "
                            "Challenger, MPII, COCO-WholeBody feet, Halpe, AP-10K, Animal-Pose): a file of K sigmas "
                            "(JSON list or numbers), or uniform:X for the same X > 0 for every keypoint")
        g.add_argument("--on-bad-record", **flag_spec("on_bad_record"),
                       help="a bad annotation or image: stop with an error naming it, or skip it, "
                            "count it and report the count at the end")
    add_image_options(g)
    g.add_argument("--synthetic-train-images", **flag_spec("synthetic_train_images"), metavar="N",
                   help="images in the synthetic train split")
    g.add_argument("--synthetic-val-images", **flag_spec("synthetic_val_images"), metavar="N",
                   help="images in the synthetic val split")


def add_image_options(g: argparse._ActionsContainer, outside_root: bool = True) -> None:
    """--max-image-pixels (every command that reads images) and --allow-outside-root (those reading an
    annotation file's images)."""
    g.add_argument("--max-image-pixels", **flag_spec("max_image_pixels"), metavar="N",
                   help="refuse an image (or video frame) whose header claims more pixels than this, before "
                        "decoding it (Pillow's limit, a 24-bit image of 256 MiB); 0: no limit")
    if outside_root:
        g.add_argument("--allow-outside-root", **flag_spec("allow_outside_root"), action="store_true",
                       help="read images whose file_name leads outside the image folder (an absolute path, or '..' "
                            "beyond it); without it such a record is refused (symbolic links inside the folder are "
                            "followed either way)")


def add_runtime_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("devices")
    g.add_argument("--gpus", **flag_spec("gpus"), metavar="IDS", help="GPU ids, e.g. '0,1' (default: CPU)")
    g.add_argument("--num-gpus", **flag_spec("num_gpus"), metavar="N",
                   help="use GPUs 0..N-1 (GluonCV's flag; --gpus wins)")
    g.add_argument("--batch-size", **flag_spec("batch_size"), metavar="N", help="batch size per device")
    g.add_argument("-j", "--num-data-workers", **flag_spec("num_workers"), dest="num_workers", metavar="N",
                   help="data loading worker processes; 0 loads in the main process")


def train_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The training command's flags; ``prog``: the name its usage line shows (see ``cli.command_parser``)."""
    p = command_parser("simplepose.train", "Train a Simple Baselines pose model (simplepose).", prog)
    add_data_options(p, train=True)
    add_runtime_options(p)
    g = p.add_argument_group("model")
    g.add_argument("--model", **flag_spec("model"), metavar="NAME",
                   help="simple_pose_resnet{18,34,50,101,152}_v1{b,d}")
    g.add_argument("--num-joints", **flag_spec("num_joints"), metavar="K",
                   help="checked against the data when given")
    g.add_argument("--input-size", **flag_spec("input_size"), metavar="H,W",
                   help="model input height,width, multiples of 32")
    g.add_argument("--sigma", **flag_spec("sigma"), metavar="X",
                   help="target Gaussian sigma, heatmap pixels")
    g.add_argument("--codec", **flag_spec("codec"),
                   help="heatmap codec: standard (GluonCV: integer-rounded targets, quarter-pixel decoding) or "
                        "dark (sub-pixel targets, DARK decoding)")
    g.add_argument("--mean", **flag_spec("mean"), metavar="R,G,B",
                   help="RGB mean for normalisation, in [0, 1] units (pixel / 255)")
    g.add_argument("--std", **flag_spec("std"), metavar="R,G,B",
                   help="RGB standard deviation for normalisation, in [0, 1] units (pixel / 255)")
    g.add_argument("--use-pretrained", **flag_spec("use_pretrained"), action="store_true",
                   help="start from GluonCV's published simple_pose (COCO) weights; with another keypoint set, as "
                        "--init-from: the final-layer rows of COCO-named keypoints are copied")
    g.add_argument("--init-from", **flag_spec("init_from"), metavar="PATH",
                   help="start from another model's weights: a checkpoint (.json/.params/prefix), a run directory "
                        "(its best, else latest checkpoint) or a plain .params file (GluonCV's save_parameters); "
                        "parameters of the same name and shape are loaded, the rest re-initialised, and final-layer "
                        "rows of keypoints with matching names copied. Epoch 0 and a fresh optimizer, not a resume")
    g.add_argument("--use-pretrained-base", **flag_spec("use_pretrained_base"), action="store_true",
                   help="start from GluonCV's ImageNet backbone weights")
    g.add_argument("--last-gamma", **flag_spec("last_gamma"), action="store_true",
                   help="init the last BatchNorm gamma of each residual block to 0")
    g.add_argument("--dtype", **flag_spec("dtype"), help="training data type; float16 uses multi-precision Adam (GPU)")
    g.add_argument("--kvstore", **flag_spec("kvstore"),
                   help="gradient reduction: 'device' over this machine's devices; dist_sync / "
                        "dist_sync_device over MXNet's parameter server, one shard of the data per worker "
                        "(start with simplepose-launch)")
    g.add_argument("--mode", **flag_spec("mode"),
                   help="hybrid: hybridize with static_alloc/static_shape; imperative: eager")
    g = p.add_argument_group("augmentation")
    g.add_argument("--scale-factor", **flag_spec("scale_factor"), metavar="X", help="crop scale jitter")
    g.add_argument("--rotation-factor", **flag_spec("rotation_factor"), metavar="DEG", help="rotation jitter, degrees")
    g.add_argument("--flip-prob", **flag_spec("flip_prob"), metavar="P", help="horizontal flip probability")
    g.add_argument("--half-body-prob", **flag_spec("half_body_prob"), metavar="P",
                   help="half-body crop probability (0: off)")
    g.add_argument("--full-decode", **flag_spec("full_decode"), action="store_true",
                   help="decode training JPEGs at full resolution even when the crop is downsampled 2x or more "
                        "(default: 1/2, 1/4 or 1/8 DCT-scaled decoding; same targets, slightly different pixels)")
    g.add_argument("--train-pack", **flag_spec("train_pack"), metavar="PACK",
                   help="person crops packed by simplepose-pack for these training files "
                        "(PACK.bin + PACK.npz): crops it covers decode a small JPEG instead of the image")
    g = p.add_argument_group("optimisation")
    g.add_argument("--num-epochs", **flag_spec("num_epochs"), metavar="N", help="training epochs")
    g.add_argument("--lr", **flag_spec("lr"), metavar="X", help="Adam learning rate")
    g.add_argument("--wd", **flag_spec("wd"), metavar="X", help="weight decay")
    g.add_argument("--no-wd", **flag_spec("no_wd"), action="store_true",
                   help="no weight decay on biases and BatchNorm beta/gamma")
    g.add_argument("--lr-mode", **flag_spec("lr_mode"), help="LR schedule")
    g.add_argument("--lr-decay", **flag_spec("lr_decay"), metavar="X", help="step decay factor")
    g.add_argument("--lr-decay-period", **flag_spec("lr_decay_period"), metavar="N",
                   help="decay every N epochs (overrides --lr-decay-epoch; 0: off)")
    g.add_argument("--lr-decay-epoch", **flag_spec("lr_decay_epoch"), metavar="EPOCHS",
                   help="epochs at which the LR decays")
    g.add_argument("--warmup-lr", **flag_spec("warmup_lr"), metavar="X", help="LR at the start of the warm-up")
    g.add_argument("--warmup-epochs", **flag_spec("warmup_epochs"), metavar="N", help="linear warm-up epochs")
    g.add_argument("--nan-policy", **flag_spec("nan_policy"),
                   help="a NaN or infinite loss: stop with an error naming the batch, or skip that "
                        "batch's update, count it and go on")
    g = p.add_argument_group("run")
    g.add_argument("--seed", **flag_spec("seed"), metavar="N",
                   help="seed for initialisation, shuffling and augmentation")
    g.add_argument("--save-dir", **flag_spec("save_dir"), metavar="DIR",
                   help="run directory: log, metrics, checkpoints")
    g.add_argument("--save-frequency", **flag_spec("save_frequency"), metavar="N",
                   help="checkpoint every N epochs (0: only the last)")
    g.add_argument("--val-interval", **flag_spec("val_interval"), metavar="N",
                   help="validate (loss, HeatmapAccuracy, COCO AP on ground-truth boxes) every N epochs and "
                        "after the last; epoch 0 is always validated")
    g.add_argument("--log-interval", **flag_spec("log_interval"), metavar="N",
                   help="log every N batches (0: per epoch only)")
    g.add_argument("--no-tensorboard", **flag_spec("tensorboard"), dest="tensorboard", action="store_false",
                   help="write no TensorBoard event files (default: --save-dir/tensorboard/, read with "
                        "'tensorboard --logdir SAVE_DIR')")
    g.add_argument("--logging-file", **flag_spec("logging_file"), metavar="FILE",
                   help="log file name, inside --save-dir when relative")
    g.add_argument("--resume", **flag_spec("resume"), metavar="PATH",
                   help="checkpoint (.json/.params/prefix) or run directory to continue from; its config is used "
                        "and flags given on this command line override it")
    g.add_argument("--overwrite", **flag_spec("overwrite"), action="store_true",
                   help="start over in a --save-dir that holds an earlier run's checkpoints: that run's files are "
                        "moved into --save-dir/previous-DATE-TIME/, not deleted (without it such a directory is refused)")
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
