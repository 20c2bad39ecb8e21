"""Placement on the mesh and across chips: recursive bisection and local search beat the snake fill,
the figures the manifest records are right, and multi-chip systems are target data."""
import dataclasses
import json

import numpy as np
import pytest

import snnc
from snnc.errors import MalformedInputError, UsageError
from snnc.passes import placement
from snnc.passes.place import chip_hops, position
from snnc.passes.registry import get_pass
from snnc.targets import DATA_DIR, get_target, load_target_file
from tests.netbuild import mlp
from tests.passes.test_partition import CONV_LIMITS, conv_net, small

LOIHI = get_target("loihi")


def _mesh(chips=1, layout=(1, 1), rows=4, cols=4, per_tile=2, inter=8.0):
    return placement.Mesh(chips, layout, rows, cols, per_tile, rows * cols * per_tile, inter)


def test_report_counts_hops_links_and_chip_crossings():
    mesh = _mesh(chips=2, layout=(1, 2))
    pos = np.array([[0, 0, 0, 0], [0, 0, 2, 1], [1, 3, 3, 0]])
    W = np.array([[0, 2.0, 1.0], [3.0, 0, 0], [0, 0, 0]])
    r = placement.report(W, pos, mesh)
    assert r["mean_hops"] == 2.0 and r["weighted_hops"] == 10.0      # 2 + 3 messages over 2 tile hops
    assert r["inter_chip_messages"] == 1.0 and r["messages_per_tick"] == 6.0
    assert r["max_link_load"] == 3.0                                 # core 1 → core 0, both links westwards
    assert placement.cost(W, pos, mesh) == 2 * 2 + 3 * 2 + 1 * (6 + 8)


def test_local_search_lowers_the_cost_and_keeps_slots_distinct():
    rng = np.random.default_rng(0)
    mesh = _mesh()
    K = 20
    W = rng.random((K, K)) * (rng.random((K, K)) < 0.3)
    np.fill_diagonal(W, 0)
    start = mesh.slots()[rng.permutation(len(mesh.slots()))[:K]]
    pos, moves = placement.local_search(W, start, mesh)
    assert moves > 0
    assert placement.cost(W, pos, mesh) < placement.cost(W, start, mesh)
    assert len({tuple(p) for p in pos}) == K
    # no single move or swap lowers it further (checked by brute force)
    best = placement.cost(W, pos, mesh)
    slots = mesh.slots()
    for i in range(K):
        for s in slots:
            trial = pos.copy()
            j = np.flatnonzero((pos == s).all(axis=1))
            trial[i] = s
            if len(j):
                trial[j[0]] = pos[i]
            assert placement.cost(W, trial, mesh) >= best - 1e-9


def test_bisection_keeps_a_chain_on_neighbouring_tiles():
    K = 16
    W = np.zeros((K, K))
    order = np.random.default_rng(1).permutation(K)                 # a chain, numbered at random
    W[order[:-1], order[1:]] = 1.0
    mesh = _mesh(per_tile=1)
    pos = placement.bisection(W, mesh)
    assert len({tuple(p) for p in pos}) == K
    snake = placement.cost(W, mesh.slots()[:K], mesh)
    assert placement.cost(W, pos, mesh) <= snake
    pos, _ = placement.local_search(W, pos, mesh)
    assert placement.cost(W, pos, mesh) < 1.5 * (K - 1)              # nearly every link one hop


def test_place_beats_the_snake_fill_on_a_partitioned_conv_net():
    t = small(**CONV_LIMITS)
    part = get_pass("loihi-partition")(snnc.passes.manager.run_pipeline(
        conv_net(), t, pipeline=["discretize", "prune", "loihi-legalize", "loihi-quantize"]).graph, t).graph
    res = get_pass("place")(part, t)
    s = res.stats
    assert s["method"] == "bisection" and s["mean_hops"] < s["snake_mean_hops"]
    snake = get_pass("place")(part, t, {"method": "snake"})
    assert snake.stats["method"] == "snake" and snake.stats["mean_hops"] == s["snake_mean_hops"]
    assert {c: p.as_list() for c, p in snake.graph.mapping.place.items()} == \
        {c: position(c, t).as_list() for c in snake.graph.mapping.place}


