"""The analog emitter: a lowered `analog.*` graph to the artifact files of FORMAT.md.

Mapping and calibration are the passes' work; this module writes them down: one npz of
conductances per physical tile, the tile map (tiles.json: where each block of each layer
sits, its scales, converter settings, drift compensation, the device model), the neuron
circuit parameters (neurons.json and neurons.npz, with their parameter-DAC codes), the
mapped graph, and the manifest (tiles used, energy and time per inference, and, given
evaluation data, the Monte Carlo accuracy over chip instances). Every file is a
deterministic function of the graph and the options.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.artifact import json_bytes, npz_bytes, sha256
from snnc.backend import Emitted
from snnc.backends.analog import chip
from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.errors import UsageError
from snnc.interp.engine import run
from snnc.ir.graph import Graph
from snnc.ir.text import print_graph

TILE_FILE = "tiles/tile_{:04d}.npz"
DEVICE_FIELDS = ("g_max", "prog_noise", "prog_noise_g_ref", "nu_mean", "nu_std", "t0", "t_read", "read_noise",
                 "synapse_mismatch")
CONVERTER_FIELDS = ("x_max", "dac_bits", "adc_bits", "adc_bound", "out_noise", "ir_drop", "ir_drop_g_ratio")
NEURON_ARRAYS = ("tau_mem", "gain", "v_leak", "v_init", "v_threshold", "v_reset", "v_subtract")


class EvalData:
    """Evaluation inputs x [T, B, *shape] and labels [B]: a (x, labels) pair or an .npz path
    holding arrays "x" and "labels". Recorded in the manifest by shape and sha256."""

    def __init__(self, data):
        if isinstance(data, EvalData):
            data = (data.x, data.labels)
        if isinstance(data, (str, Path)):
            if not Path(data).is_file():
                raise UsageError(f"evaluation data {data}: no such file")
            with np.load(data, allow_pickle=False) as z:
                if "x" not in z.files or "labels" not in z.files:
                    raise UsageError(f"evaluation data {data}: expected arrays 'x' and 'labels', found "
                                     f"{', '.join(z.files)}")
                data = (z["x"], z["labels"])
        x, labels = data
        self.x = np.asarray(x, dtype=np.float64)
        self.labels = np.asarray(labels).reshape(-1)
        if self.x.ndim < 3 or self.x.shape[1] != len(self.labels):
            raise UsageError(f"evaluation data: x must be [T, B, ...] with one label per sample, got x "
                             f"{list(self.x.shape)} and {len(self.labels)} labels")
        self.digest = sha256(np.ascontiguousarray(self.x).tobytes() + self.labels.astype(np.int64).tobytes())

    def to_json(self) -> dict:
        return {"shape": list(self.x.shape), "sha256": self.digest}


@dataclass(frozen=True)
class EmitOptions:
    activity: float = 0.1        # spikes per neuron (and active inputs) per tick, when no data is given
    ticks: int = 100             # ticks per inference, when no data is given
    data: object = None          # evaluation data: (x, labels) or an .npz path; enables the Monte Carlo
    instances: int = 20          # chip instances of the Monte Carlo
    seed: int = 0                # their seed
    times: tuple = ()            # seconds after programming to evaluate at (empty: the compiled time)

    def __post_init__(self):
        if not 0 <= self.activity <= 1:
            raise ValueError(f"activity must lie in [0, 1] per tick, got {self.activity}")
        if self.ticks < 1 or self.instances < 1:
            raise ValueError("ticks and instances must be >= 1")
        if self.data is not None and not isinstance(self.data, EvalData):
            object.__setattr__(self, "data", EvalData(self.data))
        object.__setattr__(self, "times", tuple(float(t) for t in self.times))


def tile_map(graph: Graph) -> dict[str, dict]:
    """Where each tile node sits and what it connects, from the graph and its mapping record."""
    m = graph.mapping
    out = {}
    for name, core in m.cores.items():
        op, pos = graph.op(name), m.place[core]
        src = graph.in_edges(name)[0].src
        src = graph.in_edges(src)[0].src if src not in graph.inputs and src not in m.parts else src
        C, R = op.shape
        out[name] = {"population": graph.out_edges(name)[0].dst, "source": src, "core": core, "chip": pos.chip,
                     "rows": [op.row_offset, op.row_offset + R], "cols": [op.col_offset, op.col_offset + C]}
    return out


def emit(graph: Graph, target, options: EmitOptions = EmitOptions()) -> Emitted:
    """The family's files and manifest sections, from a mapped graph alone."""
    files: dict[str, bytes] = {}
    tiles = []
    for name, where in tile_map(graph).items():
        op = graph.op(name)
        where["index"] = where["core"] % target.cores_per_chip
        number = where["core"]
        files[TILE_FILE.format(number)] = npz_bytes(tile_arrays(op, target))
        tiles.append(tile_entry(name, op, where, number, target))
    neurons, arrays = neuron_tables(graph, target)
    files["tiles.json"] = json_bytes({"tiles": tiles, "device": _device(graph, target),
                                      "partial_sums": target.crossbar.partial_sums,
                                      "signed_mode": target.crossbar.signed_mode})
    files["neurons.json"] = json_bytes({"units": target.neuron.units, "chip_dt": graph.dt,
                                        "speedup": target.timing.speedup, "populations": neurons})
    files["neurons.npz"] = npz_bytes(arrays)
    sidecar: dict[str, np.ndarray] = {}
    files["graph.snnir"] = print_graph(graph, sidecar=sidecar).encode("utf-8")
    if sidecar:
        files["graph.npz"] = npz_bytes(sidecar)
    activity = measured_activity(graph, options)
    sections = {"resources": resources(graph, tiles, target),
                "estimate": estimate(graph, tiles, target, options, activity),
                "monte_carlo": monte_carlo(graph, options)}
    return Emitted(files, sections)


