"""Helpers shared by the interpreter tests: run one op alone, build per-neuron arrays."""
from __future__ import annotations

import numpy as np

from snnc.interp.engine import run
from snnc.ir import GraphBuilder


def run_op(op, x, *, dt=1e-3, method="euler", record=()):
    """Run `op` as the only node between one input and one output on x [T, B, *shape].

    Returns (y [T, B, *out_shape], {state name: [T, B, ...]}) for the names in `record`.
    """
    x = np.asarray(x, dtype=np.float64)
    b = GraphBuilder(dt=dt, method=method)
    src = b.input("x", x.shape[2:])
    node = b.add("n", op, src)
    out_shape = b.build(verify=False).types()[(node, "output")].shape
    b.output("y", node, out_shape)
    res = run(b.build(), {"x": x}, record=[f"n:{name}" for name in record])
    return res.outputs["y"], {name: res.recorded[f"n:{name}"] for name in record}


def full(value, n=1):
    """A per-neuron parameter array of `n` neurons, all `value`."""
    return np.full(n, float(value))


def constant(value, T, n=1, B=1):
    """A constant input [T, B, n]."""
    return np.full((T, B, n), float(value))


def spike_ticks(z):
    """Tick indices of the spikes of neuron 0, sample 0."""
    return list(np.flatnonzero(np.asarray(z)[:, 0, 0]))
