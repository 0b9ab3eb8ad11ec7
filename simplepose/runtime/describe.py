"""What a trained model is: an export's ``deploy.json``, a checkpoint's manifest, a plain ``.params`` file or GluonCV's
model-zoo name, as one description dict; GluonCV's defaults for a model known only by its weights.

An export directory holds ``NAME-TAG-symbol.json`` + ``NAME-TAG-0000.params`` (MXNet), optionally
``NAME-TAG.onnx`` and its INT8 model ``NAME-TAG-int8.onnx`` (with ``calibration``: data, crops, method, and
``int8_accuracy``: the AP change measured on held-out people), and
``deploy.json``: input size, normalisation, codec and keypoint metadata, the bare names
of those files with their SHA-256, and the SHA-256 of its own fields and of the source checkpoint, so a moved
or copied folder still checks itself (``runtime.check``; the layout and how an export replaces another:
``export.folder``). Exports of the first format (``simplepose-export-1``: files ``NAME-symbol.json``...,
the checkpoint by a path relative to the folder, no digests) still load, with the checks they allow.

A checkpoint (``rundir.checkpoint``), a plain ``.params`` file and a model-zoo name (``simple_pose_resnet50_v1b``:
COCO's keypoints, GluonCV's settings and published weights) are described by the same dict (model, input size,
mean/std, stride, sigma, codec, keypoint metadata, the ``checkpoint`` weights file), so evaluation, export and
prediction do not care which one they were given; :func:`describe` is the one place that tells them apart. No MXNet
here: the weights of a zoo name come from GluonCV's model store through a function the caller passes.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from simplepose.codec import METHODS, HeatmapCodec
from simplepose.config import DATA_FLAGS
from simplepose.errors import MissingFileError, SimplePoseError, one_line
from simplepose.geometry import STRIDE
from simplepose.io import JsonRecord, read_json
from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SKELETON, KeypointMeta
from simplepose.rundir.checkpoint import is_plain_params, load_manifest, manifest_of
from simplepose.zoo import (GLUONCV_INPUT_SIZE, GLUONCV_SIGMA, IMAGENET_MEAN, IMAGENET_STD, is_zoo_name,
                            parse_model_name)

DEPLOY_FILE = "deploy.json"
FORMAT = "simplepose-export-2"
LEGACY_FORMAT = "simplepose-export-1"
FORMATS = (FORMAT, LEGACY_FORMAT)
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Fields that locate things outside the folder (the checkpoint, the training data) or do the folder's
# bookkeeping: left out of description_sha256, so moving them or fixing a path is not an edit of the model.
UNSIGNED = ("checkpoint", "data", "unused", "description_sha256")


def is_export(path: str | os.PathLike) -> bool:
    """True for an export directory (one holding ``deploy.json``)."""
    return Path(path).is_dir() and (Path(path) / DEPLOY_FILE).is_file()


def is_unfinished(doc: dict[str, Any]) -> bool:
    """True for the deploy.json a first export into a folder writes before its model is in place: only the
    list of files it is moving in (``export.folder``)."""
    return doc.get("format") == FORMAT and "unused" in doc and "model" not in doc


def load_deploy(model_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``deploy.json`` of an export directory; file entries become full paths (None when absent).

    Every field the export is run with is checked here: one missing or of the wrong type raises one line
    naming deploy.json and the field. The digests are checked against the files by ``runtime.check``.
    """
    path = Path(model_dir) / DEPLOY_FILE
    rec = JsonRecord(read_json(path, "export description (written by simplepose-export)"), path)
    if rec.raw("format", None) not in FORMATS:
        raise SimplePoseError(f"{path}: not a simplepose export description (no 'format': '{FORMAT}'); "
                              "export the checkpoint again with simplepose-export")
    if is_unfinished(rec.data):
        raise SimplePoseError(f"{path}: the first export into {path.parent} was interrupted before its model was "
                              "in place; export the checkpoint again (simplepose-export)")
    rec.string("model")
    rec.string("input_name")
    rec.ints("input_size", length=2, minimum=1)
    rec.numbers("mean", length=3)
    rec.int("stride", minimum=1)
    for key, values in (("std", rec.numbers("std", length=3)), ("sigma", [rec.number("sigma")])):
        if min(values) <= 0:
            raise rec.error(key, f"is {rec.data[key]}, expected positive values; export the checkpoint again")
    if rec.string("codec") not in METHODS:
        raise rec.error("codec", f"is {rec.data['codec']!r}, expected one of {', '.join(METHODS)}")
    KeypointMeta.from_dict(rec.raw("meta"), str(path))
    files = {"symbol": rec.string("symbol"), "params": rec.string("params"), "onnx": rec.string("onnx", None),
             "int8": rec.string("int8", None)}
    if files["int8"] is not None:
        if not files["onnx"]:
            raise rec.error("int8", "names an INT8 model but 'onnx' names no FP32 one; export the checkpoint again")
        _check_int8_records(rec)
    if rec.data["format"] == FORMAT:
        _check_digest_fields(rec, [name for name in files.values() if name is not None])
    doc = rec.data
    for key, name in files.items():
        if name is not None:
            full = path.parent / name
            if not full.is_file():
                raise MissingFileError(f"{full}: file of export {path} is missing")
            doc[key] = str(full)
    return doc


