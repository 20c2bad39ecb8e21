"""Float step functions for the `ann.*` dialect."""
from __future__ import annotations

import numpy as np

from snnc.interp.kernel import Stepper, register_stepper
from snnc.ir.ann import ReLU


@register_stepper(ReLU)
class ReLUStepper(Stepper):
    def step(self, inputs):
        return {"output": np.maximum(inputs["input"], 0.0)}
