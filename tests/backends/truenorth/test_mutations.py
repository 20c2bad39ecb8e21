"""A wrong emitter cannot hide: each edit of an emitted TrueNorth file that a buggy emitter could
make — every axon type zeroed, one axon type, one weight, one threshold, one destination delay,
one destination axon — keeps the artifact within its rules (the manifest's digests updated, as
the emitter would have written them), and `snnc verify DIR --model M --input X` exits 1 naming
the tick, layer, neuron and core where the chip first departs from the compiler's lowering."""
import re

import numpy as np
import pytest

from snnc.artifact import load_artifact, read_npz, run_mapped
from snnc.cli import main
from snnc.ir.text import save_snnir
from tests.artifact_edit import edit_arrays
from tests.backends.truenorth.nets import chain, rates, ternary

DIFFERS = re.compile(r"chip vs compiler: DIFFERS in \d+ value\(s\) over 30 ticks x 2 samples; first at "
                     r"tick (\d+), layer (\w+), neuron (\d+) \(core (\d+), node (\w+) index (\d+)\), sample (\d+)")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """x[12] → if0[10] → if1[8] with ternary weights (two axon types per input), compiled by the CLI:
    core 0 holds if0 (and copies), core 1 holds if1. Also the first tick each if0 neuron spikes."""
    root = tmp_path_factory.mktemp("tn_mutations")
    rng = np.random.default_rng(3)
    save_snnir(chain([ternary(rng, 10, 12, p=0.5), ternary(rng, 8, 10, p=0.5)], theta=1.0), root / "m.snnir")
    x = rates(30, 2, 12, p=0.5)
    np.save(root / "x.npy", x)
    assert main(["compile", str(root / "m.snnir"), "--target", "truenorth", "-o", str(root / "art"), "--quiet"]) == 0
    art = load_artifact(root / "art")
    _, layers = run_mapped(art.graph, {"x": x}, raw=True, layers=True)
    first = {j: tuple(int(v) for v in np.argwhere(layers["if0"][:, :, j])[0]) for j in range(10)
             if layers["if0"][:, :, j].any()}
    return root, first


def _mutated(compiled, tmp_path, edits) -> tuple:
    """The artifact with `edits` {core: edit(arrays)} applied and the digests updated, saved in
    tmp_path; and the original artifact."""
    original = load_artifact(compiled[0] / "art")
    art = original
    for core, edit in edits.items():
        art = edit_arrays(art, f"cores/core_{core:04d}.npz", edit)
    return art.save(tmp_path / "art"), original


def _verify(compiled, art, capsys) -> dict:
    root, _ = compiled
    capsys.readouterr()
    code = main(["verify", str(art), "--model", str(root / "m.snnir"), "--input", str(root / "x.npy")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "rules: 2 core(s) within every limit" in out           # a consistent artifact: only the runs differ
    m = DIFFERS.search(out)
    assert m, out
    tick, layer, neuron, core, node, index, sample = m.groups()
    return {"tick": int(tick), "layer": layer, "neuron": int(neuron), "core": int(core), "node": node,
            "index": int(index), "sample": int(sample), "line": m.group(0)}


def _arrays(original, core: int) -> dict:
    return read_npz(original.files[f"cores/core_{core:04d}.npz"])


def _spiking_neuron(compiled) -> int:
    _, first = compiled
    return min(first, key=first.__getitem__)        # the if0 neuron that spikes first


def test_every_axon_type_zeroed(compiled, tmp_path, capsys):
    def zero(a):
        a["axon_type"][:] = 0

    art, original = _mutated(compiled, tmp_path, {0: zero, 1: zero})
    d = _verify(compiled, art, capsys)
    a = _arrays(original, d["core"])
    assert d["node"] == d["layer"] == f"if{d['core']}"
    assert np.any(a["crossbar"][:, d["index"]].astype(bool) & (a["axon_type"] != 0))   # a neuron the edit reaches


def test_one_axon_type_changed(compiled, tmp_path, capsys):
    def retype(a):
        a["axon_type"][0] = (a["axon_type"][0] + 1) % 4

    art, original = _mutated(compiled, tmp_path, {0: retype})
    d = _verify(compiled, art, capsys)
    assert (d["core"], d["layer"], d["node"]) == (0, "if0", "if0")
    assert _arrays(original, 0)["crossbar"][0, d["index"]] == 1          # a neuron fed by axon 0


@pytest.mark.parametrize("register", ["weight", "alpha"])
def test_one_weight_or_threshold_changed(compiled, tmp_path, capsys, register):
    """Neuron j loses its excitatory weight (or gets the largest threshold): it never fires, so
    the chip departs at the first tick and sample where the compiled j fired."""
    j = _spiking_neuron(compiled)

    def silence(a):
        if register == "weight":
            g = int(np.argmax(a["neuron.weight"][j]))
            a["neuron.weight"][j, g] = 0
        else:
            a["neuron.alpha"][j] = 262143

    art, _ = _mutated(compiled, tmp_path, {0: silence})
    d = _verify(compiled, art, capsys)
    tick, sample = compiled[1][j]
    assert (d["tick"], d["sample"], d["layer"], d["neuron"], d["core"], d["index"]) == (tick, sample, "if0", j, 0, j)


@pytest.mark.parametrize("field", ["delay", "axon"])
def test_one_destination_delay_or_axon_changed(compiled, tmp_path, capsys, field):
    """Neuron j's spikes reach core 1 a tick late (or on another axon): core 1 departs, in a
    neuron that axon feeds, after j first fires."""
    j = _spiking_neuron(compiled)
    a0 = _arrays(compiled_artifact(compiled), 0)
    row = int(np.flatnonzero(a0["dest.neuron"] == j)[0])
    axon = int(a0["dest.axon"][row])
    other = (axon + 1) % int(_arrays(compiled_artifact(compiled), 1)["crossbar"].shape[0])

    def move(a):
        if field == "delay":
            a["dest.delay"][row] += 1
        else:
            a["dest.axon"][row] = other

    art, original = _mutated(compiled, tmp_path, {0: move})
    d = _verify(compiled, art, capsys)
    crossbar = _arrays(original, 1)["crossbar"]
    fed = crossbar[axon] | (crossbar[other] if field == "axon" else 0)
    assert (d["layer"], d["core"], d["node"]) == ("if1", 1, "if1") and fed[d["index"]] == 1
    assert d["tick"] > compiled[1][j][0]


def compiled_artifact(compiled):
    return load_artifact(compiled[0] / "art")
