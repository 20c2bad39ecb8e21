"""Synaptic projections: dense, sparse and elementwise weights."""
from __future__ import annotations

import numpy as np

from snnc.ir.op import Op, array_field, expect_input_shape, register_op, scalar_field
from snnc.ir.types import TensorType


@register_op
class Affine(Op):
    """Dense projection with bias: y[t] = W x[t] + b.

    `weight` is [N_out, N_in]; `bias` is [N_out]; input [N_in], output [N_out].
    """

    name = "snn.affine"
    weight: np.ndarray = array_field(doc="W, [N_out, N_in]")
    bias: np.ndarray = array_field(doc="b, [N_out]")

    def verify(self):
        if self.weight.ndim != 2:
            return [f"weight must be 2-D [N_out, N_in], got shape {list(self.weight.shape)}"]
        if self.bias.shape != self.weight.shape[:1]:
            return [f"bias shape {list(self.bias.shape)} does not match weight rows {self.weight.shape[0]}"]
        return []

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.weight.shape[1:])
        return {"output": TensorType(self.weight.shape[:1])}

    def synapse_count(self, inputs, outputs):
        return int(np.count_nonzero(self.weight))


@register_op
class Linear(Op):
    """Dense projection: y[t] = W x[t].  `weight` is [N_out, N_in]."""

    name = "snn.linear"
    weight: np.ndarray = array_field(doc="W, [N_out, N_in]")

    def verify(self):
        if self.weight.ndim != 2:
            return [f"weight must be 2-D [N_out, N_in], got shape {list(self.weight.shape)}"]
        return []

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.weight.shape[1:])
        return {"output": TensorType(self.weight.shape[:1])}

    def synapse_count(self, inputs, outputs):
        return int(np.count_nonzero(self.weight))


@register_op
class SparseLinear(Op):
    """Sparse projection in CSR form: y[t] = A x[t] + b.

    Row i of A (output neuron i) holds `data[indptr[i]:indptr[i+1]]` at input columns
    `indices[indptr[i]:indptr[i+1]]`. Output [N_out = len(indptr) - 1], input [n_in].
    Repeated column indices within a row add up.
    """

    name = "snn.sparse_linear"
    indptr: np.ndarray = array_field("i64", doc="row pointers, [N_out + 1]")
    indices: np.ndarray = array_field("i64", doc="column of each stored weight, [nnz]")
    data: np.ndarray = array_field(doc="stored weights, [nnz]")
    bias: np.ndarray = array_field(doc="b, [N_out]")
    n_in: int = scalar_field("int", doc="number of input neurons")

    @property
    def n_out(self) -> int:
        return len(self.indptr) - 1

    def verify(self):
        errs = []
        if self.indptr.ndim != 1 or len(self.indptr) < 1 or self.indptr[0] != 0:
            return ["indptr must be 1-D and start at 0"]
        if np.any(np.diff(self.indptr) < 0):
            errs.append("indptr must be non-decreasing")
        if self.indptr[-1] != len(self.indices) or len(self.indices) != len(self.data):
            errs.append(f"indptr ends at {self.indptr[-1]} but there are {len(self.indices)} indices "
                        f"and {len(self.data)} weights")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= self.n_in):
            errs.append(f"column indices must lie in [0, {self.n_in})")
        if self.bias.shape != (self.n_out,):
            errs.append(f"bias shape {list(self.bias.shape)} does not match {self.n_out} rows")
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, (self.n_in,))
        return {"output": TensorType((self.n_out,))}

    def synapse_count(self, inputs, outputs):
        return int(len(self.data))

    def to_dense(self) -> np.ndarray:
        """The equivalent dense weight matrix [N_out, N_in]."""
        w = np.zeros((self.n_out, self.n_in))
        rows = np.repeat(np.arange(self.n_out), np.diff(self.indptr))
        np.add.at(w, (rows, self.indices), self.data)
        return w


@register_op
class Scale(Op):
    """Elementwise gain: y[t] = s ⊙ x[t].  Input and output have the shape of `scale`."""

    name = "snn.scale"
    scale: np.ndarray = array_field(doc="s, the per-element factor")

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.scale.shape)
        return {"output": TensorType(self.scale.shape)}
