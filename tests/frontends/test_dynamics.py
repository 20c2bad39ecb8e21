"""The dynamics recogniser against a direct numeric run of the dataflow it read.

Each case writes one tick of a neuron the way a framework's exporter does (snnTorch's
delayed subtract reset with the reset recomputed from the previous membrane, or carried
as the previous spike; Norse's (1 − z)·v + z·v_reset; a torch.where reset; a synaptic
current; a recurrent weight...). The oracle is the dataflow itself, evaluated tick by
tick in numpy: the recognised graph, run by the interpreter, must give the same spikes.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.errors import UnsupportedOpError
from snnc.frontends.dynamics import Prim, StepBuilder, build_graph
from snnc.interp.engine import run
from snnc.interp.kernel import Context, stepper_for
from snnc.ir.snn import Affine, Linear

N_IN, N = 3, 5
W = np.random.default_rng(1).normal(0.0, 0.8, (N, N_IN))
B0 = np.full(N, 0.1)
DT = 1e-3


# -- the oracle: the dataflow evaluated numerically ----------------------------------------------
NUMERIC = {
    Prim.ADD: np.add, Prim.SUB: np.subtract, Prim.MUL: np.multiply, Prim.DIV: np.divide,
    Prim.NEG: np.negative, Prim.IDENTITY: lambda a: a, Prim.CAST_FLOAT: lambda a: a,
    Prim.GREATER: lambda a, b: (a > b) * 1.0, Prim.LESS: lambda a, b: (a < b) * 1.0,
    Prim.CAST_BOOL: lambda a: (a != 0) * 1.0, Prim.NOT: lambda a: 1.0 - (a != 0),
    Prim.AND: lambda a, b: ((a != 0) & (b != 0)) * 1.0, Prim.OR: lambda a, b: ((a != 0) | (b != 0)) * 1.0,
    Prim.WHERE: lambda c, a, b: np.where(c != 0, a, b), Prim.RELU: lambda a: np.maximum(a, 0.0),
}


def run_dataflow(step, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of `step` for x [T, B, N_IN], states starting at zero."""
    T, B = x.shape[:2]
    states = {s.name: np.zeros(()) for s in step.states}
    outs = {name: [] for name in step.outputs}
    for t in range(T):
        vals = []
        for v in step.values:
            if v.prim is Prim.INPUT:
                vals.append(x[t])
            elif v.prim is Prim.STATE:
                vals.append(states[v.name])
            elif v.prim is Prim.CONST:
                vals.append(v.const)
            elif v.prim is Prim.LAYER:
                stepper = stepper_for(v.op)(v.op, Context(dt=DT), B)
                n_in = v.op.weight.shape[1]
                vals.append(stepper.step({"input": np.broadcast_to(vals[v.args[0]], (B, n_in))})["output"])
            else:
                vals.append(NUMERIC[v.prim](*(vals[a] for a in v.args)))
        states = {s.name: vals[s.value_out] for s in step.states}
        for name, idx in step.outputs.items():
            outs[name].append(np.broadcast_to(vals[idx], (B, N)))
    return {k: np.stack(v) for k, v in outs.items()}


def assert_reproduces(step, ticks: int = 60, gain: float = 1.5):
    """Recognise `step`, run the graph and the dataflow on one random input; return the graph."""
    g = build_graph(step, dt=DT, source="case")
    x = np.random.default_rng(2).uniform(-0.2, 1.0, (ticks, 7, N_IN)) * gain
    want = run_dataflow(step, x)
    got = run(g, {"x": x}).outputs
    for name in step.outputs:
        assert np.array_equal(got[name], want[name]), name
    assert 0 < want["spk"].mean() < 1 if "spk" in want else True
    return g


def neuron(g):
    (op,) = [n.op for n in g.nodes.values() if n.op.stateful or n.op.name == "snn.threshold"]
    return op


