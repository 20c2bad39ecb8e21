"""snnc verify: limits re-checked from the files alone (a hand-corrupted core is caught with the exact
message), the float and integer runs compared, and the CLI's exit codes."""
import json
import subprocess
import sys

import numpy as np
import pytest

import snnc
from snnc.artifact import Artifact, load_artifact, npz_bytes, read_npz
from snnc.errors import UsageError
from snnc.ir.text import save_snnir
from tests.netbuild import mlp, spikes


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "snnc.cli", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """784 → 1024 on loihi1: eight cores of 128 neurons, each holding 784 dense axons."""
    root = tmp_path_factory.mktemp("wide")
    art = snnc.compile(mlp([784, 1024]), "loihi1")
    art.save(root / "ok")
    return root, art


def test_a_core_over_its_synapse_memory_is_rejected_naming_core_value_and_limit(wide):
    root, art = wide
    files = dict(art.files)
    arrays = read_npz(files["cores/core_0003.npz"])
    arrays["axon.sparse"] = np.ones_like(arrays["axon.sparse"])    # store every list with index bits
    files["cores/core_0003.npz"] = npz_bytes(arrays)
    Artifact(files).save(root / "bad")
    report = snnc.verify(root / "bad")
    # 784 axons x 128 synapses of 8 + 10 bits: 2 groups of ceil((64 x 18 + 10) / 64) x 64 = 1,216 bits
    expected = "core 3: 1906688 > 1048576 allowed (loihi1.core.synapse_memory_bits)"
    assert not report.ok
    assert expected in [str(d) for d in report.violations]
    assert [d.where for d in report.violations if d.rule.startswith("core.")] == ["core 3"]
    out = _cli("verify", root / "bad")
    assert out.returncode == 1 and expected in out.stdout


def test_the_untouched_artifact_passes_every_rule(wide):
    root, art = wide
    report = snnc.verify(root / "ok")
    assert report.ok and report.violations == [] and report.checked["cores"] == 8
    assert "rules: 8 core(s) within every limit" in str(report)


def test_broken_routes_and_double_mapping_are_found(wide):
    root, art = wide
    files = dict(art.files)
    meta = json.loads(files["cores/core_0001.json"])
    meta["parts"][0]["offset"] = 0                                  # claims the neurons of core 0
    files["cores/core_0001.json"] = json.dumps(meta).encode()
    report = snnc.verify(Artifact(files))
    texts = [str(d) for d in report.violations]
    assert ("layer 'lif0' neuron 0: mapped to 2 cores, expected exactly 1 (and 127 more neurons) "
            "(loihi1.mapping)") in texts
    assert ("layer 'lif0' neuron 128: mapped to 0 cores, expected exactly 1 (and 127 more neurons) "
            "(loihi1.mapping)") in texts
    assert "cores/core_0001.json: content differs from the manifest's sha256 (loihi1.files)" in texts


def test_comparison_with_the_model_reports_layers_outputs_accuracy_and_divergence():
    g = mlp([30, 20, 6], gain=3.0)
    art = snnc.compile(g, "loihi")
    x = spikes(40, 8, 30)
    labels = np.arange(8) % 6
    report = snnc.verify(art, model=g, inputs=x, labels=labels)
    c = report.comparison
    assert report.ok and c.ticks == 40 and c.batch == 8
    assert [l["population"] for l in c.layers] == ["lif0", "lif1"] and [l["latency"] for l in c.layers] == [1, 2]
    assert all(l["agreement"] > 0.97 for l in c.layers) and c.outputs["y"]["spike_agreement"] > 0.97
    assert c.outputs["y"]["decision_agreement"] >= 0.95 and c.outputs["y"]["sum_difference"] < 0.05
    assert set(c.accuracy) == {"float", "chip", "drop"}
    data = json.loads(report.json_text())
    assert data["ok"] and data["comparison"]["ok"] and data["comparison"]["layers"][0]["population"] == "lif0"
    assert report.lowering.ok and report.lowering.differences == 0 and not report.lowering.skipped
    if c.first_divergence is not None:
        d = c.first_divergence
        assert set(d) == {"tick", "layer", "neuron", "sample", "core", "node", "index"}
        assert d["layer"] in ("lif0", "lif1") and d["core"] == 0 and d["node"] == d["layer"]


def test_a_different_model_is_a_mismatch():
    g = mlp([30, 20, 6], gain=3.0)
    art = snnc.compile(g, "loihi")
    other = g.with_op("fc1", g.op("fc1").replace(weight=-g.op("fc1").weight))
    report = snnc.verify(art, model=other, inputs=spikes(40, 8, 30))
    assert not report.ok and report.comparison.outputs["y"]["decision_agreement"] < 0.95
    assert "FAILED: output y: decision agreement" in str(report) and "< 0.95" in str(report)
    assert report.lowering.skipped == "the model given is not the one compiled (its graph digest differs)"
    assert any("differs from the one the artifact was compiled from" in n for n in report.notes)


