"""Partitioning as an optimisation (snnc.passes.partitioning, loihi-partition): the cost model is the
emitter's, every candidate is legal and keeps the integer run bit-exact, the spatial cut finds the
tiles of a feature map, the choice follows the measured traffic, and rates come from the interpreter."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import snnc
from snnc.artifact import run_mapped
from snnc.backends.loihi import rules
from snnc.backends.loihi.partition import axon_bits_table, problem_of
from snnc.errors import UsageError
from snnc.ir import GraphBuilder
from snnc.ir.snn import Conv2d, Flatten, Linear
from snnc.passes.manager import run_pipeline
from snnc.passes.partitioning import activity, external, orders, refine
from snnc.passes.partitioning.choose import STRATEGIES, candidates, choose
from snnc.passes.partitioning.cost import evaluate
from snnc.passes.partitioning.cut import CoreFill, cut_and_pack, repair
from snnc.targets import get_target
from tests.netbuild import lif, mlp, spikes

UPTO_QUANTIZE = ["discretize", "prune", "loihi-legalize", "loihi-quantize"]
LOIHI = get_target("loihi")


def small(target=LOIHI, **limits):
    return dataclasses.replace(target, core=dataclasses.replace(target.core, **limits))


def conv_net(seed: int = 0):
    """12² → 4@10² (3×3) → 8@4² (3×3, stride 2) → 5: the shape of the benchmark's conv net, small."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input("x", (1, 12, 12))

    def layer(name, shape, src):
        return b.add(name, lif(1).replace(**{k: np.full(shape, v) for k, v in (
            ("tau", 8e-3), ("r", 8.0), ("v_leak", 0.0), ("v_threshold", 1.0), ("v_reset", 0.0))}), src)

    h = layer("conv1", (4, 10, 10), b.add("c1", Conv2d(weight=rng.standard_normal((4, 1, 3, 3)) * 1.5,
                                                         bias=np.zeros(4)), x))
    h = layer("conv2", (8, 4, 4), b.add("c2", Conv2d(weight=rng.standard_normal((8, 4, 3, 3)) * 0.6,
                                                       bias=np.zeros(8), stride=(2, 2)), h))
    fc = b.add("fc", Linear(weight=rng.standard_normal((5, 128)) * 0.4), b.add("flat", Flatten(), h))
    b.output("y", b.add("out", lif(5), fc), (5,))
    return b.build()


CONV_LIMITS = dict(neurons=96, input_axons=160, output_axons=400, synapse_memory_bits=60_000)


@pytest.fixture(scope="module")
def conv():
    g = conv_net()
    t = small(**CONV_LIMITS)
    q = run_pipeline(g, t, pipeline=UPTO_QUANTIZE).graph
    pops = [n for n in q.schedule() if type(q.op(n)).__name__ == "Cuba"]
    return g, t, q, problem_of(q, t, activity.rates(q, pops, None)).problem


def _raw(graph, x):
    return run_mapped(graph, {"x": x}, raw=True, layers=True)


# -- the cost model is the emitter's ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["loihi", "loihi1"])
def test_the_synapse_table_is_the_targets_cost_model(name):
    enc = get_target(name).synapse_encoding
    for sparse in (False, True):
        for delays in (False, True):
            table = axon_bits_table(enc, 300, sparse=sparse, delays=delays)
            assert table.tolist() == [enc.axon_bits(k, sparse=sparse, delays=delays) for k in range(301)]


def test_evaluated_loads_are_what_the_emitted_cores_hold(conv):
    """The partitioner's count of every resource of every core equals what the artifact stores."""
    g, t, q, problem = conv
    art = snnc.compile(g, t, loihi_partition={"strategy": "spatial"})
    part = art.graph
    vertex = {pop: problem.vertices(i) for i, pop in enumerate(
        [grp.name for grp in problem.groups if grp.placed])}
    assign = np.empty(problem.n, np.int64)
    for node, p in part.mapping.parts.items():
        assign[vertex[p.population][p.indices()]] = part.mapping.cores[node]
    ev = evaluate(problem, assign)
    for core in rules.read_cores(art):
        assert ev.loads[core.index].tolist() == [core.neurons, core.input_axons, core.output_axons,
                                                 core.synapse_bits(t)], core.index
    assert ev.legal


# -- every strategy: legal, bit-exact, decoded as emitted -------------------------------------------
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_is_legal_and_keeps_the_run_bit_exact(conv, strategy):
    g, t, q, _ = conv
    if strategy in ("kahypar", "metis") and not external.available({"kahypar": "mtkahypar", "metis": "pymetis"}
                                                                  [strategy]):
        pytest.skip(f"{strategy} is not installed")
    art = snnc.compile(g, t, loihi_partition={"strategy": strategy})
    stats = next(p for p in art.manifest["passes"] if p["name"] == "loihi-partition")["stats"]
    assert stats["partitioner"].startswith(strategy)
    assert stats["cores"] > 3                                       # the limits force real splits
    report = snnc.verify(art)
    assert report.ok, report
    x = spikes(20, 2, 144).reshape(20, 2, 1, 12, 12)
    want_out, want = _raw(q, x)
    got_out, got = _raw(art.graph, x)
    assert all(np.array_equal(want_out[k], got_out[k]) for k in want_out)
    assert all(np.array_equal(want[k], got[k]) for k in want)


