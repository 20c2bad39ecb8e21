"""The analog steppers' compiled loops (backends/analog/kernels.py) give the bits of their numpy
expressions: the digits chip over several instances, with each reset mode and timing, a
refractory period, graded and binary DACs, no ADC, no read noise, and a slice of the batch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import snnc
from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.interp import jit
from snnc.interp.engine import run

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits"


@pytest.fixture(scope="module")
def chip():
    return snnc.compile(snnc.load(DIGITS / "digits.snnir"), "analog").graph


def variant(graph, lif=None, crossbar=None):
    for name in graph.nodes:
        op = graph.op(name)
        if isinstance(op, LIFCircuit) and lif:
            graph = graph.with_op(name, op.replace(**lif))
        if isinstance(op, Crossbar) and crossbar:
            graph = graph.with_op(name, op.replace(**crossbar))
    return graph


@pytest.mark.parametrize("lif, crossbar", [
    ({}, {}),
    ({"reset_mode": "value", "reset_timing": "next_step"}, {}),
    ({"reset_mode": "subtract", "reset_timing": "immediate", "t_refrac": 2e-3}, {"dac_bits": 0}),
    ({"reset_mode": "value", "reset_timing": "immediate"}, {"adc_bits": 0, "out_noise": 0.0}),
    ({"t_refrac": 3e-3}, {"x_max": 0.5}),
])
@pytest.mark.parametrize("window", [None, (5, 40)])
def test_compiled_analog_steps_equal_numpy(chip, lif, crossbar, window):
    pytest.importorskip("numba")
    assert jit.available()
    g = variant(chip, lif, crossbar)
    x = np.load(DIGITS / "test_x.npy")[:12, :16].astype(np.float64)
    kw = dict(chip_instances=3, seed=4, record=["1", "1:v", "1:refrac"], batch_window=window)
    a, b = run(g, {"input": x}, **kw), run(g, {"input": x}, jit=False, **kw)
    for k in a.outputs:
        assert np.array_equal(a.outputs[k], b.outputs[k]), k
    for k in a.recorded:
        assert np.array_equal(a.recorded[k], b.recorded[k]), k
    assert a.recorded["1"].sum() > 0
