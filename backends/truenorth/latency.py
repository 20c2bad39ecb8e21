"""Latency and delay balancing of a TrueNorth netlist.

Every core has a latency L: its spikes at chip tick t + L are the source model's spikes at
tick t. The host makes an input axon active in the tick it names, so a core fed only by
graph inputs has L = 0; a neuron's spike reaches its destination axon at least one tick
later (`formats.delay.lo`), so

    L(core) = max over its incoming routes of  L(source) + (0 for the host, delay.lo for a core)

and every route's delay is then L(destination) − L(source): paths that joined in one tick
of the source model join in one tick on the chip, whatever relays, splitters or partial
sums a pass put on some of them. A graph output's latency is that of the cores feeding it
(off-chip outputs carry no delay). A delay outside the target's range is refused.
"""
from __future__ import annotations

import dataclasses

from snnc.backends.truenorth.netlist import Netlist
from snnc.errors import ConstraintViolation
from snnc.ir.mapping import Layer


def balance(net: Netlist, target) -> dict[str, int]:
    """Set every route's delays from the latencies; return the latency of every core and output."""
    lo, hi = target.formats.delay.lo, target.formats.delay.hi
    host_hi = target.core.scheduler_ticks - 1
    L: dict[str, int] = {name: 0 for name in net.inputs}
    for core in net.core_order():
        ins = net.into(core)
        L[core] = max((L[l.src] + (0 if l.src in net.inputs else lo) for l in ins), default=0)
    for out in net.outputs:
        L[out] = max((L[l.src] for l in net.into(out)), default=0)
    for link in net.links:
        d = L[link.dst] - L[link.src]
        if link.dst in net.outputs:
            allowed = (0, host_hi)
        elif link.src in net.inputs:
            allowed = (0, host_hi)
        else:
            allowed = (lo, hi)
        if not allowed[0] <= d <= allowed[1]:
            raise ConstraintViolation(target=target.name, rule="formats.delay",
                                      where=f"route {link.src} -> {link.dst}",
                                      value=f"a balancing delay of {d} ticks", limit=allowed[1])
        link.delay = link.delay * 0 + d
    return L


def annotate(net: Netlist, L: dict[str, int]) -> None:
    """Write the latencies into the netlist's mapping record: every core's (`latency`), and every
    output's and every layer's (that of the cores holding its neurons, from `parts`), which
    `snnc.simulate` shifts outputs back by."""
    m = net.mapping
    outputs = {name: dataclasses.replace(entry, latency=max(L[p.node] for p in entry.parts))
               for name, entry in m.outputs.items()}
    layers: dict[str, Layer] = {}
    for core, part in m.parts.items():
        old = layers.get(part.population, Layer()).latency
        layers[part.population] = Layer(max(L[core], old))
    net.mapping = m.replace(outputs=outputs, layers=layers, latency={core: L[core] for core in net.cores})
