"""netx HDF5: files written here with h5py, read by snnc, run, and checked against a plain
re-implementation of Lava's bit-accurate equations (reference/loihi.md §2, §2.1) that
shares no code with snnc's steppers."""
import h5py
import numpy as np
import pytest

from snnc.backends.loihi.ops import Cuba, Dense
from snnc.errors import MalformedInputError, UnsupportedOpError, UsageError
from snnc.frontends.netx import load, save_netx
from snnc.interp.engine import run
from snnc.ir.graph import GraphBuilder


def write_netx(path, layers, *, input_shape=None):
    """layers: dicts with weight, optional delay/bias, neuron params (or neuron=None)."""
    with h5py.File(path, "w") as f:
        g = f.create_group("layer")
        offset = 0
        if input_shape is not None:
            inp = g.create_group("0")
            inp.create_dataset("type", (1,), "S10", [b"input"])
            inp.create_dataset("shape", data=np.array(input_shape))
            offset = 1
        for k, layer in enumerate(layers):
            d = g.create_group(str(k + offset))
            d.create_dataset("type", (1,), "S10", [b"dense"])
            w = layer["weight"]
            d.create_dataset("shape", data=np.array([w.shape[0]]))
            d.create_dataset("inFeatures", data=w.shape[1])
            d.create_dataset("outFeatures", data=w.shape[0])
            d.create_dataset("weight", data=w)
            for key in ("delay", "bias"):
                if key in layer:
                    d.create_dataset(key, data=layer[key])
            if layer.get("neuron") is not None:
                for key, value in layer["neuron"].items():
                    if key == "type":
                        d.create_dataset("neuron/type", (1,), "S10", [value.encode()])
                    else:
                        d.create_dataset(f"neuron/{key}", data=value)


def random_layers(rng, sizes):
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers.append({
            "weight": 2 * rng.integers(-128, 128, size=(n_out, n_in)),          # SLAYER: even, [−256, 254]
            "delay": rng.integers(0, 4, size=(n_out, n_in)).astype(np.float32),
            "bias": rng.integers(-3, 6, size=n_out),
            "neuron": {"type": "CUBA", "iDecay": int(rng.integers(0, 4096)), "vDecay": int(rng.integers(0, 4097)),
                       "vThMant": int(rng.integers(20, 300)), "refDelay": int(rng.integers(1, 4)),
                       "gradedSpike": False},
        })
    return layers


# -- the independent reference --------------------------------------------------------------------
def rshift_toward_zero(p, s):
    return p >> s if p >= 0 else -((-p) >> s)


def reference_run(layers, x):
    """Plain-Python Lava LIF + DelayDense, per neuron, per synapse; x [T, n_in] of 0/1.

    Dense (§2.1): a spike of tick t reaches the neuron at t + 1 + delay, weight_exp 0.
    LIF (§2): u = wrap(trunc(u·(4096 − iDecay)/4096) + 64 a); v = sat(trunc(v·(4096 − vDecay)/4096)
    + u + 64·bias); refractory as the Loihi 1 counter (nengo-loihi emulator order): v is zeroed
    while the counter is positive; a spike sets it to refDelay; it counts down every tick.
    """
    T = len(x)
    spikes = [[list(map(int, row)) for row in x]]
    for L in layers:
        w, nrn = L["weight"], L["neuron"]
        delay = np.floor(L["delay"]).astype(int) if "delay" in L else np.zeros_like(w)
        n_out, n_in = w.shape
        src = spikes[-1]
        u, v, ref = [0] * n_out, [0] * n_out, [0] * n_out
        out = []
        theta = nrn["vThMant"] * 64
        for t in range(T):
            row = []
            for i in range(n_out):
                a = 0
                for j in range(n_in):
                    t_src = t - 1 - delay[i, j]
                    if t_src >= 0 and src[t_src][j]:
                        a += int(w[i, j])
                uu = rshift_toward_zero(u[i] * (4096 - nrn["iDecay"]), 12) + a * 64
                if uu > 2 ** 23:
                    uu -= 2 ** 24
                elif uu <= -(2 ** 23):
                    uu += 2 ** 24
                u[i] = uu
                vv = rshift_toward_zero(v[i] * (4096 - nrn["vDecay"]), 12) + u[i] + int(L["bias"][i]) * 64
                vv = max(-(2 ** 23 - 1), min(2 ** 23 - 1, vv))
                if ref[i] > 0:
                    vv = 0
                s = vv > theta
                if s:
                    vv = 0
                    ref[i] = nrn["refDelay"]
                ref[i] = max(ref[i] - 1, 0)
                v[i] = vv
                row.append(int(s))
            out.append(row)
        spikes.append(out)
    return spikes[1:]


