"""A mutable view of a `truenorth.*` graph for the passes: cores, routes, inputs, outputs.

A lowered TrueNorth graph has one shape: graph inputs and `truenorth.core` nodes feed
`truenorth.route` nodes, and each route feeds exactly one core or graph output (one route
per source and destination):

    input ──route──▶ core ──route──▶ core ──route──▶ output

`Netlist.of(graph)` reads that shape (refusing anything else), the passes edit cores and
routes in place, and `to_graph()` writes a new Graph with nodes in a topological order
(inputs, then each core after its incoming routes, then outputs). Metadata, dt and
method are carried along unchanged; the mapping record is the netlist's `mapping`, which the
passes replace as they decide.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from snnc.backends.truenorth.ops import Core, Route
from snnc.errors import UnsupportedOpError
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.ir.mapping import Mapping
from snnc.ir.snn import Input, Output

ROLES = ("neurons", "partial", "combiner", "splitter")   # mapping.roles values: what a core is for


@dataclass
class Link:
    """One route node: entries (source element, destination axon, delay) from `src` to `dst`."""

    src: str
    dst: str
    source: np.ndarray
    axon: np.ndarray
    delay: np.ndarray
    n_in: int
    n_axons: int
    origin: str = ""
    name: str = ""

    def op(self) -> Route:
        """The route node, its entries in canonical order (by source, axon, delay: the order
        does not change what a route delivers, and a decoded artifact lists them so)."""
        order = np.lexsort((self.delay, self.axon, self.source))
        return Route(source=self.source[order], axon=self.axon[order], delay=self.delay[order], n_in=self.n_in,
                     n_axons=self.n_axons)


@dataclass
class Netlist:
    cores: dict[str, Node]
    links: list[Link]
    inputs: dict[str, Node]
    outputs: dict[str, Node]
    graph: Graph                          # the graph read (for dt, method, version, metadata)
    mapping: Mapping = field(default_factory=Mapping)

    @classmethod
    def of(cls, graph: Graph) -> "Netlist":
        cores, links, inputs, outputs = {}, [], {}, {}
        for name, node in graph.nodes.items():
            if isinstance(node.op, Core):
                cores[name] = node
            elif isinstance(node.op, Input):
                inputs[name] = node
            elif isinstance(node.op, Output):
                outputs[name] = node
            elif isinstance(node.op, Route):
                (src,) = [e.src for e in graph.in_edges(name)] or [None]
                dsts = [e.dst for e in graph.out_edges(name)]
                if src is None or len(dsts) != 1 or any(e.recurrent for e in graph.in_edges(name)):
                    raise _shape_error(name, node, "a route must have one source and feed one core or output")
                op = node.op
                links.append(Link(src, dsts[0], op.source, op.axon, op.delay, op.n_in, op.n_axons,
                                  node.origin, name))
            else:
                raise _shape_error(name, node, "a TrueNorth graph holds only truenorth.core, truenorth.route, "
                                               "snn.input and snn.output nodes")
        return cls(cores, links, inputs, outputs, graph, graph.mapping or Mapping())

    # -- queries ------------------------------------------------------------------------------
    def into(self, name: str) -> list[Link]:
        return [l for l in self.links if l.dst == name]

    def out_of(self, name: str) -> list[Link]:
        return [l for l in self.links if l.src == name]

    def core_order(self) -> list[str]:
        """Cores in a topological order of the routes (ties: insertion order)."""
        g = nx.DiGraph()
        g.add_nodes_from(self.cores)
        g.add_edges_from((l.src, l.dst) for l in self.links if l.src in self.cores and l.dst in self.cores)
        index = {n: i for i, n in enumerate(self.cores)}
        return list(nx.lexicographical_topological_sort(g, key=index.__getitem__))

    def fresh(self, base: str) -> str:
        taken = set(self.cores) | set(self.inputs) | set(self.outputs) | {l.name for l in self.links}
        return unique_name(base, taken)

    # -- writing ------------------------------------------------------------------------------
    def to_graph(self) -> Graph:
        order = self.core_order()
        nodes: list[Node] = list(self.inputs.values())
        edges: list[Edge] = []
        taken = set(self.cores) | set(self.inputs) | set(self.outputs)
        by_dst: dict[str, list[Link]] = {}
        for l in _merged(self.links):
            by_dst.setdefault(l.dst, []).append(l)
        for dst in [*order, *self.outputs]:
            for l in by_dst.get(dst, []):
                name = _route_name(l, taken)
                nodes.append(Node(name, l.op(), l.origin))
                edges += [Edge(l.src, name), Edge(name, l.dst)]
            if dst in self.cores:
                nodes.append(self.cores[dst])
        nodes += list(self.outputs.values())
        g = self.graph
        return Graph(nodes, edges, inputs=list(self.inputs), outputs=list(self.outputs), dt=g.dt,
                     method=g.method, version=g.version, metadata=dict(g.metadata), mapping=self.mapping)


def _merged(links: list[Link]) -> list[Link]:
    """One link per (source, destination) pair, entries concatenated in order (a route sums its
    entries, so two routes between one pair deliver what their union does)."""
    by_pair: dict[tuple[str, str], Link] = {}
    for l in links:
        first = by_pair.setdefault((l.src, l.dst), l)
        if first is not l:
            by_pair[(l.src, l.dst)] = Link(l.src, l.dst, np.concatenate([first.source, l.source]),
                                           np.concatenate([first.axon, l.axon]), np.concatenate([first.delay, l.delay]),
                                           first.n_in, first.n_axons, first.origin)
    return list(by_pair.values())


def _route_name(link: Link, taken: set[str]) -> str:
    base = f"{link.src}.to.{link.dst}"
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    link.name = name
    return name


def _shape_error(name: str, node: Node, message: str) -> UnsupportedOpError:
    return UnsupportedOpError(message, node=name, op=node.op.name, source=node.origin or None)


def new_link(src: str, dst: str, source, axon, delay, n_in: int, n_axons: int, origin: str = "") -> Link:
    return Link(src, dst, np.asarray(source, np.int64), np.asarray(axon, np.int64),
                np.asarray(delay, np.int64) if np.ndim(delay) else np.full(len(source), int(delay), np.int64),
                int(n_in), int(n_axons), origin)
