"""Number encoding of one layer: float weights, bias and threshold to Loihi's registers.

Each neuron i of a layer gets its own state scale S_i (integer state units per unit of the
float membrane): v_int = S_i · v. The chip then computes, per tick,

    v_int += 2^6 · Σ_j W_ij · 2^e_i · s_j  +  bias_mant_i · 2^bias_exp_i,   spike if v_int > vth_mant_i · 2^6

so the float model is reproduced when W_ij · 2^(6 + e_i) ≈ S_i · E_ij (E: float weight in
membrane units per unit of input), bias ≈ S_i · β_i and vth_mant · 2^6 ≈ S_i · θ_i.
Because the dynamics are linear between spikes and the threshold scales with S_i, any
S_i > 0 is exact in real arithmetic; the choice only decides precision and overflow.

The search follows nengo-loihi's exponent search, per output row (the dialect gives every
row its own exponent): S_i is the largest scale that keeps

    threshold  vth_mant ≤ 2^17 − 1                   S_i ≤ (2^17 − 1) · 2^6 / θ_i
    bias       |bias| ≤ bias_mant_max · 2^bias_exp_max
    headroom   `headroom="state"` (default): neither state can leave 24 bits, whatever
               the input: the current u is at most U = max(Σ_j E⁺_ij p_j, Σ_j E⁻_ij p_j) ·
               4096/D_u (p_j the largest payload of input j, 1 for spikes; 4096/D_u the
               current's geometric gain), the membrane at most θ + 2 (U + β⁺) above and
               (U + β⁻) · 4096/D_v below (a non-leaky membrane, D_v = 0, is bounded only
               by its input); S_i times the largest of these ≤ 2^23 − 1. With
               `headroom="input"` only u is bounded; `"none"` bounds neither.
    weights    S_i · max_j |E_ij| ≤ 255 · 2^(6 + e_max)

and e_i is then the smallest exponent whose mantissas still fit, so every row uses the
full 8-bit mantissa range. Finally each row's scale is refined within [0.75 S_i, S_i] to the
value whose rounded weights lie closest to the float ones (the threshold has bits to spare).
`per_neuron_scale=False` uses one scale and one exponent per layer (the smallest scale any
row allows), which is what lava-dl netx files can express. `per_row_exponent=False` gives one exponent per layer (the
largest any row needs) for cores that cannot hold one per row; rows that needed less then
use fewer mantissa bits, and the statistics show the cost.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_SCALE = 64.0      # state scale of a neuron that no bound limits (no input, bias or threshold)


@dataclass
class Encoded:
    """The integer registers of one layer and the scale that relates them to the float model."""

    scale: np.ndarray                     # S_i, float [n]
    weights: dict[str, np.ndarray]        # source -> mantissas int64 [n, n_src]
    weight_exp: np.ndarray                # int64 [n]
    vth_mant: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    stats: dict
    own_exp: dict = field(default_factory=dict)   # source -> int64 [n], for sources with their own exponents

    def exponent(self, src) -> np.ndarray:
        """The row exponents of the synapses from `src`."""
        return self.own_exp.get(src, self.weight_exp)


def encode_layer(E: dict, payload: dict, beta: np.ndarray, theta: np.ndarray, d_u: np.ndarray, formats, *,
                 per_row_exponent: bool = True, headroom: str = "state", refine: bool = True,
                 per_neuron_scale: bool = True, d_v: np.ndarray | None = None, own_exponent=(),
                 in_current: np.ndarray | None = None) -> Encoded:
    """Encode one layer. `E[src]` [n, m] in membrane units per unit payload, `payload[src]` [m]
    the largest payload each input sends, `beta` bias per tick, `theta` threshold (float),
    `d_u` the current's decay steps (1..4096). The sources in `own_exponent` (a bias axon)
    get exponents of their own, >= 0, instead of the row's shared one. Rows where `in_current`
    keep the membrane in the current register (zero-reset chips, see `build`): `d_u` are then
    the membrane's decay steps (0: none) and the register is bounded as a membrane."""
    n = len(theta)
    in_current = np.zeros(n, bool) if in_current is None else np.asarray(in_current, bool)
    gain = np.where(in_current, 1.0, unity_gain(d_u, formats))
    w_hi = (1 << formats.weight_bits) - 1
    w_lo = -(1 << formats.weight_bits)
    act = formats.activation_shift
    unity = 1 << formats.decay_bits
    max_abs = np.zeros(n)
    pos = np.zeros(n)
    neg = np.zeros(n)
    for src, m in E.items():
        max_abs = np.maximum(max_abs, np.abs(m).max(axis=1, initial=0.0))
        pos += np.clip(m, 0, None) @ payload[src]
        neg += np.clip(-m, 0, None) @ payload[src]
    vth_max = (1 << formats.threshold_mantissa_bits) - 1
    bias_max = ((1 << (formats.bias_mantissa_bits - 1)) - 1) * 2.0 ** formats.bias_exp.hi
    state_max = (1 << (formats.state_bits - 1)) - 1
    bounds = {
        "threshold": _ratio(vth_max * 2.0 ** formats.threshold_shift, theta),
        "bias": _ratio(bias_max, np.abs(beta)),
        "headroom": _ratio(state_max, _state_peak(pos, neg, beta, theta, gain, d_v, headroom, in_current, d_u,
                                                          unity)),
        "weights": _ratio(w_hi * 2.0 ** (act + formats.weight_exp.hi), max_abs),
    }
    stacked = np.stack(list(bounds.values()))
    scale = stacked.min(axis=0)
    binding = np.array(list(bounds))[stacked.argmin(axis=0)]
    binding = np.where(np.isfinite(scale), binding, "none")
    scale = np.where(np.isfinite(scale), scale, DEFAULT_SCALE)
    if not per_neuron_scale and n:
        scale = np.full(n, scale.min())
        per_row_exponent = False

    shared = {k: m for k, m in E.items() if k not in own_exponent}
    shared_abs = np.zeros(n)
    for m in shared.values():
        shared_abs = np.maximum(shared_abs, np.abs(m).max(axis=1, initial=0.0))
    exp = _smallest_exponent(scale * shared_abs, w_hi * 2.0 ** act, formats.weight_exp)
    if not per_row_exponent and n:
        exp = np.full(n, exp.max())
    if refine and per_neuron_scale:
        scale = _refine_scale(shared, scale, exp, act, w_lo, w_hi)
    exps = _exponents(E, shared, scale, exp, formats)
    weights = _round_weights(E, scale, exps, act, w_lo, w_hi)
    if headroom != "none":
        for _ in range(32):                        # rounding up may push a row just past the bound
            worst = sum((np.maximum(np.clip(w, 0, None) @ payload[s], np.clip(-w, 0, None) @ payload[s])
                         * 2.0 ** (act + exps[s]) for s, w in weights.items()), np.zeros(n)) * gain
            over = worst > state_max
            if not over.any():
                break
            scale = np.where(over, scale * np.minimum(state_max / worst, 0.999), scale)
            exp = np.minimum(exp, _smallest_exponent(scale * shared_abs, w_hi * 2.0 ** act, formats.weight_exp))
            if not per_row_exponent and n:
                exp = np.full(n, exp.max())
            exps = _exponents(E, shared, scale, exp, formats)
            weights = _round_weights(E, scale, exps, act, w_lo, w_hi)
    vth_mant = np.clip(np.rint(scale * theta / 2.0 ** formats.threshold_shift), 0, vth_max).astype(np.int64)
    bias_mant, bias_exp = _encode_bias(scale * beta, formats)
    own = {k: e.astype(np.int64) for k, e in exps.items() if k in own_exponent}
    enc = Encoded(scale, weights, exp.astype(np.int64), vth_mant, bias_mant, bias_exp, {}, own)
    enc.stats = _errors(E, beta, theta, enc, formats, binding)
    return enc


