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
  Measured (`tests/backends/truenorth/test_neuron_rules.py` recomputes it):
  c = 1/2 for reset by subtraction at once (fitted 0.50-0.54 for α = 0.5 … 0.99: the
  membrane of a neuron firing by subtraction spreads evenly over [0, θ], so the decay takes
  (1 − α) θ / 2 per tick on average); c = 3/4 for subtraction at the next step (snnTorch's
  default; fitted 0.70-0.80 for α = 0.8 … 0.99: the model subtracts θ undecayed, (1 − α) θ
  more per spike than at once); c = 3/10 for reset to a value (fitted 0.28-0.37). Where it
  leaks:
    * toward the resting potential v* = b / (1 − α), from both sides, as the decay does:
      the chip's membrane is v − v* (threshold θ − v*, reset value v_reset − v*) with a
      reversal leak toward 0 (V −= λ sgn V). The neuron starts at rest (v = v*) instead of
      at 0. Used without bias (v* = 0, exact start) and for reset to a value or none when
      0 < v* < θ (a constant leak would carry such a neuron over its threshold without
      input; the shipped conv example's CUBA output agrees 0.81 in counts this way, 0.70
      with a constant leak).
    * otherwise (reset by subtraction, which subtracts the register θ − v* would shift; a
      negative bias; a rest above threshold): one constant leak b − λ (the chip has one
      leak register) and the membrane floored at −θ (κ = 1, β = θ), standing in for the
      decay that pulls a negative membrane back (snnTorch's Leaky with zero reset, its
      biases mostly outside (0, θ): decisions agree 0.98 this way, 0.77 about the rest).
  Reset timing becomes the chip's (immediate): with a linear leak, when the threshold is
  subtracted no longer matters. Measured: driven by its inputs' mean (excitatory weights), a
  biased LIF fires within 7 % of the model's rate either way (`test_neuron_rules.py`); driven
  by zero-mean fluctuations large against θ, no linear leak follows the decay's pull, which
  grows with the distance from rest: with weights 0.8 N(0, 1) on 6 inputs spiking at 0.3,
  the rest form fires at 0.43 of the model's rate (no floor: the membrane wanders far
  below rest) and the constant form at 1.4 (floored at −θ: it cannot go as low as the
  model's).
- **Synaptic current** (snn.cuba_lif; rule `truenorth.core.state`): the chip holds one state
  per neuron, so the current I = Σ_k (1 − α_s) α_s^k w_in x[t − k], a low-pass filter, becomes
  K taps: every input term reaches the membrane again k = 0 … K − 1 ticks late (routes of
  lag k, their own axons) weighted (1 − α_s) α_s^k, the taps scaled to the filter's total
  gain w_in. K is the fewest taps holding 80 % of the slowest neuron's filter, at most 5
  (snnTorch's Synaptic with α = 0.8: 5). Measured on the Braille-style RNN of the matrix in
  float (the LIF with the filter as K taps against the CUBA model, 200 ticks): decision
  agreement 0.89 with 1 tap (the filter dropped), 0.92 with 3, 0.95 with 5, 0.98 with 8;
  counts 0.83, 0.94, 0.96, 0.97; on the chip, more taps cost weight precision (K times the
  axons) and copies (K times a population source's destinations): the shipped conv
  example's output agrees 0.81 in counts with 1 tap, 0.87 with 5, 0.94 with 8, the Norse
  LIFCell net 0.93 with 5 and 0.70 with 8. An input term from a population on a loop keeps
  one tap, the filter dropped (its source stays on one core, with no room for the copies);
  a graph input's term is tapped even into a population on a loop (the host drives any
  number of axons): on the Braille-style RNN that alone takes float decision agreement
  from 0.89 to 0.95.
  current_timing next_tick delays the input one tick more (lag 1, faithful).
- **Reset mode** the target lacks (rule `neurons.reset_modes`): subtraction becomes a reset
  to 0 and a reset to v_reset becomes subtraction (the residue above threshold is lost or
  kept).
- **Threshold of a subtracting neuron** (rule `truenorth.core.threshold`): the chip fires at
  V ≥ α and subtracts α; the model fires at v > θ and subtracts θ. With α = round(k θ) the
  subtraction is right (the rate is set by it) and a membrane exactly at threshold fires a
  tick early: on integer arithmetic (ternary weights, θ = 3) output counts agree 0.88
  (`approximation_costs.py`), on real-valued weights equality is rare. A reset to a value
  (α = floor(k θ) + 1) or none is exact.
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
MASS, MAX_TAPS = 0.8, 5          # the share of a current filter its taps hold, and their most
SUBSTITUTE = {"subtract": ("value", "normal"), "value": ("subtract", "linear")}
# c_γ of the leak rule, by the reset the chip does and the source's reset timing
LEAK_FRACTION = {("subtract", "immediate"): 0.5, ("subtract", "next_step"): 0.75,
                 ("value", "immediate"): 0.3, ("value", "next_step"): 0.3,
                 ("none", "immediate"): 0.5, ("none", "next_step"): 0.5}
FRACTION_TEXT = {0.5: "1/2", 0.75: "3/4", 0.3: "3/10"}

LEAK_WHY = ("snn.lif decays multiplicatively (v ← α v + ...), but a TrueNorth leak is linear (V += λ per tick): "
            "train with snn.if and express the leak as a bias, or convert an ANN")
CUBA_WHY = ("snn.cuba_lif has no TrueNorth equivalent: a TrueNorth neuron holds one state, its membrane, and "
            "no synaptic current")
GRADED_WHY = "graded spikes are not supported: a TrueNorth spike is one bit"
THRESHOLD_WHY = ("a TrueNorth neuron resetting by subtraction subtracts the register it compares with (V ≥ α), "
                 "but the model fires at v > θ: no register holds both the strict comparison and the subtraction")


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
    taps: np.ndarray | None = None       # [K, n]: input k ticks late weighs taps[k] (a CUBA current's filter)


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


def plan(op, ctx: Context, target, const: np.ndarray, *, tapped: bool = True) -> Plan:
    """The TrueNorth neuron for a population of `op` whose affine constant is `const` (flat).
    `tapped`: some input term of it can take a current filter's taps (its source is a graph
    input or a population on no loop, `legalize.tap_source`); else the filter is dropped."""
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
                                  v_reset, mode), payload, 0, _threshold_rule(mode, rules))
    lag = 0
    taps = None
    if isinstance(op, CubaLIF):
        alpha = flat(ctx.decay(op.tau_mem))
        gain = (1.0 - alpha) * flat(op.r * op.w_in)
        lag = 1 if op.current_timing == "next_tick" else 0
        taps = filter_taps(flat(ctx.decay(op.tau_syn))) if tapped else np.ones((1, len(theta)))
        rules.append(Rule("truenorth.core.state", _filter_what(len(taps)), CUBA_WHY))
    else:
        alpha = flat(ctx.decay(op.tau))
        gain = (1.0 - alpha) * flat(op.r)
    bias = gain * const + (1.0 - alpha) * flat(op.v_leak)
    timing = op.reset_timing if mode == op.reset_mode else "immediate"
    neurons, what = _leaky(bias, alpha, theta, v_reset, mode, LEAK_FRACTION[(mode, timing)])
    if what:
        rules.append(Rule("truenorth.core.leak", what, LEAK_WHY))
    return Plan(gain, neurons, payload, lag, _threshold_rule(mode, rules), taps)


