"""The fixed-point helpers: each against its definition on edge values and random draws."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snnc.interp import fixed

ints = st.integers(-(1 << 40), 1 << 40)


@given(ints, st.integers(1, 30))
def test_wrap_signed_is_twos_complement(x, bits):
    got = int(fixed.wrap_signed(x, bits))
    assert -(1 << (bits - 1)) <= got < (1 << (bits - 1)) and (got - x) % (1 << bits) == 0


def test_wrap_once_upper_edges():
    x = np.array([2 ** 23, 2 ** 23 + 1, -(2 ** 23), -(2 ** 23) + 1, 0, 2 ** 24 + 2 ** 23 + 5])
    assert fixed.wrap_once_upper(x, 24).tolist() == [2 ** 23, -(2 ** 23) + 1, 2 ** 23, -(2 ** 23) + 1, 0,
                                                     2 ** 23 + 5]
    assert fixed.wrap_once_upper_overflow(x, 24).tolist() == [False, True, True, False, False, True]


def test_saturate_symmetric():
    x = np.array([2 ** 23, -(2 ** 23), 2 ** 23 - 1, 5])
    assert fixed.saturate_symmetric(x, 24).tolist() == [2 ** 23 - 1, -(2 ** 23 - 1), 2 ** 23 - 1, 5]
    assert fixed.saturate_symmetric_overflow(x, 24).tolist() == [True, True, False, False]


@given(ints, st.integers(0, 20))
def test_shift_round_toward_zero(x, s):
    q = abs(x) // (1 << s)
    assert int(fixed.shift_round_toward_zero(x, s)) == (q if x >= 0 else -q)


def test_decay_toward_zero_rounds_negative_products_toward_zero():
    assert fixed.decay_toward_zero(np.array([-3, 3, -4095]), 2048, 12).tolist() == [-1, 1, -2047]


@given(ints, st.integers(-10, 10))
def test_shift_by_exponent_is_floor_of_scaling(x, e):
    expect = x << e if e >= 0 else x // (1 << -e)
    assert int(fixed.shift_by_exponent(x, e)) == expect


def test_as_int64_refuses_fractions():
    assert fixed.as_int64(np.array([1.0, -2.0])).dtype == np.int64
    with pytest.raises(ValueError, match="value must hold integers"):
        fixed.as_int64(np.array([0.5]))
    with pytest.raises(ValueError):
        fixed.as_int64(np.array([np.nan]))