def _exponents(E, shared, scale, exp, formats) -> dict:
    """Each source's row exponents: the shared ones, or (own exponent) the smallest e >= 0 whose
    mantissas fit. A negative exponent floors the synapse's sum, so it cannot refine a source
    that sends one spike a tick; it only coarsens it."""
    w_hi = (1 << formats.weight_bits) - 1
    rng = type(formats.weight_exp)(max(formats.weight_exp.lo, 0), formats.weight_exp.hi)
    out = {}
    for k, m in E.items():
        if k in shared:
            out[k] = exp
        else:
            peak = scale * np.abs(m).max(axis=1, initial=0.0)
            out[k] = _smallest_exponent(peak, w_hi * 2.0 ** formats.activation_shift, rng)
    return out


def unity_gain(d_u, formats) -> np.ndarray:
    """The current's geometric gain 2^bits / D_u: what a constant input per tick adds up to."""
    return (1 << formats.decay_bits) / np.maximum(np.asarray(d_u, np.float64), 1)


HORIZON = 256     # ticks a non-leaky membrane in the wrapping current register is guarded for, at its
                  # largest inhibition or drive beyond one spike a tick


def _state_peak(pos, neg, beta, theta, gain, d_v, headroom, in_current, d_u, unity) -> np.ndarray:
    """The largest |state| (float membrane units) the chosen headroom guards against, per neuron."""
    if headroom == "none":
        return np.zeros_like(pos)
    u = np.maximum(pos, neg) * gain
    if headroom == "input" or d_v is None:
        return u
    leak = np.where(in_current, d_u, d_v)
    # a constant drive per tick adds up over at most unity / leak ticks (its fixed point); in the
    # wrapping current register, over at most HORIZON ticks of a run (v saturates, harmlessly)
    with np.errstate(divide="ignore"):
        span = np.where(leak > 0, unity / np.maximum(leak, 1), np.inf)
    span = np.where(in_current, np.minimum(span, HORIZON), span)
    rise = pos * gain + np.clip(beta, 0, None)
    # a membrane in the current register driven past one spike a tick keeps rising by rise − θ a tick
    above = theta + 2 * rise + np.clip(rise - theta, 0, None) * np.where(in_current, span, 0.0)
    drop = neg * gain + np.clip(-beta, 0, None)
    below = drop * np.where(np.isfinite(span), span, 0.0)
    return np.maximum(u, np.maximum(above, below))


