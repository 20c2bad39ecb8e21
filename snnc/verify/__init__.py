"""`snnc verify`: check an artifact against its target, against the compiler, and against the model.

Every check runs what the artifact's files say — the chip graph its family's `decode`
rebuilds from them — never the compiler's in-memory graph:

1. **Design rules**, from the files alone: the family's rules re-read every core (tile) and
   compare each count and register with the installed Target's limits.
2. With a model and inputs, **the chip against the lowering**: the compiler's passes are run
   again on the model, with the pipeline and options the manifest records, and the
   resulting chip graph and the decoded one are driven with the same inputs. A digital
   chip must agree in every spike of every layer and every output value; an analog chip
   with the same seed likewise. The first difference names the tick, the layer and neuron,
   the core and the node that holds it, and the sample. This is what finds a wrong emitter
   or an edited file. It is skipped, with a note saying why, when the model is not the one
   compiled, the target data changed, or a pass was given data the manifest records only by
   its digest.
3. With a model and inputs, **the chip against the float model**: both runs on the source
   model's timeline (the chip's run shifted back by each layer's latency). Reported per
   layer: spike agreement (fraction of (tick, sample, neuron) with the same spike) and spike
   counts; per output: spike agreement, count agreement (1 − Σ|c_chip − c_float| / Σ(c_chip +
   c_float) over samples and elements, spike counts or summed values over the run),
   decision agreement over the samples whose float decision is not a tie (the class rule
   of `predicted_classes`; an output of one element makes no decision), the ties; the
   accuracy of each run with labels; the first (tick, layer, neuron) where they differ.

`Report.ok` holds when no rule is broken and, if runs were compared: the chip equals the
lowering (when checked); every output's count agreement is at least `min_count_agreement`
and, for outputs that decide between classes, its decision agreement at least
`min_agreement`; no layer that spikes in the float model is silent on the chip; and the
accuracy drops by at most `max_accuracy_drop`. A spiking output's decision that the float run
wins by fewer than `decision_margin` spikes is a near tie and is left out like a tie (1: ties
only). Each threshold not given is the target's own
(`verify` in its data file, `snnc.targets.schema.VerifyBudget`: what that chip's number formats
or device model are allowed to cost), and the report says which were used and whence.
Tick-exact agreement with the float model is reported but not required: quantised weights
move some threshold crossings by a tick.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from snnc.errors import UsageError

from snnc.targets.schema import VerifyBudget

MIN_AGREEMENT = VerifyBudget.min_agreement          # the defaults of a target whose data state none
MIN_COUNT_AGREEMENT = VerifyBudget.min_count_agreement
MAX_ACCURACY_DROP = VerifyBudget.max_accuracy_drop


@dataclass(frozen=True)
class Diagnostic:
    """One broken target rule: where, which rule (the target's key), and value > limit or a message."""

    where: str
    rule: str
    target: str
    value: object = None
    limit: object = None
    message: str = ""

    def __str__(self) -> str:
        if self.message:
            return f"{self.where}: {self.message} ({self.target}.{self.rule})"
        return f"{self.where}: {self.value} > {self.limit} allowed ({self.target}.{self.rule})"

    def to_json(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if v not in (None, "")}
        d["text"] = str(self)
        return d


@dataclass
class LoweringCheck:
    """The decoded chip against the compiler's lowering of the same model, on the same inputs."""

    ticks: int
    batch: int
    differences: int = 0                    # (tick, sample, neuron) layer entries and output values that differ
    first: dict | None = None               # {"tick", "layer", "neuron", "core", "node", "index", "sample"}
    skipped: str = ""                       # why it did not run

    @property
    def ok(self) -> bool:
        return self.skipped != "" or self.differences == 0


@dataclass
class Comparison:
    """Float model vs the chip on the same inputs, on the source model's timeline."""

    ticks: int
    batch: int
    layers: list[dict]                      # population, origin, latency, neurons, agreement, spikes
    outputs: dict[str, dict]                # output -> agreements, ties, classes
    first_divergence: dict | None           # {"tick", "layer", "neuron", "sample", "core", "node", "index"}
    accuracy: dict | None = None            # {"float", "chip", "drop"}
    min_agreement: float = MIN_AGREEMENT
    min_count_agreement: float = MIN_COUNT_AGREEMENT
    max_accuracy_drop: float = MAX_ACCURACY_DROP
    decision_margin: float = 1.0            # spikes a float decision must win by to count (1: not a tie)
    thresholds_from: str = ""               # where the thresholds came from

    def failures(self) -> list[str]:
        """Why the chip does not pass against the float model (empty when it does)."""
        out = []
        for name, o in self.outputs.items():
            if o["count_agreement"] < self.min_count_agreement:
                out.append(f"output {name}: count agreement {o['count_agreement']:.4f} < {self.min_count_agreement}")
            if o["decision_agreement"] is not None and o["decision_agreement"] < self.min_agreement:
                out.append(f"output {name}: decision agreement {o['decision_agreement']:.4f} < {self.min_agreement}")
        out += [f"layer {l['population']} is silent on the chip: float {l['float_spikes']} spikes, chip 0"
                for l in self.layers if l["float_spikes"] and not l["chip_spikes"]]
        if self.accuracy is not None and self.accuracy["drop"] > self.max_accuracy_drop:
            out.append(f"accuracy drops by {self.accuracy['drop']:.4f} > {self.max_accuracy_drop:.4f}")
        return out

    @property
    def ok(self) -> bool:
        return not self.failures()


@dataclass
class Report:
    artifact: str
    target: str
    violations: list[Diagnostic] = field(default_factory=list)
    checked: dict = field(default_factory=dict)
    lowering: LoweringCheck | None = None
    comparison: Comparison | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.violations and (self.lowering is None or self.lowering.ok)
                and (self.comparison is None or self.comparison.ok))

    def to_json(self) -> dict:
        comp = low = None
        if self.comparison is not None:
            comp = asdict(self.comparison)
            comp["ok"], comp["failures"] = self.comparison.ok, self.comparison.failures()
        if self.lowering is not None:
            low = {**asdict(self.lowering), "ok": self.lowering.ok}
        return {"ok": self.ok, "artifact": self.artifact, "target": self.target,
                "violations": [d.to_json() for d in self.violations], "checked": self.checked,
                "lowering": low, "comparison": comp, "notes": list(self.notes)}

    def __str__(self) -> str:
        from snnc.verify.text import report_lines
        return "\n".join(report_lines(self))

    def json_text(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True, default=_plain)


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x).__name__)


