"""A mutable view of a `truenorth.*` graph for the passes: cores, routes, inputs, outputs.

A lowered TrueNorth graph has one shape: graph inputs and `truenorth.core` nodes feed
`truenorth.route` nodes, and each route feeds exactly one core, graph output or host node
(one route per source and destination):

    input ──route──▶ core ──route──▶ core ──route──▶ output
                       ▲  └──route (recurrent)──┘└──route──▶ host nodes ──▶ output

Host nodes are the float `snn.*` ops the host computes from the spikes the chip sends it
(readouts, `encode.py`); they feed each other and graph outputs. A route that closes a
loop of cores (feedback: it has an entry of an earlier source tick, lag k ≥ 1, and its
destination reaches its source) is written with a recurrent edge into it and its delay
less one: the recurrent edge holds the source's spikes one tick, the route the rest, so
cycles through feedback are legal IR and the chip's delay is the route's delay plus one.

Each route entry has a lag k: it delivers y_S[t − k] of the source model to the
destination's tick t, so its chip delay is L(dst) − L(src) + k (`latency.balance`). The
netlist keeps the lags (`Link.lag`); `Netlist.of` recovers them from the delays and the
latencies in the mapping record.

`Netlist.of(graph)` reads that shape (refusing anything else), the passes edit cores and
routes in place, and `to_graph()` writes a new Graph with nodes in a topological order
(inputs, then each core after its incoming routes, then host nodes and outputs). Metadata,
dt and method are carried along unchanged; the mapping record is the netlist's `mapping`,
which the passes replace as they decide.
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

ROLES = ("neurons", "partial", "combiner", "splitter", "relay")   # mapping.roles values: what a core is for


@dataclass
class Link:
    """One route node: entries (source element, destination axon, delay, lag) from `src` to `dst`.
    `delay` is the chip's (from the spike to its delivery); `lag` the source ticks it stands for."""

    src: str
    dst: str
    source: np.ndarray
    axon: np.ndarray
    delay: np.ndarray
    n_in: int
    n_axons: int
    origin: str = ""
    name: str = ""
    lag: np.ndarray | None = None

    def __post_init__(self):
        if self.lag is None:
            self.lag = np.zeros(len(self.source), np.int64)

    def op(self, delay_shift: int = 0) -> Route:
        """The route node, its entries in canonical order (by source, axon, delay: the order
        does not change what a route delivers, and a decoded artifact lists them so)."""
        order = np.lexsort((self.delay, self.axon, self.source))
        return Route(source=self.source[order], axon=self.axon[order], delay=self.delay[order] - delay_shift,
                     n_in=self.n_in, n_axons=self.n_axons)


