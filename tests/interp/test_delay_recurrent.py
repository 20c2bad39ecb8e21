"""Delays, recurrent edges and the engine's contract (tick order, recording, errors)."""
from __future__ import annotations

import numpy as np
import pytest

import snnc.interp
from snnc.errors import SimulationError
from snnc.interp.engine import run
from snnc.ir import GraphBuilder
from snnc.ir.snn import IF, LIF, Delay, Linear, Scale
from tests.interp.util import full, run_op


# -- delay ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ticks", [0, 1, 4])
def test_uniform_delay_shifts_by_exactly_d_ticks(ticks):
    x = np.random.default_rng(0).normal(size=(12, 3, 2, 2))
    y, _ = run_op(Delay(delay=np.full((2, 2), ticks * 1e-3)), x)
    assert np.array_equal(y[ticks:], x[:12 - ticks]) and not y[:ticks].any()


def test_per_element_delays():
    delays = np.array([0, 1, 3, 2, 3])
    x = np.random.default_rng(1).normal(size=(10, 2, 5))
    y, _ = run_op(Delay(delay=delays * 1e-3), x)
    for e, d in enumerate(delays):
        assert np.array_equal(y[d:, :, e], x[:10 - d, :, e]) and not y[:d, :, e].any()


def test_delay_longer_than_the_run_outputs_zeros():
    y, _ = run_op(Delay(delay=full(5e-3, 2)), np.ones((3, 1, 2)))
    assert not y.any()


def test_delay_must_be_whole_ticks():
    with pytest.raises(SimulationError) as err:
        run_op(Delay(delay=np.array([1e-3, 1.5e-3, 2.25e-3])), np.ones((2, 1, 3)))
    assert str(err.value) == ("node 'n': delay of 0.0015 s is not a whole number of ticks at dt = 0.001 s "
                              "(1.5 ticks)")


# -- recurrence ----------------------------------------------------------------------------------
def self_exciting_lif(w_rec):
    """input -> lif; lif -> w (Linear [[w_rec]]) -> lif on a recurrent edge. α = 0.5, (1 − α) r = 1."""
    b = GraphBuilder(dt=1e-3)
    x = b.input("x", (1,))
    n = b.add("lif", LIF(tau=full(2e-3), r=full(2.0), v_leak=full(0.0), v_threshold=full(1.0),
                         v_reset=full(0.0)), x)
    w = b.add("w", Linear(weight=[[w_rec]]), n)
    b.connect(w, n, recurrent=True)
    b.output("y", n, (1,))
    return b.build()


def test_recurrent_self_excitation_by_hand():
    # v~[t] = v[t−1]/2 + 0.625 + w z[t−1], θ = 1, reset to 0.
    # w = 0:    .625, .9375, 1.09375* | .625, .9375, 1.09375* ...      -> spikes 2, 5, 8
    # w = 0.25: .625, .9375, 1.09375* | 0 + .625 + .25 = .875, .4375 + .625 = 1.0625* | .875, ...
    #                                                                  -> spikes 2, 4, 6, 8
    # w = 0.5:  after the first spike .625 + .5 = 1.125* every tick    -> spikes 2, 3, 4, ...
    x = np.full((10, 1, 1), 0.625)
    expected = {0.0: [2, 5, 8], 0.25: [2, 4, 6, 8], 0.5: list(range(2, 10))}
    for w, ticks in expected.items():
        res = run(self_exciting_lif(w), {"x": x}, record=["lif:v"])
        assert list(np.flatnonzero(res.outputs["y"][:, 0, 0])) == ticks, w
    assert res.recorded["lif:v"][:4, 0, 0].tolist() == [0.625, 0.9375, 0.0, 0.0]


def test_recurrent_edge_delivers_zeros_at_tick_zero_then_last_tick():
    # y[t] = x[t] + 2 · y_scale[t−1] where the loop is a Scale on a recurrent edge
    b = GraphBuilder(dt=1e-3)
    x = b.input("x", (1,))
    s = b.add("s", Scale(scale=[1.0]), x)
    g = b.add("g", Scale(scale=[2.0]), s)
    b.connect(g, s, recurrent=True)
    b.output("y", s, (1,))
    y = run(b.build(), {"x": np.array([1.0, 0, 0, 0]).reshape(4, 1, 1)}).outputs["y"]
    assert y[:, 0, 0].tolist() == [1, 2, 4, 8]


def test_feed_forward_chain_responds_in_the_same_tick():
    b = GraphBuilder(dt=1.0)
    x = b.input("x", (2,))
    a = b.add("a", Linear(weight=[[1.0, 1.0]]), x)
    n = b.add("n", IF(r=full(1.0), v_threshold=full(1.5), v_reset=full(0.0)), a)
    c = b.add("c", Scale(scale=[3.0]), n)
    b.output("y", c, (1,))
    y = run(b.build(), {"x": np.array([[1.0, 1.0], [0.0, 0.0]]).reshape(2, 1, 2)}).outputs["y"]
    assert y[:, 0, 0].tolist() == [3.0, 0.0]


# -- engine contract ------------------------------------------------------------------------------
def test_public_entry_exports_run():
    assert snnc.interp.run is run and snnc.interp.RunResult.__name__ == "RunResult"


def test_record_node_output_and_state():
    x = np.full((3, 2, 1), 0.625)
    res = run(self_exciting_lif(0.0), {"x": x}, record=["w", "lif", "lif:v", "lif:refrac", "y"])
    assert res.recorded["lif"].shape == (3, 2, 1) and res.recorded["w"].shape == (3, 2, 1)
    assert np.array_equal(res.recorded["y"], res.outputs["y"])
    assert res.recorded["lif:v"][:, 1, 0].tolist() == [0.625, 0.9375, 0.0]
    assert res.recorded["lif:refrac"].dtype == np.int64


@pytest.mark.parametrize("label,message", [
    ("nope", "cannot record 'nope': no node 'nope'"),
    ("lif:q", "cannot record 'lif:q': node 'lif' (snn.lif) has no state variable 'q'; "
              "its state variables are v, z, refrac"),
    ("w:v", "cannot record 'w:v': node 'w' (snn.linear) has no state variable 'v'; "
            "it has no state variables"),
])
def test_record_errors(label, message):
    with pytest.raises(SimulationError) as err:
        run(self_exciting_lif(0.0), {"x": np.zeros((2, 1, 1))}, record=[label])
    assert str(err.value) == message


def test_integer_inputs_are_promoted():
    y, _ = run_op(Scale(scale=[0.5]), np.array([[[3]]], dtype=np.int64))
    assert y.dtype == np.float64 and y[0, 0, 0] == 1.5
