"""Each target's verify budget: stated in its data file, applied by `snnc verify` unless overridden."""
import dataclasses
import json
from pathlib import Path

import pytest

from snnc.artifact import target_digest
from snnc.cli import main
from snnc.errors import MalformedInputError
from snnc.targets import DATA_DIR, all_targets, get_target, load_target_file
from snnc.verify import thresholds

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits"


def test_every_target_states_its_budget_and_why():
    drops = {name: t.verify.max_accuracy_drop for name, t in all_targets().items()}
    assert drops == {"loihi": 0.005, "loihi1": 0.005, "truenorth": 0.02, "analog": 0.03, "analog-bss2": 0.03}
    counts = {name: t.verify.min_count_agreement for name, t in all_targets().items()}
    assert counts == {"loihi": 0.8, "loihi1": 0.8, "truenorth": 0.8, "analog": 0.8, "analog-bss2": 0.7}
    margins = {name: t.verify.decision_margin for name, t in all_targets().items()}
    assert margins == {"loihi": 1, "loihi1": 1, "truenorth": 2, "analog": 2, "analog-bss2": 2}
    for name, t in all_targets().items():
        assert t.verify.min_agreement == 0.95, name
        assert len(t.verify.source) > 80, f"{name}: the budget says why in its source"
        assert "verify" in json.loads((DATA_DIR / f"{name}.json").read_text()), name


def test_thresholds_take_each_given_value_and_the_rest_from_the_target():
    t = get_target("analog")
    values, where = thresholds(t)
    assert values == {"max_accuracy_drop": 0.03, "min_agreement": 0.95, "min_count_agreement": 0.8,
                      "decision_margin": 2.0}
    assert where == "target analog's verify budget"
    values, where = thresholds(t, max_accuracy_drop=0.002, min_agreement=None)
    assert values["max_accuracy_drop"] == 0.002 and values["min_agreement"] == 0.95
    assert where == "max_accuracy_drop as given; the rest from target analog's verify budget"
    _, where = thresholds(t, max_accuracy_drop=0.1, min_agreement=0.9, min_count_agreement=0.7, decision_margin=1)
    assert where == "as given"


def test_a_budget_is_a_fraction(tmp_path):
    data = json.loads((DATA_DIR / "analog.json").read_text())
    data["verify"]["min_agreement"] = 95
    path = tmp_path / "analog.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedInputError) as err:
        load_target_file(path)
    assert str(err.value) == "analog.json:verify.min_agreement: expected a fraction in [0, 1], got 95.0"


def test_the_budget_is_not_part_of_what_was_compiled_for():
    t = get_target("analog")
    looser = dataclasses.replace(t, verify=dataclasses.replace(t.verify, max_accuracy_drop=0.5))
    assert target_digest(looser) == target_digest(t)
    assert target_digest(dataclasses.replace(t, chips=2)) != target_digest(t)


def _verify(capsys, art, *extra):
    code = main(["verify", str(art), "--model", str(DIGITS / "digits.snnir"), "--input", str(DIGITS / "test_x.npy"),
                 "--labels", str(DIGITS / "test_y.npy"), *extra])
    return code, capsys.readouterr().out


def test_verify_uses_the_targets_budget_and_says_so(tmp_path, capsys):
    """Digits read one day after programming lose about 1.1 points on chip instance 0: within
    analog's 3-point budget, outside a 1-point limit given on the command line."""
    art = tmp_path / "digits.analog"
    assert main(["compile", str(DIGITS / "digits.snnir"), "--target", "analog", "-o", str(art), "--quiet",
                 "--option", "analog-tile.t_inference=86400"]) == 0
    capsys.readouterr()
    code, out = _verify(capsys, art)
    assert code == 0, out
    assert ("thresholds: accuracy drop <= 0.03, decision agreement >= 0.95 (decisions won by >= 2 spike(s)), count "
            "agreement >= 0.8 (target analog's verify budget)") in out
    code, out = _verify(capsys, art, "--max-accuracy-drop", "0.005")
    assert code == 1
    assert "(max_accuracy_drop as given; the rest from target analog's verify budget)" in out
    assert "FAILED: accuracy drops by" in out and "> 0.0050" in out


def test_a_decision_won_by_fewer_spikes_than_the_margin_is_a_near_tie():
    from snnc.verify.runs import output_agreement
    import numpy as np
    yf = np.zeros((4, 3, 2))
    yf[:, 0, 0] = 1                  # sample 0: class 0 by 4 spikes
    yf[:1, 1, 1] = 1                 # sample 1: class 1 by 1 spike
    yf[:2, 2, 0] = 1                 # sample 2: a tie, 2 spikes each
    yf[:2, 2, 1] = 1
    chip = np.zeros_like(yf)
    chip[:, :, 0] = 1                # the chip says class 0 for every sample
    once = output_agreement(yf, chip, None, decision_margin=1)
    assert (once["decision_agreement"], once["float_ties"], once["near_ties"]) == (0.5, 1, 0)
    twice = output_agreement(yf, chip, None, decision_margin=2)
    assert (twice["decision_agreement"], twice["float_ties"], twice["near_ties"]) == (1.0, 1, 1)
