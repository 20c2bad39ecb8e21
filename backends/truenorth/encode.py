"""One population's integers: its weights over axon types, leak, thresholds, reset and floor.

A population P, with everything that drives it folded into one matrix per (source, lag)
term (`build.py`), becomes a core whose integer run is P's (`neuron.py` says what P's
neurons become): the core may still exceed the chip's 256 × 256 (later passes split it),
but its arithmetic is final. Per neuron j, in membrane units per tick:

    E_j    = g_j · [A_S1 | A_S2 | ...]_j · payload    weights per input spike
    λ_j    the leak: the bias b_j = g_j c_j (+ rest), or, for a leaky neuron, b_j − λ_decay
           (constant) or −λ_decay toward 0 (leak reversal) when it has no bias

Weights: E is factorised (`factorize.py`) with D axons per input; then every neuron gets
an integer scale k_j, the largest that keeps its four weights, its leak, its threshold and
its reset value within the target's ranges, and

    s_j^g = round(k_j · s_j^g(float))   (then each synapse picks the closest integer subset sum)
    leak  = round(k_j · λ_j)             (σ_λ = sign; deterministic; ε = 1 for leak reversal)
    α_j   = floor(k_j θ_j) + 1           (V ≥ α  ⇔  V > k_j θ_j, the source's strict >)
            max(1, round(k_j θ_j))       for linear reset, whose subtraction of α sets the rate
    γ_j   = 0 normal (R = round(k_j · v_reset)), 1 linear (subtract), 2 none — from reset_mode
    κ_j = 1, β_j = round(k_j · floor_j), or the deepest floor the formats allow (the source's
          v is unbounded below)

Duplication D (option `duplication`, 0 = per layer): the most precise D, the smallest of
equally precise ones (an exactly representable layer uses the fewest axons), among 1..4
and, where the layer's inputs leave the axons free, 4k (k axons of every type, k up to
MAX_COPIES, D · inputs <= core.axons, and no source is a population in a loop: the copies
its neurons would need could not stay on its one core). When its inputs do not fit one core's axons
(D · inputs > core.axons), the most precise D that fits is taken instead if its relative
RMS weight error is at most `max_error`; otherwise the precise one stays and
`truenorth-split-fan-in` splits the fan-in.

The factorisation is faithful when every realised weight is the model's weight rounded to
the neuron's integer grid (|k_j E_ji − W̃_ji| ≤ 1/2); otherwise `exact` is False and the
lowering lists the layer's weight error as an approximation (rule `core.axon_types`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.truenorth import factorize as fz
from snnc.backends.truenorth.cores import make_core
from snnc.backends.truenorth.ops import RESET_LINEAR, RESET_NONE, RESET_NORMAL
from snnc.passes.registry import option

GAMMA = {"value": RESET_NORMAL, "subtract": RESET_LINEAR, "none": RESET_NONE}
MAX_COPIES = 4          # axons of each type an input may get where a layer's inputs leave axons free


@dataclass(frozen=True)
class EncodeOptions:
    """`duplication`: axons per input, 1..4, or 0 to choose per layer; `max_error`: the largest
    relative RMS weight error accepted to avoid splitting a layer's fan-in (duplication 0)."""

    duplication: int = option(0, "axons per input, 1..4, or 0 to choose per layer", choices=(0, 1, 2, 3, 4))
    max_error: float = option(0.25, "largest relative RMS weight error accepted to avoid splitting a layer's "
                                    "fan-in (duplication 0)", low=0.0)
    input: str = option("auto", "how graph inputs enter: binary spikes, or real values the host codes as spikes "
                                "(rate); auto: rate for a model that takes real values (a converted ANN)",
                        choices=("auto", "spikes", "rate"))
    input_range: float = option(0.0, "largest |x| of a rate-coded input (0: the model's declared peak, else 1)",
                                low=0.0)

    def __post_init__(self):
        if self.duplication not in (0, 1, 2, 3, 4):
            raise ValueError(f"duplication must be 0 (per layer) or 1..4 axons per input, got {self.duplication}")
        if not self.max_error >= 0:
            raise ValueError(f"max_error must be >= 0, got {self.max_error}")
        if self.input not in ("auto", "spikes", "rate"):
            raise ValueError(f"input must be auto, spikes or rate, got {self.input!r}")
        if not self.input_range >= 0:
            raise ValueError(f"input_range must be >= 0, got {self.input_range}")