def _round_weights(E, scale, exps: dict, act, w_lo, w_hi) -> dict[str, np.ndarray]:
    return {src: np.clip(np.rint(scale[:, None] * m / 2.0 ** (act + exps[src][:, None])), w_lo, w_hi).astype(np.int64)
            for src, m in E.items()}


REFINE_STEPS = np.linspace(1.0, 0.75, 33)


def _refine_scale(E, scale, exp, act, w_lo, w_hi) -> np.ndarray:
    """Per row, the scale in [0.75 S, S] whose rounded weights are closest to the float ones.

    Only the ratio weight : threshold matters, and the threshold has far more bits than a
    weight, so shrinking S slightly costs nothing but can land the row's weights nearer the
    integer grid (squared error in float units, summed over the row's inputs)."""
    if not E:
        return scale
    m = np.concatenate(list(E.values()), axis=1)                     # [n, m_total]
    best, best_err = scale.copy(), np.full(len(scale), np.inf)
    step = 2.0 ** (act + exp)
    for c in REFINE_STEPS:
        s = scale * c
        w = np.clip(np.rint(s[:, None] * m / step[:, None]), w_lo, w_hi)
        err = ((w * (step / s)[:, None] - m) ** 2).sum(axis=1)
        better = err < best_err
        best = np.where(better, s, best)
        best_err = np.where(better, err, best_err)
    return best


