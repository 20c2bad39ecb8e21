"""TrueNorth artifacts: a network with a fan-in of 784 and a fan-out to 10 cores maps to an
artifact `snnc verify` accepts; corrupted artifacts are refused naming core, neuron and rule;
compiles are byte-identical; the verifier's layer-by-layer comparison runs on the mapping."""
import json

import numpy as np
import pytest

import snnc
from snnc.artifact import Artifact, npz_bytes, read_npz, sha256
from snnc.cli import main
from tests.backends.truenorth.nets import chain, rates, ternary


@pytest.fixture(scope="module")
def wide():
    """784 inputs → 64 IF neurons (fan-in 784) → 2560 IF neurons (10 cores): the first layer's
    spikes go to 10 cores."""
    rng = np.random.default_rng(0)
    g = chain([rng.standard_normal((64, 784)) * 0.05, rng.standard_normal((2560, 64)) * 0.3])
    return g, snnc.compile(g, "truenorth")


def test_fan_in_784_and_fan_out_to_10_cores_compile_to_a_mapping_verify_accepts(wide, tmp_path, capsys):
    g, art = wide
    m = art.manifest["mapping"]
    layers = {l["population"]: l for l in art.manifest["layers"]}
    assert m["weight_error"]["if0"]["inputs"] == 784 and m["fan_in_splits"] == 1 and m["partial_sum_cores"] >= 4
    assert len({p["core"] for p in layers["if1"]["parts"]}) == 10            # the fan-out: 10 cores
    assert art.manifest["resources"]["max_per_core"]["axons"] <= 256
    assert art.manifest["resources"]["max_per_core"]["neurons"] <= 256
    report = snnc.verify(art)
    assert report.ok and report.violations == [] and report.checked["cores"] == m["cores"]
    art.save(tmp_path / "wide")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "wide")]) == 0
    assert "OK" in capsys.readouterr().out
    with capsys.disabled():
        print(f"\n784-64-2560: {m['cores']} cores ({art.manifest['resources']['cores_by_role']}), "
              f"{m['splitter_cores']} splitter cores, {m['neuron_copies']} neuron copies, latency "
              f"{m['latency_max']}; weight error {({k: round(v['rel_rms'], 4) for k, v in m['weight_error'].items()})}")


def test_compiling_twice_gives_the_same_bytes(wide):
    g, art = wide
    again = snnc.compile(g, "truenorth")
    assert again.files == art.files


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    g = chain([ternary(rng, 8, 10), ternary(rng, 6, 8), ternary(rng, 5, 6)], theta=2.0,
              skip=(0, 2, ternary(rng, 5, 8)))
    return g, snnc.compile(g, "truenorth")


def test_verify_compares_every_layer_on_the_source_timeline(small):
    g, art = small
    x = rates(40, 3, 10, p=0.5)
    report = snnc.verify(art, model=g, inputs=x)
    assert report.ok, str(report)
    c = report.comparison
    assert [l["population"] for l in c.layers] == ["if0", "if1", "if2"]
    assert all(l["agreement"] == 1.0 for l in c.layers) and c.first_divergence is None
    assert np.array_equal(snnc.simulate(art, x), snnc.simulate(g, x))


def test_manifest_reports_the_estimate_at_the_tick(small):
    _, art = small
    est = art.manifest["estimate"]
    syn = art.manifest["resources"]["totals"]["synapses"]
    spikes = art.manifest["resources"]["totals"]["destinations"]
    energy = 0.1 * syn * 26.0 + 0.1 * spikes * 26.0
    assert est["per_tick"]["energy_pj"] == pytest.approx(energy)
    assert est["power_mw"] == pytest.approx(energy * 1e-12 / 1e-3 * 1e3)
    assert est["assumptions"]["static_power"] == "not modelled"


