"""convert-ann: a ReLU MLP trained here on scikit-learn digits keeps its accuracy as an SNN
(through snnc.load of its ONNX export, and from a graph built from its weights); the
converted graph approaches the ANN's logits as ticks grow (the interpreter is the oracle);
normalisation, scales through pooling and residual sums, codings, readouts and every refusal."""
from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.errors import UnsupportedOpError, UsageError
from snnc.interp.engine import run
from snnc.ir import GraphBuilder
from snnc.ir.ann import ReLU
from snnc.ir.snn import IF, LIF, Affine, AvgPool2d, Conv2d, Flatten, I, Linear, Scale
from snnc.passes import PASSES
from snnc.passes.convert_ann import NO_CALIBRATION, classify, encode

torch = pytest.importorskip("torch")
CONVERT = PASSES["convert-ann"]


# -- the trained model ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    """A 64-64-10 ReLU MLP trained with torch on digits: (model, X_train, X_test, y_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.2, random_state=0, stratify=y)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.tensor(X_tr, dtype=torch.float32), torch.tensor(y_tr)
    for _ in range(60):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    return net, X_tr, X_te, y_te


def ann_accuracy(net, X, y) -> float:
    with torch.no_grad():
        return float((net(torch.tensor(X, dtype=torch.float32)).argmax(1).numpy() == y).mean())


def graph_of(net, dt=1e-3) -> snnc.ir.Graph:
    """The ANN as the ONNX frontend imports it: affine layers and ann.relu."""
    b = GraphBuilder(dt=dt)
    prev = b.input("x", (64,), origin="input")
    for i, m in enumerate(net):
        if isinstance(m, torch.nn.Linear):
            op = Affine(weight=m.weight.detach().double().numpy(), bias=m.bias.detach().double().numpy())
            prev = b.add(f"fc{i}", op, prev, origin=f"{i}")
        else:
            prev = b.add(f"relu{i}", ReLU(), prev, origin=f"{i}")
    b.output("y", prev, (10,))
    return b.build()


def snn_accuracy(g, X, y, ticks, seed=0) -> float:
    return float((classify(g, snnc.simulate(g, encode(g, X, ticks, seed=seed))) == y).mean())


# -- acceptance -------------------------------------------------------------------------------------
def test_onnx_export_converted_keeps_the_anns_accuracy(digits, tmp_path):
    net, X_tr, X_te, y_te = digits
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(net, (torch.zeros(1, 64),), str(path), input_names=["x"], output_names=["logits"])
    ann_graph = snnc.load(path)             # the ANN itself: affine layers and ann.relu
    assert [n.op.name for n in ann_graph.nodes.values()].count("ann.relu") == 2
    assert np.array_equal(snnc.simulate(ann_graph, X_te[None])[0].argmax(1),
                          net(torch.tensor(X_te, dtype=torch.float32)).argmax(1).numpy())
    g = snnc.load(path, convert_ann=True, calibration=X_tr)
    assert sum(isinstance(n.op, IF) for n in g.nodes.values()) == 2
    ann, snn = ann_accuracy(net, X_te, y_te), snn_accuracy(g, X_te, y_te, ticks=64)
    print(f"digits MLP: ANN {ann:.4f}, converted SNN (T=64, current coding, membrane readout) {snn:.4f}")
    assert snn >= ann - 0.02


def small_cnn(pool):
    """conv → batch norm → relu → pool → flatten → linear, on [1, 8, 8]; eval mode, non-trivial BN."""
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), pool,
                              torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    with torch.no_grad():
        bn = net[1]
        bn.running_mean.uniform_(-0.2, 0.2), bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.2, 0.2)
    return net


