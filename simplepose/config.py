"""The training configuration: one field per training flag, its default, bound and choices; frozen, JSON-able.

The one statement of every training flag's value: :class:`TrainConfig`'s fields, each declared with
:func:`flag` (the default as the command line spells it, the ``flags.Bound`` that checks a number, or the
choices). ``options.train_parser`` builds its flags from these (help texts are its own), and a stored config
(a checkpoint's) is completed and checked here against the same statements. No argparse and no MXNet:
reading a checkpoint (``rundir.checkpoint``) checks its config with this module alone.

Afterwards nothing changes a config: code reads ``cfg.lr``, never ``cfg.get("lr", 0.001)``. The number of
keypoints K is not part of it: it comes from the data's ``KeypointMeta`` (``--num-joints`` is only checked
against it). ``to_dict`` gives the plain JSON stored in every checkpoint. Building one from a command line
(parsing, resume merge, data paths) is ``training.config.build_config``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from simplepose.data.categories import parse_category_ids
from simplepose.data.keypoint_fields import parse_keypoint_fields
from simplepose.errors import SimplePoseError
from simplepose.flags import (FRACTION, MAX_BATCH, MAX_COUNT, MAX_GPUS, MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_LIMIT,
                              MAX_WORKERS, MEAN, NUM_JOINTS, SCALE_FACTOR, SEED, STD, Bound, check_value, gpu_ids,
                              integer, parse_input_size, parse_ints, real)
from simplepose.io import JsonRecord
from simplepose.zoo import IMAGENET_MEAN, IMAGENET_STD, csv, parse_model_name

# Flags that choose the data; giving any of them replaces all of a checkpoint's data files.
DATA_FLAGS = ("dataset", "data_dir", "train_ann", "train_images", "val_ann", "val_images")


def flag(default: Any, type: Bound | None = None, choices: tuple[str, ...] | None = None) -> Any:
    """A config field with its flag's ``default`` (as the command line spells it: ``"256,192"``), the
    ``type`` that parses and bounds a number, or the ``choices`` of a word."""
    return dataclasses.field(metadata={"default": default, "type": type, "choices": choices})


@dataclass(frozen=True)
class TrainConfig:
    """Every training flag, converted and checked; see the module docstring.

    Sizes are pixels; ``input_size`` is the model input (height, width); ``mean``/``std`` are
    per RGB channel in [0, 1] units; ``lr_decay_epoch`` lists epochs, ascending.
    """

    dataset: str = flag("coco", choices=("coco", "synthetic"))
    data_dir: str | None = flag(None)
    train_ann: str | None = flag(None)
    train_images: str | None = flag(None)
    val_ann: str | None = flag(None)
    val_images: str | None = flag(None)
    category_id: str | None = flag(None)
    keypoint_fields: str | None = flag(None)
    flip_pairs: str | None = flag(None)
    sigmas: str | None = flag(None)
    on_bad_record: str = flag("error", choices=("error", "skip"))
    max_image_pixels: int = flag(MAX_IMAGE_PIXELS, integer(0, MAX_IMAGE_PIXELS_LIMIT))
    allow_outside_root: bool = flag(False)
    synthetic_train_images: int = flag(600, integer(1, MAX_COUNT))
    synthetic_val_images: int = flag(100, integer(1, MAX_COUNT))
    # devices
    gpus: str | None = flag(None)
    num_gpus: int = flag(0, integer(0, MAX_GPUS))
    batch_size: int = flag(32, integer(1, MAX_BATCH))
    num_workers: int = flag(4, integer(0, MAX_WORKERS))
    # model
    model: str = flag("simple_pose_resnet50_v1b")
    num_joints: int | None = flag(None, NUM_JOINTS)
    input_size: tuple[int, int] = flag("256,192")
    sigma: float = flag(2.0, real(0, 64, low_open=True))
    codec: str = flag("standard", choices=("standard", "dark"))
    mean: tuple[float, float, float] = flag(csv(IMAGENET_MEAN), MEAN)
    std: tuple[float, float, float] = flag(csv(IMAGENET_STD), STD)
    use_pretrained: bool = flag(False)
    init_from: str | None = flag(None)
    use_pretrained_base: bool = flag(False)
    last_gamma: bool = flag(False)
    dtype: str = flag("float32", choices=("float32", "float16"))
    kvstore: str = flag("device", choices=("device", "local", "dist_sync", "dist_sync_device"))
    mode: str = flag("hybrid", choices=("hybrid", "imperative"))
    # augmentation
    scale_factor: float = flag(0.30, SCALE_FACTOR)
    rotation_factor: float = flag(40.0, real(0, 180))
    flip_prob: float = flag(0.5, FRACTION)
    half_body_prob: float = flag(0.0, FRACTION)
    full_decode: bool = flag(False)
    train_pack: str | None = flag(None)
    # optimisation
    num_epochs: int = flag(140, integer(1, MAX_COUNT))
    lr: float = flag(0.001, real(0, 10, low_open=True))
    wd: float = flag(0.0, real(0, 1))
    no_wd: bool = flag(False)
    lr_mode: str = flag("step", choices=("step", "poly", "cosine"))
    lr_decay: float = flag(0.1, real(0, 1, low_open=True))
    lr_decay_period: int = flag(0, integer(0, MAX_COUNT))
    lr_decay_epoch: tuple[int, ...] = flag("90,120")
    warmup_lr: float = flag(0.0, real(0, 10))
    warmup_epochs: int = flag(0, integer(0, MAX_COUNT))
    nan_policy: str = flag("stop", choices=("stop", "skip"))
    # run
    seed: int = flag(0, SEED)
    save_dir: str = flag("params")
    save_frequency: int = flag(1, integer(0, MAX_COUNT))
    val_interval: int = flag(1, integer(1, MAX_COUNT))
    log_interval: int = flag(20, integer(0, MAX_COUNT))
    tensorboard: bool = flag(True)
    logging_file: str = flag("train.log")
    resume: str | None = flag(None)
    overwrite: bool = flag(False)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "training config") -> "TrainConfig":
        """A config from parsed flags or a stored config (lists for tuples); missing keys take the
        flags' defaults, keys no flag defines are dropped. Checks every value (not the machine: see
        ``check_environment``); a bad one raises SimplePoseError naming the flag, or ``source`` (the file
        holding the config, e.g. a checkpoint manifest: its record ``config`` is added here) and the key.
        """
        raw = with_defaults(values)
        for f in dataclasses.fields(cls):
            choices = f.metadata["choices"]
            if choices and raw[f.name] not in choices:
                raise JsonRecord(raw, source, "config").error(
                    f.name, f"is {raw[f.name]!r} ({flag_name(f.name)}), expected one of {', '.join(choices)}")
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


def flag_spec(dest: str) -> dict[str, Any]:
    """``add_argument`` keywords of a config field's flag: ``default``, and ``type`` or ``choices`` when it has one."""
    meta = _FIELDS[dest].metadata
    return {"default": meta["default"], **{k: meta[k] for k in ("type", "choices") if meta[k] is not None}}


