"""The model × target matrix, Loihi columns: every model compiles for loihi and loihi1 with default
options and passes `snnc verify --model --input` under the target's verify budget (a trained model
loses at most 0.5 point); what the chip computes only approximately is in the manifest, and
--strict refuses exactly that. `python -m tests.matrix.cells loihi loihi1` prints the README's table."""
from __future__ import annotations

import pytest

from tests.matrix.cells import checked_cell
from tests.matrix.models import MODELS

TARGETS = ("loihi", "loihi1")
CELLS = [pytest.param(case, target, id=f"{case.name}-{target}", marks=[pytest.mark.slow] if case.slow else [])
         for case in MODELS for target in TARGETS]
# what each cell may approximate on Loihi, by rule (everything else is faithful): a CUBA neuron that
# subtracts its threshold resets to 0 on loihi1; a converted ANN's IF membrane, kept in loihi1's
# current register, leaks 1/4096 a tick, and its real-valued input is spike-coded by the host
APPROXIMATED = {
    ("snnTorch Synaptic", "loihi1"): {"neurons.reset_modes"},
    ("snnTorch RSynaptic", "loihi1"): {"neurons.reset_modes"},
    ("converted ReLU MLP", "loihi1"): {"neurons.reset_modes", "neurons.graded_spikes"},
    ("converted ReLU CNN", "loihi1"): {"neurons.reset_modes", "neurons.graded_spikes"},
}


@pytest.mark.parametrize("case, target", CELLS)
def test_cell_compiles_with_defaults_and_verifies(case, target):
    cell = checked_cell(case, target)
    assert {a["rule"] for a in cell.approximations} == APPROXIMATED.get((case.name, target), set())
    if case.trained:
        assert cell.report.comparison.accuracy["drop"] <= 0.005