# -- corrupted artifacts ---------------------------------------------------------------------------
def _corrupt(art: Artifact, core: int, edit) -> Artifact:
    """A copy of `art` with core `core`'s arrays edited, the manifest's digest and counts updated
    (so only the broken chip rule remains)."""
    files = dict(art.files)
    stem = f"cores/core_{core:04d}"
    arrays = read_npz(files[f"{stem}.npz"])
    edit(arrays)
    files[f"{stem}.npz"] = npz_bytes(arrays)
    manifest = json.loads(files["manifest.json"])
    manifest["files"][f"{stem}.npz"] = sha256(files[f"{stem}.npz"])
    for c in manifest["resources"]["per_core"]:
        if c["core"] == core:
            c.update(axons=arrays["crossbar"].shape[0], destinations=len(arrays["dest.neuron"]))
    files["manifest.json"] = json.dumps(manifest).encode()
    return Artifact(files)


def _violations(art) -> list[str]:
    return [str(d) for d in snnc.verify(art).violations]


def test_a_neuron_with_two_destinations_is_refused_naming_core_neuron_and_rule(small, tmp_path, capsys):
    _, art = small

    def second_destination(a):
        j = int(a["dest.neuron"][0])
        row = [a[f"dest.{f}"][:1] for f in ("neuron", "core", "axon", "delay")]
        for f, extra in zip(("neuron", "core", "axon", "delay"), row):
            a[f"dest.{f}"] = np.concatenate([a[f"dest.{f}"], extra])
        order = np.argsort(a["dest.neuron"], kind="stable")
        for f in ("neuron", "core", "axon", "delay"):
            a[f"dest.{f}"] = a[f"dest.{f}"][order]
        assert j == 0

    bad = _corrupt(art, 0, second_destination)
    assert _violations(bad) == ["core 0 neuron 0: 2 > 1 allowed (truenorth.core.destinations_per_neuron)"]
    bad.save(tmp_path / "two")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "two")]) == 1
    assert "core 0 neuron 0: 2 > 1 allowed (truenorth.core.destinations_per_neuron)" in capsys.readouterr().out


def test_a_core_with_257_axons_is_refused_naming_core_and_rule(small):
    _, art = small

    def grow(a):
        A, N = a["crossbar"].shape
        a["crossbar"] = np.vstack([a["crossbar"], np.zeros((257 - A, N), np.uint8)])
        a["axon_type"] = np.concatenate([a["axon_type"], np.zeros(257 - A, np.int64)])

    assert _violations(_corrupt(art, 1, grow)) == ["core 1: 257 > 256 allowed (truenorth.core.axons)"]


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.__setitem__("neuron.weight", np.hstack([a["neuron.weight"], a["neuron.weight"][:, :1]])),
     "core 0: 5 weights per neuron > 4 allowed (truenorth.core.axon_types)"),
    (lambda a: a["dest.delay"].__setitem__(0, 16), "core 0 neuron 0: delay = 16 outside [1, 15] (truenorth.formats.delay)"),
    (lambda a: a["neuron.weight"].__setitem__((2, 1), -256),
     "core 0 neuron 2: weight = -256 outside [-255, 255] (truenorth.formats.weight)"),
    (lambda a: a["crossbar"].__setitem__((0, 0), 2),
     "core 0 axon 0 neuron 0: synapse = 2, a crossbar bit is 0 or 1 (truenorth.core.crossbar)"),
])
def test_other_broken_registers_name_the_rule(small, edit, message):
    _, art = small
    assert message in _violations(_corrupt(art, 0, edit))


def test_a_destination_to_a_missing_axon_is_refused(small):
    _, art = small

    def retarget(a):
        a["dest.axon"][0] = 300

    assert _violations(_corrupt(art, 0, retarget)) == [
        "core 0 neuron 0: sends to core 2 axon 300, which does not exist (truenorth.routes)",
        "artifact: the files describe no runnable chip: cores/core_0000.npz: dest row 0 (neuron 0): sends to "
        "axon 300 of core 2, which has 21 axons (truenorth.decode)"]
