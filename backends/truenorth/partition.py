"""`truenorth-partition`: cores cut to the chip's size, and one destination per neuron.

A TrueNorth neuron sends its spikes to exactly one (core, axon, delay). A neuron whose
spikes must reach d > 1 axons — d counts axons, not cores: an input duplicated over D
axon types on a core needs D of them — gets either

    copies:    d − 1 more neurons on its own core with the same crossbar column and
               parameters (deterministic, so every copy spikes exactly when it does), or
    splitter:  one destination, an axon of a splitter core, whose d relay neurons
               (weight 1 on that axon, α = 1, reset to 0) each fire one tick later and
               carry one destination; the extra tick is balanced on every path.

Cores are processed from the outputs backwards, so a core's destinations are final when it
is cut. Each core is cut into contiguous chunks of neurons that fit: neuron slots (a neuron
plus its copies) ≤ core.neurons and the axons its chunk uses ≤ core.axons (a chunk keeps
only the axons its neurons use; the source routes then feed each chunk). Both fan-out
plans are costed — chunks with copies, or chunks of single neurons plus the splitter cores
packed with relays — and the one with fewer cores wins (copies on a tie: no extra tick).
A core whose multi-destination neurons use stochastic modes gets splitters: copies would
draw their own PRNs and spike differently. Option `fan_out` forces one plan. At the end
every core is given its own PRN stream (`prng_seed` = its core number). Latencies and delays are re-balanced at the end
(`latency.balance`), core numbers assigned in topological order ("mapping.cores").

A neuron needing more than core.neurons destinations (a relay tree) is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.truenorth.cores import cut, make_core, take_axons, take_neurons
from snnc.backends.truenorth.latency import annotate, balance, late_approximation, late_entries
from snnc.backends.truenorth.netlist import Link, Netlist, new_link
from snnc.errors import ConstraintViolation
from snnc.ir.graph import Graph, Node
from snnc.ir.mapping import PartOf
from snnc.passes.registry import PassResult, option, register_pass


@dataclass(frozen=True)
class PartitionOptions:
    """How a neuron with several destinations reaches them."""

    fan_out: str = option("auto", "a neuron's extra destinations: neuron copies, splitter cores, or "
                                  "whichever needs fewer cores (auto)", choices=("auto", "copies", "splitter"))

    def __post_init__(self):
        if self.fan_out not in ("auto", "copies", "splitter"):
            raise ValueError(f"fan_out must be auto, copies or splitter, got {self.fan_out!r}")


@register_pass("truenorth-partition", PartitionOptions, reports_progress=True)
def partition(graph: Graph, target, options: PartitionOptions, progress) -> PassResult:
    """Cut cores to 256 × 256 and give every neuron one destination (copies or splitters)."""
    net = Netlist.of(graph)
    state = _State(dict(net.mapping.roles), dict(net.mapping.parts))
    provenance, per_core = {}, {}
    for name in reversed(net.core_order()):
        provenance[name], per_core[name] = _legalize(net, name, target, options, state)
    progress(f"{len(net.cores)} cores, {state.splitters} splitter core(s), {state.copies} neuron copies")
    _one_destination_each(net, target)
    L = balance(net, target)
    late = tuple(late_approximation(x) for x in late_entries(net, L))
    order = net.core_order()
    for i, c in enumerate(order):                 # each core its own PRN stream, numbered like the core
        node = net.cores[c]
        net.cores[c] = Node(c, node.op.replace(prng_seed=i), node.origin)
    net.mapping = net.mapping.replace(cores={c: i for i, c in enumerate(order)}, parts=state.parts,
                                      roles={c: state.roles.get(c, "neurons") for c in order})
    annotate(net, L)
    stats = {"cores": len(order), "splitter_cores": state.splitters, "neuron_copies": state.copies,
             "latency_max": max((L[o] for o in net.outputs), default=0), "per_core": per_core}
    return PassResult(net.to_graph(), provenance=provenance, stats=stats, approximations=late)


def _one_destination_each(net: Netlist, target) -> None:
    """Refuse a neuron left with more destinations than it has: a feedback route into a layer
    cut after its source was (each chunk using the axon needs its own destination)."""
    for name in net.cores:
        d = np.zeros(net.cores[name].op.neurons, np.int64)
        for l in net.out_of(name):
            np.add.at(d, l.source, 1)
        if d.max(initial=0) > target.core.destinations_per_neuron:
            j = int(d.argmax())
            raise ConstraintViolation(target=target.name, rule="core.destinations_per_neuron",
                                      where=f"node '{name}' neuron {j}",
                                      value=f"{int(d[j])} destinations (feedback into a layer cut over several cores)",
                                      limit=target.core.destinations_per_neuron)


@dataclass
class _State:
    roles: dict
    parts: dict
    splitters: int = 0
    copies: int = 0


def _pack_relays(d: np.ndarray, target) -> list[list[int]]:
    """Splitter cores: lists of source neurons whose relays (d_j each) share one core."""
    cores, cur, relays = [], [], 0
    for j in np.flatnonzero(d >= 2):
        if cur and (relays + d[j] > target.core.neurons or len(cur) + 1 > target.core.axons):
            cores.append(cur)
            cur, relays = [], 0
        cur.append(int(j))
        relays += int(d[j])
    if cur:
        cores.append(cur)
    return cores


def _stochastic(op, d: np.ndarray) -> bool:
    """Whether a neuron needing copies draws PRNs: its copies would not spike as it does."""
    many = d >= 2
    return bool(np.any(many & (op.stochastic_weight.any(axis=1) | (op.stochastic_leak != 0)
                               | (op.threshold_mask_bits > 0))))


def _plan(op, d: np.ndarray, target, options: PartitionOptions, where: str):
    """(mode, chunks, splitter cores) with the fewest cores."""
    if d.max(initial=0) > target.core.neurons:
        j = int(d.argmax())
        raise ConstraintViolation(target=target.name, rule="core.neurons", where=f"{where} neuron {j}",
                                  value=f"{int(d[j])} destinations (relays for one neuron)", limit=target.core.neurons)
    copies_allowed = options.fan_out == "copies" or (options.fan_out == "auto" and not _stochastic(op, d))
    copies = cut(op, np.maximum(d, 1), target) if copies_allowed else None
    single = cut(op, np.ones_like(d), target)
    if single is None:
        j = int(op.crossbar.sum(axis=0).argmax())
        raise ConstraintViolation(target=target.name, rule="core.axons", where=f"{where} neuron {j}",
                                  value=f"{int(op.crossbar[:, j].sum())} axons", limit=target.core.axons)
    relays = _pack_relays(d, target)
    if options.fan_out == "copies" and copies is None:
        raise ConstraintViolation(target=target.name, rule="core.neurons", where=where,
                                  value="a neuron with its copies", limit=target.core.neurons)
    if copies is not None and (options.fan_out == "copies" or not relays or len(copies) <= len(single) + len(relays)):
        return "copies", copies, []
    return "splitter", single, relays


def _legalize(net: Netlist, name: str, target, options: PartitionOptions, state: _State):
    node = net.cores[name]
    op = node.op
    outs, ins = net.out_of(name), net.into(name)
    d = np.zeros(op.neurons, np.int64)
    for l in outs:
        np.add.at(d, l.source, 1)
    where = f"node '{name}'" + (f" ({node.origin})" if node.origin else "")
    mode, chunks, relays = _plan(op, d, target, options, where)
    if len(chunks) > 1 and any(l.dst == name for l in outs):
        raise ConstraintViolation(target=target.name, rule="core.neurons", where=where,
                                  value=f"{op.neurons} neurons feeding themselves back (a recurrent layer is kept "
                                        f"on one core)", limit=target.core.neurons)
    ins = [l for l in ins if l.src != name]                  # feedback onto itself: re-pointed by _send
    net.links = [l for l in net.links if not (l.src == name or l.dst == name)]
    del net.cores[name]
    slot: dict[int, list[tuple[str, int]]] = {}              # neuron -> [(core, local index)] for its destinations
    made = []
    for c, (a, b) in enumerate(chunks):
        cname = name if len(chunks) == 1 else net.fresh(f"{name}.{c}")
        neurons = list(range(a, b))
        if mode == "copies":
            neurons += [j for j in range(a, b) for _ in range(max(d[j], 1) - 1)]
        chunk = take_neurons(op, neurons)
        rows = np.flatnonzero(chunk.crossbar.any(axis=1))
        net.cores[cname] = Node(cname, take_axons(chunk, rows), node.origin)
        _feed(net, ins, cname, rows, op.axons)
        outs = [_onto(l, cname, rows, op.axons) if l.dst == name else l for l in outs]
        for local, j in enumerate(neurons):
            slot.setdefault(j, []).append((cname, local))
        state.roles[cname] = state.roles.get(name, "neurons")
        if name in state.parts:
            whole = state.parts[name]
            state.parts[cname] = PartOf(whole.population, whole.offset + a, b - a)
        made.append(cname)
    if name not in made:
        state.parts.pop(name, None)
    if mode == "copies":
        state.copies += int(np.maximum(d - 1, 0).sum())
    else:
        made += _splitters(net, name, relays, d, slot, node.origin, state, target)
    _send(net, outs, slot, made[0])
    return tuple(made), {"mode": mode, "chunks": len(chunks), "splitters": len(relays),
                         "fan_out_max": int(d.max(initial=0))}


def _feed(net: Netlist, ins: list[Link], cname: str, rows: np.ndarray, n_axons: int) -> None:
    """Re-point the routes into the original core at chunk `cname`, which keeps axons `rows`."""
    index = np.full(n_axons, -1, np.int64)
    index[rows] = np.arange(len(rows))
    fed = False
    for l in ins:
        keep = index[l.axon] >= 0
        if keep.any():
            net.links.append(new_link(l.src, cname, l.source[keep], index[l.axon[keep]], l.delay[keep], l.n_in,
                                      len(rows), l.origin, lag=l.lag[keep]))
            fed = True
    if not fed and ins:                       # a chunk without synapses still needs its port fed
        net.links.append(new_link(ins[0].src, cname, [], [], 0, ins[0].n_in, len(rows), ins[0].origin))


def _onto(l: Link, cname: str, rows: np.ndarray, n_axons: int) -> Link:
    """A core's route onto itself, re-pointed at its one chunk `cname`, which keeps axons `rows`."""
    index = np.full(n_axons, -1, np.int64)
    index[rows] = np.arange(len(rows))
    return new_link(l.src, cname, l.source, index[l.axon], l.delay, l.n_in, len(rows), l.origin, lag=l.lag)


