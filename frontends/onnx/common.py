"""What every form reader needs: the graph's constants, consumers, shapes and node names."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import onnx

from snnc.errors import MalformedInputError, UnsupportedOpError
from snnc.frontends.onnx.consts import Constants
from snnc.frontends.onnx.reader import graph_inputs, value_shapes
from snnc.frontends.onnx.translate import HANDLERS, STRUCTURAL, origin, unsupported


@dataclass
class GraphInfo:
    """One ONNX graph (the model's, or a loop body) with its constants folded."""

    graph: onnx.GraphProto
    source: str
    consts: Constants
    live: list[onnx.NodeProto] = field(default_factory=list)     # nodes that are not constant
    producer: dict[str, onnx.NodeProto] = field(default_factory=dict)
    uses: dict[str, int] = field(default_factory=dict)
    by_origin: dict[str, onnx.NodeProto] = field(default_factory=dict)

    @classmethod
    def read(cls, graph: onnx.GraphProto, source: str, outer: Constants | None = None,
             max_elements: int | None = None) -> GraphInfo:
        shapes = value_shapes(graph)
        if outer is not None:
            shapes = {**outer.shapes, **shapes}
        info = cls(graph, source, Constants(graph, shapes, outer, source=source, max_elements=max_elements))
        for node in graph.node:
            for name in node.input:
                info.uses[name] = info.uses.get(name, 0) + 1
            for name in node.output:
                info.producer[name] = node
            info.by_origin[origin(node)] = node
            if not info.consts.fold(node):
                info.live.append(node)
        for out in graph.output:
            info.uses[out.name] = info.uses.get(out.name, 0) + 1
        return info

    def check_ops(self) -> None:
        """Refuse the first live node whose op snnc cannot map, before any form is guessed."""
        for node in self.live:
            if node.op_type not in HANDLERS and node.op_type not in STRUCTURAL:
                raise unsupported(node, self.source)

    def inputs(self) -> list[onnx.ValueInfoProto]:
        return graph_inputs(self.graph)

    def shape(self, name: str) -> tuple | None:
        return self.consts.shapes.get(name)

    def per_sample(self, name: str, leading: int) -> tuple[int, ...]:
        """Shape of `name` without its `leading` axes (time and/or batch), which must be static."""
        shape = self.shape(name)
        if shape is None or len(shape) < leading or None in shape[leading:]:
            what = "time, batch" if leading == 2 else "batch"
            raise MalformedInputError(f"'{name}' has shape {_dims(shape)}; snnc needs [{what}, ...] with "
                                      f"static sizes after the {what} axes", file=self.source)
        return tuple(int(d) for d in shape[leading:])

    def refuse(self, node: onnx.NodeProto | str | None, message: str) -> UnsupportedOpError:
        """An error naming `node` (a NodeProto, or a node's origin string) in the model."""
        if isinstance(node, str):
            node = self.by_origin.get(node)
        if node is None:
            return UnsupportedOpError(message, source=self.source)
        return UnsupportedOpError(message, node=origin(node), op=node.op_type, source=self.source)


def _dims(shape) -> str:
    if shape is None:
        return "unknown"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def make_namer(strip_suffix: str = ""):
    """Node names from ONNX scopes ("/fc/Gemm" -> "fc", "/net/lif1/Sub" -> "net_lif1"); names
    without a scope (the dynamo exporter's "node_linear_3") give the op kind instead.
    `strip_suffix` drops a per-call suffix from scope parts (an unrolled tick's "_1")."""
    def namer(origin: str, kind: str) -> str:
        parts = [p for p in origin.split("/") if p]
        if len(parts) < 2:
            return kind
        if strip_suffix:
            parts = [p[: -len(strip_suffix)] if p.endswith(strip_suffix) else p for p in parts]
        name = re.sub(r"[^A-Za-z0-9_.\-]", "_", "_".join(parts[:-1])).lstrip("_.-")
        return name or kind
    return namer
