"""Every Loihi lowering rule, with the interpreter as the oracle.

Faithful rules are checked bit for bit: the float graphs before and after a rewrite spike
alike, and where weights, thresholds and leaks are dyadic (the chip represents them without
error) the chip's integer run equals the float model's, or a register trace equals the
integer recursion it stands for. Approximations are checked for being listed (node, origin,
rule, the refusal message under --strict) and for what they cost, measured and bounded.
"""
import dataclasses

import numpy as np
import pytest

import snnc
from snnc.artifact import run_mapped
from snnc.errors import UnsupportedOpError
from snnc.interp.engine import run
from snnc.interp.fixed import decay_toward_zero
from snnc.ir import GraphBuilder
from snnc.ir.snn import IF, LI, Affine, CubaLIF, Delay, Linear
from snnc.passes import get_pass
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from snnc.verify.runs import output_agreement
from tests.netbuild import lif, spikes

LOIHI, LOIHI1 = get_target("loihi"), get_target("loihi1")
UPTO_QUANTIZE = ["discretize", "prune", "loihi-legalize", "loihi-quantize"]
DT = 1e-3


def if_(n, theta=1.0, **kw):
    return IF(r=np.full(n, 1 / DT), v_threshold=np.full(n, theta), v_reset=np.zeros(n), **kw)


def cuba(n, *, alpha=0.75, beta=0.875, theta=1.0, **kw):
    """snnTorch Synaptic(α, β) in snnc's fields: I ← α I + x, v ← β v + I (dyadic α and β)."""
    tau_syn, tau_mem = DT / (1 - alpha), DT / (1 - beta)
    fields = dict(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / DT),
                  v_leak=np.zeros(n), v_threshold=np.full(n, theta), v_reset=np.zeros(n),
                  w_in=np.full(n, tau_syn / DT))
    fields.update(kw)
    return CubaLIF(**fields)


def dyadic(rng, shape, lo=-2, hi=6):
    """Weights in multiples of 1/8: exact on the chip's mantissa grid."""
    return rng.integers(lo, hi, shape) / 8


def two_layers(neuron, *, n_in=12, n_hid=16, n_out=6, seed=0, bias=None):
    rng = np.random.default_rng(seed)
    b = GraphBuilder(dt=DT)
    x = b.input("x", (n_in,))
    fc0 = Affine(weight=dyadic(rng, (n_hid, n_in)), bias=np.zeros(n_hid) if bias is None else bias)
    h = b.add("h", neuron(n_hid), b.add("fc0", fc0, x), origin="hidden")
    o = b.add("o", neuron(n_out), b.add("fc1", Linear(weight=dyadic(rng, (n_out, n_hid))), h), origin="out")
    b.output("y", o, (n_out,))
    return b.build()


def legalized(g, target):
    """(the discretized float graph, the same after loihi-legalize, its approximations)."""
    d = get_pass("discretize")(g, target).graph
    res = get_pass("loihi-legalize")(d, target)
    return d, res.graph, res.approximations


def chip_run(g, target, x, **options):
    lowered = run_pipeline(g, target, options=options).graph
    return snnc.simulate(snnc.compile(g, target, **options), x), lowered


def rules(art):
    return [a["rule"] for a in art.manifest["approximations"]]


def measured(g, art, x) -> tuple[dict, dict]:
    """What an approximation costs: the float model against its legalized rewrite (the rule alone),
    and against the chip (the rule and the number formats), each as `output_agreement`."""
    d, out, _ = legalized(g, art.target)
    rule = output_agreement(run(d, {"x": x}).outputs["y"], run(out, {"x": x}).outputs["y"], g)
    return rule, output_agreement(snnc.simulate(g, x), snnc.simulate(art, x), g)


