"""`truenorth-split-fan-in`: neurons needing more axons than a core has become partial sums.

A neuron j of core P whose synapses use more than `core.axons` axons cannot live on one
core. Its inputs are cut into groups that fit (an input's duplicated axons stay together,
inputs in axon order); for each group g a partial core holds, for every neuron j with
synapses in g, two partial neurons that integrate j's synaptic input from g with j's own
integer weights, one with the sign flipped:

    partial± :  V += ±(Σ_{i∈g, active} c_ij s_j^{G_i});  fire when V ≥ A_j, V ← V − A_j (linear);
                V floored at −A_j (κ = 1, β = A_j); no leak
    combiner j:  axons from j's partial+ (type 0, weight +q_j) and partial− (type 1, weight −q_j);
                 j's own leak, thresholds and reset, all scaled by r_j = q_j / A_j.

Approximation (the only one this pass makes): the combining neuron receives each group's
synaptic sum quantised to whole multiples of A_j, one tick later, and the remainder waits in
the partial neuron's membrane (linear reset), so over any window the input it integrates
differs from j's exact input by less than A_j per partial neuron, plus what a partial
neuron's floor at −A_j discards when a group's sum swings negative and back within a few
ticks. A partial neuron fires at most once per tick, so a group whose sum exceeds A_j per
tick for long is delayed, not lost. A_j = ceil(2 α_j / groups): about two ticks of the
group's share of a threshold per spike, so the partials can pass up to 2 α_j per tick. A
weight holds at most 255, so where A_j is larger the combiner works at a smaller scale:
q_j = round(A_j r_j) with r_j = min(1, 255 / A_j), its leak, α, β and R multiplied by r_j and
rounded (a rounding error of at most half a unit at that scale). Every path through the
split takes one tick more; `latency.balance` delays the other paths into later cores by the
same tick.

With `exact=True` the pass refuses instead, naming the core, the neuron and the limit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.truenorth.cores import cut, make_core, take_axons, take_neurons
from snnc.backends.truenorth.latency import annotate, balance, late_approximation, late_entries
from snnc.backends.truenorth.netlist import Netlist, new_link
from snnc.backends.truenorth.ops import RESET_LINEAR
from snnc.errors import ConstraintViolation
from snnc.ir.graph import Graph, Node
from snnc.passes.approximation import Approximation
from snnc.passes.registry import PassResult, option, register_pass



@dataclass(frozen=True)
class SplitFanInOptions:
    """Whether an approximate fan-in split is allowed."""

    exact: bool = option(False, "refuse a fan-in split (it is approximate) instead of making one")


@register_pass("truenorth-split-fan-in", SplitFanInOptions)
def split_fan_in(graph: Graph, target, options: SplitFanInOptions) -> PassResult:
    """Split neurons whose fan-in exceeds a core's axons into partial sums and a combining neuron."""
    net = Netlist.of(graph)
    limit = target.core.axons
    provenance, stats = {}, {}
    for name in net.core_order():
        op = net.cores[name].op
        fan_in = op.crossbar.sum(axis=0)
        needed = fan_in.max(initial=0) > limit
        if not needed and (options.exact or not _cheaper_split(net, name, target)):
            continue
        if options.exact:
            j = int(fan_in.argmax())
            node = net.cores[name]
            where = f"node '{name}'" + (f" ({node.origin})" if node.origin else "") + f" neuron {j}"
            raise ConstraintViolation(target=target.name, rule="core.axons", where=where,
                                      value=f"{int(fan_in[j])} axons (exact=True refuses the approximate "
                                            f"partial-sum split)", limit=limit)
        provenance[name], stats[name] = _split(net, name, target)
    approximations = [Approximation(name, net.cores[name].origin, "core.axons", _what(s), _why(s, limit))
                      for name, s in stats.items()]
    if stats:
        L = balance(net, target)
        approximations += [late_approximation(late) for late in late_entries(net, L)]
        annotate(net, L)
    summary = {"split": len(stats), "partial_cores": sum(s["groups"] for s in stats.values()),
               "added_latency_ticks": 1 if stats else 0, "per_core": stats}
    return PassResult(net.to_graph(), provenance=provenance, stats=summary, approximations=tuple(approximations))


