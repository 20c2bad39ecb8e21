"""Recurrent networks on Loihi: the engine rule for delayed ops (a loihi.dense in a cycle needs no
recurrent edge: its own tick is the delay), snnTorch RLeaky compiled and checked against the float
model, bit-exactness across partitioning of a population that feeds itself, and a loop the chip
closes later than the model, approximated and refused under --strict."""
import numpy as np
import pytest
import torch
from torch import nn

import snnc
from snnc.backends.loihi.ops import Dense
from snnc.errors import IRVerificationError, UnsupportedOpError
from snnc.interp.engine import run
from snnc.ir import GraphBuilder
from snnc.ir.snn import Linear
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.backends.loihi.test_lower_partition import tiny
from tests.backends.loihi.util import cuba
from tests.netbuild import lif

UPTO_QUANTIZE = ["discretize", "prune", "loihi-legalize", "loihi-quantize"]


def _dense(w):
    w = np.atleast_2d(np.asarray(w, np.int64))
    return Dense(weight=w, weight_exp=np.zeros(w.shape[0], np.int64))


def _loop(rec_weight, *, recurrent=False):
    """x -> d_in -> c, c -> d_rec -> c (no recurrent flag unless asked), c -> y.
    c fires exactly when its tick's input is positive: u = a << 6 (du = 4095: no memory),
    v = u (dv = 4096: no memory), θ = 0, strict >."""
    b = GraphBuilder()
    x = b.input("x", (1,))
    d_in = b.add("d_in", _dense([[1]]), x)
    c = b.add("c", cuba(1, du=4095, dv=4096, vth_mant=0), d_in)
    d_rec = b.add("d_rec", _dense([[rec_weight]]))
    b.connect(c, d_rec, recurrent=recurrent)
    b.connect(d_rec, c)
    b.output("y", c, (1,))
    return b.build()


def test_a_dense_in_a_cycle_is_legal_and_its_own_tick_is_the_feedback_delay():
    g = _loop(-1)
    assert g.find_cycle() is None and not any(e.recurrent for e in g.edges)
    assert g.schedule().index("d_rec") < g.schedule().index("c")     # edges into a delayed op do not order
    x = np.ones((8, 1, 1), np.int64)
    res = run(g, {"x": x}, record=["d_in", "d_rec", "c"])
    # by hand, with a[t] = d_in[t] + d_rec[t], z[t] = a[t] > 0,
    # d_in[t] = x[t − 1] (0 at t = 0), d_rec[t] = −z[t − 1] (0 at t = 0):
    #   t:      0  1  2  3  4  5  6  7
    #   d_in:   0  1  1  1  1  1  1  1
    #   d_rec:  0  0 −1  0 −1  0 −1  0
    #   z:      0  1  0  1  0  1  0  1
    assert res.recorded["d_in"][:, 0, 0].tolist() == [0, 1, 1, 1, 1, 1, 1, 1]
    assert res.recorded["d_rec"][:, 0, 0].tolist() == [0, 0, -1, 0, -1, 0, -1, 0]
    assert res.outputs["y"][:, 0, 0].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    # a recurrent edge into the dense adds a second tick: d_rec[t] = −z[t − 2]
    g2 = _loop(-1, recurrent=True)
    y2 = run(g2, {"x": x}).outputs["y"][:, 0, 0]
    assert y2.tolist() == [0, 1, 1, 0, 0, 1, 1, 0]


def test_a_same_tick_cycle_without_a_delayed_op_is_still_refused():
    b = GraphBuilder()
    x = b.input("x", (3,))
    fc = b.add("fc", Linear(weight=np.eye(3)), x)
    n = b.add("n", lif(3), fc)
    b.connect(n, fc)
    b.output("y", n, (3,))
    with pytest.raises(IRVerificationError, match="same-tick cycle"):
        b.build()


