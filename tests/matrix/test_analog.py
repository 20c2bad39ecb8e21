"""The model × target matrix, analog columns: every model compiles for analog and analog-bss2 with
default options and passes `snnc verify --model --input` under the target's verify budget; what
the chip computes only approximately is in the manifest, and --strict refuses exactly that."""
from __future__ import annotations

import pytest

from tests.matrix.cells import checked_cell, run_cell
from tests.matrix.models import MODELS

TARGETS = ("analog", "analog-bss2")
CELLS = [pytest.param(case, target, id=f"{case.name}-{target}", marks=[pytest.mark.slow] if case.slow else [])
         for case in MODELS for target in TARGETS]


@pytest.mark.parametrize("case, target", CELLS)
def test_cell_compiles_with_defaults_and_verifies(case, target):
    cell = checked_cell(case, target)
    if case.trained:
        assert cell.report.comparison.accuracy["drop"] <= 0.03


def test_digits_read_a_day_after_programming_stay_within_three_points():
    """PCM conductances drift; with the default global drift compensation, instance 0 of the chip
    one day after programming loses about 1.1 points on the shipped digits."""
    case = next(c for c in MODELS if c.name.startswith("digits"))
    cell = run_cell(case, "analog", analog_tile={"t_inference": 86400.0})
    assert cell.ok, str(cell.report)
    assert cell.report.comparison.accuracy["drop"] <= 0.03


def test_strict_refuses_with_the_rules_reason():
    case = next(c for c in MODELS if c.name == "snnTorch Synaptic")
    pytest.importorskip("snntorch")
    cell = run_cell(case, "analog")
    assert cell.strict.startswith("1, node '1', op 'snn.cuba_lif': snn.cuba_lif needs a synaptic-current filter; "
                                  "target 'analog' has one-state LIF circuits (rule neuron.tau_syn_range = []) (rule "
                                  "neuron.tau_syn_range; refused under --strict: without it the chip would ")
