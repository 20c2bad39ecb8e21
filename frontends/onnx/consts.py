"""Constants of an ONNX graph: initializers, Constant nodes, and everything computed only
from them (folded with onnx's reference evaluator, so with ONNX's own semantics)."""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from snnc.errors import MalformedInputError
from snnc.safeio import MAX_ELEMENTS

# ops whose result depends on their input's shape only, never on its values
SHAPE_OPS = ("Shape", "Size")


class Constants:
    """name -> array for every constant value of a graph (and of the graphs around it).

    A folded value may hold at most `max_elements` elements (the load option of that name):
    ops that size their output from a constant (ConstantOfShape, Expand, Tile, Range) are
    checked before they run, every other op's outputs after."""

    def __init__(self, graph: onnx.GraphProto, shapes: Mapping[str, tuple], outer: Constants | None = None,
                 *, source: str = "", max_elements: int | None = None):
        self.outer = outer
        self.shapes = dict(shapes)
        self.source = source or (outer.source if outer is not None else "")
        self.max_elements = max_elements or (outer.max_elements if outer is not None else MAX_ELEMENTS)
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
        self._check_size(node, _declared_size(node, feeds))
        try:
            outs = ReferenceEvaluator(node).run(None, feeds)
        except Exception:
            return False
        for value in outs:
            self._check_size(node, np.size(value))
        for name, value in zip(node.output, outs):
            if name:
                self.values[name] = np.asarray(value)
        return True

    def _check_size(self, node: onnx.NodeProto, size: int | None) -> None:
        if size is not None and size > self.max_elements:
            raise MalformedInputError(
                f"node '{node.name or node.output[0]}' ({node.op_type}) would compute a constant of {size} "
                f"elements, over the limit of {self.max_elements} (raise it with the load option max_elements=N)",
                file=self.source)


def _declared_size(node: onnx.NodeProto, feeds: dict) -> int | None:
    """The element count an op that sizes its output from a constant input would produce."""
    try:
        args = [np.asarray(feeds[n]) if n in feeds else None for n in node.input]
        if node.op_type == "ConstantOfShape" and args:
            return math.prod(int(d) for d in args[0].ravel())
        if node.op_type == "Expand" and len(args) == 2:
            return math.prod(np.broadcast_shapes(args[0].shape, tuple(int(d) for d in args[1].ravel())))
        if node.op_type == "Tile" and len(args) == 2:
            return args[0].size * math.prod(int(r) for r in args[1].ravel())
        if node.op_type == "Range" and len(args) == 3:
            start, limit, delta = (float(a.ravel()[0]) for a in args)
            return max(int(math.ceil((limit - start) / delta)), 0) if delta else None
    except (ValueError, TypeError, OverflowError, IndexError):
        return None         # malformed: the evaluator refuses it
    return None


def _constant(node: onnx.NodeProto) -> np.ndarray:
    attr = node.attribute[0]
    if attr.name == "value":
        return numpy_helper.to_array(attr.t)
    value = onnx.helper.get_attribute_value(attr)
    return np.asarray(value, dtype=np.float32 if attr.name.startswith("value_float") else np.int64)
