"""Rewrites of an exported ONNX graph (``export.command``'s, MXNet's ONNX export) that INT8 quantization needs.

Each pass takes a ``ModelProto`` and returns a new one computing the same function (tests/export/test_int8.py runs both
with ONNX Runtime on the same crops):

- :func:`name_nodes`: every node gets a name, its first output's. MXNet's export leaves Conv/ConvTranspose nodes
  unnamed, so a quantizer's exclusion list by name would otherwise exclude every convolution silently.
- :func:`fold_batchnorm`: BatchNormalization folded into the Conv/ConvTranspose before it (MXNet's export keeps
  them apart: 23 of them in ResNet-18), so each convolution is quantized with its BatchNorm's scale.
- :func:`deconv_to_conv`: each ConvTranspose of SimplePoseResNet's head (kernel 4, stride 2, pad 1) as a 3x3
  Conv with 4x the output channels followed by a pixel rearrangement (Reshape, Transpose, Reshape): ONNX Runtime
  1.16 quantizes convolutions but not deconvolutions, which are 38% of ResNet-18's multiply-adds.
- :func:`last_layer`: the name of the final 1x1 Conv (K heatmaps), which quantization keeps in FP32.

:func:`int8_ready` runs the three rewrites in order. ONNX and NumPy only: no MXNet, no ONNX Runtime.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from simplepose.errors import SimplePoseError

__all__ = ["name_nodes", "fold_batchnorm", "deconv_to_conv", "last_layer", "int8_ready"]

# The ConvTranspose that deconv_to_conv rewrites: SimplePoseResNet's (kernel 4, stride 2, pad 1, one group).
DECONV_KERNEL, DECONV_STRIDE, DECONV_PAD = 4, 2, 1


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _set_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> None:
    """Replace the graph's nodes by ``nodes`` and drop the initializers no node reads any more."""
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def name_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every unnamed node named after its first output (unique in a valid graph; a clash with a name already
    taken gets ``_2``, ``_3``...): deterministic, and the last layer is ``conv7_fwd``-like, as MXNet names it."""
    model = _copy(model)
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
    model = _copy(model)
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
        scale = gamma / np.sqrt(var + _attrs(bn).get("epsilon", 1e-5))
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
    _set_nodes(model, [node for node in model.graph.node if id(node) not in folded])
    return model


def _foldable(bn: onnx.NodeProto, conv: onnx.NodeProto, weights: dict[str, np.ndarray]) -> bool:
    """Whether BatchNormalization ``bn`` folds into ``conv``: a Conv, or a one-group ConvTranspose, whose weights
    and the BatchNorm's statistics are all constants."""
    constants = [n for n in list(bn.input[1:]) + list(conv.input[1:]) if n]
    return (conv.op_type == "Conv" or (conv.op_type == "ConvTranspose" and _attrs(conv).get("group", 1) == 1)) \
        and all(n in weights for n in constants)


def _static_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Tensor name -> its inferred dims (None where unknown, e.g. the batch)."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return shapes