@dataclass
class Neurons:
    """A population's neuron registers in membrane units (floats), before scaling to integers."""

    leak: np.ndarray              # λ per tick, signed
    reversal: np.ndarray          # bool: the leak pulls toward 0 (λ <= 0 then)
    floor: np.ndarray             # β: the membrane's floor below 0 (inf: the deepest the chip allows)
    theta: np.ndarray
    v_reset: np.ndarray
    reset_mode: str


@dataclass
class Encoded:
    """One layer in integers: its core (all inputs' axons), the input each axon carries, stats."""

    core: object
    axon_input: np.ndarray        # [A] column of E each axon carries
    approx: np.ndarray            # W̃ [n, m], the weights the core realises (membrane units)
    stats: dict
    exact: bool                   # every weight is the model's, rounded to the neuron's integer grid


def _scale(s, nrn: Neurons, f) -> np.ndarray:
    """k_j: the largest factor that keeps weights, leak, threshold and reset value in range."""
    w_max = min(-f.weight.lo, f.weight.hi)
    limits = [(np.abs(s).max(axis=1), w_max), (np.abs(nrn.leak), min(-f.leak.lo, f.leak.hi)),
              (nrn.theta, f.alpha.hi - 1), (np.abs(nrn.v_reset), min(-f.reset_value.lo, f.reset_value.hi)),
              (np.where(np.isfinite(nrn.floor), nrn.floor, 0.0), f.beta.hi)]
    k = np.full(len(nrn.theta), np.inf)
    for value, cap in limits:
        with np.errstate(divide="ignore"):
            k = np.minimum(k, np.where(value > 0, cap / np.where(value > 0, value, 1.0), np.inf))
    k = np.where(np.isfinite(k), k, 1.0)
    return _round_friendly(k, np.hstack([s, nrn.leak[:, None], nrn.v_reset[:, None]]
                                        + ([nrn.theta[:, None]] if nrn.reset_mode == "subtract" else [])))


def _round_friendly(k: np.ndarray, values: np.ndarray, span: float = 0.125) -> np.ndarray:
    """Per neuron, the scale in [(1 − span) k, k] (k itself or an integer) whose registers k·x lose
    least to rounding, measured in membrane units: max |round(k x) − k x| / k (ties: the larger).
    Ternary weights with a bias of 0.3 get k = 250, not 255, and every register exact."""
    top = np.floor(k)
    steps = np.arange(0, 33)
    cand = np.concatenate([k[:, None], top[:, None] - steps[None, :]], axis=1)          # [n, 34]
    cand = np.where(cand >= np.maximum((1 - span) * k, 1.0)[:, None], cand, k[:, None])
    scaled = cand[:, :, None] * values[:, None, :]                                      # [n, C, r]
    err = np.abs(np.rint(scaled) - scaled).max(axis=2, initial=0.0) / cand
    best = np.argmin(np.round(err, 12) - 1e-15 * cand, axis=1)
    return cand[np.arange(len(k)), best]