# -- faithful ------------------------------------------------------------------------------------
def test_a_bias_into_a_cuba_current_reaches_u_at_the_layers_first_tick_as_the_integer_recursion():
    """The always-on neuron's synapse adds A = m · 2^e · 2^6 to u from chip tick L (source tick 0)
    on, and nothing before: u[t] = trunc0(u[t−1] (4096 − du − 1) / 4096) + A, exactly."""
    b = GraphBuilder(dt=DT)
    x = b.input("x", (2,))
    c = b.add("c", cuba(3), b.add("fc", Affine(weight=np.ones((3, 2)), bias=np.array([0.125, 0.3, -0.2])), x),
              origin="cell")
    b.output("y", c, (3,))
    g = b.build()
    lowered = run_pipeline(g, LOIHI, pipeline=UPTO_QUANTIZE).graph
    lat = lowered.mapping.layers["c"].latency
    bias = next(n for n in lowered.nodes if lowered.in_edges(n) and lowered.in_edges(n)[0].src == "always_on")
    syn = lowered.op(bias)
    assert int(syn.delay) == lat - 1
    add = syn.weight[:, 0] * 2 ** syn.weight_exp * 64
    T = 12
    u = run(lowered, {"x": np.zeros((T, 1, 2))}, record=["c:u"]).recorded["c:u"][:, 0]
    cub = lowered.op("c")
    want = np.zeros((T, 3), np.int64)
    for t in range(lat, T):
        want[t] = decay_toward_zero(want[t - 1], 4096 - (cub.du + 1), 12) + add
    assert np.array_equal(u, want) and np.all(add != 0)
    # the float current the model adds, within one mantissa step of the row's own exponent
    scale = cub.vth_mant * 64 / 1.0
    model = (1 - 0.875) * 8 * (1 - 0.75) * 4 * np.array([0.125, 0.3, -0.2])
    assert np.all(np.abs(add / scale - model) <= 0.5 * 2.0 ** (6 + syn.weight_exp) / scale + 1e-12)
    snnc.compile(g, "loihi", strict=True)                 # faithful: nothing to refuse


def test_a_bias_into_a_cuba_current_runs_like_the_float_model():
    rng = np.random.default_rng(3)
    g = two_layers(lambda n: cuba(n, theta=2.0), bias=rng.uniform(-0.2, 0.6, 16))
    x = spikes(60, 16, 12, p=0.2)
    for target in ("loihi", "loihi1"):
        art = snnc.compile(g, target)
        assert rules(art) == []
        report = snnc.verify(art, model=g, inputs=x)
        assert report.ok and report.comparison.layers[0]["agreement"] > 0.98, report


def test_current_timing_next_tick_is_a_one_tick_delay_before_the_current():
    def build(next_tick):
        rng = np.random.default_rng(1)
        b = GraphBuilder(dt=DT)
        x = b.input("x", (8,))
        fc = b.add("fc", Linear(weight=dyadic(rng, (5, 8), -3, 8)), x)
        if not next_tick:
            fc = b.add("h.current", Delay(delay=np.full(5, DT)), fc)
        h = b.add("h", cuba(5, current_timing="next_tick" if next_tick else "same_tick"), fc)
        b.output("y", h, (5,))
        return b.build()
    g, manual = build(True), build(False)
    x = spikes(40, 4, 8, p=0.5)
    d, out, approximations = legalized(g, LOIHI)
    assert not approximations and out.op("h").current_timing == "same_tick" and out.op("h.current").name == "snn.delay"
    yf = run(d, {"x": x}).outputs["y"]
    assert yf.sum() > 10 and np.array_equal(yf, run(out, {"x": x}).outputs["y"])
    assert np.array_equal(snnc.simulate(snnc.compile(g, "loihi"), x), snnc.simulate(snnc.compile(manual, "loihi"), x))


