"""What the TrueNorth lowering makes of the constructs users bring, each checked against the float
model: a bias that starts with a core's first input, feedback around one core (exact) and
around a loop of cores (late by the ticks the chip needs more, reported), delays beyond the
scheduler (relay chains, exact), a converted ANN from an ONNX file on the command line, a
netx model (refused in one line), and --strict."""
import numpy as np
import pytest

import snnc
from snnc.cli import main
from snnc.errors import UnsupportedOpError
from snnc.ir import GraphBuilder
from snnc.ir.snn import Delay, Linear
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.backends.truenorth.nets import DT, chain, if_pop, rates, ternary

TN = get_target("truenorth")


# -- the bias of a core that runs after the model --------------------------------------------------
def _biased_chain(reset_mode, bias):
    rng = np.random.default_rng(4)
    return chain([ternary(rng, 6, 5), ternary(rng, 3, 6)], biases=[np.zeros(6), np.full(3, bias)],
                 reset_mode=reset_mode)


def test_a_biased_layer_fires_when_the_model_does_not_a_tick_early():
    """if1 runs one tick after the model: its leak would add a tick of bias before its first
    input (it fired at tick 2 where the model fires at tick 3). Its threshold and reset value
    now hold that charge, so the chip spikes as the model does, exactly."""
    for bias, first in ((0.3, 3), (0.25, 4)):
        g = _biased_chain("value", bias)
        res = run_pipeline(g, TN)
        assert res.graph.mapping.layers["if1"].latency == 1 and res.approximations == []
        x = np.zeros((6, 1, 5))
        _, rec = snnc.simulate(g, x, record=["if1"])
        out, layers = snnc.artifact.run_mapped(res.graph, {"x": x}, layers=True)
        assert np.flatnonzero(rec["if1"][:, 0, 0])[0] == first == np.flatnonzero(layers["if1"][:, 0, 0])[0]
    x = rates(40, 4, 5, p=0.5)
    assert np.array_equal(snnc.simulate(res.graph, x), snnc.simulate(g, x))         # bias 0.25: exact


def test_a_subtracting_biased_layer_is_reported_to_start_early():
    res = run_pipeline(_biased_chain("subtract", 0.25), TN)
    threshold, _, early = res.approximations
    assert threshold.rule == "truenorth.core.threshold"
    assert (early.node, early.rule, early.what) == ("if1", "truenorth.core.reset", "3 neuron(s) start 1 tick(s) of "
                                                                                  "bias ahead of the model")
    with pytest.raises(UnsupportedOpError, match=r"subtracts the register it compares with"):
        run_pipeline(_biased_chain("subtract", 0.25), TN, strict=True)


# -- feedback and delays ------------------------------------------------------------------------------------
def _loop(delay_ticks: int, *, self_loop: bool = False):
    """x → p (IF) → q (IF) → y, with q fed back into p through a recurrent edge (and an snn.delay of
    `delay_ticks`), or p fed back into itself."""
    rng = np.random.default_rng(1)
    b = GraphBuilder(dt=DT)
    b.input("x", (6,))
    b.add("fc0", Linear(weight=ternary(rng, 5, 6)), "x")
    b.add("p", if_pop(5, theta=2.0), "fc0")
    b.add("fq", Linear(weight=ternary(rng, 4, 5)), "p")
    b.add("q", if_pop(4), "fq")
    src = "p" if self_loop else "q"
    if delay_ticks:
        src = b.add("d", Delay(delay=np.full(5 if self_loop else 4, delay_ticks * DT)), src)
    b.add("back", Linear(weight=ternary(rng, 5, 5 if self_loop else 4)), src)
    b.connect("back", "p", recurrent=True)
    b.output("y", "q", (4,))
    return b.build()


@pytest.mark.parametrize("self_loop, delay_ticks", [(True, 0), (True, 20), (False, 1), (False, 2)])
def test_feedback_the_chip_can_close_in_time_is_exact(self_loop, delay_ticks):
    g = _loop(delay_ticks, self_loop=self_loop)
    art = snnc.compile(g, "truenorth")
    assert art.manifest["approximations"] == []
    x = rates(60, 3, 6, p=0.5)
    y = snnc.simulate(g, x)
    assert y.sum() > 10 and np.array_equal(snnc.simulate(art, x), y)
    assert any(r.get("recurrent") for c in art.files if c.endswith(".json") and c.startswith("cores/")
               for r in art.json(c)["routes_in"])


