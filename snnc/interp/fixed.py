"""Fixed-point helpers shared by the integer backends' step functions.

Every function takes and returns int64 numpy arrays (or Python ints) and never changes
its argument in place. Each one that can lose information (wrap, saturate) also has an
`*_overflow` companion mask, so a stepper in strict mode can name the element that would
have wrapped or saturated.
"""
from __future__ import annotations

import numpy as np


def as_int64(x, what: str = "value") -> np.ndarray:
    """`x` as a new int64 array; raises ValueError if it holds fractional or non-finite values."""
    arr = np.asarray(x)
    if arr.dtype.kind in "biu":
        return arr.astype(np.int64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must hold integers, got non-finite values")
    out = arr.astype(np.int64)
    if not np.array_equal(out, arr):
        raise ValueError(f"{what} must hold integers, got fractional or non-finite values")
    return out


def wrap_signed(x, bits: int) -> np.ndarray:
    """Two's-complement wrap into [−2^(bits−1), 2^(bits−1) − 1]."""
    half = np.int64(1) << (bits - 1)
    return ((np.asarray(x, dtype=np.int64) + half) & ((half << 1) - 1)) - half


def wrap_once_upper(x, bits: int) -> np.ndarray:
    """Lava's one-step wrap into (−2^(bits−1), 2^(bits−1)]:

        x − 2^bits  if x >  2^(bits−1)
        x + 2^bits  if x ≤ −2^(bits−1)
        x           otherwise

    This is `PyLifModelBitAcc`'s current wrap. It differs from `wrap_signed` at the two
    edge values (+2^(bits−1) is kept, −2^(bits−1) becomes +2^(bits−1)) and corrects by
    one period only, exactly as Lava's two comparisons do.
    """
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1) << (bits - 1)
    period = half << 1
    return np.where(x > half, x - period, np.where(x <= -half, x + period, x))


def wrap_once_upper_overflow(x, bits: int) -> np.ndarray:
    """Mask of the elements `wrap_once_upper` changes."""
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1) << (bits - 1)
    return (x > half) | (x <= -half)


def saturate(x, lo: int, hi: int) -> np.ndarray:
    """Clip into [lo, hi]."""
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def saturate_symmetric(x, bits: int) -> np.ndarray:
    """Clip into [−(2^(bits−1) − 1), 2^(bits−1) − 1] (Lava's voltage saturation)."""
    m = (1 << (bits - 1)) - 1
    return saturate(x, -m, m)


def saturate_symmetric_overflow(x, bits: int) -> np.ndarray:
    """Mask of the elements `saturate_symmetric` changes."""
    m = (1 << (bits - 1)) - 1
    x = np.asarray(x, dtype=np.int64)
    return (x > m) | (x < -m)


def shift_round_toward_zero(x, s: int) -> np.ndarray:
    """sign(x) · (|x| >> s): divide by 2^s, rounding toward zero (s ≥ 0)."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * (np.abs(x) >> s)


def decay_toward_zero(x, multiplier, shift: int) -> np.ndarray:
    """x · multiplier / 2^shift with the product in int64, rounded toward zero.

    Loihi's leak: `multiplier` = 2^shift − decay, e.g. 4096 − (du + 1) for the current.
    """
    return shift_round_toward_zero(np.asarray(x, dtype=np.int64) * np.asarray(multiplier, dtype=np.int64), shift)


def shift_by_exponent(x, exp) -> np.ndarray:
    """x · 2^exp: `x << exp` where exp ≥ 0, arithmetic `x >> −exp` (floor) where exp < 0.

    `exp` may be an array broadcasting against `x` (one exponent per row or element).
    """
    x = np.asarray(x, dtype=np.int64)
    exp = np.asarray(exp, dtype=np.int64)
    return np.where(exp >= 0, x << np.maximum(exp, 0), x >> np.maximum(-exp, 0))


def shift_left(x, s) -> np.ndarray:
    """x << s (s ≥ 0, scalar or broadcasting array); int64, no overflow check."""
    return np.left_shift(np.asarray(x, dtype=np.int64), np.asarray(s, dtype=np.int64))
