"""`analog-calibrate`: drift compensation and a chip-in-the-loop calibration on calibration data.

It also reports what the converters cost (`inherent.py`): ADC clipping in the worst case, or
as measured on the calibration data when they are given, and DAC clipping of the data.

Drift compensation (aihwkit `GlobalDriftCompensation` / `PerColumnDriftCompensation`) is
a deploy-time measurement each chip makes for itself: right after programming it reads
every tile with a fixed probe and keeps the reading r₀; at inference time it reads again,
r_t, and scales the tile's digital output by r₀ / r_t. The pass only switches it on
(`drift_compensation` on every crossbar); each simulated chip instance then computes its
own factor from its own conductances (ops.Crossbar). It is on (global) by default, as in
aihwkit's InferenceRPUConfig: on the shipped digits example (examples/digits, 450 test
samples, 20 PCM chips) the mean accuracy is 0.9513 at 1 h and 0.9239 at 1 day without it,
0.9629 and 0.9609 with it (float model 0.9689); on a device that does not drift (SRAM
weights) it only rescales each tile by its own fixed-pattern mismatch, and changes nothing
measurable.

With calibration inputs, the pass then calibrates with the interpreter as the chip:
K virtual chip instances (seeded, drawn apart from evaluation seeds) run the calibration
data at `t_calibrate` seconds after programming, population by population in order:

1. gain (on by default): each column's digital gain is divided by β, the least-squares
   slope of what the chips' tiles deliver on what the mapped weights give for the chips'
   own inputs (y_chip ≈ β y_ideal, pooled over ticks, samples and chips; regressing on the
   exact y_ideal keeps read noise from biasing β). It removes gain errors common to all
   chips that drift compensation leaves: conductance-dependent drift, IR drop, ADC bias.
2. threshold (off by default): each neuron's threshold distance from its leak potential
   is scaled by f, f ← f · (c_chip + ε) / (c_ref + ε) for `threshold_steps` rounds, so the
   chips' mean spike count c_chip approaches the ideal chip's c_ref on the same data
   (read noise and mismatch shift firing rates). On the digits network of the tests it
   moves counts as intended but not accuracy, so it is opt-in.

Factors stay within FACTOR_RANGE, and potentials stay on the parameter DAC's grid. The
calibration corrects what the chips have in common; each instance's own random deviation
remains, and the Monte Carlo over instances measures it.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.backends.analog import chip, device
from snnc.backends.analog.inherent import adc_clipping, dac_clipping
from snnc.backends.analog.ops import DRIFT_COMPENSATIONS, Crossbar, LIFCircuit
from snnc.errors import UsageError
from snnc.interp.engine import run
from snnc.ir.graph import Graph
from snnc.passes.registry import PassResult, option, register_pass


class CalibrationData:
    """Calibration inputs [T, B, *input_shape] (one graph input), by value or from a .npy path.

    Stored in pass records as its shape and sha256, so artifacts stay small and deterministic."""

    def __init__(self, x):
        if isinstance(x, CalibrationData):
            x = x.x
        if isinstance(x, (str, Path)):
            p = Path(x)
            if not p.is_file():
                raise UsageError(f"calibration data {x}: no such file")
            try:
                x = np.load(p, allow_pickle=False)
            except ValueError as exc:
                raise UsageError(f"calibration data {x}: not a .npy array ({exc})") from None
        self.x = np.asarray(x, dtype=np.float64)
        if self.x.ndim < 3:
            raise UsageError(f"calibration data must be [T, B, *input_shape], got shape {list(self.x.shape)}")
        self.digest = hashlib.sha256(np.ascontiguousarray(self.x).tobytes()).hexdigest()

    def to_json(self) -> dict:
        return {"shape": list(self.x.shape), "sha256": self.digest}

    def __eq__(self, other):
        return isinstance(other, CalibrationData) and self.digest == other.digest

    def __hash__(self):
        return hash(self.digest)


@dataclass(frozen=True)
class CalibrateOptions:
    drift_compensation: str = option("global", "rescale each tile's output by its own probe reading at "
                                               "programming time over now", choices=DRIFT_COMPENSATIONS)
    data: object = option(None, "calibration inputs [T, B, *input_shape] (an array or a .npy path): run the "
                                "chip-in-the-loop fit", type_name="array or .npy path")
    instances: int = option(8, "virtual chips the calibration averages over", low=1)
    seed: int = option(1_000_003, "their seed (keep it apart from evaluation seeds)")
    t_calibrate: float = option(-1.0, "seconds after programming the calibration reads at (< 0: the graph's "
                                      "t_inference)")
    gain: bool = option(True, "fit per-column digital gains")
    threshold: bool = option(False, "fit per-neuron thresholds to the ideal chip's spike counts")
    threshold_steps: int = option(3, "fixed-point steps of the threshold fit", low=0)

    def __post_init__(self):
        if self.drift_compensation not in DRIFT_COMPENSATIONS:
            raise ValueError(f"drift_compensation must be one of {', '.join(DRIFT_COMPENSATIONS)}, "
                             f"got {self.drift_compensation!r}")
        if self.data is not None and not isinstance(self.data, CalibrationData):
            object.__setattr__(self, "data", CalibrationData(self.data))
        if self.instances < 1:
            raise ValueError(f"instances must be >= 1, got {self.instances}")


@register_pass("analog-calibrate", CalibrateOptions)
def calibrate(graph: Graph, target, options: CalibrateOptions) -> PassResult:
    """Switch on drift compensation; with calibration data, fit column gains and neuron thresholds."""
    nodes = []
    for name, node in graph.nodes.items():
        if isinstance(node.op, Crossbar):
            node = dataclasses.replace(node, op=node.op.replace(drift_compensation=options.drift_compensation))
        nodes.append(node)
    out = graph.replace(nodes=nodes)
    stats = {"drift_compensation": options.drift_compensation}
    x = None if options.data is None else options.data.x
    if x is not None:
        out, fit = chip_in_the_loop(out, target, options)
        stats.update(fit)
    approximations = adc_clipping(out, x) + ([] if x is None else dac_clipping(out, x))
    return PassResult(out, stats=stats, approximations=tuple(approximations))


# -- the chip in the loop ----------------------------------------------------------------------
FACTOR_RANGE = (0.5, 2.0)          # a calibration step changes a gain or threshold at most this much
COUNT_FLOOR = 0.05                 # spikes per sample added to both counts of a threshold ratio


def chip_in_the_loop(graph: Graph, target, options: CalibrateOptions) -> tuple[Graph, dict]:
    """Fit column gains, then neuron thresholds, population by population (module docstring)."""
    x = options.data.x
    if len(graph.inputs) != 1:
        raise UsageError(f"calibration data feeds one graph input; this graph has {len(graph.inputs)}")
    times = {n.op.t_inference for n in graph.nodes.values() if isinstance(n.op, Crossbar)}
    t_cal = options.t_calibrate if options.t_calibrate >= 0 else max(times, default=0.0)
    pops = [n for n in graph.schedule() if isinstance(graph.op(n), LIFCircuit)]
    tiles = {p: [e.src for e in graph.in_edges(p) if isinstance(graph.op(e.src), Crossbar)] for p in pops}
    stats: dict = {"t_calibrate": t_cal, "instances": options.instances, "samples": int(x.shape[1])}
    if options.gain:
        gains = {}
        for p in pops:
            graph, gains[p] = _fit_gains(graph, p, tiles[p], x, t_cal, options)
        stats["gain"] = gains
    if options.threshold:
        n = target.neuron
        reference = _counts(chip.ideal(graph), pops, x, 0, 1)
        fits = {}
        for p in pops:
            graph, fits[p] = _fit_thresholds(graph, p, reference[p], x, t_cal, options,
                                             lambda v: device.parameter_grid(v, n.v_range.lo, n.v_range.hi,
                                                                             n.parameter_bits))
        stats["threshold"] = fits
    return graph, stats


def _noisy_run(graph: Graph, x, t_cal: float, options: CalibrateOptions, record):
    return run(chip.at_time(graph, t_cal), {graph.inputs[0]: x}, record=record, seed=options.seed,
               chip_instances=options.instances)


def _fit_gains(graph: Graph, pop: str, tiles: list[str], x, t_cal: float, options: CalibrateOptions):
    """Regress what the chips' tiles deliver on what their weights give for the chips' own inputs,
    per column of the population (y_chip ≈ β y_ideal: read noise does not bias β); gain ← gain / β."""
    sources = sorted({graph.in_edges(t)[0].src for t in tiles})
    res = _noisy_run(graph, x, t_cal, options, record=tiles + sources)
    got = ideal = 0.0
    for t in tiles:
        op = graph.op(t)
        xs = res.recorded[graph.in_edges(t)[0].src]
        xs = xs.reshape(*xs.shape[:2], -1)[:, :, op.row_offset:op.row_offset + op.shape[1]]
        w = np.zeros((op.n_out, op.shape[1]))
        w[op.col_offset:op.col_offset + op.shape[0]] = (op.g_pos - op.g_neg) / op.w_scale[:, None]
        bias = np.zeros(op.n_out)
        bias[op.col_offset:op.col_offset + op.shape[0]] = op.bias
        got = got + (res.recorded[t] - bias)
        ideal = ideal + xs @ w.T
    num, den = (got * ideal).sum(axis=(0, 1)), (ideal * ideal).sum(axis=(0, 1))
    beta = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    factor = np.clip(np.divide(1.0, beta, out=np.ones_like(beta), where=beta > 0), *FACTOR_RANGE)
    new = graph
    for t in tiles:
        op = graph.op(t)
        new = new.with_op(t, op.replace(gain=op.gain * factor[op.col_offset:op.col_offset + op.shape[0]]))
    return new, _spread(factor)


def _counts(graph: Graph, pops: list[str], x, seed: int, instances: int) -> dict[str, np.ndarray]:
    """Mean spike count per sample of every neuron of `pops` over the instances, [n] each."""
    res = run(graph, {graph.inputs[0]: x}, record=pops, seed=seed, chip_instances=instances)
    return {p: res.recorded[p].sum(axis=0).mean(axis=0) for p in pops}


def _fit_thresholds(graph: Graph, pop: str, target: np.ndarray, x, t_cal: float, options: CalibrateOptions,
                    grid) -> tuple[Graph, dict]:
    """Scale each threshold's distance from the leak by f until the chips' mean spike count
    matches the reference: f ← f · (c_chip + ε) / (c_ref + ε), `threshold_steps` times."""
    op = graph.op(pop)
    f = np.ones(op.shape)

    def with_f(f):
        return graph.with_op(pop, op.replace(v_threshold=grid(op.v_leak + (op.v_threshold - op.v_leak) * f)))
    for _ in range(options.threshold_steps):
        got = _counts(chip.at_time(with_f(f), t_cal), [pop], x, options.seed, options.instances)[pop]
        f = np.clip(f * (got + COUNT_FLOOR) / (target + COUNT_FLOOR), *FACTOR_RANGE)
    new = with_f(f)
    got = _counts(chip.at_time(new, t_cal), [pop], x, options.seed, options.instances)[pop]
    return new, {**_spread(f), "count_error_mean": float(np.abs(got - target).mean()),
                 "count_reference_mean": float(target.mean())}


def _spread(factor: np.ndarray) -> dict:
    if not factor.size:
        return {"min": 1.0, "max": 1.0, "mean": 1.0}
    return {"min": float(factor.min()), "max": float(factor.max()), "mean": float(factor.mean())}