def test_immediate_subtraction_on_a_leaky_lif_is_next_step_plus_a_synapse_to_itself():
    g = two_layers(lambda n: lif(n, beta=0.875, reset_mode="subtract", reset_timing="immediate"), seed=2)
    x = spikes(50, 8, 12, p=0.4)
    d, out, approximations = legalized(g, LOIHI)
    assert not approximations and out.op("h").reset_timing == "next_step"
    assert np.allclose(out.op("h.reset").scale, 1 / 8)            # θ / r: (1 − α) θ back at the next tick
    yf = run(d, {"x": x}).outputs["y"]
    assert yf.sum() > 20 and np.array_equal(yf, run(out, {"x": x}).outputs["y"])
    for target in ("loihi", "loihi1"):
        art = snnc.compile(g, target)
        assert rules(art) == []
        # the leak truncates toward zero on the chip: a spike may move by a tick, rarely
        assert output_agreement(yf, snnc.simulate(art, x), g)["spike_agreement"] > 0.98


def _as_voltage(lowered, name):
    """The lowered graph with population `name` moved back from the current register to v: the
    same decay on v, the chip's own subtract reset, no synapse to itself (the quantised reference:
    what a chip with subtractive reset computes with these registers)."""
    from snnc.ir.graph import Node
    op = lowered.op(name)
    ref = op.replace(du=np.full_like(op.du, 4095), dv=op.du + 1, reset_mode="subtract")
    nodes = [Node(n, ref, node.origin) if n == name else node for n, node in lowered.nodes.items()
             if n != f"{name}.reset"]
    edges = [e for e in lowered.edges if f"{name}.reset" not in (e.src, e.dst)]
    return lowered.replace(nodes=nodes, edges=edges)


@pytest.mark.parametrize("neuron, approximated", [
    (lambda n: lif(n, beta=0.875, reset_mode="subtract", reset_timing="next_step"), False),
    (lambda n: if_(n, reset_mode="subtract", reset_timing="next_step"), True)], ids=["lif", "if"])
def test_subtraction_on_a_zero_reset_chip_keeps_the_membrane_in_the_current_register(neuron, approximated):
    g = two_layers(neuron, seed=4)
    x = spikes(60, 8, 12, p=0.4)
    art = snnc.compile(g, "loihi1")
    lowered = run_pipeline(g, LOIHI1).graph
    h = lowered.op("h")
    assert h.reset_mode == "zero" and np.all(h.dv == 4096)
    reset = lowered.op("h.reset")
    assert np.array_equal(-reset.weight << reset.weight_exp, h.vth_mant)      # takes exactly θ back
    reference = _as_voltage(_as_voltage(lowered, "h"), "o")
    got, ref = (run_mapped(gr, {"x": x}, layers=True) for gr in (lowered, reference))
    assert got[1]["h"].mean() > 0.1 and np.array_equal(got[1]["h"], ref[1]["h"])
    assert np.array_equal(got[0]["y"], ref[0]["y"])
    if not approximated:                                  # LIF: the membrane's own leak, exactly
        assert rules(art) == [] and np.all(h.du + 1 == lowered.op("h").du + 1)
        return
    assert rules(art) == ["neurons.reset_modes"] * 2 and np.all(h.du == 0)     # the least leak: 1/4096
    assert art.manifest["approximations"][0]["what"] == (
        "keep the membrane in the current register to subtract the threshold, where it leaks by 1/4096 a tick "
        "(the model's neuron does not leak)")
    yf = snnc.simulate(g, x)
    assert output_agreement(yf, snnc.simulate(art, x), g)["count_agreement"] > 0.99


def _delayed_pair(ticks):
    rng = np.random.default_rng(5)
    b = GraphBuilder(dt=DT)
    x = b.input("x", (6,))
    h = b.add("h", if_(8), b.add("fc0", Linear(weight=dyadic(rng, (8, 6), 0, 8)), x))
    late = b.add("late", Delay(delay=np.full(8, ticks * DT)), h)
    o = b.add("o", if_(4), b.add("fc1", Linear(weight=dyadic(rng, (4, 8), -2, 8)), late))
    b.output("y", o, (4,))
    return b.build()


