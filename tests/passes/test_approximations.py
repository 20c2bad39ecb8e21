"""Approximations through the whole tool, with a real one (a refractory period of 70 ticks on loihi1,
whose counter holds 62): the manifest entry, compile's printed line, verify's note, and the
--strict refusal naming node, op, origin and rule, from the API and the command line."""
import json

import numpy as np
import pytest

import snnc
from snnc.cli import main
from snnc.errors import UnsupportedOpError
from snnc.ir.text import save_snnir
from tests.netbuild import mlp, spikes

WHAT = "hold the neuron for 62 ticks after a spike instead of 70"
WHY = "refractory period of 70 ticks is outside target 'loihi1' range (rule formats.refractory = [0, 62])"
REFUSAL = (f"layers.1, node 'lif0', op 'snn.lif': {WHY} (rule formats.refractory; refused under --strict: "
           f"without it the chip would {WHAT})")


def _model():
    return mlp([8, 6, 4], seed=3, gain=3.0, t_refrac=0.07)


def test_the_manifest_lists_each_approximation_and_verify_notes_them():
    art = snnc.compile(_model(), "loihi1")
    assert art.manifest["approximations"] == [
        {"node": "lif0", "origin": "layers.1", "rule": "formats.refractory", "what": WHAT, "why": WHY, "effect": {}},
        {"node": "lif1", "origin": "layers.3", "rule": "formats.refractory", "what": WHAT, "why": WHY, "effect": {}}]
    x = spikes(100, 4, 8, p=0.4)
    report = snnc.verify(art, model=_model(), inputs=x)
    assert ("the mapping approximates 2 construct(s) (manifest approximations); the comparison with the float "
            "model measures their cost") in report.notes


def test_strict_refuses_the_first_approximation_with_the_lowerings_message():
    with pytest.raises(UnsupportedOpError) as e:
        snnc.compile(_model(), "loihi1", strict=True)
    assert str(e.value) == REFUSAL
    short = mlp([8, 6, 4], seed=3, gain=3.0, t_refrac=0.05)             # 50 ticks fit the counter
    assert snnc.compile(short, "loihi1", strict=True).manifest["approximations"] == []


def test_compile_prints_each_approximation_and_strict_exits_2_with_the_refusal(tmp_path, capsys):
    model = tmp_path / "m.snnir"
    save_snnir(_model(), model)
    out = tmp_path / "m.loihi1"
    assert main(["compile", str(model), "--target", "loihi1", "-o", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        f"  approximated: node 'lif0' (layers.1): {WHAT} (rule formats.refractory)",
        f"  approximated: node 'lif1' (layers.3): {WHAT} (rule formats.refractory)",
        f"  2 approximation(s), listed in {out / 'manifest.json'}; `snnc verify {out} --model MODEL --input X` "
        f"measures their cost; --strict refuses them"]
    assert len(json.loads((out / "manifest.json").read_text())["approximations"]) == 2
    code = main(["compile", str(model), "--target", "loihi1", "-o", str(tmp_path / "strict"), "--strict", "--quiet"])
    assert code == 2 and capsys.readouterr().err.splitlines() == [f"snnc: error: {REFUSAL}"]
    assert not (tmp_path / "strict").exists()
    np.save(tmp_path / "x.npy", spikes(80, 4, 8, p=0.4))
    code = main(["verify", str(out), "--model", str(model), "--input", str(tmp_path / "x.npy"), "--quiet"])
    assert "the mapping approximates 2 construct(s)" in capsys.readouterr().out and code == 0
