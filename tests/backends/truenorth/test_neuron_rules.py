"""The rules by which a source neuron becomes a TrueNorth neuron (`backends/truenorth/neuron.py`):
the rate-matched leak is recomputed from its definition, and each rule is checked on the
chip against the float model it stands for."""
import numpy as np
import pytest

import snnc
from snnc.backends.truenorth.neuron import LEAK_FRACTION
from snnc.ir import GraphBuilder
from snnc.ir.snn import LI, Affine, Linear
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.backends.truenorth.nets import DT, chain, rates, ternary
from tests.netbuild import lif, mlp, spikes

TN = get_target("truenorth")


def _rates(alpha, drive, reset, lam=None, ticks=400, timing="immediate"):
    """Firing rate per constant drive: the LIF (lam None: v ← α v + I) or the linear-leak neuron
    (v ← v + I − lam sgn v); threshold 1, strict >, reset by subtraction or to 0, applied at
    once or (the LIF's subtraction) at the next step, undecayed."""
    v, n, z = np.zeros_like(drive), np.zeros_like(drive), np.zeros_like(drive, dtype=bool)
    later = lam is None and timing == "next_step" and reset == "subtract"
    for _ in range(ticks):
        if lam is None:
            v = alpha * v + drive - (z if later else 0.0)
        else:
            v = v + drive - lam * np.sign(v + drive)
        z = v > 1.0
        n += z
        if not later:
            v = np.where(z, v - 1.0 if reset == "subtract" else 0.0, v)
    return n / ticks


@pytest.mark.parametrize("reset, timing, alpha", [("subtract", "immediate", 0.9), ("subtract", "immediate", 0.95),
                                                  ("subtract", "next_step", 0.9), ("subtract", "next_step", 0.95),
                                                  ("value", "immediate", 0.9), ("value", "immediate", 0.95)])
def test_the_leak_fraction_is_the_rate_matching_one(reset, timing, alpha):
    """c_γ minimises the squared rate error over the drives that fire at 0 … 1/2 spike per tick;
    the rule's value lies within 0.05 of the fitted one and loses < 0.003 spikes/tick RMS to it."""
    drive = np.linspace(1 - alpha, 3.0, 1200)
    target = _rates(alpha, drive, reset, timing=timing)
    keep = (target > 0) & (target <= 0.5)
    drive, target = drive[keep], target[keep]
    cs = np.linspace(0.0, 1.0, 101)
    err = np.array([np.sqrt(np.mean((_rates(alpha, drive, reset, c * (1 - alpha)) - target) ** 2)) for c in cs])
    best = cs[err.argmin()]
    rule = LEAK_FRACTION[(reset, timing)]
    assert abs(best - rule) <= 0.05
    rule_err = np.sqrt(np.mean((_rates(alpha, drive, reset, rule * (1 - alpha)) - target) ** 2))
    assert rule_err - err.min() < 0.003
    assert rule_err < 0.5 * err[0]                    # the leak halves the error of leaving the decay out


def test_a_lif_layer_fires_at_the_float_models_rate():
    """Spiking rates of an LIF MLP (no bias: leak toward 0) within 10 % per layer on the chip."""
    g = mlp([30, 40, 10], seed=3, gain=3.0, beta=0.9, reset_mode="subtract")
    res = run_pipeline(g, TN)
    assert {a.rule for a in res.approximations} >= {"truenorth.core.leak"}
    x = spikes(200, 8, 30, p=0.3)
    _, rec = snnc.simulate(g, x, record=["lif0", "lif1"])
    out, layers = snnc.artifact.run_mapped(res.graph, {"x": x}, layers=True)
    for pop in ("lif0", "lif1"):
        f, c = rec[pop].mean(), layers[pop].mean()
        assert f > 0.02 and abs(c - f) / f < 0.1, (pop, f, c)


