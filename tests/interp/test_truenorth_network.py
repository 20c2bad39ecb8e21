"""A mapped TrueNorth network stepped as regions (backends/truenorth/network.py) against the
node-by-node reference (`run(..., fuse=False)`): compiled graphs with input duplication,
neuron copies, splitters and partial sums, and random meshes with feedback, delays, copied
cores, several axons per input, OR-ed axons, stochastic cores in the middle and probes."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import snnc
from snnc.backends.truenorth import network
from snnc.backends.truenorth.ops import Core, Route
from snnc.backends.truenorth.region import regions
from snnc.interp.fusion import convex_pieces
from snnc.interp.kernel import Context
from snnc.interp.plan import build_plan
from snnc.ir.graph import GraphBuilder
from tests.backends.truenorth.nets import chain, rates
from tests.interp.test_fused import runs_agree, tn_core


def network_groups(graph, batch=2, record=()):
    plan = build_plan(graph, Context(dt=graph.dt), batch, record=tuple(record))
    return [g for g, *_ in plan.immediate if isinstance(g, network.NetworkGroup)]


def region_cores(graph, batch=2, record=()):
    return {m for g in network_groups(graph, batch, record) for m in g.members if isinstance(graph.op(m), Core)}


# -- compiled networks -----------------------------------------------------------------------------
def compiled(fan_out: str, duplication: int, seed: int = 0):
    """90 → 40 → 6 IF neurons: 90 inputs on D axons each exceed a core's 256 axons for D ≥ 3
    (partial sums, whose ± pairs over an input group make dense blocks); the first layer's
    neurons reach both later cores (copies or splitters)."""
    rng = np.random.default_rng(seed)
    g = chain([rng.normal(0, 0.3, (40, 90)), rng.normal(0, 0.4, (6, 40))], theta=1.0,
              skip=(0, 1, rng.normal(0, 0.4, (6, 40))))
    return snnc.compile(g, "truenorth", truenorth_partition={"fan_out": fan_out},
                        truenorth_encode={"duplication": duplication}).graph


@pytest.mark.parametrize("fan_out", ["copies", "splitter"])
@pytest.mark.parametrize("duplication", [1, 4])
def test_compiled_networks_step_as_one_region_bit_exactly(fan_out, duplication):
    g = compiled(fan_out, duplication)
    cores = {n for n in g.nodes if isinstance(g.op(n), Core)}
    assert region_cores(g) == cores                                 # every core in a region
    parts = sorted(g.mapping.parts)
    out = runs_agree(g, {"x": rates(30, 3, 90, p=0.3).astype(np.int64)}, record=parts + [f"{parts[0]}:v"])
    assert sum(int(v.sum()) for v in out.values()) > 0


def test_the_analysis_folds_duplicated_axons_and_merges_copies_and_signed_pairs():
    g = compiled("copies", 4)
    (group,) = network_groups(g)
    w, c, st = network.analysis(g, frozenset(group.members), list(group.members), set())
    axons = sum(len(w.entries[k][0]) for k in w.cores)
    neurons = sum(g.op(k).neurons for k in w.cores)
    assert len(c) < neurons                                        # copies are one class
    assert len(c.keys) < sum(int(g.op(k).crossbar.sum()) for k in w.cores)   # D axons of one input: one row
    assert sum(s.n_cols for s in st.stages) < len(c)               # ± partial pairs share a column
    assert axons > 0


# -- random meshes -----------------------------------------------------------------------------------
def route(rng, n_in, n_axons, k, *, delays=(1, 4), unique_axons=True):
    axon = rng.choice(n_axons, k, replace=False) if unique_axons else rng.integers(0, n_axons, k)
    return Route(source=rng.integers(0, n_in, k), axon=axon, delay=rng.integers(*delays, k), n_in=n_in,
                 n_axons=n_axons)


def mesh(seed, *, stochastic_middle=False, or_axons=False, feedback=True):
    """x → 2 cores (core 0.1 a copy of core 0.0: same op, same route) → core 0.2 → 3 cores → outputs;
    layer-1 cores (18 axons) read each input on two axons; core 1.2 feeds back into core 0.2
    through a recurrent edge; outputs read a route, a core directly, and a route recurrently.
    `or_axons`: layer-1 routes with random axons, so that different entries reach one axon."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    b.input("x", (10,))
    first, into_first = tn_core(rng, 10, 10), route(rng, 10, 10, 10, delays=(0, 2))
    b.add("c0.0", first)
    b.add("c0.1", first)
    b.add("c0.2", tn_core(rng, 14, 10, stochastic=stochastic_middle, prng_seed=5))
    for c in range(2):
        b.connect(b.add(f"x.to.c0.{c}", into_first, "x"), f"c0.{c}")
    middle = Route(source=rng.integers(0, 10, 10), axon=rng.permutation(10), delay=rng.integers(1, 3, 10), n_in=10,
                   n_axons=14)                                   # axons 10 … 13 are the feedback's
    b.connect(b.add("c0.0.to.c0.2", middle, "c0.0"), "c0.2")
    for d in range(3):
        b.add(f"c1.{d}", tn_core(rng, 18, 10))
    for s in range(3):
        for d in range(3):
            dup = Route(source=np.repeat(rng.integers(0, 10, 3), 2), axon=6 * s + np.arange(6),
                        delay=np.repeat(rng.integers(1, 3, 3), 2), n_in=10, n_axons=18)
            r = route(rng, 10, 18, 6, unique_axons=False) if or_axons else dup
            b.connect(b.add(f"c0.{s}.to.c1.{d}", r, f"c0.{s}"), f"c1.{d}")
    if feedback:
        back = Route(source=rng.integers(0, 10, 4), axon=np.arange(10, 14), delay=rng.integers(0, 3, 4), n_in=10,
                     n_axons=14)
        b.connect(b.add("back", back, "c1.2"), "c0.2", recurrent=True)
    b.add("out.route", route(rng, 10, 6, 8, delays=(0, 3), unique_axons=False), "c1.0")
    b.output("y", "out.route", (6,))
    b.output("z", "c1.1", (10,))
    b.add("late.route", route(rng, 10, 4, 5, delays=(0, 2), unique_axons=False), "c1.2")
    b.output("w", "late.route", (4,))
    g = b.build()
    return g.replace(edges=[dataclasses.replace(e, recurrent=True) if e.src == "late.route" else e for e in g.edges])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("variant", [{}, {"stochastic_middle": True}, {"or_axons": True}, {"feedback": False}])
