"""Every construct a user brings, on the analog targets, with the interpreter as the oracle.

On an exact chip (no device noise or mismatch, analog sums without an ADC, continuous
conductances) the lowered chip graph must compute exactly what the graph analog-legalize
returns: that graph states each rule (faithful or approximate) in the source dialect, so
the chip computes the documented rule and nothing else. Faithful rules are further checked
against the source model itself; approximate ones are reported with their rule, and
refused under --strict."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnc.artifact import run_mapped
from snnc.backends.analog.ops import Crossbar, SpikeBuffer, SynapseCircuit
from snnc.errors import UnsupportedOpError
from snnc.interp.engine import run
from snnc.ir.graph import GraphBuilder
from snnc.ir.snn import IF, LI, LIF, CubaLIF, Delay, I, Linear
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target

ANALOG, BSS2 = get_target("analog"), get_target("analog-bss2")
IDEAL = {"analog-tile": {"noise": False}, "analog-neurons": {"mismatch": False}}


def exact(target, neuron=None, timing=None):
    """`target` with analog sums (no ADC), binary row pulses, continuous conductances and, optionally,
    other neuron or timing data: on it, with noise off, the chip is exact."""
    t = dataclasses.replace(target, converters=dataclasses.replace(target.converters, adc_bits=0, dac_bits=0),
                            device=dataclasses.replace(target.device, levels=0))
    if neuron:
        t = dataclasses.replace(t, neuron=dataclasses.replace(t.neuron, **neuron))
    if timing:
        t = dataclasses.replace(t, timing=dataclasses.replace(t.timing, **timing))
    return t


def lif(n, *, tau=0.02, r=20.0, theta=1.0, **kw):
    fields = dict(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.zeros(n), v_threshold=np.full(n, theta),
                  v_reset=np.zeros(n))
    fields.update(kw)
    return LIF(**fields)


def cuba(n, *, tau_syn=0.005, **kw):
    fields = dict(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, 0.02), r=np.full(n, 1.0), v_leak=np.zeros(n),
                  v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.full(n, 8.0))
    fields.update(kw)
    return CubaLIF(**fields)


def spikes(shape, seed=0, p=0.3):
    return (np.random.default_rng(seed).random(shape) < p).astype(float)


def chip_and_rule(graph, target, x):
    """(chip outputs and layers, legalized graph's outputs and layers) on `x`, and the approximations."""
    res = run_pipeline(graph, target, options=IDEAL)
    legal = run_pipeline(graph, target, pipeline=("analog-legalize",))
    out, layers = run_mapped(res.graph, x, layers=True)
    ref = run(legal.graph, x, record=[p for p in layers if p in legal.graph.nodes])
    return out, layers, ref, res


def assert_chip_is_the_rule(graph, target, x):
    out, layers, ref, res = chip_and_rule(graph, target, x)
    for p, z in layers.items():
        if p in ref.recorded:
            assert np.array_equal(z, ref.recorded[p].reshape(z.shape) != 0), p
    for name, y in out.items():
        assert np.allclose(y, ref.outputs[name], rtol=1e-9, atol=1e-9), name
    return res


# -- feedback, delays, readouts ------------------------------------------------------------------------
def recurrent_net(*, delay_ticks=0, readout=True, bias=False, second=lif):
    """x → fc → lif0 with a recurrent weight → (a delay) → fc1 → second population; an LI readout of lif0."""
    rng = np.random.default_rng(5)
    b = GraphBuilder(dt=1e-3)
    h = b.add("lif0", lif(6), b.add("fc", Linear(weight=rng.normal(0, 0.6, (6, 4))), b.input("x", (4,))),
              origin="model.lif0")
    rec = Linear(weight=rng.normal(0, 0.4, (6, 6)))
    if bias:
        from snnc.ir.snn import Affine
        rec = Affine(weight=rec.weight, bias=np.full(6, 0.05))
    b.connect(b.add("rec", rec, h, origin="model.rec"), h, recurrent=True)
    src = b.add("late", Delay(delay=np.full(6, delay_ticks * 1e-3)), h) if delay_ticks else h
    b.output("y", b.add("out", second(3), b.add("fc1", Linear(weight=rng.normal(0, 1.0, (3, 6))), src),
                        origin="model.out"), (3,))
    if readout:
        b.output("r", b.add("ro", LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2)),
                            b.add("fc_ro", Linear(weight=rng.normal(0, 1, (2, 6))), h), origin="model.ro"), (2,))
    return b.build()


