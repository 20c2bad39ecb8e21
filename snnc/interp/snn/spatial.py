"""Convolution, pooling and flattening with PyTorch's semantics, vectorised over the batch.

Every op reads the same view of its input: the zero-padded receptive field of each output
position, built without copying by `sliding_window_view` and then strided by the stride
(over positions) and the dilation (inside the window).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from snnc.interp.kernel import Stepper, register_stepper
from snnc.ir.snn import AvgPool2d, Conv1d, Conv2d, Flatten, SumPool2d


def receptive_fields(x: np.ndarray, kernel, stride, padding, dilation) -> np.ndarray:
    """View [B, C, *N'] + [*k] of x [B, C, *N]: window (o, j) reads padded x at o·s + j·d.

    Output length per axis is PyTorch's floor((N + 2p − d(k − 1) − 1) / s) + 1.
    """
    rank = len(kernel)
    if any(padding):
        x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    windows = sliding_window_view(x, span, axis=tuple(range(2, 2 + rank)))
    select = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) \
        + tuple(slice(None, None, d) for d in dilation)
    return windows[select]


def convolve(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride, padding, dilation,
             groups: int) -> np.ndarray:
    """PyTorch `conv1d`/`conv2d`: cross-correlation of x [B, C_in, *N] with weight
    [C_out, C_in/groups, *k], plus bias [C_out]; one batched matrix product per call."""
    rank = weight.ndim - 2
    c_out, c_group, kernel = weight.shape[0], weight.shape[1], weight.shape[2:]
    win = receptive_fields(x, kernel, stride, padding, dilation)       # [B, C_in, *N', *k]
    batch, out_size = win.shape[0], win.shape[2:2 + rank]
    positions, taps = int(np.prod(out_size)), c_group * int(np.prod(kernel))
    win = win.reshape(batch, groups, c_group, *win.shape[2:])           # split C_in (a view)
    # [G, B, *N', C_in/G, *k] -> im2col columns [G, B·P, (C_in/G)·K]
    order = (1, 0, *range(3, 3 + rank), 2, *range(3 + rank, 3 + 2 * rank))
    cols = win.transpose(order).reshape(groups, batch * positions, taps)
    w = weight.reshape(groups, c_out // groups, taps).transpose(0, 2, 1)  # [G, taps, C_out/G]
    y = cols @ w                                                          # [G, B·P, C_out/G]
    y = y.reshape(groups, batch, *out_size, c_out // groups)
    y = np.moveaxis(y, -1, 1)                                             # [G, C_out/G, B, *N']
    y = np.moveaxis(y, 2, 0).reshape(batch, c_out, *out_size)
    return y + bias.reshape(c_out, *([1] * rank))


class _ConvStepper(Stepper):
    def step(self, inputs):
        op = self.op
        return {"output": convolve(inputs["input"], op.weight, op.bias, op.stride, op.padding,
                                   op.dilation, op.groups)}


@register_stepper(Conv1d)
class Conv1dStepper(_ConvStepper):
    """y = W ⋆ x + b, as torch.nn.functional.conv1d."""


@register_stepper(Conv2d)
class Conv2dStepper(_ConvStepper):
    """y = W ⋆ x + b, as torch.nn.functional.conv2d."""


def sum_pool2d(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Σ over each zero-padded window: [B, C, H, W] -> [B, C, H', W']."""
    return receptive_fields(x, kernel, stride, padding, (1, 1)).sum(axis=(-2, -1))


@register_stepper(SumPool2d)
class SumPool2dStepper(Stepper):
    """y[c, i, j] = Σ over the zero-padded window of x[c]."""

    def step(self, inputs):
        op = self.op
        return {"output": sum_pool2d(inputs["input"], op.kernel_size, op.stride, op.padding)}


@register_stepper(AvgPool2d)
class AvgPool2dStepper(Stepper):
    """y = SumPool2d(x) / (kH · kW): padded zeros count (count_include_pad=True)."""

    def step(self, inputs):
        op = self.op
        total = sum_pool2d(inputs["input"], op.kernel_size, op.stride, op.padding)
        return {"output": total / (op.kernel_size[0] * op.kernel_size[1])}


@register_stepper(Flatten)
class FlattenStepper(Stepper):
    """Merge per-sample axes start_dim..end_dim (the batch axis is not counted)."""

    def step(self, inputs):
        x = inputs["input"]
        n = x.ndim - 1
        s = self.op.start_dim % n if self.op.start_dim < 0 else self.op.start_dim
        e = self.op.end_dim % n if self.op.end_dim < 0 else self.op.end_dim
        shape = x.shape[1:]
        merged = int(np.prod(shape[s:e + 1]))
        return {"output": x.reshape(x.shape[0], *shape[:s], merged, *shape[e + 1:])}
