"""Helpers for the Loihi backend tests: one-node graphs run through the engine."""
from __future__ import annotations

import numpy as np

from snnc.interp.engine import run
from snnc.ir.graph import GraphBuilder


def run_one(op, x, *, record=(), strict=False, in_shape=None, out_shape=None):
    """Run `op` alone between a graph input and output on x [T, B, *in_shape].

    Returns (y as int64 [T, B, *out_shape], {state var: [T, B, ...]}).
    """
    x = np.asarray(x, dtype=np.int64)
    b = GraphBuilder()
    b.input("x", in_shape or x.shape[2:])
    n = b.add("n", op, "x")
    types_out = out_shape
    if types_out is None:
        from snnc.ir.types import TensorType
        types_out = op.infer_types({"input": TensorType(tuple(x.shape[2:]), "int")})["output"].shape
    b.output("y", n, types_out)
    g = b.build()
    res = run(g, {"x": x}, record=[f"n:{v}" for v in record], strict=strict)
    y = res.outputs["y"]
    assert np.array_equal(y, np.round(y))
    return y.astype(np.int64), {v: res.recorded[f"n:{v}"] for v in record}


def cuba(n=1, **fields):
    """A loihi.cuba op of `n` compartments; scalar fields are broadcast."""
    from snnc.backends.loihi.ops import Cuba
    defaults = dict(du=0, dv=0, vth_mant=1, bias_mant=0, bias_exp=0, refractory=0)
    defaults.update(fields)
    arrays = {k: np.broadcast_to(np.asarray(v, np.int64), (n,)) for k, v in defaults.items()
              if k in ("du", "dv", "vth_mant", "bias_mant", "bias_exp", "refractory")}
    rest = {k: v for k, v in defaults.items() if k not in arrays}
    return Cuba(**arrays, **rest)


def impulse(T, value, at=0, n=1, batch=1):
    x = np.zeros((T, batch, n), np.int64)
    x[at] = value
    return x