# -- steps written as exporters write them ---------------------------------------------------------
class Tick:
    """A small DSL over StepBuilder: `t.mul(a, b)`, `t.c(0.9)` for constants."""

    def __init__(self):
        self.b = StepBuilder()
        self.x = self.b.layer(Affine(weight=W, bias=B0), self.b.input("x", (N_IN,)), origin="fc")

    def c(self, value):
        return self.b.const(value)

    def __getattr__(self, prim):
        kind = Prim[prim.upper()]
        return lambda *args, origin="": self.b.apply(kind, *args, origin=origin)


def leaky(beta=0.9, theta=1.0, reset="subtract", carry_spike=False, graded=1.0, beta_vec=False):
    """snnTorch Leaky (reset_delay=True): the reset comes from the previous tick's membrane,
    recomputed as H(mem[t−1] − θ) (legacy exporter) or carried as the spike (dynamo)."""
    t = Tick()
    mem = t.b.state("mem")
    prev = t.b.state("spk") if carry_spike else t.cast_float(t.greater(t.sub(mem, t.c(theta)), t.c(0.0)))
    b = t.c(np.linspace(0.5, 0.95, N) if beta_vec else beta)
    if reset == "zero":
        mem_from = t.mul(t.sub(t.c(1.0), prev), mem)
        v = t.add(t.mul(b, mem_from), t.x)
    else:
        v = t.add(t.mul(b, mem), t.x)
        if reset == "subtract":
            v = t.sub(v, t.mul(prev, t.c(theta)))
    z = t.cast_float(t.greater(t.sub(v, t.c(theta)), t.c(0.0), origin="lif"))
    t.b.state_out("mem", v)
    if carry_spike:
        t.b.state_out("spk", z)
    t.b.output("spk", t.mul(z, t.c(graded)))
    return t.b.build()


def norse_cell(v_reset=0.0, tau_mem_inv=100.0, tau_syn_inv=200.0):
    """Norse LIFCell: i_jump = i + x; v_dec = v + dt/τ_mem ((v_leak − v) + i_jump); reset in the tick."""
    t = Tick()
    v, i = t.b.state("v"), t.b.state("i")
    i_jump = t.add(i, t.x)
    v_dec = t.add(v, t.mul(t.c(DT * tau_mem_inv), t.add(t.sub(t.c(0.0), v), i_jump)))
    z = t.cast_float(t.greater(t.sub(v_dec, t.c(0.25)), t.c(0.0)), origin="cell")
    t.b.state_out("v", t.add(t.mul(t.sub(t.c(1.0), z), v_dec), t.mul(z, t.c(v_reset))))
    t.b.state_out("i", t.add(i_jump, t.mul(t.c(-DT * tau_syn_inv), i_jump)))
    t.b.output("spk", z)
    return t.b.build()


def synaptic(reset="subtract", alpha=0.8, beta=0.9, theta=1.0, previous_current=False):
    t = Tick()
    syn, mem = t.b.state("syn"), t.b.state("mem")
    prev = t.cast_float(t.greater(t.sub(mem, t.c(theta)), t.c(0.0)))
    syn_new = t.add(t.mul(t.c(alpha), syn), t.x)
    v = t.add(t.mul(t.c(beta), mem), syn if previous_current else syn_new)
    if reset == "subtract":
        v = t.sub(v, t.mul(prev, t.c(theta)))
    else:                                             # snnTorch's Synaptic zero: mem -= mem·reset
        v = t.sub(v, t.mul(v, prev))
    t.b.state_out("syn", syn_new)
    t.b.state_out("mem", v)
    t.b.output("spk", t.cast_float(t.greater(t.sub(v, t.c(theta)), t.c(0.0), origin="lif")))
    return t.b.build()


def where_reset():
    """A hand-written LIF: mem = β·mem + x; spk = mem > θ; mem = where(spk, 0, mem)."""
    t = Tick()
    mem = t.b.state("mem")
    v = t.add(t.mul(t.c(0.8), mem), t.x)
    spk = t.greater(v, t.c(0.7), origin="lif")
    t.b.state_out("mem", t.where(spk, t.c(0.0), v))
    t.b.output("spk", t.cast_float(spk))
    return t.b.build()


