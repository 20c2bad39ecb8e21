"""The runs `snnc verify` compares: the decoded chip, the compiler's lowering, the float model.

One comparison serves every family: each chip graph carries its mapping record (host
inputs and outputs, layer latencies, which node holds which neurons on which core), so
`snnc.artifact.run_mapped` drives any of them the same way; a stochastic chip (analog)
runs instance 0 of the seed.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import importlib.util

import numpy as np

from snnc.errors import UsageError
from snnc.verify import Comparison, LoweringCheck, class_scores, is_file


def _inputs(graph, inputs) -> tuple[dict[str, np.ndarray], int, int]:
    from snnc.api import name_inputs
    xs = name_inputs(graph, inputs)
    T, B = np.asarray(next(iter(xs.values()))).shape[:2]
    return xs, int(T), int(B)


def where_in_chip(chip, population: str, neuron: int, locate=None) -> dict:
    """The core, node and index within the node that hold `neuron` of `population` on `chip`; where
    the node sits on no core of its own, the cores its family's `locate` names (a list)."""
    m = chip.mapping
    for node, p in m.parts.items():
        if p.population != population:
            continue
        held = np.flatnonzero(p.indices() == neuron) if p.runs else ([neuron - p.offset]
                                                                      if p.offset <= neuron < p.offset + p.count else [])
        if len(held):
            index = p.first + int(held[0])
            core = m.cores.get(node)
            if core is None and locate is not None:
                core = list(locate(chip, node, index)) or None
            return {"core": core, "node": node, "index": index}
    return {"core": None, "node": None, "index": None}


def _first(diff: np.ndarray, layer: str, chip, best: dict | None, locate=None) -> dict | None:
    """The earlier of `best` and the first True of diff [T, B, n] (tick, then sample, then neuron)."""
    if not diff.any():
        return best
    t, b, n = (int(i) for i in np.argwhere(diff)[0])
    if best is not None and (best["tick"], best["sample"]) <= (t, b):
        return best
    return {"tick": t, "layer": layer, "neuron": n, "sample": b, **where_in_chip(chip, layer, n, locate)}


# -- the runs, streamed over the batch -------------------------------------------------------------
@dataclass
class Runs:
    """Every run verify compares, over the same inputs [T, B, ...]."""

    ticks: int
    batch: int
    chip: dict                      # the decoded chip's outputs, on the source model's timeline
    chip_layers: dict               # its layer spikes, likewise
    ref: dict                       # the float model's outputs
    ref_layers: dict                # its populations' outputs
    raw: dict | None = None         # {"chip": (outputs, layers), "want": (outputs, layers)} on the chip's timeline
    skipped: str = ""               # why the lowering was not re-run


def runs(art, graph, inputs, *, seed: int = 0, workers: int = 1, batch_size: int | None = None,
         ray: str | None = None, progress=None) -> Runs:
    """Run the decoded chip, the float model and (when it can be rebuilt) the compiler's lowering
    of `graph` on `inputs`, in chunks of the batch (`snnc.interp.parallel.chunked`: in worker
    processes with `workers`, on Ray with `ray`), joined exactly as one run."""
    from snnc.interp.parallel import chunked
    from snnc.progress import SILENT
    xs, T, B = _inputs(graph, inputs)
    chip = art.graph
    pops = [p for p in chip.mapping.layers if p in graph.nodes]
    skipped = _cannot_relower(art, graph)
    graphs = (graph, chip) if skipped else (graph, chip, relower(art, graph))
    fn = functools.partial(_chunk, seed=seed, pops=pops)
    out = chunked(fn, xs, graph=graphs, batch_size=batch_size, workers=workers, ray=ray,
                  progress=progress or SILENT)
    return Runs(T, B, *out["chip"], *out["ref"], out.get("raw"), skipped)


def _chunk(graphs: tuple, chunk: dict, window: tuple[int, int], *, seed: int, pops: list[str]) -> dict:
    from snnc.artifact import run_mapped
    from snnc.interp.engine import run
    model, chip, *expected = graphs
    ref = run(model, chunk, record=pops, seed=seed, batch_window=window)
    out = {"chip": run_mapped(chip, chunk, layers=True, seed=seed, batch_window=window),
           "ref": (ref.outputs, {p: ref.recorded[p] for p in pops})}
    if expected:
        out["raw"] = {name: run_mapped(g, chunk, raw=True, layers=True, seed=seed, batch_window=window)
                      for name, g in (("chip", chip), ("want", expected[0]))}
    return out


# -- the chip against the compiler's lowering ----------------------------------------------------
def lowering_check(art, r: Runs) -> LoweringCheck:
    """The decoded chip against the compiler's lowering of the same model, bit for bit (raw timeline)."""
    check = LoweringCheck(r.ticks, r.batch, skipped=r.skipped)
    if r.skipped:
        return check
    (got_out, got), (want_out, want) = r.raw["chip"], r.raw["want"]
    if set(want) != set(got) or set(want_out) != set(got_out):
        check.differences = 1
        check.first = {"layer": f"the chip holds layers {sorted(got)}, the lowering {sorted(want)}"}
        return check
    chip = art.graph
    for pop in sorted(want):
        diff = want[pop] != got[pop]
        check.differences += int(diff.sum())
        check.first = _first(diff, pop, chip, check.first, art.backend.locate)
    for name in want_out:
        check.differences += int(np.sum(want_out[name] != got_out[name]))
    return check


