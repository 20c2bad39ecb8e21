"""Golden artifacts (tests/golden/artifacts.py): every target's emitter writes today exactly the bytes
it wrote when the goldens were made, and what it wrote decodes and runs."""
import numpy as np
import pytest

import snnc
from snnc.artifact import load_artifact
from tests.golden.artifacts import CASES, ROOT, compile_case
from tests.netbuild import spikes


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_artifact_is_byte_for_byte_the_golden_one(case):
    art = compile_case(case)
    golden = load_artifact(ROOT / case)
    assert sorted(art.files) == sorted(golden.files), "regenerate with: python -m tests.golden.artifacts"
    changed = [k for k in art.files if art.files[k] != golden.files[k]]
    assert changed == [], f"{changed} differ; regenerate with: python -m tests.golden.artifacts"


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_golden_artifact_decodes_verifies_and_runs(case):
    golden = load_artifact(ROOT / case)
    model = CASES[case][0]()
    x = spikes(30, 4, model.op("x").shape[0], seed=2)
    report = snnc.verify(golden, model=model, inputs=x)
    assert report.violations == [] and report.lowering.ok and not report.lowering.skipped, str(report)
    y = snnc.simulate(golden, x)
    outs = y if isinstance(y, dict) else {"y": y}
    assert all(np.isfinite(v).all() for v in outs.values())