def summary(art) -> str:
    """The CLI's one line about a written artifact."""
    r = art.manifest["resources"]
    e = art.manifest["estimate"]["per_inference"]
    mc = art.manifest.get("monte_carlo")
    line = (f"{r['tiles']} tile(s) of {r['tiles_available']}, {r['neurons']} neurons, {r['synapses']} synapses; "
            f"{e['energy_uj']:.3g} µJ and {e['time_us']:.3g} µs per inference")
    if mc:
        first = mc["results"][0]
        line += (f"; accuracy over {mc['instances']} chips at {first['t_inference']:g} s: mean "
                 f"{first['mean']:.4f}, 5th percentile {first['p5']:.4f}")
    return line


# -- tiles ----------------------------------------------------------------------------------------
def tile_arrays(op: Crossbar, target) -> dict[str, np.ndarray]:
    """One tile's conductance matrices and digital registers; with programmable levels also the codes."""
    arrays = {"g_pos": op.g_pos, "g_neg": op.g_neg, "w_scale": op.w_scale, "gain": op.gain, "bias": op.bias}
    levels = target.device.levels
    if levels:
        step = target.device.g_max / (levels - 1)
        arrays["code_pos"] = np.rint(op.g_pos / step).astype(np.int64)
        arrays["code_neg"] = np.rint(op.g_neg / step).astype(np.int64)
    return arrays


def physical_rows(op: Crossbar, target) -> int:
    """Word lines one block occupies: split_rows spends an excitatory and an inhibitory row per input."""
    rows = op.shape[1]
    return 2 * rows if target.crossbar.signed_mode == "split_rows" else rows


