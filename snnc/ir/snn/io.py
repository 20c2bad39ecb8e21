"""Graph boundary ops: where values enter and leave a graph."""
from __future__ import annotations

from snnc.ir.op import Op, OpRuleError, ints_field, register_op
from snnc.ir.types import TensorType


@register_op
class Input(Op):
    """A graph input: y[t] = x_in[t], the caller's value for this input at tick t.

    `shape` is the per-sample shape (no batch, no time axis).
    """

    name = "snn.input"
    input_ports = ()
    shape: tuple[int, ...] = ints_field(doc="per-sample shape of the input")

    def verify(self) -> list[str]:
        return [f"shape {self.shape} has a non-positive dimension"] if any(s <= 0 for s in self.shape) else []

    def infer_types(self, inputs):
        return {"output": TensorType(self.shape)}


@register_op
class Output(Op):
    """A graph output: records x[t], the sum of its incoming edges at tick t.

    `shape` is the per-sample shape; the incoming value must have exactly this shape.
    """

    name = "snn.output"
    output_ports = ()
    shape: tuple[int, ...] = ints_field(doc="per-sample shape of the output")

    def verify(self) -> list[str]:
        return [f"shape {self.shape} has a non-positive dimension"] if any(s <= 0 for s in self.shape) else []

    def infer_types(self, inputs):
        got = inputs["input"].shape
        if got != self.shape:
            raise OpRuleError(f"input has shape {list(got)}, but the output declares {list(self.shape)}")
        return {}
