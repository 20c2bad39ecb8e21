"""The TrueNorth passes, each checked against the interpreter where it claims to keep semantics:
legalize (refusals with exact messages), encode (weight factorisation, bias as leak,
thresholds, resets), split-fan-in (approximate, stated bound), partition (copies and
splitters bit-exact, paths re-aligned), and the resource invariants of every mapping."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import snnc
from snnc.backends.truenorth import factorize as fz
from snnc.backends.truenorth.netlist import Netlist
from snnc.backends.truenorth.ops import Core
from snnc.errors import ConstraintViolation, UnsupportedOpError
from snnc.ir import GraphBuilder
from snnc.ir.snn import CubaLIF, Linear
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.backends.truenorth.nets import DT, chain, if_pop, rates, ternary
from tests.netbuild import mlp

TN = get_target("truenorth")
UP_TO_ENCODE = ("truenorth-legalize", "truenorth-encode")
UP_TO_SPLIT = (*UP_TO_ENCODE, "truenorth-split-fan-in")


def _refusal(graph, *, strict=False) -> str:
    with pytest.raises(UnsupportedOpError) as err:
        run_pipeline(graph, TN, strict=strict)
    return str(err.value)


# -- truenorth-legalize ----------------------------------------------------------------------------
STRICT = "(rule {rule}; refused under --strict: without it the chip would {what})"


def test_lif_is_approximated_and_refused_under_strict_with_its_reason():
    res = run_pipeline(mlp([4, 3]), TN, pipeline=("truenorth-legalize",))
    leak = [a for a in res.approximations if a.rule == "truenorth.core.leak"]
    assert [a.node for a in leak] == ["lif0"] and leak[0].origin == "layers.1"
    assert leak[0].what.startswith("a linear leak of λ = 3/10 (1 − α) θ per tick stands for the decay")
    assert _refusal(mlp([4, 3]), strict=True) == (
        "layers.1, node 'lif0', op 'snn.lif': snn.lif decays multiplicatively (v ← α v + ...), but a TrueNorth "
        "leak is linear (V += λ per tick): train with snn.if and express the leak as a bias, or convert an ANN "
        + STRICT.format(rule="truenorth.core.leak", what=leak[0].what))


def test_refractory_periods_are_refused_and_graded_spikes_approximated():
    def net(**extra):
        b = GraphBuilder(dt=DT)
        b.input("x", (3,))
        b.add("fc", Linear(weight=np.ones((2, 3))), "x")
        b.add("n", if_pop(2, **extra), "fc", origin="net.n")
        b.output("y", "n", (2,))
        return b.build()
    assert _refusal(net(t_refrac=2e-3)) == ("net.n, node 'n', op 'snn.if': a refractory period has no TrueNorth "
                                            "equivalent (the neuron has none); use t_refrac = 0")
    res = run_pipeline(net(graded=True), TN)
    (graded,) = res.approximations
    assert (graded.node, graded.rule) == ("n", "truenorth.core.spike")
    assert res.graph.mapping.outputs["y"].encoding == "graded"         # each spike read back as θ = 1
    assert _refusal(net(graded=True), strict=True).startswith(
        "net.n, node 'n', op 'snn.if': graded spikes are not supported: a TrueNorth spike is one bit (rule "
        "truenorth.core.spike; refused under --strict")


def test_negative_thresholds_are_refused_and_cuba_neurons_approximated():
    g = chain([np.ones((2, 3))], theta=-0.5)
    assert _refusal(g) == "layers.1, node 'if0', op 'snn.if': v_threshold must be >= 0 (TrueNorth's α is unsigned), got -0.5"
    b = GraphBuilder(dt=DT)
    b.input("x", (2,))
    b.add("fc", Linear(weight=np.eye(2)), "x")
    b.add("c", CubaLIF(tau_syn=np.full(2, 5e-3), tau_mem=np.full(2, 1e-2), r=np.ones(2), v_leak=np.zeros(2),
                       v_threshold=np.ones(2), v_reset=np.zeros(2), w_in=np.ones(2)), "fc")
    b.output("y", "c", (2,))
    assert [a.rule for a in run_pipeline(b.build(), TN).approximations][:2] == ["truenorth.core.state",
                                                                               "truenorth.core.leak"]
    assert _refusal(b.build(), strict=True).startswith(
        "node 'c', op 'snn.cuba_lif': snn.cuba_lif has no TrueNorth equivalent: a TrueNorth neuron holds one "
        "state, its membrane, and no synaptic current (rule truenorth.core.state; refused under --strict")


def test_next_step_reset_becomes_immediate_with_the_same_spikes():
    w = np.random.default_rng(0).standard_normal((4, 6))
    g = chain([w], reset_mode="subtract").with_op("if0", if_pop(4, reset_mode="subtract", reset_timing="next_step"))
    out = run_pipeline(g, TN, pipeline=("truenorth-legalize",)).graph
    assert out.op("if0").reset_timing == "immediate"
    x = rates(40, 3, 6)
    assert np.array_equal(snnc.simulate(g, x), snnc.simulate(out, x))


# -- weight factorisation --------------------------------------------------------------------------
def test_four_axons_per_input_represent_every_4_bit_weight_exactly():
    rng = np.random.default_rng(1)
    ints = rng.integers(-8, 8, size=(6, 30)).astype(float)
    ints[:, 0] = -8                                        # every row spans the full 4-bit range
    W = ints * rng.uniform(0.1, 2.0, size=(6, 1))          # one scale per neuron
    f = fz.fit(W, 4)
    approx = np.einsum("jig,jg->ji", fz.choices(W, f.s, 4, f.subset), f.s)
    assert fz.relative_error(W, approx)["rel_rms"] < 1e-12


def test_error_falls_as_inputs_get_more_axons():
    W = np.random.default_rng(2).standard_normal((32, 40))
    errors = []
    for D in (1, 2, 3, 4):
        f = fz.fit(W, D)
        C = fz.choices(W, f.s, D, f.subset)
        assert C.shape == (32, 40, 4) and set(np.unique(C)) <= {0.0, 1.0}
        assert np.all(C.sum(axis=2) <= D) and np.all(fz.type_masks(D, f.subset).sum(axis=1) == D)
        errors.append(fz.relative_error(W, np.einsum("jig,jg->ji", C, f.s))["rel_rms"])
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.12, errors


def test_encode_picks_the_fewest_axons_that_represent_a_layer_exactly():
    rng = np.random.default_rng(3)
    res = run_pipeline(chain([ternary(rng, 8, 20), np.eye(8)]), TN, pipeline=UP_TO_ENCODE)
    layers = res.stats("truenorth-encode")["per_layer"]
    assert layers["if0"]["duplication"] == 2 and layers["if0"]["rel_rms"] < 1e-12   # ±1: two axon types
    assert layers["if1"]["duplication"] == 1 and layers["if1"]["rel_rms"] < 1e-12   # identity: one
    assert layers["if1"]["axons"] == 8


def test_a_layer_whose_inputs_do_not_fit_at_the_error_budget_gets_four_axons_per_input():
    W = np.random.default_rng(4).standard_normal((10, 100))
    layers = run_pipeline(chain([W]), TN, pipeline=UP_TO_ENCODE).stats("truenorth-encode")["per_layer"]
    assert layers["if0"]["duplication"] == 4 and layers["if0"]["axons"] > 256     # two axons fit, but err > 0.25
    assert layers["if0"]["rel_rms_by_duplication"]["2"] > 0.25 > layers["if0"]["rel_rms"]
    forced = run_pipeline(chain([W]), TN, pipeline=UP_TO_ENCODE, options={"truenorth-encode": {"duplication": 2}})
    assert forced.stats("truenorth-encode")["per_layer"]["if0"]["duplication"] == 2


def test_bias_is_the_leak_and_the_threshold_keeps_the_strict_comparison():
    b = GraphBuilder(dt=DT)
    b.input("x", (1,))
    from snnc.ir.snn import Affine
    b.add("fc", Affine(weight=np.zeros((2, 1)), bias=np.array([0.25, -0.5])), "x")
    b.add("n", if_pop(2, theta=1.0, reset_mode="value"), "fc")
    b.output("y", "n", (2,))
    g = b.build()
    out = run_pipeline(g, TN, pipeline=UP_TO_ENCODE).graph
    core = out.op("n")
    assert core.leak.tolist() == [255, -255]                   # scale 1020 and 510: the leak fills 8 bits
    assert core.alpha.tolist() == [1021, 511]                  # V ≥ floor(k θ) + 1  ⇔  V > k θ
    assert core.reset_mode.tolist() == [0, 0] and core.saturate.tolist() == [1, 1]
    x = np.zeros((12, 1, 1))
    assert np.array_equal(snnc.simulate(g, x), snnc.simulate(out, x))     # fires at ticks 4 and 9 in both


# -- exactness of the whole mapping where the weights are representable ---------------------------
@pytest.mark.parametrize("fan_out", ["auto", "copies", "splitter"])
def test_chip_run_equals_the_float_run_spike_for_spike(fan_out):
    """Ternary weights, integer thresholds, value reset: every integer is exact, so the mapped
    chip (encode → partition with copies or splitters, delays balanced across a skip
    connection) spikes exactly as the float model, on the source timeline."""
    rng = np.random.default_rng(0)
    g = chain([ternary(rng, 8, 10), ternary(rng, 6, 8), ternary(rng, 5, 6)], theta=2.0,
              skip=(0, 2, ternary(rng, 5, 8)))
    res = run_pipeline(g, TN, options={"truenorth-partition": {"fan_out": fan_out}})
    x = rates(50, 4, 10, p=0.5)
    y = snnc.simulate(g, x)
    assert y.sum() > 20 and np.array_equal(snnc.simulate(res.graph, x), y)
    latency = res.graph.mapping.outputs["y"].latency
    assert latency == (4 if fan_out == "splitter" else 2)      # a splitter tick on each of two hops
    assert (res.stats("truenorth-partition")["splitter_cores"] > 0) == (fan_out == "splitter")
    raw = snnc.simulate(res.graph, x, raw=True)
    assert np.array_equal(raw[latency:], y[:len(y) - latency])  # the chip's own timeline is shifted


@pytest.mark.parametrize("fan_out", ["copies", "splitter"])
def test_a_layer_without_synapses_keeps_its_feed_through_partition(fan_out):
    """if1's weights are all zero: its core has no axons, and the route from if0 carries no
    entries; it must still feed the core's input port after if0 is cut and re-routed, and the
    chip runs as the float model (if1 driven by its bias alone, from its own first tick on)."""
    rng = np.random.default_rng(4)
    g = chain([ternary(rng, 6, 5), np.zeros((3, 6))], biases=[np.zeros(6), np.full(3, 0.25)])
    res = run_pipeline(g, TN, options={"truenorth-partition": {"fan_out": fan_out}})
    assert [e.src for e in res.graph.in_edges("if1")] == ["if0.to.if1"]
    assert res.graph.op("if0.to.if1").source.size == 0
    x = rates(20, 2, 5)
    y = snnc.simulate(res.graph, x)
    assert y.sum() > 0 and np.array_equal(y, snnc.simulate(g, x))


# -- truenorth-split-fan-in ------------------------------------------------------------------------
def test_exact_fan_in_refuses_the_split_naming_core_neuron_and_limit():
    g = chain([np.full((3, 300), 0.01)])
    with pytest.raises(ConstraintViolation) as err:
        run_pipeline(g, TN, options={"truenorth-split-fan-in": {"exact": True}})
    assert str(err.value) == ("node 'if0' (layers.1) neuron 0: 300 axons (exact=True refuses the approximate "
                              "partial-sum split) > 256 allowed (truenorth.core.axons)")


@pytest.mark.parametrize("seed", [0, 1])
def test_partial_sums_approximate_the_unsplit_neuron_one_tick_later(seed):
    rng = np.random.default_rng(seed)
    g = chain([rng.standard_normal((20, 400)) * 0.08], reset_mode="subtract", biases=[np.full(20, 0.02)])
    whole = run_pipeline(g, TN, pipeline=UP_TO_ENCODE).graph
    split = run_pipeline(g, TN, pipeline=UP_TO_SPLIT)
    stats = split.stats("truenorth-split-fan-in")
    assert stats["per_core"]["if0"]["groups"] == 7 and stats["added_latency_ticks"] == 1
    assert split.graph.mapping.outputs["y"].latency == 1
    x = rates(300, 4, 400, p=0.1, seed=seed)
    c0, c1 = snnc.simulate(whole, x).sum(axis=0), snnc.simulate(split.graph, x).sum(axis=0)
    assert c0.sum() > 1000
    assert np.abs(c1 - c0).sum() / c0.sum() < 0.05 and np.abs(c1 - c0).max() <= 6


# -- truenorth-partition: every mapping within the chip's rules ----------------------------------
def _check_invariants(graph):
    net = Netlist.of(graph)
    for name, node in net.cores.items():
        assert node.op.axons <= 256 and node.op.neurons <= 256, name
    sent = {}
    for link in net.links:
        if link.src in net.cores:
            for j in link.source.tolist():
                sent[(link.src, j)] = sent.get((link.src, j), 0) + 1
    assert max(sent.values()) == 1                             # one destination per neuron
    cores = graph.mapping.cores
    assert sorted(cores.values()) == list(range(len(net.cores)))
    held = {}
    for core, p in graph.mapping.parts.items():
        assert p.first + p.count <= graph.op(core).neurons
        held.setdefault(p.population, []).extend(range(p.offset, p.offset + p.count))
    for pop, neurons in held.items():
        assert sorted(neurons) == list(range(len(neurons)))     # every neuron of a layer once


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 30), st.sampled_from(["auto", "copies", "splitter"]))
def test_every_mapping_fits_the_cores_and_gives_each_neuron_one_destination(n_in, hidden, n_out, fan_out):
    rng = np.random.default_rng(n_in * 7 + hidden)
    g = chain([rng.standard_normal((hidden, n_in)) * 0.3, rng.standard_normal((n_out, hidden)) * 0.3])
    res = run_pipeline(g, TN, options={"truenorth-partition": {"fan_out": fan_out}})
    _check_invariants(res.graph)


def test_a_neuron_needing_more_relays_than_a_core_holds_is_refused():
    """One neuron sending to 300 axons: no core holds it with 299 copies, nor its 300 relays."""
    from snnc.backends.truenorth.ops import Route
    from snnc.passes import get_pass
    from tests.backends.truenorth.util import core
    b = GraphBuilder(dt=DT)
    b.input("x", (1,))
    b.add("r0", Route(source=[0], axon=[0], delay=[0], n_in=1, n_axons=1), "x")
    b.add("S", core(1, 1), "r0", origin="hub")
    b.add("r1", Route(source=np.zeros(300), axon=np.arange(300), delay=np.ones(300), n_in=1, n_axons=300), "S")
    b.add("D", core(300, 300, crossbar=np.eye(300)), "r1")
    b.add("r2", Route(source=np.arange(300), axon=np.arange(300), delay=np.zeros(300), n_in=300, n_axons=300), "D")
    b.output("y", "r2", (300,))
    with pytest.raises(ConstraintViolation) as err:
        get_pass("truenorth-partition")(b.build(), TN)
    assert str(err.value) == ("node 'S' (hub) neuron 0: 300 destinations (relays for one neuron) > 256 "
                              "allowed (truenorth.core.neurons)")


def test_stochastic_neurons_get_splitters_not_copies_and_every_core_its_own_prn_stream():
    """Copies of a neuron that draws PRNs would spike differently from it; relays repeat it."""
    from snnc.backends.truenorth.ops import Route
    from snnc.passes import get_pass
    from tests.backends.truenorth.util import core
    b = GraphBuilder(dt=DT)
    b.input("x", (1,))
    b.add("r0", Route(source=[0], axon=[0], delay=[0], n_in=1, n_axons=1), "x")
    b.add("S", core(1, 1, leak=100, stochastic_leak=1, alpha=1), "r0")
    b.add("r1", Route(source=[0, 0], axon=[0, 1], delay=[1, 1], n_in=1, n_axons=2), "S")
    b.add("D", core(2, 2, crossbar=np.eye(2), reset_mode=0), "r1")
    b.add("r2", Route(source=[0, 1], axon=[0, 1], delay=[0, 0], n_in=2, n_axons=2), "D")
    b.output("y", "r2", (2,))
    g = b.build()
    out = get_pass("truenorth-partition")(g, TN)
    assert out.stats["per_core"]["S"]["mode"] == "splitter" and out.stats["splitter_cores"] == 1
    seeds = [out.graph.op(c).prng_seed for c in out.graph.mapping.cores]
    assert sorted(seeds) == list(range(len(seeds)))
    x = np.zeros((60, 2, 1))
    from snnc.interp.engine import run
    y = run(out.graph, {"x": x}, seed=3).outputs["y"]
    assert np.array_equal(y[:, :, 0], y[:, :, 1]) and y.sum() > 0   # both destinations see the same spikes
