"""loihi.conv and loihi.sigma_delta: arithmetic against outside references (torch's conv2d for
the spatial sums), timing, exponents, delays, wraps, strict mode and the ops' own rules."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.backends.loihi.conv import Conv, SigmaDelta, conv_from_pool
from snnc.backends.loihi.ops import Sparse
from snnc.errors import SimulationError
from tests.backends.loihi.util import run_one


def torch_conv(x, op):
    """PyTorch's conv2d in float64 (exact for these small integers), x [N, C·H·W] → [N, C'·H'·W']."""
    y = torch.nn.functional.conv2d(torch.tensor(x.reshape(-1, *op.in_shape), dtype=torch.float64),
                                   torch.tensor(op.weight, dtype=torch.float64), stride=op.stride,
                                   padding=op.padding, dilation=op.dilation, groups=op.groups)
    return y.numpy().reshape(len(x), -1).astype(np.int64)


@st.composite
def convs(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    cg, kg = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h = draw(st.integers(dil[0] * (kh - 1) + 1, 7))
    w = draw(st.integers(dil[1] * (kw - 1) + 1, 7))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    return Conv(weight=rng.integers(-9, 10, (groups * kg, cg, kh, kw)), weight_exp=np.zeros(groups * kg, np.int64),
                in_shape=(groups * cg, h, w), stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                padding=(draw(st.integers(0, 2)), draw(st.integers(0, 2))), dilation=dil, groups=groups,
                graded=draw(st.booleans()))


@settings(max_examples=25, deadline=None)
@given(op=convs(), seed=st.integers(0, 2 ** 16))
def test_conv_is_pytorch_conv2d_one_tick_later(op, seed):
    assert op.verify() == []
    rng = np.random.default_rng(seed)
    n_in = int(np.prod(op.in_shape))
    x = rng.integers(-4, 5, (5, 2, n_in)) if op.graded else (rng.random((5, 2, n_in)) < 0.4).astype(np.int64)
    y, _ = run_one(op, x)
    assert not y[0].any()
    assert np.array_equal(y[1:].reshape(8, -1), torch_conv(x[:-1].reshape(8, -1), op))


def test_binary_input_counts_any_nonzero_value_as_one():
    op = Conv(weight=[[[[2, 3]]]], weight_exp=[0], in_shape=(1, 1, 2))
    y, _ = run_one(op, np.array([[[7, -5]], [[0, 0]]]))
    assert y[1, 0].tolist() == [5]


def test_delays_per_kernel_tap():
    op = Conv(weight=[[[[1, 10, 100]]]], weight_exp=[0], in_shape=(1, 1, 3), padding=(0, 2),
              delay=[[[[0, 2, 1]]]])
    x = np.zeros((6, 1, 3), np.int64)
    x[0, 0, 1] = 1                       # reaches output w via tap j = w − 1 + 2 (padding 2)
    y, _ = run_one(op, x)
    # tap 0 (delay 0) → output 3 at tick 1; tap 1 (delay 2) → output 2 at tick 3; tap 2 (delay 1) → output 1 at tick 2
    assert y[:, 0].tolist() == [[0] * 5, [0, 0, 0, 1, 0], [0, 100, 0, 0, 0], [0, 0, 10, 0, 0], [0] * 5, [0] * 5]


def test_exponent_scales_the_sum_then_floors():
    op = Conv(weight=[[[[1, 1]]], [[[3, 0]]]], weight_exp=[-1, 2], in_shape=(1, 1, 2))
    y, _ = run_one(op, np.array([[[1, 1]], [[0, 0]]]))
    assert y[1, 0].tolist() == [1, 12]   # (1 + 1) >> 1 = 1, not 0 + 0; 3 << 2
    y, _ = run_one(op.replace(weight=np.array([[[[-1, -2]]], [[[0, 0]]]])), np.array([[[1, 1]], [[0, 0]]]))
    assert y[1, 0].tolist() == [-2, 0]   # floor(−3 / 2)


def test_sum_wraps_at_24_bits_as_lavas_conv_and_strict_mode_names_it():
    op = Conv(weight=[[[[1 << 22, 1 << 22]]]], weight_exp=[0], in_shape=(1, 1, 2), graded=True)
    x = np.array([[[1, 1]], [[1, 2]], [[0, 0]]])
    y, _ = run_one(op, x)
    assert y[1:, 0, 0].tolist() == [-(1 << 23), (3 << 22) - (1 << 24)]
    with pytest.raises(SimulationError) as err:
        run_one(op, x, strict=True)
    assert str(err.value).startswith("node 'n' (loihi.conv) tick 1, sample 0, element 0: convolution sum = 8388608 "
                                     "wraps (24-bit two's complement, strict mode)")


def test_connections_are_the_same_synapses_as_a_sparse_matrix():
    rng = np.random.default_rng(1)
    op = Conv(weight=rng.integers(-3, 4, (4, 1, 3, 2)), weight_exp=np.zeros(4, np.int64), in_shape=(2, 5, 4),
              stride=(2, 1), padding=(1, 1), dilation=(1, 2), groups=2, delay=rng.integers(0, 3, (4, 1, 3, 2)))
    rows, cols, weight, delay = op.connections()
    assert len(rows) == op.synapse_count({}, {})
    order = np.lexsort((cols, rows))
    n_out = int(np.prod(op.out_shape))
    sparse = Sparse(indptr=np.searchsorted(rows[order], np.arange(n_out + 1)), indices=cols[order],
                    weight=weight[order], weight_exp=np.zeros(n_out, np.int64), delay=delay[order], n_in=40)
    x = (rng.random((12, 2, 40)) < 0.5).astype(np.int64)
    assert np.array_equal(run_one(op, x)[0], run_one(sparse, x)[0])


def test_pool_is_a_depthwise_conv_with_one_kernel():
    op = conv_from_pool((3, 4, 4), np.array([[1, 2], [3, 4]]), (2, 2))
    x = np.random.default_rng(2).integers(0, 2, (2, 1, 48))
    y, _ = run_one(op, x)
    planes = x[0, 0].reshape(3, 2, 2, 2, 2)              # [c, h', i, w', j]
    expect = np.einsum("chiwj,ij->chw", planes, np.array([[1, 2], [3, 4]]))
    assert np.array_equal(y[1, 0], expect.reshape(-1))


@pytest.mark.parametrize("fields, message", [
    (dict(weight=np.ones((2, 1, 3))), "weight must be 4-D [C_out, C_in/groups, KH, KW], got shape [2, 1, 3]"),
    (dict(groups=2), "groups = 2 must divide C_in = 3 and C_out = 2"),
    (dict(in_shape=(3, 2, 5)), "input [3, 2, 5] is smaller than the dilated kernel [3, 3] (output [2, 0, 3])"),
    (dict(weight_exp=np.zeros(3, np.int64)), "weight_exp must have one exponent per output channel, shape [2], got [3]"),
    (dict(delay=np.array([1, 2])), "delay must be a scalar or have the kernel's shape [2, 3, 3, 3], got [2]"),
    (dict(delay=np.array(-1)), "delay must be >= 0 ticks, got min -1"),
    (dict(stride=(0, 1)), "stride must be 2 integers >= 1, got [0, 1]"),
])
def test_conv_rules(fields, message):
    base = dict(weight=np.ones((2, 3, 3, 3)), weight_exp=np.zeros(2, np.int64), in_shape=(3, 5, 5))
    base.update(fields)
    assert Conv(**base).verify() == [message]


# -- sigma-delta ------------------------------------------------------------------------------------------
def test_sigma_delta_by_hand():
    """θ = 1·2^2 = 4, b = 0; input steps 5, 0, −2, 9, −20 (σ: 5, 5, 3, 12, −8; α = ReLU(σ))."""
    op = SigmaDelta(vth=[1], bias=[0], spike_exp=1, state_exp=1)
    y, s = run_one(op, np.array([5, 0, -2, 9, -20]).reshape(5, 1, 1), record=("residue",))
    # δ: 5 → sent 5 >> 1 = 2; δ = 0; δ = −2 (|−2| < 4: residue −2); δ = 9 − 2 = 7 → 3; δ = −12 → −6
    assert y[:, 0, 0].tolist() == [2, 0, 0, 3, -6]
    assert s["residue"][:, 0, 0].tolist() == [0, 0, -2, 0, 0]


def test_delta_scales_its_input_and_sigma_accumulates():
    delta = SigmaDelta(vth=[3], bias=[0], spike_exp=1, state_exp=2, mode="delta")      # θ = 24, a << 3
    y, _ = run_one(delta, np.array([4, 4, 6, 2, 0]).reshape(5, 1, 1))
    # α = 32, 32, 48, 16, 0; δ = 32 (sent, >> 2 = 8), 0, 16 (held), 16 − 48 + 16 = −16 (held), 0 − 16 − 16 = −32
    assert y[:, 0, 0].tolist() == [8, 0, 0, 0, -8]
    sigma = SigmaDelta(vth=[0], bias=[0], mode="sigma")
    assert run_one(sigma, np.array([4, -1, 7]).reshape(3, 1, 1))[0][:, 0, 0].tolist() == [4, 3, 10]


def test_bias_and_unit_activation():
    op = SigmaDelta(vth=[0], bias=[-1], spike_exp=0, state_exp=0, activation="unit")
    assert run_one(op, np.array([0, 3, 0]).reshape(3, 1, 1))[0][:, 0, 0].tolist() == [-1, 3, 0]
    relu = op.replace(activation="relu")
    assert run_one(relu, np.array([0, 3, 0]).reshape(3, 1, 1))[0][:, 0, 0].tolist() == [0, 2, 0]


def test_sigma_wraps_at_32_bits_and_strict_mode_names_it():
    op = SigmaDelta(vth=[0], bias=[0], mode="sigma")
    x = np.array([(1 << 31) - 1, 1]).reshape(2, 1, 1)
    assert run_one(op, x)[0][:, 0, 0].tolist() == [(1 << 31) - 1, -(1 << 31)]
    with pytest.raises(SimulationError) as err:
        run_one(op, x, strict=True)
    assert str(err.value).startswith("node 'n' (loihi.sigma_delta) tick 1, sample 0, element 0: sigma = 2147483648 "
                                     "wraps (32-bit two's complement, strict mode)")


@pytest.mark.parametrize("fields, message", [
    (dict(bias=[1, 2, 3]), "bias has shape [3], but the neuron shape (of vth) is [2]"),
    (dict(spike_exp=8), "spike_exp must lie in [0, 7], got 8"),
    (dict(vth=[-1, 0]), "vth must lie in [0, 2^31 / 2^12), got [-1, 0]"),
    (dict(bias=[1 << 19, 0]), "bias · 2^12 must fit in int32, got [0, 524288]"),
    (dict(mode="delta", bias=[1, 0]), "bias must be 0 in mode delta (the Lava model has none)"),
    (dict(mode="sigma", vth=[1, 0]), "vth must be 0 in mode sigma (the Lava model has none)"),
])
def test_sigma_delta_rules(fields, message):
    base = dict(vth=[0, 0], bias=[0, 0])
    base.update(fields)
    assert SigmaDelta(**base).verify() == [message]