def test_delayed_stepper_step_is_emit_then_absorb():
    from snnc.interp.kernel import Context, stepper_for
    op = _dense([[2, -1], [0, 3]])
    a, b = (stepper_for(op)(op, Context(dt=1e-3), 2, "d") for _ in range(2))
    rng = np.random.default_rng(0)
    for _ in range(5):
        s = (rng.random((2, 2)) < 0.5).astype(np.int64)
        out = a.emit()["output"]
        a.absorb({"input": s})
        assert np.array_equal(out, b.step({"input": s})["output"])


# -- snnTorch RLeaky to the chip ----------------------------------------------------------------
def rleaky_net(seed=0, n_in=40, n_hid=60, n_out=10):
    import snntorch as snn
    torch.manual_seed(seed)
    fc1, fc2 = nn.Linear(n_in, n_hid), nn.Linear(n_hid, n_out)
    rec = snn.RLeaky(beta=0.9, linear_features=n_hid, all_to_all=True, reset_mechanism="subtract",
                     init_hidden=True)
    with torch.no_grad():
        fc1.weight.mul_(3.0)
        fc1.bias.zero_()
        fc2.weight.mul_(3.0)
        fc2.bias.zero_()
        rec.recurrent.bias.zero_()
    return nn.Sequential(fc1, rec, fc2, snn.Leaky(beta=0.8, init_hidden=True)).eval()


def _spikes(T, B, n, rate=0.3, seed=1):
    return (np.random.default_rng(seed).random((T, B, n)) < rate).astype(np.float64)


def test_snntorch_rleaky_compiles_to_loihi_and_agrees_with_the_float_model(capsys):
    g = snnc.load(rleaky_net(seed=1), sample_input=torch.zeros(1, 40))
    assert any(e.recurrent for e in g.edges)
    art = snnc.compile(g, "loihi")
    rec = [n for n in art.graph.nodes if isinstance(art.graph.op(n), Dense) and
           any(e.src == art.graph.out_edges(n)[0].dst for e in art.graph.in_edges(n))]
    assert rec, "the feedback synapse of the RLeaky layer is a loihi.dense feeding its own population"
    assert not any(e.recurrent for e in art.graph.edges)
    assert art.manifest["io"]["layers"]["1"]["latency"] == 1 and art.manifest["io"]["layers"]["3"]["latency"] == 2
    x = _spikes(50, 64, 40)
    report = snnc.verify(art, model=g, inputs=x)
    assert not report.violations
    out = report.comparison.outputs["output"]
    hidden = next(l for l in report.comparison.layers if l["population"] == "1")
    with capsys.disabled():
        print(f"\nRLeaky on loihi: decision agreement {out['decision_agreement']:.4f}, output spike agreement "
              f"{out['spike_agreement']:.4f}, hidden spike agreement {hidden['agreement']:.4f} "
              f"({hidden['float_spikes']} float / {hidden['chip_spikes']} chip spikes)")
    # quantisation flips a few near-threshold spikes at tick 0 already; the feedback spreads them
    assert out["decision_agreement"] >= 0.95 and out["spike_agreement"] >= 0.9 and hidden["agreement"] >= 0.95
    assert hidden["float_spikes"] > 0.05 * x.shape[0] * x.shape[1] * 60       # the recurrent layer is active
    assert report.ok


def test_rleaky_integer_run_is_identical_before_and_after_partitioning():
    g = snnc.load(rleaky_net(seed=3), sample_input=torch.zeros(1, 40))
    t = tiny(get_target("loihi"), neurons=13, input_axons=120, output_axons=400)
    before = run_pipeline(g, t, pipeline=UPTO_QUANTIZE).graph
    after = run_pipeline(g, t).graph
    parts = [n for n in after.nodes if n.startswith("1.") and after.op(n).name == "loihi.cuba"]
    assert len(parts) >= 5                        # the population that feeds itself is split
    x = _spikes(40, 4, 40, seed=5)
    from snnc.artifact import run_mapped
    y0, y1 = (run_mapped(h, {"input": x}, raw=True)[0]["output"] for h in (before, after))
    assert y0.any() and np.array_equal(y0, y1)


