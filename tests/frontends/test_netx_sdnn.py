"""netx SDNN layers (Lava Delta, SigmaDelta, Sigma): files in lava-dl's layout, loaded, run, and
compared tick by tick with `lava_reference`'s int32 restatement of Lava's fixed-point models."""
import numpy as np
import pytest

from snnc.backends.loihi.conv import SigmaDelta
from snnc.errors import MalformedInputError, UsageError
from snnc.frontends.netx import load, save_netx
from snnc.interp.engine import run
from snnc.ir.graph import GraphBuilder
from tests.frontends import lava_reference as ref
from tests.frontends import netx_files as nf

T = 50
IN_SHAPE = (2, 6, 6)


def sdnn_layers(rng):
    """Delta input 2×6×6 → conv 4@3×3 (padding 1) SigmaDelta → flatten → dense 8 SigmaDelta → dense 3 Sigma."""
    return [
        nf.input_layer(IN_SHAPE, nf.sdnn(3)),
        nf.conv_layer(rng.integers(-64, 65, (4, 2, 3, 3)), (4, 6, 6), nf.sdnn(4), padding=(1, 1), bias=[2, -1, 0, 1]),
        nf.flatten_layer(144),
        nf.dense_layer(rng.integers(-64, 65, (8, 144)), nf.sdnn(6), bias=rng.integers(-3, 4, 8)),
        nf.dense_layer(rng.integers(-64, 65, (3, 8)), nf.sdnn(0, sigma_output=True)),
    ]


def frames(rng, batch):
    """Slowly changing integer frames in [0, 128], [T, batch, 72] (C·H·W order)."""
    steps = rng.integers(-6, 7, (T, batch, 72))
    return np.clip(np.cumsum(steps, axis=0) + 64, 0, 128)


def reference_sdnn(layers, x_chw):
    conv, dense, out = layers[1], layers[3], layers[4]
    delta = ref.SigmaDelta(72, mode="delta", vth=layers[0]["neuron"]["vThMant"])
    sd1 = ref.SigmaDelta(144, mode="sigma_delta", vth=conv["neuron"]["vThMant"], bias=np.tile(conv["bias"], 36))
    sd2 = ref.SigmaDelta(8, mode="sigma_delta", vth=dense["neuron"]["vThMant"], bias=dense["bias"])
    sigma = ref.SigmaDelta(3, mode="sigma")
    syn = [ref.Delayed(144), ref.Delayed(8), ref.Delayed(3)]
    rec = [[], [], [], []]
    for t in range(len(x_chw)):
        s0 = delta.step(x_chw[t].reshape(IN_SHAPE).transpose(2, 1, 0).reshape(-1))   # Lava's (W, H, C) neurons
        s0_xyc = s0.reshape(6, 6, 2)
        a1 = syn[0].send_then_put(ref.lava_conv(s0_xyc, conv["weight"].astype(int), (1, 1), (1, 1), (1, 1), 1))
        s1_xyc = sd1.step(a1.reshape(-1)).reshape(6, 6, 4)
        a2 = syn[1].send_then_put(dense["weight"].astype(int) @ ref.flatten_xyc(s1_xyc))
        s2 = sd2.step(a2)
        a3 = syn[2].send_then_put(out["weight"].astype(int) @ s2)
        s3 = sigma.step(a3)
        for k, s in enumerate((ref.flatten_xyc(s0_xyc), ref.flatten_xyc(s1_xyc), s2, s3)):
            rec[k].append(s)
    return [np.array(r) for r in rec]


def test_sdnn_runs_tick_for_tick_like_lava(tmp_path):
    rng = np.random.default_rng(8)
    layers = sdnn_layers(rng)
    nf.write(tmp_path / "sdnn.net", layers)
    g = load(tmp_path / "sdnn.net")
    assert [(g.op(n).name, getattr(g.op(n), "mode", None)) for n in g.schedule()][1:-1] == [
        ("loihi.sigma_delta", "delta"), ("loihi.conv", None), ("loihi.sigma_delta", "sigma_delta"),
        ("loihi.dense", None), ("loihi.sigma_delta", "sigma_delta"), ("loihi.dense", None),
        ("loihi.sigma_delta", "sigma")]
    assert g.op("layer1.synapse").graded and g.op("layer3.synapse").graded and g.op("layer4.synapse").graded
    x = frames(rng, 2)
    names = ["layer0.neuron", "layer1.neuron", "layer3.neuron", "layer4.neuron"]
    res = run(g, {"input": x}, record=names, strict=True)
    for b in range(2):
        expect = reference_sdnn(layers, x[:, b])
        for name, e in zip(names[:3], expect):
            nf.assert_same_ticks(f"{name}, sample {b}", res.recorded[name][:, b], e, activity=(0.05, 0.95))
        assert np.array_equal(res.recorded["layer4.neuron"][:, b], expect[3])
        assert np.array_equal(res.outputs["output"][:, b], expect[3]) and np.abs(expect[3]).max() > 1000


def test_sdnn_round_trip_runs_bit_identically(tmp_path):
    rng = np.random.default_rng(9)
    nf.write(tmp_path / "a.net", sdnn_layers(rng))
    nf.assert_round_trip(tmp_path, frames(rng, 2))


def test_sigma_output_takes_no_bias(tmp_path):
    layers = sdnn_layers(np.random.default_rng(0))
    layers[4]["bias"] = np.array([1.0, 0.0, 0.0])
    nf.write(tmp_path / "a.net", layers)
    with pytest.raises(MalformedInputError) as err:
        load(tmp_path / "a.net")
    assert str(err.value) == (f"{tmp_path / 'a.net'}:layer/4/bias: a sigma_output layer takes no bias (Lava's "
                              f"Sigma process has none)")


def test_sdnn_threshold_beyond_int32_is_refused(tmp_path):
    layers = sdnn_layers(np.random.default_rng(0))
    layers[3]["neuron"]["vThMant"] = 1 << 19                         # θ = 2^19 · 2^12 = 2^31
    nf.write(tmp_path / "a.net", layers)
    with pytest.raises(MalformedInputError) as err:
        load(tmp_path / "a.net")
    assert str(err.value) == (f"{tmp_path / 'a.net'}:layer/3/neuron: vth must lie in [0, 2^31 / 2^12), "
                              f"got [524288, 524288]")


@pytest.mark.parametrize("field, value, message", [
    ("spike_exp", 3, "spike_exp, state_exp = 3, 6; netx fixes both at 6"),
    ("activation", "unit", "activation unit; netx's SigmaDelta neurons use ReLU"),
])
def test_save_refuses_sigma_delta_netx_cannot_configure(tmp_path, field, value, message):
    from snnc.backends.loihi.ops import Dense
    b = GraphBuilder()
    b.input("x", (2,))
    b.add("in", SigmaDelta(vth=[1, 1], bias=[0, 0], mode="delta"), "x")
    b.add("syn", Dense(weight=np.eye(2, dtype=np.int64), weight_exp=np.zeros(2, np.int64), graded=True), "in")
    b.add("sd", SigmaDelta(vth=[2, 2], bias=[0, 0], **{field: value}), "syn")
    b.output("y", "sd", (2,))
    with pytest.raises(UsageError) as err:
        save_netx(b.build(), tmp_path / "x.net")
    assert str(err.value) == f"netx cannot express node 'sd': {message}"
