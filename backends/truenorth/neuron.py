"""A source neuron as a TrueNorth neuron: what each `snn.*` spiking op becomes, and at what cost.

A TrueNorth neuron (`ops.Core`) integrates its synaptic input, adds a leak that is linear
(V += λ per tick, or toward 0 with leak reversal), and fires at V ≥ α with a reset to R,
by subtraction of α, or none. `plan(op, ctx, target, const)` says how a population of `op`
runs on it, per neuron, in the source model's membrane units per tick (Σ_S A_S y_S[t] is
the population's summed input, c the affine constant folded into it):

    IF     v~ = v + g (Σ A y + c),  g = dt r                 faithful
    LIF    v~ = α v + g (Σ A y + c) + (1 − α) v_leak,  g = (1 − α) r
    CUBA   the synaptic current's filter dropped (below), then as LIF with g = (1 − α_m) r w_in

so b = g c + (1 − α) v_leak is the constant drive (bias) per tick. Rules, each an
approximation the lowering lists (`Approximation`) and `--strict` refuses:

- **Multiplicative leak** (snn.lif, snn.cuba_lif; rule `truenorth.core.leak`): the decay
  −(1 − α) v becomes a leak of magnitude λ = c_γ (1 − α) θ per tick, rate-matched: for a
  constant drive per tick, c_γ minimises the squared difference between the LIF's firing
  rate and the linear-leak neuron's over the drives that fire at 0 … 1/2 spike per tick.
  Measured (`tests/backends/truenorth/test_neuron_rules.py` recomputes it): c = 1/2 for
  reset by subtraction (fitted 0.50-0.54 for α = 0.5 … 0.99: the membrane of a neuron
  firing by subtraction spreads evenly over [0, θ], so the decay takes (1 − α) θ / 2 per
  tick on average), c = 1/4 for reset to a value (fitted 0.25-0.34). Where it leaks:
    * toward the resting potential v* = b / (1 − α), from both sides, as the decay does:
      the chip's membrane is v − v* (threshold θ − v*, reset value v_reset − v*) with a
      reversal leak toward 0 (V −= λ sgn V). The neuron starts at rest (v = v*) instead of
      at 0. Used without bias (v* = 0, exact start) and for reset to a value or none when
      v* < θ.
    * otherwise (reset by subtraction, which subtracts the register θ − v* would shift, or a
      neuron whose rest lies above threshold): one constant leak b − λ (the chip has one
      leak register) and the membrane floored at −θ (κ = 1, β = θ), standing in for the
      decay that pulls a negative membrane back.
  Reset timing becomes the chip's (immediate): with a linear leak, when the threshold is
  subtracted no longer matters.
- **Synaptic current** (snn.cuba_lif; rule `truenorth.core.state`): the chip holds one state
  per neuron, so the current I, a low-pass filter of gain w_in, is dropped and its input
  enters the membrane at once with the filter's total gain (Σ_k (1 − α_s) α_s^k = 1):
  spike counts over windows longer than τ_syn are kept, their timing sharpened.
  current_timing next_tick delays the input one tick (lag 1, faithful).
- **Reset mode** the target lacks (rule `neurons.reset_modes`): subtraction becomes a reset
  to 0 and a reset to v_reset becomes subtraction (the residue above threshold is lost or
  kept).
- **Graded spikes** (rule `truenorth.core.spike`): a spike is one bit, so a graded spike's
  payload v~ (≥ θ) is taken as θ: receivers weigh each spike by θ (the overshoot above
  threshold is lost).

Refused (the messages the lowering has always used): a negative threshold (α is
unsigned), a refractory period (the neuron has none), a reset mode the target lacks with no
substitute.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.backends.truenorth.encode import Neurons
from snnc.interp.kernel import Context
from snnc.ir.snn import IF, CubaLIF

RESET_NAMES = {"value": "normal", "subtract": "linear", "none": "none"}
SUBSTITUTE = {"subtract": ("value", "normal"), "value": ("subtract", "linear")}
LEAK_FRACTION = {"subtract": 0.5, "value": 0.25, "none": 0.5}      # c_γ of the leak rule

LEAK_WHY = ("snn.lif decays multiplicatively (v ← α v + ...), but a TrueNorth leak is linear (V += λ per tick): "
            "train with snn.if and express the leak as a bias, or convert an ANN")
CUBA_WHY = ("snn.cuba_lif has no TrueNorth equivalent: a TrueNorth neuron holds one state, its membrane, and "
            "no synaptic current")
GRADED_WHY = "graded spikes are not supported: a TrueNorth spike is one bit"


@dataclass
class Rule:
    """One approximation of a population: target rule, what the chip computes, why not exactly."""

    rule: str
    what: str
    why: str


@dataclass
class Plan:
    """How a spiking population runs on TrueNorth neurons, per neuron (flat, C order), in membrane
    units per tick."""

    gain: np.ndarray             # g: membrane per unit of summed input
    neurons: Neurons             # leak, its direction, floor, threshold, reset as the chip will have them
    payload: np.ndarray          # what one spike of this population is worth to its receivers
    lag: int = 0                 # ticks every input is delayed by (current_timing next_tick)
    rules: list[Rule] = field(default_factory=list)


def problems(op, target, ctx: Context) -> list[str]:
    """Every reason a spiking population cannot run on `target` at all (refusals)."""
    p = []
    if np.any(op.v_threshold < 0):
        p.append(f"v_threshold must be >= 0 (TrueNorth's α is unsigned), got {op.v_threshold.min():g}")
    if int(ctx.ticks(op.t_refrac, "t_refrac")) != 0:
        p.append("a refractory period has no TrueNorth equivalent (the neuron has none); use t_refrac = 0")
    have = target.neurons.reset_modes
    if RESET_NAMES[op.reset_mode] not in have and (op.reset_mode not in SUBSTITUTE
                                                   or SUBSTITUTE[op.reset_mode][1] not in have):
        p.append(f"reset_mode {op.reset_mode} ({RESET_NAMES[op.reset_mode]}) is not supported by target "
                 f"'{target.name}' (rule neurons.reset_modes = [{', '.join(have)}])")
    return p


def plan(op, ctx: Context, target, const: np.ndarray) -> Plan:
    """The TrueNorth neuron for a population of `op` whose affine constant is `const` (flat)."""
    shape = op.shape

    def flat(v) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=np.float64), shape).reshape(-1).copy()

    theta, v_reset = flat(op.v_threshold), flat(op.v_reset)
    rules: list[Rule] = []
    mode = _reset_mode(op, target, rules)
    if mode == "value" and op.reset_mode != "value":
        v_reset = np.zeros_like(theta)
    payload = theta.copy() if op.graded else np.ones_like(theta)
    if op.graded:
        rules.append(Rule("truenorth.core.spike", "send one-bit spikes worth θ each: receivers weigh a spike by "
                          "the threshold instead of the graded payload v~ (the overshoot above θ is lost)",
                          GRADED_WHY))
    if isinstance(op, IF):
        gain = flat(ctx.dt * op.r)
        return Plan(gain, Neurons(gain * const, np.zeros(len(theta), bool), np.full(len(theta), np.inf), theta,
                                  v_reset, mode), payload, 0, rules)
    lag = 0
    if isinstance(op, CubaLIF):
        alpha = flat(ctx.decay(op.tau_mem))
        gain = (1.0 - alpha) * flat(op.r * op.w_in)
        lag = 1 if op.current_timing == "next_tick" else 0
        rules.append(Rule("truenorth.core.state", "drop the synaptic current's low-pass filter: each input "
                          "enters the membrane at once with the filter's total gain w_in", CUBA_WHY))
    else:
        alpha = flat(ctx.decay(op.tau))
        gain = (1.0 - alpha) * flat(op.r)
    bias = gain * const + (1.0 - alpha) * flat(op.v_leak)
    neurons, what = _leaky(bias, alpha, theta, v_reset, mode)
    if what:
        rules.append(Rule("truenorth.core.leak", what, LEAK_WHY))
    return Plan(gain, neurons, payload, lag, rules)


def _leaky(bias, alpha, theta, v_reset, mode: str) -> tuple[Neurons, str]:
    """The registers of leaky neurons (module docstring, "Multiplicative leak") and what they do."""
    decay = LEAK_FRACTION[mode] * (1.0 - alpha) * theta
    leaky = decay != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(leaky, bias / (1.0 - alpha), 0.0)
    at_rest = leaky & ((bias == 0) | ((mode != "subtract") & (rest < theta)))
    constant = leaky & ~at_rest
    neurons = Neurons(leak=np.where(at_rest, -decay, bias - decay), reversal=at_rest,
                      floor=np.where(constant, theta, np.inf), theta=np.where(at_rest, theta - rest, theta),
                      v_reset=np.where(at_rest, v_reset - rest, v_reset), reset_mode=mode)
    if not leaky.any():
        return neurons, ""
    c = {0.5: "1/2", 0.25: "1/4"}[LEAK_FRACTION[mode]]
    forms = []
    if np.any(at_rest & (bias == 0)):
        forms.append("toward 0 from both sides (leak reversal)")
    if np.any(at_rest & (bias != 0)):
        forms.append("toward the resting potential b/(1 − α) from both sides (the membrane shifted by it; the "
                     "neuron starts at rest instead of 0)")
    if constant.any():
        forms.append("as one constant leak b − λ with the bias b, the membrane floored at −θ")
    what = (f"a linear leak of λ = {c} (1 − α) θ per tick stands for the decay (1 − α) v, matching the firing "
            f"rate under constant drive: {'; '.join(forms)}")
    return neurons, what


def _reset_mode(op, target, rules: list[Rule]) -> str:
    """The source's reset mode if the target has it, else its substitute, as an approximation."""
    have = target.neurons.reset_modes
    if RESET_NAMES[op.reset_mode] in have:
        return op.reset_mode
    why = (f"reset_mode {op.reset_mode} ({RESET_NAMES[op.reset_mode]}) is not supported by target '{target.name}' "
           f"(rule neurons.reset_modes = [{', '.join(have)}])")
    what = {"subtract": "reset v to 0 at each spike instead of subtracting the threshold (the residue above "
                        "threshold is lost)",
            "value": "subtract the threshold at each spike instead of resetting to v_reset (the residue above "
                     "threshold is kept)"}[op.reset_mode]
    rules.append(Rule("neurons.reset_modes", what, why))
    return SUBSTITUTE[op.reset_mode][0]