def test_a_loop_of_two_cores_closed_by_one_recurrent_edge_arrives_a_tick_late():
    g = _loop(0)
    res = run_pipeline(g, TN)
    (a,) = res.approximations
    assert (a.rule, a.node) == ("formats.delay", "p")
    assert a.what.startswith("7 feedback entries from 'q' arrive 1 tick(s) after the model's loop delivers them")
    with pytest.raises(UnsupportedOpError, match=r"the loop from 'q' back to 'p' takes more ticks on the chip"):
        run_pipeline(g, TN, strict=True)


def test_delays_beyond_the_scheduler_go_through_relays_exactly():
    rng = np.random.default_rng(0)
    b = GraphBuilder(dt=DT)
    b.input("x", (6,))
    b.add("fc0", Linear(weight=ternary(rng, 5, 6)), "x")
    b.add("if0", if_pop(5), "fc0")
    b.add("d", Delay(delay=np.full(5, 40 * DT)), "if0")
    b.add("fc1", Linear(weight=ternary(rng, 4, 5)), "d")
    b.add("if1", if_pop(4), "fc1")
    b.output("y", "if1", (4,))
    g = b.build()
    art = snnc.compile(g, "truenorth")
    roles = art.graph.mapping.roles
    assert sorted(r for r in roles.values()) == ["neurons", "neurons", "relay", "relay", "relay"]   # 41 ticks: 13, 13, 13, 2
    assert art.manifest["approximations"] == []
    x = rates(90, 3, 6, p=0.5)
    y = snnc.simulate(g, x)
    assert y[40:].sum() > 10 and not y[:40].any() and np.array_equal(snnc.simulate(art, x), y)
    assert snnc.verify(art, model=g, inputs=x).ok


# -- a converted ANN, a netx model and --strict on the command line ------------------------------------
def _onnx_mlp(path, rng):
    """A 16-12-4 ReLU MLP as an ONNX file (Gemm, Relu, Gemm), written with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w1, b1 = rng.normal(0, 0.5, (12, 16)), rng.normal(0, 0.1, 12)
    w2, b2 = rng.normal(0, 0.5, (4, 12)), rng.normal(0, 0.1, 4)
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"),
                                                                            (b2, "b2"))]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_a_converted_ann_compiles_and_verifies_for_truenorth_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("onnx")
    rng = np.random.default_rng(0)
    _onnx_mlp(tmp_path / "ann.onnx", rng)
    np.save(tmp_path / "cal.npy", rng.uniform(0, 1, (200, 16)))
    np.save(tmp_path / "x.npy", rng.uniform(0, 1, (32, 16)))
    out = tmp_path / "ann.tn"
    assert main(["compile", str(tmp_path / "ann.onnx"), "--calibration", str(tmp_path / "cal.npy"), "--target",
                 "truenorth", "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "the host codes input 'x' as spikes" in printed and "host_program.snnir" in {p.name for p in out.iterdir()}
    code = main(["verify", str(out), "--model", str(tmp_path / "ann.onnx"), "--calibration", str(tmp_path / "cal.npy"),
                 "--input", str(tmp_path / "x.npy"), "--ticks", "64", "--quiet"])
    report = capsys.readouterr().out
    assert code == 0 and "chip vs compiler: identical" in report, report


def test_a_netx_model_is_refused_naming_the_targets_that_take_it(tmp_path, capsys):
    pytest.importorskip("h5py")
    from tests.frontends.test_netx import random_layers, write_netx
    write_netx(tmp_path / "net.net", random_layers(np.random.default_rng(7), [6, 4]))
    code = main(["compile", str(tmp_path / "net.net"), "--target", "truenorth", "-o", str(tmp_path / "o"),
                 "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].endswith("this model holds Loihi's own integers (a lava-dl netx file); compile it for --target "
                           "loihi or loihi1")


def test_strict_refuses_the_shipped_digits_naming_the_leak(tmp_path, capsys):
    from pathlib import Path
    model = Path(__file__).resolve().parents[3] / "examples" / "digits" / "digits.snnir"
    code = main(["compile", str(model), "--target", "truenorth", "--strict", "-o", str(tmp_path / "d"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "snn.lif decays multiplicatively" in err and "(rule truenorth.core.leak;" in err
    assert not (tmp_path / "d").exists()