@dataclass
class Netlist:
    cores: dict[str, Node]
    links: list[Link]
    inputs: dict[str, Node]
    outputs: dict[str, Node]
    graph: Graph                          # the graph read (for dt, method, version, metadata)
    mapping: Mapping = field(default_factory=Mapping)
    host: dict[str, Node] = field(default_factory=dict)          # float snn.* nodes the host runs
    host_edges: list[Edge] = field(default_factory=list)         # edges out of host nodes and into them from inputs

    @classmethod
    def of(cls, graph: Graph) -> "Netlist":
        cores, links, inputs, outputs, host = {}, [], {}, {}, {}
        for name, node in graph.nodes.items():
            if isinstance(node.op, Core):
                cores[name] = node
            elif isinstance(node.op, Input):
                inputs[name] = node
            elif isinstance(node.op, Output):
                outputs[name] = node
            elif isinstance(node.op, Route):
                links.append(_link_of(graph, name, node))
            elif node.op.name.startswith("snn."):
                host[name] = node
            else:
                raise _shape_error(name, node, "a TrueNorth graph holds only truenorth.core, truenorth.route, "
                                               "snn.input and snn.output nodes, and the host's snn.* nodes")
        host_edges = [e for e in graph.edges if (e.src in host or e.src in inputs) and e.dst in host
                      or e.src in host and e.dst in outputs]
        net = cls(cores, links, inputs, outputs, graph, graph.mapping or Mapping(), host, host_edges)
        net.recover_lags()
        return net

    def recover_lags(self) -> None:
        """Each entry's lag from its delay and the latencies in the mapping record."""
        L = self.latencies()
        for l in self.links:
            l.lag = np.maximum(l.delay - (L.get(l.dst, 0) - L.get(l.src, 0)), 0)

    def latencies(self) -> dict[str, int]:
        """The latency of every core, host node and output the mapping record knows (inputs: 0)."""
        m = self.mapping
        L = {n: 0 for n in self.inputs}
        L.update(m.latency)
        for name, entry in m.outputs.items():
            for p in entry.parts:
                L[p.node] = entry.latency
        return L

    # -- queries ------------------------------------------------------------------------------
    def into(self, name: str) -> list[Link]:
        return [l for l in self.links if l.dst == name]

    def out_of(self, name: str) -> list[Link]:
        return [l for l in self.links if l.src == name]

    def feedback(self, links: list[Link] | None = None) -> set[int]:
        """The ids of the links (default: all) that close a loop of cores: a lagged entry into a core
        whose destination reaches its source. Every loop has one: the model's loops pass a recurrent
        edge."""
        links = self.links if links is None else links
        inner = [l for l in links if l.src in self.cores and l.dst in self.cores]
        g = nx.DiGraph()
        g.add_edges_from((l.src, l.dst) for l in inner)
        comp = {n: i for i, scc in enumerate(nx.strongly_connected_components(g)) for n in scc}
        return {id(l) for l in inner if np.any(l.lag > 0) and comp[l.src] == comp[l.dst]}

    def core_order(self) -> list[str]:
        """Cores in a topological order of the routes that are not feedback (ties: insertion order)."""
        back = self.feedback()
        g = nx.DiGraph()
        g.add_nodes_from(self.cores)
        g.add_edges_from((l.src, l.dst) for l in self.links
                         if l.src in self.cores and l.dst in self.cores and id(l) not in back)
        index = {n: i for i, n in enumerate(self.cores)}
        return list(nx.lexicographical_topological_sort(g, key=index.__getitem__))

    def host_order(self) -> tuple[list[str], list[str]]:
        """The host nodes that run before the chip (fed by graph inputs only: input encoders) and
        those that run on its spikes (readouts), each in insertion order."""
        fed = {l.dst for l in self.links if l.src in self.cores}
        after: set[str] = set()
        for n in self.host:                              # insertion order is topological
            if n in fed or any(e.src in after for e in self.host_edges if e.dst == n):
                after.add(n)
        return [n for n in self.host if n not in after], [n for n in self.host if n in after]

    def fresh(self, base: str) -> str:
        taken = set(self.cores) | set(self.inputs) | set(self.outputs) | set(self.host) | {l.name for l in self.links}
        return unique_name(base, taken)

    # -- writing ------------------------------------------------------------------------------
    def to_graph(self) -> Graph:
        order = self.core_order()
        nodes: list[Node] = list(self.inputs.values())
        edges: list[Edge] = []
        taken = set(self.cores) | set(self.inputs) | set(self.outputs) | set(self.host)
        by_dst: dict[str, list[Link]] = {}
        merged = _merged(self.links)
        back = self.feedback(merged)
        for l in merged:
            by_dst.setdefault(l.dst, []).append(l)
        senders, readers = self.host_order()
        nodes += [self.host[n] for n in senders]
        for dst in [*order, *readers, *self.outputs]:
            for l in by_dst.get(dst, []):
                name = _route_name(l, taken)
                loop = id(l) in back
                nodes.append(Node(name, l.op(1 if loop else 0), l.origin))
                edges += [Edge(l.src, name, recurrent=loop), Edge(name, l.dst)]
            if dst in self.cores:
                nodes.append(self.cores[dst])
            elif dst in self.host:
                nodes.append(self.host[dst])
        nodes += list(self.outputs.values())
        edges += self.host_edges
        g = self.graph
        return Graph(nodes, edges, inputs=list(self.inputs), outputs=list(self.outputs), dt=g.dt,
                     method=g.method, version=g.version, metadata=dict(g.metadata), mapping=self.mapping)


def _link_of(graph: Graph, name: str, node: Node) -> Link:
    """The link a route node stands for (a recurrent edge into it holds its spikes one tick more)."""
    ins = graph.in_edges(name)
    dsts = [e.dst for e in graph.out_edges(name)]
    if len(ins) != 1 or len(dsts) != 1:
        raise _shape_error(name, node, "a route must have one source and feed one core, host node or output")
    op = node.op
    back = 1 if ins[0].recurrent else 0
    return Link(ins[0].src, dsts[0], op.source, op.axon, op.delay + back, op.n_in, op.n_axons, node.origin, name)


def _merged(links: list[Link]) -> list[Link]:
    """One link per (source, destination) pair, entries concatenated in order (a route sums its
    entries, so two routes between one pair deliver what their union does)."""
    by_pair: dict[tuple[str, str], Link] = {}
    for l in links:
        first = by_pair.setdefault((l.src, l.dst), l)
        if first is not l:
            by_pair[(l.src, l.dst)] = Link(l.src, l.dst, np.concatenate([first.source, l.source]),
                                           np.concatenate([first.axon, l.axon]), np.concatenate([first.delay, l.delay]),
                                           first.n_in, first.n_axons, first.origin,
                                           lag=np.concatenate([first.lag, l.lag]))
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


def new_link(src: str, dst: str, source, axon, delay, n_in: int, n_axons: int, origin: str = "", lag=0) -> Link:
    n = len(source)

    def per_entry(v):
        return np.asarray(v, np.int64) if np.ndim(v) else np.full(n, int(v), np.int64)

    return Link(src, dst, np.asarray(source, np.int64), np.asarray(axon, np.int64), per_entry(delay),
                int(n_in), int(n_axons), origin, lag=per_entry(lag))
