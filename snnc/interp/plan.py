"""The run plan: groups, value slots and port sums, worked out once per run.

Every value of a tick (a graph input, a group's output) gets a slot number; each input
port a group reads, and each graph output, becomes a `fetch` function that sums its
slots (same-tick slots from this tick's list, recurrent ones from the previous tick's).
Immediate groups run in a topological order of the same-tick graph with each group
contracted to one node (groups of one depth, or convex groups spanning depths), ties broken
by depth and schedule position, so the order of work of SPEC §3 holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import heapq

import networkx as nx
import numpy as np

from snnc.errors import SimulationError
from snnc.interp.fusion import FUSERS, REGION_FUSERS, Group, Into, NodeGroup, Value
from snnc.interp.kernel import Context, stepper_for
from snnc.ir.graph import Graph

Fetch = Callable[[list, list], np.ndarray]


@dataclass
class Plan:
    n_slots: int
    input_slots: dict[str, int]
    delayed: list[tuple[Group, list[int]]]
    immediate: list[tuple[Group, list[Fetch], list[int]]]
    absorbing: list[tuple[Group, list[Fetch]]]
    output_fetch: dict[str, Fetch]
    probes: list[tuple[str, Callable]] = field(default_factory=list)
    zeros: dict[int, np.ndarray] = field(default_factory=dict)

    def initial_prev(self) -> list:
        """The 'previous tick' at tick 0: zeros in every slot a recurrent edge reads."""
        prev = [None] * self.n_slots
        for s, z in self.zeros.items():
            prev[s] = z
        return prev


def build_plan(graph: Graph, ctx: Context, batch: int, *, record: tuple[str, ...] = (),
               fuse: bool = True) -> Plan:
    """Plan a run of `graph` (already verified) for a batch of `batch` rows."""
    order, depth = _layout(graph)
    probed = {r.partition(":")[0] for r in record}
    groups = _fused_groups(graph, order, depth, ctx, batch, probed) if fuse else []
    claimed = {m for g in groups for m in g.members}
    for n in order:
        if n not in claimed:
            op = graph.op(n)
            groups.append(NodeGroup(n, op, stepper_for(op)(op, ctx, batch, n)))
    return _wire(graph, _ordered(graph, groups, order, depth), batch, record)


def _layout(graph: Graph) -> tuple[list[str], dict[str, int]]:
    """The nodes to step in schedule order and their depths; the graph is immutable, so once per graph."""
    key = "interp.layout"
    if key not in graph.derived:
        order = [n for n in graph.schedule() if n not in graph.inputs and n not in graph.outputs]
        graph.derived[key] = (order, _depths(graph))
    order, depth = graph.derived[key]
    return list(order), depth


def _ordered(graph: Graph, groups: list[Group], order: list[str], depth: dict[str, int]) -> list[Group]:
    """Groups in a topological order of the same-tick graph contracted by group (`_group_order`)."""
    key = ("interp.group-order", tuple(g.members for g in groups))
    if key not in graph.derived:
        graph.derived[key] = _group_order(graph, [g.members for g in groups], order, depth)
    return [groups[k] for k in graph.derived[key]]


def _group_order(graph: Graph, groups: list[tuple[str, ...]], order: list[str], depth: dict[str, int]) -> list[int]:
    """Kahn's algorithm on the groups (member tuples), ties by (depth, schedule position): the
    sort by depth when no group spans depths."""
    position = {n: i for i, n in enumerate(order)}
    key = [(min(depth[m] for m in g), min(position[m] for m in g)) for g in groups]
    of = {m: k for k, g in enumerate(groups) for m in g}
    after: dict[int, set[int]] = {k: set() for k in range(len(groups))}
    waiting = [0] * len(groups)
    for e in graph.edges:
        a, b = of.get(e.src), of.get(e.dst)
        if a is None or b is None or a == b or graph.deferred(e) or b in after[a]:
            continue
        after[a].add(b)
        waiting[b] += 1
    ready = [(key[k], k) for k in range(len(groups)) if not waiting[k]]
    heapq.heapify(ready)
    out = []
    while ready:
        _, k = heapq.heappop(ready)
        out.append(k)
        for b in after[k]:
            waiting[b] -= 1
            if not waiting[b]:
                heapq.heappush(ready, (key[b], b))
    if len(out) != len(groups):
        stuck = next(g for k, g in enumerate(groups) if waiting[k])
        raise SimulationError(f"internal error: the group of '{stuck[0]}' is on a same-tick cycle of groups "
                              f"(a group spanning depths is not convex)")
    return out


def _depths(graph: Graph) -> dict[str, int]:
    """Longest same-tick path from a source to each node (edges that do not order a tick excluded)."""
    g = nx.DiGraph()
    g.add_nodes_from(graph.nodes)
    g.add_edges_from((e.src, e.dst) for e in graph.edges if not graph.deferred(e))
    depth = {}
    for n in graph.schedule():
        depth[n] = max((depth[p] + 1 for p in g.predecessors(n)), default=0)
    return depth


def _fused_groups(graph, order, depth, ctx, batch, probed) -> list[Group]:
    """Offer each fuser its nodes: all of them for a delayed op, else one depth at a time."""
    from snnc.interp.kernel import _load_steppers
    _load_steppers()                                  # backends register their fusers with their steppers
    groups = []
    for classes, fuser in REGION_FUSERS:
        key = ("interp.region-offer", classes)
        if key not in graph.derived:
            graph.derived[key] = [n for n in order if isinstance(graph.op(n), classes) and not graph.op(n).delayed]
        offered = list(graph.derived[key])
        if offered:
            groups.extend(fuser(graph, offered, ctx, batch, probed))
    claimed = frozenset(m for g in groups for m in g.members)
    key = ("interp.depth-offers", claimed)
    if key not in graph.derived:
        offers: dict[tuple, list[str]] = {}
        for n in order:
            op = graph.op(n)
            if type(op) in FUSERS and n not in claimed:
                offers.setdefault((type(op), None if op.delayed else depth[n]), []).append(n)
        graph.derived[key] = offers
    for (cls, _), names in graph.derived[key].items():
        if len(names) > 1:
            groups.extend(FUSERS[cls](graph, names, ctx, batch, probed))
    return groups


def _wire(graph: Graph, groups: list[Group], batch: int, record) -> Plan:
    slots: dict[tuple, int] = {}
    for n in graph.inputs:
        slots[("value", n, "output")] = len(slots)
    group_of, into_edges = {}, set()
    for k, g in enumerate(groups):
        for m in g.members:
            group_of[m] = g
        for o in g.outputs:       # several groups may each give part of one port's sum
            slots[_key(o, k)] = len(slots)
            if isinstance(o, Into):
                into_edges.update((m, o.consumer, o.port) for m in o.members)
    checked = ("interp.covered", tuple(g.members for g in groups), tuple(slots))
    if checked not in graph.derived:                 # the same grouping of this graph was checked before
        _check_covered(graph, group_of, slots, into_edges)
        graph.derived[checked] = True
    wiring = _PortWiring(graph, slots, into_edges, batch)
    delayed, immediate, absorbing = [], [], []
    for k, g in enumerate(groups):
        out_slots = [slots[_key(o, k)] for o in g.outputs]
        fetch = [wiring.fetch(m, p) for m, p in g.inputs]
        if g.delayed:
            delayed.append((g, out_slots))
            absorbing.append((g, fetch))
        else:
            immediate.append((g, fetch, out_slots))
    outputs = {n: wiring.fetch(n, "input") for n in graph.outputs}
    probes = [_probe(graph, group_of, slots, r) for r in record]
    return Plan(len(slots), {n: slots[("value", n, "output")] for n in graph.inputs}, delayed, immediate,
                absorbing, outputs, probes, wiring.zeros)


def _key(o: Value | Into, group: int) -> tuple:
    return ("value", o.member, o.port) if isinstance(o, Value) else ("into", o.consumer, o.port, group)


def _check_covered(graph, group_of, slots, into_edges) -> None:
    for e in graph.edges:
        if e.src not in group_of or ("value", e.src, e.src_port) in slots or group_of.get(e.dst) is group_of[e.src]:
            continue
        if (e.src, e.dst, e.dst_port) not in into_edges or e.recurrent or e.src_port != "output":
            raise SimulationError(f"internal error: the group of node '{e.src}' gives neither its value nor its "
                                  f"sum into '{e.dst}:{e.dst_port}'")


class _PortWiring:
    """Builds the fetch function of an input port: the sum of its edges' slots."""

    def __init__(self, graph, slots, into_edges, batch):
        self.graph, self.slots, self.into_edges, self.batch = graph, slots, into_edges, batch
        self.types = graph.types()
        self.zeros: dict[int, np.ndarray] = {}
        self.into: dict[tuple[str, str], list[int]] = {}
        for key, s in slots.items():
            if key[0] == "into":
                self.into.setdefault(key[1:3], []).append(s)

    def fetch(self, node: str, port: str) -> Fetch:
        terms = []                                    # (slot, recurrent), in edge order: float sums keep it
        for e in self.graph.in_edges(node):
            if e.dst_port != port or (e.src, node, port) in self.into_edges:
                continue
            s = self.slots[("value", e.src, e.src_port)]
            terms.append((s, e.recurrent))
            if e.recurrent and s not in self.zeros:
                self.zeros[s] = np.zeros((self.batch, *self.types[(e.src, e.src_port)].shape))
        terms += [(s, False) for s in self.into.get((node, port), ())]
        return _summer(tuple(terms))


