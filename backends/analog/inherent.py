"""What the converters and parameter DACs cost, reported as approximations.

Device noise, drift and mismatch are the chip's model, not approximations: every chip has
them and the Monte Carlo measures them. What the mapping could avoid only by changing the
model is reported through the same mechanism as the lowering's rules (`Approximation`,
refused under --strict):

- `converters.adc_bound`: a tile's ADC clips each column sum at ±adc_bound (units of
  g_max · x_max). Without calibration data the rule is the worst case: the largest column
  sum any input could give (spikes: the positive or the negative weights of a column; input
  values: Σ|W|) exceeds the bound. With calibration data it is what the data do: the share
  of column reads beyond the bound on an ideal chip, reported only when some read clips.
- `converters.dac_bits` (with calibration data): the share of graph-input values beyond the
  DACs' full scale (`analog-tile.input_range`), which the DAC clips.
- `neuron.parameter_bits`: a potential set on the parameter DAC's grid moves by more than
  `tolerance` of the threshold's distance from rest (half a step is at most 0.125 % on the
  PCM chip's 10-bit grid and 1.1 % on BSS-2's 8-bit one, so the default 2 % reports none).
"""
from __future__ import annotations

import numpy as np

from snnc.backends.analog import chip, device
from snnc.backends.analog.layout import tile_map
from snnc.backends.analog.ops import Crossbar
from snnc.interp.engine import run
from snnc.ir.graph import Graph
from snnc.passes.approximation import Approximation


def worst_sum(op: Crossbar, spikes: bool) -> float:
    """The largest |column sum| any input can give, normalised (units of g_max · x_max)."""
    w = (op.g_pos - op.g_neg) / op.g_max
    if spikes:
        return float(max(np.clip(w, 0, None).sum(axis=1).max(initial=0.0), np.clip(-w, 0, None).sum(axis=1).max(initial=0.0)))
    return float(np.abs(w).sum(axis=1).max(initial=0.0))


def adc_clipping(graph: Graph, x: np.ndarray | None) -> list[Approximation]:
    """One approximation per population whose tiles' ADCs clip (worst case, or measured on `x`)."""
    where = tile_map(graph)
    by_pop: dict[str, list[str]] = {}
    for name, w in where.items():
        op = graph.op(name)
        if op.adc_bits and worst_sum(op, w["source"] not in graph.inputs) > op.adc_bound:
            by_pop.setdefault(w["population"], []).append(name)
    if not by_pop:
        return []
    reads = None if x is None else _reads(graph, x, [t for ts in by_pop.values() for t in ts], where)
    out = []
    for pop, tiles in by_pop.items():
        bound = graph.op(tiles[0]).adc_bound
        worst = max(worst_sum(graph.op(t), where[t]["source"] not in graph.inputs) for t in tiles)
        what = (f"clip each column sum of its tiles at +-{bound:g} (g_max x_max) before the digital partial sums")
        why = (f"column sums of up to {worst:.3g} on a worst-case input exceed the ADC's bound {bound:g} "
               f"(rule converters.adc_bound)")
        if reads is None:
            out.append(Approximation(pop, graph.nodes[pop].origin, "converters.adc_bound", what,
                                     why + "; calibration data measure how often"))
            continue
        a = np.concatenate([reads[t].reshape(-1) for t in tiles])
        clipped = float(np.mean(np.abs(a) > bound))
        if clipped > 0:
            out.append(Approximation(pop, graph.nodes[pop].origin, "converters.adc_bound", what, why,
                                     effect={"clipped_reads": clipped, "reads": int(a.size),
                                             "largest_sum": float(np.abs(a).max())}))
    return out


def _reads(graph: Graph, x: np.ndarray, tiles: list[str], where: dict) -> dict[str, np.ndarray]:
    """The normalised column sums a = W u [T, B, C] of `tiles` on an ideal chip run of `x`."""
    sources = sorted({where[t]["source"] for t in tiles} - set(graph.inputs))
    res = run(chip.ideal(graph), {graph.inputs[0]: x}, record=sources)
    out = {}
    for t in tiles:
        op, w = graph.op(t), where[t]
        src = w["source"]
        v = (x if src in graph.inputs else res.recorded[src]).reshape(x.shape[0], x.shape[1], -1)
        v = v[:, :, op.row_offset:op.row_offset + op.shape[1]]
        if w["lag"]:
            v = np.concatenate([np.zeros((w["lag"], *v.shape[1:])), v[:-w["lag"]]])[:len(v)]
        u = device.dac(v / op.x_max, op.dac_bits)
        out[t] = u @ ((op.g_pos - op.g_neg) / op.g_max).T
    return out


def dac_clipping(graph: Graph, x: np.ndarray) -> list[Approximation]:
    """A graph input whose values exceed the DACs' full scale on the calibration data."""
    out = []
    for name in graph.inputs:
        tiles = [t for t, w in tile_map(graph).items() if w["source"] == name and graph.op(t).dac_bits]
        if not tiles:
            continue
        x_max = graph.op(tiles[0]).x_max
        beyond = float(np.mean(np.abs(x) > x_max))
        if beyond > 0:
            out.append(Approximation(
                name, graph.nodes[name].origin, "converters.dac_bits", f"clip input values at +-{x_max:g}, the DACs' "
                f"full scale", f"{beyond:.3%} of the calibration data's values exceed the DACs' full scale {x_max:g} "
                f"(analog-tile.input_range)", effect={"clipped_values": beyond, "largest": float(np.abs(x).max())}))
    return out


def parameter_rounding(graph: Graph, stats: dict[str, dict], tolerance: float) -> list[Approximation]:
    """Populations whose potentials moved by more than `tolerance` of θ − rest on the parameter grid."""
    out = []
    for pop, s in stats.items():
        worst = max(s["rounding"].items(), key=lambda kv: kv[1])
        if worst[1] > tolerance:
            out.append(Approximation(
                pop, graph.nodes[pop].origin, "neuron.parameter_bits", f"set {worst[0]} on the parameter DAC's grid, "
                f"{worst[1]:.3%} of the threshold's distance from rest away",
                f"the parameter DAC rounds {worst[0]} by {worst[1]:.3%} of the threshold's distance from rest, more than "
                f"the tolerance {tolerance:.3%} (rule neuron.parameter_bits)", effect={"rounding": worst[1]}))
    return out
