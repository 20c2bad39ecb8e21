"""The Graph: named nodes, port-to-port edges, inputs, outputs and time attributes.

A Graph is immutable. Passes build new graphs with `Graph.replace` or `GraphBuilder`.
Edges from many sources into one port add up. An edge marked `recurrent` delivers the
value its source produced on the previous tick (zeros at tick 0); every other edge
delivers the value of the same tick. An edge into a *delayed* op (`Op.delayed`, e.g. a
Loihi synapse, whose output at tick t depends only on earlier inputs) does not order the
tick either: the op emits from its state before anything else runs and absorbs its input
after everything else. So the graph minus its recurrent edges and its edges into delayed
ops must be acyclic, and fixes the order of work inside a tick (`Graph.schedule`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Container, Iterable, Mapping

import networkx as nx

from snnc.errors import IRVerificationError, UsageError
from snnc.ir.op import Op
from snnc.ir.types import TensorType

FORMAT_VERSION = "1"
METHODS = ("euler", "exact")


@dataclass(frozen=True)
class Node:
    """One op instance. `origin` says where it came from in the user's model (torch module
    path, ONNX node name, NIR key, text file line); it is kept for messages only."""

    name: str
    op: Op
    origin: str = ""

    def __eq__(self, other):
        if not isinstance(other, Node):
            return NotImplemented
        return self.name == other.name and self.origin == other.origin and self.op == other.op

    __hash__ = None


@dataclass(frozen=True, order=True)
class Edge:
    """`src.src_port` feeds `dst.dst_port`; `recurrent` edges deliver the previous tick's value."""

    src: str
    dst: str
    src_port: str = "output"
    dst_port: str = "input"
    recurrent: bool = False

    def __str__(self) -> str:
        arrow = "~>" if self.recurrent else "->"
        return f"{self.src}:{self.src_port} {arrow} {self.dst}:{self.dst_port}"


@dataclass(frozen=True)
class Diagnostic:
    """One broken rule: the node (None for the graph as a whole), its origin in the user's
    model, and what is wrong."""

    node: str | None
    message: str
    origin: str = ""

    def __str__(self) -> str:
        where = f"node '{self.node}'" if self.node is not None else "graph"
        if self.origin:
            where += f" ({self.origin})"
        return f"{where}: {self.message}"


