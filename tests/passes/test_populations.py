"""The population view: folded matrices checked against the interpreter's own run, lagged terms from
snn.delay ops, recurrent edges and delayed constants, and the refusals of a spec that maps none."""
import dataclasses

import numpy as np
import pytest

from snnc.backends.loihi.lower import POPULATIONS
from snnc.errors import UnsupportedOpError
from snnc.interp.engine import run
from snnc.ir import GraphBuilder
from snnc.ir.snn import Affine, Delay, Linear, Scale
from snnc.passes.populations import ALWAYS_ON, populations
from tests.netbuild import lif, spikes

DT = 1e-3


def _net():
    """x → fc (bias) → per-element delay → sum → into → p; p → rec ~> sum (rec is computed after p);
    p → aff (bias) ~> sum (a constant carried over a recurrent edge)."""
    rng = np.random.default_rng(0)
    b = GraphBuilder(dt=DT)
    x = b.input("x", (4,))
    fc = b.add("fc", Affine(weight=rng.standard_normal((5, 4)), bias=rng.standard_normal(5)), x)
    d = b.add("d", Delay(delay=np.array([0, 1, 2, 2, 3]) * DT), fc)
    total = b.add("sum", Scale(scale=np.full(5, 0.5)), d)
    into = b.add("into", Scale(scale=np.ones(5)), total)
    p = b.add("p", lif(5, beta=0.5, theta=0.8), into)
    rec = b.add("rec", Linear(weight=rng.standard_normal((5, 5))), p)
    b.connect(rec, total, recurrent=True)
    aff = b.add("aff", Affine(weight=rng.standard_normal((5, 5)), bias=rng.standard_normal(5)), p)
    b.connect(aff, total, recurrent=True)
    b.output("y", p, (5,))
    return b.build()


def test_folded_terms_reproduce_what_the_population_receives():
    g = _net()
    pop = populations(g, POPULATIONS).populations["p"]
    assert set(pop.inputs) == {"x"} and sorted(pop.lagged) == [
        ("<always-on>", 1), ("<always-on>", 2), ("<always-on>", 3), ("p", 1), ("x", 1), ("x", 2), ("x", 3)]
    assert pop.lagged_via[("x", 2)] == ("fc", "d", "sum", "into")
    x = spikes(12, 3, 4, p=0.5) * 1.5
    res = run(g, {"x": x}, record=["into", "p"])
    y = {"x": x, "p": res.recorded["p"], ALWAYS_ON: np.ones((12, 3, 1))}
    want = np.broadcast_to(pop.const, (12, 3, 5)).copy()
    want += np.einsum("ij,tbj->tbi", pop.inputs["x"], x)
    for (src, k), m in pop.lagged.items():
        want[k:] += np.einsum("ij,tbj->tbi", m, y[src][:12 - k])
    assert np.allclose(res.recorded["into"], want, rtol=1e-12, atol=1e-12)


def test_a_spec_without_delays_refuses_them_as_before():
    spec = dataclasses.replace(POPULATIONS, delays=False)
    with pytest.raises(UnsupportedOpError) as e:
        populations(_net(), spec)
    assert str(e.value) == "node 'd', op 'snn.delay': " + POPULATIONS.unsupported_op
    b = GraphBuilder(dt=DT)
    x = b.input("x", (3,))
    n = b.add("n", lif(3), b.add("fc", Linear(weight=np.eye(3)), x))
    aff = b.add("aff", Affine(weight=np.eye(3), bias=np.ones(3)), n)
    m = b.add("m", lif(3), b.add("fc1", Linear(weight=np.eye(3)), n))
    b.connect(aff, m, recurrent=True)
    b.output("y", m, (3,))
    with pytest.raises(UnsupportedOpError, match=r"recurrent edge aff:output ~> m:input carries a constant \(bias\)"):
        populations(b.build(), spec)
    assert populations(b.build(), POPULATIONS).populations["m"].lagged[(ALWAYS_ON, 1)].shape == (3, 1)


def test_an_affine_op_feeding_itself_without_a_neuron_is_refused():
    b = GraphBuilder(dt=DT)
    x = b.input("x", (3,))
    loop = b.add("loop", Linear(weight=0.5 * np.eye(3)), x, origin="filter")
    b.connect(loop, loop, recurrent=True)
    b.output("y", b.add("n", lif(3), loop), (3,))
    with pytest.raises(UnsupportedOpError) as e:
        populations(b.build(), POPULATIONS)
    assert str(e.value) == ("filter, node 'loop', op 'snn.linear': this op feeds itself through a recurrent edge "
                            "with no neuron in the loop (an infinite filter, not a synapse)")
