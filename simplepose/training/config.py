"""The training configuration: built once from the command line, frozen, JSON-able.

``build_config(argv)`` is the only place a config is made for training:

1. parse the flags (``options.train_parser``, the one definition of every flag and default);
2. ``--resume``: the checkpoint's config, with the flags given on this command line on top
   (new data flags replace all of its data files; the run directory stays the checkpoint's);
3. resolve the data files from --dataset/--data-dir, as absolute paths;
4. fill what is missing from the parser's defaults (an older checkpoint's config lacks newer
   keys), convert (``"256,192"`` -> ``(256, 192)``) and check every value.

Afterwards nothing changes it: code reads ``cfg.lr``, never ``cfg.get("lr", 0.001)``. The number
of keypoints K is not part of it: it comes from the data's ``KeypointMeta`` (``--num-joints`` is
only checked against it). ``to_dict`` gives the plain JSON stored in every checkpoint.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from simplepose.data.categories import parse_category_ids
from simplepose.errors import SimplePoseError
from simplepose.flags import Bound, check_value
from simplepose.io import JsonRecord
from simplepose.data.paths import DATA_FLAGS, absolute, data_paths
from simplepose.flags import gpu_ids, parse_input_size, parse_ints
from simplepose.options import explicit_flags, flag_name, train_parser
from simplepose.sigma_tables import UNIFORM
from simplepose.training.state import ResumePoint

# What a checkpoint fixes: a resumed run cannot change them.
FIXED_BY_CHECKPOINT = ("flip_pairs", "sigmas", "dtype", "init_from")
# Files read while training, made absolute like the data files (a resumed run may start elsewhere).
OTHER_PATHS = ("sigmas", "train_pack", "init_from")


@dataclass(frozen=True)
class TrainConfig:
    """Every training flag (``options.train_parser``), converted and checked; see the module docstring.

    Sizes are pixels; ``input_size`` is the model input (height, width); ``mean``/``std`` are
    per RGB channel in [0, 1] units; ``lr_decay_epoch`` lists epochs, ascending.
    """

    # data
    dataset: str
    data_dir: str | None
    train_ann: str | None
    train_images: str | None
    val_ann: str | None
    val_images: str | None
    category_id: str | None
    flip_pairs: str | None
    sigmas: str | None
    on_bad_record: str
    max_image_pixels: int
    allow_outside_root: bool
    synthetic_train_images: int
    synthetic_val_images: int
    # devices
    gpus: str | None
    num_gpus: int
    batch_size: int
    num_workers: int
    # model
    model: str
    num_joints: int | None
    input_size: tuple[int, int]
    sigma: float
    codec: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    use_pretrained: bool
    init_from: str | None
    use_pretrained_base: bool
    last_gamma: bool
    dtype: str
    kvstore: str
    mode: str
    # augmentation
    scale_factor: float
    rotation_factor: float
    flip_prob: float
    half_body_prob: float
    full_decode: bool
    train_pack: str | None
    # optimisation
    num_epochs: int
    lr: float
    wd: float
    no_wd: bool
    lr_mode: str
    lr_decay: float
    lr_decay_period: int
    lr_decay_epoch: tuple[int, ...]
    warmup_lr: float
    warmup_epochs: int
    nan_policy: str
    # run
    seed: int
    save_dir: str
    save_frequency: int
    val_interval: int
    log_interval: int
    tensorboard: bool
    logging_file: str
    resume: str | None
    overwrite: bool

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "training config") -> "TrainConfig":
        """A config from parsed flags or a stored config (lists for tuples); missing keys take the
        parser's defaults, keys no flag defines are dropped. Checks every value (not the machine: see
        ``check_environment``); a bad one raises SimplePoseError naming the flag, or ``source`` (the file
        holding the config, e.g. a checkpoint manifest: its record ``config`` is added here) and the key.
        """
        raw = with_defaults(values)
        for action in train_parser()._actions:
            if action.choices and raw[action.dest] not in action.choices:
                raise JsonRecord(raw, source, "config").error(
                    action.dest, f"is {raw[action.dest]!r} ({flag_name(action.dest)}), expected one of "
                                 f"{', '.join(action.choices)}")
        cfg = cls(**_typed(raw, source))
        check_values(cfg, source)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples become lists), one key per flag: what checkpoints store."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @property
    def gpu_ids(self) -> list[int]:
        """GPU ids of --gpus/--num-gpus; empty means CPU."""
        return gpu_ids(self.gpus, self.num_gpus)

    @property
    def distributed(self) -> bool:
        """A parameter-server job (``--kvstore dist_sync[_device]``)."""
        return self.kvstore.startswith("dist")

    @property
    def log_file(self) -> Path:
        """--logging-file, inside --save-dir when relative."""
        return Path(self.save_dir) / self.logging_file


def check_values(cfg: TrainConfig, source: str = "command line") -> None:
    """Raise SimplePoseError naming the flag (and ``source``, a stored config's file) of the first value of
    ``cfg`` out of range: each flag's own bound (``options.train_parser``'s ``type``, the one statement of
    it: a checkpoint's config is held to what the command line accepts), then the bounds between flags."""
    where = None if source == "command line" else source
    for action in train_parser()._actions:
        value = getattr(cfg, action.dest, None)
        if isinstance(action.type, Bound) and value is not None:
            check_value(action.type, flag_name(action.dest), value, where)
    if list(cfg.lr_decay_epoch) != sorted(set(cfg.lr_decay_epoch)):
        raise SimplePoseError(f"--lr-decay-epoch {','.join(map(str, cfg.lr_decay_epoch))!r}: epochs must be "
                              "strictly increasing")
    if cfg.lr_decay_epoch and cfg.lr_decay_epoch[0] < 1:   # a decay "at epoch -5" would silently apply from the start
        raise SimplePoseError(f"--lr-decay-epoch {','.join(map(str, cfg.lr_decay_epoch))!r}: epochs must be 1 or more")
    if cfg.warmup_epochs >= cfg.num_epochs:
        raise SimplePoseError(f"--warmup-epochs {cfg.warmup_epochs}: must be in [0, --num-epochs)")
    sources = [flag for flag, on in (("--use-pretrained", cfg.use_pretrained),
                                     ("--use-pretrained-base", cfg.use_pretrained_base),
                                     ("--init-from", cfg.init_from)) if on]
    if len(sources) > 1:
        raise SimplePoseError(f"{' and '.join(sources)} exclude each other: give one source of initial weights")
    from simplepose.zoo import parse_model_name
    parse_model_name(cfg.model)
    gpu_ids(cfg.gpus, cfg.num_gpus)   # raises on a malformed --gpus


def check_environment(cfg: TrainConfig) -> None:
    """What this process and machine must offer: a parameter-server role, GPUs for float16."""
    if cfg.distributed and os.environ.get("DMLC_ROLE") != "worker":
        raise SimplePoseError(f"--kvstore {cfg.kvstore}: this process is not a worker of a parameter-server "
                              "job (no DMLC_ROLE=worker); start it with python -m simplepose.launch -n N -s S -- ...")
    if not cfg.gpu_ids and cfg.dtype == "float16":
        raise SimplePoseError("--dtype float16 needs GPUs (--gpus): MXNet has no float16 matrix multiply on CPU")


def with_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` completed with the parser's defaults: an older checkpoint's config lacks newer flags.

    Keys that no flag defines (flags since removed) are dropped.
    """
    defaults = vars(train_parser().parse_args([]))
    return {**defaults, **{k: v for k, v in values.items() if k in defaults}}


def _typed(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """``raw`` (flags as parsed, or JSON) converted to TrainConfig's field types; errors name the field."""
    rec = JsonRecord(raw, source, "config")
    out: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        key, kind = f.name, f.type
        optional = kind.endswith(" | None")
        kind = kind.removesuffix(" | None")
        if key == "input_size":
            out[key] = parse_input_size(raw[key])
        elif key in ("mean", "std"):   # a tuple from the parser (checked there), a list from a stored config
            out[key] = raw[key] if isinstance(raw[key], tuple) else tuple(rec.numbers(key, length=3))
        elif key == "lr_decay_epoch":
            value = raw[key] if isinstance(raw[key], str) else rec.list(key)
            if isinstance(value, str):
                value = parse_ints(value, flag_name(key))
            elif any(type(v) is not int for v in value):
                raise rec.error(key, f"is {value!r}, expected a list of integers")
            out[key] = tuple(value)
        elif key == "category_id":   # "1,3" from the flag; an int in older checkpoints
            ids = parse_category_ids(raw[key])
            out[key] = None if ids is None else ",".join(map(str, ids))
        elif kind == "bool":
            if not isinstance(raw[key], bool):
                raise rec.error(key, f"is {raw[key]!r}, expected true or false")
            out[key] = raw[key]
        else:
            read = {"int": rec.int, "float": rec.number, "str": rec.string}[kind]
            out[key] = read(key, None) if optional else read(key)
    return out


def build_config(argv: Sequence[str] | None = None) -> tuple[TrainConfig, ResumePoint | None]:
    """The config of ``train_simple_pose.py ARGV`` (default: sys.argv[1:]) and the checkpoint it resumes.

    Raises SimplePoseError (one line naming the flag) on anything wrong, before any work starts.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = train_parser()
    values = vars(parser.parse_args(argv))
    resume, source = None, "command line"
    if values["resume"]:
        from simplepose.rundir.directory import find_resume   # checkpoints need MXNet; a fresh run's config does not
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
        from simplepose.training.transfer import weight_source   # reads the source's manifest now: a bad path stops before any work
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
