"""Rewrites of an exported ONNX graph (``export.command``'s, MXNet's ONNX export) that INT8 quantization needs.

Each pass takes a ``ModelProto`` and returns a new one computing the same function (tests/export/test_int8.py runs both
with ONNX Runtime on the same crops):

- :func:`name_nodes`: every node gets a name, its first output's. MXNet's export leaves Conv/ConvTranspose nodes
  unnamed, so a quantizer's exclusion list by name would otherwise exclude every convolution silently.
- :func:`fold_batchnorm`: BatchNormalization folded into the Conv/ConvTranspose before it (MXNet's export keeps
  them apart: 23 of them in ResNet-18), so each convolution is quantized with its BatchNorm's scale.
- ``export.subpixel``'s ``deconv_to_conv`` (the head's deconvolutions as 2x2 convolutions and a pixel
  rearrangement) and ``pointwise_conv_first`` (the heatmaps' 1x1 Conv before the last rearrangement).

:func:`int8_ready` runs them in order; :func:`float_tail` names the nodes quantization keeps in FP32 (the heatmaps'
Conv and what follows it). ONNX and NumPy only: no MXNet, no ONNX Runtime.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from simplepose.errors import SimplePoseError
from simplepose.export.onnx_edit import attributes, copy_model, set_nodes
from simplepose.export.subpixel import deconv_to_conv, pointwise_conv_first

__all__ = ["name_nodes", "fold_batchnorm", "float_tail", "int8_ready"]

# Nodes that only move, split or reshape values: they may follow the heatmaps' Conv.
DATA_MOVEMENT = ("Reshape", "Transpose", "Split")


def name_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every unnamed node named after its first output (unique in a valid graph; a clash with a name already
    taken gets ``_2``, ``_3``...): deterministic, and the last layer is ``conv7_fwd``-like, as MXNet names it."""
    model = copy_model(model)
    taken = {node.name for node in model.graph.node if node.name}
    for node in model.graph.node:
        if node.name:
            continue
        base = node.output[0] if node.output and node.output[0] else node.op_type
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        node.name = name
        taken.add(name)
    return model


def fold_batchnorm(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each BatchNormalization (inference form, constant statistics) whose input is the output of one
    Conv/ConvTranspose (of one group for ConvTranspose) read by nothing else, folded into it:
    ``w' = w * s`` per output channel and ``b' = (b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``.
    Other BatchNormalization nodes stay as they are."""
    model = copy_model(model)
    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    readers: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    graph_outputs = {o.name for o in model.graph.output}
    folded: dict[int, onnx.NodeProto] = {}   # id(BatchNormalization) -> the convolution that absorbed it
    new_inits = []
    for bn in model.graph.node:
        if bn.op_type != "BatchNormalization" or len(bn.output) != 1:
            continue
        conv = producer.get(bn.input[0])
        alone = readers[bn.input[0]] == 1 and bn.input[0] not in graph_outputs   # nothing else reads the conv
        if conv is None or not alone or not _foldable(bn, conv, weights):
            continue
        gamma, beta, mean, var = (weights[n].astype(np.float64) for n in bn.input[1:5])
        scale = gamma / np.sqrt(var + attributes(bn).get("epsilon", 1e-5))
        w = weights[conv.input[1]].astype(np.float64)
        axis = 0 if conv.op_type == "Conv" else 1          # the output-channel axis of the weight
        shape = [1] * w.ndim
        shape[axis] = -1
        bias = weights[conv.input[2]].astype(np.float64) if len(conv.input) > 2 and conv.input[2] else 0.0
        stem = conv.name or conv.output[0]
        names = (f"{stem}_bnfolded_weight", f"{stem}_bnfolded_bias")
        new_inits += [numpy_helper.from_array((w * scale.reshape(shape)).astype(np.float32), names[0]),
                      numpy_helper.from_array(((bias - mean) * scale + beta).astype(np.float32), names[1])]
        del conv.input[1:]
        conv.input.extend(names)
        conv.output[0] = bn.output[0]
        folded[id(bn)] = conv
    model.graph.initializer.extend(new_inits)
    set_nodes(model, [node for node in model.graph.node if id(node) not in folded])
    return model


def _foldable(bn: onnx.NodeProto, conv: onnx.NodeProto, weights: dict[str, np.ndarray]) -> bool:
    """Whether BatchNormalization ``bn`` folds into ``conv``: a Conv, or a one-group ConvTranspose, whose weights
    and the BatchNorm's statistics are all constants."""
    constants = [n for n in list(bn.input[1:]) + list(conv.input[1:]) if n]
    return (conv.op_type == "Conv" or (conv.op_type == "ConvTranspose" and attributes(conv).get("group", 1) == 1)) \
        and all(n in weights for n in constants)


def float_tail(model: onnx.ModelProto) -> list[str]:
    """The names of the nodes from SimplePoseResNet's final 1x1 Conv (K heatmaps) to the graph's (first) output,
    that Conv first and then the Reshape/Transpose/Split nodes rearranging its output (none before
    ``pointwise_conv_first``). Refused in one line when the output does not come from a 1x1 Conv that way, or a
    node has no name (run :func:`name_nodes` first)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    output = model.graph.output[0].name
    tail: list[onnx.NodeProto] = []
    node = producer.get(output)
    while node is not None and node.op_type in DATA_MOVEMENT:
        tail.insert(0, node)
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Conv" or list(attributes(node).get("kernel_shape", [])) != [1, 1]:
        found = "no node" if node is None else f"a {node.op_type} node"
        raise SimplePoseError(f"the ONNX graph's output {output} is made by {found}, not the 1x1 Conv of "
                              "SimplePoseResNet's heatmaps; is this a simplepose export?")
    tail.insert(0, node)
    if not all(n.name for n in tail):
        raise SimplePoseError(f"a node making {output} has no name; name the nodes first (name_nodes)")
    return [n.name for n in tail]


def int8_ready(model: onnx.ModelProto) -> onnx.ModelProto:
    """The passes INT8 quantization needs, in order: names, BatchNorm folded, deconvolutions as convolutions, the
    heatmaps' Conv before the last rearrangement, names of the new nodes."""
    return name_nodes(pointwise_conv_first(deconv_to_conv(fold_batchnorm(name_nodes(model)))))
