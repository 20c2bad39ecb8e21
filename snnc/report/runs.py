"""The runs a report makes when it is given a model and inputs: `snnc verify` (rules, the chip
against the compiler, the chip against the float model), the two runs' spikes layer by layer
(for rasters and the chip's activity), and, for a chip whose instances differ, the accuracy
of a few instances at a few times after programming. Every run is of the decoded artifact
(`Artifact.graph`), driven as the host drives it (`snnc.artifact.run_mapped`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from snnc.progress import SILENT
from snnc.report.manifest import InstanceAccuracy

DAY = 86400.0
TIMES_AFTER = (DAY, 30 * DAY, 365 * DAY)         # read-out times besides the compiled one, s after programming


@dataclass
class Comparison:
    """verify's report, and the spikes [T, B, n] of each layer it compared, float and chip."""

    report: object
    float_spikes: dict[str, np.ndarray]
    chip_spikes: dict[str, np.ndarray]


def compare(art, graph, x, labels=None, *, seed: int = 0, model_file=None, progress=SILENT) -> Comparison:
    """Verify `art` against `graph` on `x`, then run both once more recording every layer (unless
    verify compared no runs)."""
    from snnc.api import name_inputs
    from snnc.artifact import run_mapped
    from snnc.interp.engine import run
    from snnc.verify import verify
    progress.note("report: verify (rules, chip vs compiler, chip vs float model)")
    report = verify(art, model=graph, inputs=x, labels=labels, seed=seed, model_file=model_file)
    if report.comparison is None:                   # the files break a rule: verify ran nothing
        return Comparison(report, {}, {})
    progress.advance()
    progress.note("report: recording the float and the chip runs layer by layer")
    xs = name_inputs(graph, x)
    chip = art.graph
    _, chip_layers = run_mapped(chip, xs, layers=True, seed=seed)
    pops = [p for p in chip.mapping.layers if p in graph.nodes and p in chip_layers]
    ref = run(graph, xs, record=pops, seed=seed)
    T, B = next(iter(chip_layers.values())).shape[:2]
    floats = {p: (ref.recorded[p] != 0).reshape(T, B, -1) for p in pops}
    progress.advance()
    return Comparison(report, floats, {p: chip_layers[p] for p in pops})


@dataclass(frozen=True)
class Window:
    """The part of the runs a raster shows: `layer`, one `sample`, ticks [t0, t1), neurons [n0, n1)."""

    layer: str
    sample: int
    t0: int
    t1: int
    n0: int
    n1: int
    diverged: bool


def raster_window(c: Comparison, *, ticks: int = 12, neurons: int = 48) -> Window | None:
    """Around the first divergence verify found (tick, layer, neuron, sample); with none, the
    start of the first layer that spikes, sample 0."""
    first = c.report.comparison.first_divergence if c.report.comparison else None
    if first is not None and first.get("layer") in c.float_spikes:
        layer, t, n, b = first["layer"], first["tick"], first["neuron"], first["sample"]
    else:
        spiking = [p for p, s in c.float_spikes.items() if s.any()] or list(c.float_spikes)
        if not spiking:
            return None
        layer, t, n, b = spiking[0], 0, 0, 0
    T, _, N = c.float_spikes[layer].shape
    t0 = max(0, min(t - ticks // 2, T - ticks))
    n0 = max(0, min(n - neurons // 2, N - neurons))
    return Window(layer, int(b), t0, min(T, t0 + ticks), n0, min(N, n0 + neurons), first is not None)


def compiled_time(graph) -> float | None:
    """The time after programming the chip's devices are read at (the ops' `t_inference`, s), or
    None for a chip whose ops have no such field."""
    times = [n.op.t_inference for n in graph.nodes.values() if _has_time(n.op)]
    return max(times) if times else None


def _has_time(op) -> bool:
    return any(f.name == "t_inference" for f in dataclasses.fields(op))


def at_time(graph, seconds: float):
    """The chip read `seconds` after programming: every op with a `t_inference` field set to it."""
    nodes = [dataclasses.replace(n, op=n.op.replace(t_inference=float(seconds))) if _has_time(n.op) else n
             for n in graph.nodes.values()]
    return graph.replace(nodes=nodes)


def instance_accuracy(art, graph, x, labels=None, *, instances: int = 8, times=None, seed: int = 0,
                      progress=SILENT) -> InstanceAccuracy | None:
    """Accuracy of chip instances 0 … instances−1 of `seed` at each time after programming (the
    compiled time and `TIMES_AFTER` unless `times`), scored against `labels` or, without them,
    against the float model's decisions. None when the chip's ops are read at no time."""
    from snnc.api import name_inputs
    from snnc.artifact import run_mapped
    from snnc.interp.engine import run
    from snnc.verify import predicted_classes
    chip = art.graph
    compiled = compiled_time(chip)
    if compiled is None:
        return None
    xs = name_inputs(graph, x)
    name = next(iter(chip.mapping.outputs))
    if labels is None:
        reference = predicted_classes(run(graph, xs, seed=seed).outputs[name], graph)
        against = "the float model's decisions"
    else:
        reference, against = np.asarray(labels).reshape(-1), "the labels"
    grid = sorted({float(t) for t in (times or (compiled, *TIMES_AFTER))})
    acc = []
    for t in grid:
        progress.note(f"report: {instances} chip instance(s) read {t:g} s after programming")
        y = run_mapped(at_time(chip, t), xs, seed=seed, chip_instances=instances)[0][name]
        y = y if instances > 1 else y[None]
        acc.append([float(np.mean(predicted_classes(y[i], graph) == reference)) for i in range(instances)])
        progress.advance()
    return InstanceAccuracy(grid, acc, against, f"runs of the decoded artifact: {instances} instances of seed "
                                                f"{seed}, compiled for {compiled:g} s")
