"""Step functions of the synaptic-input circuit and the spike buffer (`ops.SynapseCircuit`,
`ops.SpikeBuffer`), batched over chip instances as `steps.py` is."""
from __future__ import annotations

import numpy as np

from snnc.backends.analog import device
from snnc.backends.analog.ops import SpikeBuffer, SynapseCircuit
from snnc.backends.analog.steps import MIN_FACTOR, _groups
from snnc.interp.kernel import Stepper, register_stepper


@register_stepper(SynapseCircuit)
class SynapseStepper(Stepper):
    """Per instance: τ' drawn once; then I ← α I + (1 − α) x. State I [N, B, n]."""

    def __init__(self, op: SynapseCircuit, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.n, self.b = _groups(ctx, batch, node)
        draws = np.stack([device.stream(ctx.seed, ctx.first_instance + i, node, 0).standard_normal(op.shape)
                          for i in range(self.n)])
        tau = op.tau_syn * np.maximum(1.0 + op.sigma_tau * draws, MIN_FACTOR)
        self.a = ctx.decay(tau)[:, None]
        self.i = np.zeros((self.n, self.b, *op.shape))

    def step(self, inputs):
        x = np.asarray(inputs["input"], dtype=np.float64).reshape(self.i.shape)
        self.i = self.a * self.i + (1.0 - self.a) * x
        return {"output": self.i.reshape(self.batch, *self.op.shape)}

    def state(self):
        return {"i": self.i.reshape(self.batch, *self.op.shape)}


@register_stepper(SpikeBuffer)
class BufferStepper(Stepper):
    """A ring of `ticks` slots: slot t mod ticks holds x[t] until tick t + ticks reads it."""

    def __init__(self, op: SpikeBuffer, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.ring: np.ndarray | None = None
        self.t = 0

    def step(self, inputs):
        x = np.asarray(inputs["input"], dtype=np.float64)
        if self.ring is None:
            self.ring = np.zeros((self.op.ticks, *x.shape))
        slot = self.t % self.op.ticks
        y = self.ring[slot].copy()
        self.ring[slot] = x
        self.t += 1
        return {"output": y}

    def state(self):
        return {} if self.ring is None else {"ring": self.ring.copy(), "tick": np.asarray(self.t)}
