"""The source dialect `snn.*`: NIR's node set plus what real models need and NIR lacks.

Importing this package registers every op. Semantics (update equations, tick order) are in
each op's docstring and in `ir_spec/SPEC.md`.
"""
from snnc.ir.snn.io import Input, Output
from snnc.ir.snn.linear import Affine, Linear, Scale, SparseLinear
from snnc.ir.snn.spatial import AvgPool2d, Conv1d, Conv2d, Flatten, SumPool2d
from snnc.ir.snn.neuron import CubaLI, CubaLIF, I, IF, LI, LIF, Threshold
from snnc.ir.snn.delay import Delay

__all__ = ["Input", "Output", "Affine", "Linear", "Scale", "SparseLinear", "Conv1d", "Conv2d",
           "SumPool2d", "AvgPool2d", "Flatten", "Threshold", "I", "LI", "IF", "LIF", "CubaLI",
           "CubaLIF", "Delay"]