def _check_digest_fields(rec: JsonRecord, names: list[str]) -> None:
    """The fields a moved export checks itself with: bare file names, each with its SHA-256 under ``sha256``,
    and ``description_sha256`` / ``checkpoint_sha256`` (64 hex digits each)."""
    for name in names:
        if name != Path(name).name or name.startswith("."):
            raise rec.error(None, f"file {name!r} is not a file name in the export folder; export the checkpoint "
                                  "again")
    digests = rec.sub("sha256")
    for key in names:
        if not SHA256_HEX.fullmatch(digests.string(key)):
            raise digests.error(key, "is not a SHA-256 (64 hex digits); export the checkpoint again")
    for key in ("description_sha256", "checkpoint_sha256"):
        if not SHA256_HEX.fullmatch(rec.string(key)):
            raise rec.error(key, "is not a SHA-256 (64 hex digits); export the checkpoint again")


INT8_FIX = "export the checkpoint again (simplepose-export --int8)"


def _check_int8_records(rec: JsonRecord) -> None:
    """The INT8 model's ``calibration`` (data, crops, method) and ``int8_accuracy`` (``export.int8_accuracy``:
    AP of both models on held-out people, or why it was not measured; absent in the first INT8 exports): each
    field of the right type and range, or one line naming it and the fix. Read by people and tools, never run
    with, but an export's file is checked where it is read."""
    try:
        _check_calibration(rec.sub("calibration"))
        accuracy = rec.sub("int8_accuracy", None)
        if accuracy is not None:
            _check_accuracy(accuracy)
    except SimplePoseError as exc:
        raise SimplePoseError(f"{exc}; {INT8_FIX}") from None


def _check_calibration(calibration: JsonRecord) -> None:
    for key in ("ann", "images", "method"):
        calibration.string(key)
    for key in ("image_files", "crops"):
        calibration.int(key, minimum=1)
    if not all(isinstance(node, str) for node in calibration.list("fp32_nodes")):
        raise calibration.error("fp32_nodes", f"is {calibration.data['fp32_nodes']!r}, expected a list of node "
                                              "names")


def _check_accuracy(accuracy: JsonRecord) -> None:
    measured = accuracy.raw("measured")
    if not isinstance(measured, bool):
        raise accuracy.error("measured", f"is {measured!r}, expected true or false")
    if not measured:
        accuracy.string("reason")
        return
    for key in ("data", "held_out", "boxes"):
        accuracy.string(key)
    accuracy.string("sigmas", None)
    for key in ("images", "people"):
        accuracy.int(key, minimum=1)
    ap = {key: accuracy.number(key) for key in ("ap_fp32", "ap_int8", "ap_change")}
    for key in ("ap_fp32", "ap_int8"):
        if not 0 <= ap[key] <= 1:
            raise accuracy.error(key, f"is {ap[key]}, expected an AP in [0, 1]")
    if abs(ap["ap_change"] - (ap["ap_int8"] - ap["ap_fp32"])) > 1e-5:
        raise accuracy.error("ap_change", f"is {ap['ap_change']}, but 'ap_int8' - 'ap_fp32' is "
                                          f"{ap['ap_int8'] - ap['ap_fp32']:.6f}")


def deploy_codec(doc: dict[str, Any], method: str | None = None) -> HeatmapCodec:
    """The codec the model was trained with (or another decoding ``method``)."""
    return HeatmapCodec(tuple(doc["input_size"]), doc["stride"], doc["sigma"], method or doc["codec"])


