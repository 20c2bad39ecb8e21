"""Regions of a mapped TrueNorth network that step as one group, and how spikes move in them.

A region is a set of deterministic `truenorth.core` nodes and the `truenorth.route` nodes
between them (convex in the same-tick graph, `snnc.interp.fusion.convex_pieces`). Inside it
a spike is a *signal*: an element of a region core's output, or of a route input fed from
outside (its value ≠ 0). Following ops.Route, axon a of a region core is active at tick t iff
one of its entries (signal σ, delay d) had σ[t − d] ≠ 0; here every axon has one entry (a
core whose axon several different entries reach, where the scheduler ORs them, stays out of
regions), so a core's synaptic input is a sum over (signal, delay) pairs. Delays count the
route's delay plus one for each recurrent edge on the way (a recurrent edge reads the
previous tick's value).

What a region does not hold runs on its own steppers: stochastic cores (their PRN streams
stay exactly theirs), cores fed by anything but region routes, probed routes, and every
core in strict mode (whose error names the first saturating neuron in node order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.truenorth.ops import Core, Route
from snnc.interp.fusion import convex_pieces


def deterministic(op: Core) -> bool:
    return not (op.stochastic_weight.any() or op.stochastic_leak.any() or op.threshold_mask_bits.any())


def input_key(graph, route: str) -> tuple:
    """What a route reads: its input edges (routes with equal keys read the same values)."""
    return tuple(sorted((e.src, e.src_port, e.recurrent) for e in graph.in_edges(route)))


def regions(graph, names, probed) -> list[frozenset[str]]:
    """The node sets among `names` that step as one group each (at least one core in each)."""
    cores = {n for n in names if isinstance(graph.op(n), Core) and deterministic(graph.op(n))}
    routes = {n for n in names if isinstance(graph.op(n), Route) and n not in probed}
    cores -= {c for c in cores if _or_axons(graph, c)}
    todo, done = [_closed(graph, cores, routes)], []
    while todo:
        parts = _with_consumers(graph, convex_pieces(graph, todo.pop()), routes)
        for part in (q for p in parts for q in convex_pieces(graph, p)):
            kept = _closed(graph, {n for n in part if n in cores}, {n for n in part if n in routes})
            if kept != part:
                todo.append(kept)
            elif any(n in cores for n in part):
                done.append(part)
    return sorted(done, key=min)


def _with_consumers(graph, parts: list[frozenset[str]], routes: set[str]) -> list[frozenset[str]]:
    """Each route moved to the part holding all its consumers, when that is another part: a
    route is a delay line of the cores it feeds (a piece cut below an outside node keeps its
    cores' routes). The part it leaves no longer leads to it, so both stay convex."""
    where = {n: k for k, p in enumerate(parts) for n in p}
    moved = [set(p) for p in parts]
    for k, p in enumerate(parts):
        for r in p & routes:
            homes = {where.get(e.dst) for e in graph.out_edges(r)}
            if len(homes) == 1 and None not in homes and homes != {k}:
                moved[k].discard(r)
                moved[homes.pop()].add(r)
    return [frozenset(p) for p in moved if p]


def _closed(graph, cores: set[str], routes: set[str]) -> frozenset[str]:
    """Drop routes whose input mixes a region core with other edges, and cores fed by anything but
    region routes, until nothing changes."""
    cores, routes = set(cores), set(routes)
    while True:
        mixed = {r for r in routes if len(graph.in_edges(r)) > 1 and any(e.src in cores for e in graph.in_edges(r))}
        routes -= mixed
        fed = {c for c in cores if not all(e.src in routes and e.src_port == "output" and e.dst_port == "input"
                                            for e in graph.in_edges(c))}
        cores -= fed
        if not mixed and not fed:
            return frozenset(cores | routes)


def _or_axons(graph, core: str) -> bool:
    """True when some axon of `core` is reached by two different (input, element, delay) entries."""
    seen: dict[int, tuple] = {}
    for e in graph.in_edges(core):
        if not isinstance(graph.op(e.src), Route):
            continue
        op, key = graph.op(e.src), (input_key(graph, e.src), e.recurrent)
        for a, s, d in zip(op.axon.tolist(), op.source.tolist(), op.delay.tolist()):
            entry = (key, s, d)
            if seen.setdefault(a, entry) != entry:
                return True
    return False


@dataclass
class Wiring:
    """A region's signals and entries, as arrays.

    Signals are numbered: first the outside inputs (one block per distinct route input, in
    `inputs` order), then every region core's neurons, core by core in `cores` order.
    `entries[c]` = (axon, signal, delay) arrays of core c, one entry per reached axon.
    `outputs` = what leaves through routes: per (consumer, port), the (signal, delay, element)
    entries whose spike counts add up there, and whether the edges are recurrent."""

    cores: tuple[str, ...]
    routes: tuple[str, ...]
    inputs: tuple[str, ...]                 # a representative route per distinct outside input
    input_sizes: tuple[int, ...]
    core_offset: dict[str, int]             # first signal of each core
    n_signals: int
    entries: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    outputs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]]
    recurrent_out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    core_values: tuple[str, ...]            # cores whose output leaves the region (or is probed)
    acyclic: bool                           # no recurrent edge inside: cores in order see their sources first
    members: tuple[str, ...] = ()           # the region's nodes in schedule order


