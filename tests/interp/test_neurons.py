"""Neuron steppers against closed-form solutions of their discrete equations.

Each expected value is derived by hand in the test (formula or hand-traced list) from the
op's docstring and ir_spec/SPEC.md §4–5; none is obtained by running the interpreter.
Integer-valued cases compare exactly; the others within 1e-9 relative.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from snnc.errors import SimulationError
from snnc.ir.snn import IF, LI, LIF, CubaLI, CubaLIF, I, Threshold
from tests.interp.util import constant, full, run_op, spike_ticks

RTOL = 1e-9
DT = 1e-3
METHODS = ["euler", "exact"]


def alpha(tau, method, dt=DT):
    return 1.0 - dt / tau if method == "euler" else math.exp(-dt / tau)


def lif(tau=5e-3, r=2.5, v_leak=0.0, v_threshold=1.0, v_reset=0.0, **kw):
    return LIF(tau=full(tau), r=full(r), v_leak=full(v_leak), v_threshold=full(v_threshold),
               v_reset=full(v_reset), **kw)


def if_(r=1.0, v_threshold=1.0, v_reset=0.0, **kw):
    return IF(r=full(r), v_threshold=full(v_threshold), v_reset=full(v_reset), **kw)


def cuba(cls=CubaLIF, tau_syn=2.0, tau_mem=2.0, r=2.0, v_leak=0.0, w_in=2.0, **kw):
    extra = dict(v_threshold=full(kw.pop("v_threshold", 1.0)), v_reset=full(kw.pop("v_reset", 0.0))) \
        if cls is CubaLIF else {}
    return cls(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(r), v_leak=full(v_leak),
               w_in=full(w_in), **extra, **kw)


# -- integrators -------------------------------------------------------------------------------
def test_integrator_accumulates_dt_r_x_exactly():
    y, _ = run_op(I(r=full(4.0)), constant(3.0, 6), dt=0.5)
    assert y[:, 0, 0].tolist() == [6.0 * (t + 1) for t in range(6)]


@pytest.mark.parametrize("method", METHODS)
def test_li_step_response(method):
    # v[t] = (v_leak + r x)(1 − α^(t+1)) for constant x, from v[−1] = 0
    a, T = alpha(4e-3, method), 30
    y, _ = run_op(LI(tau=full(4e-3), r=full(1.5), v_leak=full(0.25)), constant(0.6, T), method=method)
    t = np.arange(T)
    np.testing.assert_allclose(y[:, 0, 0], (0.25 + 1.5 * 0.6) * (1 - a ** (t + 1)), rtol=RTOL)


# -- LIF membrane -------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_lif_impulse_response(method):
    # x = A at t = 0 only: v[t] = α^t (1 − α) r A
    a, A, T = alpha(5e-3, method), 0.8, 40
    x = np.zeros((T, 1, 1))
    x[0] = A
    _, rec = run_op(lif(v_threshold=1e9), x, method=method, record=["v"])
    np.testing.assert_allclose(rec["v"][:, 0, 0], a ** np.arange(T) * (1 - a) * 2.5 * A, rtol=RTOL)


@pytest.mark.parametrize("method", METHODS)
def test_lif_step_response_with_leak(method):
    # constant x: v[t] = (v_leak + r x)(1 − α^(t+1))
    a, T = alpha(5e-3, method), 40
    _, rec = run_op(lif(v_leak=0.3, v_threshold=1e9), constant(0.4, T), method=method, record=["v"])
    np.testing.assert_allclose(rec["v"][:, 0, 0], (0.3 + 2.5 * 0.4) * (1 - a ** (np.arange(T) + 1)), rtol=RTOL)


def lif_first_crossing(u, v0, theta, a):
    """Ticks k ≥ 1 from v0 until u + (v0 − u) α^k > θ: k = floor(ln((u − θ)/(u − v0)) / ln α) + 1."""
    ratio = math.log((u - theta) / (u - v0)) / math.log(a)
    assert abs(ratio - round(ratio)) > 1e-6, "parameters put a crossing on the threshold"
    return math.floor(ratio) + 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("timing", ["immediate", "next_step"])
@pytest.mark.parametrize("v_reset", [0.0, 0.35])
def test_lif_spike_times_under_constant_input(method, timing, v_reset):
    # u = v_leak + r x; from 0 the first spike needs k1 ticks, after each reset (to v_reset,
    # or under next_step integration from v_reset) k2 more: spikes at k1−1, k1−1+k2, ...
    a, T = alpha(5e-3, method), 200
    u = 0.1 + 2.5 * 0.6
    k1 = lif_first_crossing(u, 0.0, 1.0, a)
    k2 = lif_first_crossing(u, v_reset, 1.0, a)
    z, _ = run_op(lif(v_leak=0.1, v_reset=v_reset, reset_timing=timing), constant(0.6, T), method=method)
    assert spike_ticks(z) == list(range(k1 - 1, T, k2))
    assert k1 > 1 and k2 > 1 and (v_reset == 0.0) == (k1 == k2)


@pytest.mark.parametrize("method", METHODS)
def test_lif_next_step_value_reset_differs_only_in_the_spiking_tick(method):
    # next_step keeps v[t] = v~[t] at a spike and integrates tick t+1 from v_reset, so the
    # membrane equals the immediate-reset membrane except at spike ticks, where it is v~ > θ.
    T = 60
    z_i, imm = run_op(lif(), constant(0.6, T), method=method, record=["v"])
    z_n, nxt = run_op(lif(reset_timing="next_step"), constant(0.6, T), method=method, record=["v"])
    spikes = z_i[:, 0, 0] == 1
    assert spikes.sum() >= 3 and np.array_equal(z_i, z_n)
    assert np.array_equal(imm["v"][~spikes], nxt["v"][~spikes])
    assert np.all(imm["v"][spikes] == 0.0) and np.all(nxt["v"][spikes] > 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_lif_next_step_subtract_does_not_decay_the_subtracted_threshold(method):
    # v~[1] = α v~[0] + c − θ with c = (1 − α) r x, and v~[0] = c > θ
    a = alpha(5e-3, method)
    c = (1 - a) * 2.5 * 4.0
    assert c > 1.0
    _, rec = run_op(lif(reset_mode="subtract", reset_timing="next_step"), constant(4.0, 2),
                    method=method, record=["v"])
    np.testing.assert_allclose(rec["v"][:, 0, 0], [c, a * c + c - 1.0], rtol=RTOL)


# -- IF spike counts (integer arithmetic: exact) ------------------------------------------------
CHARGES = [(3, 7), (2, 8), (5, 5), (1, 4), (4, 9)]   # (q = dt·r·x per tick, θ), q ≤ θ


def if_count(q, theta, T, mode):
    """Spikes in T ticks of an IF with charge q per tick (hand-derived, see test docstring)."""
    if mode == "subtract":        # v~[t] = (t+1) q − N θ: N = #{k ≥ 1 : k θ < T q}
        return (T * q - 1) // theta
    if mode == "value":           # period k* = smallest k with k q > θ
        return T // (theta // q + 1)
    return max(0, T - theta // q)  # none: spikes on every t with (t+1) q > θ


@pytest.mark.parametrize("q,theta", CHARGES)
@pytest.mark.parametrize("mode", ["subtract", "value", "none"])
@pytest.mark.parametrize("timing", ["immediate", "next_step"])
def test_if_spike_count_under_constant_input(q, theta, mode, timing):
    """For every reset mode both timings give the same spike count: subtract accumulates
    the same v~ (the threshold is subtracted after or before the next integration), value
    restarts from v_reset either way, none never resets. Exact threshold hits (2, 8) and
    (5, 5) check strictness."""
    T = 97
    z, _ = run_op(if_(r=2.0, v_threshold=theta, reset_mode=mode, reset_timing=timing),
                  constant(q, T), dt=0.5)
    assert z.sum() == if_count(q, theta, T, mode)


def test_if_subtract_trace_by_hand():
    # q = 3, θ = 7: v~ = 3, 6, 9*, 5, 8*, 4, 7, 10*  (immediate v[t] = v~ − 7 at spikes)
    z, rec = run_op(if_(v_threshold=7, reset_mode="subtract"), constant(3, 8), dt=1.0, record=["v"])
    assert z[:, 0, 0].tolist() == [0, 0, 1, 0, 1, 0, 0, 1]
    assert rec["v"][:, 0, 0].tolist() == [3, 6, 2, 5, 1, 4, 7, 3]
    z, rec = run_op(if_(v_threshold=7, reset_mode="subtract", reset_timing="next_step"),
                    constant(3, 8), dt=1.0, record=["v"])
    assert z[:, 0, 0].tolist() == [0, 0, 1, 0, 1, 0, 0, 1]
    assert rec["v"][:, 0, 0].tolist() == [3, 6, 9, 5, 8, 4, 7, 10]


# -- refractory period ---------------------------------------------------------------------------
@pytest.mark.parametrize("timing", ["immediate", "next_step"])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_if_refractory_lengthens_the_period_by_n(timing, n):
    # value reset: first spike after k* ticks, then every k* + n ticks
    q, theta, T = 2, 7, 100
    k = theta // q + 1
    z, _ = run_op(if_(v_threshold=theta, reset_timing=timing, t_refrac=n * 1.0), constant(q, T), dt=1.0)
    assert spike_ticks(z) == list(range(k - 1, T, k + n))


@pytest.mark.parametrize("method", METHODS)
def test_lif_refractory_restarts_from_v_reset_after_n_ticks(method):
    a, n, T = alpha(5e-3, method), 3, 150
    u = 2.5 * 0.6
    k1, k2 = lif_first_crossing(u, 0.0, 1.0, a), lif_first_crossing(u, 0.2, 1.0, a)
    z, rec = run_op(lif(v_reset=0.2, t_refrac=n * DT), constant(0.6, T), method=method, record=["v"])
    spikes = spike_ticks(z)
    assert spikes == list(range(k1 - 1, T, k2 + n))
    held = [s + j for s in spikes for j in range(n + 1) if s + j < T]
    assert np.all(rec["v"][held, 0, 0] == 0.2)          # reset value, held n ticks


def test_refractory_holds_v_and_applies_a_pending_next_step_reset_once():
    # IF q = 3, θ = 7, subtract, n = 2. v~: 3, 6, 9* | hold 2, 2 | 5, 8* | hold 1, 1 | 4, 7, 10*
    expected_z = [0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    imm_v = [3, 6, 2, 2, 2, 5, 1, 1, 1, 4, 7, 3]
    nxt_v = [3, 6, 9, 2, 2, 5, 8, 1, 1, 4, 7, 10]
    for timing, v in (("immediate", imm_v), ("next_step", nxt_v)):
        op = if_(v_threshold=7, reset_mode="subtract", reset_timing=timing, t_refrac=2.0)
        z, rec = run_op(op, constant(3, 12), dt=1.0, record=["v", "refrac"])
        assert z[:, 0, 0].tolist() == expected_z, timing
        assert rec["v"][:, 0, 0].tolist() == v, timing
        assert rec["refrac"][:, 0, 0].tolist() == [0, 0, 2, 1, 0, 0, 2, 1, 0, 0, 0, 2]


def test_cuba_lif_current_keeps_evolving_while_refractory():
    # α_syn = α_mem = 0.5 (euler, dt = 1, τ = 2), w_in = r = 2:  I[t] = I/2 + x,  v~ = v/2 + I.
    # x = 4 at t = 0: I = 4, 2, 1, .5, .25, .125; spike at 0, then two refractory ticks at
    # v = 0 while I decays, so tick 3 integrates I = 0.5 (not 2, which would spike).
    x = np.zeros((6, 1, 1))
    x[0] = 4.0
    z, rec = run_op(cuba(t_refrac=2.0), x, dt=1.0, record=["v", "i"])
    assert z[:, 0, 0].tolist() == [1, 0, 0, 0, 0, 0]
    assert rec["i"][:, 0, 0].tolist() == [4, 2, 1, 0.5, 0.25, 0.125]
    assert rec["v"][:, 0, 0].tolist() == [0, 0, 0, 0.5, 0.5, 0.375]
    z, _ = run_op(cuba(), x, dt=1.0)                      # without refractoriness: spikes at 0, 1
    assert z[:, 0, 0].tolist() == [1, 1, 0, 0, 0, 0]


def test_t_refrac_must_be_whole_ticks():
    with pytest.raises(SimulationError) as err:
        run_op(lif(t_refrac=2.5e-3), constant(1.0, 3))
    assert str(err.value) == ("node 'n': t_refrac of 0.0025 s is not a whole number of ticks at "
                              "dt = 0.001 s (2.5 ticks)")


# -- graded spikes and the threshold -------------------------------------------------------------
def test_graded_spikes_carry_the_crossing_membrane():
    z, _ = run_op(if_(v_threshold=7, reset_mode="subtract", graded=True), constant(3, 8), dt=1.0)
    assert z[:, 0, 0].tolist() == [0, 0, 9, 0, 8, 0, 0, 10]
    z, _ = run_op(if_(v_threshold=7, graded=True, reset_timing="next_step"), constant(3, 8), dt=1.0)
    assert z[:, 0, 0].tolist() == [0, 0, 9, 0, 0, 9, 0, 0]


def test_threshold_is_strict():
    theta = np.array([1.0, 1.0, 1.0, -2.0, 0.0])
    x = np.array([1.0, np.nextafter(1.0, 2.0), np.nextafter(1.0, 0.0), -2.0, 1e-300])
    y, _ = run_op(Threshold(threshold=theta), x.reshape(1, 1, 5))
    assert y[0, 0].tolist() == [0.0, 1.0, 0.0, 0.0, 1.0]


def test_neuron_exactly_at_threshold_does_not_spike():
    z, rec = run_op(if_(v_threshold=2.0), constant(1.0, 4), dt=1.0, record=["v"])
    assert z[:, 0, 0].tolist() == [0, 0, 1, 0] and rec["v"][:, 0, 0].tolist() == [1, 2, 0, 1]


def test_reset_mode_none_keeps_integrating():
    z, rec = run_op(if_(v_threshold=2.0, reset_mode="none"), constant(1.0, 5), dt=1.0, record=["v"])
    assert z[:, 0, 0].tolist() == [0, 0, 1, 1, 1] and rec["v"][:, 0, 0].tolist() == [1, 2, 3, 4, 5]


# -- current-based neurons -----------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("timing", ["same_tick", "next_tick"])
def test_cuba_current_decay_and_membrane(method, timing):
    # impulse A at t = 0:  I[t] = α_s^t (1 − α_s) w_in A.
    # same_tick: v[t] = (1 − α_m) r Σ_{k ≤ t} α_m^(t−k) I[k]
    #                 = (1 − α_m) r (1 − α_s) w_in A (α_m^(t+1) − α_s^(t+1)) / (α_m − α_s)
    # next_tick: v integrates I[t−1], so v[t] is the same_tick value of t − 1 (0 at t = 0).
    a_s, a_m, A, T = alpha(3e-3, method), alpha(7e-3, method), 1.3, 30
    x = np.zeros((T, 1, 1))
    x[0] = A
    op = cuba(CubaLI, tau_syn=3e-3, tau_mem=7e-3, r=1.7, w_in=2.2, current_timing=timing)
    y, rec = run_op(op, x, method=method, record=["i"])
    t = np.arange(T)
    np.testing.assert_allclose(rec["i"][:, 0, 0], a_s ** t * (1 - a_s) * 2.2 * A, rtol=RTOL)
    gain = (1 - a_m) * 1.7 * (1 - a_s) * 2.2 * A / (a_m - a_s)
    same = gain * (a_m ** (t + 1) - a_s ** (t + 1))
    want = same if timing == "same_tick" else np.concatenate([[0.0], same[:-1]])
    np.testing.assert_allclose(y[:, 0, 0], want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_cuba_lif_next_tick_spikes_exactly_one_tick_later(method):
    # with v_leak = 0, v_next[t] = v_same[t − 1] by induction (the same recursion, one tick
    # later, resets included), so the spike train shifts by exactly one tick
    rng = np.random.default_rng(1)
    x = (rng.random((80, 3, 4)) < 0.3).astype(float)
    ops = {timing: CubaLIF(tau_syn=np.full(4, 4e-3), tau_mem=np.full(4, 9e-3), r=np.full(4, 3.0),
                           v_leak=np.zeros(4), v_threshold=np.full(4, 0.5), v_reset=np.zeros(4),
                           w_in=np.full(4, 6.0), current_timing=timing)
           for timing in ("same_tick", "next_tick")}
    same, _ = run_op(ops["same_tick"], x, method=method)
    nxt, _ = run_op(ops["next_tick"], x, method=method)
    assert same.sum() > 20
    assert np.array_equal(nxt[1:], same[:-1]) and not nxt[0].any()


def test_batch_and_neurons_are_independent():
    # per-neuron parameters broadcast over the batch; each sample follows its own input
    op = IF(r=np.array([1.0, 2.0]), v_threshold=np.array([2.0, 3.0]), v_reset=np.zeros(2))
    x = np.zeros((4, 2, 2))
    x[:, 0] = 1.0
    x[:, 1] = [1.0, 0.0]
    z, _ = run_op(op, x, dt=1.0)
    # sample 0: neuron 0 v = 1, 2, 3* ; neuron 1 v = 2, 4*, 2, 4*.  sample 1: neuron 1 gets 0
    assert z[:, 0].tolist() == [[0, 0], [0, 1], [1, 0], [0, 1]]
    assert z[:, 1].tolist() == [[0, 0], [0, 0], [1, 0], [0, 0]]