def flag_name(dest: str) -> str:
    """The command-line spelling of a config key."""
    return {"num_workers": "--num-data-workers"}.get(dest, "--" + dest.replace("_", "-"))


def check_values(cfg: TrainConfig, source: str = "command line") -> None:
    """Raise SimplePoseError naming the flag (and ``source``, a stored config's file) of the first value of
    ``cfg`` out of range: each flag's own bound (its field's ``flag(..., type)``, the one statement of
    it: a checkpoint's config is held to what the command line accepts), then the bounds between flags."""
    where = None if source == "command line" else source
    for f in dataclasses.fields(cfg):
        bound, value = f.metadata["type"], getattr(cfg, f.name)
        if isinstance(bound, Bound) and value is not None:
            check_value(bound, flag_name(f.name), value, where)
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
    parse_model_name(cfg.model)
    gpu_ids(cfg.gpus, cfg.num_gpus)   # raises on a malformed --gpus


def with_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` completed with the flags' defaults (parsed as the command line would: ``"0.485,..."`` -> a
    tuple): an older checkpoint's config lacks newer flags. Keys that no flag defines (flags since removed)
    are dropped."""
    defaults = {}
    for name, f in _FIELDS.items():
        default, kind = f.metadata["default"], f.metadata["type"]
        defaults[name] = kind(default) if kind is not None and isinstance(default, str) else default
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
            value = raw[key] if isinstance(raw[key], (str, tuple)) else rec.list(key)
            if isinstance(value, str):
                value = parse_ints(value, flag_name(key))
            elif any(type(v) is not int for v in value):
                raise rec.error(key, f"is {value!r}, expected a list of integers")
            out[key] = tuple(value)
        elif key == "category_id":   # "1,3" from the flag; an int in older checkpoints
            ids = parse_category_ids(raw[key])
            out[key] = None if ids is None else ",".join(map(str, ids))
        elif key == "keypoint_fields":   # "keypoints,foot_kpts" or "foot,body" -> "body,foot"
            parts = parse_keypoint_fields(rec.string(key, None))
            out[key] = None if parts is None else ",".join(parts)
        elif kind == "bool":
            if not isinstance(raw[key], bool):
                raise rec.error(key, f"is {raw[key]!r}, expected true or false")
            out[key] = raw[key]
        else:
            read = {"int": rec.int, "float": rec.number, "str": rec.string}[kind]
            out[key] = read(key, None) if optional else read(key)
    return out


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