def tile_entry(name: str, op: Crossbar, where: dict, number: int, target) -> dict:
    return {"tile": number, "chip": where["chip"], "index": where["index"], "node": name,
            "population": where["population"], "source": where["source"],
            "rows": where["rows"], "cols": where["cols"],
            "physical_rows": physical_rows(op, target), "physical_cols": int(op.shape[0]),
            "file": TILE_FILE.format(number),
            "converters": {f: getattr(op, f) for f in CONVERTER_FIELDS},
            "drift_compensation": op.drift_compensation, "t_inference": op.t_inference,
            "w_scale": [float(op.w_scale.min()), float(op.w_scale.max())],
            "gain": [float(op.gain.min()), float(op.gain.max())],
            "synapses": int(np.count_nonzero(op.g_pos != op.g_neg))}


def _device(graph: Graph, target) -> dict:
    d = target.device
    first = next((n.op for n in graph.nodes.values() if isinstance(n.op, Crossbar)), None)
    model = {f: (getattr(first, f).tolist() if isinstance(getattr(first, f), np.ndarray) else getattr(first, f))
             for f in DEVICE_FIELDS} if first is not None else {}
    return {"kind": d.kind, "unit": d.unit, "levels": d.levels, "model": model}


# -- neurons --------------------------------------------------------------------------------------
def parameter_codes(v: np.ndarray, target) -> np.ndarray:
    """Parameter-DAC codes of potentials on the grid (device.parameter_grid)."""
    n = target.neuron
    step = (n.v_range.hi - n.v_range.lo) / ((1 << n.parameter_bits) - 1)
    return np.rint((np.asarray(v) - n.v_range.lo) / step).astype(np.int64)


def neuron_tables(graph: Graph, target) -> tuple[dict, dict[str, np.ndarray]]:
    pops, arrays = {}, {}
    for name in graph.schedule():
        op = graph.op(name)
        if not isinstance(op, LIFCircuit):
            continue
        for f in NEURON_ARRAYS:
            arrays[f"{name}.{f}"] = getattr(op, f)
        for f in ("v_leak", "v_init", "v_threshold", "v_reset"):
            arrays[f"{name}.{f}_code"] = parameter_codes(getattr(op, f), target)
        pops[name] = {"neurons": int(op.shape[0]), "origin": graph.nodes[name].origin,
                      "reset_mode": op.reset_mode, "reset_timing": op.reset_timing, "t_refrac": op.t_refrac,
                      "mismatch": {"tau": op.sigma_tau, "gain": op.sigma_gain, "threshold": op.sigma_threshold},
                      "arrays": [f"{name}.{f}" for f in NEURON_ARRAYS]}
    return pops, arrays


# -- resources, estimate, Monte Carlo ---------------------------------------------------------------
def resources(graph: Graph, tiles: list[dict], target) -> dict:
    pops = {n: int(graph.op(n).shape[0]) for n in graph.schedule() if isinstance(graph.op(n), LIFCircuit)}
    x = target.crossbar
    used_cells = sum(t["physical_rows"] * t["physical_cols"] for t in tiles)
    per_pop = {p: {"neurons": n, "tiles": sum(1 for t in tiles if t["population"] == p)} for p, n in pops.items()}
    # membrane partial sums: every block's columns are neuron circuits, merged per neuron
    circuits = sum(t["cols"][1] - t["cols"][0] for t in tiles) if x.partial_sums == "membrane" else sum(pops.values())
    return {"tiles": len(tiles), "tiles_available": target.total_tiles, "chips": 1 + max((t["chip"] for t in tiles),
                                                                                         default=0),
            "neurons": sum(pops.values()), "neuron_circuits": circuits,
            "synapses": sum(t["synapses"] for t in tiles),
            "cell_utilisation": used_cells / (len(tiles) * x.rows * x.cols) if tiles else 0.0,
            "per_population": per_pop}


