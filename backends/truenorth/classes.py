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
  * Stages. A class runs after the classes it reads with delay 0 (a stage per longest chain
    of such reads); each stage's synaptic sums are one matrix of (class, delay) rows by
    classes, whose equal or negated columns are computed once (`col_of`, `sign`).

Everything here depends on the graph alone, so it is computed once per graph (Graph.derived).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.truenorth.region import Wiring

REGISTERS = ("leak", "leak_reversal", "alpha", "beta", "reset_mode", "saturate", "reset_value")


@dataclass
class Classes:
    """`of[n]`: the class of region neuron n (signal n_in + n); classes numbered in order of first
    neuron, and the first neuron of each (`first`); registers [n_classes, len(REGISTERS) + 1]
    (the last column: membrane bits); `rows[u]` = (signal-class keys, folded weights) of class u,
    a key being signal class · span + delay (signal classes: the inputs, then n_in + class)."""

    n_in: int
    of: np.ndarray
    first: np.ndarray
    registers: np.ndarray
    rows: list[tuple[np.ndarray, np.ndarray]]
    span: int


def neuron_classes(graph, w: Wiring) -> Classes:
    cores = [(c, graph.op(c)) for c in w.cores]
    n_in = w.core_offset[w.cores[0]] if w.cores else w.n_signals
    regs = np.concatenate([np.stack([*(getattr(op, f) for f in REGISTERS), np.full(op.neurons, op.membrane_bits)], 1)
                           for _, op in cores])
    _, by_regs = np.unique(regs, axis=0, return_inverse=True)
    span = 1 + max((int(w.entries[c][2].max(initial=0)) for c in w.cores), default=0)
    folded = [_folded(op, *w.entries[c]) for c, op in cores]
    starts = [w.core_offset[c] - n_in for c in w.cores]
    if w.acyclic:
        of = _one_pass(folded, starts, by_regs.ravel(), n_in, span)
    else:
        of = _refined(folded, starts, by_regs.ravel(), n_in, span)
    first = np.unique(of, return_index=True)[1]
    rows = _class_rows(folded, starts, of, first, n_in, span)
    return Classes(n_in, of, first, regs[first], rows, span)


def _folded(op, axon, signal, delay):
    """(signal and delay of each distinct entry, F [entries, N]): axons with equal entries summed."""
    w = (op.crossbar[axon] * op.weight[:, op.axon_type[axon]].T).astype(np.int64)
    pairs, inv = np.unique(np.stack([signal, delay], 1), axis=0, return_inverse=True)
    f = np.zeros((len(pairs), op.neurons), np.int64)
    np.add.at(f, inv.ravel(), w)
    return pairs[:, 0], pairs[:, 1], f


def _columns(fold, cls_of_signal, span):
    """(keys sorted, F with rows in key order) of one core under the current signal classes."""
    signal, delay, f = fold
    keys = cls_of_signal[signal] * span + delay
    uniq, inv = np.unique(keys, return_inverse=True)
    if len(uniq) == len(keys):
        order = np.argsort(keys, kind="stable")
        return keys[order], f[order]
    g = np.zeros((len(uniq), f.shape[1]), np.int64)
    np.add.at(g, inv.ravel(), f)
    return uniq, g


def _signature_ids(keys, f, tag, table: dict) -> np.ndarray:
    """A class id per column of f: equal (tag, nonzero keys, weights) share one id in `table`."""
    mat = np.concatenate([tag[:, None], f.T], axis=1)
    uniq, inv = np.unique(mat, axis=0, return_inverse=True)
    ids = np.empty(len(uniq), np.int64)
    for k, row in enumerate(uniq):
        nz = np.flatnonzero(row[1:])
        ids[k] = table.setdefault((int(row[0]), keys[nz].tobytes(), row[1:][nz].tobytes()), len(table))
    return ids[inv.ravel()]


def _signal_classes(of, n_in):
    return np.concatenate([np.arange(n_in), n_in + of])


def _one_pass(folded, starts, by_regs, n_in, span):
    """Classes of an acyclic region: each core's sources are classed before it."""
    of = np.zeros(len(by_regs), np.int64)
    cls_sig = _signal_classes(of, n_in)
    table: dict = {}
    for fold, a in zip(folded, starts):
        n = fold[2].shape[1]
        keys, f = _columns(fold, cls_sig, span)
        ids = _signature_ids(keys, f, by_regs[a:a + n], table)
        of[a:a + n] = ids
        cls_sig[n_in + a:n_in + a + n] = n_in + ids
    return _by_first(of)


def _refined(folded, starts, by_regs, n_in, span):
    """Classes of a region with feedback: refine the partition by registers until it is stable."""
    of = _by_first(by_regs)
    while True:
        cls_sig, table = _signal_classes(of, n_in), {}
        new = np.empty_like(of)
        for fold, a in zip(folded, starts):
            n = fold[2].shape[1]
            keys, f = _columns(fold, cls_sig, span)
            new[a:a + n] = _signature_ids(keys, f, of[a:a + n], table)
        new = _by_first(new)
        if np.array_equal(new, of):
            return of
        of = new


def _by_first(ids):
    """Ids renumbered in order of first occurrence."""
    _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inv.ravel()]


def _class_rows(folded, starts, of, first, n_in, span):
    """(keys, weights) of each class's folded column, under the final classes."""
    cls_sig = _signal_classes(of, n_in)
    rows = [None] * len(first)
    where = np.searchsorted(np.asarray(starts), first, side="right") - 1
    for c in np.unique(where):
        keys, f = _columns(folded[c], cls_sig, span)
        for u in np.flatnonzero(where == c):
            col = f[:, first[u] - starts[c]]
            nz = np.flatnonzero(col)
            rows[u] = (keys[nz], col[nz])
    return rows
