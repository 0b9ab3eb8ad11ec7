"""An ONNX export run with ONNX Runtime on the CPU: (B, h, w, 3) uint8 BGR crops -> (B, K, h/4, w/4) heatmaps.

No MXNet: this is what a deployment without it (``pip install "simplepose[deploy]"``) runs. The session fits
the machine: as many intra-op threads as the cores this process may run on (``os.sched_getaffinity``, which a
container or ``taskset`` narrows; ONNX Runtime's own default counts every core of the machine), all graph
optimisations, and, when other work shares the cores (predict's video pipeline), no spinning: idle ONNX Runtime
threads otherwise spin for a while after each run, taking the cores that decoding and drawing need.
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np

from simplepose.data.transforms import normalize_batch
from simplepose.errors import SimplePoseError
from simplepose.runtime.describe import load_export_file


def usable_cores() -> int:
    """The number of CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # macOS, Windows
        return os.cpu_count() or 1


def onnx_forward(onnx_file: str, mean: Sequence[float], std: Sequence[float], threads: int = 0,
                 spinning: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """(B, h, w, 3) uint8 BGR crops -> (B, K, h/4, w/4) float32 heatmaps with ONNX Runtime on the CPU, with
    ``threads`` intra-op threads (0: ``usable_cores()``); ``spinning`` False when other threads share the cores.

    The crops are normalised in NumPy (``data.transforms.normalize_batch``, the device normaliser's numbers).
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise SimplePoseError("onnxruntime is not installed (pip install onnxruntime); "
                              "or use --backend mxnet") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads or usable_cores()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    session = load_export_file(lambda: ort.InferenceSession(onnx_file, opts, providers=["CPUExecutionProvider"]),
                               onnx_file)
    name = session.get_inputs()[0].name
    return lambda crops: session.run(None, {name: normalize_batch(crops, mean, std)})[0]
