"""`truenorth-bias-start`: a core's leak starts with its first input, not with the chip.

A core of latency L acts at chip tick t + L for the source model's tick t, but its leak
(the model's bias) is added from chip tick 0: by the time its first input arrives its
neurons hold δ = L · λ more than the model's (and one whose leak reaches its threshold
fires before the model does). Every neuron's registers are therefore taken relative to
that charge where its reset allows it, which makes the run exact:

    α' = α + δ,   β' = β − δ,   R' = R + δ          (reset to a value, γ = 0)
    α' = α + δ,   β' = β − δ                         (no reset, γ = 2)

so V' = V + δ at every tick: it crosses α' when V crosses α, resets to R + δ, saturates at
−β + δ, and during the L ticks before its input it rises to δ, below α'. A reversal leak
(toward 0) does nothing to a membrane at 0 and needs no shift. Reset by subtraction
(γ = 1) subtracts α' itself, so no register holds the charge: such neurons (and any whose
shifted registers leave the target's formats) start δ ahead, listed as an approximation
(rule `truenorth.core.reset`). The chip's own initial-potential register (NSCS's V) would
make those exact too; the dialect has none.

Run after the last pass that changes latencies (truenorth-partition).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.truenorth.netlist import Netlist
from snnc.backends.truenorth.ops import RESET_LINEAR, RESET_NORMAL
from snnc.ir.graph import Graph, Node
from snnc.passes.approximation import Approximation
from snnc.passes.registry import PassResult, register_pass

WHY = ("a core that runs {L} tick(s) after the model integrates its leak (the bias) from the chip's first tick; "
       "with reset by subtraction no register can hold that charge (the dialect has no initial membrane potential)")


@dataclass(frozen=True)
class StartOptions:
    """No options."""


def shifted(op, L: int, f) -> tuple[object, np.ndarray]:
    """The core with its registers taken relative to L ticks of leak, and the neurons that could not be."""
    delta = L * np.where(op.leak_reversal == 1, 0, op.leak)
    alpha, beta = op.alpha + delta, op.beta - delta
    reset = np.where(op.reset_mode == RESET_NORMAL, op.reset_value + delta, op.reset_value)
    fits = ((alpha >= f.alpha.lo) & (alpha <= f.alpha.hi) & (beta >= f.beta.lo) & (beta <= f.beta.hi)
            & (reset >= f.reset_value.lo) & (reset <= f.reset_value.hi))
    move = (delta != 0) & (op.reset_mode != RESET_LINEAR) & fits
    left = (delta != 0) & ~move
    out = op.replace(alpha=np.where(move, alpha, op.alpha), beta=np.where(move, beta, op.beta),
                     reset_value=np.where(move, reset, op.reset_value))
    return out, left


@register_pass("truenorth-bias-start", StartOptions)
def bias_start(graph: Graph, target, options: StartOptions) -> PassResult:
    """Shift every leaky core's thresholds and reset by the leak it integrates before its first input."""
    net = Netlist.of(graph)
    m = net.mapping
    shifted_neurons, approximations = 0, {}
    for name, node in net.cores.items():
        L = m.latency.get(name, 0)
        if L == 0 or not np.any(node.op.leak):
            continue
        op, left = shifted(node.op, L, target.formats)
        shifted_neurons += int(np.count_nonzero(op.alpha != node.op.alpha))
        net.cores[name] = Node(name, op, node.origin)
        part = m.parts.get(name)
        held = left[part.first:part.first + part.count] if part else left      # copies are not counted again
        if held.any():
            pop = part.population if part else name
            approximations.setdefault(pop, (L, node.origin, 0))
            approximations[pop] = (L, node.origin, approximations[pop][2] + int(held.sum()))
    records = tuple(Approximation(pop, origin, "truenorth.core.reset",
                                  f"{n} neuron(s) start {L} tick(s) of bias ahead of the model",
                                  WHY.format(L=L)) for pop, (L, origin, n) in approximations.items())
    stats = {"shifted_neurons": shifted_neurons, "early_neurons": sum(n for _, _, n in approximations.values())}
    return PassResult(net.to_graph(), stats=stats, approximations=records)
