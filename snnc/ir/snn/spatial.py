"""Spatial ops on [C, N] and [C, H, W] values: convolution, pooling, flattening.

Conventions are PyTorch's: cross-correlation, NCHW/OIHW layouts, zero padding, and the
output size floor((N + 2p - d(k - 1) - 1) / s) + 1 per spatial axis.
"""
from __future__ import annotations

import numpy as np

from snnc.ir.op import Op, OpRuleError, array_field, ints_field, register_op, scalar_field
from snnc.ir.types import TensorType


def conv_output_size(n: int, k: int, s: int, p: int, d: int = 1) -> int:
    """PyTorch's output length of one spatial axis."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _check_pairs(op, names: tuple[str, ...], rank: int) -> list[str]:
    errs = []
    for n in names:
        v = getattr(op, n)
        if len(v) != rank:
            errs.append(f"{n} must have {rank} entries, got {list(v)}")
        elif n == "padding" and any(x < 0 for x in v):
            errs.append(f"{n} must be >= 0, got {list(v)}")
        elif n != "padding" and any(x < 1 for x in v):
            errs.append(f"{n} must be >= 1, got {list(v)}")
    return errs


class _Conv(Op):
    rank = 0

    def verify(self):
        errs = _check_pairs(self, ("stride", "padding", "dilation"), self.rank)
        if self.weight.ndim != self.rank + 2:
            errs.append(f"weight must be {self.rank + 2}-D [C_out, C_in/groups, k...], got {list(self.weight.shape)}")
            return errs
        c_out = self.weight.shape[0]
        if self.groups < 1 or c_out % self.groups:
            errs.append(f"groups={self.groups} must divide C_out={c_out}")
        if self.bias.shape != (c_out,):
            errs.append(f"bias shape {list(self.bias.shape)} does not match C_out={c_out}")
        return errs

    def infer_types(self, inputs):
        shape = inputs["input"].shape
        c_in = self.weight.shape[1] * self.groups
        if len(shape) != self.rank + 1 or shape[0] != c_in:
            want = ["C_in=%d" % c_in] + ["N"] * self.rank
            raise OpRuleError(f"input has shape {list(shape)}, expected [{', '.join(want)}]")
        out = [conv_output_size(n, k, s, p, d) for n, k, s, p, d in
               zip(shape[1:], self.weight.shape[2:], self.stride, self.padding, self.dilation)]
        if any(o < 1 for o in out):
            raise OpRuleError(f"input {list(shape)} is smaller than the kernel {list(self.weight.shape[2:])}")
        return {"output": TensorType((self.weight.shape[0], *out))}

    def synapse_count(self, inputs, outputs):
        """Connections counted as (output elements) × (weights per output), padding included."""
        return int(outputs["output"].size * int(np.prod(self.weight.shape[1:])))


@register_op
class Conv1d(_Conv):
    """1-D convolution: y[t] = W ⋆ x[t] + b (PyTorch `conv1d`).

    `weight` [C_out, C_in/groups, K]; input [C_in, N]; output [C_out, N'].
    """

    name = "snn.conv1d"
    rank = 1
    weight: np.ndarray = array_field(doc="W, [C_out, C_in/groups, K]")
    bias: np.ndarray = array_field(doc="b, [C_out]")
    stride: tuple[int, ...] = ints_field(default=(1,))
    padding: tuple[int, ...] = ints_field(default=(0,))
    dilation: tuple[int, ...] = ints_field(default=(1,))
    groups: int = scalar_field("int", default=1)


@register_op
class Conv2d(_Conv):
    """2-D convolution: y[t] = W ⋆ x[t] + b (PyTorch `conv2d`).

    `weight` [C_out, C_in/groups, kH, kW]; input [C_in, H, W]; output [C_out, H', W'].
    """

    name = "snn.conv2d"
    rank = 2
    weight: np.ndarray = array_field(doc="W, [C_out, C_in/groups, kH, kW]")
    bias: np.ndarray = array_field(doc="b, [C_out]")
    stride: tuple[int, ...] = ints_field(default=(1, 1))
    padding: tuple[int, ...] = ints_field(default=(0, 0))
    dilation: tuple[int, ...] = ints_field(default=(1, 1))
    groups: int = scalar_field("int", default=1)


class _Pool2d(Op):
    def verify(self):
        return _check_pairs(self, ("kernel_size", "stride", "padding"), 2)

    def infer_types(self, inputs):
        shape = inputs["input"].shape
        if len(shape) != 3:
            raise OpRuleError(f"input has shape {list(shape)}, expected [C, H, W]")
        out = [conv_output_size(n, k, s, p) for n, k, s, p in
               zip(shape[1:], self.kernel_size, self.stride, self.padding)]
        if any(o < 1 for o in out):
            raise OpRuleError(f"input {list(shape)} is smaller than the window {list(self.kernel_size)}")
        return {"output": TensorType((shape[0], *out))}


@register_op
class SumPool2d(_Pool2d):
    """Sum pooling: y[t][c, i, j] = Σ over the (zero-padded) window of x[t][c]."""

    name = "snn.sum_pool2d"
    kernel_size: tuple[int, ...] = ints_field()
    stride: tuple[int, ...] = ints_field()
    padding: tuple[int, ...] = ints_field(default=(0, 0))


@register_op
class AvgPool2d(_Pool2d):
    """Average pooling: y[t] = SumPool2d(x[t]) / (kH · kW); padded zeros count (PyTorch's
    `count_include_pad=True`)."""

    name = "snn.avg_pool2d"
    kernel_size: tuple[int, ...] = ints_field()
    stride: tuple[int, ...] = ints_field()
    padding: tuple[int, ...] = ints_field(default=(0, 0))


@register_op
class Flatten(Op):
    """Merge per-sample axes start_dim..end_dim (inclusive) into one: y[t] = reshape(x[t]).

    Axes index the per-sample shape (no batch axis; negative values count from the end),
    unlike NIR's Flatten, whose defaults assume a batch axis; the NIR frontend converts.
    """

    name = "snn.flatten"
    start_dim: int = scalar_field("int", default=0)
    end_dim: int = scalar_field("int", default=-1)

    def infer_types(self, inputs):
        shape = inputs["input"].shape
        n = len(shape)
        s = self.start_dim + n if self.start_dim < 0 else self.start_dim
        e = self.end_dim + n if self.end_dim < 0 else self.end_dim
        if not (0 <= s <= e < n):
            raise OpRuleError(f"start_dim={self.start_dim}, end_dim={self.end_dim} do not select "
                              f"axes of an input of shape {list(shape)}")
        merged = int(np.prod(shape[s:e + 1]))
        return {"output": TensorType((*shape[:s], merged, *shape[e + 1:]))}
