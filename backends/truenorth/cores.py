"""Building, slicing and combining `truenorth.core` ops (helpers of the passes)."""
from __future__ import annotations

import numpy as np

from snnc.backends.truenorth.ops import AXON_TYPES, RESET_NORMAL, Core

NEURON_FIELDS = ("leak", "leak_reversal", "stochastic_leak", "alpha", "beta", "threshold_mask_bits",
                 "reset_mode", "saturate", "reset_value")
ROW_FIELDS = ("weight", "stochastic_weight")       # [N, 4] per neuron


def make_core(crossbar, axon_type, weight, *, leak=0, leak_reversal=0, alpha=1, beta=0, reset_mode=RESET_NORMAL,
              saturate=1, reset_value=0, membrane_bits: int, prng_seed: int = 0) -> Core:
    """A deterministic core; per-neuron scalars broadcast to [N]."""
    crossbar = np.asarray(crossbar, np.int64)
    n = crossbar.shape[1]

    def per_neuron(v):
        return np.broadcast_to(np.asarray(v, np.int64), (n,)).copy()

    return Core(crossbar=crossbar, axon_type=np.asarray(axon_type, np.int64),
                weight=np.asarray(weight, np.int64).reshape(n, AXON_TYPES),
                stochastic_weight=np.zeros((n, AXON_TYPES), np.int64), leak=per_neuron(leak),
                leak_reversal=per_neuron(leak_reversal), stochastic_leak=per_neuron(0), alpha=per_neuron(alpha),
                beta=per_neuron(beta), threshold_mask_bits=per_neuron(0), reset_mode=per_neuron(reset_mode),
                saturate=per_neuron(saturate), reset_value=per_neuron(reset_value),
                membrane_bits=membrane_bits, prng_seed=prng_seed)


def take_neurons(op: Core, idx) -> Core:
    """The core holding neurons `idx` of `op` in that order (repeats make copies), same axons."""
    idx = np.asarray(idx, np.int64)
    changes = {f: getattr(op, f)[idx] for f in (*NEURON_FIELDS, *ROW_FIELDS)}
    return op.replace(crossbar=op.crossbar[:, idx], **changes)


def take_axons(op: Core, rows) -> Core:
    """The core keeping only axon rows `rows` (in that order)."""
    rows = np.asarray(rows, np.int64)
    return op.replace(crossbar=op.crossbar[rows], axon_type=op.axon_type[rows])


def used_axons(op: Core) -> np.ndarray:
    """Axon rows with at least one synapse."""
    return np.flatnonzero(op.crossbar.any(axis=1))


def cut(op: Core, slots: np.ndarray, target) -> list[tuple[int, int]] | None:
    """Greedy contiguous chunks of neurons, each within core.neurons slots (`slots[j]` per
    neuron: itself and its copies) and core.axons used axons; None if one neuron alone does
    not fit. Greedy growth gives the fewest contiguous chunks, as each limit is monotone."""
    A, N = target.core.axons, target.core.neurons
    chunks, a, used, filled = [], 0, np.zeros(op.axons, bool), 0
    for j in range(op.neurons):
        col = op.crossbar[:, j].astype(bool)
        if slots[j] > N or col.sum() > A:
            return None
        grown = used | col
        if j > a and (filled + slots[j] > N or grown.sum() > A):
            chunks.append((a, j))
            a, filled, grown = j, 0, col
        used, filled = grown, filled + slots[j]
    if op.neurons:
        chunks.append((a, op.neurons))
    return chunks
