"""The truenorth.core neuron against traces computed by hand from the equations of
Cassidy et al. (2013) as stated in reference part A3 — one test per integration, leak,
threshold and reset mode — and its stochastic modes against the documented PRN stream."""
import numpy as np
import pytest

from snnc.errors import SimulationError
from tests.backends.truenorth.util import core, prn_stream, pulses, run_core

NEVER = 10 ** 5          # a threshold no trace here reaches


def test_integration_weighs_each_axon_by_its_type_and_the_neurons_weight_for_that_type():
    # axons of types 0,1,2,3; neuron 0 is not connected to axon 2, neuron 1 not to axon 0
    op = core(4, 2, axon_type=[0, 1, 2, 3], crossbar=[[1, 0], [1, 1], [0, 1], [1, 1]],
              weight=[[3, -2, 7, 1], [0, 5, 0, -4]], alpha=NEVER, beta=NEVER, saturate=0, reset_mode=2)
    x = np.zeros((4, 1, 4))
    x[0, 0, [0, 1]] = 1          # n0: 3 − 2 = 1;     n1: 5
    x[1, 0, [2, 3]] = 1          # n0: +1 (no axon 2); n1: 0 − 4
    x[2, 0, :] = 1               # n0: 3 − 2 + 1;      n1: 5 + 0 − 4
    y, v = run_core(op, x)
    assert v[:, 0].tolist() == [[1, 5], [2, 1], [4, 2], [4, 2]]
    assert not y.any()


def test_several_spikes_on_one_axon_in_one_tick_are_one_event():
    from snnc.backends.truenorth.ops import Route
    from snnc.interp.engine import run
    from snnc.ir.graph import GraphBuilder
    b = GraphBuilder()
    b.input("x", (2,))
    r = b.add("r", Route(source=[0, 1], axon=[0, 0], delay=[0, 0], n_in=2, n_axons=1), "x")
    c = b.add("c", core(1, 1, weight=(5, 0, 0, 0), alpha=NEVER, reset_mode=2), r)
    b.output("y", c, (1,))
    res = run(b.build(), {"x": np.ones((1, 1, 2))}, record=["r", "c:v"])
    assert res.recorded["r"][0, 0].tolist() == [2]          # two spikes arrive ...
    assert res.recorded["c:v"][0, 0].tolist() == [5]        # ... and the axon is active once


def test_deterministic_leak_adds_its_signed_value_every_tick():
    down = core(leak=-2, alpha=NEVER, beta=100, saturate=0, reset_mode=2)
    _, v = run_core(down, np.zeros((4, 1, 1)))
    assert v[:, 0, 0].tolist() == [-2, -4, -6, -8]
    up = core(leak=3, alpha=7, reset_mode=0, reset_value=0)            # leak as a bias: a regular spiker
    y, v = run_core(up, np.zeros((5, 1, 1)))
    assert v[:, 0, 0].tolist() == [3, 6, 0, 3, 6] and y[:, 0, 0].tolist() == [0, 0, 1, 0, 0]


def test_reversal_leak_with_negative_sign_pulls_toward_zero_and_overshoots_without_a_ringing_rule():
    op = core(1, 2, crossbar=[[1, 0]], weight=(5, 0, 0, 0), leak=-2, leak_reversal=1, alpha=NEVER, beta=100,
              saturate=0, reset_mode=2)
    _, v = run_core(op, pulses(5, [0]))
    assert v[:, 0, 0].tolist() == [3, 1, -1, 1, -1]          # Ω = −sgn(V): 5→3→1→−1→1→−1
    assert v[:, 0, 1].tolist() == [0, 0, 0, 0, 0]            # sgn(0) = 0: no leak at rest


def test_reversal_leak_with_positive_sign_pushes_away_from_zero():
    op = core(weight=(-3, 0, 0, 0), leak=2, leak_reversal=1, alpha=NEVER, beta=100, saturate=0, reset_mode=2)
    _, v = run_core(op, pulses(3, [0]))
    assert v[:, 0, 0].tolist() == [-5, -7, -9]