def _what(s: dict) -> str:
    return (f"sum its input in {s['groups']} partial-sum cores whose neurons send it in quanta of "
            f"{'-'.join(map(str, dict.fromkeys(s['quantum'])))} membrane units, one tick later (the remainder "
            f"waits in the partial neuron)")


def _why(s: dict, limit: int) -> str:
    return (f"a neuron of this layer needs {s['fan_in']} axons, more than a core's {limit} (rule core.axons), "
            f"or splitting its fan-in takes fewer cores than cutting it")


def _cheaper_split(net: Netlist, name: str, target) -> bool:
    """Whether splitting a core whose neurons each fit takes fewer cores than cutting it by
    neurons: many neurons sharing more than core.axons axons cut into tiny chunks, while a
    split needs about Σ_g ceil(partials_g / N) partial cores plus ceil(partials / A) combiners."""
    op = net.cores[name].op
    if len(np.flatnonzero(op.crossbar.any(axis=1))) <= target.core.axons:
        return False
    whole = len(cut(op, np.ones(op.neurons, np.int64), target))
    A, N = target.core.axons, target.core.neurons
    contrib = op.crossbar * op.weight[:, op.axon_type].T
    partials = [int((contrib[rows] > 0).any(axis=0).sum() + (contrib[rows] < 0).any(axis=0).sum())
                for rows in _groups(_input_units(net, name, op.axons), A)]
    split = sum(-(-p // N) for p in partials) + max(-(-sum(partials) // A), -(-op.neurons // N))
    return split < whole


def _input_units(net: Netlist, name: str, n_axons: int) -> list[list[int]]:
    """The core's axons grouped by the input element feeding them, in axon order."""
    key_of = {}
    for link in net.into(name):
        for src, axon in zip(link.source, link.axon):
            key_of.setdefault(int(axon), (link.src, int(src)))
    units: dict[tuple, list[int]] = {}
    for a in range(n_axons):
        units.setdefault(key_of.get(a, ("", a)), []).append(a)
    return sorted(units.values(), key=lambda u: u[0])


def _groups(units: list[list[int]], limit: int) -> list[np.ndarray]:
    groups, cur = [], []
    for u in units:
        if cur and len(cur) + len(u) > limit:
            groups.append(np.array(cur))
            cur = []
        cur += u
    if cur:
        groups.append(np.array(cur))
    return groups


def _split(net: Netlist, name: str, target) -> tuple[tuple[str, ...], dict]:
    node = net.cores[name]
    op = node.op
    groups = _groups(_input_units(net, name, op.axons), target.core.axons)
    w_max = min(-target.formats.weight.lo, target.formats.weight.hi)
    quantum = np.clip(np.ceil(2 * op.alpha / len(groups)), 1, target.formats.alpha.hi).astype(np.int64)
    contrib = op.crossbar * op.weight[:, op.axon_type].T                 # [A, N] signed synapses
    roles = dict(net.mapping.roles)
    comb_axons: list[tuple[int, int]] = []                                 # (neuron j, sign) per combiner axon
    partials = []
    incoming = net.into(name)
    for g, rows in enumerate(groups):
        core, idx, sign = _partial_core(op, rows, contrib, quantum)
        pname = net.fresh(f"{name}.g{g}")
        net.cores[pname] = Node(pname, core, node.origin)
        roles[pname] = "partial"
        partials.append(pname)
        first = len(comb_axons)
        comb_axons += [(int(j), int(s)) for j, s in zip(idx, sign)]
        net.links.append(new_link(pname, name, np.arange(len(idx)), first + np.arange(len(idx)),
                                  target.formats.delay.lo, len(idx), 0, node.origin))
        for link in incoming:
            keep = np.isin(link.axon, rows)
            if keep.any():
                where = {int(a): i for i, a in enumerate(rows)}
                net.links.append(new_link(link.src, pname, link.source[keep], [where[int(a)] for a in link.axon[keep]],
                                          link.delay[keep], link.n_in, len(rows), link.origin, lag=link.lag[keep]))
    gone = {id(link) for link in incoming}
    net.links = [l for l in net.links if id(l) not in gone]
    for l in net.links:
        if l.dst == name:
            l.n_axons = len(comb_axons)
    ratio = np.minimum(1.0, w_max / quantum)
    net.cores[name] = Node(name, _combiner(op, comb_axons, quantum, ratio, target.formats), node.origin)
    roles[name] = "combiner"
    net.mapping = net.mapping.replace(roles=roles)
    stats = {"groups": len(groups), "partial_neurons": len(comb_axons), "combiner_axons": len(comb_axons),
             "fan_in": int(op.crossbar.sum(axis=0).max(initial=0)),
             "quantum": [int(quantum.min()), int(quantum.max())] if quantum.size else [],
             "combiner_scale": [float(ratio.min()), float(ratio.max())] if ratio.size else []}
    return (*partials, name), stats


def _partial_core(op, rows: np.ndarray, contrib: np.ndarray, quantum: np.ndarray):
    """The partial core of one input group: (core, neuron of `op` per partial neuron, its sign).
    A partial+ exists where the group can raise j's membrane, a partial− where it can lower it."""
    pos = np.flatnonzero((contrib[rows] > 0).any(axis=0))
    neg = np.flatnonzero((contrib[rows] < 0).any(axis=0))
    idx = np.concatenate([pos, neg])
    sub = take_neurons(take_axons(op, rows), idx)
    sign = np.concatenate([np.ones(len(pos), np.int64), -np.ones(len(neg), np.int64)])
    q = quantum[idx]
    zero = np.zeros_like(q)
    core = sub.replace(weight=sub.weight * sign[:, None], leak=zero, leak_reversal=zero, stochastic_leak=zero,
                       alpha=q, beta=q, threshold_mask_bits=zero, reset_mode=np.full_like(q, RESET_LINEAR),
                       saturate=np.ones_like(q), reset_value=zero)
    return core, idx, sign


def _combiner(op, comb_axons: list[tuple[int, int]], quantum: np.ndarray, ratio: np.ndarray, f):
    """Neuron j of `op`, its registers scaled by r_j, with axons from its partials: +q_j on type 0,
    −q_j on type 1 (q_j = A_j r_j)."""
    n = op.neurons
    crossbar = np.zeros((len(comb_axons), n), np.int64)
    types = np.zeros(len(comb_axons), np.int64)
    for a, (j, s) in enumerate(comb_axons):
        crossbar[a, j] = 1
        types[a] = 0 if s > 0 else 1
    weight = np.zeros((n, 4), np.int64)
    q = np.maximum(1, np.rint(quantum * ratio)).astype(np.int64)
    weight[:, 0], weight[:, 1] = q, -q
    base = make_core(crossbar, types, weight, membrane_bits=op.membrane_bits, prng_seed=op.prng_seed)
    keep = {k: getattr(op, k) for k in ("leak_reversal", "stochastic_leak", "threshold_mask_bits", "reset_mode",
                                        "saturate")}

    def scaled(v, lo):
        return np.maximum(lo, np.rint(v * ratio)).astype(np.int64)

    return base.replace(**keep, leak=np.clip(scaled(op.leak, f.leak.lo), f.leak.lo, f.leak.hi),
                        alpha=scaled(op.alpha, 1), beta=scaled(op.beta, 0),
                        reset_value=np.clip(scaled(op.reset_value, f.reset_value.lo), f.reset_value.lo,
                                            f.reset_value.hi))
