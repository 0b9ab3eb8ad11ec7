"""A trained model as a function: :func:`load_model`, the one dispatch from what the user gave to a forward pass.

Evaluation, export, prediction and the batch API (``runtime.predictor``) all come here. What the model is
(an export, a checkpoint, a run directory, a plain ``.params`` file or GluonCV's model-zoo name) is told by
``runtime.describe``; this
module picks the backend and builds the forward function: ONNX Runtime (``runtime.onnx``, no MXNet) or MXNet
(``runtime.mxnet``, imported only when used, so that an ONNX export runs where MXNet is not installed).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from simplepose.errors import SimplePoseError, missing_mxnet
from simplepose.runtime.check import check_export
from simplepose.runtime.describe import describe
from simplepose.runtime.onnx import onnx_forward

# The backends a model runs with; ``auto``: an export's ONNX file when ONNX Runtime is installed, else MXNet (for
# prediction, its INT8 model first: see ``load_model``); ``onnx-int8``: an export's INT8 model
# (``simplepose-export --int8``).
BACKENDS = ("auto", "onnx", "onnx-int8", "mxnet")

Forward = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run.

    Attributes:
        forward: (B, h, w, 3) uint8 BGR crops -> (B, K, h/4, w/4) float32 heatmaps, NumPy in and out.
        description: the deploy.json-style dict (``runtime.describe``): input size, mean/std, codec, meta, ...
        backend: ``onnx``, ``onnx-int8`` or ``mxnet``: what runs it.
        what: what was loaded, for logs and reports (``export DIR (onnx)``, ``checkpoint P (epoch N)``, ...).
    """

    forward: Forward
    description: dict[str, Any]
    backend: str
    what: str


def require_mxnet(purpose: str) -> ModuleType:
    """``runtime.mxnet``; where MXNet (or GluonCV) is not installed, one line saying that ``purpose`` needs it."""
    try:
        from simplepose.runtime import mxnet as mxnet_runtime
    except ModuleNotFoundError as exc:
        missing = missing_mxnet(exc, purpose, "run the model's ONNX export (simplepose-export makes one where MXNet "
                                               "is installed) with --backend onnx")
        if missing is None:
            raise
        raise missing from None
    return mxnet_runtime


def onnx_runtime_installed() -> bool:
    try:
        import onnxruntime  # noqa: F401  (only probing)
    except ImportError:
        return False
    return True


def auto_backend(desc: dict[str, Any], int8: bool) -> str:
    """What ``auto`` runs the export ``desc`` with: ``onnx-int8`` (when ``int8`` and it has an INT8 model),
    ``onnx`` (when it has an ONNX model), with ONNX Runtime installed; else ``mxnet``."""
    if not (desc.get("onnx") and onnx_runtime_installed()):
        return "mxnet"
    return "onnx-int8" if int8 and desc.get("int8") else "onnx"


def load_model(source: str | os.PathLike, backend: str = "auto", ctx: list | None = None,
               plain: dict[str, Any] | None = None, auto_int8: bool = False, threads: int = 0,
               spinning: bool = True) -> LoadedModel:
    """The model of ``source``: an export directory, a checkpoint (.json/.params/prefix), a run directory (its
    best checkpoint, else its latest), GluonCV's model-zoo name (``simple_pose_resnet50_v1b``: its published
    weights through GluonCV's model store), or the plain ``.params`` file that ``plain``
    (``runtime.describe.plain_description``) describes.

    ``backend`` (one of :data:`BACKENDS`) applies to exports; checkpoints, zoo models and plain files run the
    live MXNet network on ``ctx`` (MXNet contexts, default the CPU). ``auto`` runs an export with ONNX Runtime when
    it is installed, else with MXNet; with ``auto_int8`` (prediction, where speed is the point) an export's INT8
    model comes first, without it (evaluation: the AP reported is the FP32 model's) its FP32 ONNX model. An
    export's description is checked against its files before it is returned (``runtime.check``). ``threads`` and
    ``spinning``: ONNX Runtime's intra-op threads (0: every usable core) and whether they spin when idle
    (``runtime.onnx.onnx_forward``).
    """
    if backend not in BACKENDS:
        raise SimplePoseError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")

    def zoo_weights(name: str) -> str:
        if backend.startswith("onnx"):   # refused before GluonCV's store downloads anything
            raise SimplePoseError(f"--backend {backend}: {name} is GluonCV's model, which runs with MXNet; export it "
                                  f"(simplepose-export --params {name} --out DIR) to run it with ONNX Runtime")
        return require_mxnet(f"GluonCV's {name}").gluoncv_pose_weights_file(name)

    kind, desc, what = describe(source, plain, zoo_weights=zoo_weights)
    if kind != "export":
        if backend.startswith("onnx"):
            raise SimplePoseError(f"--backend {backend}: {source} is a checkpoint, which runs with MXNet; export it "
                                  f"(simplepose-export{' --int8' if backend == 'onnx-int8' else ''}) to run it with "
                                  "ONNX Runtime")
        forward = require_mxnet(f"running {what}").described_forward(desc, ctx)
        return LoadedModel(forward, desc, "mxnet", what)
    purpose = f"--backend mxnet ({what})"
    if backend == "auto":
        backend = auto_backend(desc, auto_int8)
        purpose = f"{what} without an ONNX file or ONNX Runtime"
    if backend == "onnx":
        if not desc.get("onnx"):
            raise SimplePoseError(f"the export of {desc['model']} has no ONNX file (onnx was not installed when it "
                                  "was exported); use --backend mxnet")
        forward = onnx_forward(desc["onnx"], desc["mean"], desc["std"], threads, spinning)
    elif backend == "onnx-int8":
        if not desc.get("int8"):
            raise SimplePoseError(f"--backend onnx-int8: the export {source} has no INT8 model; export the "
                                  "checkpoint again with --int8")
        forward = onnx_forward(desc["int8"], desc["mean"], desc["std"], threads, spinning)
    else:
        forward = require_mxnet(purpose).symbol_forward(desc, ctx)
    check_export(desc, forward)
    return LoadedModel(forward, desc, backend, f"{what} ({backend})")