def thresholds(target, **given) -> tuple[dict[str, float], str]:
    """The thresholds a comparison uses: each one given (not None), else the target's `verify`
    budget; and a line saying where they came from."""
    budget = target.verify
    keys = ("max_accuracy_drop", "min_agreement", "min_count_agreement", "decision_margin")
    unknown = sorted(set(given) - set(keys))
    if unknown:
        raise TypeError(f"unknown threshold {unknown[0]}")
    values = {k: float(given[k]) if given.get(k) is not None else float(getattr(budget, k)) for k in keys}
    mine = [k for k in keys if given.get(k) is None]
    if not mine:
        return values, "as given"
    where = f"target {target.name}'s verify budget"
    if len(mine) == len(keys):
        return values, where
    return values, f"{', '.join(k for k in keys if k not in mine)} as given; the rest from {where}"


def verify(artifact, model=None, inputs=None, labels=None, *, min_agreement: float | None = None,
           min_count_agreement: float | None = None, max_accuracy_drop: float | None = None,
           decision_margin: float | None = None, seed: int = 0, model_file=None, workers: int = 1,
           batch_size: int | None = None, ray: str | None = None, progress=None) -> Report:
    """Check `artifact` (an Artifact or its directory); with `model` and `inputs`, run it against the
    compiler's lowering of the model and against the model's float run (module docstring).
    A threshold left None is the target's (`thresholds`).

    `model_file` names the file a loaded `model` Graph came from (for the notes). The runs
    stream over the batch in chunks of `batch_size` samples, in `workers` processes or on Ray
    (`ray`: an address, "auto" or "local"), with the same result as one run; `progress` (a
    `snnc.progress.Reporter`) advances by the samples done."""
    from snnc.artifact import Artifact, load_artifact, target_digest
    art = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)
    target = art.target
    if (model is None) != (inputs is None):
        raise UsageError("verify: give both a model and inputs to compare runs, or neither")
    if labels is not None and model is None:
        raise UsageError("verify: labels need a model and inputs")
    violations, checked = art.backend.rules(art, target)
    checked.setdefault("unit", art.backend.unit)
    violations += _decodes(art, target)
    report = Report(str(art.path or "<artifact>"), target.name, violations, checked)
    approximations = art.manifest.get("approximations") or []
    if approximations:
        report.notes.append(f"the mapping approximates {len(approximations)} construct(s) (manifest "
                            f"approximations); the comparison with the float model measures their cost")
    if art.manifest["target"].get("digest") not in (None, target_digest(target)):
        report.notes.append(f"the artifact was compiled for different '{target.name}' target data than the "
                            f"installed one; rules were checked against the installed data")
    if model is None or violations:
        if model is not None:
            report.notes.append("runs were not compared: the artifact breaks its target's rules")
        return report
    from snnc.api import load
    from snnc.verify.runs import compare, lowering_check, model_notes, runs
    graph = load(model)
    report.notes += model_notes(art, graph, model_file or model)
    r = runs(art, graph, inputs, seed=seed, workers=workers, batch_size=batch_size, ray=ray, progress=progress)
    report.lowering = lowering_check(art, r)
    used, where = thresholds(target, min_agreement=min_agreement, max_accuracy_drop=max_accuracy_drop,
                             min_count_agreement=min_count_agreement, decision_margin=decision_margin)
    report.comparison = compare(art, graph, r, labels, decision_margin=used["decision_margin"])
    c = report.comparison
    c.min_agreement, c.min_count_agreement, c.max_accuracy_drop, c.decision_margin, c.thresholds_from = (
        used["min_agreement"], used["min_count_agreement"], used["max_accuracy_drop"], used["decision_margin"], where)
    report.notes += [f"layer {l['population']} never spikes in the float model on these inputs: its agreement "
                     f"says nothing" for l in c.layers if not l["float_spikes"]]
    return report


def _decodes(art, target) -> list[Diagnostic]:
    """The chip graph can be rebuilt from the files (what simulate and the comparisons run)."""
    from snnc.errors import SnncError
    try:
        art.graph
    except SnncError as exc:
        return [Diagnostic("artifact", "decode", target.name, message=f"the files describe no runnable chip: {exc}")]
    return []


def predicted_classes(y: np.ndarray, graph=None) -> np.ndarray:
    """Predicted class per sample from an output [T, B, ...]: the element with the largest sum
    over time (the first on ties), or, for a graph that convert-ann gave a membrane readout, the
    largest readout at the last tick (the decision that readout is built for, `convert_ann.classify`)."""
    return class_scores(y, graph).argmax(axis=1)


def class_scores(y: np.ndarray, graph=None) -> np.ndarray:
    """What `predicted_classes` maximises, per sample and element: [B, n]."""
    if graph is not None and graph.metadata.get("convert_ann.readout") == "membrane" and y.ndim == 3:
        from snnc.passes.convert_ann import readout_scores
        return readout_scores(graph, y)
    return y.reshape(y.shape[0], y.shape[1], -1).sum(axis=0)


def is_file(model) -> bool:
    return isinstance(model, (str, Path)) and Path(model).is_file()
