"""When each population runs on the chip, and the synaptic delay of every term that feeds it.

A Loihi synapse delivers a spike one tick after it leaves its neuron, plus its delay d. So a
population P runs L_P ticks after the source model (source tick t is chip tick t + L_P);
graph inputs and the always-on bias neuron have latency 0. A term y_S[t − k] of P's input
(k = 0 for a same-tick chain, one per recurrent edge, plus the ticks of `snn.delay` ops)
needs the chip's y_S of source tick t − k, sent at chip tick t − k + L_S, to arrive at chip
tick t + L_P: d = L_P − 1 − L_S + k ≥ 0. Latencies are the smallest that satisfy every
term (longest paths with edge weight 1 − k, at least 1). A loop whose chip path is longer
than the model's (a cycle through n populations with fewer than n ticks of recurrent edges
and delays) has no such latencies: then every population takes its latency from the terms
that come from before it in schedule order, and a term that loops back arrives −d ticks
late (delay 0) — the one approximation of this module.

Delays beyond the target's range are relayed: relay population j of a binary source S (one
compartment per neuron, firing exactly when its input spike arrives) runs at latency
L_S + j (1 + d_max), each relay fed by the previous one with delay d_max; a term then reads
the first relay j with d − j (1 + d_max) ≤ d_max. This is exact: relays copy spikes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

Term = tuple[str, str, int]          # (population, source, lag k)


@dataclass
class Timing:
    """Latency of every population and, per term, its delay and how many ticks late it arrives."""

    latency: dict[str, int]
    delay: dict[Term, int] = field(default_factory=dict)
    late: dict[Term, int] = field(default_factory=dict)      # loop terms that arrive late, by ticks


def plan(order: list[str], terms: dict[str, list[tuple[str, int]]], fixed: dict[str, int]) -> Timing:
    """Latencies for populations `order` (schedule order) fed by `terms[P]` = [(source, lag)], with the
    latencies of the other sources (graph inputs, the bias neuron) in `fixed`."""
    latency = _longest_paths(order, terms, fixed)
    exact = latency is not None
    if not exact:
        latency = _in_schedule_order(order, terms, fixed)
    timing = Timing(latency)
    known = {**fixed, **latency}
    for p in order:
        for src, lag in terms[p]:
            d = latency[p] - 1 - known[src] + lag
            timing.delay[(p, src, lag)] = max(d, 0)
            if d < 0:
                timing.late[(p, src, lag)] = -d
    return timing


def _longest_paths(order, terms, fixed) -> dict[str, int] | None:
    """L_P = max(1, max over terms (L_S + 1 − k)); None when a loop makes it grow without bound."""
    latency = {p: 1 for p in order}
    for _ in range(len(order) + 1):
        changed = False
        for p in order:
            want = max([1] + [{**fixed, **latency}[s] + 1 - k for s, k in terms[p]])
            if want > latency[p]:
                latency[p], changed = want, True
        if not changed:
            return latency
    return None


def _in_schedule_order(order, terms, fixed) -> dict[str, int]:
    """Latencies from the terms whose source comes earlier (a loop's back edge is left out)."""
    latency: dict[str, int] = {}
    for p in order:
        known = {**fixed, **latency}
        latency[p] = max([1] + [known[s] + 1 - k for s, k in terms[p] if s in known])
    return latency


@dataclass(frozen=True)
class Hop:
    """How one term reaches its population: from relay `relay` of its source (0: the source itself)
    with synaptic delay `delay`."""

    relay: int
    delay: int


def hop(d: int, d_max: int) -> Hop:
    """The fewest relays for a delay of d ticks when one synapse holds at most d_max."""
    if d <= d_max:
        return Hop(0, d)
    j = -(-(d - d_max) // (d_max + 1))
    return Hop(j, d - j * (d_max + 1))


def relays_needed(hops: Iterable[tuple[str, Hop]]) -> dict[str, int]:
    """Per source, the length of the relay chain its terms need."""
    out: dict[str, int] = {}
    for src, h in hops:
        if h.relay:
            out[src] = max(out.get(src, 0), h.relay)
    return out