def test_verify_needs_model_and_inputs_together():
    art = snnc.compile(mlp([4, 3]), "loihi")
    with pytest.raises(UsageError, match="give both a model and inputs"):
        snnc.verify(art, model=mlp([4, 3]))


def test_cli_compile_progress_and_verify_exit_codes(tmp_path):
    model = tmp_path / "m.snnir"
    g = mlp([30, 20, 6], gain=3.0)
    save_snnir(g, model)
    np.save(tmp_path / "x.npy", spikes(30, 4, 30))
    np.save(tmp_path / "y.npy", np.arange(4))
    out = _cli("compile", model, "--target", "loihi", "-o", tmp_path / "art")
    assert out.returncode == 0, out.stderr
    lines = out.stderr.strip().splitlines()
    assert [l.split("]")[0] for l in lines if "done" in l or "(" in l][:1] == ["snnc: [1/6"]
    assert sum(l.startswith("snnc: [") and l.endswith(" s)") for l in lines) == 6
    assert out.stdout.startswith(f"wrote {tmp_path / 'art'}: 1 core(s) on 1 chip(s), 26 neurons")
    assert load_artifact(tmp_path / "art").manifest["input"]["name"] == "m.snnir"
    ok = _cli("verify", tmp_path / "art", "--model", model, "--input", tmp_path / "x.npy",
              "--labels", tmp_path / "y.npy", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    data = json.loads(ok.stdout)
    assert data["ok"] and data["notes"] == [] and data["comparison"]["accuracy"] is not None
    sim = _cli("simulate", tmp_path / "art", "--input", tmp_path / "x.npy", "-o", tmp_path / "y_chip.npy")
    assert sim.returncode == 0, sim.stderr
    art = load_artifact(tmp_path / "art")
    assert np.array_equal(np.load(tmp_path / "y_chip.npy"), snnc.simulate(art, np.load(tmp_path / "x.npy")))
    bad = _cli("verify", tmp_path / "art", "--model", model)
    assert bad.returncode == 2 and bad.stderr == "snnc: error: verify: give both --model and --input, or neither\n"
    missing = _cli("verify", tmp_path / "nothing")
    assert missing.returncode == 2 and missing.stderr == f"snnc: error: {tmp_path / 'nothing'}: not an artifact directory\n"
    unknown = _cli("compile", model, "--target", "loihi9")
    assert unknown.returncode == 2 and "unknown target 'loihi9'" in unknown.stderr
    opt = _cli("compile", model, "--target", "loihi", "--option", "prune.treshold=1", "-o", tmp_path / "o")
    assert opt.returncode == 2 and "pass 'prune' has no option(s) treshold" in opt.stderr


def test_predicted_classes_follow_the_readout():
    """Spike outputs decide by the largest count; a converted ANN's membrane readout by its last tick."""
    from snnc.ir import Graph
    from snnc.verify import predicted_classes
    y = np.zeros((3, 1, 2))
    y[:2, 0, 0] = 5.0            # class 0 leads for two ticks (largest sum)
    y[2, 0, 1] = 1.0             # class 1 leads at the last tick
    assert predicted_classes(y).tolist() == [0]
    readout = Graph([], metadata={"convert_ann.input_coding": "current", "convert_ann.input_scale": "1.0",
                                  "convert_ann.readout": "membrane"})
    assert predicted_classes(y, readout).tolist() == [1]
    spikes = readout.replace(metadata={**readout.metadata, "convert_ann.readout": "spikes"})
    assert predicted_classes(y, spikes).tolist() == [0]


def _same_report(a, b):
    ja, jb = json.loads(a.json_text()), json.loads(b.json_text())
    assert ja == jb


def test_a_verify_streamed_over_worker_processes_reports_exactly_what_one_run_does():
    g = mlp([30, 20, 6], gain=3.0)
    art = snnc.compile(g, "loihi")
    x, labels = spikes(30, 9, 30, seed=3), np.arange(9) % 6
    one = snnc.verify(art, model=g, inputs=x, labels=labels)
    assert one.lowering.differences == 0 and not one.lowering.skipped
    _same_report(one, snnc.verify(art, model=g, inputs=x, labels=labels, batch_size=4))
    _same_report(one, snnc.verify(art, model=g, inputs=x, labels=labels, workers=2, batch_size=3))


def test_a_verify_on_ray_reports_exactly_what_one_run_does():
    ray = pytest.importorskip("ray")
    g = mlp([30, 20, 6], gain=3.0)
    art = snnc.compile(g, "analog")                 # a chip whose read noise draws across the batch
    x = spikes(20, 6, 30, seed=4)
    one = snnc.verify(art, model=g, inputs=x, seed=3)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        _same_report(one, snnc.verify(art, model=g, inputs=x, seed=3, batch_size=2, ray="local"))
    finally:
        ray.shutdown()
