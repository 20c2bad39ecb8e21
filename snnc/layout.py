"""The layout of run inputs: time-major `[T, B, *shape]`, and the layouts people pass instead.

snnc runs inputs time-major, `[T, B, *input_shape]` (DESIGN.md, "Data convention").
PyTorch datasets and snnTorch's own training loops often hold data batch-major,
`[B, T, *shape]`, and lava-dl puts time last, `[B, *shape, T]`. Such an array can have
the rank a run expects and run "successfully" on the wrong axes, so `check_time_major`
refuses it where its shape tells which layout it is:

- time last: the middle axes are the input shape, `[B, *shape, T]`, and the array is not
  also a valid `[T, B, *shape]`;
- batch-major: the caller knows the batch size (from labels) and it is the first axis,
  not the second.

When the shape alone cannot tell (`[A, C, *shape]` with no batch size known, or A = C),
the input runs as given. The message names the fix.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from snnc.errors import UsageError


def input_shapes(graph) -> dict[str, tuple[int, ...]]:
    """Per-sample shape of each graph input, as the source model has it (a compiled graph's
    host records keep the shape its flattened chip input came from)."""
    host = getattr(getattr(graph, "mapping", None), "inputs", None) or {}
    return {n: tuple(host[n].shape) if n in host else tuple(graph.op(n).shape) for n in graph.inputs}


def check_time_major(graph, inputs: Mapping[str, np.ndarray] | np.ndarray, *, batch: int | None = None,
                     where: str = "input") -> None:
    """Refuse an input whose shape shows it is batch-major `[B, T, ...]` or time-last
    `[B, *shape, T]` instead of `[T, B, *shape]`; `batch`: the batch size when known (labels)."""
    shapes = input_shapes(graph)
    if not isinstance(inputs, Mapping):
        if len(shapes) != 1:
            return                            # the run itself says how to name several inputs
        inputs = {next(iter(shapes)): inputs}
    for name, x in inputs.items():
        if name in shapes:
            _check_one(f"{where} '{name}'" if len(shapes) > 1 else where, np.shape(x), shapes[name], batch)


def _check_one(where: str, shape: tuple[int, ...], sample: tuple[int, ...], batch: int | None) -> None:
    k = len(sample)
    if len(shape) != k + 2:
        return
    time_major = tuple(shape[2:]) == sample
    if not time_major and tuple(shape[1:-1]) == sample:
        raise UsageError(f"{where} has shape {list(shape)}: time on the last axis, [B, *shape, T] with B = "
                         f"{shape[0]}, T = {shape[-1]} (lava-dl's layout); snnc takes time-major [T, B, *shape] "
                         f"= {[shape[-1], shape[0], *sample]}: pass np.moveaxis(x, -1, 0)")
    if time_major and batch is not None and shape[0] == batch != shape[1]:
        raise UsageError(f"{where} has shape {list(shape)}: batch-major [B, T, *shape] (its first axis holds "
                         f"the {batch} samples the labels give, its second {shape[1]} ticks); snnc takes "
                         f"time-major [T, B, *shape] = {[shape[1], shape[0], *sample]}: pass np.swapaxes(x, 0, 1)")
