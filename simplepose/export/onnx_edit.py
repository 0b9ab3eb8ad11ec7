"""Small helpers the ONNX graph passes (``export.graph``, ``export.subpixel``) share: copying a model, reading a
node's attributes and the graph's constants, replacing the node list, inferring tensor shapes.

ONNX and NumPy only.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

__all__ = ["copy_model", "attributes", "constants", "readers", "set_nodes", "static_shapes"]


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A deep copy: passes never change the model they are given."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def attributes(node: onnx.NodeProto) -> dict:
    """A node's attributes as Python values (ints, lists, bytes...)."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Initializer name -> its value."""
    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def readers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name -> the nodes that read it, in graph order."""
    out: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def set_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> None:
    """Replace the graph's nodes by ``nodes`` and drop the initializers no node reads any more."""
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def static_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Tensor name -> its inferred dims (None where unknown, e.g. the batch)."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return shapes
