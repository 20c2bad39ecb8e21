"""Projections, convolution, pooling and flattening.

Weights and inputs are small integers, so every sum is exact in float64 whatever the
order of summation, and results are compared for exact equality.
"""
from __future__ import annotations

import numpy as np
import pytest

import snnc.interp.snn.synapse as synapse  # (importing the package registers every snn stepper)
from snnc.interp.kernel import STEPPERS, Stepper
from snnc.ir import all_ops
from snnc.ir.snn import (Affine, AvgPool2d, Conv1d, Conv2d, Flatten, Input, Linear, Output, Scale,
                         SparseLinear, SumPool2d)
from tests.interp.util import run_op

RNG = np.random.default_rng(7)


def ints(*shape, lo=-3, hi=4):
    return RNG.integers(lo, hi, size=shape).astype(np.float64)


def spikes(*shape):
    return (RNG.random(shape) < 0.4).astype(np.float64)


@pytest.mark.parametrize("name", sorted(n for n in all_ops() if n.startswith("snn.")))
def test_every_snn_op_has_a_stepper(name):
    op_cls = all_ops()[name]
    if op_cls in (Input, Output):              # the engine handles graph boundaries itself
        assert op_cls not in STEPPERS
    else:
        assert issubclass(STEPPERS[op_cls], Stepper)


# -- dense and elementwise -----------------------------------------------------------------------
def test_affine_linear_scale():
    w, b, s = ints(3, 5), ints(3), ints(3)
    x = spikes(4, 2, 5)
    y, _ = run_op(Affine(weight=w, bias=b), x)
    assert np.array_equal(y, np.einsum("oi,tbi->tbo", w, x) + b)
    y, _ = run_op(Linear(weight=w), x)
    assert np.array_equal(y, np.einsum("oi,tbi->tbo", w, x))
    x = ints(4, 2, 3)
    y, _ = run_op(Scale(scale=s), x)
    assert np.array_equal(y, s * x)


# -- sparse --------------------------------------------------------------------------------------
def random_csr(n_out, n_in, nnz_per_row_max=4, empty_every=3):
    """CSR arrays with empty rows, unsorted and repeated columns."""
    indptr, indices = [0], []
    for i in range(n_out):
        k = 0 if i % empty_every == 1 else int(RNG.integers(1, nnz_per_row_max + 1))
        cols = list(RNG.integers(0, n_in, size=k))
        if k >= 2:
            cols[1] = cols[0]                   # a repeated column: the weights add
        indices += cols
        indptr.append(len(indices))
    return np.array(indptr), np.array(indices, dtype=np.int64), ints(len(indices))


def dense_by_hand(indptr, indices, data, n_in):
    w = np.zeros((len(indptr) - 1, n_in))
    for i in range(len(indptr) - 1):
        for k in range(indptr[i], indptr[i + 1]):
            w[i, indices[k]] += data[k]
    return w


def test_sparse_linear_equals_its_dense_equivalent():
    indptr, indices, data = random_csr(11, 7)
    bias = ints(11)
    x = spikes(5, 3, 7)
    op = SparseLinear(indptr=indptr, indices=indices, data=data, bias=bias, n_in=7)
    y, _ = run_op(op, x)
    w = dense_by_hand(indptr, indices, data, 7)
    assert np.array_equal(y, np.einsum("oi,tbi->tbo", w, x) + bias)


@pytest.mark.parametrize("chunk", [synapse._GATHER_CHUNK, 1, 25])
def test_numpy_csr_product_handles_empty_rows_and_chunks(chunk, monkeypatch):
    monkeypatch.setattr(synapse, "_GATHER_CHUNK", chunk)
    indptr, indices, data = random_csr(13, 9, empty_every=2)
    indptr = np.concatenate([[0, 0], indptr[1:], [indptr[-1]] * 2])   # empty first and last rows
    x = ints(6, 9)
    y = synapse.csr_matmul_numpy(indptr, indices, data, x)
    assert np.array_equal(y, x @ dense_by_hand(indptr, indices, data, 9).T)


def test_numpy_csr_product_of_an_empty_matrix():
    y = synapse.csr_matmul_numpy(np.zeros(4, np.int64), np.zeros(0, np.int64), np.zeros(0), ints(2, 5))
    assert y.shape == (2, 3) and not y.any()


def one_event_per_sample(T, B, n):
    x = np.zeros((T, B, n))
    x[np.arange(T)[:, None], np.arange(B)[None, :], RNG.integers(0, n, size=(T, B))] = 2.0
    return x


@pytest.mark.parametrize("make_x", [lambda: one_event_per_sample(3, 4, 6),     # 1/6 nonzero
                                    lambda: ints(3, 4, 6, lo=1)], ids=["events", "rows"])
def test_sparse_linear_without_scipy(make_x, monkeypatch):
    # sparse inputs take the event-driven path, dense ones the row-by-row path
    monkeypatch.setattr(synapse, "_scipy_csr", lambda op: None)
    indptr, indices, data = random_csr(8, 6)
    op = SparseLinear(indptr=indptr, indices=indices, data=data, bias=ints(8), n_in=6)
    x = make_x()
    y, _ = run_op(op, x)
    assert np.array_equal(y, np.einsum("oi,tbi->tbo", dense_by_hand(indptr, indices, data, 6), x) + op.bias)


