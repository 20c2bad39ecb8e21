"""Delays beyond the chip's range: relay chains that copy spikes, tick for tick.

A route entry must arrive d = L(dst) − L(src) + k ticks after its spike (`latency.py`); a
destination axon holds at most `formats.delay.hi` ticks (the scheduler), and the host at most
`core.scheduler_ticks − 1`. An entry with a longer d goes through m = ceil(d / h) − 1 relay
neurons instead, h = hop(target) = delay.hi − SLACK: each relay has one axon (type 0, weight
1), threshold α = 1 and resets to 0, so it fires exactly in the tick its spike arrives; it is
entered h ticks after the previous stage fired (links into a relay core have the smallest
delay h, `latency._lo`), and the last stage sends with the rest, d − m · h ∈ [1, h]: SLACK
ticks below the range, for the ticks later passes may add to the destination's latency (a
fan-in split, a splitter). Stage j of a chain from S runs at latency L(S) + j · h. Exact:
relays copy spikes. The entries of one link that need
the same number of stages share the stages' cores (one relay per entry per stage), in role
`relay`; `truenorth-partition` cuts and copies them like any core.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.truenorth.cores import make_core
from snnc.backends.truenorth.netlist import Link, Netlist, new_link
from snnc.ir.graph import Node

ROLE = "relay"
SLACK = 2


def hop(target) -> int:
    """Ticks between two stages of a relay chain."""
    return max(1, target.formats.delay.hi - SLACK)


def relay_core(n: int, membrane_bits: int):
    """n relays: axon i reaches neuron i with weight 1; α = 1, reset to 0, floor 0."""
    weight = np.zeros((n, 4), np.int64)
    weight[:, 0] = 1
    return make_core(np.eye(n, dtype=np.int64), np.zeros(n, np.int64), weight, alpha=1, beta=0, reset_mode=0,
                     saturate=1, reset_value=0, membrane_bits=membrane_bits)


def relay_long_delays(net: Netlist, L: dict[str, int], target) -> dict:
    """Replace every entry whose delay would exceed the range by a relay chain; return statistics."""
    h = hop(target)
    top = {True: target.formats.delay.hi, False: target.core.scheduler_ticks - 1}
    roles = dict(net.mapping.roles)
    made, relays = [], 0
    for link in list(net.links):
        d = L[link.dst] - L[link.src] + link.lag
        long = d > top[link.src in net.cores]
        if not long.any():
            continue
        stages = np.where(long, -(-d // h) - 1, 0)
        for m in np.unique(stages[long]):
            pick = stages == m
            made += _chain(net, link, pick, int(m), target, roles)
            relays += int(m) * int(pick.sum())
        keep = ~long
        link.source, link.axon, link.delay, link.lag = (a[keep] for a in (link.source, link.axon, link.delay,
                                                                            link.lag))
        if not keep.any():                       # the chain's last stage feeds the destination now
            net.links.remove(link)
    net.mapping = net.mapping.replace(roles=roles)
    return {"relay_cores": len(made), "relay_neurons": relays}


def _chain(net: Netlist, link: Link, pick: np.ndarray, m: int, target, roles: dict) -> list[str]:
    """m relay stages for the picked entries of `link`; the last one sends to its destination."""
    n = int(pick.sum())
    src, source = link.src, link.source[pick]
    n_in = link.n_in
    names = []
    for j in range(1, m + 1):
        name = net.fresh(f"{link.src}.relay{j}.{link.dst}")
        net.cores[name] = Node(name, relay_core(n, target.formats.membrane_bits), link.origin)
        roles[name] = ROLE
        net.links.append(new_link(src, name, source, np.arange(n), 0, n_in, n, link.origin))
        src, source, n_in = name, np.arange(n), n
        names.append(name)
    net.links.append(new_link(src, link.dst, source, link.axon[pick], 0, n, link.n_axons, link.origin,
                              lag=link.lag[pick]))
    return names
