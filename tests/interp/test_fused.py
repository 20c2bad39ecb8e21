"""Fused groups (snnc.interp.fusion) give bit for bit the run of every node on its own stepper.

Each test builds randomized chip-dialect graphs (partitioned layers, recurrence, delays,
graded payloads, negative row exponents, stochastic TrueNorth cores with a fixed seed) and
runs them three ways: unfused (`fuse=False`, the steppers of backends/*/steps.py), fused on
numpy (`jit=False`) and fused with compiled kernels where numba is installed.
"""
from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.backends.loihi.ops import Cuba, Dense
from snnc.backends.truenorth.ops import Core, Route
from snnc.errors import SimulationError
from snnc.interp import jit
from snnc.interp.engine import run
from snnc.interp.plan import build_plan
from snnc.interp.kernel import Context
from snnc.ir.graph import GraphBuilder
from tests.backends.truenorth.nets import chain, rates, ternary

WAYS = [dict(fuse=False), dict(fuse=True, jit=False), dict(fuse=True, jit=True)]


def runs_agree(graph, xs, **kw):
    """Run all three ways; assert equal outputs and recordings; return the unfused outputs."""
    results = [run(graph, xs, **kw, **way) for way in WAYS]
    ref = results[0]
    for way, res in zip(WAYS[1:], results[1:]):
        for k in ref.outputs:
            assert np.array_equal(ref.outputs[k], res.outputs[k]), (way, k)
        for k in ref.recorded:
            assert np.array_equal(ref.recorded[k], res.recorded[k]), (way, k)
    return ref.outputs


def fused_group_count(graph, batch=2):
    plan = build_plan(graph, Context(dt=graph.dt), batch)
    groups = [g for g, *_ in plan.immediate] + [g for g, _ in plan.delayed]
    return sum(len(g.members) > 1 for g in groups)


# -- Loihi -----------------------------------------------------------------------------------------
def cuba_part(rng, n, *, reset_mode="zero", graded=False, refractory=True):
    i = lambda lo, hi: rng.integers(lo, hi, n)  # noqa: E731
    return Cuba(du=i(-1, 4096), dv=i(0, 4096), vth_mant=i(1, 40), bias_mant=i(-20, 20), bias_exp=i(-2, 3),
                refractory=i(0, 3) if refractory else np.zeros(n, np.int64), reset_mode=reset_mode, graded=graded)


def dense_block(rng, n_out, n_in, *, graded=False, exp=(-2, 3), delay=False):
    w = rng.integers(-128, 128, (n_out, n_in)) * (rng.random((n_out, n_in)) < 0.7)
    d = rng.integers(0, 3, (n_out, n_in)) if delay else 0
    return Dense(weight=w, weight_exp=rng.integers(*exp, n_out), delay=d, graded=graded)