def test_a_delay_beyond_the_synapses_range_goes_through_relays_exactly():
    g = _delayed_pair(100)
    wide = dataclasses.replace(LOIHI, formats=dataclasses.replace(LOIHI.formats, delay=type(LOIHI.formats.delay)(0, 255)))
    x = spikes(140, 3, 6, p=0.5)
    relayed, direct = run_pipeline(g, LOIHI), run_pipeline(g, wide)
    assert relayed.stats("loihi-quantize")["relays"] == 1 and direct.stats("loihi-quantize")["relays"] == 0
    assert int(relayed.graph.op("h.relay1.syn").delay) == 62 and int(relayed.graph.op("fc1").delay) == 99 - 63
    y_relayed = run_mapped(relayed.graph, {"x": x})[0]["y"]
    assert np.array_equal(y_relayed, run_mapped(direct.graph, {"x": x})[0]["y"])
    yf = snnc.simulate(g, x)
    assert yf[100:].sum() > 20 and not yf[:100].any() and np.array_equal(yf, y_relayed)


def _loop(extra_delay):
    """x → fc → a; a → fc1 → b; b ~> back → a (plus an snn.delay of `extra_delay` ticks on the way back)."""
    rng = np.random.default_rng(6)
    b = GraphBuilder(dt=DT)
    x = b.input("x", (6,))
    fc = b.add("fc", Linear(weight=dyadic(rng, (8, 6), 0, 8)), x)
    a = b.add("a", if_(8), fc, origin="loop.a")
    bb = b.add("b", if_(8), b.add("fc1", Linear(weight=dyadic(rng, (8, 8), 0, 8)), a))
    back = b.add("back", Linear(weight=dyadic(rng, (8, 8), -6, 2)))
    src = b.add("back.delay", Delay(delay=np.full(8, extra_delay * DT)), bb) if extra_delay else bb
    b.connect(src, back, recurrent=True)
    b.connect(back, a)
    b.output("y", bb, (8,))
    return b.build()


def test_a_loop_through_two_populations_is_exact_when_the_model_gives_it_the_chips_ticks():
    g = _loop(1)
    art = snnc.compile(g, "loihi")
    assert rules(art) == [] and int(art.graph.op("back").delay) == 0
    x = spikes(60, 4, 6, p=0.5)
    yf = snnc.simulate(g, x)
    assert yf.sum() > 20 and np.array_equal(yf, snnc.simulate(art, x))


def test_a_loop_faster_than_the_chip_is_approximated_one_tick_late_and_refused_under_strict():
    g = _loop(0)
    art = snnc.compile(g, "loihi")
    (a,) = art.manifest["approximations"]
    assert (a["node"], a["origin"], a["rule"]) == ("a", "loop.a", "loihi.synapse.tick")
    assert a["what"] == ("deliver the feedback from 'b' 1 tick(s) late (the loop passes more synapses, one tick "
                         "each, than the model's 1-tick delay)")
    with pytest.raises(UnsupportedOpError) as e:
        snnc.compile(g, "loihi", strict=True)
    assert str(e.value) == ("loop.a, node 'a', op 'snn.if': feedback from 'b' (chip latency 2) into 'a' (chip "
                            "latency 1) takes 2 ticks on the chip, but the source model delays it by 1 tick(s) "
                            "(a loop through more than one population) (rule loihi.synapse.tick; refused under "
                            "--strict: without it the chip would deliver the feedback from 'b' 1 tick(s) late "
                            "(the loop passes more synapses, one tick each, than the model's 1-tick delay))")
    x = spikes(60, 16, 6, p=0.5)
    got = output_agreement(snnc.simulate(g, x), snnc.simulate(art, x), g)
    assert got["count_agreement"] > 0.8, got             # the cost, measured: see the SPEC's table