@pytest.mark.parametrize("rate", [0.1, 0.6])
def test_random_meshes_equal_the_reference(seed, variant, rate):
    g = mesh(seed, **variant)
    x = rates(25, 3, 10, p=rate, seed=seed).astype(np.int64)
    record = ["c1.0", "c0.1:v", "c1.2:v"]
    assert region_cores(g, 3, record)                               # some cores step as a region
    out = runs_agree(g, {"x": x}, seed=7, record=record)
    assert sum(int(v.sum()) for v in out.values()) > 0


@pytest.mark.parametrize("batch", [1, 2, 9])                     # spike by spike, and by matmul
def test_batch_sizes_take_both_summing_paths(batch):
    g = compiled("copies", 4, seed=3)
    (group,) = network_groups(g, batch)
    assert any("block" in p and p["linear"] for s in group.stages for p in s["parts"]) or \
        any(s["packed"] is not None for s in group.stages)        # dense blocks of partial-sum neurons
    every_v = [f"{n}:v" for n in g.nodes if isinstance(g.op(n), Core)]      # partial sums' floors show in V
    out = runs_agree(g, {"x": rates(20, batch, 90, p=0.4, seed=batch).astype(np.int64)}, record=every_v)
    assert sum(int(v.sum()) for v in out.values()) > 0


def test_a_copied_core_is_one_set_of_classes():
    g = mesh(1)
    (group,) = network_groups(g)
    w, c, _ = network.analysis(g, frozenset(group.members), list(group.members), set())
    first = [c.of[w.core_offset[k] - c.n_in + np.arange(10)] for k in ("c0.0", "c0.1")]
    assert np.array_equal(first[0], first[1])                       # c0.1 is c0.0's copy


