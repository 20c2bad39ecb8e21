"""discretize, prune and place, each checked against the interpreter where it claims to keep semantics."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.errors import ConstraintViolation
from snnc.interp.engine import run
from snnc.interp.kernel import Context
from snnc.ir import GraphBuilder
from snnc.ir.snn import CubaLIF, Linear, SparseLinear
from snnc.passes import get_pass
from snnc.ir.mapping import Mapping
from snnc.passes.place import position
from snnc.targets import get_target
from tests.netbuild import mlp, spikes

LOIHI = get_target("loihi")


def _run(g, x):
    return run(g, {"x": x}).outputs["y"]


@pytest.mark.parametrize("method, steps", [("euler", 410), ("exact", 390)])
def test_discretize_puts_every_decay_on_the_grid_and_is_idempotent(method, steps):
    g = mlp([5, 4], method=method, beta=0.9)
    out = get_pass("discretize")(g, LOIHI).graph
    ctx = Context(dt=g.dt, method=method)
    k = 4096 * (1 - ctx.decay(out.op("lif0").tau))
    assert np.allclose(k, np.rint(k), atol=1e-9) and np.all(np.rint(k) == steps)  # 4096·0.1, 4096·(1 − e^−0.1)
    again = get_pass("discretize")(out, LOIHI)
    assert again.graph == out and again.stats["max_decay_change"] < 1e-12


@pytest.mark.parametrize("method", ["euler", "exact"])
def test_discretize_keeps_the_input_gain(method):
    """Only the leak moves: (1 − α) r is the same before and after, so a one-tick response is equal."""
    g = mlp([5, 4], method=method, beta=0.9)
    out = get_pass("discretize")(g, LOIHI).graph
    ctx = Context(dt=g.dt, method=method)
    before, after = g.op("lif0"), out.op("lif0")
    assert np.allclose((1 - ctx.decay(before.tau)) * before.r, (1 - ctx.decay(after.tau)) * after.r, rtol=1e-12)


def test_discretize_on_grid_is_exact_by_the_interpreter():
    g = mlp([12, 9, 6], beta=0.875)                    # 0.875 = 1 − 512/4096 is on the grid
    out = get_pass("discretize")(g, LOIHI).graph
    x = spikes(40, 3, 12)
    assert np.array_equal(_run(g, x), _run(out, x))


def test_discretize_clamps_and_counts_an_unrepresentable_leak():
    g = mlp([3, 2], beta=0.99999)                      # 4096 · 1e-5 rounds to 0: no leak, no input
    res = get_pass("discretize")(g, LOIHI)
    assert res.stats["clamped"] == 2
    assert np.allclose(4096 * (1 - Context(dt=g.dt).decay(res.graph.op("lif0").tau)), 1)


def test_discretize_cuba_current_uses_the_current_offset_range():
    b = GraphBuilder(dt=1e-3)
    x = b.input("x", (2,))
    n = 2
    op = CubaLIF(tau_syn=np.full(n, 1e-3), tau_mem=np.full(n, 8e-3), r=np.ones(n), v_leak=np.zeros(n),
                 v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.ones(n))
    b.output("y", b.add("c", op, b.add("fc", Linear(weight=np.eye(2)), x)), (2,))
    out = get_pass("discretize")(b.build(), LOIHI).graph
    # euler, dt = τ_syn: α = 0 is D = 4096 (du = 4095, allowed for the current)
    assert np.allclose(out.op("c").tau_syn, 1e-3)


def test_prune_defaults_change_nothing():
    g = mlp([6, 5])
    res = get_pass("prune")(g, LOIHI)
    assert res.graph == g and res.stats["synapses_after"] == res.stats["synapses_before"] == 30


def test_prune_threshold_and_fan_in_cap_equal_masked_weights():
    g = mlp([10, 8], seed=3)
    w = g.op("fc0").weight
    res = get_pass("prune")(g, LOIHI, {"threshold": 0.2, "max_fan_in": 4})
    op = res.graph.op("fc0")
    assert isinstance(op, SparseLinear)
    assert np.all(np.diff(op.indptr) <= 4)
    kept = op.to_dense()
    assert np.all(np.abs(kept[kept != 0]) >= 0.2 * np.abs(w).max())
    masked = g.with_op("fc0", Linear(weight=np.where(kept != 0, w, 0.0)))
    x = spikes(30, 2, 10)
    assert np.array_equal(_run(res.graph, x), _run(masked, x))
    assert res.stats["per_layer"]["fc0"] == {"synapses_before": 80, "synapses_after": int(np.count_nonzero(kept))}


def test_place_snake_fills_tiles_and_refuses_too_many_cores():
    t = get_target("loihi1")                            # 8 x 4 tiles, 4 cores each
    assert [position(c, t).as_list() for c in (0, 3, 4, 15, 16, 127, 128)] == [
        [0, 0, 0, 0], [0, 0, 0, 3], [0, 0, 1, 0], [0, 0, 3, 3], [0, 1, 3, 0], [0, 7, 0, 3], [1, 0, 0, 0]]
    g = mlp([3, 2])
    g = g.replace(mapping=Mapping(cores={"lif0": 200}))
    with pytest.raises(ConstraintViolation) as e:
        get_pass("place")(g, t)
    assert str(e.value) == "graph: 201 cores > 128 (1 chip(s) x 128) allowed (loihi1.cores)"


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_place_gives_distinct_positions(n):
    t = get_target("loihi1")
    small = dataclasses.replace(t, chips=100)
    pos = {tuple(position(c, small).as_list()) for c in range(n % 300)}
    assert len(pos) == n % 300
    assert all(0 <= p[1] < 8 and 0 <= p[2] < 4 and 0 <= p[3] < 4 for p in pos)
