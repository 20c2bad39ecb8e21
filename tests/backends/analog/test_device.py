"""Each noise term of the analog model against its formula (device.py, ops.Crossbar).

Statistical checks draw n independent devices (or reads) and compare a sample mean or
standard deviation with the formula. The bound is K = 5 standard errors of the estimator:
SE(mean) = σ / √n and SE(std) ≈ σ / √(2n) (normal samples). A correct model stays inside
5 SE with probability 1 − 5.7e-7 per check whatever the seed, while with n = 200 000 the
checks resolve a 0.8 % error in a standard deviation (0.4 % with the mean's SE for means),
far below the 5–20 % effects the terms model. The seeds are fixed, so the suite is also
deterministic. Deterministic terms (converters, IR drop, compensation) are checked exactly.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from snnc.backends.analog import device
from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.backends.analog.steps import LIFCircuitStepper, compensation, conductances, device_conductances
from snnc.interp.engine import run
from snnc.interp.kernel import Context
from snnc.ir.graph import GraphBuilder
from snnc.targets import get_target

K = 5.0
N = 200_000
PCM = get_target("analog").device
T_1H, T_1D = 3600.0, 86400.0


def pcm_op(n: int = 1, *, prog=True, drift=True, read=True, mismatch=0.0, t=0.0, **fields) -> Crossbar:
    """A one-row tile of n columns carrying the PCM model with chosen terms switched on."""
    base = dict(g_pos=np.zeros((n, 1)), g_neg=np.zeros((n, 1)), row_offset=0, n_in=1, col_offset=0, n_out=n,
                w_scale=np.full(n, PCM.g_max), gain=np.ones(n), bias=np.zeros(n), g_max=PCM.g_max,
                prog_noise=PCM.prog_noise if prog else [0.0], prog_noise_g_ref=PCM.prog_noise_g_ref,
                nu_mean=PCM.nu_mean if drift else [0.0] * 4, nu_std=PCM.nu_std if drift else [0.0] * 4,
                t0=PCM.t0, t_read=PCM.t_read, read_noise=PCM.read_noise if read else [0.0] * 3,
                synapse_mismatch=mismatch, t_inference=t)
    base.update(fields)
    return Crossbar(**base)


def assert_mean(samples, expected, sigma, what):
    se = sigma / math.sqrt(samples.size)
    assert abs(samples.mean() - expected) <= K * se, f"{what}: mean {samples.mean():.6g} vs {expected:.6g} ± {K * se:.2g}"


def assert_std(samples, expected, what):
    se = expected / math.sqrt(2 * (samples.size - 1))
    assert abs(samples.std(ddof=1) - expected) <= K * se, \
        f"{what}: std {samples.std(ddof=1):.6g} vs {expected:.6g} ± {K * se:.2g}"


def draw(op, g_t: float, seed=0):
    rng = np.random.default_rng(seed)
    return device_conductances(np.full(N, g_t), op, rng)


# -- programming noise -------------------------------------------------------------------------
def sigma_prog(g_hat: float) -> float:
    """aihwkit: max(−1.1731 ĝ² + 1.9650 ĝ + 0.26348, 0) µS at g_max = 25 µS."""
    return max(-1.1731 * g_hat ** 2 + 1.9650 * g_hat + 0.26348, 0.0)


@pytest.mark.parametrize("g_hat", [0.1, 0.5, 1.0])
def test_programming_noise_is_gaussian_with_the_polynomial_sigma(g_hat):
    g_t = g_hat * PCM.g_max
    _, g_p = draw(pcm_op(drift=False, read=False), g_t)
    s = sigma_prog(g_hat)
    assert_mean(g_p, g_t, s, "programmed conductance")
    assert_std(g_p, s, "programming noise")


def test_programming_noise_of_a_zero_target_is_clamped_at_zero():
    """One device of every pair is at 0: g_P = max(σ₀ ξ, 0): half the devices at 0, mean σ₀/√(2π)."""
    _, g_p = draw(pcm_op(drift=False, read=False), 0.0)
    s0 = sigma_prog(0.0)
    frac = np.mean(g_p == 0)
    assert abs(frac - 0.5) <= K * math.sqrt(0.25 / N)
    assert_mean(g_p, s0 / math.sqrt(2 * math.pi), s0 * math.sqrt(0.5 - 1 / (2 * math.pi)), "clamped noise")


def test_programming_noise_at_full_scale_is_four_percent_of_g_max():
    assert device.programming_sigma(np.array(1.0), PCM.prog_noise, PCM.g_max, PCM.prog_noise_g_ref) == \
        pytest.approx(1.05538)                          # ≈ 4.2 % of 25 µS (reference notes B5)
    assert device.programming_sigma(np.array(1.0), PCM.prog_noise, 12.5, 25.0) == pytest.approx(1.05538 / 2)


# -- drift ------------------------------------------------------------------------------------
def folded_normal(mu: float, sigma: float) -> tuple[float, float]:
    """Mean and std of |X|, X ~ N(μ, σ²)."""
    phi = 0.5 * (1 + math.erf(-mu / (sigma * math.sqrt(2))))
    mean = sigma * math.sqrt(2 / math.pi) * math.exp(-mu ** 2 / (2 * sigma ** 2)) + mu * (1 - 2 * phi)
    return mean, math.sqrt(mu ** 2 + sigma ** 2 - mean ** 2)


@pytest.mark.parametrize("g_hat,mu,sigma", [(1.0, 0.049, 0.008),                         # both clipped low
                                            (0.1, -0.0155 * math.log(0.1) + 0.0244, -0.0125 * math.log(0.1) - 0.0059),
                                            (0.01, -0.0155 * math.log(0.01) + 0.0244, 0.045)])  # σ clipped high
def test_drift_exponent_follows_the_conductance_dependent_statistics(g_hat, mu, sigma):
    g_t = g_hat * PCM.g_max
    g, _ = draw(pcm_op(prog=False, read=False, t=T_1D), g_t)
    nu = -np.log(g / g_t) / math.log((T_1D + PCM.t0) / PCM.t0)
    m, s = folded_normal(mu, sigma)
    assert_mean(nu, m, s, "drift exponent")
    assert_std(nu, s, "drift exponent")
    mu_f, s_f = device.drift_nu_stats(np.array(g_hat), PCM.nu_mean, PCM.nu_std)
    assert (float(mu_f), float(s_f)) == pytest.approx((mu, sigma))


def test_drift_factor_matches_the_reference_examples():
    """ν = 0.05: 0.77 after 1 h, 0.66 after 1 day, 0.49 after 1 year; nothing at t = 0."""
    f = [float(device.drift_factor(t, 20.0, 0.05)) for t in (T_1H, T_1D, 365 * T_1D, 0.0)]
    assert [round(v, 2) for v in f] == [0.77, 0.66, 0.49, 1.0]          # the notes' two digits


# -- 1/f read noise --------------------------------------------------------------------------------
@pytest.mark.parametrize("g_hat", [0.1, 1.0])
@pytest.mark.parametrize("t", [0.0, T_1H, T_1D])
def test_read_noise_is_relative_with_the_1_over_f_sigma(g_hat, t):
    g_t = g_hat * PCM.g_max
    g, _ = draw(pcm_op(prog=False, drift=False, t=t), g_t)
    rel = g / g_t - 1.0
    q = min(0.0088 / g_hat ** 0.65, 0.2)
    s = q * math.sqrt(math.log((t + PCM.t0 + PCM.t_read) / (2 * PCM.t_read)))
    assert_mean(rel, 0.0, s, "read noise")
    assert_std(rel, s, "read noise")


def test_read_noise_at_full_scale_after_one_hour_is_four_percent():
    s = device.read_noise_sigma(np.array(1.0), T_1H, 20.0, 2.5e-7, PCM.read_noise)
    assert float(s) == pytest.approx(0.042, abs=5e-4)


# -- fixed-pattern synapse mismatch (BSS-2) ------------------------------------------------------
def test_synapse_mismatch_is_a_relative_gaussian_gain():
    g, _ = draw(pcm_op(prog=False, drift=False, read=False, mismatch=0.05), 10.0)
    assert_mean(g / 10.0, 1.0, 0.05, "mismatch")
    assert_std(g / 10.0, 0.05, "mismatch")


# -- per-read output noise, through the interpreter ----------------------------------------------
def tile_graph(op: Crossbar):
    b = GraphBuilder(dt=1e-3)
    b.input("x", (op.n_in,))
    b.add("tile", op, "x")
    b.output("y", "tile", (op.n_out,))
    return b.build()


def test_output_noise_is_fresh_on_every_read():
    """A tile read every tick: its outputs fluctuate around the static value with σ = out_noise
    (in units of g_max · x_max, i.e. one full-scale weight), independently from tick to tick."""
    C, T = 512, 400
    op = pcm_op(C, prog=False, drift=False, read=False, out_noise=0.06, g_pos=np.full((C, 1), 0.5 * PCM.g_max))
    y = run(tile_graph(op), {"x": np.ones((T, 1, 1))}).outputs["y"][:, 0]
    dev = (y - 0.5).reshape(-1)
    assert_mean(dev, 0.0, 0.06, "output noise")
    assert_std(dev, 0.06, "output noise")
    lag = np.mean((y[1:] - 0.5) * (y[:-1] - 0.5)) / 0.06 ** 2           # correlation of successive reads
    assert abs(lag) <= K / math.sqrt(C * (T - 1))


# -- converters and IR drop: exact ------------------------------------------------------------------
def test_dac_rounds_to_signed_levels_and_clips():
    x = np.array([-2.0, -1.0, -0.5, -0.07, 0.0, 0.06, 0.5, 1.0, 3.0])
    assert np.array_equal(device.dac(x, 4), np.rint(np.clip(x, -1, 1) * 7) / 7)
    assert np.array_equal(device.dac(x, 0), (x != 0).astype(float))        # binary row pulses
    assert device.levels(7) == 63                                           # aihwkit inp_res = 1/(2^7 − 2)


def test_adc_rounds_to_signed_levels_and_clips():
    y = np.array([-20.0, -12.0, -0.03, 0.0, 0.02, 5.0, 11.99, 13.0])
    step = 12.0 / 255
    assert np.array_equal(device.adc(y, 9, 12.0), np.rint(np.clip(y, -12, 12) / step) * step)
    assert np.array_equal(device.adc(y, 0, 0.0), y)                        # no converter


def test_converters_inside_a_tile_run():
    """One weight of 1 at full scale: y = ADC(DAC(x / x_max)) · x_max, clipped at the ADC bound."""
    op = pcm_op(1, prog=False, drift=False, read=False, g_pos=np.full((1, 1), PCM.g_max), x_max=2.0,
                dac_bits=4, adc_bits=5, adc_bound=0.5)
    x = np.linspace(-3, 3, 25)[:, None, None]
    y = run(tile_graph(op), {"x": x}).outputs["y"][:, 0, 0]
    u = np.rint(np.clip(x[:, 0, 0] / 2.0, -1, 1) * 7) / 7
    step = 0.5 / 15
    assert np.allclose(y, np.rint(np.clip(u, -0.5, 0.5) / step) * step * 2.0, rtol=0, atol=1e-12)


def aihwkit_ir_drop(y, w, x, scale, g_ratio):
    """A loop transcription of aihwkit's CPU applyIrDrop (weights [out, in], not transposed)."""
    out_size, in_size = w.shape
    y = y.copy()
    c = np.zeros(out_size)
    for i in range(out_size):
        a = in_size / g_ratio * sum(abs(w[i, j]) * abs(x[j]) for j in range(in_size))
        c[i] = a * (a * (0.05 * a - 0.2) + 0.5)
    xp = [x[j] * (1 - (1 - j / in_size) ** 2) for j in range(in_size)]
    for i in range(out_size):
        y[i] -= scale * c[i] * sum(w[i, j] * xp[j] for j in range(in_size))
    return y


