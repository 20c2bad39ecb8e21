"""`prune`: remove small synapses by magnitude, optionally capping each neuron's fan-in.

Works on the source dialect's weight-bearing projections (`snn.linear`, `snn.affine`,
`snn.sparse_linear`); a projection that loses synapses becomes an `snn.sparse_linear`
(with the affine bias kept), so the removed synapses cost no memory downstream. Options:

    threshold   remove |w| < threshold · max|w| of the layer (relative; 0 keeps all)
    max_fan_in  keep at most this many of the largest |w| per output neuron (0: no cap)

With the defaults the pass changes nothing: pruning changes what the network computes,
so it is opt-in (`snnc.compile(..., prune={"threshold": 0.02})`). Statistics give the
synapses before and after per layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.ir.graph import Graph
from snnc.ir.snn import Affine, Linear, SparseLinear
from snnc.passes.options import check_fields, option
from snnc.passes.registry import PassResult, register_pass


@dataclass(frozen=True)
class PruneOptions:
    threshold: float = option(0.0, "drop synapses with |w| below this fraction of the layer's largest |w| "
                                   "(0 keeps all)", low=0.0, high=1.0)
    max_fan_in: int = option(0, "keep at most this many of each neuron's largest |w| (0: no cap)", low=0)

    def __post_init__(self):
        check_fields(self)


def _dense_view(op) -> tuple[np.ndarray, np.ndarray] | None:
    """(weight [N_out, N_in], bias [N_out]) of a projection this pass prunes, else None."""
    if isinstance(op, Linear):
        return op.weight, np.zeros(op.weight.shape[0])
    if isinstance(op, Affine):
        return op.weight, op.bias
    if isinstance(op, SparseLinear):
        return op.to_dense(), op.bias
    return None


def keep_mask(weight: np.ndarray, options: PruneOptions) -> np.ndarray:
    """Which synapses survive: above the relative threshold and among each row's largest."""
    mag = np.abs(weight)
    keep = mag > 0
    if options.threshold > 0 and mag.size:
        keep &= mag >= options.threshold * mag.max()
    if options.max_fan_in and weight.shape[1] > options.max_fan_in:
        # rank within each row, ties broken by column order so the result is deterministic
        order = np.argsort(-mag, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(weight.shape[1])[None, :], axis=1)
        keep &= rank < options.max_fan_in
    return keep


def to_sparse(weight: np.ndarray, bias: np.ndarray, keep: np.ndarray) -> SparseLinear:
    rows, cols = np.nonzero(keep)
    indptr = np.zeros(weight.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=weight.shape[0]), out=indptr[1:])
    return SparseLinear(indptr=indptr, indices=cols, data=weight[rows, cols], bias=bias, n_in=weight.shape[1])


@register_pass("prune", PruneOptions)
def prune(graph: Graph, target, options: PruneOptions) -> PassResult:
    """Drop synapses below a relative magnitude and beyond a per-neuron fan-in cap."""
    out, per_layer = graph, {}
    for name, node in graph.nodes.items():
        view = _dense_view(node.op)
        if view is None:
            continue
        weight, bias = view
        before = int(np.count_nonzero(weight))
        keep = keep_mask(weight, options)
        after = int(np.count_nonzero(keep))
        per_layer[name] = {"synapses_before": before, "synapses_after": after}
        if after < before:
            out = out.with_op(name, to_sparse(weight, bias, keep))
    before = sum(v["synapses_before"] for v in per_layer.values())
    after = sum(v["synapses_after"] for v in per_layer.values())
    return PassResult(out, stats={"synapses_before": before, "synapses_after": after,
                                  "per_layer": per_layer})