def _cannot_relower(art, graph) -> str:
    """Why the lowering cannot be reproduced from the manifest (empty when it can)."""
    from snnc.artifact import graph_digest, target_digest
    m = art.manifest
    recorded = m.get("input", {}).get("graph_sha256") or m.get("input", {}).get("sha256")
    if graph_digest(graph) != recorded:
        return "the model given is not the one compiled (its graph digest differs)"
    if m["target"].get("digest") != target_digest(art.target):
        return "the installed target data differ from those compiled for"
    for p in m.get("passes", []):
        for key, value in p.get("options", {}).items():
            if isinstance(value, dict) and "sha256" in value:
                return f"pass {p['name']} was given data ({key}) that the manifest records by digest only"
        missing = [mod for mod in p.get("stats", {}).get("requires", []) if importlib.util.find_spec(mod) is None]
        if missing:
            return f"pass {p['name']} chose what {missing[0]} computed, and {missing[0]} is not installed here"
    return ""


def relower(art, graph):
    """The chip graph the compiler makes from `graph` with the manifest's pipeline and options."""
    from snnc.passes.manager import run_pipeline
    passes = art.manifest.get("passes", [])
    return run_pipeline(graph, art.target, pipeline=[p["name"] for p in passes],
                        options={p["name"]: p["options"] for p in passes}).graph


# -- the chip against the float model --------------------------------------------------------------
def compare(art, graph, r: Runs, labels=None, *, decision_margin: float = 1.0) -> Comparison:
    """The float model against the decoded chip, layer by layer and output by output; a spiking
    output's decisions won by fewer than `decision_margin` spikes are left out as near ties."""
    T, B = r.ticks, r.batch
    chip = art.graph
    layers, first = [], None
    for p in [p for p in r.ref_layers if p in r.chip_layers]:
        f = (r.ref_layers[p] != 0).reshape(T, B, -1)
        c = r.chip_layers[p]
        diff = f != c
        layers.append({"population": p, "origin": graph.nodes[p].origin, "latency": chip.mapping.layers[p].latency,
                       "neurons": int(f.shape[2]), "agreement": float(1 - diff.mean()) if diff.size else 1.0,
                       "float_spikes": int(f.sum()), "chip_spikes": int(c.sum())})
        first = _first(diff, p, chip, first, art.backend.locate)
    outputs = {name: output_agreement(r.ref[name], y, graph, decision_margin=decision_margin
                                      if chip.mapping.outputs[name].encoding == "spikes" else None)
               for name, y in r.chip.items()}
    accuracy = _accuracy(r.ref, r.chip, graph, labels, B) if labels is not None else None
    return Comparison(T, B, layers, outputs, first, accuracy)


def output_agreement(yf: np.ndarray, y: np.ndarray, graph, *, decision_margin: float | None = None) -> dict:
    """Spike, count and decision agreement of one output [T, B, ...] (module docstring of snnc.verify).
    With `decision_margin` (spike outputs), a decision the float run wins by fewer spikes than that
    is a near tie, left out of decision agreement as ties are."""
    T, B = y.shape[:2]
    total_f = np.abs(yf.reshape(T, B, -1)).sum(axis=0)
    total_c = np.abs(y.reshape(T, B, -1)).sum(axis=0)
    denom = float((total_f + total_c).sum())
    counts = 1.0 - float(np.abs(total_f - total_c).sum()) / denom if denom else 1.0
    out = {"spike_agreement": float(np.mean((yf != 0) == (y != 0))) if y.size else 1.0,
           "count_agreement": counts,
           "sum_difference": float(np.abs(yf.sum(axis=0) - y.sum(axis=0)).sum() / denom) if denom else 0.0,
           "classes": int(np.prod(y.shape[2:])), "decision_agreement": None, "float_ties": 0, "near_ties": 0}
    if out["classes"] < 2 or not B:
        return out
    sf, sc = class_scores(yf, graph), class_scores(y, graph)
    top = sf.max(axis=1, keepdims=True)
    tie = (sf == top).sum(axis=1) > 1
    decided = ~tie
    if decision_margin is not None:
        runner_up = np.sort(sf, axis=1)[:, -2]
        decided &= top[:, 0] - runner_up >= decision_margin
    out["float_ties"] = int(tie.sum())
    out["near_ties"] = int((~tie & ~decided).sum())
    if decided.any():
        out["decision_agreement"] = float(np.mean(sf[decided].argmax(1) == sc[decided].argmax(1)))
    return out


def _accuracy(ref: dict, chip: dict, graph, labels, B: int) -> dict:
    from snnc.verify import predicted_classes
    name = next(iter(chip))
    lab = np.asarray(labels).reshape(-1)
    if lab.shape[0] != B:
        raise UsageError(f"labels hold {lab.shape[0]} entries for a batch of {B} samples")
    n_f = int(np.sum(predicted_classes(ref[name], graph) == lab))
    n_c = int(np.sum(predicted_classes(chip[name], graph) == lab))
    return {"float": n_f / B, "chip": n_c / B, "drop": (n_f - n_c) / B}    # one sample of 200 is 0.005, not more


def model_notes(art, graph, model) -> list[str]:
    """A note when the model given is not the one the artifact was compiled from."""
    from snnc.artifact import graph_digest, sha256
    src = art.manifest.get("input", {})
    if is_file(model) and src.get("kind") == "file":
        from pathlib import Path
        digest, recorded = sha256(Path(model).read_bytes()), src.get("sha256")
    else:
        digest, recorded = graph_digest(graph), src.get("graph_sha256") or src.get("sha256")
    if recorded and digest != recorded:
        return ["the model given differs from the one the artifact was compiled from "
                f"(sha256 {digest[:12]}… vs {recorded[:12]}…)"]
    return []
