"""SimplePoseResNet's head deconvolutions as convolutions followed by a pixel rearrangement, for INT8 (ONNX
Runtime 1.16 quantizes convolutions, not deconvolutions, which are 38% of ResNet-18's multiply-adds).

- :func:`deconv_to_conv`: each ConvTranspose (kernel 4, stride 2, pad 1) as one 2x2 Conv (pad 1) giving the four
  output phases as 4x the channels, then :func:`depth_to_space`. The 2x2 Conv does exactly the deconvolution's
  multiply-adds (a 3x3 one would do 2.25x as many).
- :func:`pointwise_conv_first`: the final 1x1 Conv (K heatmaps) moved before the last rearrangement, as a Conv of
  4 groups on the phases: it acts on each pixel alone, so it commutes with moving pixels, and then only K channels
  are rearranged instead of 256 (that rearrangement and the dequantization of its 256-channel input were 20% of
  the INT8 model's time at batch 8).

Each pass takes a ``ModelProto`` and returns a new one computing the same function (tests/export/test_int8.py
runs both with ONNX Runtime). ONNX and NumPy only.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from simplepose.errors import SimplePoseError
from simplepose.export.onnx_edit import attributes, constants, copy_model, readers, set_nodes, static_shapes

__all__ = ["phase_kernel", "depth_to_space", "deconv_to_conv", "pointwise_conv_first"]

# The ConvTranspose that deconv_to_conv rewrites: SimplePoseResNet's (kernel 4, stride 2, pad 1, one group).
DECONV_KERNEL, DECONV_STRIDE, DECONV_PAD = 4, 2, 1


def phase_kernel(weight: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The 2x2 Conv (pad 1) holding every output phase of a ConvTranspose (kernel 4, stride 2, pad 1):
    ``(C_in, C, 4, 4)`` deconvolution weight (and ``(C,)`` bias) -> ``(4C, C_in, 2, 2)`` weight and ``(4C,)`` bias.
    On an (h, w) input the Conv's output is (h + 1, w + 1); its channel ``(2a + b) * C + o`` at pixel ``(p, q)`` is
    the deconvolution's output ``o`` at pixel ``(2p + a - 1, 2q + b - 1)``.

    Why: the deconvolution's output row ``Y`` takes input row ``X`` with kernel row ``k = Y + 1 - 2X``. With
    ``Y = 2p + a - 1`` and the 2x2 window's row ``u`` reading input row ``X = p - 1 + u`` (after the pad), that is
    ``k = a + 2 - 2u``: rows 2, 0 for ``a`` 0 and 3, 1 for ``a`` 1, each kernel row once.
    """
    c_in, c = weight.shape[:2]
    out = np.empty((2, 2, c, c_in, 2, 2), weight.dtype)
    for a in range(2):
        for b in range(2):
            for u in range(2):
                for v in range(2):
                    out[a, b, :, :, u, v] = weight[:, :, a + 2 - 2 * u, b + 2 - 2 * v].T
    bias = np.zeros(c, weight.dtype) if bias is None else bias
    return out.reshape(4 * c, c_in, 2, 2), np.tile(bias, 4).astype(weight.dtype)


