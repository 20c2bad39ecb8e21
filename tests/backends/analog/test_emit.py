"""The analog artifact: deterministic files in the documented format, design rules from the
files alone (with exact messages for corrupted files), the estimate, the Monte Carlo summary,
and the CLI (compile, simulate --seed --chip-instances, verify)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import snnc
from snnc.artifact import Artifact, sha256
from snnc.backends.analog import chip
from snnc.cli import main
from snnc.ir.graph import GraphBuilder
from snnc.ir.snn import LIF, Affine, Linear
from snnc.ir.text import save_snnir
from snnc.verify import verify
from tests.artifact_edit import edit_arrays, edit_json


def small_net(seed=0, n_in=300, hidden=40, n_out=5):
    """x -> fc1 -> lif1 -> fc2 -> lif2: fc1 is two tiles tall on 256-row crossbars."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(dt=1e-3)
    b.input("x", (n_in,))
    b.add("fc1", Affine(weight=rng.normal(0, 0.15, (hidden, n_in)), bias=np.full(hidden, 0.05)), "x",
          origin="net.fc1")
    b.add("lif1", LIF(tau=np.full(hidden, 0.01), r=np.full(hidden, 10.0), v_leak=np.zeros(hidden),
                      v_threshold=np.ones(hidden), v_reset=np.zeros(hidden)), "fc1", origin="net.lif1")
    b.add("fc2", Linear(weight=rng.normal(0, 0.4, (n_out, hidden))), "lif1", origin="net.fc2")
    b.add("lif2", LIF(tau=np.full(n_out, 0.01), r=np.full(n_out, 10.0), v_leak=np.zeros(n_out),
                      v_threshold=np.ones(n_out), v_reset=np.zeros(n_out)), "fc2", origin="net.lif2")
    b.output("y", "lif2", (n_out,))
    return b.build()


def data(seed=1, n_in=300, T=20, B=12, n_out=5):
    rng = np.random.default_rng(seed)
    return (rng.random((T, B, n_in)) < 0.2).astype(float), rng.integers(0, n_out, B)


@pytest.fixture(scope="module")
def compiled():
    return snnc.compile(small_net(), "analog")


def test_same_input_same_bytes(compiled):
    again = snnc.compile(small_net(), "analog")
    assert again.files == compiled.files
    assert sorted(compiled.files) == ["host.json", "manifest.json", "neurons.json", "neurons.npz", "tiles.json",
                                      "tiles/tile_0000.npz", "tiles/tile_0001.npz", "tiles/tile_0002.npz"]


def test_tile_map_and_tiles_hold_the_mapping(compiled):
    tiles = json.loads(compiled.files["tiles.json"])
    assert tiles["signed_mode"] == "differential_pair" and tiles["device"]["model"]["g_max"] == 25.0
    assert {t["drift_compensation"] for t in tiles["tiles"]} == {"global"}                  # on by default
    blocks = [(t["population"], t["source"], t["rows"], t["cols"], t["physical_rows"]) for t in tiles["tiles"]]
    assert sorted(blocks) == [("lif1", "x", [0, 256], [0, 40], 256), ("lif1", "x", [256, 300], [0, 40], 44),
                              ("lif2", "lif1", [0, 40], [0, 5], 40)]
    g = compiled.graph
    for t in tiles["tiles"]:
        arrays = compiled.arrays(t["file"])
        op = g.op(t["node"])
        assert np.array_equal(arrays["g_pos"], op.g_pos) and np.array_equal(arrays["w_scale"], op.w_scale)
        assert t["converters"]["dac_bits"] == 7 and t["converters"]["adc_bits"] == 9
    neurons = json.loads(compiled.files["neurons.json"])
    assert neurons["units"] == "mV" and [(p["name"], p["neurons"]) for p in neurons["populations"]] == \
        [("lif1", 40), ("lif2", 5)]
    arrays = compiled.arrays("neurons.npz")
    assert np.all(arrays["lif1.v_threshold_code"] == 600) and np.all(arrays["lif1.v_init_code"] == 200)


