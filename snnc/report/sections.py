"""The report page's sections after the chip map, each written from gathered data
(`snnc.report.gather.ReportData`) into a `snnc.report.html.Page`."""
from __future__ import annotations

import numpy as np

from snnc.report import figures
from snnc.report.html import esc
from snnc.report.manifest import headline as headline_counts


def headline(p, data) -> None:
    art = data.artifact
    m = art.manifest
    p.add('<section id="summary">')
    p.add(f"<p>{esc(art.backend.summary(art))}</p>")
    units = len(data.view.units) if data.view else None
    rows = [["target", m["target"]["name"]], ["family", m["target"]["family"]]]
    rows += [[f"{data.view.unit}s in the files", units]] if units is not None else []
    rows += [[k, v] for k, v in headline_counts(m).items()]
    p.table(["", "value"], rows, id="headline")
    report = data.comparison.report if data.comparison else None
    if report is not None:
        cls = "ok" if report.ok else "bad"
        p.add(f'<p class="{cls}" id="verdict">snnc verify: {"OK" if report.ok else "FAILED"}</p>')
    for n in data.notes:
        p.note(n)
    p.add("</section>")


def quantisation(p, data) -> None:
    p.add('<section id="quantisation"><h2>Quantisation error per layer</h2>')
    if not data.errors:
        p.note("the manifest's pass statistics hold no per-layer error figure")
    else:
        p.figure("quantisation", figures.quantisation_figure(data.errors), "quantisation error per layer")
        p.table(["pass", "layer", "statistic", "value"],
                [[e.pass_name, e.layer, e.metric, e.value] for e in data.errors], id="errors")
    p.add("</section>")


def runs(p, data) -> None:
    p.add('<section id="runs"><h2>Float model vs chip</h2>')
    c = data.comparison
    if c is None:
        p.note("give a model and inputs (snnc report DIR --model M --input X) to compare the chip with the "
               "float model and with the compiler")
        p.add("</section>")
        return
    report = c.report
    p.add(f'<p id="lowering">{esc(_lowering(report.lowering))}</p>')
    comp = report.comparison
    if comp is None:
        p.add(f'<pre id="verify">{esc(report)}</pre></section>')
        return
    if data.window is not None:
        p.figure("raster", figures.raster_figure(c, data.window), "spike rasters")
    if comp.layers:
        p.figure("agreement", figures.agreement_figure(comp.layers), "agreement per layer")
    p.table(["layer", "origin", "latency", "neurons", "spike agreement", "float spikes", "chip spikes"],
            [[l["population"], l["origin"], l["latency"], l["neurons"], l["agreement"], l["float_spikes"],
              l["chip_spikes"]] for l in comp.layers], id="agreement")
    p.table(["output", "spike agreement", "count agreement", "decision agreement", "float ties"],
            [[k, o["spike_agreement"], o["count_agreement"], o["decision_agreement"], o["float_ties"]]
             for k, o in comp.outputs.items()], id="outputs")
    if comp.accuracy is not None:
        a = comp.accuracy
        p.table(["accuracy", "float", "chip", "drop"], [["", a["float"], a["chip"], a["drop"]]], id="accuracy")
    p.add(f'<pre id="verify">{esc(report)}</pre>')
    p.add("</section>")


def _lowering(c) -> str:
    """The chip against the compiler's lowering, in one line (verify's text below says where)."""
    if c is None:
        return "chip vs compiler: not run"
    if c.skipped:
        return f"chip vs compiler: not checked ({c.skipped})"
    if c.ok:
        return f"chip vs compiler: identical over {c.ticks} ticks x {c.batch} samples (every layer and output)"
    return f"chip vs compiler: DIFFERS in {c.differences} value(s) over {c.ticks} ticks x {c.batch} samples"


def estimate(p, data) -> None:
    p.add('<section id="estimate"><h2>Energy and latency (the manifest\'s estimate)</h2>')
    est = data.estimate
    if est is None:
        p.note("the manifest holds no estimate")
        p.add("</section>")
        return
    if figures.work_counts(est.per_tick):
        p.figure("estimate", figures.estimate_figure(est), "energy and latency estimate")
    else:
        p.note("the estimate counts no work per tick (events, spikes, reads): its figures are below")
    p.table(["figure", "value"], [[f"per inference: {k}", v] for k, v in est.per_inference.items()]
            + [[f"per tick: {k}", v] for k, v in est.per_tick.items()]
            + [[f"assumed: {k}", v] for k, v in est.assumed.items()], id="estimate-table")
    for k, v in est.assumptions.items():
        p.note(f"{k}: {v}")
    p.add("</section>")


def instances(p, data) -> None:
    if not data.artifact.backend.stochastic:
        return
    p.add('<section id="instances"><h2>Accuracy over chip instances and time after programming</h2>')
    if not data.accuracy:
        p.note("the manifest holds no Monte Carlo (compile with evaluation data) and no runs were made: give "
               "--model, --input and --labels")
    for i, acc in enumerate(data.accuracy):
        p.figure(f"instances-{i}", figures.accuracy_figure(acc), "accuracy over chip instances")
        rows = [[t, len(a), float(np.mean(a)), float(np.percentile(a, 5)), min(a), max(a)]
                for t, a in zip(acc.times, acc.accuracy)]
        p.table(["seconds after programming", "instances", "mean", "5th percentile", "min", "max"], rows,
                id=f"instances-{i}-table")
        p.note(f"{acc.source}; scored against {acc.reference}")
    p.add("</section>")


def approximations(p, data) -> None:
    p.add('<section id="approximations"><h2>What the mapping approximated</h2>')
    if not data.approximations:
        p.note("none: the lowering is faithful up to the chip's number formats")
    else:
        keys = sorted({k for a in data.approximations for k in a if not isinstance(a[k], (dict, list))})
        p.table(keys, [[a.get(k) for k in keys] for a in data.approximations], id="approximations-table")
    p.add("</section>")
