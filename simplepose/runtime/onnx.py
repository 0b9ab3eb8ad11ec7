"""An ONNX export run with ONNX Runtime on the CPU: (B, h, w, 3) uint8 BGR crops -> (B, K, h/4, w/4) heatmaps.

No MXNet: this is what a deployment without it (``pip install "simplepose[deploy]"``) runs.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from simplepose.data.transforms import normalize_batch
from simplepose.errors import SimplePoseError
from simplepose.runtime.describe import load_export_file


def onnx_forward(onnx_file: str, mean: Sequence[float], std: Sequence[float], threads: int = 0
                 ) -> Callable[[np.ndarray], np.ndarray]:
    """(B, h, w, 3) uint8 BGR crops -> (B, K, h/4, w/4) float32 heatmaps with ONNX Runtime on the CPU
    (``threads`` 0: its default).

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
    session = load_export_file(lambda: ort.InferenceSession(onnx_file, opts, providers=["CPUExecutionProvider"]),
                               onnx_file)
    name = session.get_inputs()[0].name
    return lambda crops: session.run(None, {name: normalize_batch(crops, mean, std)})[0]