def _ratio(num, den) -> np.ndarray:
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)


def _smallest_exponent(peak: np.ndarray, unit: float, rng) -> np.ndarray:
    """Per row, the smallest e in `rng` with peak ≤ unit · 2^e (rng.hi where none fits)."""
    with np.errstate(divide="ignore"):
        e = np.ceil(np.log2(np.where(peak > 0, peak / unit, 1.0)))
    e = np.clip(e, rng.lo, rng.hi)
    while True:                                    # guard the float log against an off-by-one
        over = (peak > unit * 2.0 ** e) & (e < rng.hi)
        if not over.any():
            return e.astype(np.int64)
        e = e + over


def _encode_bias(b: np.ndarray, formats) -> tuple[np.ndarray, np.ndarray]:
    """bias ≈ mant · 2^exp with the smallest exponent whose mantissa fits (most precision)."""
    hi = (1 << (formats.bias_mantissa_bits - 1)) - 1
    lo = -(1 << (formats.bias_mantissa_bits - 1))
    exp = np.full(b.shape, formats.bias_exp.lo, dtype=np.int64)
    for _ in range(formats.bias_exp.lo, formats.bias_exp.hi):
        m = np.rint(b / 2.0 ** exp)
        exp = exp + ((m > hi) | (m < lo))
    mant = np.clip(np.rint(b / 2.0 ** exp), lo, hi).astype(np.int64)
    return mant, exp


def dequantized_weights(enc: Encoded, src: str, formats) -> np.ndarray:
    """The float weights the integer registers stand for: W · 2^(6 + e) / S."""
    return enc.weights[src] * 2.0 ** (formats.activation_shift + enc.exponent(src)[:, None]) / enc.scale[:, None]


def _errors(E, beta, theta, enc: Encoded, formats, binding) -> dict:
    """Per-layer quantisation error: weights (relative RMS and worst row-relative), threshold, bias."""
    err2 = ref2 = 0.0
    worst = 0.0
    for src, m in E.items():
        d = dequantized_weights(enc, src, formats) - m
        err2 += float((d ** 2).sum())
        ref2 += float((m ** 2).sum())
        row_max = np.abs(m).max(axis=1, initial=0.0)
        rel = np.abs(d).max(axis=1, initial=0.0) / np.where(row_max > 0, row_max, 1.0)
        worst = max(worst, float(rel.max(initial=0.0)))
    theta_q = enc.vth_mant * 2.0 ** formats.threshold_shift / enc.scale
    bias_q = enc.bias_mant * 2.0 ** enc.bias_exp / enc.scale
    safe_theta = np.where(theta > 0, theta, 1.0)
    peaks = [np.abs(w).max(axis=1, initial=0) for w in enc.weights.values()]
    mant_peak = np.maximum.reduce(peaks) if peaks else np.zeros(0)
    used = mant_peak[mant_peak > 0]
    kinds, counts = np.unique(binding, return_counts=True)
    return {
        "weight_rel_rms": float(np.sqrt(err2 / ref2)) if ref2 > 0 else 0.0,
        "weight_max_row_rel": worst,
        "threshold_rel_max": float((np.abs(theta_q - theta) / safe_theta).max(initial=0.0)),
        "bias_rel_threshold_max": float((np.abs(bias_q - beta) / safe_theta).max(initial=0.0)),
        "weight_exp": [int(enc.weight_exp.min()), int(enc.weight_exp.max())] if enc.weight_exp.size else [],
        "mantissa_bits_min": float(np.log2(used.min())) if used.size else 0.0,
        "log2_scale": [float(np.log2(enc.scale.min())), float(np.log2(enc.scale.max()))] if enc.scale.size else [],
        "scale_bound": {str(k): int(c) for k, c in zip(kinds, counts)},
    }
