"""netx conv and pool layers and the input layer's encoding neuron: files written in lava-dl's
layout, loaded, run, and compared tick by tick with `lava_reference`, which restates Lava's
Conv, SLAYER's Pool and Lava's bit-accurate LIF in their own layouts."""
import numpy as np
import pytest

from snnc.backends.loihi.conv import Conv
from snnc.errors import MalformedInputError, UnsupportedOpError
from snnc.frontends.netx import load, save_netx
from snnc.interp.engine import run
from tests.frontends import lava_reference as ref
from tests.frontends import netx_files as nf

T = 50
IN_SHAPE = (2, 8, 8)


def cnn_layers(rng, *, graded=False):
    """input 2×8×8 (CUBA encoder) → conv 4@3×3 (padding 1) → pool 2×2 → flatten → dense 10."""
    return [
        nf.input_layer(IN_SHAPE, nf.cuba(80, i_decay=100, v_decay=512), weight=64, bias=0),  # u unused: any iDecay
        nf.conv_layer(2 * rng.integers(-40, 50, (4, 2, 3, 3)), (4, 8, 8), nf.cuba(70, 1024, 256, graded=graded),
                      padding=(1, 1), bias=[1, 0, -1, 2]),
        nf.pool_layer(np.array([[32, 32], [32, 16]]), (4, 4, 4), nf.cuba(100, 2048, 1024)),
        nf.flatten_layer(64),
        nf.dense_layer(2 * rng.integers(-80, 80, (10, 64)), nf.cuba(200, 1024, 512), bias=rng.integers(-2, 3, 10)),
    ]


def reference_cnn(layers, x_chw, *, graded=False):
    """Spikes of every layer, [T, n] per layer, for one sample x [T, C·H·W] of bias values."""
    conv, pool, dense = layers[1], layers[2], layers[4]

    def lif(layer, n, bias=None):                # netx get_neuron_params: du = iDecay − 1, dv = vDecay
        p = layer["neuron"]
        return ref.LIF(n, du=p["iDecay"] - 1, dv=p["vDecay"], vth=p["vThMant"], bias=bias)
    lif = [lif(layers[0], 128), lif(conv, 256, np.tile(conv["bias"], 64)),   # bias per channel, (x, y, c) order
           lif(pool, 64), lif(dense, 10, dense["bias"])]
    syn = [ref.Delayed(256), ref.Delayed(64), ref.Delayed(10)]
    rec = [[], [], [], []]
    for t in range(len(x_chw)):
        bias_xyc = x_chw[t].reshape(IN_SHAPE).transpose(2, 1, 0)            # Lava's input neurons are (W, H, C)
        s0 = lif[0].step(np.zeros(128), bias_mant=bias_xyc.reshape(-1))     # a_in unconnected: u stays 0
        s0_xyc = s0.reshape(8, 8, 2)
        a1 = syn[0].send_then_put(ref.lava_conv(s0_xyc != 0, conv["weight"].astype(int), (1, 1), (1, 1),
                                                (1, 1), 1))
        s1_xyc = lif[1].step(a1.reshape(-1), graded=graded).reshape(8, 8, 4)
        s1_chw = s1_xyc.transpose(2, 1, 0)
        pooled = ref.slayer_pool(s1_chw if graded else s1_chw != 0, pool["weight"][0, 0].astype(int), (2, 2))
        a2 = syn[1].send_then_put(pooled.transpose(2, 1, 0))               # back to (W, H, C)
        s2_xyc = lif[2].step(a2.reshape(-1)).reshape(4, 4, 4)
        a3 = syn[2].send_then_put(dense["weight"].astype(int) @ ref.flatten_xyc(s2_xyc))
        s3 = lif[3].step(a3)
        for k, s in enumerate((s0_xyc, s1_xyc, s2_xyc)):
            rec[k].append(ref.flatten_xyc(s))                                # snnc's C·H·W order
        rec[3].append(s3)
    return [np.array(r) for r in rec]


