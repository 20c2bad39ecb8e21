"""The partitioning problem every family poses: neurons, the nets that connect them, per-core limits.

A family describes its lowered network as

    groups       populations of neurons the cores hold (`placed`), and host inputs (not placed),
                 each with its size, its source shape when known (channels first) and a
                 spike rate per neuron (spikes per tick)
    projections  one per synapse node: which destination neurons each source neuron reaches
                 (a CSC pattern, one column per source neuron), whether the chip stores it
                 dense (every row of the destination part per input axon) or sparse, and the
                 synapse-memory cost of one input axon by its number of synapses (a table)
    limits       what one core holds: neurons, input axons, output axons, synapse bits
                 (None where a family has no such limit)

From these it derives the hypergraph the partitioners work on. A *net* is one (projection,
source neuron) pair with at least one synapse: its pins are the destination neurons; on the
chip it is one input axon on every core that holds a pin, and one output axon of its source
for each such core. Traffic is counted per source neuron over the union of its nets (one
hyperedge per source neuron): a spike travels once to every other core holding one of its
destinations, so a source neuron of rate r whose destinations lie on cores D, itself on core
c, costs r · |D \\ {c}| messages per tick (a host input: r · |D|).

Vertex numbering: placed groups in order, neurons in order (`base[g] + i`). Sources are the
vertices followed by the host inputs' elements (`source id`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

RESOURCES = ("neurons", "input_axons", "output_axons", "synapse_bits")


def distinct(a: np.ndarray, *, counts: bool = False, inverse: bool = False):
    """`np.unique` by sorting (numpy's hash-based unique is slow on large integer keys):
    the sorted distinct values, and optionally how often each occurs and where each entry went."""
    a = np.asarray(a)
    order = np.argsort(a, kind="stable") if inverse else None
    s = a[order] if inverse else np.sort(a, kind="stable")
    head = np.ones(len(s), bool)
    head[1:] = s[1:] != s[:-1]
    out = [s[head]]
    if counts:
        out.append(np.diff(np.r_[np.flatnonzero(head), len(s)]))
    if inverse:
        inv = np.empty(len(a), np.int64)
        inv[order] = np.cumsum(head) - 1
        out.append(inv)
    return out[0] if len(out) == 1 else tuple(out)


@dataclass(frozen=True)
class Group:
    """A population (placed on cores) or a host input (not placed)."""

    name: str
    size: int
    rate: np.ndarray                    # spikes per tick, per neuron
    shape: tuple[int, ...] = ()         # source shape, channels first; () when not known
    placed: bool = True
    whole: bool = False                 # must sit on one core (e.g. the host writes it directly)


@dataclass(frozen=True)
class Projection:
    """The nonzero pattern of one synapse node, by source neuron (CSC)."""

    name: str
    src: int                            # group index
    dst: int                            # group index (placed)
    colptr: np.ndarray                  # [n_src + 1]
    rows: np.ndarray                    # destination neuron of each synapse, distinct within a column
    dense: bool                         # stored dense: an axon holds every row of its destination part
    lut: np.ndarray                     # synapse bits of one input axon by its synapse (dense: row) count

    @staticmethod
    def from_pairs(name, src, dst, n_src, rows, cols, *, dense, lut) -> "Projection":
        """From (destination row, source column) pairs; duplicates count once."""
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        key = distinct(cols * (int(rows.max(initial=0)) + 1) + rows)
        span = int(rows.max(initial=0)) + 1
        c, r = key // span, key % span
        colptr = np.zeros(n_src + 1, np.int64)
        np.cumsum(np.bincount(c, minlength=n_src), out=colptr[1:])
        return Projection(name, src, dst, colptr, r.astype(np.int64), dense, np.asarray(lut, np.int64))


@dataclass(frozen=True)
class Limits:
    """Per-core limits (None: the family has no such limit)."""

    neurons: int | None = None
    input_axons: int | None = None
    output_axons: int | None = None
    synapse_bits: int | None = None

    def vector(self) -> np.ndarray:
        return np.array([math.inf if getattr(self, r) is None else getattr(self, r) for r in RESOURCES])


@dataclass
class Problem:
    """A network to cut onto cores (module docstring). Derived index arrays are built once."""

    groups: list[Group]
    projections: list[Projection]
    limits: Limits
    slots: np.ndarray | None = None     # neurons resource per vertex (default 1)
    base: np.ndarray = field(init=False)
    n: int = field(init=False)

    def __post_init__(self):
        placed = [g.size if g.placed else 0 for g in self.groups]
        self.base = np.concatenate([[0], np.cumsum(placed)]).astype(np.int64)
        self.n = int(self.base[-1])
        if self.slots is None:
            self.slots = np.ones(self.n, np.int64)
        host = [g.size if not g.placed else 0 for g in self.groups]
        self.host_base = self.n + np.concatenate([[0], np.cumsum(host)]).astype(np.int64)
        self.n_sources = int(self.host_base[-1])
        self.group_of = np.repeat(np.arange(len(self.groups)), placed).astype(np.int64)
        self.rate = np.concatenate([np.asarray(g.rate, np.float64) for g in self.groups if g.placed]
                                   + [np.asarray(g.rate, np.float64) for g in self.groups if not g.placed]
                                   + [np.zeros(0)])
        self._nets()

    # -- ids --------------------------------------------------------------------------------------
    def source_id(self, group: int, index: np.ndarray) -> np.ndarray:
        g = self.groups[group]
        return (self.base[group] if g.placed else self.host_base[group]) + np.asarray(index, np.int64)

    def vertices(self, group: int) -> np.ndarray:
        return np.arange(self.base[group], self.base[group] + self.groups[group].size, dtype=np.int64)

    # -- derived nets -----------------------------------------------------------------------------
    def _nets(self) -> None:
        srcs, pins, ptr, proj, luts = [], [], [0], [], [0]
        for k, p in enumerate(self.projections):
            counts = np.diff(p.colptr)
            cols = np.flatnonzero(counts)
            srcs.append(self.source_id(p.src, cols))
            proj.append(np.full(len(cols), k, np.int64))
            pins.append(self.base[p.dst] + p.rows)
            ptr.append(counts[cols])
            luts.append(len(p.lut))
        self.net_src = np.concatenate(srcs + [np.zeros(0, np.int64)])
        self.net_proj = np.concatenate(proj + [np.zeros(0, np.int64)])
        self.pin_v = np.concatenate(pins + [np.zeros(0, np.int64)])
        self.pin_ptr = np.concatenate([[0], np.cumsum(np.concatenate(ptr[1:] + [np.zeros(0, np.int64)]))])
        self.n_nets = len(self.net_src)
        self.pin_net = np.repeat(np.arange(self.n_nets), np.diff(self.pin_ptr))
        self.lut_off = np.cumsum(luts)[:-1].astype(np.int64)
        self.lut = np.concatenate([p.lut for p in self.projections] + [np.zeros(1, np.int64)])
        self.proj_dense = np.array([p.dense for p in self.projections], bool)
        self.proj_dst = np.array([p.dst for p in self.projections], np.int64)
        order = np.argsort(self.pin_v, kind="stable")                 # vertex -> its in-nets
        self.vin_net = self.pin_net[order]
        self.vin_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.pin_v, minlength=self.n))]).astype(np.int64)
        order = np.argsort(self.net_src, kind="stable")               # source -> its out-nets
        self.sout_net = order.astype(np.int64)
        self.sout_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.net_src, minlength=self.n_sources))])
        self.placed_src = self.net_src < self.n
        self.dense_in = [np.flatnonzero(self.proj_dense & (self.proj_dst == g)) for g in range(len(self.groups))]

    def in_nets(self, v: int) -> np.ndarray:
        return self.vin_net[self.vin_ptr[v]:self.vin_ptr[v + 1]]

    def out_nets(self, s: int) -> np.ndarray:
        return self.sout_net[self.sout_ptr[s]:self.sout_ptr[s + 1]]

    @property
    def synapses(self) -> int:
        return len(self.pin_v)

    def lower_bound(self) -> dict:
        """Cores no partition can do without, per resource (each resource on its own).

        Synapse bits: however a net's synapses are split over cores, pieces of k synapses cost
        lut[k] >= k · min_k(lut[k] / k), so its synapses times that cheapest rate is a bound
        (a dense part stores at least its nonzero rows). Every net is at least one input axon
        and one output axon."""
        lim = self.limits
        fan = np.diff(self.pin_ptr).astype(np.float64)
        rho = np.array([float(np.min(p.lut[1:] / np.arange(1, len(p.lut)))) if len(p.lut) > 1 else 0.0
                        for p in self.projections] + [0.0])
        need = {"neurons": float(self.slots.sum()), "input_axons": float(self.n_nets),
                "output_axons": float(self.placed_src.sum()),
                "synapse_bits": float((fan * rho[self.net_proj]).sum()) if self.n_nets else 0.0}
        out = {r: int(math.ceil(need[r] / getattr(lim, r))) if getattr(lim, r) else 0 for r in RESOURCES}
        out["cores"] = max(1, *out.values())
        return out