class Graph:
    """An immutable SNN graph. Construct with nodes, edges and attributes; check with `verify()`."""

    def __init__(self, nodes: Iterable[Node], edges: Iterable[Edge] = (), *,
                 inputs: Iterable[str] | None = None, outputs: Iterable[str] | None = None,
                 dt: float = 1e-3, method: str = "euler", version: str = FORMAT_VERSION,
                 metadata: Mapping[str, str] | None = None, mapping=None):
        table: dict[str, Node] = {}
        for n in nodes:
            if n.name in table:
                raise IRVerificationError([Diagnostic(n.name, "node name used twice", n.origin)])
            table[n.name] = n
        self._nodes = MappingProxyType(table)
        self._edges = tuple(edges)
        self._inputs = tuple(inputs) if inputs is not None else tuple(
            n.name for n in table.values() if not n.op.input_ports)
        self._outputs = tuple(outputs) if outputs is not None else tuple(
            n.name for n in table.values() if not n.op.output_ports)
        self._dt = float(dt)
        self._method = str(method)
        self._version = str(version)
        self._metadata = MappingProxyType(dict(metadata or {}))
        self._mapping = mapping

    # -- read access --------------------------------------------------------------------
    nodes = property(lambda self: self._nodes, doc="name -> Node, in insertion order")
    edges = property(lambda self: self._edges)
    inputs = property(lambda self: self._inputs, doc="names of the graph's input nodes, in order")
    outputs = property(lambda self: self._outputs, doc="names of the graph's output nodes, in order")
    dt = property(lambda self: self._dt, doc="seconds per tick")
    method = property(lambda self: self._method, doc="integration method: euler or exact")
    version = property(lambda self: self._version, doc="IR format version")
    metadata = property(lambda self: self._metadata, doc="free-form string annotations")
    mapping = property(lambda self: self._mapping,
                       doc="how a lowered graph sits on a chip (`snnc.ir.mapping.Mapping`), or None")

    def op(self, name: str) -> Op:
        return self._nodes[name].op

    @cached_property
    def _in_edges(self) -> dict[str, tuple[Edge, ...]]:
        table: dict[str, list[Edge]] = {n: [] for n in self._nodes}
        for e in self._edges:
            table.setdefault(e.dst, []).append(e)
        return {k: tuple(v) for k, v in table.items()}

    @cached_property
    def _out_edges(self) -> dict[str, tuple[Edge, ...]]:
        table: dict[str, list[Edge]] = {n: [] for n in self._nodes}
        for e in self._edges:
            table.setdefault(e.src, []).append(e)
        return {k: tuple(v) for k, v in table.items()}

    def in_edges(self, name: str) -> tuple[Edge, ...]:
        return self._in_edges.get(name, ())

    def out_edges(self, name: str) -> tuple[Edge, ...]:
        return self._out_edges.get(name, ())

    @cached_property
    def nx(self) -> nx.MultiDiGraph:
        """The graph as a networkx MultiDiGraph (nodes by name; edge data holds the Edge)."""
        g = nx.MultiDiGraph()
        g.add_nodes_from(self._nodes)
        for e in self._edges:
            g.add_edge(e.src, e.dst, edge=e)
        return g

    def deferred(self, e: Edge) -> bool:
        """True when edge `e` does not order the work of a tick: it is recurrent, or it feeds a
        delayed op (`Op.delayed`), which reads its input only after every other node has run."""
        return e.recurrent or (e.dst in self._nodes and self._nodes[e.dst].op.delayed)

    @cached_property
    def _feedforward(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self._nodes)
        g.add_edges_from((e.src, e.dst) for e in self._edges
                         if not self.deferred(e) and e.src in self._nodes and e.dst in self._nodes)
        return g

    def find_cycle(self) -> list[str] | None:
        """A cycle of same-tick edges (neither recurrent nor into a delayed op), as node names, or None."""
        try:
            return [u for u, _ in nx.find_cycle(self._feedforward)]
        except nx.NetworkXNoCycle:
            return None

    @cached_property
    def _schedule(self) -> tuple[str, ...]:
        order = {name: i for i, name in enumerate(self._nodes)}
        try:
            return tuple(nx.lexicographical_topological_sort(self._feedforward, key=order.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = self.find_cycle() or []
            raise IRVerificationError([Diagnostic(
                cycle[0] if cycle else None,
                f"same-tick cycle {' -> '.join(cycle + cycle[:1])}; mark the feedback edge recurrent")]) from None

    def schedule(self) -> tuple[str, ...]:
        """The order of work inside one tick: a topological order of the same-tick edges (all but
        recurrent edges and edges into delayed ops), ties broken by node order. Raises `IRVerificationError` on a same-tick cycle."""
        return self._schedule

    @cached_property
    def _types(self) -> dict[tuple[str, str], TensorType]:
        from snnc.ir.verify import infer_graph_types
        types, diags = infer_graph_types(self)
        if diags:
            raise IRVerificationError(diags)
        return types

    def types(self) -> Mapping[tuple[str, str], TensorType]:
        """(node, output port) -> TensorType for every output port; raises on a type error."""
        return MappingProxyType(self._types)

    def input_type(self, name: str) -> TensorType:
        return self._types[(name, "output")]

    def output_type(self, name: str) -> TensorType:
        """The type arriving at output node `name`."""
        return TensorType(self.op(name).shape)

    def verify(self, *, pass_name: str | None = None) -> Graph:
        """Check every IR rule; return self, or raise `IRVerificationError` naming each node.
        The graph is immutable, so its diagnostics are computed once."""
        diags = self._diagnostics
        if diags:
            raise IRVerificationError(diags, pass_name=pass_name)
        return self

    @cached_property
    def derived(self) -> dict:
        """Results other stages derive from this graph and keep with it, by a key they choose
        (e.g. the interpreter's analysis of a mapped network): the graph is immutable, so each
        is computed once. Not pickled with the graph."""
        return {}

    @cached_property
    def _diagnostics(self) -> tuple:
        from snnc.ir.verify import verify_graph
        return tuple(verify_graph(self))

    # -- building new graphs ------------------------------------------------------------
    def replace(self, *, nodes: Iterable[Node] | None = None, edges: Iterable[Edge] | None = None,
                **attrs) -> Graph:
        """A new graph with some parts replaced (nodes, edges, inputs, outputs, dt, method, ...)."""
        kw = dict(inputs=self._inputs, outputs=self._outputs, dt=self._dt, method=self._method,
                  version=self._version, metadata=self._metadata, mapping=self._mapping)
        unknown = set(attrs) - set(kw)
        if unknown:
            raise UsageError(f"Graph.replace: unknown attribute(s) {', '.join(sorted(unknown))}")
        kw.update(attrs)
        return Graph(self._nodes.values() if nodes is None else nodes,
                     self._edges if edges is None else edges, **kw)

    def with_op(self, name: str, op: Op) -> Graph:
        """A new graph where node `name` holds `op` (same name, origin and edges)."""
        n = self._nodes[name]
        return self.replace(nodes=[Node(name, op, n.origin) if k == name else v
                                   for k, v in self._nodes.items()])

    # -- equality -----------------------------------------------------------------------
    def __eq__(self, other) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (dict(self._nodes) == dict(other._nodes)
                and sorted(self._edges) == sorted(other._edges)
                and self._inputs == other._inputs and self._outputs == other._outputs
                and self._dt == other._dt and self._method == other._method
                and self._version == other._version and dict(self._metadata) == dict(other._metadata)
                and self._mapping == other._mapping)

    __hash__ = None

    def __repr__(self) -> str:
        return (f"Graph({len(self._nodes)} nodes, {len(self._edges)} edges, inputs={list(self._inputs)}, "
                f"outputs={list(self._outputs)}, dt={self._dt:g}, method={self._method})")

    def __str__(self) -> str:
        from snnc.ir.text import print_graph
        return print_graph(self)


def unique_name(base: str, taken: Container[str]) -> str:
    """`base`, or `base_1`, `base_2`, ... whichever is not in `taken`."""
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


@dataclass
class GraphBuilder:
    """Mutable helper that frontends and tests use to assemble a Graph node by node."""

    dt: float = 1e-3
    method: str = "euler"
    metadata: dict[str, str] = field(default_factory=dict)
    _nodes: list[Node] = field(default_factory=list)
    _edges: list[Edge] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)

    def unique(self, base: str) -> str:
        """`base`, or `base_1`, `base_2`, ... whichever is still free."""
        return unique_name(base, self._names)

    def add(self, name: str, op: Op, *sources: str, origin: str = "") -> str:
        """Add a node fed (same tick) by each of `sources`; returns its (possibly uniquified) name."""
        name = self.unique(name)
        self._names.add(name)
        self._nodes.append(Node(name, op, origin))
        for s in sources:
            self.connect(s, name)
        return name

    def input(self, name: str, shape: tuple[int, ...], origin: str = "") -> str:
        from snnc.ir.snn import Input
        return self.add(name, Input(shape=tuple(shape)), origin=origin)

    def output(self, name: str, source: str, shape: tuple[int, ...], origin: str = "") -> str:
        from snnc.ir.snn import Output
        return self.add(name, Output(shape=tuple(shape)), source, origin=origin)

    def connect(self, src: str, dst: str, *, recurrent: bool = False,
                src_port: str = "output", dst_port: str = "input") -> None:
        self._edges.append(Edge(src, dst, src_port, dst_port, recurrent))

    def build(self, *, verify: bool = True) -> Graph:
        g = Graph(self._nodes, self._edges, dt=self.dt, method=self.method, metadata=self.metadata)
        return g.verify() if verify else g
