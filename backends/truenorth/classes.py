"""Which neurons of a region compute the same spikes, and the work that is left (region.py).

A mapped network repeats work: an input reaches D axons of D types (weight factorisation),
a neuron is copied for fan-out, and a partial-sum neuron comes as a ± pair. Bit for bit:

  * Folding. Axons of one core whose entries are the same (signal, delay) are active
    together, so neuron j's synaptic input is Σ over distinct (σ, d) of [σ[t − d] ≠ 0] ·
    F[(σ, d), j], with F the sum of w_ij · s_j^{G_i} over those axons.
  * Classes. Two deterministic neurons with equal registers (leak, reversal, α, β, reset
    mode and value, κ, membrane bits) and equal folded columns over signals that are
    themselves equal have equal V at every tick (both start at 0), so equal spikes. The
    coarsest such partition is computed by refinement (one pass in core order when the region
    has no recurrent edge; else from the partition by registers until it is stable): a
    signal's class is its neuron's class.
  * Stages (stages.py). A class runs after the classes it reads with delay 0.

The refinement runs on 64-bit hashes (rows.py); the folded columns of the result are then
compared exactly with their class's first neuron, and a mismatch (a hash collision) reruns
the refinement on exact signatures. Everything here depends on the graph alone, so it is
computed once per graph (Graph.derived).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.truenorth import rows as R
from snnc.backends.truenorth.region import Wiring

REGISTERS = ("leak", "leak_reversal", "alpha", "beta", "reset_mode", "saturate", "reset_value")


@dataclass
class Classes:
    """`of[n]`: the class of region neuron n (signal n_in + n); classes numbered in order of first
    neuron, and the first neuron of each (`first`); registers [n_classes, len(REGISTERS) + 1]
    (the last column: membrane bits); the folded column of each class as CSR rows (`ptr`,
    `keys`, `vals`), a key being signal class · span + delay (signal classes: the inputs, then
    n_in + class), in increasing key order."""

    n_in: int
    of: np.ndarray
    first: np.ndarray
    registers: np.ndarray
    ptr: np.ndarray
    keys: np.ndarray
    vals: np.ndarray
    span: int

    def __len__(self) -> int:
        return len(self.first)


class _Cores:
    """The region's cores as the analysis reads them: each one's weights by axon and entries."""

    def __init__(self, graph, w: Wiring):
        self.ops = [graph.op(c) for c in w.cores]
        self.entries = [w.entries[c] for c in w.cores]
        self.n_in = w.core_offset[w.cores[0]] if w.cores else w.n_signals
        self.starts = [w.core_offset[c] - self.n_in for c in w.cores]
        self.span = 1 + max((int(e[2].max(initial=0)) for e in self.entries), default=0)
        self.acyclic = w.acyclic

    def weights(self, k: int) -> np.ndarray:
        """w_ij · s_j^{G_i} [axons with an entry, N] of core k."""
        op, axon = self.ops[k], self.entries[k][0]
        return (op.crossbar[axon] * op.weight[:, op.axon_type[axon]].T).astype(np.int64)

    def keys(self, k: int, signal_class: np.ndarray) -> np.ndarray:
        """The key (signal class · span + delay) of each entry of core k."""
        _, signal, delay = self.entries[k]
        return signal_class[signal] * self.span + delay

    def spans(self):
        for k, op in enumerate(self.ops):
            yield k, self.starts[k], self.starts[k] + op.neurons


def neuron_classes(graph, w: Wiring) -> Classes:
    cores = _Cores(graph, w)
    regs = np.concatenate([np.stack([*(getattr(op, f) for f in REGISTERS), np.full(op.neurons, op.membrane_bits)], 1)
                           for op in cores.ops]) if cores.ops else np.zeros((0, len(REGISTERS) + 1), np.int64)
    tags = R.mix(regs[:, 0], 1)
    for col in range(1, regs.shape[1]):
        tags = R.mix(tags ^ R.mix(regs[:, col], col + 1))
    of, first = R.first_of_each(_hashed(cores, tags) if len(tags) else tags)
    checked = _columns(cores, of, first, regs)
    if checked is None:                                 # a hash collision: redo it exactly
        of, first = R.first_of_each(_exact(cores, np.unique(regs, axis=0, return_inverse=True)[1].ravel()))
        checked = _columns(cores, of, first, regs)
    return Classes(cores.n_in, of, first, regs[first], *checked, cores.span)


def _hashed(cores: _Cores, tags: np.ndarray) -> np.ndarray:
    """A class hash per neuron: its registers' and its synaptic column's, over the hashes of the
    signals it reads (inputs: their number), refined until the partition is stable."""
    n_in, h = cores.n_in, tags.copy()
    while True:
        sig = np.concatenate([R.mix(np.arange(n_in), 99), h])
        new = h.copy() if cores.acyclic else np.empty_like(h)
        for k, a, b in cores.spans():               # acyclic: sources come first, hashed in this pass
            keys = R.mix(sig[cores.entries[k][1]]) ^ R.mix(cores.entries[k][2], 7)
            col = R.linear_hash(cores.weights(k), keys)
            new[a:b] = R.mix(col ^ (tags[a:b] if cores.acyclic else h[a:b]), 3)
            if cores.acyclic:
                sig[n_in + a:n_in + b] = new[a:b]
        if cores.acyclic or len(np.unique(new)) == len(np.unique(h)):
            return new
        h = new


def _exact(cores: _Cores, by_regs: np.ndarray) -> np.ndarray:
    """The same refinement on exact signatures (slow: the fallback after a hash collision)."""
    of = R.first_of_each(by_regs)[0]
    while True:
        table: dict = {}
        cls = np.concatenate([np.arange(cores.n_in), cores.n_in + of])
        new = np.empty_like(of)
        for k, a, b in cores.spans():
            keys, f = _fold(cores, k, cls)
            for j in range(b - a):
                nz = np.flatnonzero(f[:, j])
                new[a + j] = table.setdefault((int(of[a + j]), keys[nz].tobytes(), f[nz, j].tobytes()), len(table))
        new = R.first_of_each(new)[0]
        if np.array_equal(new, of):
            return of
        of = new


def _fold(cores: _Cores, k: int, signal_class: np.ndarray):
    """(distinct keys ascending, F [keys, N]) of core k: the weights of axons with equal keys summed."""
    keys = cores.keys(k, signal_class)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    w = cores.weights(k)[order]
    return keys[starts], (np.add.reduceat(w, starts, axis=0) if len(keys) else w)


def _core_columns(cores: _Cores, k: int, cls: np.ndarray):
    """Core k's neurons' folded columns as CSR rows (ptr, keys, vals), one row per neuron."""
    fk, f = _fold(cores, k, cls)
    col, row = np.nonzero(f.T)                         # by neuron, keys ascending
    ptr = np.concatenate([[0], np.cumsum(np.bincount(col, minlength=f.shape[1]))])
    return ptr, fk[row], f[row, col]


def _columns(cores: _Cores, of, first, regs):
    """(ptr, keys, vals) of every class's folded column under the final classes, checking that
    every neuron has its class's registers and column; None when one does not."""
    if not np.array_equal(regs, regs[first][of]):
        return None
    cls = np.concatenate([np.arange(cores.n_in), cores.n_in + of])
    lengths, keys, vals = [], [], []
    for k, a, b in cores.spans():                      # classes in order of their first neuron
        cp, ck, cv = _core_columns(cores, k, cls)
        mine = first[(first >= a) & (first < b)] - a
        take, _ = R.entries(cp, mine)
        lengths.append(cp[mine + 1] - cp[mine])
        keys.append(ck[take])
        vals.append(cv[take])
    cat = lambda v: np.concatenate(v) if v else np.zeros(0, np.int64)  # noqa: E731
    ptr, keys, vals = np.concatenate([[0], np.cumsum(cat(lengths))]).astype(np.int64), cat(keys), cat(vals)
    for k, a, b in cores.spans():
        cp, ck, cv = _core_columns(cores, k, cls)
        if not R.same(cp, ck, cv, np.arange(b - a), ptr, keys, vals, of[a:b]):
            return None
    return ptr, keys, vals
