"""Axonal delay: a ring buffer of the last max(n) + 1 inputs."""
from __future__ import annotations

import numpy as np

from snnc.interp.kernel import Stepper, register_stepper
from snnc.ir.snn import Delay


@register_stepper(Delay)
class DelayStepper(Stepper):
    """y[t] = x[t − n] per element, n = delay / dt ticks (whole ticks only); 0 for t < n.

    Slot t mod L of the buffer holds x[t] (L = max(n) + 1); a slot not yet written is 0,
    which gives the zeros before the first delayed value arrives.
    """

    def __init__(self, op: Delay, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.n = ctx.ticks(op.delay, f"node '{node}': delay")
        self.length = int(self.n.max()) + 1 if self.n.size else 1
        self.uniform = self.n.size == 0 or bool(np.all(self.n == self.n.flat[0]))
        self.buffer = np.zeros((self.length, batch, *op.delay.shape))
        self.t = 0

    def step(self, inputs):
        self.buffer[self.t % self.length] = inputs["input"]
        slots = (self.t - self.n) % self.length
        self.t += 1
        if self.uniform:
            slot = int(slots.flat[0]) if slots.size else 0
            return {"output": self.buffer[slot].copy()}
        flat = self.buffer.reshape(self.length, self.batch, -1)
        cols = np.arange(flat.shape[2])
        y = flat[slots.reshape(1, -1), np.arange(self.batch)[:, None], cols[None, :]]
        return {"output": y.reshape(self.batch, *self.op.delay.shape)}

    def state(self):
        return {"buffer": self.buffer.copy(), "tick": np.asarray(self.t)}
