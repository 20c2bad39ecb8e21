"""`snnc verify`: check an artifact against its target, and its integer run against the model.

Two independent checks, one report:

1. Design rules, from the artifact's files alone: the target family's `rules.check`
   re-reads every core's tables, recounts neurons, axons and synapse memory, and compares
   them (and every register) with the limits of the installed Target. The compiler's
   passes are not consulted.
2. With a model and inputs: the float model and the artifact's integer run are driven
   with the same inputs. The artifact's run is shifted back by each layer's latency (the
   chip's synapse adds a tick per layer), so tick t of both is the same source tick.
   Reported: spike agreement per layer (the fraction of (tick, sample, neuron) with the
   same spike), per output the same spike agreement, the relative difference of the
   summed outputs and the decision agreement (the fraction of samples whose class — the
   output with the largest sum over time — is the same in both runs), accuracy of each
   run when labels are given, and the first (tick, layer, neuron) where the two differ.

`Report.ok` is true when no rule is broken and, if runs were compared, every output's
decision agreement is at least `min_agreement` and the accuracy drop at most
`max_accuracy_drop`. Tick-exact spike agreement is reported but not required: with 8-bit
weights a threshold crossing that moves by one tick is expected, and counts it twice.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from snnc.errors import UsageError

MIN_AGREEMENT = 0.95
MAX_ACCURACY_DROP = 0.01


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
class Comparison:
    """Float model vs integer artifact on the same inputs, on the source model's timeline."""

    ticks: int
    batch: int
    layers: list[dict]                      # population, origin, latency, neurons, agreement, spikes
    outputs: dict[str, dict]                # output -> spike_agreement, sum_difference, decision_agreement
    first_divergence: dict | None           # {"tick", "layer", "neuron", "sample"}
    accuracy: dict | None = None            # {"float", "chip", "drop"}
    min_agreement: float = MIN_AGREEMENT
    max_accuracy_drop: float = MAX_ACCURACY_DROP

    @property
    def ok(self) -> bool:
        good = all(o["decision_agreement"] >= self.min_agreement for o in self.outputs.values())
        if self.accuracy is not None:
            good = good and self.accuracy["drop"] <= self.max_accuracy_drop
        return good


@dataclass
class Report:
    artifact: str
    target: str
    violations: list[Diagnostic] = field(default_factory=list)
    checked: dict = field(default_factory=dict)
    comparison: Comparison | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and (self.comparison is None or self.comparison.ok)

    def to_json(self) -> dict:
        comp = None
        if self.comparison is not None:
            comp = {k: v for k, v in asdict(self.comparison).items()}
            comp["ok"] = self.comparison.ok
        return {"ok": self.ok, "artifact": self.artifact, "target": self.target,
                "violations": [d.to_json() for d in self.violations], "checked": self.checked,
                "comparison": comp, "notes": list(self.notes)}

    def __str__(self) -> str:
        lines = [f"verify {self.artifact} (target {self.target}): {'OK' if self.ok else 'FAILED'}"]
        unit = self.checked.get("unit", "core")          # what the family's rules count: cores, tiles
        n = self.checked.get(f"{unit}s", 0)
        if self.violations:
            lines.append(f"  {len(self.violations)} rule violation(s) in {n} {unit}(s):")
            lines += [f"    {d}" for d in self.violations]
        else:
            lines.append(f"  rules: {n} {unit}(s) within every limit ({len(self.checked.get('rules', []))} rules)")
        c = self.comparison
        if c is not None:
            lines.append(f"  compared {c.ticks} ticks x {c.batch} samples against the float model:")
            for l in c.layers:
                lines.append(f"    layer {l['population']:<16} latency {l['latency']}  spike agreement "
                             f"{l['agreement']:.4f}  spikes float {l['float_spikes']} chip {l['chip_spikes']}")
            for name, o in c.outputs.items():
                a = o["decision_agreement"]
                mark = "" if a >= c.min_agreement else f"  < {c.min_agreement} required"
                lines.append(f"    output {name}: spike agreement {o['spike_agreement']:.4f}, sums differ by "
                             f"{o['sum_difference']:.4f}, decision agreement {a:.4f}{mark}")
            if c.accuracy is not None:
                acc = c.accuracy
                mark = "" if acc["drop"] <= c.max_accuracy_drop else f"  > {c.max_accuracy_drop:.4f} allowed"
                lines.append(f"    accuracy: float {acc['float']:.4f}, chip {acc['chip']:.4f}, "
                             f"drop {acc['drop']:.4f}{mark}")
            d = c.first_divergence
            lines.append("    first divergence: none" if d is None else
                         f"    first divergence: tick {d['tick']}, layer {d['layer']}, neuron {d['neuron']}, "
                         f"sample {d['sample']}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def json_text(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True, default=_plain)


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x).__name__)