def test_import_runs_identically_to_the_reference(tmp_path):
    rng = np.random.default_rng(7)
    layers = random_layers(rng, [24, 16, 12, 6])
    path = tmp_path / "net.net"
    write_netx(path, layers, input_shape=(2, 3, 4))
    g = load(path)
    assert [g.op(n).name for n in g.schedule()] == ["snn.input"] + ["loihi.dense", "loihi.cuba"] * 3 + ["snn.output"]
    T = 120
    x = (rng.random((T, 24)) < 0.35).astype(np.int64)
    res = run(g, {"input": x[:, None, :]}, record=["layer1.neuron", "layer2.neuron", "layer3.neuron"])
    expect = reference_run(layers, x)
    for k, name in enumerate(["layer1.neuron", "layer2.neuron", "layer3.neuron"]):
        got = res.recorded[name][:, 0]
        assert got.sum() > 10, f"{name} hardly spikes; the comparison would prove little"
        assert np.array_equal(got, np.array(expect[k])), name
    assert np.array_equal(res.outputs["output"][:, 0], np.array(expect[-1]))


def test_integers_are_kept_and_mapped_as_netx_does(tmp_path):
    rng = np.random.default_rng(1)
    layers = random_layers(rng, [5, 4])
    layers[0]["delay"] = np.array([0.7, 1.2, 2.9, 0.0, 1.0], np.float32)          # per input, floored
    path = tmp_path / "net.net"
    write_netx(path, layers)
    g = load(path)
    d, c = g.op("layer0.synapse"), g.op("layer0.neuron")
    n = layers[0]["neuron"]
    assert np.array_equal(d.weight, layers[0]["weight"]) and not d.weight_exp.any()
    assert d.delay.tolist() == [[0, 1, 2, 0, 1]] * 4
    assert c.du.tolist() == [n["iDecay"] - 1] * 4 and c.dv.tolist() == [n["vDecay"]] * 4
    assert c.vth_mant.tolist() == [n["vThMant"]] * 4 and c.refractory.tolist() == [n["refDelay"] - 1] * 4
    assert np.array_equal(c.bias_mant, layers[0]["bias"]) and c.bias_exp.tolist() == [6] * 4
    assert g.inputs == ("input",) and g.op("input").shape == (5,)


def test_dense_without_neuron_gets_netx_default(tmp_path):
    path = tmp_path / "net.net"
    write_netx(path, [{"weight": np.ones((2, 3), np.int64), "neuron": None}])
    c = load(path).op("layer0.neuron")
    assert c.du.tolist() == [-1, -1] and c.dv.tolist() == [4096, 4096] and c.vth_mant.tolist() == [1 << 17] * 2


# -- malformed files ------------------------------------------------------------------------------
def test_not_hdf5(tmp_path):
    path = tmp_path / "bad.net"
    path.write_text("hello")
    with pytest.raises(MalformedInputError, match=r"^.*bad\.net: not a readable HDF5 file"):
        load(path)


def test_missing_layer_group(tmp_path):
    path = tmp_path / "empty.net"
    h5py.File(path, "w").close()
    with pytest.raises(MalformedInputError) as err:
        load(path)
    assert str(err.value) == f"{path}:/: missing key 'layer' (a netx file holds its layers in layer/0 … layer/n−1)"


def test_missing_weight_names_file_and_key(tmp_path):
    path = tmp_path / "net.net"
    write_netx(path, random_layers(np.random.default_rng(0), [3, 2, 2]))
    with h5py.File(path, "a") as f:
        del f["layer/1/weight"]
    with pytest.raises(MalformedInputError) as err:
        load(path)
    assert str(err.value) == f"{path}:layer/1: missing key 'weight'"


def test_missing_neuron_field_names_file_and_key(tmp_path):
    path = tmp_path / "net.net"
    write_netx(path, random_layers(np.random.default_rng(0), [3, 2]))
    with h5py.File(path, "a") as f:
        del f["layer/0/neuron/vThMant"]
    with pytest.raises(MalformedInputError) as err:
        load(path)
    assert str(err.value) == f"{path}:layer/0/neuron: missing key 'vThMant'"


def test_weight_shape_mismatch(tmp_path):
    path = tmp_path / "net.net"
    write_netx(path, random_layers(np.random.default_rng(0), [3, 2]) + random_layers(np.random.default_rng(1), [4, 2]))
    with pytest.raises(MalformedInputError) as err:
        load(path)
    assert str(err.value) == f"{path}:layer/1/weight: takes 4 inputs, but the previous layer gives 2"


@pytest.mark.parametrize("kind, message", [
    ("lstm", "this netx layer type has no loihi mapping"),
    ("average", "a SLAYER readout that averages spike counts in floating point; Lava's netx does not load it either"),
])
def test_unsupported_layer_type(tmp_path, kind, message):
    path = tmp_path / "net.net"
    write_netx(path, random_layers(np.random.default_rng(0), [3, 2]))
    with h5py.File(path, "a") as f:
        del f["layer/0/type"]
        f["layer/0"].create_dataset("type", (1,), "S10", [kind.encode()])
    with pytest.raises(UnsupportedOpError) as err:
        load(path)
    assert str(err.value) == (f"{path}, node 'layer/0', op '{kind}': {message} "
                              f"(supported: input, flatten, dense, conv, pool)")


