"""What each TrueNorth approximation rule costs, measured on a network where it is the only one:

    .venv/bin/python -m tests.backends.truenorth.approximation_costs

prints one Markdown row per rule (ir_spec/SPEC.md §8.1 quotes them): the rules it lists, and the
output's count and spike agreement between the float model and the chip (`snnc.verify`'s
measures, `snnc.verify.runs.output_agreement`). Weights are ternary (every factorisation exact)
except where the factorisation is the rule measured; inputs are seeded Bernoulli spikes.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

import snnc
from snnc.ir import GraphBuilder
from snnc.ir.snn import CubaLIF, Linear
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from snnc.verify.runs import output_agreement
from tests.backends.truenorth.nets import DT, chain, if_pop, rates, ternary
from tests.netbuild import lif


def _layers(neuron, sizes=(12, 16, 6), seed=0, weights=None):
    """x → (Linear → neuron)* → y with ternary weights (or `weights(rng, n_out, n_in)`)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(dt=DT)
    prev = b.input("x", (sizes[0],))
    for i, (a, c) in enumerate(zip(sizes, sizes[1:])):
        w = weights(rng, c, a) if weights else ternary(rng, c, a, p=0.6)
        prev = b.add(f"n{i}", neuron(c), b.add(f"fc{i}", Linear(weight=w), prev))
    b.output("y", prev, (sizes[-1],))
    return b.build()


def _cuba(n):
    return CubaLIF(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 2e-2), r=np.ones(n), v_leak=np.zeros(n),
                   v_threshold=np.full(n, 1.0), v_reset=np.zeros(n), w_in=np.full(n, 8.0))


def _cases():
    tn = get_target("truenorth")
    x = rates(80, 32, 12, p=0.3)
    yield ("truenorth.core.leak (LIF α = 0.9, subtraction at once)", tn, x,
           _layers(lambda n: lif(n, beta=0.9, theta=2.0, reset_mode="subtract")))
    yield ("truenorth.core.leak (LIF α = 0.9, subtraction at the next step)", tn, x,
           _layers(lambda n: lif(n, beta=0.9, theta=2.0, reset_mode="subtract", reset_timing="next_step")))
    yield ("truenorth.core.leak (LIF α = 0.9, reset to 0)", tn, x,
           _layers(lambda n: lif(n, beta=0.9, theta=2.0)))
    yield ("truenorth.core.state, truenorth.core.leak (CUBA τ_syn 5 ms, τ_mem 20 ms: 5 taps)", tn, x,
           _layers(_cuba))
    yield ("core.axon_types (IF, Gaussian weights)", tn, x,
           _layers(lambda n: if_pop(n, theta=2.0), weights=lambda r, o, i: r.standard_normal((o, i)) * 0.8))
    rng = np.random.default_rng(3)
    yield ("truenorth.core.threshold (IF, subtraction, ternary weights, θ = 3)", tn, x,
           _layers(lambda n: if_pop(n, theta=3.0, reset_mode="subtract")))
    yield ("core.axons (IF, 600 inputs: partial sums)", tn, rates(80, 32, 600, p=0.05),
           chain([ternary(rng, 8, 600, p=0.6), ternary(rng, 6, 8)], theta=3.0))
    from tests.backends.truenorth.test_lowering import _biased_chain, _loop
    yield ("truenorth.core.reset (IF, subtraction, bias 0.25, latency 1)", tn, rates(80, 32, 5, p=0.5),
           _biased_chain("subtract", 0.25))
    yield ("formats.delay (2-population loop, 1 tick late)", tn, rates(80, 32, 6, p=0.5), _loop(0))
    yield ("truenorth.core.spike (IF, graded spikes worth θ)", tn, x,
           _layers(lambda n: if_pop(n, theta=2.0, graded=True), sizes=(12, 16)))
    from snnc.backends.truenorth.target import NeuronFeatures
    no_linear = replace(tn, name="truenorth-no-linear", neurons=NeuronFeatures(("normal", "none"), True))
    yield ("neurons.reset_modes (IF subtraction as reset to 0)", no_linear, x,
           _layers(lambda n: if_pop(n, theta=2.0, reset_mode="subtract")))


def measure(g, target, x) -> tuple[dict, list[str]]:
    """The mapped chip graph (what the artifact decodes to: tests/backends/truenorth/test_decode.py)
    against the float model; a target variant not installed has no artifact of its own."""
    res = run_pipeline(g, target)
    chip = output_agreement(snnc.simulate(g, x), snnc.simulate(res.graph, x), g)
    return chip, sorted({a.rule for a in res.approximations})


def rows() -> list[str]:
    out = ["| rule (network) | rules listed | output spikes (float) | chip: count / spike agreement |",
           "|---|---|---|---|"]
    for name, target, x, g in _cases():
        chip, listed = measure(g, target, x)
        spikes = int(np.abs(snnc.simulate(g, x)).astype(bool).sum())
        out.append(f"| {name} | {', '.join(listed)} | {spikes} | {chip['count_agreement']:.4f} / "
                   f"{chip['spike_agreement']:.4f} |")
    return out


if __name__ == "__main__":
    print("\n".join(rows()))