def verify(artifact, model=None, inputs=None, labels=None, *, min_agreement: float = MIN_AGREEMENT,
           max_accuracy_drop: float = MAX_ACCURACY_DROP, seed: int = 0, model_file=None) -> Report:
    """Check `artifact` (an Artifact or its directory); compare with `model` on `inputs` if given.

    `model_file` names the file a loaded `model` Graph came from, so the check that it is the
    model the artifact was compiled from compares file digests."""
    from snnc.artifact import Artifact, load_artifact
    art = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)
    target = art.target
    rules = importlib.import_module(f"snnc.backends.{target.family}.rules")
    violations, checked = rules.check(art, target)
    report = Report(str(art.path or "<artifact>"), target.name, violations, checked)
    from snnc.artifact import target_digest
    if art.manifest["target"].get("digest") not in (None, target_digest(target)):
        report.notes.append(f"the artifact was compiled for different '{target.name}' target data than the "
                            f"installed one; rules were checked against the installed data")
    if (model is None) != (inputs is None):
        raise UsageError("verify: give both a model and inputs to compare runs, or neither")
    if labels is not None and model is None:
        raise UsageError("verify: labels need a model and inputs")
    if model is not None:
        compare_runs = getattr(rules, "compare", compare)     # a family may run its chip its own way
        report.comparison = compare_runs(art, model, inputs, labels, seed=seed)
        report.comparison.min_agreement, report.comparison.max_accuracy_drop = min_agreement, max_accuracy_drop
        _note_model_digest(report, art, model_file or model)
    return report


def compare(art, model, inputs, labels=None, *, seed: int = 0) -> Comparison:
    """Run the float model and the artifact on `inputs`; align, and compare layer by layer."""
    from snnc.api import _name_inputs, load
    from snnc.artifact import run_mapped
    from snnc.interp.engine import run
    graph = load(model)
    xs = _name_inputs(graph, inputs)
    x0 = np.asarray(next(iter(xs.values())))
    T, B = x0.shape[:2]
    mapped = art.graph
    chip_out, chip_layers = run_mapped(mapped, xs, layers=True, seed=seed)
    pops = [l["population"] for l in art.manifest.get("layers", [])]
    pops = [p for p in pops if p in graph.nodes]
    ref = run(graph, xs, record=pops, seed=seed)
    layers, first = [], None
    for l in art.manifest.get("layers", []):
        p = l["population"]
        if p not in chip_layers or p not in ref.recorded:
            continue
        f = (ref.recorded[p] != 0).reshape(T, B, -1)
        c = chip_layers[p].astype(bool)
        diff = f != c
        layers.append({"population": p, "origin": l.get("origin", ""), "latency": l.get("latency"),
                       "neurons": int(f.shape[2]), "agreement": float(1 - diff.mean()) if diff.size else 1.0,
                       "float_spikes": int(f.sum()), "chip_spikes": int(c.sum())})
        if diff.any():
            t, b, n = (int(i) for i in np.argwhere(diff)[0])
            if first is None or t < first["tick"]:
                first = {"tick": t, "layer": p, "neuron": n, "sample": b}
    outputs, acc = {}, None
    for name, y in chip_out.items():
        yf = ref.outputs[name]
        total = np.abs(yf).sum() + np.abs(y).sum()
        outputs[name] = {
            "spike_agreement": float(np.mean((yf != 0) == (y != 0))) if y.size else 1.0,
            "sum_difference": float(np.abs(yf.sum(axis=0) - y.sum(axis=0)).sum() / total) if total else 0.0,
            "decision_agreement": float(np.mean(predicted_classes(yf, graph) == predicted_classes(y, graph)))
            if y.size else 1.0,
        }
    if labels is not None:
        name = next(iter(chip_out))
        lab = np.asarray(labels).reshape(-1)
        if lab.shape[0] != B:
            raise UsageError(f"labels hold {lab.shape[0]} entries for a batch of {B} samples")
        a_f = float(np.mean(predicted_classes(ref.outputs[name], graph) == lab))
        a_c = float(np.mean(predicted_classes(chip_out[name], graph) == lab))
        acc = {"float": a_f, "chip": a_c, "drop": a_f - a_c}
    return Comparison(int(T), int(B), layers, outputs, first, acc)


def predicted_classes(y: np.ndarray, graph=None) -> np.ndarray:
    """Predicted class per sample from an output [T, B, ...]: the element with the largest sum
    over time, or, for a graph that convert-ann gave a membrane readout, the largest readout
    at the last tick (the decision that readout is built for, `convert_ann.classify`)."""
    if graph is not None and graph.metadata.get("convert_ann.readout") == "membrane" and y.ndim == 3:
        from snnc.passes.convert_ann import classify
        return classify(graph, y)
    return y.reshape(y.shape[0], y.shape[1], -1).sum(axis=0).argmax(axis=1)


def _note_model_digest(report: Report, art, model) -> None:
    from snnc.artifact import graph_digest, sha256
    src = art.manifest.get("input", {})
    if isinstance(model, (str, Path)) and Path(model).is_file():
        digest = sha256(Path(model).read_bytes())
    else:
        from snnc.api import load
        digest = graph_digest(load(model))
    if src.get("sha256") and digest != src["sha256"]:
        report.notes.append("the model given differs from the one the artifact was compiled from "
                            f"(sha256 {digest[:12]}… vs {src['sha256'][:12]}…)")
