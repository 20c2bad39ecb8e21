"""Lowering `snn.*` to the `truenorth.*` dialect, and the TrueNorth family's pipeline.

    prune → truenorth-legalize → truenorth-encode → truenorth-split-fan-in → truenorth-partition
          → truenorth-bias-start → place

- `truenorth-legalize` (legalize.py) refuses, naming node, origin and target rule, what a
  TrueNorth neuron cannot compute, and lists what it computes only approximately
  (`neuron.py`: multiplicative leak, synaptic current, reset modes, graded spikes).
- `truenorth-encode` (build.py, encode.py): each population to one integer core — weight
  factorisation over axon types with input duplication, bias as leak, thresholds α/β, reset
  γ/κ/R; readouts to float nodes on the host; feedback and delays to routes with their lags.
- `truenorth-split-fan-in` (fanin.py): a neuron needing more axons than a core has becomes
  partial-sum neurons feeding a combining neuron (approximate; one tick more), or is refused
  with `exact=True`.
- `truenorth-partition` (partition.py): cores cut to 256 × 256, every neuron given exactly one
  destination (copies or splitter cores, whichever takes fewer cores), delays re-balanced.
- `truenorth-bias-start` (start.py): a core that runs L ticks after the model integrates its
  leak for L ticks before its first input; the registers absorb that charge where the reset
  allows it.
- `place` (generic): cores onto the 64 × 64 mesh.

After every pass the graph runs in the interpreter with the chip's integer semantics, and
its mapping record holds each output's latency, so `snnc.simulate` returns outputs on the
source model's timeline.
"""
from __future__ import annotations

from snnc.backends.truenorth import build, fanin, legalize, partition, start  # noqa: F401  (register their passes)

PIPELINE = ("prune", "truenorth-legalize", "truenorth-encode", "truenorth-split-fan-in", "truenorth-partition",
            "truenorth-bias-start", "place")


def pipeline(target) -> tuple[str, ...]:
    """The TrueNorth family's pass list (limits differ between targets, passes do not)."""
    return PIPELINE
