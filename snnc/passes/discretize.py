"""`discretize`: snap every time constant onto the target's decay grid.

A digital core leaks a state by an integer decay D per tick: s ← s · (2^bits − D) / 2^bits.
The float model's per-tick factor is α(τ) (ir_spec/SPEC.md §4: 1 − dt/τ for `euler`,
exp(−dt/τ) for `exact`), so the closest the chip gets is D = round(2^bits · (1 − α)). This
pass picks that D for every time constant and writes back the τ' whose α(τ') is exactly
1 − D/2^bits under the graph's own method:

    euler:  τ' = dt · 2^bits / D          exact:  τ' = −dt / ln(1 − D/2^bits)

The result is still an `snn.*` graph: the float interpreter runs it, and the difference
between the graphs before and after is exactly the decay quantisation. A later lowering
recovers D = round(2^bits · (1 − α(τ'))) exactly. The pass is idempotent.

D's range comes from the target: a synaptic current decays by du + current_decay_offset,
a membrane by dv + voltage_decay_offset, du and dv within their register ranges. A
membrane needs D ≥ 1 (D = 0 would be α = 1, which also multiplies its input by 1 − α = 0),
and `exact` needs D < 2^bits (α = 0 would be τ = 0); values outside are clamped to the
nearest representable decay and counted in the statistics.

Only the leak changes: in the source dialect a state with time constant τ takes its input
with weight (1 − α(τ)), so the fields that multiply that input (`GAINS`) are rescaled by
(1 − α)/(1 − α') and every input enters with exactly the weight it had. (A model trained
as `v ← β v + x` keeps its unit input gain; only β moves onto the grid.)

Which field is a current and which a membrane time constant is read from the op: every
neuron op lists its time constants in `time_constants`; `tau_syn` is the current's, every
other one a membrane's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.interp.kernel import Context
from snnc.ir.graph import Graph
from snnc.passes.registry import PassResult, register_pass

CURRENT_FIELDS = ("tau_syn",)
# the fields each time constant's (1 − α) multiplies (ir_spec/SPEC.md, snn.li/lif/cuba_*)
GAINS = {"tau": ("r", "v_leak"), "tau_mem": ("r", "v_leak"), "tau_syn": ("w_in",)}


@dataclass(frozen=True)
class DiscretizeOptions:
    """No options: the grid is the target's."""


def decay_grid(target, field: str, method: str) -> tuple[int, int, int]:
    """(unity, D_min, D_max) for a time constant named `field` on `target`."""
    f = target.formats
    unity = 1 << f.decay_bits
    if field in CURRENT_FIELDS:
        reg, offset = f.current_decay_range, f.current_decay_offset
    else:
        reg, offset = f.voltage_decay_range, f.voltage_decay_offset
    lo, hi = max(reg.lo + offset, 1), min(reg.hi + offset, unity)
    if method == "exact":
        hi = min(hi, unity - 1)
    return unity, lo, hi


def decay_steps(tau: np.ndarray, dt: float, method: str, grid: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    """D per element (int64) and how many elements had to be clamped into the grid."""
    unity, lo, hi = grid
    alpha = Context(dt=dt, method=method).decay(tau)
    raw = np.rint(unity * (1.0 - alpha))
    d = np.clip(raw, lo, hi)
    return d.astype(np.int64), int(np.count_nonzero(d != raw))


def tau_for_steps(d: np.ndarray, dt: float, method: str, unity: int) -> np.ndarray:
    """The τ whose α under `method` is exactly 1 − d/unity (d in [1, unity], d < unity for exact)."""
    frac = np.asarray(d, dtype=np.float64) / unity
    if method == "euler":
        return dt / frac
    return -dt / np.log1p(-frac)


@register_pass("discretize", DiscretizeOptions)
def discretize(graph: Graph, target, options: DiscretizeOptions) -> PassResult:
    """Snap every time constant so its per-tick decay is exactly k / 2^decay_bits."""
    per_node, clamped_total, worst = {}, 0, 0.0
    new_graph = graph
    ctx = Context(dt=graph.dt, method=graph.method)
    for name, node in graph.nodes.items():
        fields = getattr(node.op, "time_constants", ())
        if not fields:
            continue
        changes = {}
        for f in fields:
            tau = getattr(node.op, f)
            grid = decay_grid(target, f, graph.method)
            d, clamped = decay_steps(tau, graph.dt, graph.method, grid)
            new_tau = tau_for_steps(d, graph.dt, graph.method, grid[0])
            change = float(np.max(np.abs(ctx.decay(new_tau) - ctx.decay(tau)), initial=0.0))
            worst = max(worst, change)
            clamped_total += clamped
            per_node.setdefault(name, {})[f] = {"max_decay_change": change, "clamped": clamped}
            changes[f] = new_tau
            ratio = (1.0 - ctx.decay(tau)) / (1.0 - ctx.decay(new_tau))
            for g in GAINS.get(f, ()):
                if hasattr(node.op, g):
                    changes[g] = changes.get(g, getattr(node.op, g)) * ratio
        new_graph = new_graph.with_op(name, node.op.replace(**changes))
    stats = {"nodes": len(per_node), "max_decay_change": worst, "clamped": clamped_total,
             "per_node": per_node}
    return PassResult(new_graph, stats=stats)
