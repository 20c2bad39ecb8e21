"""Float step functions for the source dialect `snn.*` (every op but snn.input/snn.output,
which the engine handles itself).

Each module mirrors one module of `snnc.ir.snn` and implements, tick by tick and in
float64 over a batch axis, exactly the update equation in its op's docstring. Importing
this package registers every stepper with `snnc.interp.kernel.register_stepper`.
"""
from snnc.interp.snn import delay, neuron, spatial, synapse  # noqa: F401  (registration)
