"""An exported model's description (``deploy.json``) and running the export without the training code.

An export directory holds ``NAME-TAG-symbol.json`` + ``NAME-TAG-0000.params`` (MXNet), optionally
``NAME-TAG.onnx``, and ``deploy.json``: input size, normalisation, codec and keypoint metadata, the bare names
of those files with their SHA-256, and the SHA-256 of its own fields and of the source checkpoint, so a moved
or copied folder still checks itself (``deploy_check``; the layout and how an export replaces another:
``export_folder``). Exports of the first format (``simplepose-export-1``: files ``NAME-symbol.json``...,
the checkpoint by a path relative to the folder, no digests) still load, with the checks they allow.
This module reads it and runs the ONNX file with ONNX Runtime or the symbol with MXNet;
MXNet is imported only for the latter.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .codec import METHODS, HeatmapCodec
from .data.transforms import normalize_batch
from .errors import MissingFileError, SimplePoseError, one_line
from .io import JsonRecord, read_json
from .meta import KeypointMeta

DEPLOY_FILE = "deploy.json"
FORMAT = "simplepose-export-2"
LEGACY_FORMAT = "simplepose-export-1"
FORMATS = (FORMAT, LEGACY_FORMAT)
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
BACKENDS = ("auto", "onnx", "mxnet")


def is_export(path: str | os.PathLike) -> bool:
    """True for an export directory (one holding ``deploy.json``)."""
    return Path(path).is_dir() and (Path(path) / DEPLOY_FILE).is_file()


def is_unfinished(doc: dict[str, Any]) -> bool:
    """True for the deploy.json a first export into a folder writes before its model is in place: only the
    list of files it is moving in (``export_folder``)."""
    return doc.get("format") == FORMAT and "unused" in doc and "model" not in doc


def load_deploy(model_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``deploy.json`` of an export directory; file entries become full paths (None when absent).

    Every field the export is run with is checked here: one missing or of the wrong type raises one line
    naming deploy.json and the field. The digests are checked against the files by ``deploy_check``.
    """
    path = Path(model_dir) / DEPLOY_FILE
    rec = JsonRecord(read_json(path, "export description (written by python -m simplepose.export)"), path)
    if rec.raw("format", None) not in FORMATS:
        raise SimplePoseError(f"{path}: not a simplepose export description (no 'format': '{FORMAT}'); "
                              "export the checkpoint again with python -m simplepose.export")
    if is_unfinished(rec.data):
        raise SimplePoseError(f"{path}: the first export into {path.parent} was interrupted before its model was "
                              "in place; export the checkpoint again (python -m simplepose.export)")
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
    files = {"symbol": rec.string("symbol"), "params": rec.string("params"), "onnx": rec.string("onnx", None)}
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


def deploy_codec(doc: dict[str, Any], method: str | None = None) -> HeatmapCodec:
    """The codec the model was trained with (or another decoding ``method``)."""
    return HeatmapCodec(tuple(doc["input_size"]), doc["stride"], doc["sigma"], method or doc["codec"])


def deploy_meta(doc: dict[str, Any]) -> KeypointMeta:
    return KeypointMeta.from_dict(doc["meta"])


def _load_export_file(load: Callable[[], Any], files: str) -> Any:
    """``load()``; a damaged file (any error of the runtime's parser, whose types vary) is one line naming it."""
    try:
        return load()
    except Exception as exc:  # noqa: BLE001  (see the docstring)
        raise SimplePoseError(f"{files}: cannot load the exported model ({one_line(exc)}); "
                              "export the checkpoint again") from None


def onnx_forward(onnx_file: str, mean: Sequence[float], std: Sequence[float], threads: int = 0
                 ) -> Callable[[np.ndarray], np.ndarray]:
    """(B, h, w, 3) uint8 BGR crops -> heatmaps with ONNX Runtime on the CPU (``threads`` 0: its default).

    The crops are normalised in NumPy (``data.transforms.normalize_batch``, the device normaliser's numbers).
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise SimplePoseError("onnxruntime is not installed (pip install onnxruntime); "
                              "or use --backend mxnet") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    session = _load_export_file(lambda: ort.InferenceSession(onnx_file, opts, providers=["CPUExecutionProvider"]),
                                onnx_file)
    name = session.get_inputs()[0].name
    return lambda crops: session.run(None, {name: normalize_batch(crops, mean, std)})[0]


def symbol_forward(doc: dict[str, Any], ctx: Any = None) -> Callable[[np.ndarray], np.ndarray]:
    """(B, h, w, 3) uint8 BGR crops -> heatmaps with the exported MXNet symbol (``gluon.SymbolBlock.imports``)."""
    import mxnet as mx
    from mxnet import gluon
    from .inference import mxnet_forward
    ctx = ctx or mx.cpu()
    with warnings.catch_warnings():
        # imports() infers types without an input and warns "Cannot decide type" for the data input.
        warnings.filterwarnings("ignore", "Cannot decide type", UserWarning)
        block = _load_export_file(lambda: gluon.SymbolBlock.imports(doc["symbol"], [doc["input_name"]],
                                                                    doc["params"], ctx=ctx),
                                  f"{doc['symbol']} + {doc['params']}")
    block.hybridize(static_alloc=True)
    return mxnet_forward(block, [ctx], doc["mean"], doc["std"])


def deploy_forward(doc: dict[str, Any], backend: str = "auto") -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """A forward function for the export and the backend it uses: ``auto`` prefers ONNX Runtime."""
    if backend not in BACKENDS:
        raise SimplePoseError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
    if backend == "auto":
        try:
            import onnxruntime  # noqa: F401  (only probing)
            backend = "onnx" if doc.get("onnx") else "mxnet"
        except ImportError:
            backend = "mxnet"
    if backend == "onnx":
        if not doc.get("onnx"):
            raise SimplePoseError(f"the export of {doc['model']} has no ONNX file (onnx was not installed when it "
                                  "was exported); use --backend mxnet")
        forward = onnx_forward(doc["onnx"], doc["mean"], doc["std"])
    else:
        forward = symbol_forward(doc)
    from .deploy_check import check_export   # imported here: deploy_check imports this module
    check_export(doc, forward)
    return forward, backend
