"""Synaptic projections: Affine, Linear, SparseLinear, Scale (stateless, one tick [B, ...])."""
from __future__ import annotations

import numpy as np

from snnc.interp.kernel import Stepper, register_stepper
from snnc.ir.snn import Affine, Linear, Scale, SparseLinear

# Above this many [batch x nnz] products the numpy CSR product works on slices of the batch,
# so its temporary stays near 32 MiB however large the layer.
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

    Pure numpy: gather the inputs each stored weight reads, multiply, and sum each row's run
    with `np.add.reduceat` over the non-empty rows only (reduceat cannot express an empty
    run). Each row is summed in stored order, like scipy's CSR product.
    """
    batch, n_out = x.shape[0], len(indptr) - 1
    y = np.zeros((batch, n_out), dtype=np.result_type(x.dtype, data.dtype, np.float64))
    rows = np.flatnonzero(np.diff(indptr))
    if len(rows) == 0:
        return y
    starts = indptr[rows]
    chunk = max(1, _GATHER_CHUNK // max(1, len(indices)))
    for lo in range(0, batch, chunk):
        products = x[lo:lo + chunk, indices] * data
        y[lo:lo + chunk, rows] = np.add.reduceat(products, starts, axis=1)
    return y


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

    Uses scipy's compiled CSR product when scipy is importable and `csr_matmul_numpy`
    otherwise; both sum each row's stored weights in stored order (repeated columns add).
    """

    def __init__(self, op: SparseLinear, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.matrix = _scipy_csr(op)

    def step(self, inputs):
        x = inputs["input"]
        if self.matrix is not None:
            y = np.asarray(self.matrix @ x.T).T
        else:
            y = csr_matmul_numpy(self.op.indptr, self.op.indices, self.op.data, x)
        return {"output": y + self.op.bias}
