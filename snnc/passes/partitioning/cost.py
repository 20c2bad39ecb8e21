"""What an assignment of neurons to cores costs, counted exactly as the chip stores it.

For `assign` (core of every vertex, cores numbered 0 … K−1), per core k:

    neurons        Σ slots of its vertices
    input_axons    nets with a pin on k
    synapse_bits   sparse projection: Σ over those nets of lut[pins on k];
                   dense projection: (its nets present on k) · lut[its destination part's rows on k]
    output_axons   Σ over nets whose source sits on k of λ(net), the cores the net reaches

and the traffic, Σ over sources of rate · (cores its nets reach, other than its own).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.passes.partitioning.problem import RESOURCES, Problem, distinct


@dataclass
class Evaluation:
    loads: np.ndarray            # [K, 4] in RESOURCES order
    traffic: float               # messages per tick between cores (host inputs included)
    chip_traffic: float          # of which from neurons (host inputs left out)
    reach: np.ndarray            # λ per net
    cores: int
    legal: bool


def pair_counts(problem: Problem, assign: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(net, core, pins) for every net and core it has pins on, sorted by net then core."""
    pc = assign[problem.pin_v]
    key = problem.pin_net * K + pc
    uniq, cnt = distinct(key, counts=True)
    return uniq // K, uniq % K, cnt


def evaluate(problem: Problem, assign: np.ndarray, K: int | None = None) -> Evaluation:
    """The exact per-core loads and the traffic of `assign` (module docstring)."""
    assign = np.asarray(assign, np.int64)
    K = int(assign.max(initial=-1)) + 1 if K is None else K
    loads = np.zeros((K, len(RESOURCES)), np.float64)
    loads[:, 0] = np.bincount(assign, weights=problem.slots, minlength=K)[:K]
    net, core, cnt = pair_counts(problem, assign, K)
    loads[:, 1] = np.bincount(core, minlength=K)[:K]
    proj = problem.net_proj[net]
    sparse = ~problem.proj_dense[proj]
    bits = np.where(sparse, problem.lut[problem.lut_off[proj] + np.where(sparse, cnt, 0)], 0)
    loads[:, 3] = np.bincount(core, weights=bits, minlength=K)[:K]
    loads[:, 3] += _dense_bits(problem, assign, K, proj, core, ~sparse)
    reach = np.bincount(net, minlength=problem.n_nets).astype(np.int64)
    src = problem.net_src
    placed = problem.placed_src
    loads[:, 2] = np.bincount(assign[src[placed]], weights=reach[placed], minlength=K)[:K]
    traffic, chip = _traffic(problem, assign, K, net, core)
    return Evaluation(loads, traffic, chip, reach, K, not np.any(loads > problem.limits.vector()[None, :]))


def _dense_bits(problem: Problem, assign, K, proj, core, dense) -> np.ndarray:
    out = np.zeros(K)
    if not dense.any():
        return out
    present = np.zeros((len(problem.projections), K), np.int64)
    np.add.at(present, (proj[dense], core[dense]), 1)
    for k in np.flatnonzero(problem.proj_dense):
        dst = problem.projections[k].dst
        rows = np.bincount(assign[problem.vertices(dst)], minlength=K)[:K]
        out += present[k] * problem.lut[problem.lut_off[k] + rows]
    return out


def _traffic(problem: Problem, assign, K, net, core) -> tuple[float, float]:
    """Σ rate · |cores reached \\ own core| over sources (one hyperedge per source neuron)."""
    src = problem.net_src[net]
    key = distinct(src * K + core)
    s, c = key // K, key % K
    own = np.where(s < problem.n, assign[np.minimum(s, problem.n - 1)], -1)
    away = c != own
    r = problem.rate[s]
    total = float((r * away).sum())
    chip = float((r * away * (s < problem.n)).sum())
    return total, chip