def li_readout(beta=0.7):
    t = Tick()
    mem = t.b.state("mem")
    v = t.add(t.mul(t.c(beta), mem), t.x)
    t.b.state_out("mem", v)
    t.b.output("mem", v)
    return t.b.build()


def recurrent():
    """snnTorch RLeaky: mem = β mem + x + V·spk[t−1] − θ·spk[t−1]."""
    t = Tick()
    mem, spk = t.b.state("mem"), t.b.state("spk")
    rec = t.b.layer(Linear(weight=np.random.default_rng(3).normal(0, 0.5, (N, N))), spk, origin="rec")
    v = t.sub(t.add(t.add(t.mul(t.c(0.9), mem), t.x), rec), spk)
    z = t.cast_float(t.greater(t.sub(v, t.c(1.0)), t.c(0.0), origin="lif"))
    t.b.state_out("mem", v)
    t.b.state_out("spk", z)
    t.b.output("spk", z)
    return t.b.build()


def stateless_threshold():
    t = Tick()
    t.b.output("spk", t.cast_float(t.greater(t.x, t.c(0.3), origin="thr")))
    return t.b.build()


# -- recognition ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("carry_spike", [False, True], ids=["reset-recomputed", "spike-carried"])
def test_snntorch_subtract_reset_is_next_step_subtract(carry_spike):
    op = neuron(assert_reproduces(leaky(carry_spike=carry_spike)))
    assert (op.name, op.reset_mode, op.reset_timing) == ("snn.lif", "subtract", "next_step")
    assert np.allclose(op.tau, DT / (1 - 0.9)) and np.allclose(op.r * (1 - 0.9), 1.0)


def test_snntorch_zero_reset_integrates_from_zero_on_the_next_tick():
    op = neuron(assert_reproduces(leaky(reset="zero")))
    assert (op.reset_mode, op.reset_timing, float(op.v_reset[0])) == ("value", "next_step", 0.0)


def test_no_reset_and_per_neuron_decay():
    op = neuron(assert_reproduces(leaky(reset="none", beta_vec=True), gain=0.5))
    assert op.reset_mode == "none"
    assert np.allclose(1 - DT / op.tau, np.linspace(0.5, 0.95, N))


def test_beta_one_is_an_integrate_and_fire_neuron():
    op = neuron(assert_reproduces(leaky(beta=1.0), gain=0.3))
    assert op.name == "snn.if" and np.allclose(op.r * DT, 1.0)


def test_graded_factor_becomes_a_scale_after_the_neuron():
    g = assert_reproduces(leaky(graded=2.5))
    assert [n.op.name for n in g.nodes.values()].count("snn.scale") == 1


def test_norse_cell_is_a_current_based_neuron_reset_within_the_tick():
    op = neuron(assert_reproduces(norse_cell(v_reset=-0.1), gain=6.0))
    assert (op.name, op.reset_mode, op.reset_timing, op.current_timing) == \
        ("snn.cuba_lif", "value", "immediate", "same_tick")
    assert np.allclose(op.v_reset, -0.1) and np.allclose(op.tau_syn, 1 / 200.0) and np.allclose(op.tau_mem, 0.01)


@pytest.mark.parametrize("previous", [False, True], ids=["same-tick", "next-tick"])
def test_synaptic_current_timing(previous):
    op = neuron(assert_reproduces(synaptic(previous_current=previous), gain=0.6))
    assert op.current_timing == ("next_tick" if previous else "same_tick")


def test_synaptic_zero_reset_is_an_immediate_reset_and_one_refractory_tick():
    op = neuron(assert_reproduces(synaptic(reset="zero"), gain=0.6))
    assert (op.reset_mode, op.reset_timing, op.t_refrac) == ("value", "immediate", DT)


def test_where_reset_to_zero():
    op = neuron(assert_reproduces(where_reset()))
    assert (op.reset_mode, op.reset_timing) == ("value", "immediate")


def test_membrane_readout_is_a_leaky_integrator():
    g = build_graph(li_readout(), dt=DT)
    op = neuron(g)
    x = np.random.default_rng(4).normal(size=(30, 2, N_IN))
    assert op.name == "snn.li"
    assert np.allclose(run(g, {"x": x}).outputs["mem"], run_dataflow(li_readout(), x)["mem"], rtol=1e-12)


