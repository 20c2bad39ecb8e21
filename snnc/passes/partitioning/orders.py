"""Vertex orders for the greedy cut: index order, and a space-filling order over feature maps.

A convolution's neurons are numbered channel-major (c, h, w), so cutting them in index order
gives each core a few whole channels: every core then needs the whole input map and every
source reaches every core. Cutting along a space-filling curve over the map instead gives
each core a tile of the map across all channels, whose inputs are a tile of the layer below.

Where neurons sit: a group with a known shape (channels first, the last two extents a map,
e.g. (C, H, W) or (H, W)) places neuron (…, h, w) at ((h + ½)/H, (w + ½)/W). A group without
one takes the mean position of the sources that feed it, when those sources lie close
together (their spread is under `LOCAL`): a convolution's neurons land at the centre of their
receptive field in the input's coordinates, so successive layers line up. A neuron fed from
all over the map (a dense layer) has no position; its group is cut in index order.

The spatial order walks a Hilbert curve over cells of the unit square and, within a cell,
takes groups in order and neurons in index order, so one stretch of the order is one region
of every map at once: cutting it puts a tile of a layer on the core with the tile of the
layer that feeds it.
"""
from __future__ import annotations

import numpy as np

from snnc.passes.partitioning.problem import Problem

LOCAL = 0.2            # largest spread (std over the unit square) of a neuron's sources to take their mean


def natural(problem: Problem) -> list[np.ndarray]:
    """One sequence per placed group, its neurons in index order."""
    return [problem.vertices(g) for g, grp in enumerate(problem.groups) if grp.placed]


def positions(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(positions [n_sources, 2] in the unit square, known [n_sources]) of every source (vertices
    first, then host inputs), from shapes and, where there is none, from the sources feeding it."""
    pos = np.zeros((problem.n_sources, 2))
    known = np.zeros(problem.n_sources, bool)
    for g, grp in enumerate(problem.groups):
        if len(grp.shape) >= 2 and int(np.prod(grp.shape)) == grp.size:
            ids = problem.source_id(g, np.arange(grp.size))
            pos[ids], known[ids] = _grid(grp.shape), True
    for _ in range(len(problem.groups)):                  # each sweep places at least one more group
        grew = False
        for g, grp in enumerate(problem.groups):
            if not grp.placed:
                continue
            v = problem.vertices(g)
            if known[v].any():
                continue
            p, ok = _from_sources(problem, v, pos, known)
            if ok.any():
                pos[v[ok]], known[v[ok]], grew = p[ok], True, True
        if not grew:
            break
    return pos, known


def _grid(shape: tuple[int, ...]) -> np.ndarray:
    H, W = shape[-2], shape[-1]
    c = int(np.prod(shape[:-2]))
    h, w = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    yx = np.stack([(h.ravel() + 0.5) / H, (w.ravel() + 0.5) / W], axis=1)
    return np.tile(yx, (c, 1))


def _from_sources(problem: Problem, v: np.ndarray, pos, known) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of the known sources of each vertex in `v`."""
    lo, hi = problem.vin_ptr[v], problem.vin_ptr[v + 1]
    counts = hi - lo
    at = np.repeat(lo - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(int(counts.sum()))
    owner = np.repeat(np.arange(len(v)), counts)
    src = problem.net_src[problem.vin_net[at]]
    use = known[src]
    if not use.any():
        return np.zeros((len(v), 2)), np.zeros(len(v), bool)
    owner, src = owner[use], src[use]
    n = np.bincount(owner, minlength=len(v)).astype(np.float64)
    ok = n > 0
    mean = np.stack([np.bincount(owner, weights=pos[src, i], minlength=len(v)) for i in (0, 1)], axis=1)
    mean[ok] /= n[ok, None]
    sq = np.stack([np.bincount(owner, weights=pos[src, i] ** 2, minlength=len(v)) for i in (0, 1)], axis=1)
    var = np.zeros(len(v))
    var[ok] = (sq[ok] / n[ok, None] - mean[ok] ** 2).sum(axis=1)
    spread = np.sqrt(np.maximum(var, 0.0))
    return mean, ok & (spread < LOCAL)


def hilbert(y: np.ndarray, x: np.ndarray, order: int) -> np.ndarray:
    """Index along the Hilbert curve of cells (y, x) of a 2^order × 2^order grid."""
    n = 1 << order
    x, y = x.astype(np.int64).copy(), y.astype(np.int64).copy()
    d = np.zeros_like(x)
    s = n >> 1
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        flip = ~ry
        swap_x = np.where(flip & rx, n - 1 - x, x)
        swap_y = np.where(flip & rx, n - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s >>= 1
    return d


def spatial(problem: Problem) -> tuple[list[np.ndarray], np.ndarray] | None:
    """(sequences, order of every vertex) for the spatial cut: one Hilbert-ordered sequence over
    the vertices with a position, one index-ordered sequence per group for the rest; None when
    no vertex has a position."""
    pos, known = positions(problem)
    kv = known[:problem.n]
    if not kv.any():
        return None
    side = max(2, int(np.ceil(np.sqrt(max(g.size for g in problem.groups if g.placed)))))
    order = max(1, int(np.ceil(np.log2(side))))
    cells = np.minimum((pos[:problem.n] * (1 << order)).astype(np.int64), (1 << order) - 1)
    key = hilbert(cells[:, 0], cells[:, 1], order)
    v = np.flatnonzero(kv)
    seq = v[np.lexsort((v, problem.group_of[v], key[v]))]
    rest = [problem.vertices(g)[~kv[problem.vertices(g)]] for g, grp in enumerate(problem.groups) if grp.placed]
    sequences = [seq] + [r for r in rest if len(r)]
    return sequences, np.concatenate(sequences)


def bisection(problem: Problem, k: int, weight: np.ndarray) -> np.ndarray | None:
    """Blocks of a recursive coordinate bisection of the vertices with a position into `k`
    regions of equal `weight` (each cut across the longer side of its region, at the weighted
    quantile that leaves each side a whole number of regions); a vertex without a position
    gets one block per group after them. None when no vertex has a position."""
    pos, known = positions(problem)
    kv = np.flatnonzero(known[:problem.n])
    if not len(kv):
        return None
    blocks = np.empty(problem.n, np.int64)
    _split(pos[kv], weight[kv], kv, max(1, k), 0, blocks)
    rest = ~known[:problem.n]
    blocks[rest] = k + problem.group_of[rest]
    return blocks


def _split(pos: np.ndarray, w: np.ndarray, ids: np.ndarray, k: int, first: int, out: np.ndarray) -> None:
    if k == 1 or len(ids) <= 1:
        out[ids] = first
        return
    axis = int(np.argmax(pos.max(axis=0) - pos.min(axis=0)))
    order = np.lexsort((ids, pos[:, axis]))
    k1 = k // 2
    share = np.cumsum(w[order]) / max(float(w.sum()), 1e-300)
    cut_at = int(np.searchsorted(share, k1 / k)) + 1
    cut_at = min(max(cut_at, 1), len(ids) - 1)
    lo, hi = order[:cut_at], order[cut_at:]
    _split(pos[lo], w[lo], ids[lo], k1, first, out)
    _split(pos[hi], w[hi], ids[hi], k - k1, first + k1, out)
