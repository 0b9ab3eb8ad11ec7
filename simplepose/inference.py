"""A trained model ready for inference, from a checkpoint or an export, as a NumPy forward function.

Both sources are described by the same dict as an export's ``deploy.json`` (model, input
size, mean/std, stride, sigma, codec, keypoint metadata), so evaluation and prediction
do not care which one they were given.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import mxnet as mx
import numpy as np
from mxnet import gluon

from .checkpoint import load_manifest
from .deploy import DEPLOY_FILE, deploy_forward, load_deploy
from .meta import KeypointMeta
from .options import DATA_FLAGS
from .model import SimplePoseResNet, get_pose_model, load_checkpoint_params

STRIDE = 4   # three stride-2 deconvolutions after a stride-32 backbone


def checkpoint_description(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The deploy.json-style description of a checkpoint manifest."""
    cfg = ckpt["config"]
    return {"model": cfg["model"], "input_size": list(cfg["input_size"]), "mean": list(cfg["mean"]),
            "std": list(cfg["std"]), "stride": STRIDE, "sigma": cfg["sigma"], "codec": cfg.get("codec", "standard"),
            "meta": ckpt["meta"], "epoch": ckpt["epoch"], "checkpoint": ckpt["params"],
            "data": {k: cfg.get(k) for k in DATA_FLAGS + ("category_id",)}}


def load_checkpoint_net(ckpt: dict[str, Any], ctx: list[mx.Context]) -> SimplePoseResNet:
    """The checkpoint's model in float32 on ``ctx`` (a float16 checkpoint is cast on load)."""
    meta = KeypointMeta.from_dict(ckpt["meta"])
    net = get_pose_model(ckpt["config"]["model"], meta.num_joints)
    load_checkpoint_params(net, ckpt["params"], ctx)   # names the file when its K or model differ
    return net


def mxnet_forward(net: gluon.HybridBlock, ctx: list[mx.Context]) -> Callable[[np.ndarray], np.ndarray]:
    """(B, 3, h, w) float32 NumPy -> (B, K, h/4, w/4) float32 NumPy, the batch split over ``ctx``."""
    def forward(x: np.ndarray) -> np.ndarray:
        # A batch smaller than the device count goes to fewer devices (no empty slices).
        devices = ctx[:min(len(ctx), len(x))]
        parts = gluon.utils.split_and_load(mx.nd.array(x), devices, even_split=False)
        return np.concatenate([net(p).asnumpy() for p in parts])
    return forward


def load_for_inference(path: str | os.PathLike, ctx: list[mx.Context], backend: str = "auto"
                       ) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any], str]:
    """(forward, description, what) for a checkpoint (.json/.params/prefix) or an export directory.

    ``backend`` applies to exports (auto/onnx/mxnet); a checkpoint always runs the live MXNet model.
    """
    if Path(path).is_dir() and (Path(path) / DEPLOY_FILE).is_file():
        doc = load_deploy(path)
        forward, used = deploy_forward(doc, backend)
        return forward, doc, f"export {path} ({used})"
    ckpt = load_manifest(path)
    net = load_checkpoint_net(ckpt, ctx)
    net.hybridize(static_alloc=True)
    return mxnet_forward(net, ctx), checkpoint_description(ckpt), f"checkpoint {ckpt['params']} (epoch {ckpt['epoch']})"
