"""Lowering `snn.*` to the `truenorth.*` dialect, and the TrueNorth family's pipeline.

    prune → truenorth-legalize → truenorth-encode → truenorth-split-fan-in → truenorth-partition → place

- `truenorth-legalize` refuses, naming node, origin and target rule, what a TrueNorth neuron
  cannot compute, and rewrites what maps exactly (snn → snn).
- `truenorth-encode` (encode.py): each population to one integer core — weight factorisation
  over axon types with input duplication, bias as leak, thresholds α/β, reset γ/κ/R.
- `truenorth-split-fan-in` (fanin.py): a neuron needing more axons than a core has becomes
  partial-sum neurons feeding a combining neuron (approximate; one tick more), or is refused
  with `exact=True`.
- `truenorth-partition` (partition.py): cores cut to 256 × 256, every neuron given exactly one
  destination (copies or splitter cores, whichever takes fewer cores), delays re-balanced.
- `place` (generic): cores onto the 64 × 64 mesh.

After every pass the graph runs in the interpreter with the chip's integer semantics, and
its "io" annotation records each output's latency, so `snnc.simulate` returns outputs on
the source model's timeline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.loihi.lower import POPULATIONS
from snnc.backends.truenorth import encode, fanin, partition  # noqa: F401  (register their passes)
from snnc.errors import UnsupportedOpError
from snnc.interp.kernel import Context
from snnc.ir.graph import Graph
from snnc.ir.snn import IF, LIF, Input, Output
from snnc.passes.populations import is_affine_op, populations
from snnc.passes.registry import register_pass

PIPELINE = ("prune", "truenorth-legalize", "truenorth-encode", "truenorth-split-fan-in", "truenorth-partition",
            "place")
RESET_NAMES = {"value": "normal", "subtract": "linear", "none": "none"}


def pipeline(target) -> tuple[str, ...]:
    """The TrueNorth family's pass list (limits differ between targets, passes do not)."""
    return PIPELINE


@dataclass(frozen=True)
class LegalizeOptions:
    """No options."""


def neuron_problems(op, target, ctx: Context) -> list[str]:
    """Every reason an `snn.if` population cannot become TrueNorth neurons on `target`."""
    p = []
    mode = RESET_NAMES[op.reset_mode]
    if mode not in target.neurons.reset_modes:
        p.append(f"reset_mode {op.reset_mode} ({mode}) is not supported by target '{target.name}' "
                 f"(rule neurons.reset_modes = [{', '.join(target.neurons.reset_modes)}])")
    if np.any(op.v_threshold < 0):
        p.append(f"v_threshold must be >= 0 (TrueNorth's α is unsigned), got {op.v_threshold.min():g}")
    if int(ctx.ticks(op.t_refrac, "t_refrac")) != 0:
        p.append("a refractory period has no TrueNorth equivalent (the neuron has none); use t_refrac = 0")
    if op.graded:
        p.append("graded spikes are not supported: a TrueNorth spike is one bit")
    return p


def _node_problem(graph: Graph, name: str) -> str | None:
    op = graph.op(name)
    if isinstance(op, LIF):
        return ("snn.lif decays multiplicatively (v ← α v + ...), but a TrueNorth leak is linear "
                "(V += λ per tick): train with snn.if and express the leak as a bias, or convert an ANN")
    if isinstance(op, (IF, Input, Output)) or is_affine_op(op):
        return None
    return (f"{op.name} has no TrueNorth equivalent: the lowering maps snn.if populations and the "
            f"stateless affine ops between them")


@register_pass("truenorth-legalize", LegalizeOptions)
def legalize(graph: Graph, target, options: LegalizeOptions) -> Graph:
    """Refuse what TrueNorth neurons cannot compute (naming node, origin and rule); normalise reset timing."""
    ctx = Context(dt=graph.dt, method=graph.method)
    problems: list[tuple[str, str]] = []
    for e in graph.edges:
        if e.recurrent:
            problems.append((e.dst, f"recurrent edge {e}: the TrueNorth lowering supports feed-forward graphs only"))
    for name in graph.nodes:
        msg = _node_problem(graph, name)
        if msg:
            problems.append((name, msg))
        elif isinstance(graph.op(name), IF):
            problems += [(name, m) for m in neuron_problems(graph.op(name), target, ctx)]
    if problems:
        name, msg = problems[0]
        node = graph.nodes[name]
        more = tuple(f"node '{n}' ({graph.nodes[n].op.name}): {m}" for n, m in problems[1:])
        raise UnsupportedOpError(msg, node=name, op=node.op.name, source=node.origin or None, more=more)
    populations(graph, POPULATIONS)                # the remaining structural checks
    out = graph
    for name, node in graph.nodes.items():
        if isinstance(node.op, IF) and node.op.reset_timing == "next_step":
            # without decay, resetting now or while integrating the next tick gives the same spikes
            out = out.with_op(name, node.op.replace(reset_timing="immediate"))
    return out
