"""Axonal delay."""
from __future__ import annotations

import numpy as np

from snnc.ir.op import Op, array_field, expect_input_shape, register_op
from snnc.ir.types import TensorType


@register_op
class Delay(Op):
    """Per-element delay:  y[t] = x[t − n],  n = round(delay / dt) ticks;  y[t] = 0 for t < n.

    `delay` is in seconds (NIR's meaning) and must be a whole number of ticks at the
    graph's dt (within 1e-9 relative). Stateful: it holds the last max(n) inputs.
    """

    name = "snn.delay"
    stateful = True
    delay: np.ndarray = array_field(doc="delay per element, seconds")

    def verify(self):
        return [f"delay must be >= 0 seconds, got min {np.min(self.delay):g}"] \
            if not np.all(self.delay >= 0) else []             # also refuses nan

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.delay.shape)
        return {"output": TensorType(self.delay.shape)}