def test_recurrent_tiles_and_host_readouts_compute_the_model_itself():
    g = recurrent_net()
    x = {"x": spikes((40, 5, 4))}
    res = assert_chip_is_the_rule(g, exact(ANALOG), x)
    assert res.approximations == []
    chip = res.graph
    recurrent = [e for e in chip.edges if e.recurrent]
    assert [(e.src, isinstance(chip.op(e.dst), Crossbar)) for e in recurrent] == [("lif0", True)]
    assert isinstance(chip.op("ro"), LI) and chip.mapping.outputs["r"].encoding == "values"
    want = run(g, x)
    got = run_mapped(chip, x)[0]
    assert np.array_equal(got["y"], want.outputs["y"]) and np.allclose(got["r"], want.outputs["r"], atol=1e-12)


def test_delays_wait_in_a_spike_buffer():
    g = recurrent_net(delay_ticks=3)
    x = {"x": spikes((40, 5, 4), seed=1)}
    res = assert_chip_is_the_rule(g, exact(ANALOG), x)
    buffers = [n for n, node in res.graph.nodes.items() if isinstance(node.op, SpikeBuffer)]
    assert [res.graph.op(b).ticks for b in buffers] == [2] and res.approximations == []
    assert np.array_equal(run_mapped(res.graph, x)[0]["y"], run(g, x).outputs["y"])


def test_spikes_older_than_the_event_path_holds_go_through_relays():
    """On a chip that holds spikes one tick (BSS-2's event loop), a 3-tick delay is 2 relay
    populations; on an exact chip the relays are exact."""
    g = recurrent_net(delay_ticks=3)
    x = {"x": spikes((40, 5, 4), seed=2)}
    target = exact(ANALOG, timing={"max_delay": 1})
    res = assert_chip_is_the_rule(g, target, x)
    assert [a.rule for a in res.approximations] == ["timing.max_delay"]
    assert "through 2 relay population(s) of 6 neurons" in res.approximations[0].what
    assert {"lif0.relay1", "lif0.relay2"} <= set(res.graph.mapping.layers)
    assert np.array_equal(run_mapped(res.graph, x)[0]["y"], run(g, x).outputs["y"])
    with pytest.raises(UnsupportedOpError) as err:
        run_pipeline(g, exact(ANALOG, timing={"max_delay": 0}), options=IDEAL)
    assert "holds no spike for a later tick (rule timing.max_delay = 0)" in str(err.value)


def test_a_bias_carried_over_a_recurrent_edge_is_on_from_tick_0():
    g = recurrent_net(bias=True)
    res = run_pipeline(g, exact(ANALOG), options=IDEAL)
    assert [(a.node, a.rule) for a in res.approximations] == [("lif0", "crossbar.bias")]
    x = {"x": spikes((30, 4, 4), seed=3)}
    y = run_mapped(res.graph, x)[0]["y"]
    assert (y == run(g, x).outputs["y"]).mean() > 0.9             # one tick of bias early, then the same drive


# -- neurons --------------------------------------------------------------------------------------------
def one_layer(op, n_in=8, seed=0, gain=1.5):
    rng = np.random.default_rng(seed)
    b = GraphBuilder(dt=1e-3, method="exact")
    b.output("y", b.add("pop", op, b.add("fc", Linear(weight=rng.normal(0, gain, (op.shape[0], n_in))),
                                          b.input("x", (n_in,))), origin="net.pop"), op.shape)
    return b.build()


@pytest.mark.parametrize("timing", ["same_tick", "next_tick"])
def test_cuba_on_synapse_circuits_is_the_model_itself(timing):
    g = one_layer(cuba(5, current_timing=timing))
    x = {"x": spikes((50, 4, 8), seed=4)}
    target = exact(ANALOG, neuron={"tau_syn_range": (1e-4, 1.0)})
    res = assert_chip_is_the_rule(g, target, x)
    assert res.approximations == [] and isinstance(res.graph.op("pop.synapse"), SynapseCircuit)
    assert np.array_equal(run_mapped(res.graph, x)[0]["y"], run(g, x).outputs["y"])


def test_cuba_on_one_state_circuits_folds_the_current_and_is_exact_without_its_memory():
    """The fold keeps the current's DC gain; with τ_syn = dt under euler the current has no memory
    (α_syn = 0) and the folded neuron is the model itself."""
    x = {"x": spikes((50, 4, 8), seed=5)}
    g = one_layer(cuba(5))
    res = assert_chip_is_the_rule(g, exact(ANALOG), x)
    assert [a.rule for a in res.approximations] == ["neuron.tau_syn_range"]
    b = GraphBuilder(dt=1e-3, method="euler")
    rng = np.random.default_rng(0)
    op = cuba(5, tau_syn=1e-3)
    b.output("y", b.add("pop", op, b.add("fc", Linear(weight=rng.normal(0, 1.5, (5, 8))), b.input("x", (8,)))),
             (5,))
    memoryless = b.build()
    res = run_pipeline(memoryless, exact(ANALOG), options=IDEAL)
    assert np.array_equal(run_mapped(res.graph, x)[0]["y"], run(memoryless, x).outputs["y"])


