"""loihi.dense, loihi.sparse and loihi.axon_delay: timing, exponents, delays, exactness."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.backends.loihi.ops import AxonDelay, Dense, Sparse
from snnc.backends.loihi.steps import _Accumulator
from tests.backends.loihi.util import run_one

W = np.array([[3, -5, 7], [-2, 4, 1]])


def dense(weight=W, exp=(0, 0), **kw):
    return Dense(weight=weight, weight_exp=np.asarray(exp), **kw)


def spikes(T, events, n=3, batch=1):
    x = np.zeros((T, batch, n), np.int64)
    for t, j in events:
        x[t, 0, j] = 1
    return x


def test_one_tick_synaptic_latency():
    y, _ = run_one(dense(), spikes(4, [(0, 0), (0, 2), (2, 1)]))
    assert y[:, 0].tolist() == [[0, 0], [10, -1], [0, 0], [-5, 4]]


def test_binary_input_counts_any_nonzero_value_as_one():
    x = spikes(2, [(0, 0)])
    x[0, 0, 0] = 9
    y, _ = run_one(dense(), x)
    assert y[1, 0].tolist() == [3, -2]


def test_graded_input_multiplies_the_payload():
    x = np.zeros((2, 1, 3), np.int64)
    x[0, 0] = [2, 0, -3]
    y, _ = run_one(dense(graded=True), x)
    assert y[1, 0].tolist() == [6 - 21, -4 - 3]


def test_positive_and_negative_row_exponents_shift_after_summing():
    # row 0: 3 − 5 = −2, exp −1 → −2 >> 1 = −1; with −5 alone: −5 >> 1 = −3 (floor, not −2)
    y, _ = run_one(dense(exp=(-1, 2)), spikes(4, [(0, 0), (0, 1), (2, 1)]))
    assert y[1, 0].tolist() == [-1, (-2 + 4) << 2]
    assert y[3, 0].tolist() == [-3, 16]


def test_negative_exponent_floors_toward_minus_infinity():
    w = np.array([[-1], [-7], [7], [1]])
    y, _ = run_one(Dense(weight=w, weight_exp=np.array([-1, -2, -2, -3])), spikes(2, [(0, 0)], n=1))
    assert y[1, 0].tolist() == [-1, -2, 1, 0]


def test_per_synapse_delay_adds_ticks_beyond_the_first():
    delay = np.array([[0, 2, 1], [3, 0, 0]])
    y, _ = run_one(dense(delay=delay), spikes(6, [(0, 0), (0, 1), (0, 2)]))
    assert y[:, 0].tolist() == [[0, 0], [3, 4 + 1], [7, 0], [-5, 0], [0, -2], [0, 0]]


def test_graded_dense_with_delays_matches_a_synapse_loop():
    rng = np.random.default_rng(5)
    w = rng.integers(-256, 256, (4, 6))
    delay = rng.integers(0, 3, (4, 6))
    x = rng.integers(-9, 10, (15, 2, 6))
    y, _ = run_one(Dense(weight=w, weight_exp=np.array([0, -2, 1, -5]), delay=delay, graded=True), x)
    raw = np.zeros((18, 2, 4), np.int64)
    for t in range(15):
        for i in range(4):
            for j in range(6):
                raw[t + 1 + delay[i, j], :, i] += w[i, j] * x[t, :, j]
    assert np.array_equal(y, np.stack([raw[:15, :, 0], raw[:15, :, 1] >> 2, raw[:15, :, 2] << 1,
                                       raw[:15, :, 3] >> 5], axis=-1))


def test_shift_applies_to_the_sum_of_everything_arriving_in_a_tick():
    # two synapses reach row 0 at tick 3 from spikes at different ticks: (−3 + 1) >> 1 = −1,
    # whereas shifting each separately would give −2 + 0.
    w = np.array([[-3, 1]])
    op = Dense(weight=w, weight_exp=np.array([-1]), delay=np.array([[0, 1]]))
    y, _ = run_one(op, spikes(4, [(2, 0), (1, 1)], n=2))
    assert y[:, 0, 0].tolist() == [0, 0, 0, -1]


@pytest.mark.parametrize("graded, big", [(False, False), (True, False), (True, True)])
def test_sparse_with_delays_and_repeated_columns_matches_a_synapse_loop(graded, big):
    """`big` weights push sums past 2^53, off the float fast path onto exact int64."""
    rng = np.random.default_rng(0)
    n_out, n_in, nnz = 6, 9, 25
    rows = np.sort(rng.integers(0, n_out, nnz))
    indptr = np.searchsorted(rows, np.arange(n_out + 1))
    indices = rng.integers(0, n_in, nnz)
    weight = rng.integers(-256, 256, nnz) * (1 << 40 if big else 1)
    delay = rng.integers(0, 4, nnz)
    exp = rng.integers(-3, 3, n_out)
    sp = Sparse(indptr=indptr, indices=indices, weight=weight, weight_exp=exp, delay=delay, n_in=n_in,
                graded=graded)
    x = (rng.random((30, 3, n_in)) < 0.3).astype(np.int64)
    if graded:
        x *= rng.integers(-50, 50, x.shape)
    ys, _ = run_one(sp, x)
    raw = np.zeros((30 + 4, 3, n_out), np.int64)
    for t in range(30):
        for k in range(nnz):
            raw[t + 1 + delay[k], :, rows[k]] += weight[k] * x[t, :, indices[k]]
    expect = np.where(exp >= 0, raw[:30] << np.maximum(exp, 0), raw[:30] >> np.maximum(-exp, 0))
    assert np.array_equal(ys, expect)
    dense_w = np.zeros((n_out, n_in), np.int64)
    np.add.at(dense_w, (rows, indices), weight)
    assert np.array_equal(sp.to_dense(), dense_w)


def test_sparse_without_delays_equals_dense():
    rng = np.random.default_rng(1)
    w = rng.integers(-256, 256, (5, 8)) * (rng.random((5, 8)) < 0.4)
    indptr = np.concatenate([[0], np.cumsum((w != 0).sum(axis=1))])
    rows, cols = np.nonzero(w)
    exp = np.array([0, 1, -1, -4, 3])
    x = (rng.random((12, 2, 8)) < 0.5).astype(np.int64)
    ys, _ = run_one(Sparse(indptr=indptr, indices=cols, weight=w[rows, cols], weight_exp=exp, n_in=8), x)
    yd, _ = run_one(Dense(weight=w, weight_exp=exp), x)
    assert np.array_equal(ys, yd)


def test_axon_delay():
    op = AxonDelay(delay=np.array([0, 2, 1]))
    x = np.zeros((5, 1, 3), np.int64)
    x[0] = [1, 1, 1]
    x[1] = [5, 6, 7]
    y, _ = run_one(op, x)
    assert y[:, 0].tolist() == [[1, 0, 0], [5, 0, 1], [0, 1, 7], [0, 6, 0], [0, 0, 0]]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), rate=st.sampled_from([0.0, 0.01, 0.2, 1.0]),
       big=st.booleans(), graded=st.booleans())
def test_accumulator_paths_are_exact(seed, rate, big, graded):
    """Gather, float64 BLAS and int64 paths all equal the plain int64 product."""
    rng = np.random.default_rng(seed)
    hi = 1 << 50 if big else 256
    w = rng.integers(-hi, hi, size=(7, 300))
    s = (rng.random((3, 300)) < rate).astype(np.int64)
    if graded:
        s *= rng.integers(-(1 << 12), 1 << 12, size=s.shape)
    got = _Accumulator(w)(s, binary=not graded)
    assert got.dtype == np.int64
    assert np.array_equal(got, (s != 0).astype(np.int64) @ w.T if not graded else s @ w.T)


@pytest.mark.parametrize("op, message", [
    (Dense(weight=np.zeros(3, np.int64), weight_exp=np.zeros(3, np.int64)),
     "weight must be 2-D [N_out, N_in], got shape [3]"),
    (Dense(weight=W, weight_exp=np.zeros(3, np.int64)),
     "weight_exp must have one exponent per output row, shape [2], got [3]"),
    (Dense(weight=W, weight_exp=np.zeros(2, np.int64), delay=np.zeros((3, 2), np.int64)),
     "delay must be a scalar or have shape [2, 3], got [3, 2]"),
    (Dense(weight=W, weight_exp=np.zeros(2, np.int64), delay=-1), "delay must be >= 0 ticks, got min -1"),
    (Sparse(indptr=[0, 2], indices=[0, 5], weight=[1, 1], weight_exp=[0], n_in=4),
     "column indices must lie in [0, 4)"),
    (AxonDelay(delay=np.array([1, -2])), "delay must be >= 0 ticks, got min -2"),
])
def test_verify_messages(op, message):
    assert op.verify() == [message]