@pytest.mark.parametrize("chunk", [synapse._GATHER_CHUNK, 1, 30])
def test_event_driven_accumulation(chunk, monkeypatch):
    monkeypatch.setattr(synapse, "_GATHER_CHUNK", chunk)
    indptr, indices, data = random_csr(10, 12, empty_every=3)
    columns = synapse.ColumnMajor(indptr, indices, data, 12)
    w = dense_by_hand(indptr, indices, data, 12)
    x = ints(5, 12) * (RNG.random((5, 12)) < 0.3)          # graded, signed, mostly zero
    x[2] = 0.0                                              # a sample without events
    assert np.array_equal(columns.accumulate(x), x @ w.T)
    assert np.array_equal(columns.accumulate(np.zeros((3, 12))), np.zeros((3, 10)))
    binary = spikes(4, 12)
    assert np.array_equal(columns.accumulate(binary), binary @ w.T)


# -- spatial ops against torch.nn.functional -----------------------------------------------------
CONV2D = [  # (C_in, C_out, H, W, kernel, stride, padding, dilation, groups)
    (3, 4, 7, 6, (3, 3), (1, 1), (0, 0), (1, 1), 1),
    (2, 6, 9, 8, (3, 2), (2, 1), (1, 2), (1, 1), 2),
    (4, 4, 10, 11, (3, 3), (2, 3), (2, 1), (2, 3), 4),
    (6, 3, 5, 5, (1, 1), (1, 1), (0, 0), (1, 1), 3),
    (1, 2, 4, 4, (4, 4), (1, 1), (0, 0), (1, 1), 1),
]


@pytest.mark.parametrize("c_in,c_out,h,w,k,s,p,d,g", CONV2D)
def test_conv2d_matches_torch(c_in, c_out, h, w, k, s, p, d, g):
    torch = pytest.importorskip("torch")
    weight, bias, x = ints(c_out, c_in // g, *k), ints(c_out), spikes(3, 2, c_in, h, w)
    y, _ = run_op(Conv2d(weight=weight, bias=bias, stride=s, padding=p, dilation=d, groups=g), x)
    want = torch.nn.functional.conv2d(torch.from_numpy(x.reshape(6, c_in, h, w)), torch.from_numpy(weight),
                                      torch.from_numpy(bias), stride=s, padding=p, dilation=d, groups=g)
    assert np.array_equal(y, want.numpy().reshape(3, 2, *want.shape[1:]))


@pytest.mark.parametrize("c_in,c_out,n,k,s,p,d,g", [(2, 4, 11, 3, 1, 0, 1, 1), (4, 6, 13, 4, 3, 2, 2, 2),
                                                    (3, 3, 5, 5, 1, 2, 1, 3)])
def test_conv1d_matches_torch(c_in, c_out, n, k, s, p, d, g):
    torch = pytest.importorskip("torch")
    weight, bias, x = ints(c_out, c_in // g, k), ints(c_out), spikes(2, 3, c_in, n)
    y, _ = run_op(Conv1d(weight=weight, bias=bias, stride=(s,), padding=(p,), dilation=(d,), groups=g), x)
    want = torch.nn.functional.conv1d(torch.from_numpy(x.reshape(6, c_in, n)), torch.from_numpy(weight),
                                      torch.from_numpy(bias), stride=s, padding=p, dilation=d, groups=g)
    assert np.array_equal(y, want.numpy().reshape(2, 3, *want.shape[1:]))


POOLS = [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 2), (1, 0)), ((4, 4), (3, 3), (2, 2))]


@pytest.mark.parametrize("k,s,p", POOLS)
def test_pools_match_torch(k, s, p):
    torch = pytest.importorskip("torch")
    x = ints(2, 3, 4, 9, 10, lo=0, hi=5)
    xt = torch.from_numpy(x.reshape(6, 4, 9, 10))
    y, _ = run_op(SumPool2d(kernel_size=k, stride=s, padding=p), x)
    total = torch.nn.functional.avg_pool2d(xt, k, s, p, count_include_pad=True, divisor_override=1)
    assert np.array_equal(y, total.numpy().reshape(2, 3, *total.shape[1:]))
    y, _ = run_op(AvgPool2d(kernel_size=k, stride=s, padding=p), x)
    mean = torch.nn.functional.avg_pool2d(xt, k, s, p, count_include_pad=True)
    np.testing.assert_allclose(y, mean.numpy().reshape(2, 3, *mean.shape[1:]), rtol=1e-12, atol=0)
    assert np.array_equal(y, total.numpy().reshape(y.shape) / (k[0] * k[1]))


@pytest.mark.parametrize("start,end", [(0, -1), (1, 2), (0, 1), (-2, -1), (1, 1)])
def test_flatten_matches_torch(start, end):
    torch = pytest.importorskip("torch")
    x = ints(2, 3, 4, 5, 6)
    y, _ = run_op(Flatten(start_dim=start, end_dim=end), x)
    shift = lambda a: a + 1 if a >= 0 else a                       # noqa: E731  (skip the batch axis)
    want = torch.flatten(torch.from_numpy(x.reshape(6, 4, 5, 6)), shift(start), shift(end))
    assert np.array_equal(y, want.numpy().reshape(2, 3, *want.shape[1:]))
