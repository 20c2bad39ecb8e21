"""Small snn.if networks for the TrueNorth pass and artifact tests."""
from __future__ import annotations

import numpy as np

from snnc.ir import GraphBuilder
from snnc.ir.snn import IF, Affine, Linear

DT = 1e-3


def if_pop(n, *, theta=1.0, reset_mode="value", v_reset=0.0, **extra):
    """IF neurons with unit input gain (r = 1/dt): v[t] = v[t−1] + Σ w x[t] (+ bias)."""
    return IF(r=np.full(n, 1.0 / DT), v_threshold=np.full(n, float(theta)), v_reset=np.full(n, float(v_reset)),
              reset_mode=reset_mode, **extra)


def chain(weights, *, theta=1.0, reset_mode="value", biases=None, skip=None):
    """input → (Linear/Affine → IF)* → output; `skip` = (i, j, W) adds layer i's spikes into layer j's input."""
    b = GraphBuilder(dt=DT)
    names = [b.input("x", (weights[0].shape[1],), origin="input")]
    for i, w in enumerate(weights):
        op = Linear(weight=w) if biases is None else Affine(weight=w, bias=biases[i])
        fc = b.add(f"fc{i}", op, names[-1], origin=f"layers.{2 * i}")
        if skip and skip[1] == i:
            s = b.add(f"skip{i}", Linear(weight=skip[2]), names[skip[0] + 1], origin=f"skip.{i}")
            b.connect(s, f"if{i}")
        names.append(b.add(f"if{i}", if_pop(w.shape[0], theta=theta, reset_mode=reset_mode), fc,
                           origin=f"layers.{2 * i + 1}"))
    b.output("y", names[-1], (weights[-1].shape[0],))
    return b.build()


def ternary(rng, n_out, n_in, p=0.4):
    """Weights in {−1, 0, 1}: exactly representable with two axons per input."""
    return rng.choice([-1.0, 0.0, 1.0], size=(n_out, n_in), p=[p / 2, 1 - p, p / 2])


def rates(T, B, n, *, p=0.3, seed=1):
    return (np.random.default_rng(seed).random((T, B, n)) < p).astype(np.float64)
