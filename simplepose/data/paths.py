"""Where the data of a run are: --dataset/--data-dir completed into absolute annotation files and image folders.

Apart from the command lines (``options``), so that a checkpoint's config and an evaluation can resolve the
same paths without building a parser. The built-in synthetic set is generated on first use.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from simplepose.errors import SimplePoseError
from simplepose.synthetic import dataset_paths, ensure_dataset

SYNTHETIC_DIR = os.path.join("data", "synthetic")


def data_paths(values: Mapping[str, Any], train: bool) -> dict[str, str | None]:
    """The data files of ``values`` (parsed flags), completed from --dataset/--data-dir, as absolute paths.

    Returns ``data_dir`` and the val (and, for ``train``, the train) annotation file and image
    directory, each an absolute path or None. Absolute, so that a checkpoint's data stay found
    when evaluation or a resumed run starts from another directory. Raises SimplePoseError when
    the training data are missing or only one of --val-ann/--val-images is given.
    """
    data_dir = values["data_dir"]
    if values["dataset"] == "synthetic":
        data_dir = data_dir or SYNTHETIC_DIR
    root = Path(absolute(data_dir)) if data_dir else None
    if root is None:
        defaults = {}
    elif values["dataset"] == "synthetic":
        defaults = dataset_paths(root)
    else:
        defaults = {"train_ann": root / "annotations" / "person_keypoints_train2017.json",
                    "train_images": root / "train2017",
                    "val_ann": root / "annotations" / "person_keypoints_val2017.json", "val_images": root / "val2017"}
    keys = ("train_ann", "train_images", "val_ann", "val_images") if train else ("val_ann", "val_images")
    paths: dict[str, str | None] = {"data_dir": str(root) if root else None}
    for key in keys:
        paths[key] = absolute(values[key]) if values[key] else (str(defaults[key]) if key in defaults else None)
    if train and not (paths["train_ann"] and paths["train_images"]):
        raise SimplePoseError("no training data: give --train-ann and --train-images, --data-dir, or --dataset synthetic")
    if bool(paths["val_ann"]) != bool(paths["val_images"]):
        raise SimplePoseError("--val-ann and --val-images go together")
    return paths


def resolve_data(cfg: dict[str, Any], train: bool) -> dict[str, Any]:
    """``cfg`` with its data files filled in by ``data_paths`` (in place; returns ``cfg``)."""
    cfg.update(data_paths(cfg, train))
    return cfg


def absolute(path: str | os.PathLike) -> str:
    """``path`` with ``~`` expanded, made absolute against the working directory (symbolic links kept)."""
    return os.path.abspath(os.path.expanduser(path))


def prepare_synthetic(dataset: str, data_dir: str | None, num_train_images: int, num_val_images: int) -> None:
    """Generate the built-in dataset into ``data_dir`` on first use (no-op unless --dataset synthetic,
    or when it is already complete)."""
    if dataset == "synthetic":
        ensure_dataset(data_dir, num_train_images=num_train_images, num_val_images=num_val_images, seed=0)
