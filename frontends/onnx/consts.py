"""Constants of an ONNX graph: initializers, Constant nodes, and everything computed only
from them (folded with onnx's reference evaluator, so with ONNX's own semantics)."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

# ops whose result depends on their input's shape only, never on its values
SHAPE_OPS = ("Shape", "Size")


class Constants:
    """name -> array for every constant value of a graph (and of the graphs around it)."""

    def __init__(self, graph: onnx.GraphProto, shapes: Mapping[str, tuple], outer: Constants | None = None):
        self.outer = outer
        self.shapes = dict(shapes)
        self.values: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def __contains__(self, name: str) -> bool:
        return name in self.values or (self.outer is not None and name in self.outer)

    def get(self, name: str) -> np.ndarray | None:
        if name in self.values:
            return self.values[name]
        return self.outer.get(name) if self.outer is not None else None

    def fold(self, node: onnx.NodeProto) -> bool:
        """Evaluate `node` if all its inputs are constant (or only their shape matters)."""
        if node.op_type in ("Loop", "Scan", "If", "SequenceEmpty") or any(
                a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            return False
        if node.op_type == "Constant":
            self.values[node.output[0]] = _constant(node)
            return True
        if node.op_type in SHAPE_OPS and node.input[0] not in self:
            shape = self.shapes.get(node.input[0])
            if shape is None:
                return False
            # symbolic sizes (batch, time) fold as 1: shape arithmetic in exported SNNs only sizes
            # zero initial states (which broadcast), trip counts and flattening, where 1 is exact
            feeds = {node.input[0]: np.zeros([1 if d is None else d for d in shape], np.float32)}
        else:
            names = [n for n in node.input if n]
            if not all(n in self for n in names):
                return False
            feeds = {n: self.get(n) for n in names}
        try:
            outs = ReferenceEvaluator(node).run(None, feeds)
        except Exception:
            return False
        for name, value in zip(node.output, outs):
            if name:
                self.values[name] = np.asarray(value)
        return True


def _constant(node: onnx.NodeProto) -> np.ndarray:
    attr = node.attribute[0]
    if attr.name == "value":
        return numpy_helper.to_array(attr.t)
    value = onnx.helper.get_attribute_value(attr)
    return np.asarray(value, dtype=np.float32 if attr.name.startswith("value_float") else np.int64)