def test_ir_drop_is_aihwkits_model():
    rng = np.random.default_rng(3)
    w, x = rng.uniform(-1, 1, (6, 40)), rng.uniform(-1, 1, 40)
    y = w @ x
    got = device.ir_drop(y[None], w.T[None], x[None], 2.0, 1e3)[0]
    assert np.allclose(got, aihwkit_ir_drop(y, w, x, 2.0, 1e3), rtol=1e-12, atol=1e-12)
    assert not np.allclose(got, y)                                         # it did something
    assert device.ir_drop(y, w.T, x, 0.0, 1e3) is y                        # off: untouched


# -- drift compensation ----------------------------------------------------------------------------
def test_global_compensation_restores_the_probe_reading():
    """Global: c = Σ|W₀| / Σ|W| for the tile, so the compensated tile reads Σ|W₀| again; with one
    drift exponent for every device it undoes the drift exactly, per column too."""
    rng = np.random.default_rng(1)
    g = rng.uniform(0, PCM.g_max, (64, 32))
    op = pcm_op(64, prog=False, read=False, t=T_1D, g_pos=g, g_neg=np.zeros((64, 32)), n_in=32,
                w_scale=np.full(64, 1.0))
    w, w0 = conductances(op, np.random.default_rng(2))
    c = compensation(w, w0, "global")
    assert np.allclose(c, c[0]) and np.abs(w * c[:, None]).sum() == pytest.approx(np.abs(w0).sum())
    c = compensation(w, w0, "per_column")
    assert np.allclose(np.abs(w * c[:, None]).sum(axis=1), np.abs(w0).sum(axis=1))
    same = op.replace(nu_mean=np.array([0.0, 0.07, 0.07, 0.07]), nu_std=np.zeros(4))
    w, w0 = conductances(same, np.random.default_rng(2))
    assert np.allclose(w * compensation(w, w0, "global")[:, None], w0)
    assert np.allclose(w * compensation(w, w0, "none")[:, None], w0 * device.drift_factor(T_1D, 20.0, 0.07))


