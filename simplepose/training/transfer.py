"""Starting a model from another model's weights: ``--init-from`` and ``--use-pretrained`` for any K.

The source is a checkpoint (manifest, ``.params`` or prefix), a run directory (its best checkpoint,
else its latest) or a plain MXNet ``.params`` file as GluonCV's ``save_parameters`` writes it.
Every parameter whose name and shape match is copied; the others keep their fresh initialisation.
The final 1x1 convolution is matched joint by joint: the output channels (rows of
``final_layer.weight`` (K, C, 1, 1) and ``final_layer.bias`` (K,)) of target joints whose names match
a source joint's are copied from that joint's row, the rest stay freshly initialised, so a COCO
model starts a 14-keypoint CrowdPose-style model with its 12 shared joints already trained.

Names match through ``key`` (their canonical form by default: ``R_Eye`` matches ``right_eye``); the source's names come from its
manifest. A plain ``.params`` carries none: its joints are taken as COCO's 17 only when its final
layer has 17 outputs (GluonCV's published weights), which is logged.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import mxnet as mx

from simplepose.rundir.checkpoint import is_plain_params, load_manifest
from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.keypoint_names import canonical_name
from simplepose.meta import COCO_KEYPOINT_NAMES
from simplepose.zoo import GLUONCV_INPUT_SIZE, IMAGENET_MEAN, IMAGENET_STD
from simplepose.model import SimplePoseResNet, gluoncv_pose_weights_file, read_param_arrays

log = logging.getLogger(__name__)

FINAL = ("final_layer.weight", "final_layer.bias")


@dataclass(frozen=True)
class WeightSource:
    """Weights to start from, and what is known of the model that learnt them.

    Attributes:
        params: the ``.params`` file.
        what: how logs name it (``checkpoint X (epoch N)``, ``plain parameter file X``...).
        names: the source's keypoint names in final-layer order, None when unknown.
        settings: the source's ``input_size`` (h, w) pixels, ``mean`` and ``std`` (RGB, [0, 1] units)
            and ``model``, when known (a checkpoint's config).
    """

    params: str
    what: str
    names: tuple[str, ...] | None
    settings: dict[str, Any] | None = None


def weight_source(path: str | os.PathLike) -> WeightSource:
    """The :class:`WeightSource` of ``--init-from PATH`` (see the module docstring for the forms)."""
    if not Path(path).exists() and not Path(f"{path}.json").is_file():
        raise MissingFileError(f"--init-from {path}: no such file or directory; give a checkpoint, a run "
                               "directory or a .params file")
    if is_plain_params(path):
        return WeightSource(str(path), f"plain parameter file {path}", None)
    ckpt = load_manifest(path)
    cfg = ckpt["config"]
    return WeightSource(ckpt["params"], f"checkpoint {ckpt['params']} (epoch {ckpt['epoch']})",
                        tuple(ckpt["meta"]["names"]),
                        {"model": cfg["model"], "input_size": tuple(cfg["input_size"]), "mean": tuple(cfg["mean"]),
                         "std": tuple(cfg["std"])})


def gluoncv_source(model: str) -> WeightSource:
    """GluonCV's published COCO weights of ``model`` (``--use-pretrained``), trained at 256x192."""
    path = gluoncv_pose_weights_file(model)
    return WeightSource(path, f"GluonCV's published weights {path}", COCO_KEYPOINT_NAMES,
                        {"model": model, "input_size": GLUONCV_INPUT_SIZE, "mean": IMAGENET_MEAN,
                         "std": IMAGENET_STD})


def match_joints(source_names: Sequence[str], target_names: Sequence[str],
                 key: Callable[[str], str] = canonical_name) -> list[tuple[int, int]]:
    """(target index, source index) of every target joint whose ``key`` equals exactly one source joint's.

    A key shared by several source joints matches none of them (which one was meant is unknown).
    """
    found: dict[str, list[int]] = {}
    for j, name in enumerate(source_names):
        found.setdefault(key(name), []).append(j)
    return [(i, found[key(name)][0]) for i, name in enumerate(target_names) if len(found.get(key(name), ())) == 1]


@dataclass(frozen=True)
class TransferReport:
    """What :func:`transfer_weights` did: parameter names loaded and re-initialised, and the final-layer
    rows copied as (target name, source name)."""

    loaded: tuple[str, ...]
    reinitialised: tuple[str, ...]
    copied_joints: tuple[tuple[str, str], ...]


def _copy_rows(net: SimplePoseResNet, arrays: dict[str, mx.nd.NDArray], pairs: list[tuple[int, int]]) -> bool:
    """Copy final-layer rows ``pairs`` (target, source) from ``arrays``; False when the shapes forbid it."""
    params = net._collect_params_with_prefix()
    if any(k not in arrays or arrays[k].shape[1:] != params[k].shape[1:] for k in FINAL):
        return False
    targets, sources = [t for t, _ in pairs], [s for _, s in pairs]
    for key in FINAL:
        param = params[key]
        data = param.data().asnumpy()
        data[targets] = arrays[key].asnumpy()[sources]
        param.set_data(mx.nd.array(data, dtype=param.dtype))
    return True


def transfer_weights(net: SimplePoseResNet, source: WeightSource, target_names: Sequence[str],
                     key: Callable[[str], str] = canonical_name) -> TransferReport:
    """Copy ``source``'s matching weights into ``net`` (initialised, shapes known); returns what was done.

    Raises SimplePoseError when no parameter matches (not a simple_pose model's file).
    """
    arrays = read_param_arrays(source.params)
    loaded, fresh = [], []
    for name, param in net._collect_params_with_prefix().items():
        if name in FINAL:   # matched keypoint by keypoint below
            continue
        arr = arrays.get(name)
        if arr is not None and arr.shape == param.shape:
            param.set_data(arr.astype(param.dtype))
            loaded.append(name)
        else:
            fresh.append(name)
    if not loaded:
        raise SimplePoseError(f"{source.params}: no parameter matches {net.__class__.__name__}'s names and shapes; "
                              "give a simple_pose model's checkpoint or .params file")
    names = source.names
    final = arrays.get(FINAL[0])
    if names is None and final is not None and final.shape[0] == len(COCO_KEYPOINT_NAMES):
        log.info("%s names no keypoints; its final layer has 17 outputs: taking them as COCO's 17 keypoints",
                 source.what)
        names = COCO_KEYPOINT_NAMES
    if final is not None and names is not None and len(names) != final.shape[0]:
        raise SimplePoseError(f"{source.params}: final_layer.weight has {final.shape[0]} outputs, its manifest names "
                              f"{len(names)} keypoints")
    pairs = match_joints(names, target_names, key) if names is not None else []
    if pairs and _copy_rows(net, arrays, pairs):
        copied = tuple((target_names[t], names[s]) for t, s in pairs)
    else:
        copied = ()
    if len(copied) == len(target_names):
        loaded.extend(FINAL)
    else:
        fresh.extend(FINAL)
    report = TransferReport(tuple(loaded), tuple(fresh), copied)
    _log_report(source, report, len(target_names), names)
    return report


def _log_report(source: WeightSource, report: TransferReport, k: int, names: Sequence[str] | None) -> None:
    log.info("initialised from %s: %d parameters loaded, %d re-initialised%s", source.what, len(report.loaded),
             len(report.reinitialised), f" ({', '.join(report.reinitialised)})" if report.reinitialised else "")
    if names is None:
        log.info("final layer: re-initialised (the source names no keypoints and has not 17 outputs)")
    else:
        copied = ", ".join(t if t == s else f"{t} <- {s}" for t, s in report.copied_joints)
        log.info("final layer: %d of %d keypoint rows copied from the source's %d%s", len(report.copied_joints), k,
                 len(names), f" ({copied})" if copied else "")


def check_settings(source: WeightSource, input_size: Sequence[int], mean: Sequence[float],
                   std: Sequence[float]) -> list[str]:
    """Warnings (also logged) for each of input size, mean and std where the source's differs from this run's."""
    if source.settings is None:
        log.info("%s: its input size, mean and std are unknown (GluonCV trains at 256x192 with ImageNet's "
                 "mean and std)", source.what)
        return []
    notes = []
    for what, theirs, ours in (("input size", source.settings["input_size"], input_size),
                               ("mean", source.settings["mean"], mean), ("std", source.settings["std"], std)):
        if tuple(theirs) != tuple(ours):
            notes.append(f"{source.what} was trained with {what} {list(theirs)}, this run uses {list(ours)}")
    for note in notes:
        log.warning("%s", note)
    return notes