def _summer(terms: tuple[tuple[int, bool], ...]) -> Fetch:
    if not terms:
        return lambda now, prev: None
    if len(terms) == 1:
        (s, rec), = terms
        return (lambda now, prev: prev[s]) if rec else (lambda now, prev: now[s])

    def total(now, prev):
        s, rec = terms[0]
        acc = prev[s] if rec else now[s]
        for s, rec in terms[1:]:
            acc = acc + (prev[s] if rec else now[s])
        return acc
    return total


def _probe(graph: Graph, group_of, slots, label: str):
    """(label, reader) for one `record` entry; the reader gives this tick's value."""
    node, _, var = label.partition(":")
    if node not in graph.nodes:
        raise SimulationError(f"cannot record '{label}': no node '{node}'")
    if not var:
        if node in graph.outputs:
            return label, lambda now, outs, t: outs[node][t]
        s = slots[("value", node, graph.op(node).output_ports[0])]
        return label, lambda now, outs, t: now[s]
    group = group_of.get(node)
    names = list(group.state(node)) if group is not None else []
    if var not in names:
        have = f"its state variables are {', '.join(names)}" if names else "it has no state variables"
        raise SimulationError(f"cannot record '{label}': node '{node}' ({graph.op(node).name}) has no "
                              f"state variable '{var}'; {have}")
    return label, lambda now, outs, t: group.state(node)[var]