# -- neuron circuit mismatch -------------------------------------------------------------------------
def test_neuron_mismatch_is_drawn_once_per_chip_instance():
    n, sigma = 20_000, 0.03
    op = LIFCircuit(tau_mem=np.full(n, 0.02), gain=np.full(n, 2.0), v_leak=np.full(n, 100.0),
                    v_init=np.full(n, 100.0), v_threshold=np.full(n, 150.0), v_reset=np.full(n, 100.0),
                    v_subtract=np.full(n, 50.0), sigma_tau=sigma, sigma_gain=sigma, sigma_threshold=sigma)
    ctx = Context(dt=1e-3, seed=7, instances=3)
    st = LIFCircuitStepper(op, ctx, 3 * 2, "lif")
    theta = (st.theta[:, 0] - 100.0) / 50.0                  # θ' distance from the leak, relative
    gain = st.gain[:, 0] / 2.0
    tau = (1e-3 / (1.0 - st.a[:, 0])) / 0.02                # α = 1 − dt/τ' (euler) inverted, relative
    for i in range(3):
        for what, v in (("threshold", theta[i]), ("gain", gain[i]), ("tau", tau[i])):
            assert_mean(v.reshape(-1), 1.0, sigma, f"{what} mismatch, instance {i}")
            assert_std(v.reshape(-1), sigma, f"{what} mismatch, instance {i}")
    assert not np.allclose(theta[0], theta[1])               # instances differ
    alone = LIFCircuitStepper(op, Context(dt=1e-3, seed=7, instances=1), 2, "lif")
    assert np.array_equal(alone.theta[0], st.theta[0])       # instance 0 is the same chip in any run
    before = st.theta.copy()
    st.step({"input": np.ones((6, n))})
    assert np.array_equal(st.theta, before)                  # drawn once, not per tick
