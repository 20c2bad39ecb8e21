"""emit and decode are inverse: for random legal source graphs, the graph decoded from the files
alone runs bit for bit like the compiler's lowering (outputs and every layer, raw timeline,
several chip instances of one seed), equals it node for node and edge for edge, and emits the
same bytes again. Malformed files are refused naming the file and the entry."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnc
from snnc.artifact import Artifact, run_mapped
from snnc.backend import backend
from snnc.backends.analog.decode import decode
from snnc.backends.analog.emit import DEVICE_FIELDS
from snnc.backends.analog.layout import CONVERTER_FIELDS
from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.errors import MalformedInputError, UsageError
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.artifact_edit import edit_arrays, edit_json
from tests.backends.analog.nets import small_targets, source_graphs
from tests.backends.analog.test_emit import small_net

ANALOG = backend("analog")
TARGETS = small_targets()


def family_files(art: Artifact) -> dict[str, bytes]:
    return {k: v for k, v in art.files.items() if k != "manifest.json"}


def check_round_trip(graph, xs, target, options) -> None:
    compiled = run_pipeline(graph, target, options=options).graph
    art = snnc.compile(graph, target, **{k.replace("-", "_"): v for k, v in options.items()})
    decoded = decode(art, target)
    assert decoded == compiled
    assert list(decoded.nodes) == list(compiled.nodes) and decoded.edges == compiled.edges
    for seed in (0, 7):
        want_out, want = run_mapped(compiled, xs, raw=True, layers=True, seed=seed, chip_instances=2)
        got_out, got = run_mapped(decoded, xs, raw=True, layers=True, seed=seed, chip_instances=2)
        assert set(got) == set(want) and set(got_out) == set(want_out)
        assert all(np.array_equal(got[k], want[k]) for k in want)
        assert all(np.array_equal(got_out[k], want_out[k]) for k in want_out)
    again = ANALOG.emit(decoded, target, ANALOG.emit_options())
    assert dict(again.files) == family_files(art)
    assert again.sections["resources"] == art.manifest["resources"]
    assert again.sections["estimate"] == art.manifest["estimate"]


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), noise=st.booleans(), scaling=st.sampled_from(["tile", "column"]),
       drift=st.sampled_from(["none", "global", "per_column"]))
def test_decoded_files_run_like_the_lowering_and_emit_the_same_bytes(name, data, noise, scaling, drift):
    graph, xs = data.draw(source_graphs(name))
    options = {"analog-legalize": {"current_taps": 2}, "analog-calibrate": {"drift_compensation": drift},
               "analog-tile": {"noise": noise, "scaling": scaling, "t_inference": 86400.0}}
    check_round_trip(graph, xs, TARGETS[name], options)


def test_calibrated_and_multi_tile_graphs_round_trip():
    """The chip-in-the-loop fit (gains, thresholds) on 256x256 tiles: a layer over two tiles, and the
    third tile on a second chip of two tiles each."""
    pcm = get_target("analog")
    target = dataclasses.replace(pcm, chips=2, cores_per_chip=2, mesh=(1, 2))
    x = (np.random.default_rng(3).random((8, 4, 300)) < 0.3).astype(float)
    options = {"analog-calibrate": {"data": x, "instances": 2, "threshold": True, "threshold_steps": 1}}
    check_round_trip(small_net(), {"x": x}, target, options)
    tiles = {t["node"]: t["position"] for t in json.loads(snnc.compile(small_net(), target).files["tiles.json"])["tiles"]}
    assert len({tuple(p) for p in tiles.values()}) == 3 and {p[0] for p in tiles.values()} == {0, 1}
    # the second layer's tile shares a chip with one of the two tiles feeding it (row by row, neither did)
    assert tiles["fc2.tile0_0"][0] in (tiles["fc1.tile0_0"][0], tiles["fc1.tile256_0"][0])


def test_every_op_field_is_written_to_the_files():
    """A new field of analog.crossbar or analog.lif cannot escape the format."""
    tile_fields = {"g_pos", "g_neg", "w_scale", "gain", "bias", "row_offset", "n_in", "col_offset", "n_out",
                   "drift_compensation", "t_inference", *CONVERTER_FIELDS, *DEVICE_FIELDS}
    assert {f.name for f in dataclasses.fields(Crossbar)} == tile_fields
    neuron_fields = {*LIFCircuit.ARRAYS, "reset_mode", "reset_timing", "t_refrac", "sigma_tau", "sigma_gain",
                     "sigma_threshold"}
    assert {f.name for f in dataclasses.fields(LIFCircuit)} == neuron_fields


# -- refusals ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def art():
    return snnc.compile(small_net(), "analog")


def edited(art: Artifact, name: str, change) -> Artifact:
    """`art` with file `name` (JSON or npz) passed through `change`; name "*": with `change(files)`."""
    if name == "*":
        files = dict(art.files)
        change(files)
        return Artifact(files)
    return (edit_arrays if name.endswith(".npz") else edit_json)(art, name, change)


def _tile(i, key, value):
    def change(doc):
        doc["tiles"][i][key] = value
    return change


REFUSALS = [
    ("*", lambda f: f.pop("host.json"), "<artifact>: artifact has no file host.json"),
    ("tiles.json", _tile(2, "population", "lif9"),
     "tiles.json:tiles[2].population: 'lif9' is not a population of neurons.json"),
    ("tiles.json", _tile(0, "source", "lif2"),
     "tiles.json:tiles[0].source: 'lif2' is neither a graph input nor a population listed before 'lif1' (a tile "
     "reads a later population only with lag >= 1)"),
    ("tiles.json", _tile(1, "rows", [256, 301]),
     "tiles.json:tiles[1]: rows [256, 301) of 'x' (300) and columns [0, 40) of 'lif1' (40) do not frame the "
     "40x44 conductances of tiles/tile_0001.npz"),
    ("tiles.json", _tile(1, "node", "lif2"), "tiles.json:tiles[1].node: node name 'lif2' is empty or used twice"),
    ("tiles.json", _tile(1, "tile", 0),
     "tiles.json:tiles[1].tile: tile 0 is listed after tile 0: tiles are listed once each, in ascending order"),
    ("tiles.json", _tile(2, "position", [0, 1]),
     "tiles.json:tiles[2].position: expected a list of 3 integers >= 0, got [0, 1]"),
    ("tiles.json", _tile(2, "position", [0, 0, 0]),                # tile 1's (the fed tile sits between its feeds)
     "the files describe an invalid graph: graph: mapping.place: cores 1 and 2 share position [0, 0, 0, 0]"),
    ("tiles.json", _tile(0, "drift_compensation", "daily"),
     "tiles.json:tiles[0].drift_compensation: expected one of none, global, per_column, got 'daily'"),
    ("tiles.json", lambda d: d["device"]["model"].update(nu_mean=[0.1, 0.2]),
     "tiles.json:device.model.nu_mean: expected 4 numbers, got 2"),
    ("tiles/tile_0002.npz", lambda a: a.update(w_scale=a["w_scale"][:3]),
     "tiles/tile_0002.npz: array 'w_scale' is float64[3], expected float64[5]"),
    ("tiles/tile_0002.npz", lambda a: a.update(g_neg=a["g_neg"].astype(np.float32)),
     "tiles/tile_0002.npz: array 'g_neg' is float32[5, 40], expected float64[5, 40]"),
    ("tiles/tile_0002.npz", lambda a: a.update(extra=np.zeros(2)),
     "tiles/tile_0002.npz: unexpected array 'extra' (a tile holds bias, g_neg, g_pos, gain, w_scale)"),
    ("neurons.npz", lambda a: a.pop("lif2.v_reset"), "neurons.npz: array 'lif2.v_reset' is missing"),
    ("neurons.json", lambda d: d["populations"][1].update(reset_timing="later"),
     "neurons.json:populations[1].reset_timing: expected one of immediate, next_step, got 'later'"),
    ("neurons.json", lambda d: d["populations"][0].update(t_refrac=-1.0),
     "neurons.json:populations[0].t_refrac: expected a finite number >= 0, got -1.0"),
    ("host.json", lambda d: d["outputs"][0].update(shape=[2, 3]),
     "host.json:outputs[0].shape: shape [2, 3] does not hold the 5 values of 'lif2'"),
    ("host.json", lambda d: d["inputs"][0].update(shape=[3, 100]),
     "host.json:inputs[0].flatten: an input of shape [3, 100] must be flattened for the tiles' rows"),
]


@pytest.mark.parametrize("name,change,message", REFUSALS, ids=[m.split(":")[0] + str(i) for i, (_, _, m)
                                                                 in enumerate(REFUSALS)])
def test_malformed_files_are_refused_naming_file_and_entry(art, name, change, message):
    with pytest.raises(MalformedInputError) as exc:
        decode(edited(art, name, change))
    assert str(exc.value) == message


def test_an_invalid_op_in_the_files_is_refused_naming_the_node(art):
    def negative_tau(a):
        a["lif1.tau_mem"] = -a["lif1.tau_mem"]
    with pytest.raises(MalformedInputError) as exc:
        decode(edited(art, "neurons.npz", negative_tau))
    assert str(exc.value) == "neurons.json:populations[0]: node 'lif1' (analog.lif): tau_mem must be > 0 seconds, " \
                             "got min -0.01"


def test_verify_reports_files_that_do_not_decode(art, tmp_path):
    bad = edited(art, "tiles.json", _tile(0, "source", "lif2"))
    report = snnc.verify(bad)
    assert not report.ok and any("'lif2' is neither a graph input" in str(d) for d in report.violations)


def test_emit_refuses_a_graph_the_pipeline_did_not_finish():
    with pytest.raises(UsageError) as exc:
        snnc.compile(small_net(), "analog", pipeline=["analog-legalize", "analog-tile"])
    assert str(exc.value) == (
        "analog emit: node 'lif1' is snn.lif; the analog files hold a graph lowered by the analog pipeline "
        "(analog-legalize, analog-tile, analog-neurons, analog-calibrate)")


def test_simulate_and_inspect_run_the_decoded_files(art, tmp_path):
    from snnc.cli import main
    path = art.save(tmp_path / "a")
    x = (np.random.default_rng(0).random((5, 2, 300)) < 0.3).astype(float)
    loaded = snnc.load_artifact(path)
    assert np.array_equal(snnc.simulate(path, x, seed=1), run_mapped(decode(loaded), {"x": x}, seed=1)[0]["y"])
    assert main(["inspect", str(path), "--ir"]) == 0