def test_feedback_through_a_longer_chip_path_is_approximated_and_refused_under_strict():
    # lif1 ~> fc0 -> lif0: lif1 sits at latency 2, lif0 at 1; the chip needs 2 ticks, the source 1
    # (tests/backends/loihi/test_lower_rules.py measures what it costs)
    b = GraphBuilder()
    x = b.input("x", (4,))
    fc0 = b.add("fc0", Linear(weight=np.ones((4, 4))), x)
    l0 = b.add("lif0", lif(4), fc0, origin="layer0")
    l1 = b.add("lif1", lif(4), b.add("fc1", Linear(weight=np.ones((4, 4))), l0))
    b.connect(l1, fc0, recurrent=True)
    b.output("y", l1, (4,))
    g = b.build()
    assert [a["node"] for a in snnc.compile(g, "loihi").manifest["approximations"]] == ["lif0"]
    with pytest.raises(UnsupportedOpError) as e:
        snnc.compile(g, "loihi", strict=True)
    msg = str(e.value)
    assert "node 'lif0'" in msg and "layer0" in msg and "feedback from 'lif1'" in msg and "2 ticks" in msg


def test_a_bias_carried_over_a_recurrent_edge_and_feedback_from_a_later_op_compile_faithfully():
    # both are exact (tests/backends/loihi/test_lower_rules.py runs them bit for bit)
    from snnc.ir.snn import Affine
    b = GraphBuilder()
    x = b.input("x", (3,))
    n0 = b.add("n0", lif(3), b.add("fc", Linear(weight=np.eye(3)), x))
    aff = b.add("aff", Affine(weight=np.eye(3), bias=np.ones(3)), n0)
    n1 = b.add("n1", lif(3), b.add("fc1", Linear(weight=np.eye(3)), n0), origin="cell")
    b.connect(aff, n1, recurrent=True)                  # 0 at tick 0, W·z0[t − 1] + 1 after
    b.output("y", n1, (3,))
    assert snnc.compile(b.build(), "loihi", strict=True).manifest["approximations"] == []
    b = GraphBuilder()
    x = b.input("x", (3,))
    n = b.add("n", lif(3), b.add("fc", Linear(weight=np.eye(3)), x), origin="cell")
    b.connect(b.add("rec", Linear(weight=np.eye(3)), n), n, recurrent=True)
    b.output("y", n, (3,))
    assert snnc.compile(b.build(), "loihi", strict=True).manifest["approximations"] == []


def test_feedback_timing_is_exact_when_the_weights_are_exact():
    """IF neurons and weights in multiples of 1/4 quantise without error, so the chip must agree spike for
    spike: any error in the feedback delay (a tick too many or too few) would show at once."""
    rng = np.random.default_rng(7)
    from snnc.ir.snn import IF
    n_in, n = 12, 16

    def if_(k):
        return IF(r=np.full(k, 1000.0), v_threshold=np.ones(k), v_reset=np.zeros(k), reset_mode="subtract",
                  reset_timing="next_step")
    b = GraphBuilder()
    x = b.input("x", (n_in,))
    h = b.add("h", if_(n), b.add("fc0", Linear(weight=rng.integers(0, 3, (n, n_in)) / 4), x))
    b.connect(h, b.add("rec", Linear(weight=rng.integers(-2, 3, (n, n)) / 4)), recurrent=True)
    b.connect("rec", h)
    o = b.add("o", if_(4), b.add("fc1", Linear(weight=rng.integers(-1, 3, (4, n)) / 4), h))
    b.output("y", o, (4,))
    g = b.build()
    art = snnc.compile(g, "loihi")
    xs = _spikes(40, 8, n_in, rate=0.4, seed=2)
    yf, yc = snnc.simulate(g, xs), snnc.simulate(art, xs)
    rf = run(g, {"x": xs}, record=["h"]).recorded["h"]
    assert yf.sum() > 20 and rf.mean() > 0.1 and np.array_equal(yf, yc)