def _biased_lif(reset_mode):
    """6 inputs → 5 LIF with excitatory weights and a bias (rest b/(1 − α) = 0.6, below threshold)."""
    rng = np.random.default_rng(5)
    b = GraphBuilder(dt=DT)
    b.input("x", (6,))
    b.add("fc", Affine(weight=np.abs(rng.standard_normal((5, 6))) * 0.3, bias=np.full(5, 0.06)), "x")
    b.add("n", lif(5, beta=0.9, reset_mode=reset_mode), "fc")
    b.output("y", "n", (5,))
    return b.build()


def _rate_ratio(g) -> float:
    x = spikes(200, 8, 6, p=0.3)
    f = snnc.simulate(g, x).sum()
    assert f > 1000
    return snnc.simulate(snnc.compile(g, "truenorth"), x).sum() / f


def test_a_biased_lif_with_value_reset_leaks_toward_its_rest():
    """Reset to a value: the chip's membrane is v − v*, a reversal leak pulls it to 0 (v to its
    rest v* = 0.6): the threshold register holds θ − v*, and without input nothing fires,
    as in the model (a constant leak b − λ would drift over the threshold); driven, the rate
    is within 10 % of the model's (measured 0.94)."""
    g = _biased_lif("value")
    core = run_pipeline(g, TN, pipeline=("truenorth-legalize", "truenorth-encode")).graph.op("n")
    assert core.leak_reversal.tolist() == [1] * 5 and np.all(core.leak < 0)
    silent = np.zeros((200, 1, 6))
    assert snnc.simulate(g, silent).sum() == 0
    assert snnc.simulate(snnc.compile(g, "truenorth"), silent).sum() == 0
    assert abs(_rate_ratio(g) - 1) < 0.1


def test_a_biased_lif_with_subtraction_gets_one_constant_leak_and_a_floor():
    g = _biased_lif("subtract")
    core = run_pipeline(g, TN, pipeline=("truenorth-legalize", "truenorth-encode")).graph.op("n")
    assert core.leak_reversal.tolist() == [0] * 5 and np.all(core.leak > 0)      # b − λ = 0.06 − 0.05 > 0
    assert np.all(core.beta == core.alpha)                  # the floor is −θ (θ = α with linear reset)
    assert abs(_rate_ratio(g) - 1) < 0.1                    # measured 1.01


def test_a_reset_mode_the_target_lacks_is_substituted_and_listed(tmp_path):
    from dataclasses import replace
    from snnc.backends.truenorth.target import NeuronFeatures
    no_linear = replace(TN, name="tn-nolinear", neurons=NeuronFeatures(("normal", "none"), True))
    g = chain([ternary(np.random.default_rng(2), 4, 6)], reset_mode="subtract")
    res = run_pipeline(g, no_linear)
    (a,) = res.approximations
    assert a.rule == "neurons.reset_modes" and a.what.startswith("reset v to 0 at each spike")
    assert set(res.graph.op("if0").reset_mode.tolist()) == {0}


def test_a_readout_on_the_host_reads_the_chips_spikes_exactly():
    """Exact spikes (ternary weights, value reset) into an LI readout: the host computes the
    readout from the chip's spikes as the model does, so the float values agree to rounding."""
    rng = np.random.default_rng(3)
    b = GraphBuilder(dt=DT)
    b.input("x", (6,))
    b.add("fc", Linear(weight=ternary(rng, 5, 6)), "x")
    from tests.backends.truenorth.nets import if_pop
    b.add("h", if_pop(5), "fc")
    b.add("ro_fc", Linear(weight=rng.standard_normal((3, 5))), "h")
    b.add("ro", LI(tau=np.full(3, 5e-3), r=np.ones(3), v_leak=np.zeros(3)), "ro_fc")
    b.output("y", "ro", (3,))
    g = b.build()
    art = snnc.compile(g, "truenorth")
    assert art.manifest["approximations"] == [] and "host_program.snnir" in art.files
    x = rates(40, 4, 6, p=0.5)
    y = snnc.simulate(g, x)
    assert np.abs(y).max() > 0.1
    np.testing.assert_allclose(snnc.simulate(art, x), y, rtol=0, atol=1e-12)