def _is_head_deconv(node: onnx.NodeProto) -> bool:
    a = _attrs(node)
    return (node.op_type == "ConvTranspose" and list(a.get("kernel_shape", [])) == [DECONV_KERNEL] * 2
            and list(a.get("strides", [1, 1])) == [DECONV_STRIDE] * 2
            and list(a.get("pads", [0] * 4)) == [DECONV_PAD] * 4
            and list(a.get("dilations", [1, 1])) == [1, 1] and a.get("group", 1) == 1
            and not any(a.get("output_padding", [0, 0])) and "output_shape" not in a
            and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"))


def subpixel_kernel(weight: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The 3x3 Conv (pad 1) equal to a ConvTranspose (kernel 4, stride 2, pad 1) once its output channels are
    rearranged into pixels: ``(C_in, C, 4, 4)`` deconvolution weight (and ``(C,)`` bias) ->
    ``(4C, C_in, 3, 3)`` weight and ``(4C,)`` bias, output channel ``o * 4 + r * 2 + s`` holding the
    deconvolution's output ``o`` at pixel ``(2m + r, 2n + s)`` when the Conv's output pixel is ``(m, n)``.

    Why: the deconvolution's output ``Y = 2m + r`` (input rows ``X``) takes kernel row ``k = Y + 1 - 2X``; with
    ``X = m + a - 1`` (``a`` in 0..2, the 3x3 window's row) that is ``k = r + 3 - 2a``, used when 0 <= k < 4:
    even rows (r 0) read rows m-1, m with kernel rows 3, 1; odd rows (r 1) read m, m+1 with rows 2, 0.
    """
    c_in, c = weight.shape[:2]
    out = np.zeros((c, 2, 2, c_in, 3, 3), weight.dtype)
    for r in range(2):
        for a in range(3):
            ky = r + 3 - 2 * a
            if not 0 <= ky < DECONV_KERNEL:
                continue
            for s in range(2):
                for b in range(3):
                    kx = s + 3 - 2 * b
                    if 0 <= kx < DECONV_KERNEL:
                        out[:, r, s, :, a, b] = weight[:, :, ky, kx].T
    bias = np.zeros(c, weight.dtype) if bias is None else bias
    return out.reshape(4 * c, c_in, 3, 3), np.repeat(bias, 4).astype(weight.dtype)


def deconv_to_conv(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each ConvTranspose of kernel 4, stride 2, pad 1 (one group, no output padding) with constant weights
    rewritten as Conv 3x3 pad 1 -> (B, C, 2, 2, H, W) -> (B, C, H, 2, W, 2) -> (B, C, 2H, 2W): the same
    numbers (about 1e-7 apart in float32), in operators ONNX Runtime quantizes (QLinearConv; Reshape and
    Transpose stay in 8 bits). The input's height and width must be known (the export fixes them).

    A Relu that alone reads the ConvTranspose (after :func:`fold_batchnorm`) moves between the Conv and the
    rearrangement (an elementwise op commutes with moving pixels): ONNX Runtime 1.16's QOperator quantizer
    drops a Relu by giving its input the Relu's range, which after a Reshape no longer clips the Conv's
    negative outputs (heatmaps 1.8 off instead of 0.008 on the tests' model); after the Conv it is fused.
    """
    model = _copy(model)
    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in model.graph.output}
    shapes = None
    nodes = []
    moved_relus: set[int] = set()
    for node in model.graph.node:
        if id(node) in moved_relus:
            continue
        if not (_is_head_deconv(node) and all(n in weights for n in node.input[1:] if n)):
            nodes.append(node)
            continue
        shapes = shapes or _static_shapes(model)
        dims = shapes.get(node.input[0], [])
        if len(dims) != 4 or dims[2] is None or dims[3] is None:
            raise SimplePoseError(f"ConvTranspose {node.name or node.output[0]}: the height and width of its input "
                                  f"{node.input[0]} are not fixed in the ONNX graph; export with a fixed input size")
        h, w = dims[2], dims[3]
        bias = weights[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        kernel, kernel_bias = subpixel_kernel(weights[node.input[1]], bias)
        c = kernel.shape[0] // 4
        stem = node.name or node.output[0]
        t = {k: f"{stem}_subpixel_{k}" for k in ("weight", "bias", "conv", "split", "split_shape", "moved",
                                                  "shape")}
        model.graph.initializer.extend([
            numpy_helper.from_array(kernel, t["weight"]), numpy_helper.from_array(kernel_bias, t["bias"]),
            numpy_helper.from_array(np.array([0, c, 2, 2, h, w], np.int64), t["split_shape"]),
            numpy_helper.from_array(np.array([0, c, 2 * h, 2 * w], np.int64), t["shape"])])
        nodes.append(helper.make_node("Conv", [node.input[0], t["weight"], t["bias"]], [t["conv"]], name=t["conv"],
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1],
                                      group=1))
        after, output = readers.get(node.output[0], []), node.output[0]
        if len(after) == 1 and after[0].op_type == "Relu" and output not in graph_outputs:
            relu = after[0]
            moved_relus.add(id(relu))
            nodes.append(helper.make_node("Relu", [t["conv"]], [t["conv"] + "_relu"], name=relu.name or None))
            t["conv"], output = t["conv"] + "_relu", relu.output[0]
        nodes += [
            helper.make_node("Reshape", [t["conv"], t["split_shape"]], [t["split"]], name=t["split"]),
            helper.make_node("Transpose", [t["split"]], [t["moved"]], name=t["moved"], perm=[0, 1, 4, 2, 5, 3]),
            helper.make_node("Reshape", [t["moved"], t["shape"]], [output], name=stem)]
    _set_nodes(model, nodes)
    return model


def last_layer(model: onnx.ModelProto) -> str:
    """The name of the node making the graph's (first) output: SimplePoseResNet's final 1x1 Conv (K heatmaps).
    Refused in one line when it is not a 1x1 Conv or has no name (run :func:`name_nodes` first)."""
    output = model.graph.output[0].name
    node = next((n for n in model.graph.node if output in n.output), None)
    if node is None or node.op_type != "Conv" or list(_attrs(node).get("kernel_shape", [])) != [1, 1]:
        found = "no node" if node is None else f"a {node.op_type} node"
        raise SimplePoseError(f"the ONNX graph's output {output} is made by {found}, not the 1x1 Conv of "
                              "SimplePoseResNet's heatmaps; is this a simplepose export?")
    if not node.name:
        raise SimplePoseError(f"the node making {output} has no name; name the nodes first (name_nodes)")
    return node.name


def int8_ready(model: onnx.ModelProto) -> onnx.ModelProto:
    """The passes INT8 quantization needs, in order: names, BatchNorm folded, deconvolutions as convolutions."""
    return name_nodes(deconv_to_conv(fold_batchnorm(name_nodes(model))))