def depth_to_space(src: str, dst: str, channels: int, height: int, width: int, stem: str
                   ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The nodes (and their constants) making ``dst`` (B, C, 2h - 2, 2w - 2) from ``src`` (B, 4C, h, w) laid out
    as :func:`phase_kernel`'s output: channel ``(2a + b) * C + o`` at ``(p, q)`` goes to ``(2p + a - 1, 2q + b - 1)``,
    i.e. ONNX's DepthToSpace (DCR) less one pixel on each side.

    Channels last: Transpose to (B, h, w, 4C), Reshape (B, h, w, 2, 2C), Transpose to (B, h, 2, w, 2C) (blocks of
    2C values move whole), Reshape (B, 2h, 2w, C), Split of rows and of columns keeping the middle, Transpose back
    to (B, C, 2h - 2, 2w - 2). Why: ONNX Runtime 1.16 runs quantized convolutions channels last and cancels the
    first and last Transpose against its own, so one Transpose of whole blocks is left (the 6-D Transpose of
    DepthToSpace's definition took 13% of the INT8 model's time: on uint8 ONNX Runtime does it 7x slower than
    Transposes that each move one axis; it has no uint8 DepthToSpace); its quantizer keeps Reshape, Transpose and Split in 8 bits (a Slice it would
    dequantize and quantize again).
    """
    c, h, w = int(channels), int(height), int(width)
    t = [f"{stem}_d2s_{i}" for i in range(6)]
    shapes = {"split": [0, h, w, 2, 2 * c], "merged": [0, 2 * h, 2 * w, c]}
    inits = [numpy_helper.from_array(np.array(v, np.int64), f"{stem}_d2s_{k}") for k, v in shapes.items()]
    inits += [numpy_helper.from_array(np.array([1, 2 * n - 2, 1], np.int64), f"{stem}_d2s_crop{axis}")
              for axis, n in ((1, h), (2, w))]
    nodes = [
        helper.make_node("Transpose", [src], [t[0]], name=t[0], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", [t[0], f"{stem}_d2s_split"], [t[1]], name=t[1]),
        helper.make_node("Transpose", [t[1]], [t[2]], name=t[2], perm=[0, 1, 3, 2, 4]),
        helper.make_node("Reshape", [t[2], f"{stem}_d2s_merged"], [t[3]], name=t[3]),
        helper.make_node("Split", [t[3], f"{stem}_d2s_crop1"], [t[4] + "_top", t[4], t[4] + "_bottom"], name=t[4],
                         axis=1),
        helper.make_node("Split", [t[4], f"{stem}_d2s_crop2"], [t[5] + "_left", t[5], t[5] + "_right"], name=t[5],
                         axis=2),
        helper.make_node("Transpose", [t[5]], [dst], name=f"{stem}_d2s", perm=[0, 3, 1, 2])]
    return nodes, inits


def _is_head_deconv(node: onnx.NodeProto, weights: dict[str, np.ndarray]) -> bool:
    a = attributes(node)
    return (node.op_type == "ConvTranspose" and list(a.get("kernel_shape", [])) == [DECONV_KERNEL] * 2
            and list(a.get("strides", [1, 1])) == [DECONV_STRIDE] * 2
            and list(a.get("pads", [0] * 4)) == [DECONV_PAD] * 4
            and list(a.get("dilations", [1, 1])) == [1, 1] and a.get("group", 1) == 1
            and not any(a.get("output_padding", [0, 0])) and "output_shape" not in a
            and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            and all(n in weights for n in node.input[1:] if n))


def deconv_to_conv(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each ConvTranspose of kernel 4, stride 2, pad 1 (one group, no output padding) with constant weights
    rewritten as a 2x2 Conv (pad 1, :func:`phase_kernel`) and :func:`depth_to_space`: the same numbers (about
    1e-7 apart in float32), in operators ONNX Runtime quantizes (QLinearConv; the rearrangement stays in 8 bits).
    The input's height and width must be known (the export fixes them).

    A Relu that alone reads the ConvTranspose (after ``graph.fold_batchnorm``) moves between the Conv and the
    rearrangement (an elementwise op commutes with moving pixels): ONNX Runtime 1.16's QOperator quantizer
    drops a Relu by giving its input the Relu's range, which after a Reshape no longer clips the Conv's
    negative outputs (heatmaps 1.8 off instead of 0.008 on the tests' model); after the Conv it is fused.
    """
    model = copy_model(model)
    weights, read = constants(model), readers(model)
    graph_outputs = {o.name for o in model.graph.output}
    shapes = None
    nodes: list[onnx.NodeProto] = []
    moved_relus: set[int] = set()
    for node in model.graph.node:
        if id(node) in moved_relus:
            continue
        if not _is_head_deconv(node, weights):
            nodes.append(node)
            continue
        shapes = shapes or static_shapes(model)
        dims = shapes.get(node.input[0], [])
        if len(dims) != 4 or dims[2] is None or dims[3] is None:
            raise SimplePoseError(f"ConvTranspose {node.name or node.output[0]}: the height and width of its input "
                                  f"{node.input[0]} are not fixed in the ONNX graph; export with a fixed input size")
        bias = weights[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        kernel, kernel_bias = phase_kernel(weights[node.input[1]], bias)
        stem = node.name or node.output[0]
        phases = f"{stem}_phases"
        model.graph.initializer.extend([numpy_helper.from_array(kernel, f"{phases}_weight"),
                                        numpy_helper.from_array(kernel_bias, f"{phases}_bias")])
        nodes.append(helper.make_node("Conv", [node.input[0], f"{phases}_weight", f"{phases}_bias"], [phases],
                                      name=stem, kernel_shape=[2, 2], pads=[1, 1, 1, 1], strides=[1, 1],
                                      dilations=[1, 1], group=1))
        after, output = read.get(node.output[0], []), node.output[0]
        if len(after) == 1 and after[0].op_type == "Relu" and output not in graph_outputs:
            moved_relus.add(id(after[0]))
            nodes.append(helper.make_node("Relu", [phases], [phases + "_relu"], name=after[0].name or None))
            phases, output = phases + "_relu", after[0].output[0]
        rearrange, inits = depth_to_space(phases, output, kernel.shape[0] // 4, dims[2] + 1, dims[3] + 1, stem)
        nodes += rearrange
        model.graph.initializer.extend(inits)
    set_nodes(model, nodes)
    return model


def _is_pointwise(node: onnx.NodeProto, weights: dict[str, np.ndarray]) -> bool:
    """A 1x1 Conv of one group, stride 1, no padding, constant weights: it acts on each pixel alone."""
    a = attributes(node)
    return (node.op_type == "Conv" and list(a.get("kernel_shape", [])) == [1, 1] and a.get("group", 1) == 1
            and list(a.get("strides", [1, 1])) == [1, 1] and not any(a.get("pads", [0] * 4))
            and list(a.get("dilations", [1, 1])) == [1, 1] and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            and all(n in weights for n in node.input[1:] if n))


def _rearrangement_before(tensor: str, producer: dict[str, onnx.NodeProto],
                          read: dict[str, list[onnx.NodeProto]], weights: dict[str, np.ndarray],
                          graph_outputs: set[str]) -> tuple[str, int, int, int, list[onnx.NodeProto]] | None:
    """When ``tensor`` is made by a :func:`depth_to_space` chain, read by one node (the 1x1 Conv) and no graph
    output, whose intermediate tensors nothing else reads: (its input, C, h, w, its nodes); else None. The chain
    is recognised by making it again from its first Reshape's shape and comparing every node's type, attributes,
    constants and links."""
    chain: list[onnx.NodeProto] = []
    src = tensor
    for _ in depth_to_space("src", "dst", 1, 2, 2, "probe")[0]:
        if src not in producer:
            return None
        chain.insert(0, producer[src])
        src = chain[0].input[0]
    shape = weights.get(chain[1].input[1]) if chain[1].op_type == "Reshape" and len(chain[1].input) > 1 else None
    if shape is None or shape.shape != (5,) or shape[0] != 0 or shape[4] % 2:
        return None
    c, h, w = int(shape[4]) // 2, int(shape[1]), int(shape[2])
    made, inits = depth_to_space(src, tensor, c, h, w, "probe")
    made_constants = {i.name: numpy_helper.to_array(i) for i in inits}
    found_name = {src: src}                       # a tensor of the made chain -> the found chain's
    for m, f in zip(made, chain):
        if (m.op_type, attributes(m), len(m.input), len(m.output)) != (f.op_type, attributes(f), len(f.input),
                                                                         len(f.output)):
            return None
        for i, fi in zip(m.input, f.input):
            same = (fi in weights and np.array_equal(weights[fi], made_constants[i])) if i in made_constants \
                else found_name.get(i) == fi
            if not same:
                return None
        found_name.update(zip(m.output, f.output))
    inside = {id(n) for n in chain}
    private = all(id(r) in inside for n in chain for out in n.output if out != tensor for r in read.get(out, []))
    exposed = any(out in graph_outputs for n in chain for out in n.output)
    alone = len(read.get(tensor, [])) == 1                  # the 1x1 Conv is its only reader
    return (src, c, h, w, chain) if found_name[tensor] == tensor and private and alone and not exposed else None


def pointwise_conv_first(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each 1x1 Conv (one group, constant weights) reading a :func:`depth_to_space` of (B, 4C, h, w) phases moved
    before it: a 1x1 Conv of 4 groups on the phases (its weights and bias repeated 4 times), then the
    rearrangement of its 4K channels. The same numbers (the same products and sums), with the rearrangement on
    K channels instead of C (17 instead of 256 for SimplePoseResNet's heatmaps)."""
    model = copy_model(model)
    weights, read = constants(model), readers(model)
    producer = {out: node for node in model.graph.node for out in node.output}
    graph_outputs = {o.name for o in model.graph.output}
    nodes: list[onnx.NodeProto] = []
    dropped: set[int] = set()
    for node in model.graph.node:
        found = _rearrangement_before(node.input[0], producer, read, weights, graph_outputs) \
            if _is_pointwise(node, weights) else None
        if found is None:
            nodes.append(node)
            continue
        src, _, h, w, chain = found
        dropped |= {id(n) for n in chain}
        weight = weights[node.input[1]]
        bias = weights[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(len(weight),
                                                                                               weight.dtype)
        stem = node.name or node.output[0]
        phases = f"{stem}_phases"
        model.graph.initializer.extend([numpy_helper.from_array(np.tile(weight, (4, 1, 1, 1)), f"{phases}_weight"),
                                        numpy_helper.from_array(np.tile(bias, 4), f"{phases}_bias")])
        nodes.append(helper.make_node("Conv", [src, f"{phases}_weight", f"{phases}_bias"], [phases], name=stem,
                                      kernel_shape=[1, 1], pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1],
                                      group=4))
        rearrange, inits = depth_to_space(phases, node.output[0], len(weight), h, w, stem)
        nodes += rearrange
        model.graph.initializer.extend(inits)
    set_nodes(model, [n for n in nodes if id(n) not in dropped])
    return model
