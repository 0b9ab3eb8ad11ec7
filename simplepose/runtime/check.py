"""``deploy.json`` checked against the model files it describes, before any image is run.

An edited or stale description runs silently wrong through MXNet (the network is fully convolutional, so any
input size goes through; an edited 256,192 for a 128,96 model gave AP 0.31) and with a traceback through ONNX
Runtime. Checked, each with one line naming deploy.json, the field and the file that disagrees:

- input size: against the ONNX graph's fixed input shape (when the export has an ONNX file);
- keypoint count (``meta``) and ``stride``: against the heatmaps of one probe crop through the model;
- input size, mean and std: against the checkpoint the export was made from, when it is still there (found by
  its absolute path and recognised by its SHA-256, ``checkpoint_sha256``: a moved export finds it, a checkpoint
  written over since at that path is not taken for it);
- every field but where things are (``runtime.describe.UNSIGNED``): against ``description_sha256``, so an edited
  deploy.json is caught wherever the folder is and whether or not the checkpoint is still there;
- each model file: against its SHA-256 (``sha256``), so a replaced or damaged file is caught.

The last three need the digests of the current format; an export of the first format (no digests, its
checkpoint by a path relative to the folder) gets the checks it allows.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from simplepose.rundir.checkpoint import manifest_of
from simplepose.runtime.describe import DEPLOY_FILE, FORMAT, description_sha256, file_sha256, load_export_file
from simplepose.errors import SimplePoseError
from simplepose.io import peek_json

# The roles of deploy.json's model files (``export.folder.FILE_ROLES``), each checked against its SHA-256.
MODEL_FILES = ("symbol", "params", "onnx", "int8")
FIX = "export the checkpoint again (simplepose-export) or restore deploy.json"


def onnx_input_hw(onnx_file: str) -> tuple[int, int] | None:
    """(height, width) the ONNX graph's first input is fixed to, or None when unknown (no reader installed,
    dynamic axes)."""
    try:
        import onnx
        graph_input = onnx.load(onnx_file).graph.input[0]
        dims = [d.dim_value or None for d in graph_input.type.tensor_type.shape.dim]
    except ImportError:
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        dims = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"]).get_inputs()[0].shape
    hw = dims[2:4] if len(dims) == 4 else []
    return (int(hw[0]), int(hw[1])) if len(hw) == 2 and all(isinstance(v, int) for v in hw) else None


def _checkpoint_config(doc: dict[str, Any], export_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """(manifest, training config) of the checkpoint the export was made from, when it is still readable."""
    name = doc.get("checkpoint")
    if not isinstance(name, str):
        return None
    params = Path(os.path.normpath(export_dir / name))   # an absolute path stays itself
    if doc["format"] == FORMAT and not (params.is_file() and file_sha256(params) == doc["checkpoint_sha256"]):
        return None
    manifest = manifest_of(params)
    found = peek_json(manifest) if manifest.is_file() else None
    config = found.get("config") if isinstance(found, dict) else None
    return (manifest, config) if isinstance(config, dict) else None


def check_export(doc: dict[str, Any], forward: Callable[[np.ndarray], np.ndarray]) -> None:
    """Refuse an export whose ``deploy.json`` disagrees with its model files (see the module docstring)."""
    export_dir = Path(doc["symbol"]).parent
    where = export_dir / DEPLOY_FILE
    h, w = (int(v) for v in doc["input_size"])
    for role in ("onnx", "int8"):
        fixed = load_export_file(lambda: onnx_input_hw(doc[role]), doc[role]) if doc.get(role) else None
        if fixed is not None and fixed != (h, w):
            raise SimplePoseError(f"{where}: field 'input_size' is {h},{w} but {doc[role]} takes {fixed[0]},"
                                  f"{fixed[1]} crops; {FIX}")
    found = _checkpoint_config(doc, export_dir)
    if found is not None:
        manifest, config = found
        for key in ("input_size", "mean", "std"):
            if key in config and not np.allclose(np.asarray(config[key], float), np.asarray(doc[key], float)):
                raise SimplePoseError(f"{where}: field '{key}' is {doc[key]} but checkpoint {manifest} was trained "
                                      f"with {config[key]}; {FIX}")
    heatmaps = forward(np.zeros((1, h, w, 3), np.uint8))
    k, stride = len(doc["meta"]["names"]), int(doc["stride"])
    if heatmaps.shape[1] != k:
        raise SimplePoseError(f"{where}: field 'meta' names {k} keypoints but the model ({doc['params']}) gives "
                              f"{heatmaps.shape[1]} heatmaps; {FIX}")
    if tuple(heatmaps.shape[2:]) != (h // stride, w // stride):
        raise SimplePoseError(f"{where}: field 'stride' is {stride} but {h}x{w} crops give "
                              f"{heatmaps.shape[2]}x{heatmaps.shape[3]} heatmaps; {FIX}")
    if doc["format"] == FORMAT:
        check_digests(doc, where)


def check_digests(doc: dict[str, Any], where: Path) -> None:
    """The fields of ``deploy.json`` (``where``) against ``description_sha256`` and each model file (full paths
    in ``doc``, as ``load_deploy`` gives them) against its SHA-256: one line naming what differs."""
    files = {role: Path(doc[role]) for role in MODEL_FILES if doc.get(role)}
    as_written = {**doc, **{role: path.name for role, path in files.items()}}
    if description_sha256(as_written) != doc["description_sha256"]:
        raise SimplePoseError(f"{where}: its fields are not those the export wrote (field 'description_sha256' "
                              f"does not match them): deploy.json was edited; {FIX}")
    for path in files.values():
        if file_sha256(path) != doc["sha256"][path.name]:
            raise SimplePoseError(f"{path}: not the file the export wrote (its SHA-256 differs from field 'sha256' "
                                  f"of {where}): replaced or damaged; restore it, or export the checkpoint again")
