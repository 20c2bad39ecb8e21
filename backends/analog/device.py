"""Device and periphery formulas of the analog model, each as a small function with its source.

Conductances are normalised to g_max where the fits are (g = G / g_max); times in seconds.
The PCM statistics are IBM aihwkit's `PCMLikeNoiseModel` (src/aihwkit/inference/noise/pcm.py),
fitted on 1 M devices by Nandakumar et al. (ICECS 2019) and Joshi et al. (Nat. Commun. 2020);
the converters and IR drop follow aihwkit's `IOParameters` and its C++ `applyIrDrop`
(rpucuda forward_backward_pass). Any other device is the same formulas with other
coefficients, from its target file.
"""
from __future__ import annotations

import hashlib

import numpy as np

NU_G_FLOOR = 1e-7            # aihwkit _ZERO_CLIP: g below this is treated as this in ln g
Q_G_POWER_FLOOR = 1e-3       # aihwkit clamps (g/g_max)^e at 1e-3 before dividing


def programming_sigma(g: np.ndarray, coeffs: np.ndarray, g_max: float, g_ref: float) -> np.ndarray:
    """σ_prog in conductance units: max(Σ_k c_k g^k, 0) · g_max / g_ref  (g = g_T / g_max).

    aihwkit PCMLikeNoiseModel.apply_programming_noise_to_conductance; default coefficients
    [0.26348, 1.9650, −1.1731] µS fitted at g_ref = 25 µS."""
    sigma = np.zeros_like(np.asarray(g, dtype=np.float64))
    for k, c in enumerate(coeffs):
        sigma = sigma + c * g ** k
    return np.maximum(sigma, 0.0) * (g_max / g_ref)


def drift_nu_stats(g: np.ndarray, nu_mean: np.ndarray, nu_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(μ_ν, σ_ν) of the drift exponent: clip(a ln g + b, lo, hi) each, g = max(|g_T/g_max|, 1e-7).

    aihwkit generate_drift_coefficients: μ_ν = clip(−0.0155 ln g + 0.0244, 0.049, 0.1),
    σ_ν = clip(−0.0125 ln g − 0.0059, 0.008, 0.045); ν = |μ_ν + σ_ν ξ| per device."""
    lg = np.log(np.maximum(np.abs(g), NU_G_FLOOR))
    a, b, lo, hi = nu_mean
    mu = np.clip(a * lg + b, lo, hi)
    a, b, lo, hi = nu_std
    return mu, np.clip(a * lg + b, lo, hi)


def drift_factor(t_inference: float, t0: float, nu: np.ndarray) -> np.ndarray:
    """g_D / g_P = ((t_inference + t0) / t0)^(−ν); 1 at t_inference = 0 (aihwkit apply_drift_noise)."""
    t = t_inference + t0
    if not t > t0:
        return np.ones_like(np.asarray(nu, dtype=np.float64))
    return (t / t0) ** (-np.asarray(nu, dtype=np.float64))


def read_noise_sigma(g_prog: np.ndarray, t_inference: float, t0: float, t_read: float,
                     q: np.ndarray) -> np.ndarray:
    """Relative σ of the accumulated 1/f read noise: Q_s · sqrt(ln((t + t_read) / (2 t_read))).

    t = t_inference + t0 and Q_s = min(q / max((|g_P|/g_max)^e, 1e-3), q_max) with [q, e, q_max]
    = [0.0088, 0.65, 0.2] for PCM. The noise is σ · |g_D| · ξ. aihwkit evaluates Q_s at the
    programmed conductance g_P (its docs write the target g_T: aihwkit issue #436); so does this."""
    q0, e, q_max = q
    t = t_inference + t0
    if not t > 0 or q0 == 0:
        return np.zeros_like(np.asarray(g_prog, dtype=np.float64))
    qs = np.minimum(q0 / np.maximum(np.abs(g_prog) ** e, Q_G_POWER_FLOOR), q_max)
    return qs * np.sqrt(np.log((t + t_read) / (2.0 * t_read)))


def levels(bits: int) -> int:
    """Positive levels of a signed converter of `bits` bits: 2^(bits−1) − 1 (aihwkit res = 1/(2^b − 2))."""
    return (1 << (bits - 1)) - 1


def dac(x: np.ndarray, bits: int) -> np.ndarray:
    """The input DAC on normalised x: bits = 0 sends binary pulses (x ≠ 0 → 1); else
    clip(x, −1, 1) rounded to steps of 1 / (2^(bits−1) − 1)."""
    if bits == 0:
        return (x != 0).astype(np.float64)
    n = levels(bits)
    return np.rint(np.clip(x, -1.0, 1.0) * n) / n


def adc(y: np.ndarray, bits: int, bound: float) -> np.ndarray:
    """The output ADC on normalised y: bits = 0 is no converter (the analog sum itself);
    else clip(y, −bound, bound) rounded to steps of bound / (2^(bits−1) − 1)."""
    if bits == 0:
        return y
    step = bound / levels(bits)
    return np.rint(np.clip(y, -bound, bound) / step) * step


def quantise_levels(g: np.ndarray, g_max: float, n_levels: int) -> np.ndarray:
    """A target conductance on the device's programmable grid: n_levels evenly from 0 to g_max
    (0 = continuous). A 6-bit synapse DAC has 64 levels, 0 … 63 LSB."""
    if n_levels == 0:
        return np.asarray(g, dtype=np.float64)
    step = g_max / (n_levels - 1)
    return np.clip(np.rint(np.asarray(g) / step), 0, n_levels - 1) * step


def parameter_grid(v: np.ndarray, lo: float, hi: float, bits: int) -> np.ndarray:
    """A potential as a parameter DAC sets it: the nearest of 2^bits levels evenly over [lo, hi]."""
    step = (hi - lo) / ((1 << bits) - 1)
    return lo + np.rint((np.asarray(v, dtype=np.float64) - lo) / step) * step


def ir_drop(a: np.ndarray, w: np.ndarray, u: np.ndarray, scale: float, g_ratio: float) -> np.ndarray:
    """aihwkit's simple IR-drop model on one read (rpucuda applyIrDrop), all normalised:

        s_i  = (n / g_ratio) · Σ_j |w_ij| |u_j|            n = rows of the tile
        c_i  = s_i (s_i (0.05 s_i − 0.2) + 0.5)
        u'_j = u_j (1 − (1 − j/n)^2)                       row 0 is farthest from the ADC
        a_i ← a_i − scale · c_i · Σ_j w_ij u'_j

    `a` [..., cols], `w` [..., rows, cols] (transposed weights), `u` [..., rows]."""
    if scale == 0:
        return a
    n = u.shape[-1]
    s = (n / g_ratio) * np.matmul(np.abs(u), np.abs(w))
    c = s * (s * (0.05 * s - 0.2) + 0.5)
    p = 1.0 - np.arange(n) / n
    return a - scale * c * np.matmul(u * (1.0 - p * p), w)


def stream(seed: int, instance: int, node: str, purpose: int) -> np.random.Generator:
    """The random stream of one node of one chip instance: the same chip for the same
    (seed, instance) in any run, whatever else the run holds. purpose 0: static draws
    (programming, drift, mismatch), 1: per-read draws."""
    key = int.from_bytes(hashlib.sha256(node.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed) & (2**63 - 1), int(instance), key, purpose]))
