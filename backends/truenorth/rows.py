"""Sparse integer rows (CSR: ptr, keys, vals), hashed to find equal ones, compared exactly.

The analysis of a mapped network (classes.py, stages.py) looks for equal rows among tens of
thousands (a neuron's folded synaptic column over the signals it reads). A 64-bit hash of
each row (a linear form Σ vals · R(key), R a fixed random function of the key: splitmix64,
arithmetic mod 2^64) proposes which rows are equal; `same` then checks every proposal entry
by entry, so a hash collision can never merge two different rows (the callers fall back to
an exact method when a check fails).
"""
from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix(x, seed: int = 0) -> np.ndarray:
    """splitmix64 of the integers x (any int dtype), as uint64: a fixed pseudo-random function."""
    with np.errstate(over="ignore"):
        z = np.asarray(x).astype(np.uint64) + np.uint64(seed) * _GOLDEN + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def linear_hash(weights: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Σ_k weights[k, j] · mix(keys[k]) mod 2^64 for every column j of weights [K, N]: rows
    with equal keys add up, so an unfolded matrix hashes like its folded form."""
    with np.errstate(over="ignore"):
        return mix(keys) @ weights.astype(np.uint64)


def row_hash(ptr, keys, vals, scale=None) -> np.ndarray:
    """The linear hash of every CSR row (vals times `scale` per row when given)."""
    with np.errstate(over="ignore"):
        terms = mix(keys) * vals.astype(np.uint64)
        if scale is not None:
            terms = terms * np.repeat(np.asarray(scale).astype(np.uint64), np.diff(ptr))
        sums = np.add.reduceat(np.r_[terms, np.uint64(0)], ptr[:-1]) if len(ptr) > 1 else np.zeros(0, np.uint64)
    return np.where(np.diff(ptr) > 0, sums, np.uint64(0))


def entries(ptr, rows) -> tuple[np.ndarray, np.ndarray]:
    """(flat entry index, position of its row in `rows`) of every entry of the given rows, in order."""
    lengths = ptr[rows + 1] - ptr[rows]
    owner = np.repeat(np.arange(len(rows)), lengths)
    first = np.cumsum(lengths) - lengths
    return ptr[rows][owner] + np.arange(int(lengths.sum())) - first[owner], owner


def same(ptr_a, keys_a, vals_a, rows_a, ptr_b, keys_b, vals_b, rows_b, scale_a=None, scale_b=None) -> bool:
    """True when row rows_a[i] of A equals row rows_b[i] of B for every i (vals times the
    rows' scale when given), entry by entry."""
    if not np.array_equal(ptr_a[rows_a + 1] - ptr_a[rows_a], ptr_b[rows_b + 1] - ptr_b[rows_b]):
        return False
    ea, owner = entries(ptr_a, rows_a)
    eb, _ = entries(ptr_b, rows_b)
    va, vb = vals_a[ea], vals_b[eb]
    if scale_a is not None:
        va, vb = va * np.asarray(scale_a)[owner], vb * np.asarray(scale_b)[owner]
    return bool(np.array_equal(keys_a[ea], keys_b[eb]) and np.array_equal(va, vb))


def first_of_each(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(numbering of ids in order of first occurrence, position of each first occurrence)."""
    _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), np.int64)
    rank[order] = np.arange(len(first))
    return rank[inv.ravel()], first[order]