def measured_activity(graph: Graph, options: EmitOptions) -> dict | None:
    """Mean active fraction per tick of every graph input and population, on an ideal chip run
    of the evaluation data (None without data)."""
    if options.data is None:
        return None
    pops = [n for n in graph.schedule() if isinstance(graph.op(n), LIFCircuit)]
    x = options.data.x
    res = run(chip.ideal(graph), {graph.inputs[0]: x}, record=pops)
    act = {graph.inputs[0]: float(np.mean(x != 0))}
    act.update({p: float(np.mean(res.recorded[p] != 0)) for p in pops})
    return {"ticks": int(x.shape[0]), "per_source": act}


def partial_sum_adds(tiles: list[dict]) -> int:
    """Digital additions per tick: a column fed by k tiles adds k − 1 partial sums."""
    blocks: dict[tuple, int] = {}
    for t in tiles:
        key = (t["population"], tuple(t["cols"]))
        blocks[key] = blocks.get(key, 0) + 1
    return sum((k - 1) * (cols[1] - cols[0]) for (_, cols), k in blocks.items())


def estimate(graph: Graph, tiles: list[dict], target, options: EmitOptions, activity: dict | None) -> dict:
    """Energy and time of one inference from the target's costs (FORMAT.md, "Estimate")."""
    c, tm = target.costs, target.timing
    ticks = activity["ticks"] if activity else options.ticks
    rate = (lambda src: activity["per_source"].get(src, options.activity)) if activity else \
        (lambda src: options.activity)
    pops = [n for n in graph.schedule() if isinstance(graph.op(n), LIFCircuit)]
    rows = sum(rate(t["source"]) * t["physical_rows"] for t in tiles)
    reads = sum(t["physical_cols"] for t in tiles) if not tm.continuous else 0
    adds = partial_sum_adds(tiles) if target.crossbar.partial_sums == "digital" else 0
    neurons = sum(graph.op(p).shape[0] for p in pops)
    spikes = sum(rate(p) * graph.op(p).shape[0] for p in pops)
    dyn_pj = (rows * c.row_drive_pj + reads * c.column_read_pj + adds * c.partial_sum_pj
              + neurons * c.neuron_update_pj + spikes * c.spike_pj)
    tick_ns = graph.dt * 1e9 if tm.continuous else len(pops) * (tm.mvm_ns + tm.neuron_ns)
    time_ns = tick_ns * ticks
    energy_pj = dyn_pj * ticks + c.static_mw * 1e-3 * time_ns * 1e-9 * 1e12
    return {"assumptions": {"ticks": ticks, "activity": activity["per_source"] if activity else options.activity,
                            "activity_from": "ideal-chip run of the evaluation data" if activity else "assumed",
                            "costs_source": c.source, "costs_note": c.note},
            "per_tick": {"dynamic_pj": dyn_pj, "time_ns": tick_ns, "row_drives": rows, "column_reads": reads,
                         "partial_sum_adds": adds, "neuron_updates": neurons, "spikes": spikes},
            "per_inference": {"energy_uj": energy_pj * 1e-6, "time_us": time_ns * 1e-3,
                              "static_uj": c.static_mw * 1e-3 * time_ns * 1e-9 * 1e6}}


def monte_carlo(graph: Graph, options: EmitOptions) -> dict | None:
    """Accuracy over `instances` chips at each time (mean, 5th percentile, ...), and on an ideal chip."""
    if options.data is None:
        return None
    d = options.data
    compiled = max((n.op.t_inference for n in graph.nodes.values() if isinstance(n.op, Crossbar)), default=0.0)
    results = []
    for t in options.times or (compiled,):
        s = chip.monte_carlo(chip.at_time(graph, t), d.x, d.labels, instances=options.instances, seed=options.seed)
        results.append({"t_inference": t, **s})
    ideal = float(np.mean(chip.accuracies(chip.ideal(graph), d.x, d.labels, instances=1)))
    return {"data": d.to_json(), "instances": options.instances, "seed": options.seed,
            "ideal_chip_accuracy": ideal, "percentile": "numpy linear interpolation", "results": results}