@pytest.mark.parametrize("op, changes, rule", [
    (lif(5, reset_mode="subtract", reset_timing="next_step"), {"reset_modes": ("value",)}, "neuron.reset_modes"),
    (IF(r=np.full(5, 800.0), v_threshold=np.ones(5), v_reset=np.zeros(5)), {"integrators": False},
     "neuron.integrators"),
    (lif(5, tau=50.0, r=500.0), {}, "neuron.tau_range"),
    (lif(5, t_refrac=3.0), {}, "neuron.refractory_max"),
], ids=["reset", "integrators", "tau", "refractory"])
def test_each_neuron_approximation_is_what_the_chip_computes(op, changes, rule):
    g = one_layer(op)
    res = assert_chip_is_the_rule(g, exact(ANALOG, neuron=changes), {"x": spikes((40, 4, 8), seed=6)})
    assert [a.rule for a in res.approximations] == [rule]
    assert res.approximations[0].node == "pop" and res.approximations[0].origin == "net.pop"


def test_graded_spikes_become_binary_spikes_worth_the_threshold():
    rng = np.random.default_rng(7)
    b = GraphBuilder(dt=1e-3)
    h = b.add("h", lif(6, theta=0.5, graded=True), b.add("fc", Linear(weight=rng.normal(0, 1, (6, 8))),
                                                          b.input("x", (8,))))
    b.output("y", b.add("out", lif(3), b.add("fc1", Linear(weight=rng.normal(0, 1, (3, 6))), h)), (3,))
    res = assert_chip_is_the_rule(b.build(), exact(ANALOG), {"x": spikes((40, 4, 8), seed=8)})
    assert [(a.node, a.rule) for a in res.approximations] == [("h", "analog.lif.output")]


def test_reset_none_subtracts_nothing_where_the_chip_can_subtract():
    g = one_layer(lif(5, reset_mode="none"))
    x = {"x": spikes((40, 4, 8), seed=9)}
    res = assert_chip_is_the_rule(g, exact(ANALOG), x)
    assert res.approximations == [] and res.graph.op("pop").reset_mode == "subtract"
    assert not res.graph.op("pop").v_subtract.any()
    assert np.array_equal(run_mapped(res.graph, x)[0]["y"], run(g, x).outputs["y"])


def test_an_integrator_readout_runs_in_the_chips_time_base():
    """BSS-2 runs 1000 times faster: the host's snn.i takes r x 1000 at dt / 1000 and sums the same."""
    rng = np.random.default_rng(10)
    b = GraphBuilder(dt=1e-3)
    h = b.add("h", lif(6, tau=0.01, r=10.0), b.add("fc", Linear(weight=rng.normal(0, 1, (6, 8))), b.input("x", (8,))))
    b.output("y", b.add("ro", I(r=np.full(3, 50.0)), b.add("fc1", Linear(weight=rng.normal(0, 1, (3, 6))), h)), (3,))
    g = b.build()
    x = {"x": spikes((30, 4, 8), seed=11)}
    res = run_pipeline(g, exact(BSS2), options=IDEAL)
    assert res.graph.op("ro").r[0] == pytest.approx(5e4) and res.graph.dt == pytest.approx(1e-6)
    assert np.allclose(run_mapped(res.graph, x)[0]["y"], run(g, x).outputs["y"], rtol=1e-9, atol=1e-9)


# -- refusals ----------------------------------------------------------------------------------------------
def test_a_model_in_loihis_dialect_is_refused_naming_the_fix(tmp_path):
    from tests.frontends.netx_files import cuba as netx_cuba, dense_layer, input_layer, write
    import snnc
    path = tmp_path / "m.net"
    write(path, [input_layer((4,)), dense_layer(np.ones((3, 4)) * 10, netx_cuba(100))])
    with pytest.raises(UnsupportedOpError) as err:
        snnc.compile(path, "analog")
    assert str(err.value).endswith(": this model holds Loihi's own integers (a lava-dl netx file); compile it for "
                                   "--target loihi or loihi1")
    assert "\n" not in str(err.value)


def test_current_coded_input_on_binary_rows_is_refused_naming_the_fix():
    g = one_layer(lif(3))
    g = g.replace(metadata={"convert_ann.input_coding": "current"})
    with pytest.raises(UnsupportedOpError) as err:
        run_pipeline(g, BSS2)
    assert str(err.value) == (
        "node 'x', op 'snn.input': this input carries real values every tick (an ANN converted with current "
        "coding); target 'analog-bss2' drives its rows with binary events (rule converters.dac_bits = 0): convert "
        "it with rate coding (convert_ann={'input_coding': 'rate'})")
    run_pipeline(g, ANALOG)                                  # a DAC takes the values