def test_manifest_resources_and_estimate(compiled):
    m = compiled.manifest
    r = m["resources"]
    assert (r["tiles"], r["tiles_available"], r["neurons"], r["chips"]) == (3, 64, 45, 1)
    e = m["estimate"]
    t = get_target()
    # hand count, activity 0.1 (assumed), 100 ticks: rows 0.1·(256 + 44) + 0.1·40; reads 40 + 40 + 5
    # columns; 40 partial-sum additions (two tiles feed lif1); 45 neuron updates; 4.5 spikes
    dyn = (0.1 * 340 * t.costs.row_drive_pj + 85 * t.costs.column_read_pj + 40 * t.costs.partial_sum_pj
           + 45 * t.costs.neuron_update_pj + 4.5 * t.costs.spike_pj)
    assert e["per_tick"]["dynamic_pj"] == pytest.approx(dyn)
    assert e["per_tick"]["time_ns"] == pytest.approx(2 * (133.0 + 10.0))
    assert e["per_inference"]["energy_uj"] == pytest.approx(100 * dyn * 1e-6)
    assert m["monte_carlo"] is None


def get_target():
    from snnc.targets import get_target as g
    return g("analog")


def test_monte_carlo_summary_when_data_is_given():
    x, labels = data()
    art = snnc.compile(small_net(), "analog", emit={"data": (x, labels), "instances": 6, "times": [3600, 86400]})
    mc = art.manifest["monte_carlo"]
    assert mc["instances"] == 6 and [r["t_inference"] for r in mc["results"]] == [3600.0, 86400.0]
    graph = art.graph
    for r in mc["results"]:
        acc = chip.accuracies(chip.at_time(graph, r["t_inference"]), x, labels, instances=6)
        assert r["accuracy"] == list(acc)
        assert (r["mean"], r["p5"]) == (float(acc.mean()), float(np.percentile(acc, 5)))
    assert art.manifest["estimate"]["assumptions"]["activity_from"].startswith("ideal-chip run")
    assert art.manifest["estimate"]["assumptions"]["ticks"] == 20


def test_simulate_an_artifact_over_chip_instances(compiled, tmp_path):
    x, _ = data()
    path = compiled.save(tmp_path / "art")
    y = snnc.simulate(path, x, seed=3, chip_instances=4)
    assert y.shape == (4, 20, 12, 5)
    direct = snnc.simulate(compiled.graph, x, seed=3)
    assert np.array_equal(y[0], direct)                        # instance 0 is the same chip alone
    assert np.array_equal(snnc.simulate(path, x, seed=3, chip_instances=4), y)      # a seed fixes the chips
    assert not np.array_equal(snnc.simulate(path, x, seed=4, chip_instances=4), y)  # another seed, other chips


def test_calibration_data_enters_the_manifest_by_shape_and_digest():
    x, _ = data()
    art = snnc.compile(small_net(), "analog", analog_calibrate={"data": x, "instances": 2})
    record = next(p for p in art.manifest["passes"] if p["name"] == "analog-calibrate")
    assert record["options"]["data"] == {"shape": [20, 12, 300], "sha256": sha256(np.ascontiguousarray(x).tobytes())}
    assert set(record["stats"]["gain"]) == {"lif1", "lif2"}
    assert snnc.compile(small_net(), "analog", analog_calibrate={"data": x, "instances": 2}).files == art.files


def test_verify_checks_the_rules_from_the_files(compiled):
    report = verify(compiled)
    assert report.ok and report.checked["tiles"] == 3
    assert "rules: 3 tile(s) within every limit" in str(report)


def set_entry(key: str, index, value):
    def change(arrays):
        a = arrays[key].copy()
        a[index] = value
        arrays[key] = a
    return change


def test_corrupted_files_are_reported_with_the_rule(compiled):
    report = verify(edit_arrays(compiled, "tiles/tile_0000.npz", set_entry("g_pos", (0, 0), 30.0)))
    assert [str(d) for d in report.violations if d.rule != "decode"] == [
        "tile 0: g_pos spans 0..30 uS, outside [0, 25] (analog.device.g_max)"]
    assert [d.message for d in report.violations if d.rule == "decode"] == [       # nor can the chip be rebuilt
        "the files describe no runnable chip: tiles.json:tiles[0]: node 'fc1.tile0_0' (analog.crossbar): "
        "conductances must lie in [0, g_max = 25]"]
    report = verify(edit_arrays(compiled, "neurons.npz", set_entry("lif2.v_threshold", slice(None), 600.3)))
    assert [str(d) for d in report.violations] == [
        "population 'lif2': v_threshold is not on the 10-bit parameter grid (analog.neuron.parameter_bits)"]
    files = dict(compiled.files)
    files["tiles/tile_0001.npz"] = b"not the tile"
    report = verify(Artifact(files))
    assert "tiles/tile_0001.npz: content differs from the manifest's sha256 (analog.files)" in \
        [str(d) for d in report.violations]


