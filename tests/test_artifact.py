"""Artifacts: byte-identical recompiles, atomic saves, the manifest, the netx interop file, loading errors."""
import json
import os

import numpy as np
import pytest

import snnc
from snnc.artifact import Artifact, json_bytes, load_artifact, npz_bytes, read_npz
from snnc.errors import MalformedInputError, UsageError
from snnc.ir.text import save_snnir
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.netbuild import mlp, spikes


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("options", [{}, {"loihi_quantize": {"per_neuron_scale": False}}], ids=["default", "netx"])
def test_compiling_twice_gives_byte_identical_directories(tmp_path, options):
    model = tmp_path / "m.snnir"
    save_snnir(mlp([40, 300, 10], seed=5), model)
    snnc.compile(model, "loihi1", **options).save(tmp_path / "a")
    snnc.compile(model, "loihi1", **options).save(tmp_path / "b")
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert ("model.net" in a) == bool(options)


def test_npz_bytes_are_deterministic_and_readable():
    arrays = {"b": np.arange(5), "a": np.eye(2)}
    data = npz_bytes(arrays)
    assert data == npz_bytes(dict(reversed(list(arrays.items()))))
    back = read_npz(data)
    assert list(back) == ["a", "b"] and np.array_equal(back["a"], np.eye(2))
    assert json_bytes({"b": 1, "a": [np.int64(2)]}) == b'{\n "a": [\n  2\n ],\n "b": 1\n}\n'


def test_save_replaces_atomically_and_leaves_no_temporaries(tmp_path):
    art = snnc.compile(mlp([6, 4]), "loihi")
    snnc.compile(mlp([5, 3]), "loihi").save(tmp_path / "out")     # an older artifact at the same place
    art.save(tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert _tree(tmp_path / "out") == art.files


def test_manifest_records_what_the_design_asks(tmp_path):
    model = tmp_path / "m.snnir"
    save_snnir(mlp([30, 20, 5]), model)
    art = snnc.compile(model, "loihi")
    m = art.manifest
    assert m["format"] == "snnc-artifact" and m["format_version"] == "2" and m["snnc_version"] == snnc.__version__
    assert m["target"]["name"] == "loihi" and len(m["target"]["digest"]) == 64
    assert m["input"]["kind"] == "file" and m["input"]["name"] == "m.snnir" and len(m["input"]["sha256"]) == 64
    assert [p["name"] for p in m["passes"]] == ["discretize", "prune", "loihi-legalize", "loihi-quantize",
                                                "loihi-partition", "place"]
    quant = m["passes"][3]["stats"]["per_layer"]
    assert set(quant) == {"lif0", "lif1"} and all(q["weight_rel_rms"] < 0.01 for q in quant.values())
    core = m["resources"]["per_core"][0]
    assert {"neurons", "input_axons", "output_axons", "synapse_bits", "position", "routes"} <= set(core)
    est = m["estimate"]
    assert est["per_tick"]["energy_pj"] > 0 and est["per_inference"]["ticks"] == 100 + 2
    assert est["assumptions"]["costs_proxy"] == "loihi1"         # loihi reuses Loihi 1's table, labelled
    assert [l["population"] for l in m["layers"]] == ["lif0", "lif1"]
    assert set(m["files"]) == set(art.files) - {"manifest.json"}
    assert "seconds" not in art.files["manifest.json"].decode() and set(art.timings) == set(
        p["name"] for p in m["passes"])


def test_loaded_graph_is_the_compiled_graph(tmp_path):
    g = mlp([12, 9, 4])
    art = snnc.compile(g, "loihi1")
    art.save(tmp_path / "a")
    assert load_artifact(tmp_path / "a").graph == run_pipeline(g, get_target("loihi1")).graph


def test_netx_file_runs_like_the_artifact(tmp_path):
    from snnc.frontends.netx import load as load_netx
    from snnc.interp.engine import run
    art = snnc.compile(mlp([20, 15, 6]), "loihi1", loihi_quantize={"per_neuron_scale": False})
    (tmp_path / "m.net").write_bytes(art.files["model.net"])
    net = load_netx(tmp_path / "m.net")
    x = spikes(30, 2, 20)
    y = run(net, {net.inputs[0]: x}).outputs[net.outputs[0]]
    assert y.sum() > 0 and np.array_equal(y, snnc.simulate(art, x, raw=True))


def test_netx_is_skipped_with_a_reason_when_not_expressible():
    art = snnc.compile(mlp([20, 15, 6]), "loihi1")
    assert "model.net" not in art.files
    assert "vth_mant differs between neurons" in art.manifest["netx"]["reason"]


def test_loading_errors_name_the_problem(tmp_path):
    with pytest.raises(UsageError) as e:
        load_artifact(tmp_path / "missing")
    assert str(e.value) == f"{tmp_path / 'missing'}: not an artifact directory"
    (tmp_path / "empty").mkdir()
    with pytest.raises(MalformedInputError) as e:
        load_artifact(tmp_path / "empty")
    assert str(e.value) == f"{tmp_path / 'empty'}: no manifest.json: not an snnc artifact"
    art = snnc.compile(mlp([4, 3]), "loihi")
    m = dict(art.manifest, format_version="9")
    Artifact({**art.files, "manifest.json": json_bytes(m)}).save(tmp_path / "v9")
    with pytest.raises(MalformedInputError) as e:
        load_artifact(tmp_path / "v9")
    assert str(e.value) == (f"{tmp_path / 'v9' / 'manifest.json'}: artifact format version '9' is not supported "
                            f"(this snnc reads version 2)")


def test_simulate_accepts_an_artifact_directory(tmp_path):
    g = mlp([10, 6])
    art = snnc.compile(g, "loihi")
    art.save(tmp_path / "a")
    x = spikes(20, 2, 10)
    assert np.array_equal(snnc.simulate(tmp_path / "a", x), snnc.simulate(art, x))
    assert json.loads(art.files["host.json"])["outputs"]["y"]["latency"] == 1