def test_a_stochastic_core_steps_on_its_own_and_cuts_the_region_it_sits_in():
    g = mesh(1, stochastic_middle=True)
    groups = network_groups(g)
    assert "c0.2" not in {m for grp in groups for m in grp.members}
    assert len(groups) == 2                              # c0.0 → c0.2 → c1.*: c0.2 runs between the two
    assert {"c0.0", "c0.1", "c1.0", "c1.1", "c1.2"} <= region_cores(g)


def test_cores_whose_axon_two_entries_reach_stay_out_of_regions():
    b = GraphBuilder()
    b.input("x", (4,))
    rng = np.random.default_rng(0)
    b.add("c", tn_core(rng, 4, 4))
    b.add("r", Route(source=np.array([0, 1]), axon=np.array([2, 2]), delay=np.array([0, 1]), n_in=4, n_axons=4), "x")
    b.connect("r", "c")
    b.output("y", "c", (4,))
    g = b.build()
    assert regions(g, ["r", "c"], set()) == []
    runs_agree(g, {"x": rates(10, 2, 4, p=0.5).astype(np.int64)})


def test_strict_mode_runs_cores_on_their_own_steppers():
    g = compiled("copies", 4)
    plan = build_plan(g, Context(dt=g.dt, strict=True), 2)
    assert not [grp for grp, *_ in plan.immediate if isinstance(grp, network.NetworkGroup)]


def test_convex_pieces_cut_a_region_around_an_outside_node():
    """a → x → b with x outside: {a, b} is not convex (x would run between them)."""
    b = GraphBuilder()
    b.input("in", (4,))
    rng = np.random.default_rng(0)
    ident = dict(source=np.arange(4), axon=np.arange(4), delay=np.ones(4, np.int64), n_in=4, n_axons=4)
    b.add("a", tn_core(rng, 4, 4), b.add("r0", Route(**ident), "in"))
    b.add("x", tn_core(rng, 4, 4, stochastic=True), b.add("r1", Route(**ident), "a"))
    b.add("b", tn_core(rng, 4, 4), b.add("r2", Route(**ident), "x"))
    b.output("y", "b", (4,))
    g = b.build()
    assert convex_pieces(g, {"r0", "a", "r1", "r2", "b"}) == [frozenset({"r0", "a", "r1"}), frozenset({"r2", "b"})]
    assert sorted(map(sorted, regions(g, ["r0", "a", "r1", "x", "r2", "b"], set()))) == [["a", "r0", "r1"],
                                                                                          ["b", "r2"]]
    runs_agree(g, {"in": rates(12, 2, 4, p=0.5).astype(np.int64)}, seed=3)


def test_hash_collisions_fall_back_to_exact_signatures(monkeypatch):
    """Every column hashing alike (as if all collided) must still give the exact classes."""
    from snnc.backends.truenorth import rows
    g = compiled("copies", 4)
    (group,) = network_groups(g)
    want = network.analysis(g, frozenset(group.members), list(group.members), set())
    monkeypatch.setattr(rows, "linear_hash", lambda w, keys: np.zeros(w.shape[1], np.uint64))
    monkeypatch.setattr(rows, "row_hash", lambda ptr, keys, vals, scale=None: np.zeros(len(ptr) - 1, np.uint64))
    from snnc.backends.truenorth import classes
    calls = []
    monkeypatch.setattr(classes, "_exact", lambda *a, _f=classes._exact: calls.append(1) or _f(*a))
    g2 = compiled("copies", 4)                                      # a fresh graph: nothing cached
    w, c, st = network.analysis(g2, frozenset(group.members), list(group.members), set())
    assert calls                                                    # the exact refinement ran
    assert np.array_equal(c.of, want[1].of) and np.array_equal(c.keys, want[1].keys)
    assert [s.n_cols for s in st.stages] == [s.n_cols for s in want[2].stages]
    runs_agree(g2, {"x": rates(20, 2, 90, p=0.3).astype(np.int64)})


def test_rings_read_without_a_table_give_the_same_run(monkeypatch):
    """Rings whose least common multiple is large are read tick by tick instead of tabled."""
    monkeypatch.setattr(network._Reader, "PERIOD_TABLED", 1)
    runs_agree(mesh(2), {"x": rates(20, 3, 10, p=0.4, seed=2).astype(np.int64)}, record=["c1.2:v"])