def test_onnx_cnn_with_batch_norm_and_average_pooling_converts(tmp_path):
    """BatchNorm is folded into the conv at import; the converted readout approaches the logits."""
    net = small_cnn(torch.nn.AvgPool2d(2))
    path = tmp_path / "cnn.onnx"
    torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False)
    x = np.random.default_rng(0).uniform(0, 1, (40, 1, 8, 8))
    logits = net(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    ann = snnc.load(path)
    assert [n.op.name for n in ann.nodes.values()][1:-1] == ["snn.conv2d", "ann.relu", "snn.avg_pool2d",
                                                             "snn.flatten", "snn.affine"]
    assert np.allclose(snnc.simulate(ann, x[None])[0], logits, atol=1e-5)
    g = snnc.load(path, convert_ann=True, calibration=x)
    y = snnc.simulate(g, encode(g, x, 256))
    assert np.max(np.abs(y[-1] / 256 - logits)) < 0.02 * np.max(np.abs(logits))


def test_onnx_max_pooling_is_refused_naming_the_node_and_suggesting_average_pooling(tmp_path):
    path = tmp_path / "cnn_max.onnx"
    torch.onnx.export(small_cnn(torch.nn.MaxPool2d(2)), (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False)
    with pytest.raises(UnsupportedOpError) as err:
        snnc.load(path, convert_ann=True, calibration=np.zeros((2, 1, 8, 8)))
    assert str(err.value) == (f"{path}, node '/3/MaxPool', op 'MaxPool': max pooling has no spiking equivalent "
                              f"in snnc (convert-ann turns ReLU networks with average pooling into spiking "
                              f"ones): use average pooling (torch.nn.AvgPool2d) and retrain")


def test_graph_from_weights_converted_keeps_the_anns_accuracy(digits):
    net, X_tr, X_te, y_te = digits
    g = snnc.load(graph_of(net), convert_ann=True, calibration=X_tr)
    ann, snn = ann_accuracy(net, X_te, y_te), snn_accuracy(g, X_te, y_te, ticks=64)
    print(f"digits MLP (built from weights): ANN {ann:.4f}, SNN T=64 {snn:.4f}")
    assert snn >= ann - 0.02


@pytest.mark.parametrize("coding, compile_options", [("rate", {}),
                                                     ("current", {"loihi_quantize": {"input": "graded"}})])
def test_converted_mlp_compiles_for_loihi_and_keeps_its_accuracy(digits, coding, compile_options):
    """The converted graph goes through the Loihi pipeline (8-bit weights, fixed-point IF and
    readout) and the chip's bit-exact run still classifies within 2 points of the ANN."""
    net, X_tr, X_te, y_te = digits
    g = snnc.load(graph_of(net), convert_ann={"input_coding": coding}, calibration=X_tr)
    chip = snnc.simulate(snnc.compile(g, "loihi", **compile_options), encode(g, X_te, 64))
    ann, acc = ann_accuracy(net, X_te, y_te), float((classify(g, chip) == y_te).mean())
    print(f"loihi, {coding} coding, T=64: ANN {ann:.4f}, chip {acc:.4f}")
    assert acc >= ann - 0.02


@pytest.mark.parametrize("coding, readout, ticks, slack", [("rate", "membrane", 64, 0.04),
                                                            ("current", "spikes", 64, 0.03)])
def test_other_codings_and_readouts_come_close(digits, coding, readout, ticks, slack):
    net, X_tr, X_te, y_te = digits
    g = snnc.load(graph_of(net), calibration=X_tr,
                  convert_ann={"input_coding": coding, "readout": readout})
    ann, snn = ann_accuracy(net, X_te, y_te), snn_accuracy(g, X_te, y_te, ticks)
    print(f"{coding} coding, {readout} readout, T={ticks}: ANN {ann:.4f}, SNN {snn:.4f}")
    assert snn >= ann - slack


# -- structure ----------------------------------------------------------------------------------------
def test_relus_become_subtract_reset_if_neurons_with_unit_thresholds(digits):
    net, X_tr, _, _ = digits
    ann = graph_of(net, dt=2e-3)
    res = CONVERT(ann, None, {"calibration": X_tr})
    g = res.graph.verify()
    for name in ("relu1", "relu3"):
        op = g.op(name)
        assert isinstance(op, IF) and g.nodes[name].origin == ann.nodes[name].origin
        assert (op.reset_mode, op.reset_timing) == ("subtract", "immediate")
        assert np.allclose(op.v_threshold, 1.0) and np.allclose(op.r, 1 / 2e-3)
    readout = g.op("y_readout")
    assert isinstance(readout, I) and [e.src for e in g.in_edges("y")] == ["y_readout"]
    assert res.provenance == {"y": ("y_readout", "y")}
    assert g.metadata["convert_ann.input_coding"] == "current"
    lam = {n: res.stats["per_layer"][n]["lambda"] for n in ("relu1", "relu3")}
    acts = run(ann, {"x": X_tr[None]}, record=["relu1", "relu3"]).recorded
    for n in lam:
        pos = acts[n][acts[n] > 0]
        assert lam[n] == pytest.approx(np.percentile(pos, 99.9))
        assert res.stats["per_layer"][n]["clipped_fraction"] == pytest.approx(np.mean(pos > lam[n]))
    # normalisation: W1' = W1 / λ1, b1' = b1 / λ1; W3' = W3 λ1 / λ3; the readout layer keeps ANN units
    assert np.allclose(g.op("fc0").weight, ann.op("fc0").weight / lam["relu1"])
    assert np.allclose(g.op("fc2").weight, ann.op("fc2").weight * lam["relu1"] / lam["relu3"])
    assert np.allclose(g.op("fc2").bias, ann.op("fc2").bias / lam["relu3"])
    assert np.allclose(g.op("fc4").weight, ann.op("fc4").weight * lam["relu3"])
    assert np.allclose(g.op("fc4").bias, ann.op("fc4").bias)


def test_readout_over_ticks_approaches_the_anns_logits(digits):
    """y[T−1] / T estimates the logits; its error falls as ticks grow (about 1/T)."""
    net, X_tr, X_te, _ = digits
    ann = graph_of(net)
    g = snnc.load(ann, convert_ann=True, calibration=X_tr)
    logits = snnc.simulate(ann, X_te[None, :100])[0]
    errors = []
    for ticks in (16, 256):
        y = snnc.simulate(g, encode(g, X_te[:100], ticks))
        errors.append(float(np.mean(np.abs(y[-1] / ticks - logits))))
    assert errors[1] < errors[0] / 4
    assert errors[1] < 0.05 * float(np.mean(np.abs(logits)))


def conv_ann(seed=0) -> snnc.ir.Graph:
    """[1, 8, 8] → conv 3×3 (pad 1) → relu → avg pool 2 → conv → relu → flatten → affine."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input("x", (1, 8, 8))
    c1 = b.add("conv1", Conv2d(weight=rng.normal(0, 0.5, (4, 1, 3, 3)), bias=rng.normal(0, 0.1, 4),
                               padding=(1, 1)), x)
    r1 = b.add("relu1", ReLU(), c1)
    p1 = b.add("pool1", AvgPool2d(kernel_size=(2, 2), stride=(2, 2)), r1)
    c2 = b.add("conv2", Conv2d(weight=rng.normal(0, 0.4, (6, 4, 3, 3)), bias=rng.normal(0, 0.1, 6)), p1)
    r2 = b.add("relu2", ReLU(), c2)
    f = b.add("flat", Flatten(), r2)
    fc = b.add("fc", Affine(weight=rng.normal(0, 0.3, (5, 24)), bias=rng.normal(0, 0.1, 5)), f)
    b.output("y", fc, (5,))
    return b.build()


def residual_ann(seed=0) -> snnc.ir.Graph:
    """relu1 feeds relu2 both through fc2 and directly: two scales meet in one sum."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input("x", (6,))
    fc1 = b.add("fc1", Affine(weight=rng.normal(0, 0.8, (8, 6)), bias=rng.normal(0, 0.1, 8)), x)
    r1 = b.add("relu1", ReLU(), fc1)
    fc2 = b.add("fc2", Linear(weight=rng.normal(0, 0.5, (8, 8))), r1)
    r2 = b.add("relu2", ReLU(), fc2, r1)
    s = b.add("gain", Scale(scale=rng.uniform(0.5, 2, 8)), r2)
    fc3 = b.add("fc3", Affine(weight=rng.normal(0, 0.5, (3, 8)), bias=np.zeros(3)), s)
    b.output("y", fc3, (3,))
    return b.build()


@pytest.mark.parametrize("make, shape", [(conv_ann, (1, 8, 8)), (residual_ann, (6,))])
def test_conv_pool_and_residual_graphs_approach_the_ann(make, shape):
    ann = make()
    rng = np.random.default_rng(3)
    cal, x = rng.uniform(0, 1, (200, *shape)), rng.uniform(0, 1, (20, *shape))
    res = CONVERT(ann, None, {"calibration": cal, "percentile": 100.0})
    g = res.graph.verify()
    logits = run(ann, {"x": x[None]}).outputs["y"][0]
    y = run(g, {"x": encode(g, x, 512)}).outputs["y"]
    err = np.max(np.abs(y[-1] / 512 - logits))
    assert err < 0.05 * np.max(np.abs(logits))
    if make is residual_ann:        # λ1 ≠ λ2: the direct edge relu1 -> relu2 gets a rescale node
        lam = {n: res.stats["per_layer"][n]["lambda"] for n in ("relu1", "relu2")}
        fix = g.op("relu2_rescale")
        assert isinstance(fix, Scale) and np.allclose(fix.scale, lam["relu1"] / lam["relu2"])
        assert res.provenance["relu2"] == ("relu2", "relu2_rescale")


def test_rate_coding_is_seeded_signed_bernoulli(digits):
    net, X_tr, X_te, _ = digits
    g = snnc.load(graph_of(net), convert_ann={"input_coding": "rate"}, calibration=X_tr)
    x = X_te[:3] * np.array([1.0, -1.0, 0.5])[:, None]
    a, b, c = encode(g, x, 4000, seed=1), encode(g, x, 4000, seed=1), encode(g, x, 4000, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(a)) <= {-1.0, 0.0, 1.0} and a.shape == (4000, 3, 64)
    assert np.allclose(a.mean(axis=0), x / float(X_tr.max()), atol=0.03)
    assert float(g.metadata["convert_ann.input_scale"]) == float(X_tr.max())


def test_spike_readout_counts_spikes(digits):
    net, X_tr, X_te, _ = digits
    g = snnc.load(graph_of(net), convert_ann={"readout": "spikes"}, calibration=X_tr)
    assert isinstance(g.op("y_readout"), IF)
    y = snnc.simulate(g, encode(g, X_te[:5], 32))
    assert set(np.unique(y)) <= {0.0, 1.0}
    assert np.array_equal(classify(g, y), np.argmax(y.sum(axis=0), axis=1))


# -- refusals and options ---------------------------------------------------------------------------
def tiny_ann():
    b = GraphBuilder()
    x = b.input("x", (3,))
    fc = b.add("fc", Affine(weight=np.eye(2, 3), bias=np.zeros(2)), x, origin="model.fc")
    r = b.add("act", ReLU(), fc)
    b.output("y", r, (2,))
    return b.build()


def test_no_calibration_is_a_clear_error():
    with pytest.raises(UsageError) as err:
        snnc.load(tiny_ann(), convert_ann=True)
    assert str(err.value) == NO_CALIBRATION


def test_calibration_without_conversion_is_refused():
    with pytest.raises(UsageError, match=r"^load: calibration= is the data for convert_ann=True"):
        snnc.load(tiny_ann(), calibration=np.zeros((4, 3)))


def test_calibration_of_the_wrong_shape_names_the_expected_one():
    with pytest.raises(UsageError) as err:
        snnc.load(tiny_ann(), convert_ann=True, calibration=np.zeros((4, 5)))
    assert str(err.value) == ("convert-ann: calibration has shape [4, 5], expected [N, 3] "
                              "(samples of input 'x', no time axis)")


def test_bad_options_name_the_option():
    with pytest.raises(UsageError, match=r"^option convert-ann.percentile = 0: out of range, allowed \(0, 100\] — "):
        snnc.load(tiny_ann(), convert_ann={"percentile": 0}, calibration=np.ones((2, 3)))
    with pytest.raises(UsageError, match=r"has no option\(s\) ticks"):
        snnc.load(tiny_ann(), convert_ann={"ticks": 8}, calibration=np.ones((2, 3)))
    with pytest.raises(UsageError, match=r"^option convert-ann.input_coding = 'poisson': not one of current, rate — "):
        snnc.load(tiny_ann(), convert_ann={"input_coding": "poisson"}, calibration=np.ones((2, 3)))


def test_a_spiking_graph_is_refused_naming_the_node():
    b = GraphBuilder()
    x = b.input("x", (2,))
    n = b.add("lif1", LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
                          v_reset=np.zeros(2)), x, origin="net.lif1")
    b.output("y", n, (2,))
    with pytest.raises(UnsupportedOpError) as err:
        CONVERT(b.build(), None, {"calibration": np.ones((1, 2))})
    assert str(err.value).startswith("convert-ann: node 'lif1' (net.lif1) is snn.lif, a stateful op; "
                                     "convert-ann takes a ReLU network")


def test_a_recurrent_edge_is_refused():
    b = GraphBuilder()
    x = b.input("x", (2,))
    fc = b.add("fc", Linear(weight=np.eye(2)), x)
    r = b.add("act", ReLU(), fc)
    b.connect(r, fc, recurrent=True)
    b.output("y", r, (2,))
    with pytest.raises(UnsupportedOpError) as err:
        CONVERT(b.build(), None, {"calibration": np.ones((1, 2))})
    assert str(err.value) == ("convert-ann: the recurrent edge from 'act' back to 'fc' makes this a recurrent "
                              "network; convert-ann takes feed-forward ReLU networks")


def test_encode_and_classify_need_a_converted_graph():
    with pytest.raises(UsageError, match=r"^this graph was not made by convert-ann"):
        encode(tiny_ann(), np.zeros((1, 3)), 4)
    g = snnc.load(tiny_ann(), convert_ann=True, calibration=np.ones((2, 3)))
    with pytest.raises(UsageError, match=r"^encode: ticks must be a positive int, got 0"):
        encode(g, np.zeros((1, 3)), 0)


def test_calibration_from_a_npy_file_and_the_cli(tmp_path, capsys):
    from snnc.cli import main
    from snnc.ir.text import print_graph
    np.save(tmp_path / "cal.npy", np.random.default_rng(0).uniform(0, 1, (10, 3)))
    model = tmp_path / "ann.snnir"
    model.write_text(print_graph(tiny_ann()))
    g = snnc.load(model, convert_ann=True, calibration=tmp_path / "cal.npy")
    assert isinstance(g.op("act"), IF)
    assert main(["inspect", str(model), "--calibration", str(tmp_path / "cal.npy"), "--ir"]) == 0
    assert "snn.if" in capsys.readouterr().out
    assert main(["inspect", str(model), "--calibration", str(tmp_path / "missing.npy")]) == 2
    assert "calibration: " in capsys.readouterr().err


# -- the input coding each target takes, and static samples through the API --------------------------
def test_a_converted_ann_enters_each_loihi_chip_as_it_can_and_passes_its_own_verify(digits):
    """No option needed: graded payloads where the chip has graded spikes, spikes of a host encoder
    (reported) where it has not; verify(..., ticks=T) presents static samples as the model codes them."""
    net, X_tr, X_te, y_te = digits
    g = snnc.load(graph_of(net), convert_ann=True, calibration=X_tr)
    x, y = X_te, y_te                                    # all 360: one flipped sample is 0.28 point
    expected = {"loihi": ("graded", []), "loihi1": ("rate", ["neurons.graded_spikes"])}
    for target, (coding, rules) in expected.items():
        art = snnc.compile(g, target)
        entry = art.manifest["io"]["inputs"]["x"]
        assert (entry["encoding"], entry["frac_bits"], entry["payload_bits"]) == (coding, 11, 12)   # peak 1
        inputs = [a for a in art.manifest["approximations"] if a["node"] == "x"]
        assert [a["rule"] for a in inputs] == rules
        report = snnc.verify(art, model=g, inputs=x, labels=y, ticks=32)
        acc = report.comparison.accuracy
        print(f"converted digits MLP on {target} ({coding} input, 32 ticks): accuracy float {acc['float']:.4f}, "
              f"chip {acc['chip']:.4f}")
        assert report.ok and acc["drop"] <= 0.005, str(report)
        static = snnc.simulate(art, x[:8], ticks=32)
        assert static.shape == (32, 8, 10) and np.array_equal(static, snnc.simulate(art, encode(g, x[:8], 32)))


def test_the_host_encoder_sends_the_rounded_running_sum():
    from snnc.artifact import rate_encode
    x = np.random.default_rng(0).uniform(-0.3, 1.0, (50, 4, 6))
    s = rate_encode(x, 7, 8)
    p = np.clip(np.rint(x * 128), 0, 127)
    assert set(np.unique(s)) <= {0, 1}
    assert np.array_equal(np.cumsum(s, axis=0), np.floor(np.cumsum(p, axis=0) / 128 + 0.5))
    assert not rate_encode(np.full((9, 1, 1), -0.5), 7, 8).any()


def test_static_samples_through_simulate_and_their_announcement():
    g = snnc.load(tiny_ann(), convert_ann=True, calibration=np.random.default_rng(1).uniform(0, 1, (20, 3)))
    x = np.random.default_rng(2).uniform(0, 1, (5, 3))
    assert np.array_equal(snnc.simulate(g, x, ticks=6), snnc.simulate(g, encode(g, x, 6)))
    with pytest.warns(UserWarning, match=r"^ticks=4: the model stores no input coding, so each static sample is "
                                         r"presented unchanged on all 4 ticks"):
        y = snnc.simulate(tiny_ann(), x, ticks=4)
    assert y.shape == (4, 5, 2) and np.allclose(y, snnc.simulate(tiny_ann(), np.repeat(x[None], 4, axis=0)))
    with pytest.raises(UsageError, match=r"^ticks=0: ticks must be an integer >= 1$"):
        snnc.simulate(g, x, ticks=0)