def _threshold_rule(mode: str, rules: list[Rule]) -> list[Rule]:
    if mode == "subtract":
        rules.append(Rule("truenorth.core.threshold", "fire at V ≥ θ, the register the reset subtracts, where the "
                          "model fires at v > θ: a membrane exactly at threshold fires a tick early", THRESHOLD_WHY))
    return rules


def _filter_what(K: int) -> str:
    if K == 1:
        return ("the synaptic current's low-pass filter is dropped: each input enters the membrane at once with "
                "the filter's total gain w_in (its sources are populations on a loop, which stay on one core)")
    return (f"the synaptic current's low-pass filter becomes {K} taps: each input from a graph input or a "
            f"population on no loop reaches the membrane on {K} routes delayed 0 … {K - 1} ticks, weighted "
            f"(1 − α_s) α_s^k and scaled to the filter's total gain w_in; inputs from populations on a loop "
            f"(which stay on one core, with no room for copies) enter at once with the whole gain")


def filter_taps(alpha_s: np.ndarray) -> np.ndarray:
    """[K, n]: the first K taps (1 − α_s) α_s^k of each neuron's current filter, scaled to sum to 1;
    K holds MASS of the slowest neuron's filter (1 − α_s^K >= MASS), at most MAX_TAPS."""
    slowest = float(np.clip(alpha_s.max(initial=0.0), 0.0, 1.0 - 1e-12))
    K = 1 if slowest <= 0 else int(min(MAX_TAPS, max(1, np.ceil(np.log(1 - MASS) / np.log(slowest)))))
    h = (1.0 - alpha_s)[None, :] * alpha_s[None, :] ** np.arange(K)[:, None]
    return h / h.sum(axis=0, keepdims=True)


def _leaky(bias, alpha, theta, v_reset, mode: str, fraction: float) -> tuple[Neurons, str]:
    """The registers of leaky neurons (module docstring, "Multiplicative leak") and what they do."""
    decay = fraction * (1.0 - alpha) * theta
    leaky = decay != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(leaky, bias / (1.0 - alpha), 0.0)
    at_rest = leaky & ((bias == 0) | ((mode != "subtract") & (rest > 0) & (rest < theta)))
    constant = leaky & ~at_rest
    neurons = Neurons(leak=np.where(at_rest, -decay, bias - decay), reversal=at_rest,
                      floor=np.where(constant, theta, np.inf), theta=np.where(at_rest, theta - rest, theta),
                      v_reset=np.where(at_rest, v_reset - rest, v_reset), reset_mode=mode)
    if not leaky.any():
        return neurons, ""
    c = FRACTION_TEXT[fraction]
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