def encode_layer(E: np.ndarray, nrn: Neurons, D: int, target) -> Encoded:
    f = target.formats
    n, m = E.shape
    fitted = fz.fit(E, D)
    k = _scale(fitted.s, nrn, f)
    S = np.clip(np.rint(k[:, None] * fitted.s), f.weight.lo, f.weight.hi).astype(np.int64)
    C = fz.choices(E * k[:, None], S.astype(np.float64), D, fitted.subset)           # [n, m, 4]
    realised = np.einsum("jig,jg->ji", C, S)
    approx = realised / k[:, None]
    crossbar, axon_input, axon_type = axons_of(C)
    gamma = GAMMA[nrn.reset_mode]
    alpha = np.floor(k * nrn.theta) + 1 if gamma != RESET_LINEAR else np.maximum(1, np.rint(k * nrn.theta))
    deepest = min(f.beta.hi, -f.membrane_range.lo)
    beta = np.where(np.isfinite(nrn.floor), np.clip(np.rint(k * np.where(np.isfinite(nrn.floor), nrn.floor, 0)),
                                                     0, deepest), deepest)
    leak = np.clip(np.rint(k * nrn.leak), f.leak.lo, f.leak.hi)
    core = make_core(crossbar, axon_type, S, leak=leak, leak_reversal=nrn.reversal.astype(np.int64),
                     alpha=np.clip(alpha, f.alpha.lo, f.alpha.hi), beta=beta, reset_mode=gamma, saturate=1,
                     reset_value=np.rint(k * nrn.v_reset) if gamma == RESET_NORMAL else 0,
                     membrane_bits=f.membrane_bits)
    err = fz.relative_error(E, approx)
    stats = {"duplication": D, "inputs": int(m), "axons": int(len(axon_input)), **err,
             "scale": [float(k.min(initial=np.inf)), float(k.max(initial=0.0))] if n else [],
             "leak_rel_error_max": _leak_error(k, nrn.leak, core.leak)}
    exact = bool(np.all(np.abs(realised - E * k[:, None]) <= 0.5 + 1e-9))
    return Encoded(core, axon_input, approx, stats, exact)


def axons_of(C: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The crossbar [A, n], input and type of each axon for the synapse counts C [n, m, 4]: every
    (input, type) pair gets as many axons as a neuron uses (c_jig <= k), neuron j connected to the
    first c_jig of them; axons in order of input, type, copy."""
    K = C.max(axis=0).astype(np.int64)                                             # [m, 4]
    pairs = np.argwhere(K > 0)
    reps = K[pairs[:, 0], pairs[:, 1]]
    pair_of = np.repeat(np.arange(len(pairs)), reps)
    copy = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
    used = C[:, pairs[pair_of, 0], pairs[pair_of, 1]]                              # [n, A]
    crossbar = (used > copy[None, :]).T.astype(np.int64)
    return crossbar, pairs[pair_of, 0], pairs[pair_of, 1]


def _leak_error(k, leak_float, leak) -> float:
    scale = np.maximum(np.abs(leak_float), 1e-300)
    return float(np.max(np.where(leak_float != 0, np.abs(leak / k - leak_float) / scale, 0.0), initial=0.0))


def choose_duplication(E, nrn: Neurons, target, options: EncodeOptions, *, wide: bool = True) -> tuple[Encoded, dict]:
    """The encoding with the duplication the options ask for (see the module docstring); `wide`
    False keeps D <= 4 (a source that must stay on one core cannot afford the copies)."""
    if options.duplication:
        return encode_layer(E, nrn, options.duplication, target), {}
    inputs = int(np.count_nonzero(np.any(E != 0, axis=0)))
    wide = [4 * k for k in range(2, MAX_COPIES + 1) if wide and 4 * k * inputs <= target.core.axons]
    tried = {D: encode_layer(E, nrn, D, target) for D in (1, 2, 3, 4, *wide)}
    errors = {str(D): enc.stats["rel_rms"] for D, enc in tried.items()}
    rank = {D: (round(enc.stats["rel_rms"], 12), D) for D, enc in tried.items()}
    best = min(tried, key=rank.__getitem__)                          # most precise, then fewest axons
    fitting = [D for D in tried if D * inputs <= target.core.axons]
    if fitting and best not in fitting:
        nearest = min(fitting, key=rank.__getitem__)
        if tried[nearest].stats["rel_rms"] <= options.max_error:
            best = nearest
    return tried[best], errors