def test_a_spatial_partition_round_trips_through_its_files(conv, tmp_path):
    """Parts holding runs of neurons are written and read back: same bytes, bit-exact against the lowering."""
    g, t, _, _ = conv
    art = snnc.compile(g, t, loihi_partition={"strategy": "spatial"})
    runs = [p for p in art.graph.mapping.parts.values() if p.runs]
    assert runs, "a tile of a feature map is no contiguous range of its channel-major neurons"
    art.save(tmp_path / "a")
    back = snnc.load_artifact(tmp_path / "a")
    emitted = back.backend.emit(back.graph, back.target).files
    assert all(emitted[k] == art.files[k] for k in emitted)
    x = spikes(20, 2, 144).reshape(20, 2, 1, 12, 12)
    (want_out, want), (got_out, got) = _raw(art.graph, x), _raw(back.graph, x)
    assert set(got) == set(want) and all(np.array_equal(want[k], got[k]) for k in want)
    assert all(np.array_equal(want_out[k], got_out[k]) for k in want_out)
    assert back.graph.mapping.parts == art.graph.mapping.parts


# -- the spatial cut -----------------------------------------------------------------------------------
def test_convolutions_take_the_positions_of_their_receptive_fields(conv):
    _, _, _, problem = conv
    pos, known = orders.positions(problem)
    c1 = problem.vertices(0)
    assert known[c1].all()
    # conv1 neuron (c, h, w) sees input pixels h..h+2, w..w+2 of 12: its centre is ((h + 1.5) / 12, ...)
    h, w = np.divmod(np.arange(100), 10)
    expect = np.stack([(h + 1.5) / 12, (w + 1.5) / 12], axis=1)
    assert np.allclose(pos[c1[:100]], expect) and np.allclose(pos[c1[100:200]], expect)
    assert not known[problem.vertices(2)].any()                     # the dense layer has no position


def test_the_spatial_cut_sends_less_than_slicing_channels(conv):
    _, _, _, problem = conv
    by = {c.name: c for c in candidates(problem, ("contiguous", "spatial"))}
    assert by["spatial"].evaluation.traffic < 0.6 * by["contiguous"].evaluation.traffic
    assert by["spatial"].cores <= by["contiguous"].cores


def test_hilbert_order_visits_neighbouring_cells():
    y, x = np.divmod(np.arange(64), 8)
    d = orders.hilbert(y, x, 3)
    assert sorted(d.tolist()) == list(range(64))
    inv = np.argsort(d)
    assert np.all(np.abs(np.diff(y[inv])) + np.abs(np.diff(x[inv])) == 1)


# -- repair and refinement -----------------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12))
def test_repair_makes_any_blocks_legal(conv, seed, k):
    _, _, _, problem = conv
    blocks = np.random.default_rng(seed).integers(0, k, problem.n)
    assign, ev, _ = repair(problem, blocks)
    assert ev.legal and evaluate(problem, assign).legal
    assert len(assign) == problem.n


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000))
def test_refinement_keeps_every_core_legal_and_never_adds_traffic(conv, seed):
    _, _, _, problem = conv
    blocks = np.random.default_rng(seed).integers(0, 6, problem.n)
    assign, ev, _ = repair(problem, blocks)
    better, info = refine.refine(problem, assign, ev.cores, passes=2)
    after = evaluate(problem, better, ev.cores)
    assert after.legal
    assert after.traffic <= ev.traffic + 1e-9
    assert info["traffic_after"] == pytest.approx(after.traffic)


def test_a_move_updates_every_count_as_a_fresh_evaluation_does(conv):
    _, _, _, problem = conv
    assign, ev, _ = cut_and_pack(problem, orders.natural(problem))
    st_ = refine.State(problem, assign, ev.cores)
    rng = np.random.default_rng(5)
    for v in rng.choice(problem.n, 40, replace=False):
        st_.move(int(v), int(rng.integers(ev.cores)))
        fresh = evaluate(problem, st_.assign, ev.cores)
        assert np.array_equal(st_.loads, fresh.loads)
        assert st_.traffic() == pytest.approx(fresh.traffic)


def test_the_choice_is_the_cheapest_within_the_core_slack(conv):
    _, _, _, problem = conv
    choice = choose(problem, strategies=("contiguous", "spatial"), passes=0)
    fewest = min(c.cores for c in choice.candidates)
    allowed = [c for c in choice.candidates if c.cores <= max(fewest, int(fewest * 1.05))]
    assert choice.best.evaluation.traffic == min(c.evaluation.traffic for c in allowed)
    assert choice.stats()["lower_bound_cores"] <= choice.best.cores


def test_the_lower_bound_holds_for_every_candidate(conv):
    _, _, _, problem = conv
    lb = problem.lower_bound()
    for c in candidates(problem, ("contiguous", "spatial")):
        for i, r in enumerate(("neurons", "input_axons", "output_axons", "synapse_bits")):
            assert c.evaluation.loads[:, i].sum() <= c.cores * getattr(problem.limits, r)
        assert c.cores >= lb["cores"]