def test_feedback_through_a_linear_node_computed_later_in_the_tick_is_exact():
    rng = np.random.default_rng(8)
    b = GraphBuilder(dt=DT)
    x = b.input("x", (6,))
    n = b.add("n", if_(8), b.add("fc", Linear(weight=dyadic(rng, (8, 6), 0, 8)), x))
    rec = b.add("rec", Linear(weight=dyadic(rng, (8, 8), -4, 4)), n)
    b.connect(rec, n, recurrent=True)                     # rec is computed after n in the tick
    b.output("y", n, (8,))
    g = b.build()
    art = snnc.compile(g, "loihi1")
    assert rules(art) == [] and int(art.graph.op("rec").delay) == 0
    x = spikes(50, 4, 6, p=0.5)
    yf = snnc.simulate(g, x)
    assert yf.sum() > 20 and np.array_equal(yf, snnc.simulate(art, x))


def test_a_bias_carried_over_a_recurrent_edge_arrives_from_tick_one_exactly():
    rng = np.random.default_rng(9)
    b = GraphBuilder(dt=DT)
    x = b.input("x", (4,))
    n0 = b.add("n0", if_(6), b.add("fc", Linear(weight=dyadic(rng, (6, 4), 0, 8)), x))
    aff = b.add("aff", Affine(weight=dyadic(rng, (5, 6), -2, 6), bias=np.full(5, 0.375)), n0)
    n1 = b.add("n1", if_(5), b.add("fc1", Linear(weight=dyadic(rng, (5, 6), 0, 4)), n0))
    b.connect(aff, n1, recurrent=True)                    # 0 at tick 0, W z0[t − 1] + 0.375 after
    b.output("y", n1, (5,))
    g = b.build()
    art = snnc.compile(g, "loihi")
    assert rules(art) == []
    x = spikes(40, 4, 4, p=0.5)
    yf = snnc.simulate(g, x)
    assert yf.sum() > 10 and np.array_equal(yf, snnc.simulate(art, x))


def test_a_readout_of_more_than_one_dimension_is_computed_on_the_host():
    from snnc.ir.snn import Scale
    rng = np.random.default_rng(10)
    b = GraphBuilder(dt=DT)
    x = b.input("x", (2, 3))
    h = b.add("h", if_(1).replace(r=np.full((2, 3), 1 / DT), v_threshold=np.full((2, 3), 0.5),
                                  v_reset=np.zeros((2, 3))), b.add("gain", Scale(scale=np.full((2, 3), 0.75)), x))
    ro = LI(tau=np.full((2, 3), 4e-3), r=np.ones((2, 3)), v_leak=np.zeros((2, 3)))
    r = b.add("ro", ro, b.add("w", Scale(scale=rng.standard_normal((2, 3))), h), origin="readout")
    b.output("y", r, (2, 3))
    g = b.build()
    art = snnc.compile(g, "loihi")
    assert art.graph.op("ro").shape == (6,) and rules(art) == []
    x = spikes(30, 3, 6, p=0.5).reshape(30, 3, 2, 3)
    yf, yc = snnc.simulate(g, x), snnc.simulate(art, x)
    assert yc.shape == (30, 3, 2, 3) and np.abs(yf).max() > 0.1 and np.allclose(yf, yc, rtol=1e-9, atol=1e-12)


# -- approximations -------------------------------------------------------------------------------
def test_subtraction_by_a_cuba_neuron_on_a_zero_reset_chip_resets_to_zero_and_says_so():
    g = two_layers(lambda n: cuba(n, theta=8.0, reset_mode="subtract", reset_timing="next_step"), seed=11)
    art = snnc.compile(g, "loihi1")
    assert rules(art) == ["neurons.reset_modes", "neurons.reset_modes"]
    a = art.manifest["approximations"][0]
    assert (a["node"], a["origin"]) == ("h", "hidden") and a["why"] == (
        "reset_mode subtract is not supported by target 'loihi1' (rule neurons.reset_modes = [zero])")
    rule, chip = measured(g, art, spikes(60, 32, 12, p=0.3))
    assert 0.93 < rule["count_agreement"] < 0.99 and chip["count_agreement"] > 0.93, (rule, chip)


