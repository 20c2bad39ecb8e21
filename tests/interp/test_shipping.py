"""Arrays cross processes compactly (snnc.interp.shipping): 0/1 arrays as packed bits, rebuilt bit
for bit in their dtype and shape; anything else unchanged."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnc.interp.engine import RunResult
from snnc.interp.shipping import Bits, binary, pack, unpack


@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.uint8, bool, np.float32])
def test_spikes_travel_as_bits_and_come_back_identical(dtype):
    x = (np.random.default_rng(0).random((7, 5, 33)) < 0.3).astype(dtype)
    packed = pack({"x": x})
    assert isinstance(packed["x"], Bits) and packed["x"].packed.nbytes == -(-x.size // 8)
    back = unpack(packed)["x"]
    assert back.dtype == x.dtype and back.shape == x.shape and np.array_equal(back, x)


def test_other_values_travel_as_they_are():
    graded = np.linspace(0, 1, 100)
    signed_zero = np.zeros(100)
    signed_zero[3] = -0.0                            # +0 on return would change its bits
    twos = np.full(100, 2)
    for a in (graded, signed_zero, twos, np.zeros(10)):  # (a short array is not worth packing)
        assert pack(a) is a
    assert not binary(signed_zero) and binary(np.zeros(3)) and not binary(np.array(["1"]))


def test_nested_results_and_dataclasses_round_trip():
    s = (np.random.default_rng(1).random((4, 40)) < 0.5).astype(np.float64)
    res = RunResult({"y": s, "v": np.arange(160.0).reshape(4, 40)}, {"p": s.astype(np.int64)})
    back = unpack(pack({"a": [res, (s, 3)], "b": "text"}))
    assert dataclasses.is_dataclass(back["a"][0]) and back["b"] == "text" and back["a"][1][1] == 3
    for k in res.outputs:
        assert np.array_equal(back["a"][0].outputs[k], res.outputs[k])
    assert back["a"][0].recorded["p"].dtype == np.int64 and np.array_equal(back["a"][1][0], s)
