"""A training run's config from its command line: ``build_config(argv)``, the only place one is made for training.

1. parse the flags (``options.train_parser``; each flag's default, bound and choices are
   ``simplepose.config.TrainConfig``'s);
2. ``--resume``: the checkpoint's config, with the flags given on this command line on top
   (new data flags replace all of its data files; the run directory stays the checkpoint's);
3. resolve the data files from --dataset/--data-dir, as absolute paths;
4. fill what is missing from the defaults (an older checkpoint's config lacks newer keys),
   convert (``"256,192"`` -> ``(256, 192)``) and check every value (``TrainConfig.from_dict``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

from simplepose.config import DATA_FLAGS, TrainConfig, with_defaults
from simplepose.data.paths import absolute, data_paths
from simplepose.errors import SimplePoseError
from simplepose.options import explicit_flags, train_parser
from simplepose.rundir.directory import find_resume
from simplepose.sigma_tables import UNIFORM
from simplepose.training.state import ResumePoint

# What a checkpoint fixes: a resumed run cannot change them.
FIXED_BY_CHECKPOINT = ("flip_pairs", "sigmas", "dtype", "init_from", "keypoint_fields")
# Files read while training, made absolute like the data files (a resumed run may start elsewhere).
OTHER_PATHS = ("sigmas", "train_pack", "init_from")


def check_environment(cfg: TrainConfig) -> None:
    """What this process and machine must offer: a parameter-server role, GPUs for float16."""
    if cfg.distributed and os.environ.get("DMLC_ROLE") != "worker":
        raise SimplePoseError(f"--kvstore {cfg.kvstore}: this process is not a worker of a parameter-server "
                              "job (no DMLC_ROLE=worker); start it with simplepose-launch -n N -s S -- ...")
    if not cfg.gpu_ids and cfg.dtype == "float16":
        raise SimplePoseError("--dtype float16 needs GPUs (--gpus): MXNet has no float16 matrix multiply on CPU")


def build_config(argv: Sequence[str] | None = None) -> tuple[TrainConfig, ResumePoint | None]:
    """The config of ``train_simple_pose.py ARGV`` (default: sys.argv[1:]) and the checkpoint it resumes.

    Raises SimplePoseError (one line naming the flag) on anything wrong, before any work starts.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = train_parser()
    values = vars(parser.parse_args(argv))
    resume, source = None, "command line"
    if values["resume"]:
        resume = ResumePoint.from_manifest(find_resume(values["resume"]))
        values, source = merge_resumed(values, resume, explicit_flags(parser, argv)), resume.manifest
    values = with_defaults(values)
    values.update(data_paths(values, train=True))
    values.update({k: absolute(values[k]) for k in OTHER_PATHS if values[k] and not values[k].startswith(UNIFORM)})
    cfg = TrainConfig.from_dict(values, source)
    check_environment(cfg)
    if resume and resume.epoch >= cfg.num_epochs:
        raise SimplePoseError(f"the checkpoint is at epoch {resume.epoch}; raise --num-epochs to train on")
    if cfg.init_from and not resume:
        # Reads the source's manifest now: a bad path stops before any work. Imported here: it loads MXNet,
        # which a config without --init-from does not need.
        from simplepose.training.transfer import weight_source
        weight_source(cfg.init_from)
    return cfg, resume


def merge_resumed(values: dict[str, Any], resume: ResumePoint, given: set[str]) -> dict[str, Any]:
    """The checkpoint's config with the flags ``given`` on this command line (``values``) on top.

    New data flags replace all of the checkpoint's data files; the run directory stays the
    checkpoint's unless --save-dir is given. Flags the checkpoint fixes cannot be given.
    """
    fixed = given & set(FIXED_BY_CHECKPOINT)
    if fixed:
        raise SimplePoseError(f"--resume {values['resume']}: {', '.join(sorted(fixed))} cannot change when "
                              "resuming (they are part of the checkpoint)")
    # --overwrite acts on this start only: a checkpoint's stored value does not carry over.
    merged = {**resume.config, **{k: values[k] for k in given}, "overwrite": values["overwrite"]}
    if given & set(DATA_FLAGS):
        merged.update({k: values[k] for k in DATA_FLAGS})
    if "save_dir" not in given:
        merged["save_dir"] = str(Path(resume.manifest).parent)
    return merged
