"""The MXNet side of a trained model, and the package's only MXNet import: devices, the device normaliser,
the live network (checkpoint, plain ``.params`` or GluonCV's zoo weights, whose file
``gluoncv_pose_weights_file`` gets from GluonCV's model store) and the exported symbol as forward functions.

A forward function takes (B, h, w, 3) uint8 BGR crops (``runtime.pose.BoxCrops``) and returns
(B, K, h/4, w/4) float32 heatmaps, as NumPy arrays. The crops are normalised on the model's device
(:class:`InputNormalizer`), as in training: the training and validation loaders hand out uint8 crops
(``data.samples.PoseSamples``), a quarter of the bytes of float32 inputs through the workers' shared memory
and the copy to the GPU, and the float work GluonCV's transform does per sample (to float, / 255, - mean,
/ std, BGR -> RGB, HWC -> CHW) runs once per batch, as mmpose's data preprocessor does. The result equals
``data.transforms.normalize`` bit for bit (the same two float32 operations per pixel:
``tests/training/test_pipeline.py``), which ONNX Runtime's path uses.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon

from simplepose.errors import SimplePoseError
from simplepose.flags import gpu_ids
from simplepose.model import SimplePoseResNet, get_pose_model, load_checkpoint_params, read_param_arrays
# runtime.load reaches GluonCV's model store through this module (require_mxnet), so it is re-exported here.
from simplepose.model import gluoncv_pose_weights_file  # noqa: F401
from simplepose.runtime.describe import load_export_file


def contexts(gpus: str | None, num_gpus: int) -> list[mx.Context]:
    """The devices of --gpus ('0,1') or --num-gpus N, checked against what this MXNet build sees; else the CPU."""
    ids = gpu_ids(gpus, num_gpus)
    if ids and max(ids) >= mx.context.num_gpus():
        raise SimplePoseError(f"--gpus {','.join(map(str, ids))}: this machine's MXNet sees "
                              f"{mx.context.num_gpus()} GPU(s); install mxnet-cu112 (requirements-gpu.txt) or drop the flag")
    return [mx.gpu(i) for i in ids] if ids else [mx.cpu()]


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


def params_num_joints(path: str | os.PathLike) -> int:
    """K of a simple_pose ``.params`` file: the output channels of its ``final_layer.weight`` (K, C, 1, 1)."""
    final = read_param_arrays(path).get("final_layer.weight")
    if final is None or final.ndim != 4:
        raise SimplePoseError(f"{path}: no final_layer.weight (K, C, 1, 1): not a simple_pose model's parameters")
    return int(final.shape[0])


def load_described_net(desc: dict[str, Any], ctx: list[mx.Context]) -> SimplePoseResNet:
    """The model a description names (``model``, ``meta``, the ``checkpoint`` .params file) in float32 on
    ``ctx`` (float16 files are cast on load); a file of another K or model raises one line naming it."""
    net = get_pose_model(desc["model"], len(desc["meta"]["names"]))
    load_checkpoint_params(net, desc["checkpoint"], ctx)
    return net


def net_heatmaps(net: gluon.Block, to_input: InputNormalizer, crops: mx.nd.NDArray,
                 dtype: str = "float32") -> mx.nd.NDArray:
    """(B, h, w, 3) uint8 crops on one device -> (B, K, h/4, w/4) float32 heatmaps there.

    The one forward pass of validation, evaluation and prediction: normalise on the device,
    cast to the model's ``dtype``, run, and give float32 back.
    """
    return net(to_input(crops).astype(dtype, copy=False)).astype("float32", copy=False)


def mxnet_forward(net: gluon.Block, ctx: list[mx.Context], mean: Sequence[float], std: Sequence[float],
                  dtype: str = "float32") -> Callable[[np.ndarray], np.ndarray]:
    """(B, h, w, 3) uint8 BGR NumPy crops -> (B, K, h/4, w/4) float32 NumPy heatmaps, the batch split over ``ctx``;
    ``dtype`` is the network's (a float16 network in training)."""
    to_input = InputNormalizer(mean, std)

    def forward(crops: np.ndarray) -> np.ndarray:
        # A batch smaller than the device count goes to fewer devices (no empty slices).
        devices = ctx[:min(len(ctx), len(crops))]
        parts = gluon.utils.split_and_load(mx.nd.array(crops, dtype="uint8"), devices, even_split=False)
        return np.concatenate([net_heatmaps(net, to_input, p, dtype).asnumpy() for p in parts])
    return forward


def described_forward(desc: dict[str, Any], ctx: list[mx.Context] | None = None
                      ) -> Callable[[np.ndarray], np.ndarray]:
    """The forward function of a checkpoint's or plain ``.params`` file's description: the live network,
    hybridized, the batch split over ``ctx`` (default: the CPU)."""
    ctx = ctx or [mx.cpu()]
    net = load_described_net(desc, ctx)
    net.hybridize(static_alloc=True)
    return mxnet_forward(net, ctx, desc["mean"], desc["std"])


def symbol_forward(doc: dict[str, Any], ctx: list[mx.Context] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """(B, h, w, 3) uint8 BGR crops -> heatmaps with an export's MXNet symbol (``gluon.SymbolBlock.imports``)
    on the first of ``ctx`` (default: the CPU)."""
    ctx = ctx or [mx.cpu()]
    with warnings.catch_warnings():
        # imports() infers types without an input and warns "Cannot decide type" for the data input.
        warnings.filterwarnings("ignore", "Cannot decide type", UserWarning)
        block = load_export_file(lambda: gluon.SymbolBlock.imports(doc["symbol"], [doc["input_name"]],
                                                                   doc["params"], ctx=ctx[0]),
                                 f"{doc['symbol']} + {doc['params']}")
    block.hybridize(static_alloc=True)
    return mxnet_forward(block, ctx[:1], doc["mean"], doc["std"])