def test_immediate_subtraction_by_a_leaky_cuba_neuron_takes_the_threshold_undecayed():
    g = two_layers(lambda n: cuba(n, theta=8.0, reset_mode="subtract", reset_timing="immediate"), seed=12)
    art = snnc.compile(g, "loihi")
    assert rules(art) == ["loihi.cuba.reset", "loihi.cuba.reset"]
    rule, chip = measured(g, art, spikes(60, 32, 12, p=0.3))
    assert 0.85 < rule["count_agreement"] < 0.95 and chip["count_agreement"] > 0.85, (rule, chip)


def test_a_nonzero_reset_value_shifts_the_membrane_and_is_exact_from_the_first_spike():
    g = two_layers(lambda n: lif(n, beta=0.875, v_reset=-0.5), seed=13)
    d, out, approximations = legalized(g, LOIHI)
    assert [a.rule for a in approximations] == ["loihi.cuba.reset"] * 2
    assert np.allclose(out.op("h").v_threshold, 1.5) and np.allclose(out.op("h").v_leak, 0.5)
    x = spikes(40, 8, 12, p=0.4)
    x[0] = 1.0                                           # every neuron of both layers spikes at tick 0 ...
    big = dataclasses.replace(d.op("fc0"), weight=np.abs(d.op("fc0").weight) + 1)
    d, out = d.with_op("fc0", big), out.with_op("fc0", big)
    rf, ro = run(d, {"x": x}, record=["h"]), run(out, {"x": x}, record=["h"])
    assert rf.recorded["h"][0].all()                      # ... so both start from v_reset after it
    assert np.array_equal(rf.recorded["h"], ro.recorded["h"])
    art = snnc.compile(g, "loihi1")
    assert rules(art) == ["loihi.cuba.reset"] * 2
    rule, chip = measured(g, art, spikes(60, 32, 12, p=0.3))
    assert rule["count_agreement"] > 0.97 and chip["count_agreement"] > 0.97, (rule, chip)


def test_a_refractory_period_beyond_the_counter_is_held_as_long_as_the_chip_can():
    g = two_layers(lambda n: lif(n, beta=0.875, t_refrac=70 * DT), seed=14)
    art = snnc.compile(g, "loihi1")
    assert rules(art) == ["formats.refractory"] * 2
    a = art.manifest["approximations"][0]
    assert a["what"] == "hold the neuron for 62 ticks after a spike instead of 70"
    assert a["why"] == "refractory period of 70 ticks is outside target 'loihi1' range (rule formats.refractory = [0, 62])"
    rule, chip = measured(g, art, spikes(200, 16, 12, p=0.3))
    assert 0.85 < rule["count_agreement"] < 0.95 and chip["count_agreement"] > 0.85, (rule, chip)


def test_a_cuba_leak_level_enters_the_compartment_bias_from_the_chips_first_tick():
    g = two_layers(lambda n: cuba(n, theta=8.0, v_leak=np.full(n, 0.5)), seed=15)
    art = snnc.compile(g, "loihi")
    assert rules(art) == ["loihi.cuba.start", "loihi.cuba.start"]
    assert art.manifest["approximations"][1]["what"].endswith("2 tick(s) before the layer's first input arrives")
    _, chip = measured(g, art, spikes(60, 32, 12, p=0.3))          # the rule acts in quantize: chip only
    assert 0.9 < chip["spike_agreement"] < 0.99 and chip["count_agreement"] > 0.99, chip


def test_bias_option_compartment_trades_timing_for_bias_bits_and_says_so():
    rng = np.random.default_rng(16)
    g = two_layers(lambda n: lif(n, beta=0.875), seed=16, bias=rng.uniform(0, 0.2, 16))
    assert rules(snnc.compile(g, "loihi")) == []
    art = snnc.compile(g, "loihi", loihi_quantize={"bias": "compartment"})
    assert rules(art) == ["loihi.cuba.start"]
    x = spikes(60, 32, 12, p=0.3)
    assert output_agreement(snnc.simulate(g, x), snnc.simulate(art, x), g)["count_agreement"] > 0.9
