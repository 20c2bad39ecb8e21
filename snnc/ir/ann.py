"""The `ann.*` dialect: the non-spiking activations of an ordinary (ReLU) network.

Frontends import an ANN (ONNX MLP/CNN) into `snn.*` synapse ops plus these activations;
the `convert-ann` pass replaces each activation by spiking neurons. A graph that still
holds `ann.*` ops runs in the float interpreter as the ANN itself (one tick = one
forward pass), which gives the conversion its reference accuracy; no target accepts it.
"""
from __future__ import annotations

from snnc.ir.op import Op, register_op
from snnc.ir.types import TensorType


@register_op
class ReLU(Op):
    """Rectified linear unit, stateless:  y[t] = max(x[t], 0)  elementwise."""

    name = "ann.relu"

    def infer_types(self, inputs):
        return {"output": TensorType(inputs["input"].shape)}
