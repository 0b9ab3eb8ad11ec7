"""A trained model ready for inference, from a checkpoint, an export or a plain .params, as a forward function.

A forward function takes (B, h, w, 3) uint8 BGR crops (``pose_inference.BoxCrops``) and returns
(B, K, h/4, w/4) float32 heatmaps, as NumPy arrays; the crops are normalised on the model's device
(``device_input.InputNormalizer``), as in training. Both sources are described by the same dict as
an export's ``deploy.json`` (model, input size, mean/std, stride, sigma, codec, keypoint metadata),
so evaluation and prediction do not care which one they were given. A plain ``.params`` file (GluonCV's
``save_parameters``, no manifest) is described by the caller: model name, input size, mean/std and the
keypoint metadata of an annotation file (:func:`plain_description`).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon

from .checkpoint import load_manifest
from .deploy import deploy_forward, is_export, load_deploy
from .device_input import InputNormalizer
from .geometry import STRIDE
from .meta import KeypointMeta
from .options import DATA_FLAGS
from .errors import SimplePoseError
from .model import SimplePoseResNet, get_pose_model, load_checkpoint_params, parse_model_name, read_param_arrays

# What GluonCV's scripts/pose/simple_pose assume of a model known only by its weights (their flags' defaults).
GLUONCV_INPUT_SIZE = (256, 192)
GLUONCV_MEAN = (0.485, 0.456, 0.406)
GLUONCV_STD = (0.229, 0.224, 0.225)
GLUONCV_SIGMA = 2.0


def checkpoint_description(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The deploy.json-style description of a checkpoint manifest."""
    cfg = ckpt["config"]
    return {"model": cfg["model"], "input_size": list(cfg["input_size"]), "mean": list(cfg["mean"]),
            "std": list(cfg["std"]), "stride": STRIDE, "sigma": cfg["sigma"], "codec": cfg["codec"],
            "meta": ckpt["meta"], "epoch": ckpt["epoch"], "checkpoint": ckpt["params"],
            # With the synthetic set's size, so evaluating never regenerates the data at other sizes.
            "data": {k: cfg[k] for k in DATA_FLAGS + ("category_id", "synthetic_train_images",
                                                          "synthetic_val_images")}}


def plain_description(params: str | os.PathLike, model: str, meta: KeypointMeta,
                      input_size: Sequence[int] = GLUONCV_INPUT_SIZE, mean: Sequence[float] = GLUONCV_MEAN,
                      std: Sequence[float] = GLUONCV_STD) -> dict[str, Any]:
    """The deploy.json-style description of a plain ``.params`` file (no manifest), as GluonCV's
    ``save_parameters`` writes it: the model name, input size (h, w) pixels and RGB mean/std are the
    caller's (GluonCV's defaults), the keypoint metadata comes from elsewhere (an annotation file), and
    the target sigma, stride and codec are GluonCV's (2 heatmap pixels, 4, standard)."""
    parse_model_name(model)
    return {"model": model, "input_size": list(input_size), "mean": list(mean), "std": list(std), "stride": STRIDE,
            "sigma": GLUONCV_SIGMA, "codec": "standard", "meta": meta.to_dict(), "epoch": None,
            "checkpoint": str(params)}


def params_num_joints(path: str | os.PathLike) -> int:
    """K of a simple_pose ``.params`` file: the output channels of its ``final_layer.weight`` (K, C, 1, 1)."""
    final = read_param_arrays(path).get("final_layer.weight")
    if final is None or final.ndim != 4:
        raise SimplePoseError(f"{path}: no final_layer.weight (K, C, 1, 1): not a simple_pose model's parameters")
    return int(final.shape[0])


def check_num_joints(given: int | None, found: int, source: str | os.PathLike) -> None:
    """--num-joints (GluonCV's flag), when given, against the keypoint count ``found`` in ``source``."""
    if given is not None and given != found:
        raise SimplePoseError(f"--num-joints {given}: {source} has {found} keypoints")


def load_described_net(desc: dict[str, Any], ctx: list[mx.Context]) -> SimplePoseResNet:
    """The model a description names (``model``, ``meta``, the ``checkpoint`` .params file) in float32 on
    ``ctx`` (float16 files are cast on load); a file of another K or model raises one line naming it."""
    net = get_pose_model(desc["model"], len(desc["meta"]["names"]))
    load_checkpoint_params(net, desc["checkpoint"], ctx)
    return net


def load_checkpoint_net(ckpt: dict[str, Any], ctx: list[mx.Context]) -> SimplePoseResNet:
    """The checkpoint's model in float32 on ``ctx`` (a float16 checkpoint is cast on load)."""
    return load_described_net(checkpoint_description(ckpt), ctx)


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


def load_for_inference(path: str | os.PathLike, ctx: list[mx.Context], backend: str = "auto",
                       plain: dict[str, Any] | None = None
                       ) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any], str]:
    """(forward, description, what) for a checkpoint (.json/.params/prefix), an export directory, or
    the plain ``.params`` file that ``plain`` (:func:`plain_description`) describes.

    ``backend`` applies to exports (auto/onnx/mxnet); checkpoints and plain files run the live MXNet model.
    """
    if is_export(path):
        doc = load_deploy(path)
        forward, used = deploy_forward(doc, backend)
        return forward, doc, f"export {path} ({used})"
    if plain is None:
        ckpt = load_manifest(path)
        desc, what = checkpoint_description(ckpt), f"checkpoint {ckpt['params']} (epoch {ckpt['epoch']})"
    else:
        desc, what = plain, f"plain parameter file {path} ({plain['model']})"
    net = load_described_net(desc, ctx)
    net.hybridize(static_alloc=True)
    return mxnet_forward(net, ctx, desc["mean"], desc["std"]), desc, what
