"""Well-kept graph and hypergraph partitioners, as optional extras (`pip install snnc[partition]`).

    METIS       (pymetis)    the neuron graph: an edge per (source, destination) pair, weighted by
                             the source's rate; minimises the weighted edge cut
    Mt-KaHyPar  (mtkahypar)  the hypergraph: one hyperedge per source neuron (its destinations and
                             itself), weighted by its rate; minimises connectivity − 1, which is
                             the traffic `cost.evaluate` counts

Both balance one vertex weight per block, so each vertex weighs its largest share of a core
(neurons, synapse bits at the table's cheapest rate, output axons at one per net); what they
cannot see (input axons shared within a core, the exact synapse table, the output axons a
cut adds) is left to `cut.repair`. Both run with a fixed seed (Mt-KaHyPar with its
deterministic preset on one thread), so a compile gives the same files every time.
"""
from __future__ import annotations

import functools
import importlib.util

import numpy as np

from snnc.passes.partitioning.problem import Problem, distinct

SEED = 0
SCALE = 1000          # a full core weighs this much
RATE_SCALE = 1000     # the largest rate weighs this much


def available(module: str) -> bool:
    """Whether the optional partitioner's module can be imported."""
    return importlib.util.find_spec(module) is not None


def vertex_weights(problem: Problem) -> np.ndarray:
    """Per vertex, its largest share of one core's limits (integers, a core = SCALE)."""
    lim = problem.limits
    rho = np.array([float(np.min(p.lut[1:] / np.arange(1, len(p.lut)))) if len(p.lut) > 1 else 0.0
                    for p in problem.projections] + [0.0])
    bits = np.bincount(problem.pin_v, weights=rho[problem.net_proj[problem.pin_net]], minlength=problem.n)
    outs = np.bincount(problem.net_src[problem.placed_src], minlength=problem.n)[:problem.n]
    share = np.zeros(problem.n)
    for value, limit in ((problem.slots, lim.neurons), (bits, lim.synapse_bits), (outs, lim.output_axons)):
        if limit:
            share = np.maximum(share, value / limit)
    return np.maximum(1, np.rint(share * SCALE)).astype(np.int64)


def _rates(problem: Problem, src: np.ndarray) -> np.ndarray:
    r = problem.rate[src]
    top = float(problem.rate.max(initial=0.0))
    return np.maximum(1, np.rint(r / top * RATE_SCALE)).astype(np.int64) if top > 0 else np.ones(len(r), np.int64)


def metis(problem: Problem, k: int, *, ufactor: int = 30) -> np.ndarray:
    """Blocks of a METIS k-way partition of the neuron graph (module docstring)."""
    import pymetis
    if k <= 1:
        return np.zeros(problem.n, np.int64)
    src = problem.net_src[problem.pin_net]
    keep = (src < problem.n) & (src != problem.pin_v)
    s, t, w = src[keep], problem.pin_v[keep], _rates(problem, src[keep])
    a, b = np.concatenate([s, t]), np.concatenate([t, s])
    key, inv = distinct(a * problem.n + b, inverse=True)
    weight = np.bincount(inv, weights=np.concatenate([w, w])).astype(np.int64)
    a, b = key // problem.n, key % problem.n
    xadj = np.concatenate([[0], np.cumsum(np.bincount(a, minlength=problem.n))]).astype(np.int64)
    opts = pymetis.Options(seed=SEED, ufactor=ufactor)
    _, parts = pymetis.part_graph(k, pymetis.CSRAdjacency(xadj, b), vweights=vertex_weights(problem),
                                  eweights=weight, options=opts)
    return np.asarray(parts, np.int64)


def hyperedges(problem: Problem) -> tuple[list[list[int]], np.ndarray]:
    """One hyperedge per source with two or more pins (its destinations and, if placed, itself)."""
    src = problem.net_src[problem.pin_net]
    s = np.concatenate([src, np.arange(problem.n)])
    v = np.concatenate([problem.pin_v, np.arange(problem.n)])
    has_out = np.zeros(problem.n_sources, bool)
    has_out[problem.net_src] = True
    keep = has_out[s]
    key = distinct(s[keep] * problem.n + v[keep])
    s, v = key // problem.n, key % problem.n
    bounds = np.flatnonzero(np.diff(s)) + 1
    groups = np.split(v, bounds)
    heads = s[np.r_[0, bounds]] if len(s) else np.zeros(0, np.int64)
    edges = [g.tolist() for g in groups if len(g) > 1]
    weights = _rates(problem, np.array([h for h, g in zip(heads, groups) if len(g) > 1], np.int64))
    return edges, weights


@functools.lru_cache(maxsize=1)
def _kahypar():
    import mtkahypar
    return mtkahypar, mtkahypar.initialize(1, False)


def kahypar(problem: Problem, k: int, *, epsilon: float = 0.03) -> np.ndarray:
    """Blocks of an Mt-KaHyPar k-way partition (connectivity − 1) of the hypergraph (module docstring)."""
    if k <= 1:
        return np.zeros(problem.n, np.int64)
    mt, init = _kahypar()
    ctx = init.context_from_preset(mt.PresetType.DETERMINISTIC)
    ctx.set_partitioning_parameters(k, epsilon, mt.Objective.KM1)
    ctx.logging = False
    mt.set_seed(SEED)
    edges, weights = hyperedges(problem)
    hg = init.create_hypergraph(ctx, problem.n, len(edges), edges, vertex_weights(problem).tolist(),
                                weights.tolist())
    part = hg.partition(ctx)
    return np.asarray(part.get_partition(), np.int64)