def partitioned_loihi(seed, *, parts=(3, 2), sizes=(12, 10, 7), recurrent=False, delay=False,
                      graded=False, exp=(-2, 3), reset_mode="zero"):
    """input → layers of `parts[k]` core parts each, every source part × destination part a block;
    with `recurrent`, layer 0 also feeds itself (a cycle through delayed synapses)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    b.input("x", (sizes[0],))
    sources = [("x", sizes[0])]
    for k, (n, p) in enumerate(zip(sizes[1:], parts)):
        cut = np.array_split(np.arange(n), p)
        names = [f"l{k}.{i}" for i in range(p)]
        for name, idx in zip(names, cut):
            b.add(name, cuba_part(rng, len(idx), reset_mode=reset_mode, graded=graded and k == 0))
        feeds = sources + ([(nm, len(idx)) for nm, idx in zip(names, cut)] if recurrent and k == 0 else [])
        for src, n_in in feeds:
            g_in = graded and src.startswith("l0")
            for name, idx in zip(names, cut):
                blk = b.add(f"{src}.to.{name}", dense_block(rng, len(idx), n_in, graded=g_in, exp=exp,
                                                          delay=delay and rng.random() < 0.5), src)
                b.connect(blk, name)
        sources = [(nm, len(idx)) for nm, idx in zip(names, cut)]
    for name, n in sources:
        b.output(f"y.{name}", name, (n,))
    return b.build()


def spikes(T, B, n, seed, p=0.4):
    return (np.random.default_rng(seed).random((T, B, n)) < p).astype(np.int64)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("variant", [
    {}, {"recurrent": True}, {"delay": True}, {"graded": True}, {"exp": (-3, 0)}, {"exp": (0, 3)},
    {"reset_mode": "subtract", "recurrent": True},
])
def test_partitioned_loihi_layers_fused_equal_unfused(seed, variant):
    g = partitioned_loihi(seed, **variant)
    assert fused_group_count(g) >= 2                     # the layers really are stepped as groups
    out = runs_agree(g, {"x": spikes(30, 3, 12, seed)}, record=["l0.1", "l0.0:v", "l1.1:u"])
    assert sum(int(np.abs(v).sum()) for v in out.values()) > 0


def test_a_compiled_loihi_network_runs_fused_bit_exactly():
    from tests.netbuild import mlp
    g = mlp((400, 300, 20), seed=3)
    art = snnc.compile(g, "loihi")
    x = spikes(25, 2, 400, 7, p=0.3)
    assert fused_group_count(art.graph) >= 2
    runs_agree(art.graph, {"x": x})


def test_strict_overflow_in_a_fused_layer_names_the_part_node_and_neuron():
    b = GraphBuilder()
    b.input("x", (2,))
    big = Cuba(du=np.full(3, -1), dv=np.zeros(3, np.int64), vth_mant=np.full(3, 1 << 16), bias_mant=np.zeros(3, np.int64),
               bias_exp=np.zeros(3, np.int64), refractory=np.zeros(3, np.int64))
    for name in ("a", "b"):
        b.add(name, big)
        blk = b.add(f"x.to.{name}", Dense(weight=np.full((3, 2), 255), weight_exp=np.array([0, 0, 7])), "x")
        b.connect(blk, name)
        b.output(f"y{name}", name, (3,))
    g = b.build()
    assert fused_group_count(g) == 2
    messages = []
    for way in WAYS:
        with pytest.raises(SimulationError) as err:
            run(g, {"x": np.ones((40, 1, 2), np.int64)}, strict=True, **way)
        messages.append(str(err.value))
    assert messages[0] == "node 'a' (loihi.cuba) tick 2, sample 0, neuron 2: voltage v = 12533760 saturates " \
                          "(limit ±8388607) (strict mode)"
    assert messages == [messages[0]] * len(WAYS)


# -- TrueNorth -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fan_out", ["copies", "splitter"])
def test_compiled_truenorth_network_runs_fused_bit_exactly(fan_out):
    rng = np.random.default_rng(0)
    g = chain([ternary(rng, 8, 10), ternary(rng, 6, 8), ternary(rng, 5, 6)], theta=2.0,
              skip=(0, 2, ternary(rng, 5, 8)))
    art = snnc.compile(g, "truenorth", truenorth_partition={"fan_out": fan_out})
    assert fused_group_count(art.graph) >= 1
    out = runs_agree(art.graph, {"x": rates(40, 3, 10, p=0.5).astype(np.int64)})
    assert sum(int(v.sum()) for v in out.values()) > 10


def tn_core(rng, A, N, *, stochastic=False, prng_seed=0):
    return Core(crossbar=(rng.random((A, N)) < 0.5).astype(np.int64), axon_type=rng.integers(0, 4, A),
                weight=rng.integers(-6, 7, (N, 4)),
                stochastic_weight=(rng.random((N, 4)) < 0.5).astype(np.int64) if stochastic else np.zeros((N, 4), np.int64),
                leak=rng.integers(-2, 3, N), leak_reversal=rng.integers(0, 2, N),
                stochastic_leak=rng.integers(0, 2, N) if stochastic else np.zeros(N, np.int64),
                alpha=rng.integers(1, 12, N), beta=rng.integers(0, 8, N),
                threshold_mask_bits=rng.integers(0, 3, N) if stochastic else np.zeros(N, np.int64),
                reset_mode=rng.integers(0, 3, N), saturate=rng.integers(0, 2, N), reset_value=rng.integers(-3, 4, N),
                membrane_bits=int(rng.integers(6, 20)), prng_seed=prng_seed)


def truenorth_mesh(seed, *, stochastic_every=0):
    """Two layers of 3 cores each (A=N=8); every core of layer 0 routes to every core of layer 1
    with random delays; every `stochastic_every`-th core is stochastic."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    b.input("x", (8,))
    layers, k = [], 0
    for layer in range(2):
        names = []
        for c in range(3):
            k += 1
            stoch = bool(stochastic_every) and k % stochastic_every == 0
            names.append(b.add(f"c{layer}.{c}", tn_core(rng, 8, 8, stochastic=stoch, prng_seed=k)))
        layers.append(names)
    for c in layers[0]:
        r = b.add(f"x.to.{c}", Route(source=np.arange(8), axon=np.arange(8), delay=np.zeros(8, np.int64),
                                   n_in=8, n_axons=8), "x")
        b.connect(r, c)
    for src in layers[0]:
        for dst in layers[1]:
            r = b.add(f"{src}.to.{dst}", Route(source=rng.integers(0, 8, 6), axon=rng.integers(0, 8, 6),
                                              delay=rng.integers(1, 4, 6), n_in=8, n_axons=8), src)
            b.connect(r, dst)
    for c in layers[1]:
        b.output(f"y.{c}", c, (8,))
    return b.build()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("stochastic_every", [0, 2])
@pytest.mark.parametrize("rate", [0.02, 0.5])          # cores summed spike by spike, and by matmul
def test_truenorth_cores_and_routes_fused_equal_unfused(seed, stochastic_every, rate):
    g = truenorth_mesh(seed, stochastic_every=stochastic_every)
    assert fused_group_count(g) >= 1                   # a region of cores and routes, or groups by depth
    x = rates(30, 3, 8, p=rate, seed=seed).astype(np.int64)
    out = runs_agree(g, {"x": x}, seed=11, record=["c1.0:v", "c0.1"])
    assert sum(int(v.sum()) for v in out.values()) > 0


def test_compiled_kernels_are_available_where_numba_is_installed():
    pytest.importorskip("numba")
    assert jit.available()
    from snnc.backends.loihi import fused as loihi_fused
    from snnc.backends.truenorth import fused as tn_fused
    assert loihi_fused._cuba_kernel is not None and tn_fused._core_kernel is not None


def test_a_population_split_over_more_cores_steps_as_the_same_groups():
    """Partitioning adds nodes, not per-tick steps: 1 and 6 core parts plan the same groups."""
    counts = []
    for parts in (1, 6):
        g = partitioned_loihi(4, parts=(parts, 1), sizes=(20, 30, 5), exp=(0, 2))
        plan = build_plan(g, Context(dt=g.dt), 2)
        counts.append((len(plan.immediate), len(plan.delayed)))
        runs_agree(g, {"x": spikes(10, 2, 20, 4)})
    assert counts[0] == counts[1] == (1, 2)
