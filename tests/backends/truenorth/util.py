"""Helpers for the TrueNorth backend tests: one core run through the engine, fed by the host."""
from __future__ import annotations

import numpy as np

from snnc.interp.engine import run
from snnc.ir.graph import GraphBuilder


def core(n_axons=1, n=1, *, crossbar=None, axon_type=None, weight=(1, 0, 0, 0), stochastic_weight=0, leak=0,
         leak_reversal=0, stochastic_leak=0, alpha=1, beta=0, threshold_mask_bits=0, reset_mode=0, saturate=1,
         reset_value=0, membrane_bits=20, prng_seed=0):
    """A truenorth.core of `n_axons` axons × `n` neurons; scalars broadcast (crossbar defaults to all ones)."""
    from snnc.backends.truenorth.ops import Core

    def per(v, shape):
        return np.broadcast_to(np.asarray(v, np.int64), shape).copy()

    return Core(crossbar=per(1 if crossbar is None else crossbar, (n_axons, n)),
                axon_type=per(0 if axon_type is None else axon_type, (n_axons,)),
                weight=per(weight, (n, 4)), stochastic_weight=per(stochastic_weight, (n, 4)),
                leak=per(leak, (n,)), leak_reversal=per(leak_reversal, (n,)),
                stochastic_leak=per(stochastic_leak, (n,)), alpha=per(alpha, (n,)), beta=per(beta, (n,)),
                threshold_mask_bits=per(threshold_mask_bits, (n,)), reset_mode=per(reset_mode, (n,)),
                saturate=per(saturate, (n,)), reset_value=per(reset_value, (n,)), membrane_bits=membrane_bits,
                prng_seed=prng_seed)


def run_core(op, x, *, strict=False, seed=0, delay=0):
    """Drive `op` with host spikes x [T, B, axons] (delay 0: axon i active at tick t iff x[t, :, i]).
    Returns (spikes [T, B, N] int64, membrane V at the end of each tick [T, B, N])."""
    from snnc.backends.truenorth.ops import Route
    x = np.asarray(x)
    A = op.crossbar.shape[0]
    b = GraphBuilder()
    b.input("x", (A,))
    r = b.add("r", Route(source=np.arange(A), axon=np.arange(A), delay=np.full(A, delay), n_in=A, n_axons=A), "x")
    c = b.add("c", op, r)
    b.output("y", c, (op.crossbar.shape[1],))
    res = run(b.build(), {"x": x}, record=["c:v"], strict=strict, seed=seed)
    return res.outputs["y"].astype(np.int64), res.recorded["c:v"]


def pulses(T, ticks, n_axons=1, axons=None, batch=1):
    """Host spikes [T, batch, n_axons]: the listed axons (default all) active at each tick in `ticks`."""
    x = np.zeros((T, batch, n_axons))
    for t in ticks:
        x[t, :, slice(None) if axons is None else axons] = 1
    return x


def prn_stream(seed, prng_seed):
    """The documented PRN stream of one core (ops.py): numpy PCG64 seeded with (seed, prng_seed)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, prng_seed])))
