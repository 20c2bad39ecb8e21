"""Small spiking networks built in code, shared by the pass, lowering, artifact and verify tests."""
from __future__ import annotations

import numpy as np

from snnc.ir import GraphBuilder
from snnc.ir.snn import IF, LIF, Linear


def lif(n, *, beta=0.875, dt=1e-3, theta=1.0, reset_mode="value", reset_timing="immediate", v_reset=0.0,
        t_refrac=0.0, graded=False, v_leak=0.0):
    """An snnTorch-style LIF population: v ← β v + x (unit input gain), threshold θ."""
    tau = dt / (1.0 - beta)
    return LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.full(n, float(v_leak)),
               v_threshold=np.full(n, float(theta)), v_reset=np.full(n, float(v_reset)),
               reset_mode=reset_mode, reset_timing=reset_timing, t_refrac=t_refrac, graded=graded)


def if_neurons(n, *, dt=1e-3, theta=1.0):
    return IF(r=np.full(n, 1.0 / dt), v_threshold=np.full(n, theta), v_reset=np.zeros(n))


def mlp(sizes, *, seed=0, gain=2.0, dt=1e-3, method="euler", neuron=None, **lif_options):
    """Input → (Linear → LIF)* → output with Gaussian weights of std gain/sqrt(fan-in)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(dt=dt, method=method)
    prev = b.input("x", (sizes[0],), origin="input")
    for i, (a, c) in enumerate(zip(sizes, sizes[1:])):
        w = rng.standard_normal((c, a)) * gain / np.sqrt(a)
        fc = b.add(f"fc{i}", Linear(weight=w), prev, origin=f"layers.{2 * i}")
        op = neuron(c) if neuron else lif(c, dt=dt, **lif_options)
        prev = b.add(f"lif{i}", op, fc, origin=f"layers.{2 * i + 1}")
    b.output("y", prev, (sizes[-1],))
    return b.build()


def spikes(T, B, n, *, p=0.3, seed=1):
    """Bernoulli spike trains [T, B, n] (float 0/1)."""
    return (np.random.default_rng(seed).random((T, B, n)) < p).astype(np.float64)
