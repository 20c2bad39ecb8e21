"""The float interpreter against snnTorch's own simulation (float64, random input currents).

Mapping (ir_spec/SPEC.md §4, "Input gain conventions"): euler, τ = dt/(1 − β), r = τ/dt,
so v~[t] = β v[t−1] + x[t]; the Synaptic current likewise with w_in = τ_syn/dt. snnTorch's
default reset_delay=True is reset_timing next_step. α and β differ from snnTorch's by
rounding only (β, α and θ are chosen exact in float32, snnTorch's parameter type),
so membranes agree within 1e-9 and spike trains exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

from snnc.ir.snn import LIF, CubaLIF
from tests.interp.util import run_op

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")

DT, T, B, N = 1e-3, 60, 3, 8


def currents(seed):
    return np.random.default_rng(seed).uniform(-0.2, 0.7, size=(T, B, N))


def run_snntorch(neuron, x):
    """Spikes and membranes [T, B, N] of an snnTorch neuron stepped over x."""
    zs, vs = [], []
    state = neuron.init_leaky() if isinstance(neuron, snn.Leaky) else neuron.init_synaptic()
    state = state if isinstance(state, tuple) else (state,)
    for t in range(T):
        spk, *state = neuron(torch.from_numpy(x[t]), *state)
        zs.append(spk.numpy())
        vs.append(state[-1].detach().numpy())
    return np.stack(zs), np.stack(vs)


def lif_from_beta(beta, theta, **kw):
    tau = DT / (1 - beta)
    return LIF(tau=np.full(N, tau), r=np.full(N, tau / DT), v_leak=np.zeros(N), v_threshold=np.full(N, theta),
               v_reset=np.zeros(N), **kw)


@pytest.mark.parametrize("mechanism,mode", [("subtract", "subtract"), ("zero", "value")])
def test_leaky_matches_lif_next_step(mechanism, mode):
    x = currents(0)
    z_ref, v_ref = run_snntorch(snn.Leaky(beta=0.875, threshold=0.75, reset_mechanism=mechanism), x)
    z, rec = run_op(lif_from_beta(0.875, 0.75, reset_mode=mode, reset_timing="next_step"), x, dt=DT,
                    record=["v"])
    assert z_ref.sum() > 30
    assert np.array_equal(z, z_ref)
    np.testing.assert_allclose(rec["v"], v_ref, rtol=1e-9, atol=1e-12)


def cuba_from_alpha_beta(alpha, beta, theta, **kw):
    tau_syn, tau_mem = DT / (1 - alpha), DT / (1 - beta)
    return CubaLIF(tau_syn=np.full(N, tau_syn), tau_mem=np.full(N, tau_mem), r=np.full(N, tau_mem / DT),
                   v_leak=np.zeros(N), v_threshold=np.full(N, theta), v_reset=np.zeros(N),
                   w_in=np.full(N, tau_syn / DT), **kw)


def test_synaptic_subtract_matches_cuba_lif_same_tick_next_step():
    x = currents(1) * 0.5
    z_ref, v_ref = run_snntorch(snn.Synaptic(alpha=0.75, beta=0.875, threshold=1.0), x)
    z, rec = run_op(cuba_from_alpha_beta(0.75, 0.875, 1.0, reset_mode="subtract", reset_timing="next_step"),
                    x, dt=DT, record=["v"])
    assert z_ref.sum() > 30
    assert np.array_equal(z, z_ref)
    np.testing.assert_allclose(rec["v"], v_ref, rtol=1e-9, atol=1e-12)


def test_synaptic_zero_reset_spikes_as_immediate_reset_with_one_refractory_tick():
    # snnTorch's Synaptic "zero" reset (reset_delay=True) sets the whole membrane of the tick
    # after a spike to 0 and cannot spike there: the same spike train as an immediate reset
    # to 0 followed by one refractory tick, while the current keeps evolving in both.
    x = currents(2) * 0.5
    z_ref, v_ref = run_snntorch(snn.Synaptic(alpha=0.75, beta=0.875, threshold=1.0, reset_mechanism="zero"), x)
    z, rec = run_op(cuba_from_alpha_beta(0.75, 0.875, 1.0, t_refrac=DT), x, dt=DT, record=["v"])
    assert z_ref.sum() > 20
    assert np.array_equal(z, z_ref)
    after = np.zeros_like(z, dtype=bool)
    after[1:] = z[:-1] == 1
    np.testing.assert_allclose(rec["v"][~(z == 1)], v_ref[~(z == 1)], rtol=1e-9, atol=1e-12)
    assert np.all(rec["v"][after] == 0.0)
