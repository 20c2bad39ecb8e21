"""Synaptic projections: Affine, Linear, SparseLinear, Scale (stateless, one tick [B, ...])."""
from __future__ import annotations

import numpy as np

from snnc.interp.kernel import Stepper, register_stepper
from snnc.ir.snn import Affine, Linear, Scale, SparseLinear

# Above this many [batch x nnz] products the numpy CSR products work on slices of the batch,
# so their temporaries stay near 32 MiB per array however large the layer.
_GATHER_CHUNK = 1 << 22


@register_stepper(Affine)
class AffineStepper(Stepper):
    """y = W x + b."""

    def __init__(self, op: Affine, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.weight_t = np.ascontiguousarray(op.weight.T)

    def step(self, inputs):
        return {"output": inputs["input"] @ self.weight_t + self.op.bias}


@register_stepper(Linear)
class LinearStepper(Stepper):
    """y = W x."""

    def __init__(self, op: Linear, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.weight_t = np.ascontiguousarray(op.weight.T)

    def step(self, inputs):
        return {"output": inputs["input"] @ self.weight_t}


@register_stepper(Scale)
class ScaleStepper(Stepper):
    """y = s ⊙ x."""

    def step(self, inputs):
        return {"output": inputs["input"] * self.op.scale}


def csr_matmul_numpy(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                     x: np.ndarray) -> np.ndarray:
    """y[b, i] = Σ_k data[k] · x[b, indices[k]] over k in row i (CSR rows; empty rows give 0).

    Pure numpy, row by row: gather the input each stored weight reads, multiply, and sum
    each row's run with `np.add.reduceat` over the non-empty rows only (reduceat cannot
    express an empty run). Work ∝ B · nnz whatever the input; for dense-valued inputs.
    """
    batch, n_out = x.shape[0], len(indptr) - 1
    y = np.zeros((batch, n_out))
    rows = np.flatnonzero(np.diff(indptr))
    if len(rows) == 0:
        return y
    starts = indptr[rows]
    chunk = max(1, _GATHER_CHUNK // len(indices))
    for lo in range(0, batch, chunk):
        products = x[lo:lo + chunk, indices] * data
        y[lo:lo + chunk, rows] = np.add.reduceat(products, starts, axis=1)
    return y


class ColumnMajor:
    """A CSR matrix regrouped by input column, for event-driven accumulation.

    `col_ptr[j]:col_ptr[j+1]` delimits the stored weights `vals` (at output `rows`) that
    input j reaches; within a column the CSR order is kept.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_in: int):
        order = np.argsort(indices, kind="stable")
        self.n_out = len(indptr) - 1
        self.col_ptr = np.concatenate([[0], np.cumsum(np.bincount(indices, minlength=n_in))])
        self.rows = np.repeat(np.arange(self.n_out), np.diff(indptr))[order]
        self.vals = data[order]

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """y[b] = Σ over nonzero x[b, j] of x[b, j] · (column j): work ∝ synaptic events."""
        chunk = max(1, _GATHER_CHUNK // max(1, len(self.vals)))
        if x.shape[0] <= chunk:
            return self._accumulate(x)
        return np.concatenate([self._accumulate(x[lo:lo + chunk]) for lo in range(0, x.shape[0], chunk)])

    def _accumulate(self, x: np.ndarray) -> np.ndarray:
        batch = x.shape[0]
        b_idx, j_idx = np.nonzero(x)
        starts = self.col_ptr[j_idx]
        counts = self.col_ptr[j_idx + 1] - starts
        ends = np.cumsum(counts)
        total = int(ends[-1]) if len(ends) else 0
        if total == 0:
            return np.zeros((batch, self.n_out))
        # every (event, synapse) pair: a run of positions starts[e] .. starts[e] + counts[e]
        pos = np.arange(total) + np.repeat(starts - (ends - counts), counts)
        weights = self.vals[pos]
        values = x[b_idx, j_idx]
        if not np.all(values == 1.0):
            weights = weights * np.repeat(values, counts)
        target = self.rows[pos] + np.repeat(b_idx * self.n_out, counts)
        return np.bincount(target, weights=weights, minlength=batch * self.n_out).reshape(batch, self.n_out)


def _scipy_csr(op: SparseLinear):
    """The op's matrix as a scipy CSR matrix, or None where scipy is not installed."""
    try:
        from scipy.sparse import csr_matrix
    except ImportError:
        return None
    return csr_matrix((op.data, op.indices, op.indptr), shape=(op.n_out, op.n_in))


@register_stepper(SparseLinear)
class SparseLinearStepper(Stepper):
    """y = A x + b with A in CSR form; never builds the dense matrix.

    Uses scipy's compiled CSR product when scipy is importable. Without scipy, a tick
    whose input is mostly zeros (spikes) is accumulated event by event from a column-major
    copy (`ColumnMajor`), any other tick row by row (`csr_matmul_numpy`). Results agree
    to rounding: the three sum each output's terms in different orders.
    """

    #: fraction of nonzero inputs up to which the numpy fallback accumulates event by event
    EVENT_DENSITY = 0.25

    def __init__(self, op: SparseLinear, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.matrix = _scipy_csr(op)
        self.columns = ColumnMajor(op.indptr, op.indices, op.data, op.n_in) if self.matrix is None else None

    def step(self, inputs):
        x = inputs["input"]
        if self.matrix is not None:
            y = np.asarray(self.matrix @ x.T).T
        elif np.count_nonzero(x) <= self.EVENT_DENSITY * x.size:
            y = self.columns.accumulate(x)
        else:
            y = csr_matmul_numpy(self.op.indptr, self.op.indices, self.op.data, x)
        return {"output": y + self.op.bias}
