"""The model × target matrix, TrueNorth column: every model compiles for truenorth with default
options and passes `snnc verify --model --input` under the target's verify budget (a trained
model loses at most 2 points); what the chip computes only approximately (a multiplicative
leak, a synaptic current, weights that are not subset sums of four type weights, a fan-in
split, a bias that starts before a core's first input, a real-valued input coded as spikes)
is in the manifest, and --strict refuses exactly that."""
from __future__ import annotations

import pytest

from tests.matrix.cells import missing, run_cell
from tests.matrix.models import MODELS

TARGET = "truenorth"
CELLS = [pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.slow else []) for case in MODELS]


@pytest.mark.parametrize("case", CELLS)
def test_cell_compiles_with_defaults_and_verifies(case):
    for module in missing(case):
        pytest.importorskip(module)
    cell = run_cell(case, TARGET)
    assert cell.ok, str(cell.report)
    comparison = cell.report.comparison
    assert comparison is not None and cell.report.lowering.differences == 0
    if case.trained:
        assert comparison.accuracy is not None and comparison.accuracy["drop"] <= 0.02
    if cell.approximations:
        first = cell.approximations[0]
        assert first["why"] in cell.strict and f"rule {first['rule']}" in cell.strict, cell.strict
    else:
        assert cell.strict == "compiles"


def test_strict_refuses_a_leaky_neuron_with_the_message_it_was_refused_with():
    case = next(c for c in MODELS if c.name.startswith("digits"))
    cell = run_cell(case, TARGET)
    assert cell.strict.startswith(
        "1, node '1', op 'snn.lif': snn.lif decays multiplicatively (v ← α v + ...), but a TrueNorth leak is "
        "linear (V += λ per tick): train with snn.if and express the leak as a bias, or convert an ANN (rule "
        "truenorth.core.leak; refused under --strict: without it the chip would a linear leak of λ = 3/4 ")