@pytest.mark.parametrize("graded", [False, True])
def test_cnn_runs_tick_for_tick_like_lava(tmp_path, graded):
    rng = np.random.default_rng(3)
    layers = cnn_layers(rng, graded=graded)
    nf.write(tmp_path / "cnn.net", layers)
    g = load(tmp_path / "cnn.net")
    assert [g.op(n).name for n in g.schedule()] == ["snn.input", "loihi.cuba", "loihi.conv", "loihi.cuba",
                                                    "loihi.conv", "loihi.cuba", "loihi.dense", "loihi.cuba",
                                                    "snn.output"]
    x = rng.integers(0, 64, (T, 2, 128))
    names = ["layer0.neuron", "layer1.neuron", "layer2.neuron", "layer4.neuron"]
    res = run(g, {"input": x}, record=names)
    for b in range(2):
        expect = reference_cnn(layers, x[:, b], graded=graded)
        for name, e in zip(names, expect):
            nf.assert_same_ticks(f"{name}, sample {b}", res.recorded[name][:, b], e)
        assert np.array_equal(res.outputs["output"][:, b], expect[-1])


@pytest.mark.parametrize("geometry", [
    dict(stride=(2, 1), padding=(0, 2), dilation=(1, 1), groups=1),
    dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2),
    dict(stride=(2, 2), padding=(2, 1), dilation=(1, 2), groups=4),
])
@pytest.mark.parametrize("message_bits", [0, 8])
def test_conv_geometry_matches_lavas_conv(tmp_path, geometry, message_bits):
    """Stride, padding, dilation and groups in (H, W) order, on a 4×7×6 input, against Lava's Conv;
    with netx's input_message_bits option the first layer takes graded payloads."""
    rng = np.random.default_rng(11)
    g_, cin = geometry["groups"], 4
    weight = rng.integers(-20, 21, (8, cin // g_, 3, 2))
    conv = Conv(weight=weight, weight_exp=np.zeros(8, np.int64), in_shape=(cin, 7, 6), **geometry)
    layers = [nf.input_layer((cin, 7, 6)),
              nf.conv_layer(weight, conv.out_shape, nf.cuba(1 << 17, 0, 4096), **geometry)]
    nf.write(tmp_path / "c.net", layers)
    g = load(tmp_path / "c.net", input_message_bits=message_bits)
    assert g.op("layer1.synapse") == conv.replace(graded=message_bits > 0)
    x = rng.integers(-9, 10, (6, 1, cin * 42)) * (rng.random((6, 1, cin * 42)) < 0.5)
    res = run(g, {"input": x}, record=["layer1.synapse"])
    s = x if message_bits else (x != 0)
    for t in range(1, 6):
        expect = ref.lava_conv(s[t - 1, 0].reshape(cin, 7, 6).transpose(2, 1, 0), weight, **geometry)
        assert np.array_equal(res.recorded["layer1.synapse"][t, 0], ref.flatten_xyc(expect))


def test_save_load_round_trip_runs_bit_identically(tmp_path):
    rng = np.random.default_rng(5)
    nf.write(tmp_path / "a.net", cnn_layers(rng))
    nf.assert_round_trip(tmp_path, rng.integers(0, 64, (T, 2, 128)))


def test_a_pool_is_written_as_the_depthwise_conv_netx_loads(tmp_path):
    import h5py
    nf.write(tmp_path / "a.net", cnn_layers(np.random.default_rng(5)))
    save_netx(load(tmp_path / "a.net"), tmp_path / "b.net")
    with h5py.File(tmp_path / "b.net") as f:
        kinds = [f[f"layer/{i}/type"][0].decode() for i in range(len(f["layer"]))]
        assert kinds == ["input", "conv", "conv", "flatten", "dense"]
        assert f["layer/2/groups"][()] == 4 and f["layer/2/weight"].shape == (4, 1, 2, 2)
        assert f["layer/1/bias"][()].tolist() == [1, 0, -1, 2]          # per channel, as netx broadcasts
        assert f["layer/0/neuron/iDecay"][()] == 4096                   # the encoder's u never carries over


def test_conv_weights_with_a_trailing_time_axis_and_scalar_geometry(tmp_path):
    weight = np.arange(-8, 10).reshape(2, 1, 3, 3, 1)
    layer = nf.conv_layer(weight[..., 0], (2, 2, 2), nf.cuba(5))
    layer.update(weight=weight.astype(np.float32), stride=2, padding=0, dilation=1)
    nf.write(tmp_path / "c.net", [nf.input_layer((1, 5, 5)), layer])
    op = load(tmp_path / "c.net").op("layer1.synapse")
    assert op.stride == (2, 2) and op.padding == (0, 0) and np.array_equal(op.weight, weight[..., 0])


def test_channel_and_neuron_wise_conv_bias(tmp_path):
    rng = np.random.default_rng(2)
    weight = rng.integers(-5, 6, (3, 1, 1, 1))
    bias_xyc = rng.integers(-9, 9, (2, 2, 3))                           # netx: neuron-wise in (W, H, C)
    nf.write(tmp_path / "c.net", [nf.input_layer((1, 2, 2)),
                                  nf.conv_layer(weight, (3, 2, 2), nf.cuba(5), bias=bias_xyc)])
    c = load(tmp_path / "c.net").op("layer1.neuron")
    assert np.array_equal(c.bias_mant, bias_xyc.transpose(2, 1, 0).reshape(-1))
    save_netx(load(tmp_path / "c.net"), tmp_path / "d.net")             # written back neuron-wise, (W, H, C)
    assert load(tmp_path / "d.net").op("layer1.neuron") == c


# -- refusals -------------------------------------------------------------------------------------
def test_conv_shape_must_match_the_geometry(tmp_path):
    nf.write(tmp_path / "c.net", [nf.input_layer((1, 5, 5)),
                                  nf.conv_layer(np.ones((2, 1, 3, 3)), (2, 4, 4), nf.cuba(5))])
    with pytest.raises(MalformedInputError) as err:
        load(tmp_path / "c.net")
    assert str(err.value) == (f"{tmp_path / 'c.net'}:layer/1/shape: is [2, 4, 4], but the kernel and geometry give "
                              f"[2, 3, 3] (C, H, W)")


def test_conv_needs_a_3d_input(tmp_path):
    nf.write(tmp_path / "c.net", [nf.input_layer((25,)), nf.conv_layer(np.ones((2, 1, 3, 3)), (2, 3, 3), nf.cuba(5))])
    with pytest.raises(MalformedInputError) as err:
        load(tmp_path / "c.net")
    assert str(err.value) == (f"{tmp_path / 'c.net'}:layer/1: a conv layer needs a 3-D input (C, H, W), but "
                              f"follows a layer of shape [25]")


def test_conv_groups_must_divide_the_channels(tmp_path):
    nf.write(tmp_path / "c.net", [nf.input_layer((3, 5, 5)),
                                  nf.conv_layer(np.ones((2, 1, 3, 3)), (2, 3, 3), nf.cuba(5), groups=2)])
    with pytest.raises(MalformedInputError) as err:
        load(tmp_path / "c.net")
    assert str(err.value) == f"{tmp_path / 'c.net'}:layer/1: groups = 2 must divide C_in = 3 and C_out = 2"


def test_nonzero_conv_delay_is_refused(tmp_path):
    layer = nf.conv_layer(np.ones((2, 1, 3, 3)), (2, 3, 3), nf.cuba(5))
    layer["delay"] = np.array([0.0, 2.0])
    nf.write(tmp_path / "c.net", [nf.input_layer((1, 5, 5)), layer])
    with pytest.raises(UnsupportedOpError) as err:
        load(tmp_path / "c.net")
    assert str(err.value) == (f"{tmp_path / 'c.net'}, node 'layer/1', op 'conv': nonzero conv delays are not read: "
                              f"Lava's netx lists them but does not apply them (lava-dl netx hdf5.py create_conv)")


@pytest.mark.parametrize("in_shape, kernel, stride, rule", [
    ((1, 5, 4), (2, 2), None, "H, W = 5, 4 divisible by the kernel (2, 2)"),
    ((1, 6, 6), (3, 3), (2, 3), "H = 6 divisible by the stride along H (4)"),
])
def test_pools_that_slayer_computes_across_channels_are_refused(tmp_path, in_shape, kernel, stride, rule):
    layer = nf.pool_layer(np.ones(kernel), (1, 2, 2), nf.cuba(5), stride=stride)
    if stride == (2, 3):
        layer["stride"] = np.array([4, 3])
        rule = "H = 6 divisible by the stride along H (4)"
    nf.write(tmp_path / "p.net", [nf.input_layer(in_shape), layer])
    with pytest.raises(UnsupportedOpError) as err:
        load(tmp_path / "p.net")
    assert str(err.value) == (f"{tmp_path / 'p.net'}, node 'layer/1', op 'pool': SLAYER pools channels stacked "
                              f"along H; snnc reads a pool layer when that equals pooling each channel, which "
                              f"needs {rule}")


def encoder_conv_chain(conv_kw=(), encoder_kw=(), second_in_shape=None):
    """graph input 4 → encoder cuba → conv 1×2×2 → cuba → conv → cuba → output."""
    from snnc.backends.loihi.ops import Cuba
    from snnc.ir.graph import GraphBuilder

    def cuba(n, **kw):
        fields = dict(du=[0] * n, dv=[0] * n, vth_mant=[5] * n, bias_mant=[0] * n, bias_exp=[6] * n, refractory=[0] * n)
        fields.update(kw)
        return Cuba(**fields)
    b = GraphBuilder()
    b.input("x", (4,))
    b.add("enc", cuba(4, **dict({"du": [4095] * 4}, **dict(encoder_kw))), "x")
    b.add("c1", Conv(weight=np.ones((2, 1, 1, 1)), weight_exp=[0, 0], in_shape=(1, 2, 2), **dict(conv_kw)), "enc")
    b.add("n1", cuba(8), "c1")
    b.add("c2", Conv(weight=np.ones((1, 2, 1, 1)), weight_exp=[0], in_shape=second_in_shape or (2, 2, 2)), "n1")
    b.add("n2", cuba(4), "c2")
    b.output("y", "n2", (4,))
    return b.build()


@pytest.mark.parametrize("kw, message", [
    (dict(encoder_kw={"du": [7] * 4}), "node 'enc': a neuron fed by the graph input is netx's input layer, driven "
                                       "through its bias: it needs du = 4095 and no bias of its own"),
    (dict(conv_kw={"delay": 1}), "node 'c1': nonzero delays: Lava's netx does not apply conv delays"),
    (dict(conv_kw={"graded": True}), "node 'c1': graded = True but its source sends binary spikes"),
    (dict(second_in_shape=(2, 1, 4)), "node 'c2': its in_shape [2, 1, 4] is not the previous layer's shape "
                                      "[2, 2, 2]; netx hands each layer's (C, H, W) on"),
])
def test_save_refuses_conv_chains_netx_cannot_say(tmp_path, kw, message):
    from snnc.errors import UsageError
    with pytest.raises(UsageError) as err:
        save_netx(encoder_conv_chain(**kw), tmp_path / "x.net")
    assert str(err.value) == f"netx cannot express {message}"
    save_netx(encoder_conv_chain(), tmp_path / "ok.net")          # the unbroken chain is written
    assert [load(tmp_path / "ok.net").op(n).name for n in ("layer1.synapse", "layer2.synapse")] == ["loihi.conv"] * 2