def deploy_meta(doc: dict[str, Any]) -> KeypointMeta:
    return KeypointMeta.from_dict(doc["meta"])


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def description_sha256(doc: dict[str, Any]) -> str:
    """The SHA-256 of a deploy.json's fields but :data:`UNSIGNED`, in one canonical JSON form (sorted keys,
    no spaces): any edit of how the model is run (input size, mean, keypoints, file names, digests) changes it."""
    signed = {k: v for k, v in doc.items() if k not in UNSIGNED}
    text = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def checkpoint_description(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The deploy.json-style description of a checkpoint manifest (``rundir.checkpoint.load_manifest``)."""
    cfg = ckpt["config"]
    return {"model": cfg["model"], "input_size": list(cfg["input_size"]), "mean": list(cfg["mean"]),
            "std": list(cfg["std"]), "stride": STRIDE, "sigma": cfg["sigma"], "codec": cfg["codec"],
            "meta": ckpt["meta"], "epoch": ckpt["epoch"], "checkpoint": ckpt["params"],
            # With the synthetic set's size, so evaluating never regenerates the data at other sizes.
            "data": {k: cfg[k] for k in DATA_FLAGS + ("category_id", "synthetic_train_images",
                                                          "synthetic_val_images")}}


def plain_description(params: str | os.PathLike, model: str, meta: KeypointMeta,
                      input_size: Sequence[int] = GLUONCV_INPUT_SIZE, mean: Sequence[float] = IMAGENET_MEAN,
                      std: Sequence[float] = IMAGENET_STD) -> dict[str, Any]:
    """The deploy.json-style description of a plain ``.params`` file (no manifest), as GluonCV's
    ``save_parameters`` writes it: the model name, input size (h, w) pixels and RGB mean/std are the
    caller's (GluonCV's defaults), the keypoint metadata comes from elsewhere (an annotation file), and
    the target sigma, stride and codec are GluonCV's (2 heatmap pixels, 4, standard)."""
    parse_model_name(model)
    return {"model": model, "input_size": list(input_size), "mean": list(mean), "std": list(std), "stride": STRIDE,
            "sigma": GLUONCV_SIGMA, "codec": "standard", "meta": meta.to_dict(), "epoch": None,
            "checkpoint": str(params)}


def coco_meta() -> KeypointMeta:
    """COCO's 17 person keypoints: names, skeleton, flip pairs (by name) and cocoapi's OKS sigmas."""
    return KeypointMeta.build(COCO_KEYPOINT_NAMES, COCO_SKELETON, skeleton_one_based=True)


def is_zoo_source(source: str | os.PathLike) -> bool:
    """True for GluonCV's model-zoo name of a simple_pose model that names nothing on disk: a file or folder of
    that name, or a checkpoint prefix (``NAME.json``) in the working directory, is that path, not the zoo model."""
    text = os.fspath(source)
    return is_zoo_name(text) and not os.path.lexists(text) and not os.path.lexists(manifest_of(text))


def zoo_description(name: str, weights: str | os.PathLike) -> dict[str, Any]:
    """The deploy.json-style description of GluonCV's model-zoo model ``name`` (``simple_pose_resnet50_v1b``):
    its published ``weights`` file, COCO's 17 keypoints and GluonCV's input size, normalisation, sigma and codec
    (what its scripts/pose/simple_pose trained them with)."""
    return plain_description(weights, name, coco_meta())


def check_num_joints(given: int | None, found: int, source: str | os.PathLike) -> None:
    """--num-joints (GluonCV's flag), when given, against the keypoint count ``found`` in ``source``."""
    if given is not None and given != found:
        raise SimplePoseError(f"--num-joints {given}: {source} has {found} keypoints")


def describe(source: str | os.PathLike, plain: dict[str, Any] | None = None, *,
             zoo_weights: Callable[[str], str]) -> tuple[str, dict[str, Any], str]:
    """(kind, description, what) of a trained model: the one place that tells its forms apart.

    ``kind`` is ``export`` (a folder with ``deploy.json``: :func:`load_deploy`'s dict, file entries full paths),
    ``zoo`` (GluonCV's model-zoo name, ``simple_pose_resnet{18,50,101,152}_v1{b,d}``, when it names nothing on
    disk: a path that exists wins, see :func:`is_zoo_source`; :func:`zoo_description` with the weights file that
    ``zoo_weights(name)`` gives, GluonCV's model store on the MXNet side, ``model.gluoncv_pose_weights_file``),
    ``checkpoint`` (its ``.json``/``.params``/prefix, or a run directory: :func:`checkpoint_description`) or
    ``plain`` (a ``.params`` file no manifest names, described by the caller's ``plain``, from
    :func:`plain_description`). ``what`` names it for logs and reports. A plain file without ``plain`` is
    refused in one line: it carries no input size nor keypoint names.
    """
    if is_export(source):
        return "export", load_deploy(source), f"export {source}"
    if is_zoo_source(source):
        name = os.fspath(source)
        weights = zoo_weights(name)
        return "zoo", zoo_description(name, weights), f"GluonCV's {name} (weights {weights})"
    if plain is not None:
        return "plain", plain, f"plain parameter file {source} ({plain['model']})"
    if is_plain_params(source):
        raise SimplePoseError(f"{source}: a plain .params file (no checkpoint manifest names it) carries no input "
                              "size nor keypoint names; export it first (simplepose-export --params "
                              f"{source} --model NAME --ann FILE --out DIR) and give the export folder")
    ckpt = load_manifest(source)
    return "checkpoint", checkpoint_description(ckpt), f"checkpoint {ckpt['params']} (epoch {ckpt['epoch']})"


def load_export_file(load: Callable[[], Any], files: str) -> Any:
    """``load()``; a damaged file (any error of the runtime's parser, whose types vary) is one line naming it."""
    try:
        return load()
    except Exception as exc:  # noqa: BLE001  (see the docstring)
        raise SimplePoseError(f"{files}: cannot load the exported model ({one_line(exc)}); "
                              "export the checkpoint again") from None