def test_stochastic_leak_steps_by_one_when_lambda_reaches_the_fresh_prn():
    T, B, seed, prng_seed = 40, 3, 7, 5
    op = core(1, 2, crossbar=0, leak=[64, -200], stochastic_leak=1, alpha=NEVER, beta=NEVER, saturate=0,
              reset_mode=2, prng_seed=prng_seed)
    _, v = run_core(op, np.zeros((T, B, 1)), seed=seed)
    rng = prn_stream(seed, prng_seed)
    expect, V = [], np.zeros((B, 2), np.int64)
    for _ in range(T):
        rho = rng.integers(0, 256, size=(B, 2))             # ρ_leak: the only draw this core makes
        V = V + np.array([1, -1]) * (np.array([64, 200]) >= rho)
        expect.append(V.copy())
    assert np.array_equal(v, np.array(expect))
    _, again = run_core(op, np.zeros((T, B, 1)), seed=seed)
    assert np.array_equal(v, again)                           # reproducible for a seed
    _, other = run_core(op, np.zeros((T, B, 1)), seed=seed + 1)
    assert not np.array_equal(v, other)


def test_threshold_fires_at_equality():
    y, v = run_core(core(weight=(3, 0, 0, 0), alpha=3, reset_mode=0), pulses(2, [0]))
    assert y[:, 0, 0].tolist() == [1, 0] and v[:, 0, 0].tolist() == [0, 0]


@pytest.mark.parametrize("gamma, spikes, trace", [
    (0, [0, 1, 0, 1], [4, -1, 3, -1]),      # normal: V ← R = −1
    (1, [0, 1, 1, 0], [4, 2, 0, 4]),        # linear: V ← V − α
    (2, [0, 1, 1, 1], [4, 8, 12, 16]),      # none:   V unchanged, fires on
])
def test_positive_reset_modes(gamma, spikes, trace):
    op = core(weight=(4, 0, 0, 0), alpha=6, reset_mode=gamma, reset_value=-1)
    y, v = run_core(op, pulses(4, range(4)))
    assert y[:, 0, 0].tolist() == spikes and v[:, 0, 0].tolist() == trace


@pytest.mark.parametrize("kappa, gamma, trace", [
    (1, 0, [-4, -6, -6, -6]),               # saturate: V ← −β, whatever γ
    (1, 1, [-4, -6, -6, -6]),
    (0, 0, [-4, -1, -5, -1]),               # normal: V ← −R (R = 1)
    (0, 1, [-4, -2, -6, -4]),               # linear: V ← V + β
    (0, 2, [-4, -8, -12, -16]),             # none: V unchanged
])
def test_negative_threshold_modes(kappa, gamma, trace):
    op = core(weight=(-4, 0, 0, 0), alpha=NEVER, beta=6, saturate=kappa, reset_mode=gamma, reset_value=1)
    y, v = run_core(op, pulses(4, range(4)))
    assert v[:, 0, 0].tolist() == trace and not y.any()      # no spike on a negative crossing


def test_stochastic_threshold_masks_the_prn_for_both_thresholds():
    T, B, seed, prng_seed = 60, 2, 3, 11
    op = core(2, 1, axon_type=[0, 1], weight=(5, -5, 0, 0), alpha=4, beta=3, threshold_mask_bits=3, saturate=0,
              reset_mode=1, prng_seed=prng_seed)
    x = np.zeros((T, B, 2))
    x[:, :, 0] = np.arange(T)[:, None] % 3 != 2           # +5 twice, then −5, repeating
    x[:, :, 1] = np.arange(T)[:, None] % 3 == 2
    y, v = run_core(op, x, seed=seed)
    rng = prn_stream(seed, prng_seed)
    V, ys, vs = np.zeros(B, np.int64), [], []
    for t in range(T):
        V = V + 5 * x[t, :, 0].astype(np.int64) - 5 * x[t, :, 1].astype(np.int64)
        eta = rng.integers(0, 256, size=(B, 1))[:, 0] & 7     # ρ_thr AND (2^3 − 1)
        fire = V >= 4 + eta
        below = ~fire & (V < -(3 + eta))                      # κ = 0: −(β + η)
        V = np.where(fire, V - (4 + eta), np.where(below, V + (3 + eta), V))
        ys.append(fire.astype(int))
        vs.append(V.copy())
    assert np.array_equal(y[:, :, 0], np.array(ys)) and np.array_equal(v[:, :, 0], np.array(vs))
    assert 0 < y.sum() < T * B