def test_a_core_fill_counts_what_evaluate_counts(conv):
    _, _, _, problem = conv
    fill = CoreFill(problem, np.zeros(problem.n))
    v = problem.vertices(1)[:30]
    for x in v:
        fill.add(int(x), fill.delta(int(x)))
    assign = np.ones(problem.n, np.int64)
    assign[v] = 0
    ev = evaluate(problem, assign, 2)
    assert fill.load[[0, 1, 3]].tolist() == ev.loads[0, [0, 1, 3]].tolist()


# -- rates ---------------------------------------------------------------------------------------------
def test_calibration_rates_are_the_interpreters_spike_counts():
    g = mlp([12, 9, 4], gain=3.0)
    q = run_pipeline(g, LOIHI, pipeline=UPTO_QUANTIZE).graph
    x = spikes(25, 3, 12)
    r = activity.rates(q, ["lif0", "lif1"], activity.InputData(x))
    m = q.mapping.replace(parts={"lif0": snnc.ir.mapping.PartOf("lif0", 0, 9),
                                 "lif1": snnc.ir.mapping.PartOf("lif1", 0, 4)})
    _, layers = run_mapped(q.replace(mapping=m), {"x": x}, raw=True, layers=True)
    assert np.allclose(r["lif0"], layers["lif0"].mean(axis=(0, 1)))
    assert np.allclose(r["x"], x.mean(axis=(0, 1)))
    assert activity.rates(q, ["lif0"], None, 0.25)["lif0"].tolist() == [0.25] * 9


def test_calibration_inputs_weight_the_traffic_and_are_recorded_by_digest():
    g = mlp([12, 40, 4], gain=3.0)
    x = spikes(25, 3, 12)
    t = small(neurons=16)
    art = snnc.compile(g, t, loihi_partition={"calibration": x})
    p = next(p for p in art.manifest["passes"] if p["name"] == "loihi-partition")
    assert p["options"]["calibration"]["shape"] == [25, 3, 12] and len(p["options"]["calibration"]["sha256"]) == 64
    assumed = snnc.compile(g, t)
    traffic = {a: next(p for p in a.manifest["passes"] if p["name"] == "loihi-partition")["stats"]["traffic"]
               for a in (art, assumed)}
    assert traffic[art] != traffic[assumed]


def test_bad_calibration_inputs_are_refused():
    with pytest.raises(UsageError, match=r"calibration inputs must be \[T, B, \*input_shape\] with T, B >= 1, "
                                         r"got shape \[4, 12\]"):
        activity.InputData(np.zeros((4, 12)))
    with pytest.raises(UsageError, match="calibration inputs hold NaN or infinite values"):
        activity.InputData(np.full((2, 1, 3), np.nan))


# -- the mapping record --------------------------------------------------------------------------------
def test_parts_with_runs_round_trip_and_are_checked():
    from snnc.errors import MalformedInputError
    from snnc.ir.mapping import Layer, Mapping, PartOf, Piece, runs_of
    runs = runs_of([2, 3, 4, 9, 11, 12])
    assert runs == ((2, 5), (9, 10), (11, 13))
    p = PartOf("lif0", 2, 6, 0, runs)
    assert p.indices().tolist() == [2, 3, 4, 9, 11, 12]
    m = Mapping(layers={"lif0": Layer(1, shape=(2, 8))}, parts={"lif0.0": p})
    back = Mapping.from_json(m.to_json())
    assert back == m and back.to_json()["parts"]["lif0.0"] == ["lif0", 2, 6, 0, [[2, 5], [9, 10], [11, 13]]]
    assert Piece("y.0", 2, 6, runs).indices().tolist() == [2, 3, 4, 9, 11, 12]
    with pytest.raises(MalformedInputError, match=r"mapping\.parts\.a: expected runs \[\[start, stop\], \.\.\.\]"):
        Mapping.from_json({"parts": {"a": ["lif0", 0, 2, 0, [[0, 1, 2]]]}})


def test_a_population_must_be_held_without_gaps_or_overlaps():
    g = mlp([6, 8, 3])
    art = snnc.compile(g, small(neurons=4))
    m = art.graph.mapping
    name = next(n for n, p in m.parts.items() if p.population == "lif0" and p.offset == 4)
    moved = dict(m.parts)
    moved[name] = snnc.ir.mapping.PartOf("lif0", 5, 4)             # neuron 4 now on no node, 8 beyond the layer
    problems = [msg for msg in m.replace(parts=moved).verify(art.graph) if isinstance(msg, tuple)]
    assert (name, "mapping.parts: neurons [4, 5) of 'lif0' are held by no node") in problems
    bad = dict(m.parts)
    bad[name] = snnc.ir.mapping.PartOf("lif0", 4, 4, 0, ((4, 6), (6, 8)))   # adjacent runs are not canonical
    messages = [x[1] if isinstance(x, tuple) else x for x in m.replace(parts=bad).verify(art.graph)]
    assert any("are not sorted, non-empty, disjoint, non-adjacent ranges" in msg for msg in messages)