def _tile_entry(i, **changes):
    def change(doc):
        doc["tiles"][i].update(changes)
    return change


RULE_BREAKS = [
    (edit_json, "tiles.json", _tile_entry(2, position=[0, 8, 0]),
     "tile 2: position chip 0 row 8 column 0 does not exist (1 chip(s) of 64 tiles, mesh 8x8) (analog.mesh)"),
    (edit_json, "tiles.json", _tile_entry(2, position=[0, 0, 0]), "tile 2: shares its position with tile 1 "
                                                                   "(analog.mesh)"),
    (edit_json, "tiles.json", _tile_entry(1, rows=[200, 244]),
     "tile 1: rows [200, 244] x columns [0, 40] of 'lif1' from 'x' (lag 0) overlap tile 0 (analog.tiles)"),
    (edit_json, "tiles.json", _tile_entry(2, synapses=7),
     "tile 2: tiles.json says synapses 7, tiles/tile_0002.npz holds 200 (analog.tiles)"),
    (edit_json, "tiles.json", lambda d: d.update(partial_sums="membrane"),
     "artifact: the files say 'membrane', the chip has 'digital' (analog.crossbar.partial_sums)"),
    (edit_arrays, "neurons.npz", set_entry("lif1.v_reset_code", 3, 201),
     "population 'lif1': the parameter-DAC codes of v_reset are missing or disagree with its potentials "
     "(analog.neuron.parameter_bits)"),
]


@pytest.mark.parametrize("edit,name,change,message", RULE_BREAKS, ids=[m.split(":")[0] for *_, m in RULE_BREAKS])
def test_each_consistency_rule_names_tile_and_limit(compiled, edit, name, change, message):
    report = verify(edit(compiled, name, change))
    assert [str(d) for d in report.violations if d.rule != "decode"] == [message]


def test_bss2_artifact_stores_six_bit_codes():
    art = snnc.compile(small_net(n_in=100, hidden=30), "analog-bss2")
    tiles = json.loads(art.files["tiles.json"])["tiles"]
    assert [t["physical_rows"] for t in tiles] == [200, 60]          # exc + inh row per input
    for t in tiles:
        a = art.arrays(t["file"])
        assert a["code_pos"].max() <= 63 and np.array_equal(a["code_pos"] * 1.0, a["g_pos"])
    assert verify(art).ok
    e = art.manifest["estimate"]["per_inference"]
    assert e["time_us"] == pytest.approx(100 * 1.0) and e["energy_uj"] == pytest.approx(200e-3 * 100e-6 * 1e6)


def test_cli_compile_simulate_verify(tmp_path, capsys):
    model = tmp_path / "net.snnir"
    save_snnir(small_net(), model)
    x, _ = data()
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "net.analog"
    assert main(["compile", str(model), "--target", "analog", "-o", str(out), "--quiet",
                 "--option", "analog-calibrate.drift_compensation=per_column"]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"wrote {out}: 3 tile(s) of 64, 45 neurons, ")
    assert {t["drift_compensation"] for t in json.loads((out / "tiles.json").read_text())["tiles"]} == {"per_column"}
    assert main(["simulate", str(out), "--input", str(tmp_path / "x.npy"), "--seed", "2", "--chip-instances", "3",
                 "-o", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (3, 20, 12, 5)
    assert np.array_equal(y, snnc.simulate(out, x, seed=2, chip_instances=3))
    assert main(["verify", str(out)]) == 0
    assert "3 tile(s) within every limit" in capsys.readouterr().out


def test_verify_against_the_float_model_runs_one_chip_instance(compiled):
    x, labels = data()
    report = verify(compiled, model=small_net(), inputs=x, labels=labels, seed=4)
    c = report.comparison
    assert [l["population"] for l in c.layers] == ["lif1", "lif2"] and all(l["latency"] == 0 for l in c.layers)
    chip_y = snnc.simulate(compiled, x, seed=4)
    assert c.accuracy["chip"] == float(np.mean(chip.classes(chip_y) == labels))
    assert 0.5 < c.outputs["y"]["spike_agreement"] < 1.0       # a noisy chip: close, not equal
    ideal = snnc.compile(small_net(), "analog", analog_tile={"noise": False}, analog_neurons={"mismatch": False})
    assert verify(ideal, model=small_net(), inputs=x, labels=labels).comparison.outputs["y"]["decision_agreement"] \
        >= 0.9