def _send(net: Netlist, outs: list[Link], slot: dict[int, list[tuple[str, int]]], first: str) -> None:
    """Give each destination entry of the original core its own neuron (primary, copy or relay).
    A route without entries (its destination's only feed) stays, from the `first` chunk."""
    used = {j: 0 for j in slot}
    grouped: dict[tuple[str, int], list[tuple[int, int, int, int]]] = {}
    for i, l in enumerate(outs):
        if not len(l.source):
            net.links.append(new_link(first, l.dst, [], [], 0, net.cores[first].op.neurons, l.n_axons, l.origin))
        for src, axon, delay, lag in zip(l.source, l.axon, l.delay, l.lag):
            core, local = slot[int(src)][used[int(src)]]
            used[int(src)] += 1
            grouped.setdefault((core, i), []).append((local, int(axon), int(delay), int(lag)))
    for (core, i), entries in grouped.items():
        l = outs[i]
        e = np.array(entries, np.int64)
        net.links.append(new_link(core, l.dst, e[:, 0], e[:, 1], e[:, 2], net.cores[core].op.neurons,
                                  l.n_axons, l.origin, lag=e[:, 3]))


def _splitters(net: Netlist, name: str, relays: list[list[int]], d, slot, origin, state: _State, target) -> list[str]:
    """Splitter cores for the neurons in `relays`; re-points `slot` of those neurons at their relays."""
    made = []
    for group in relays:
        sname = net.fresh(f"{name}.split{state.splitters}")
        state.splitters += 1
        n_relays = int(sum(d[j] for j in group))
        crossbar = np.zeros((len(group), n_relays), np.int64)
        weight = np.zeros((n_relays, 4), np.int64)
        weight[:, 0] = 1
        r = 0
        sources = []
        for axon, j in enumerate(group):
            crossbar[axon, r:r + d[j]] = 1
            core, local = slot[j][0]                      # the neuron itself sends to the splitter
            sources.append((core, local, axon))
            slot[j] = [(sname, r + k) for k in range(d[j])]
            r += int(d[j])
        net.cores[sname] = Node(sname, make_core(crossbar, np.zeros(len(group), np.int64), weight, alpha=1,
                                                 beta=0, reset_mode=0, saturate=1, reset_value=0,
                                                 membrane_bits=target.formats.membrane_bits), origin)
        for core in dict.fromkeys(c for c, _, _ in sources):
            e = np.array([(local, axon) for c, local, axon in sources if c == core], np.int64)
            net.links.append(new_link(core, sname, e[:, 0], e[:, 1], target.formats.delay.lo,
                                      net.cores[core].op.neurons, len(group), origin))
        state.roles[sname] = "splitter"
        made.append(sname)
    return made