def wiring(graph, region: frozenset[str], order: list[str], probed) -> Wiring:
    cores = tuple(n for n in order if n in region and isinstance(graph.op(n), Core))
    routes = tuple(n for n in order if n in region and isinstance(graph.op(n), Route))
    outside = [r for r in routes if not any(e.src in region for e in graph.in_edges(r))]
    reps: dict[tuple, str] = {}
    for r in outside:
        reps.setdefault(input_key(graph, r), r)
    inputs = tuple(reps.values())
    sizes = tuple(graph.op(r).n_in for r in inputs)
    base = dict(zip(inputs, np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()))
    n_in = int(sum(sizes))
    core_offset = dict(zip(cores, (n_in + np.concatenate([[0], np.cumsum([graph.op(c).neurons for c in cores])]))
                           .astype(int).tolist()))
    source = {}                     # route -> (first signal of its input, extra delay)
    for r in routes:
        (e, *rest) = graph.in_edges(r) or (None,)
        if e is not None and e.src in region:
            source[r] = (core_offset[e.src], int(e.recurrent))
        else:
            source[r] = (base[reps[input_key(graph, r)]], 0)
    entries = {c: _core_entries(graph, c, source) for c in cores}
    outputs, recurrent_out = _leaving(graph, region, routes, source)
    values = tuple(c for c in cores if c in probed or any(e.dst not in region for e in graph.out_edges(c)))
    acyclic = not any(e.recurrent for n in region for e in graph.out_edges(n) if e.dst in region)
    return Wiring(cores, routes, inputs, sizes, core_offset, core_offset[cores[-1]] + graph.op(cores[-1]).neurons
                  if cores else n_in, entries, outputs, recurrent_out, values, acyclic,
                  tuple(n for n in order if n in region))


def _route_entries(op: Route, first: int, extra: int):
    return first + op.source, op.delay + extra


def _core_entries(graph, core: str, source) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    axon, signal, delay = [], [], []
    for e in graph.in_edges(core):
        op = graph.op(e.src)
        s, d = _route_entries(op, *source[e.src])
        axon.append(op.axon)
        signal.append(s)
        delay.append(d + int(e.recurrent))
    if not axon:
        return tuple(np.zeros(0, np.int64) for _ in range(3))
    axon, signal, delay = (np.concatenate(v).astype(np.int64) for v in (axon, signal, delay))
    axon, first = np.unique(axon, return_index=True)           # one entry per axon (_or_axons)
    return axon, signal[first], delay[first]


def _leaving(graph, region, routes, source):
    """Entries of the routes' edges to outside nodes: summed per consumer port (non-recurrent
    edges) or per route (a recurrent edge reads the route's own value of the previous tick)."""
    ports: dict[tuple[str, str], list] = {}
    own: dict[str, tuple] = {}
    for r in routes:
        op = graph.op(r)
        s, d = _route_entries(op, *source[r])
        for e in graph.out_edges(r):
            if e.dst in region:
                continue
            if e.recurrent:
                own[r] = (s, d, op.axon.astype(np.int64))
            else:
                ports.setdefault((e.dst, e.dst_port), []).append((r, s, d, op.axon))
    outputs = {}
    for key, parts in ports.items():
        outputs[key] = (*(np.concatenate([p[k] for p in parts]).astype(np.int64) for k in (1, 2, 3)),
                        tuple(p[0] for p in parts))
    return outputs, own
