"""Gathering everything a report shows, before any drawing: from the artifact's files and
manifest, and, given a model and inputs, from `snnc verify` and runs of the decoded artifact."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from snnc.errors import UsageError
from snnc.progress import SILENT
from snnc.report import manifest as mf
from snnc.report.chip import Activity, ChipView, activity, chip_view


@dataclass
class ReportData:
    artifact: object                                   # the Artifact
    view: ChipView | None
    errors: list[mf.ErrorStat]
    estimate: mf.Estimate | None
    approximations: list[dict]
    accuracy: list[mf.InstanceAccuracy] = field(default_factory=list)
    activity: Activity | None = None
    comparison: object = None                          # snnc.report.runs.Comparison
    window: object = None                              # snnc.report.runs.Window
    notes: list[str] = field(default_factory=list)


def gather(artifact, model=None, inputs=None, labels=None, *, instances: int = 8, times=None, seed: int = 0,
           model_file=None, progress=SILENT) -> ReportData:
    """What a report on `artifact` (an Artifact or its directory) shows; with `model` (a Graph or
    anything `snnc.load` reads) and `inputs` [T, B, *in], also the runs (module docstring)."""
    from snnc.artifact import Artifact, load_artifact
    if (model is None) != (inputs is None):
        raise UsageError("report: give both a model and inputs to compare runs, or neither")
    if labels is not None and model is None:
        raise UsageError("report: labels need a model and inputs")
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
        raise UsageError(f"report: instances must be an integer >= 1, got {instances!r}")
    art = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)
    m = art.manifest
    view, why = chip_view(art)
    data = ReportData(art, view, mf.quantisation_errors(m), mf.estimate(m), mf.approximations(m))
    data.notes += [why] if why else []
    recorded = mf.recorded_monte_carlo(m)
    data.accuracy += [recorded] if recorded else []
    if model is not None:
        _runs(data, model, inputs, labels, instances=instances, times=times, seed=seed, model_file=model_file,
              progress=progress)
    return data


def _runs(data: ReportData, model, inputs, labels, *, instances, times, seed, model_file, progress) -> None:
    from snnc.api import load
    from snnc.report import runs
    graph = load(model)
    if model_file is None and isinstance(model, (str, Path)):
        model_file = str(model)
    art = data.artifact
    data.comparison = runs.compare(art, graph, inputs, labels, seed=seed, model_file=model_file, progress=progress)
    report = data.comparison.report
    if report.comparison is None:
        data.notes.append("verify compared no runs (" + "; ".join(report.notes or ["see its report"]) + ")")
        return
    data.window = runs.raster_window(data.comparison)
    if data.view is not None:
        data.activity = activity(data.view, data.comparison.chip_spikes)
    if art.backend.stochastic:
        measured = runs.instance_accuracy(art, graph, inputs, labels, instances=instances, times=times, seed=seed,
                                          progress=progress)
        data.accuracy += [measured] if measured else []
