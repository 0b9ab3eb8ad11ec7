"""Loader crops -> model input, on the batch's device.

The training and validation loaders hand out (N, h, w, 3) uint8 BGR crops
(``data.samples.PoseSamples``), a quarter of the bytes of float32 inputs through the
workers' shared memory and the copy to the GPU. The float work that GluonCV's
transform does per sample in the workers (to float, / 255, - mean, / std, BGR ->
RGB, HWC -> CHW) runs here once per batch, as mmpose's data preprocessor does.
The result equals ``data.transforms.normalize`` bit for bit (the same two float32
operations per pixel: ``tests/test_pipeline.py``), which evaluation and export use.
"""
from __future__ import annotations

from typing import Sequence

import mxnet as mx
import numpy as np


class InputNormalizer:
    """(N, h, w, 3) uint8 BGR crops -> (N, 3, h, w) float32 RGB, (pixel / 255 - mean) / std.

    Args:
        mean, std: per RGB channel, in [0, 1] units (ImageNet's by default in the command line).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        # The constants of transforms.normalize, in BGR order (the crops' channel order).
        scale = np.float32(1 / 255) / np.asarray(std, np.float32)
        shift = np.asarray(mean, np.float32) / np.asarray(std, np.float32)
        self._scale = scale[::-1].reshape(1, 3, 1, 1)
        self._shift = shift[::-1].reshape(1, 3, 1, 1)
        self._on: dict[mx.Context, tuple[mx.nd.NDArray, mx.nd.NDArray]] = {}

    def __call__(self, crops: mx.nd.NDArray) -> mx.nd.NDArray:
        ctx = crops.context
        if ctx not in self._on:
            self._on[ctx] = (mx.nd.array(self._scale, ctx=ctx), mx.nd.array(self._shift, ctx=ctx))
        scale, shift = self._on[ctx]
        x = mx.nd.transpose(crops.astype("float32", copy=False), axes=(0, 3, 1, 2))
        x = mx.nd.broadcast_sub(mx.nd.broadcast_mul(x, scale), shift)
        return mx.nd.reverse(x, axis=1)  # BGR -> RGB