def test_feedback_into_a_host_readout_is_refused():
    b = GraphBuilder(dt=1e-3)
    h = b.add("h", lif(4), b.add("fc", Linear(weight=np.ones((4, 2))), b.input("x", (2,))))
    ro = b.add("ro", LI(tau=np.full(4, 0.01), r=np.ones(4), v_leak=np.zeros(4)), b.add("fc1", Linear(weight=np.eye(4)), h))
    b.connect(b.add("back", Linear(weight=np.eye(4)), h), ro, recurrent=True)
    b.output("y", ro, (4,))
    with pytest.raises(UnsupportedOpError) as err:
        run_pipeline(b.build(), ANALOG)
    assert "a host readout reads the chip's spikes of the same tick; its input from 'h' is 1 tick(s) old" in \
        str(err.value)


# -- what the converters and the parameter DACs cost -------------------------------------------------------
def dense_layer(n_in=40, n=6):
    """Every column holds 40 weights of 1: a column sum reaches 40 > the ADC's bound of 12."""
    b = GraphBuilder(dt=1e-3)
    b.output("y", b.add("pop", lif(n, theta=8.0), b.add("fc", Linear(weight=np.ones((n, n_in))),
                                                         b.input("x", (n_in,))), origin="net.pop"), (n,))
    return b.build()


def test_adc_clipping_is_reported_in_the_worst_case_and_measured_on_calibration_data():
    g = dense_layer()
    worst = run_pipeline(g, ANALOG)
    [a] = worst.approximations
    assert (a.node, a.rule, dict(a.effect)) == ("pop", "converters.adc_bound", {})
    assert a.why.startswith("column sums of up to 40 on a worst-case input exceed the ADC's bound 12")
    assert run_pipeline(g, BSS2).approximations == []                        # no ADC: the sums are analog
    sparse = spikes((20, 8, 40), seed=13, p=0.05)                            # about 2 of 40 rows a tick
    quiet = run_pipeline(g, ANALOG, options={"analog-calibrate": {"data": sparse, "gain": False}})
    assert quiet.approximations == []
    busy = spikes((20, 8, 40), seed=14, p=0.3)
    [a] = run_pipeline(g, ANALOG, options={"analog-calibrate": {"data": busy, "gain": False}}).approximations
    op = run_pipeline(g, ANALOG).graph.op("fc.tile0_0")
    sums = busy @ ((op.g_pos - op.g_neg) / op.g_max).T                       # the spike count of each tick
    assert a.effect["clipped_reads"] == pytest.approx(np.mean(sums > 12.0)) and 0.3 < a.effect["clipped_reads"] < 0.9


def test_dac_clipping_and_parameter_rounding_are_reported():
    g = one_layer(lif(3, v_reset=np.full(3, 0.3001)), n_in=4, gain=0.2)
    x = np.random.default_rng(15).uniform(0, 1.5, (10, 4, 4))
    res = run_pipeline(g, ANALOG, options={"analog-calibrate": {"data": x, "gain": False}})
    [a] = [a for a in res.approximations if a.rule == "converters.dac_bits"]
    assert a.node == "x" and a.effect["clipped_values"] == pytest.approx(np.mean(x > 1.0))
    assert not [a for a in res.approximations if a.rule == "neuron.parameter_bits"]
    strict = run_pipeline(g, ANALOG, options={"analog-neurons": {"rounding_tolerance": 1e-5}})
    [a] = [a for a in strict.approximations if a.rule == "neuron.parameter_bits"]
    # v_reset 0.3001 θ maps to 320.04 mV and is set to 320 mV: 0.04 / 400 of the threshold's distance from rest
    assert a.node == "pop" and a.effect["rounding"] == pytest.approx(0.04 / 400)


def test_a_converted_anns_inputs_fill_the_dacs_at_its_calibration_peak():
    """convert-ann records the largest |x| of its calibration data: the DACs take it at full scale."""
    g = one_layer(lif(3)).replace(metadata={"convert_ann.input_coding": "current", "convert_ann.input_peak": "16.0"})
    tiles = [n.op for n in run_pipeline(g, ANALOG).graph.nodes.values() if isinstance(n.op, Crossbar)]
    assert [op.x_max for op in tiles] == [16.0]
    mine = run_pipeline(g, ANALOG, options={"analog-tile": {"input_range": 2.0}}).graph
    assert [n.op.x_max for n in mine.nodes.values() if isinstance(n.op, Crossbar)] == [2.0]