def test_recurrent_spikes_are_a_recurrent_edge():
    g = assert_reproduces(recurrent(), gain=0.8)
    assert [str(e) for e in g.edges if e.recurrent] == ["lif:output ~> rec:input"]


def test_stateless_comparison_is_a_threshold():
    op = neuron(assert_reproduces(stateless_threshold()))
    assert op.name == "snn.threshold" and np.allclose(op.threshold, 0.3)


@settings(max_examples=25, deadline=None)
@given(beta=st.floats(0.0, 0.98), theta=st.floats(0.2, 2.0), reset=st.sampled_from(["subtract", "zero", "none"]),
       carry=st.booleans())
def test_any_leaky_variant_is_reproduced(beta, theta, reset, carry):
    assert_reproduces(leaky(beta=beta, theta=theta, reset=reset, carry_spike=carry), gain=2 * theta)


@settings(max_examples=15, deadline=None)
@given(alpha=st.floats(0.05, 0.95), beta=st.floats(0.05, 0.95), previous=st.booleans())
def test_any_synaptic_variant_is_reproduced(alpha, beta, previous):
    step = synaptic(alpha=alpha, beta=beta, previous_current=previous)
    g = build_graph(step, dt=DT)
    x = np.random.default_rng(5).uniform(-0.2, 1.0, (50, 4, N_IN))
    assert np.array_equal(run(g, {"x": x}).outputs["spk"], run_dataflow(step, x)["spk"])


# -- refusals ----------------------------------------------------------------------------------------
def test_non_strict_threshold_is_refused():
    t = Tick()
    mem = t.b.state("mem")
    v = t.add(t.mul(t.c(0.9), mem), t.x)
    t.b.state_out("mem", v)
    t.b.output("spk", t.cast_float(t.greater_equal(v, t.c(1.0), origin="ge")))
    with pytest.raises(UnsupportedOpError) as err:
        build_graph(t.b.build(), dt=DT, source="m.onnx")
    assert str(err.value) == ("m.onnx, node 'ge': a non-strict comparison (>=, <=) used as a threshold: "
                              "snnc neurons spike when v > θ (strict)")


def test_a_state_no_neuron_explains_is_refused():
    t = Tick()
    s = t.b.state("s")
    t.b.state_out("s", t.mul(s, s, origin="square"))
    t.b.output("y", t.add(t.x, s))
    with pytest.raises(UnsupportedOpError) as err:
        build_graph(t.b.build(), dt=DT, source="m.onnx")
    assert str(err.value) == "m.onnx, node 'square': the membrane update 1·states·states is not β·m + input + constant"


def test_a_negative_threshold_with_delayed_reset_is_refused_by_the_interpreter_check():
    """snnTorch resets at tick 0 when θ < 0 (H(0 − θ) = 1); snnc's neurons start without a spike."""
    with pytest.raises(UnsupportedOpError) as err:
        build_graph(leaky(theta=-0.5), dt=DT, source="m.onnx")
    assert str(err.value) == ("m.onnx, node 'lif': the update reads as snn.lif (reset subtract, next_step), but "
                              "that neuron differs from the exported arithmetic at tick 0 (7 values differ); snnc "
                              "cannot represent this neuron exactly")


def test_a_membrane_read_between_layers_is_refused():
    t = Tick()
    mem = t.b.state("mem")
    v = t.add(t.mul(t.c(0.9), mem), t.x)
    z = t.cast_float(t.greater(v, t.c(1.0), origin="lif"))
    t.b.state_out("mem", t.sub(v, z))
    t.b.output("spk", z)
    t.b.output("mem", v)
    with pytest.raises(UnsupportedOpError) as err:
        build_graph(t.b.build(), dt=DT, source="m.onnx")
    assert str(err.value) == ("m.onnx, node 'mem': reads the state of neuron 'lif' (lif), not its spikes; snnc "
                              "graphs carry spikes between layers")