def test_a_net_larger_than_a_chip_spreads_over_the_systems_chips_and_pays_for_the_links(tmp_path):
    base = small(get_target("loihi"), neurons=16)
    t = dataclasses.replace(base, cores_per_chip=4, mesh=(2, 2), cores_per_tile=1, chips=3, chip_mesh=(1, 3))
    art = snnc.compile(mlp([10, 80, 6], gain=3.0), t)
    pl = next(p for p in art.manifest["passes"] if p["name"] == "place")["stats"]
    assert pl["chips"] == 2 and pl["inter_chip_messages"] > 0
    diagnostics, _ = art.backend.rules(art, t)                       # every limit, positions on the 3 chips
    assert diagnostics == []
    assert all(p["position"][0] < 3 for p in art.manifest["resources"]["per_core"])
    free = snnc.compile(mlp([10, 80, 6], gain=3.0), dataclasses.replace(
        t, links=dataclasses.replace(t.links, energy_pj=0.0)))
    assert art.manifest["estimate"]["per_tick"]["energy_pj"] > free.manifest["estimate"]["per_tick"]["energy_pj"]
    routes = [r for c in art.manifest["resources"]["per_core"] for r in c["routes"] if r["hops"] < 0]
    assert routes and all(r["chip_hops"] >= 1 for r in routes)


def test_chip_hops_follow_the_chip_mesh():
    t = get_target("loihi@kapoho-point")
    P = snnc.ir.mapping.Position
    assert chip_hops(P(0, 0, 0), P(3, 0, 0), t) == 2 and chip_hops(P(1, 0, 0), P(1, 5, 3), t) == 0


# -- systems as target data -----------------------------------------------------------------------------
def test_systems_are_the_chip_on_more_chips():
    t, kp = get_target("loihi"), get_target("loihi@kapoho-point")
    assert (kp.chips, kp.chip_layout, kp.total_cores) == (4, (2, 2), 480)
    assert kp.core == t.core and kp.name == "loihi@kapoho-point" and kp.systems == ()
    assert get_target("truenorth@ns16e").chip_layout == (4, 4)
    assert "assumed" in t.links.source.lower() or "ASSUMED" in t.links.source
    with pytest.raises(UsageError) as e:
        get_target("loihi@nahuku")
    assert str(e.value) == ("unknown system 'nahuku' of target loihi "
                            "(known: loihi@kapoho-point, loihi@hala-point)")


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["systems"][0].update(chip_mesh=[1, 3]),
     "loihi.json:systems[0].chip_mesh: expected [rows, columns] of chips holding 4 chips, got [1, 3]"),
    (lambda d: d.update(chip_mesh=[0, 1]),
     "loihi.json:chip_mesh: expected [rows, columns] of chips holding 1 chips, got [0, 1]"),
    (lambda d: d.pop("links"),
     "loihi.json:links: a target with multi-chip systems states what a chip-to-chip message costs"),
    (lambda d: d["systems"][0].update(name="kapoho point"),
     "loihi.json:systems[0]: expected a name of letters, digits and '-' and chips >= 1, got 'kapoho point' "
     "with 4 chips"),
])
def test_a_bad_system_is_named(tmp_path, edit, message):
    data = json.loads((DATA_DIR / "loihi.json").read_text())
    edit(data)
    (tmp_path / "loihi1.json").write_text((DATA_DIR / "loihi1.json").read_text())
    path = tmp_path / "loihi.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedInputError) as err:
        load_target_file(path)
    assert str(err.value) == message


def test_verify_says_when_the_partitioner_used_is_missing(tmp_path):
    from snnc.verify.runs import _cannot_relower
    g = mlp([6, 5, 3])
    art = snnc.compile(g, "loihi")
    manifest = json.loads(art.files["manifest.json"])
    for p in manifest["passes"]:
        if p["name"] == "loihi-partition":
            p["stats"]["requires"] = ["no_such_partitioner_module"]
    art2 = snnc.Artifact({**art.files, "manifest.json": json.dumps(manifest).encode()})
    assert _cannot_relower(art2, g) == ("pass loihi-partition chose what no_such_partitioner_module computed, "
                                        "and no_such_partitioner_module is not installed here")
    assert _cannot_relower(art, g) == ""


@pytest.mark.parametrize("family", ["truenorth", "analog"])
def test_the_other_families_charge_messages_between_chips(family):
    """One core (tile) per chip: every message between layers crosses chips, and the estimate pays
    the target's chip-to-chip cost for it (none when the link is free)."""
    from tests.netbuild import if_neurons
    base = get_target(family)
    t = dataclasses.replace(base, chips=4, cores_per_chip=1, mesh=(1, 1), chip_mesh=(2, 2))
    g = mlp([8, 6, 4], gain=3.0, neuron=if_neurons)
    art = snnc.compile(g, t)
    free = snnc.compile(g, dataclasses.replace(t, links=dataclasses.replace(t.links, energy_pj=0.0)))
    tick = art.manifest["estimate"]["per_tick"]
    assert tick["chip_crossings"] > 0
    key = "energy_pj" if family == "truenorth" else "dynamic_pj"
    assert tick[key] == pytest.approx(free.manifest["estimate"]["per_tick"][key]
                                      + tick["chip_crossings"] * t.links.energy_pj)