def test_rf_neuron_is_refused(tmp_path):
    path = tmp_path / "net.net"
    layers = random_layers(np.random.default_rng(0), [3, 2])
    layers[0]["neuron"]["type"] = "RF_IZ"
    write_netx(path, layers)
    with pytest.raises(UnsupportedOpError) as err:
        load(path)
    assert str(err.value) == (f"{path}, node 'layer/0/neuron', op 'RF_IZ': this netx neuron type has no loihi.* op "
                              f"(supported: CUBA, LOIHI, SDNN)")


# -- writing --------------------------------------------------------------------------------------
def test_save_load_round_trip_and_bytes_are_deterministic(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "a.net"
    write_netx(path, random_layers(rng, [6, 5, 3]))
    g = load(path)
    save_netx(g, tmp_path / "b.net")
    save_netx(g, tmp_path / "c.net")
    g2 = load(tmp_path / "b.net")
    assert list(g2.nodes) == list(g.nodes) and sorted(g2.edges) == sorted(g.edges)
    assert all(g2.op(n) == g.op(n) for n in g.nodes)
    assert (tmp_path / "b.net").read_bytes() == (tmp_path / "c.net").read_bytes()


def chain(dense_op, cuba_op, n_in):
    b = GraphBuilder()
    b.input("x", (n_in,))
    b.add("syn", dense_op, "x")
    b.add("lif", cuba_op, "syn")
    b.output("y", "lif", cuba_op.shape)
    return b.build()


def lif(n, **kw):
    p = dict(du=[100] * n, dv=[200] * n, vth_mant=[10] * n, bias_mant=[64] * n, bias_exp=[0] * n,
             refractory=[0] * n)
    p.update(kw)
    return Cuba(**p)


def test_save_writes_effective_weights_and_runs_the_same(tmp_path):
    rng = np.random.default_rng(4)
    w = rng.integers(-60, 60, (4, 7))
    g = chain(Dense(weight=w, weight_exp=np.array([0, 1, 2, 0])), lif(4, bias_mant=[1, 2, 3, 4], bias_exp=[6] * 4), 7)
    save_netx(g, tmp_path / "g.net")
    g2 = load(tmp_path / "g.net")
    x = (rng.random((40, 2, 7)) < 0.5).astype(np.int64)
    assert np.array_equal(run(g, {"x": x}).outputs["y"], run(g2, {"input": x}).outputs["output"])


@pytest.mark.parametrize("dense_kw, cuba_kw, message", [
    ({}, {"reset_mode": "subtract"}, "node 'lif': reset_mode subtract; netx CUBA neurons reset to zero"),
    ({}, {"dv": [1, 2]}, "node 'lif': dv differs between neurons (1 … 2); Lava's netx neurons take one value per layer"),
    ({"weight_exp": np.array([-1, 0])}, {},
     "node 'syn': row 0 has weight_exp -1 and mantissas that are not multiples of 2^1; netx stores integer "
     "weights at exponent 0"),
    ({}, {"bias_mant": [64, 65]}, "node 'lif': neuron 1 has bias 65, not a multiple of 2^6 (netx stores "
                                  "bias_mant with bias_exp = 6)"),
    ({"weight_exp": np.array([30, 0])}, {}, "node 'syn': effective weights w · 2^weight_exp beyond 2147483647; "
                                            "Lava holds weights in int32"),
    ({}, {"bias_exp": [40, 0]}, "node 'lif': bias_mant · 2^bias_exp beyond 2147483647; Lava holds biases in int32"),
])
def test_save_refuses_what_netx_cannot_say(tmp_path, dense_kw, cuba_kw, message):
    dense_args = dict(weight=np.array([[3, 1], [2, 2]]), weight_exp=np.zeros(2, np.int64))
    dense_args.update(dense_kw)
    g = chain(Dense(**dense_args), lif(2, **cuba_kw), 2)
    with pytest.raises(UsageError) as err:
        save_netx(g, tmp_path / "x.net")
    assert str(err.value) == f"netx cannot express {message}"


def test_save_refuses_a_graph_that_is_not_a_chain(tmp_path):
    b = GraphBuilder()
    b.input("x", (2,))
    b.add("syn", Dense(weight=np.eye(2, dtype=np.int64), weight_exp=np.zeros(2, np.int64)), "x")
    b.output("y", "syn", (2,))
    with pytest.raises(UsageError) as err:
        save_netx(b.build(), tmp_path / "x.net")
    assert str(err.value) == ("netx cannot express node 'y': is snn.output, expected loihi.cuba or "
                              "loihi.sigma_delta here (input -> [neuron] -> (loihi.dense | loihi.conv -> neuron)+ "
                              "-> output)")
