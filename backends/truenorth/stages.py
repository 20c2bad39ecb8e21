"""The stages of a region's classes (classes.py): per stage, its synaptic matrix in blocks.

Stage 0 holds the region's outside inputs; stage s ≥ 1 the classes whose longest chain of
delay-0 reads from inputs has length s, so a tick runs the stages in order. A stage's rows
are the (signal, delay) pairs its classes read, its columns the distinct columns up to sign
(class u's synaptic sum is sign[u] · column col_of[u]). Columns and rows fall into connected
components (a ± partial-sum core group reading one input group is one); large dense ones
become dense blocks, the rest one sparse matrix by column. Classes are sorted by column, so
the classes reading each block (and those reading the rest) are a contiguous range (`parts`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.backends.truenorth import rows as R
from snnc.backends.truenorth.classes import Classes

DENSE_MIN_CELLS = 1024          # a component with fewer cells is summed sparsely
DENSE_MIN_FILL = 0.2            # ... and one with fewer nonzeros per cell


@dataclass
class Sparse:
    """Entries grouped by `major` index (CSR when major = rows, CSC when columns): those of major
    index i are ptr[i] … ptr[i + 1] − 1, with minor index `minor` and weight `data`."""

    ptr: np.ndarray
    minor: np.ndarray
    data: np.ndarray

    @classmethod
    def of(cls, major, minor, vals, n_major: int) -> "Sparse":
        order = np.lexsort((minor, major))
        ptr = np.zeros(n_major + 1, np.int64)
        np.add.at(ptr, major + 1, 1)
        small = not len(vals) or int(np.abs(vals).max()) < 1 << 31
        return cls(np.cumsum(ptr), minor[order].astype(np.int32 if minor.size < 1 << 31 else np.int64),
                   vals[order].astype(np.int32 if small else np.int64))


@dataclass
class Stage:
    classes: np.ndarray                      # class ids, in stage order
    row_signal: np.ndarray                   # [R] signal class of each row (inputs, then n_in + class)
    row_delay: np.ndarray                    # [R]
    n_cols: int
    col_of: np.ndarray                       # [n] column of each class (n_cols, a column of zeros, if none)
    sign: np.ndarray                         # [n] −1, 0 (no synapses) or +1
    blocks: list[tuple[int, int, int, int, np.ndarray]] = field(default_factory=list)   # r0, r1, c0, c1, F
    parts: list[tuple[int, int, int, int]] = field(default_factory=list)   # c0, c1, j0, j1: each block,
    #: then the rest: columns c0 … c1 − 1 are summed by classes j0 … j1 − 1 (classes sorted by column)
    column_bound: int = 0                    # the largest column absolute sum (bounds every sum)
    rest_first: int = 0                      # columns rest_first … n_cols − 1 are outside the blocks:
    rest: Sparse | None = None               # their entries by column (CSC, minor = row)


@dataclass
class Stages:
    n_in: int
    level: np.ndarray                        # stage of each class
    position: np.ndarray                     # position of each class in its stage
    stages: list[Stage]


def build_stages(c: Classes) -> Stages:
    level = _levels(c)
    position = np.zeros(len(c), np.int64)
    stages = []
    for s in range(1, int(level.max(initial=0)) + 1):
        st = _stage(c, np.flatnonzero(level == s))
        position[st.classes] = np.arange(len(st.classes))
        stages.append(st)
    return Stages(c.n_in, level, position, stages)


def _levels(c: Classes) -> np.ndarray:
    """1 + the longest chain of delay-0 reads from a class back to the inputs."""
    owner = np.repeat(np.arange(len(c)), np.diff(c.ptr))
    sig, delay = c.keys // c.span, c.keys % c.span
    now = (delay == 0) & (sig >= c.n_in)
    src, dst = sig[now] - c.n_in, owner[now]
    level = np.ones(len(c), np.int64)
    while True:
        new = level.copy()
        np.maximum.at(new, dst, level[src] + 1)
        if np.array_equal(new, level):
            return level
        level = new


def _stage(c: Classes, members: np.ndarray) -> Stage:
    """The stage of classes `members`: its matrix of distinct columns up to sign, in blocks."""
    take, owner = R.entries(c.ptr, members)
    ptr = np.concatenate([[0], np.cumsum(c.ptr[members + 1] - c.ptr[members])]).astype(np.int64)
    keys, vals = c.keys[take], c.vals[take]
    sign = np.zeros(len(members), np.int64)
    summed = np.flatnonzero(np.diff(ptr) > 0)
    sign[summed] = np.sign(vals[ptr[summed]])
    col_of, reps = _distinct_columns(ptr, keys, vals, sign, summed)
    at, col = R.entries(ptr, reps)
    keys, cols, vals = keys[at], col, vals[at] * sign[reps][col]
    n_cols = len(reps)
    row_keys, rows = np.unique(keys, return_inverse=True)
    rows = rows.ravel()
    row_perm, col_perm, blocks = _arrange(rows, cols, vals, len(row_keys), n_cols)
    rows, cols = row_perm[rows], col_perm[cols]
    dense = np.zeros(len(rows), bool)
    for r0, r1, c0, c1, f in blocks:
        dense |= (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
    row_keys = row_keys[np.argsort(row_perm)]
    col_of = np.where(sign == 0, n_cols, col_perm[np.minimum(col_of, max(n_cols - 1, 0))] if n_cols else n_cols)
    order = np.argsort(col_of, kind="stable")                          # classes by column (n_cols: always 0)
    members, col_of, sign = members[order], col_of[order], sign[order]
    st = Stage(members, row_keys // c.span, row_keys % c.span, n_cols, col_of, sign, blocks)
    bounds = [(c0, c1) for _, _, c0, c1, _ in blocks] + [(blocks[-1][3] if blocks else 0, n_cols + 1)]
    st.parts = [(c0, c1, int(np.searchsorted(col_of, c0)), int(np.searchsorted(col_of, c1))) for c0, c1 in bounds]
    st.column_bound = int(np.bincount(cols, np.abs(vals), minlength=1).max())
    st.rest_first = blocks[-1][3] if blocks else 0
    st.rest = Sparse.of(cols[~dense] - st.rest_first, rows[~dense], vals[~dense], n_cols - st.rest_first)
    return st


def _distinct_columns(ptr, keys, vals, sign, summed):
    """(column of each row, first row of each column): rows `summed` (non-empty) grouped by their
    entries times their sign, by hash, checked exactly (by signature after a collision)."""
    col_of = np.zeros(len(ptr) - 1, np.int64)
    h = R.row_hash(ptr, keys, vals, sign)[summed]
    ids, first = R.first_of_each(h)
    if not R.same(ptr, keys, vals, summed, ptr, keys, vals, summed[first][ids], sign[summed], sign[summed][first][ids]):
        table: dict = {}
        for k, u in enumerate(summed):
            seg = slice(ptr[u], ptr[u + 1])
            ids[k] = table.setdefault((keys[seg].tobytes(), (vals[seg] * sign[u]).tobytes()), len(table))
        ids, first = R.first_of_each(ids)
    col_of[summed] = ids
    return col_of, summed[first]


def _arrange(rows, cols, vals, n_rows, n_cols):
    """(new position of each row, of each column, dense blocks): the rows and columns of each
    dense component contiguous, those components first."""
    comp_r, comp_c = _components(rows, cols, n_rows, n_cols)
    labels, inv = np.unique(comp_c, return_inverse=True)
    n_r = np.bincount(np.searchsorted(labels, comp_r), minlength=len(labels))
    n_c = np.bincount(inv.ravel(), minlength=len(labels))
    nnz = np.bincount(np.searchsorted(labels, comp_c[cols]), minlength=len(labels))
    cells = n_r * n_c
    is_dense = (cells >= DENSE_MIN_CELLS) & (nnz >= DENSE_MIN_FILL * cells)
    rank = np.where(is_dense, 0, 1) * len(labels) + np.arange(len(labels))       # dense components first
    key_r, key_c = rank[np.searchsorted(labels, comp_r)], rank[inv.ravel()]
    row_perm = np.empty(n_rows, np.int64)
    row_perm[np.argsort(key_r, kind="stable")] = np.arange(n_rows)
    col_perm = np.empty(n_cols, np.int64)
    col_perm[np.argsort(key_c, kind="stable")] = np.arange(n_cols)
    blocks, r0, c0 = [], 0, 0
    for k in np.argsort(rank, kind="stable"):
        if not is_dense[k]:
            break
        r1, c1 = r0 + int(n_r[k]), c0 + int(n_c[k])
        f = np.zeros((r1 - r0, c1 - c0), np.int64)
        sel = comp_c[cols] == labels[k]
        f[row_perm[rows[sel]] - r0, col_perm[cols[sel]] - c0] = vals[sel]
        blocks.append((r0, r1, c0, c1, f))
        r0, c0 = r1, c1
    return row_perm, col_perm, blocks


def _components(rows, cols, n_rows, n_cols):
    """Connected components of the bipartite row-column graph of the entries, as the smallest
    row index in each (label propagation; every row and column has an entry)."""
    lab_r = np.arange(n_rows)
    while True:
        lab_c = np.full(n_cols, n_rows, np.int64)
        np.minimum.at(lab_c, cols, lab_r[rows])
        new = lab_r.copy()
        np.minimum.at(new, rows, lab_c[cols])
        if np.array_equal(new, lab_r):
            return lab_r, lab_c
        lab_r = new