def test_stochastic_synapses_add_the_weights_sign_when_its_magnitude_reaches_the_prn():
    T, B, seed, prng_seed = 30, 2, 1, 2
    op = core(2, 1, axon_type=[0, 1], weight=(100, -50, 0, 0), stochastic_weight=(1, 1, 0, 0), alpha=NEVER,
              beta=NEVER, saturate=0, reset_mode=2, prng_seed=prng_seed)
    _, v = run_core(op, np.ones((T, B, 2)), seed=seed)
    rng = prn_stream(seed, prng_seed)
    V, vs = np.zeros(B, np.int64), []
    for _ in range(T):
        rho = rng.integers(0, 256, size=(B, 2, 1))            # ρ_syn [B, axons, neurons]
        V = V + (100 >= rho[:, 0, 0]) - (50 >= rho[:, 1, 0])
        vs.append(V.copy())
    assert np.array_equal(v[:, :, 0], np.array(vs))


def test_prn_draw_order_is_synapses_then_leak_then_threshold():
    T, seed = 20, 4
    op = core(1, 1, weight=(128, 0, 0, 0), stochastic_weight=(1, 0, 0, 0), leak=-100, stochastic_leak=1,
              alpha=3, threshold_mask_bits=1, reset_mode=1, saturate=1, beta=2)
    y, v = run_core(op, np.ones((T, 1, 1)), seed=seed)
    rng = prn_stream(seed, 0)
    V, vs, ys = 0, [], []
    for _ in range(T):
        syn = int(128 >= rng.integers(0, 256, size=(1, 1, 1))[0, 0, 0])
        leak = -int(100 >= rng.integers(0, 256, size=(1, 1))[0, 0])
        eta = int(rng.integers(0, 256, size=(1, 1))[0, 0]) & 1
        V += syn + leak
        fire = V >= 3 + eta
        V = V - (3 + eta) if fire else (-2 if V < -2 else V)
        vs.append(V)
        ys.append(int(fire))
    assert v[:, 0, 0].tolist() == vs and y[:, 0, 0].tolist() == ys


def test_membrane_saturates_at_its_width_and_strict_mode_names_the_element():
    op = core(weight=(5, 0, 0, 0), alpha=NEVER, beta=NEVER, saturate=0, reset_mode=2, membrane_bits=4)
    _, v = run_core(op, pulses(3, range(3)))
    assert v[:, 0, 0].tolist() == [5, 7, 7]                   # [−8, 7] for 4 bits
    with pytest.raises(SimulationError) as err:
        run_core(op, pulses(3, range(3)), strict=True)
    assert str(err.value) == ("node 'c' (truenorth.core) tick 1, sample 0, neuron 0: membrane V = 10 saturates "
                              "(range [-8, 7], membrane_bits 4) (strict mode)")


def test_route_delivers_each_spike_after_its_delay_through_a_16_slot_scheduler():
    from snnc.backends.truenorth.ops import Route
    from snnc.interp.engine import run
    from snnc.ir.graph import GraphBuilder
    b = GraphBuilder()
    b.input("x", (3,))
    b.add("r", Route(source=[0, 1, 2], axon=[0, 1, 2], delay=[1, 15, 0], n_in=3, n_axons=3), "x")
    b.output("y", "r", (3,))
    x = np.zeros((20, 1, 3))
    x[0] = 1                                    # all three at tick 0
    x[1, 0, 1] = 1                              # and the delay-15 one again at tick 1
    y = run(b.build(), {"x": x}).outputs["y"][:, 0]
    assert np.flatnonzero(y[:, 0]).tolist() == [1]
    assert np.flatnonzero(y[:, 1]).tolist() == [15, 16]
    assert np.flatnonzero(y[:, 2]).tolist() == [0]
