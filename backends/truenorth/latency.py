"""Latency and delay balancing of a TrueNorth netlist.

Every core has a latency L: its spikes at chip tick t + L are the source model's spikes at
tick t. The host makes an input axon active in the tick it names, so a core fed only by
graph inputs has L = 0; a neuron's spike reaches its destination axon at least one tick
later (`formats.delay.lo`). A route entry of lag k carries the source's spike of source
tick t − k to the destination's tick t (k = 0 for a same-tick chain; feedback through a
recurrent edge and `snn.delay` ops add ticks): sent at chip tick t − k + L(src), it must
arrive at t + L(dst), so its delay is

    d = L(dst) − L(src) + k,        with  d ≥ 0 from the host,  d ≥ delay.lo from a core.

Latencies are the smallest that satisfy every entry: longest paths with edge weight
lo − k (lo = 0 from the host, delay.lo from a core), at least 0. Host nodes (readouts) run
when the latest of their sources arrives (the host holds earlier spikes up to
scheduler_ticks − 1 ticks); a graph output's latency is that of what feeds it. Paths that
joined in one tick of the source model still join in one tick on the chip, whatever
relays, splitters or partial sums a pass put on some of them.

A loop that takes more ticks on the chip than in the source model (a cycle through n
cores with fewer than n ticks of lag: two populations feeding each other through one
recurrent edge) has no such latencies. Then every core takes its latency from the entries
coming from cores before it in the feed-forward order, and an entry that loops back gets
the smallest delay, arriving `late` ticks after the source model's: the one approximation
this module makes (`late_entries` reports it, the passes list it). A delay beyond the
target's range is refused here: `encode` puts relays on such a path first.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from snnc.backends.truenorth.netlist import Link, Netlist
from snnc.backends.truenorth.relay import ROLE, hop
from snnc.errors import ConstraintViolation
from snnc.ir.mapping import Layer
from snnc.passes.approximation import Approximation

LATE_WHY = ("the loop from '{src}' back to '{dst}' takes more ticks on the chip (at least one per core on it) "
            "than the model's, which delivers feedback one tick later per recurrent edge or delay tick")


@dataclasses.dataclass(frozen=True)
class Late:
    """Entries of one route that arrive later than the source model's loop asks."""

    src: str
    dst: str
    entries: int
    ticks: int                   # the largest lateness among them
    origin: str


def _lo(net: Netlist, link: Link, target) -> int:
    """The smallest delay of a link: 0 from the host or to it, delay.lo between cores, and a relay
    chain's hop into a relay (`relay.py`: each stage holds the spike nearly as long as it can)."""
    if net.mapping.roles.get(link.dst) == ROLE:
        return hop(target)
    return target.formats.delay.lo if link.src in net.cores and link.dst in net.cores else 0


def _order(net: Netlist) -> list[str]:
    """Host nodes that feed the chip, cores, the other host nodes, outputs: a topological order of
    everything but feedback."""
    senders, readers = net.host_order()
    return [*senders, *net.core_order(), *readers, *net.outputs]


def _relax(net: Netlist, target, L: dict[str, int], order: list[str], only_earlier: bool) -> bool:
    """One pass of L(dst) ≥ L(src) + lo − k in `order`; whether anything grew. With
    `only_earlier`, entries from a node later in the order (loops back) do not count."""
    rank = {n: i for i, n in enumerate(order)}
    grew = False
    into = {n: [] for n in order}
    for l in net.links:
        into[l.dst].append(l)
    for e in net.host_edges:
        into[e.dst].append(e)
    for n in order:
        best = L.get(n, 0)
        for l in into[n]:
            if only_earlier and l.src in rank and rank[l.src] >= rank[n]:
                continue
            if isinstance(l, Link):
                if len(l.lag):
                    best = max(best, L.get(l.src, 0) + _lo(net, l, target) - int(l.lag.min()))
                else:
                    best = max(best, L.get(l.src, 0) + _lo(net, l, target))
            else:
                best = max(best, L.get(l.src, 0))
        if best != L.get(n, 0):
            L[n], grew = best, True
    return grew


def latencies(net: Netlist, target) -> dict[str, int]:
    """The smallest latencies satisfying every entry, or, when a loop is too long on the chip,
    those of the feed-forward entries (module docstring)."""
    order = _order(net)
    L: dict[str, int] = {n: 0 for n in (*net.inputs, *order)}
    loops = len(net.feedback())
    for _ in range(loops + 1):
        if not _relax(net, target, L, order, only_earlier=False):
            return L
    L = {n: 0 for n in (*net.inputs, *order)}
    _relax(net, target, L, order, only_earlier=True)
    return L


def balance(net: Netlist, target) -> dict[str, int]:
    """Set every route's delays from the latencies; return the latency of every core, host node and
    output. Entries that loop back too late get the smallest delay (`late_entries` lists them)."""
    L = latencies(net, target)
    hi, host_hi = target.formats.delay.hi, target.core.scheduler_ticks - 1
    for link in net.links:
        lo = _lo(net, link, target)
        d = L[link.dst] - L[link.src] + link.lag
        top = hi if lo else host_hi
        if d.size and d.max() > top:
            raise ConstraintViolation(target=target.name, rule="formats.delay",
                                      where=f"route {link.src} -> {link.dst}",
                                      value=f"a balancing delay of {int(d.max())} ticks", limit=top)
        link.delay = np.maximum(d, lo).astype(np.int64)
    return L


def late_entries(net: Netlist, L: dict[str, int]) -> list[Late]:
    """Routes whose entries arrive later than their lag asks (after `balance`)."""
    out = []
    for l in net.links:
        late = l.delay - (L[l.dst] - L[l.src] + l.lag)
        if np.any(late > 0):
            out.append(Late(l.src, l.dst, int(np.count_nonzero(late > 0)), int(late.max()), l.origin))
    return out


def late_approximation(late: Late) -> Approximation:
    """The approximation a late route makes (rule formats.delay: a delay is at least delay.lo)."""
    what = (f"{late.entries} feedback entr{'y' if late.entries == 1 else 'ies'} from '{late.src}' arrive "
            f"{late.ticks} tick(s) after the model's loop delivers them")
    return Approximation(late.dst, late.origin, "formats.delay", what, LATE_WHY.format(src=late.src, dst=late.dst))


def annotate(net: Netlist, L: dict[str, int]) -> None:
    """Write the latencies into the netlist's mapping record: every core's and host node's
    (`latency`), and every output's and every layer's (that of the cores holding its neurons,
    from `parts`), which `snnc.simulate` shifts outputs back by. Lags are re-derived from it."""
    m = net.mapping
    outputs = {name: dataclasses.replace(entry, latency=max(L[p.node] for p in entry.parts))
               for name, entry in m.outputs.items()}
    layers: dict[str, Layer] = {}
    for core, part in m.parts.items():
        old = m.layers.get(part.population, Layer())
        now = layers.get(part.population)
        latency = max(L[core], now.latency) if now else L[core]
        layers[part.population] = dataclasses.replace(old, latency=latency)
    net.mapping = m.replace(outputs=outputs, layers=layers,
                            latency={n: L[n] for n in (*net.cores, *net.host)})
