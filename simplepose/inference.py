"""A trained model ready for inference, from a checkpoint or an export, as a forward function.

A forward function takes (B, h, w, 3) uint8 BGR crops (``pose_inference.BoxCrops``) and returns
(B, K, h/4, w/4) float32 heatmaps, as NumPy arrays; the crops are normalised on the model's device
(``device_input.InputNormalizer``), as in training. Both sources are described by the same dict as
an export's ``deploy.json`` (model, input size, mean/std, stride, sigma, codec, keypoint metadata),
so evaluation and prediction do not care which one they were given.
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
from .model import SimplePoseResNet, get_pose_model, load_checkpoint_params


def checkpoint_description(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The deploy.json-style description of a checkpoint manifest."""
    cfg = ckpt["config"]
    return {"model": cfg["model"], "input_size": list(cfg["input_size"]), "mean": list(cfg["mean"]),
            "std": list(cfg["std"]), "stride": STRIDE, "sigma": cfg["sigma"], "codec": cfg["codec"],
            "meta": ckpt["meta"], "epoch": ckpt["epoch"], "checkpoint": ckpt["params"],
            # With the synthetic set's size, so evaluating never regenerates the data at other sizes.
            "data": {k: cfg[k] for k in DATA_FLAGS + ("category_id", "synthetic_train_images",
                                                          "synthetic_val_images")}}


def load_checkpoint_net(ckpt: dict[str, Any], ctx: list[mx.Context]) -> SimplePoseResNet:
    """The checkpoint's model in float32 on ``ctx`` (a float16 checkpoint is cast on load)."""
    meta = KeypointMeta.from_dict(ckpt["meta"])
    net = get_pose_model(ckpt["config"]["model"], meta.num_joints)
    load_checkpoint_params(net, ckpt["params"], ctx)   # names the file when its K or model differ
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


def load_for_inference(path: str | os.PathLike, ctx: list[mx.Context], backend: str = "auto"
                       ) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any], str]:
    """(forward, description, what) for a checkpoint (.json/.params/prefix) or an export directory.

    ``backend`` applies to exports (auto/onnx/mxnet); a checkpoint always runs the live MXNet model.
    """
    if is_export(path):
        doc = load_deploy(path)
        forward, used = deploy_forward(doc, backend)
        return forward, doc, f"export {path} ({used})"
    ckpt = load_manifest(path)
    net = load_checkpoint_net(ckpt, ctx)
    net.hybridize(static_alloc=True)
    desc = checkpoint_description(ckpt)
    return (mxnet_forward(net, ctx, desc["mean"], desc["std"]), desc,
            f"checkpoint {ckpt['params']} (epoch {ckpt['epoch']})")
