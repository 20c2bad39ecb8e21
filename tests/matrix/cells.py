"""One cell of the model × target matrix: compile a model for a target with default options,
verify the artifact against the model on the case's inputs, and compile again with --strict.

    python -m tests.matrix.cells analog analog-bss2      # the README's table for those targets

A cell passes when `snnc verify --model --input` passes under the target's own verify budget;
its approximations are what the manifest lists, and --strict either compiles the same (no
approximation) or refuses naming the first one's rule."""
from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass

import snnc
from snnc.errors import UnsupportedOpError
from tests.matrix.models import MODELS, Case


@dataclass
class Cell:
    case: str
    target: str
    ok: bool
    report: object
    approximations: list
    strict: str                 # "compiles" or the refusal's message
    seconds: float


def missing(case: Case) -> list[str]:
    return [m for m in case.needs if importlib.util.find_spec(m) is None]


def run_cell(case: Case, target: str, **compile_options) -> Cell:
    t0 = time.perf_counter()
    model, x, labels = case.build(target)
    graph = snnc.load(model, **case.load)
    art = snnc.compile(graph, target, **compile_options)
    report = snnc.verify(art, model=graph, inputs=x, labels=labels)
    try:
        snnc.compile(graph, target, strict=True, **compile_options)
        strict = "compiles"
    except UnsupportedOpError as exc:
        strict = str(exc)
    return Cell(case.name, target, report.ok, report, list(art.manifest.get("approximations") or []), strict,
                time.perf_counter() - t0)


def check(cell: Cell) -> None:
    """What every cell must show: verify passes under the target's budget, the decoded chip computes
    exactly the lowering, and --strict refuses exactly the first approximation (naming its reason
    and rule), or compiles when there is none."""
    assert cell.ok, str(cell.report)
    assert cell.report.comparison is not None and cell.report.lowering.differences == 0
    if cell.approximations:
        first = cell.approximations[0]
        assert first["why"] in cell.strict and f"rule {first['rule']}" in cell.strict, cell.strict
    else:
        assert cell.strict == "compiles"


def checked_cell(case: Case, target: str, **compile_options) -> Cell:
    """The cell, run and `check`ed; a test of it skips when the model's framework is not installed."""
    import pytest
    for module in missing(case):
        pytest.importorskip(module)
    cell = run_cell(case, target, **compile_options)
    check(cell)
    return cell


def mark(cell: Cell) -> str:
    if not cell.ok:
        return "❌ verify fails"
    if not cell.approximations:
        return "✅"
    rules = sorted({a["rule"] for a in cell.approximations})
    return f"≈ {', '.join(rules)}"


def table(targets: list[str]) -> str:
    rows = ["| model | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for case in MODELS:
        if missing(case):
            continue
        rows.append(f"| {case.name} | " + " | ".join(mark(run_cell(case, t)) for t in targets) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(sys.argv[1:] or ["analog", "analog-bss2"]))
