"""The analog family's manifest sections: resources, the energy and time estimate, and the
Monte Carlo accuracy over chip instances.

`resources` and the estimate under assumed activity come from the mapped graph alone (the
emitter's sections, FORMAT.md). Given evaluation data (`EmitOptions.data`), `evaluate`
adds what needs it, at compile time only: the Monte Carlo accuracy and the estimate under
the activity measured on an ideal-chip run of the data (it replaces the assumed one). A
decoded artifact cannot reproduce these, since the files do not hold the data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.artifact import sha256
from snnc.backends.analog import chip
from snnc.backends.analog.layout import tile_table
from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.errors import UsageError
from snnc.interp.engine import run
from snnc.ir.graph import Graph
from snnc.ir.mapping import Position
from snnc.passes.place import chip_hops


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


def _populations(graph: Graph) -> list[str]:
    return [n for n, node in graph.nodes.items() if isinstance(node.op, LIFCircuit)]


# -- resources and estimate -------------------------------------------------------------------------
def resources(graph: Graph, tiles: list[dict], target) -> dict:
    pops = {n: int(graph.op(n).shape[0]) for n in _populations(graph)}
    x = target.crossbar
    used_cells = sum(t["physical_rows"] * t["physical_cols"] for t in tiles)
    per_pop = {p: {"neurons": n, "tiles": sum(1 for t in tiles if t["population"] == p)} for p, n in pops.items()}
    # membrane partial sums: every block's columns are neuron circuits, merged per neuron
    circuits = sum(t["cols"][1] - t["cols"][0] for t in tiles) if x.partial_sums == "membrane" else sum(pops.values())
    return {"tiles": len(tiles), "tiles_available": target.total_tiles,
            "chips": 1 + max((t["position"][0] for t in tiles), default=0),
            "neurons": sum(pops.values()), "neuron_circuits": circuits,
            "synapses": sum(t["synapses"] for t in tiles),
            "cell_utilisation": used_cells / (len(tiles) * x.rows * x.cols) if tiles else 0.0,
            "per_population": per_pop}


def partial_sum_adds(tiles: list[dict]) -> int:
    """Digital additions per tick: a column fed by k tiles adds k − 1 partial sums."""
    blocks: dict[tuple, int] = {}
    for t in tiles:
        key = (t["population"], tuple(t["cols"]))
        blocks[key] = blocks.get(key, 0) + 1
    return sum((k - 1) * (cols[1] - cols[0]) for (_, cols), k in blocks.items())


def chip_crossings(tiles: list[dict], rate, target) -> float:
    """Spikes per tick times chip-to-chip hops: each element a tile reads comes from the nearest chip
    holding a tile of its source population (0 on one chip; graph inputs come from the host)."""
    chips: dict[str, set[int]] = {}
    for t in tiles:
        chips.setdefault(t["population"], set()).add(t["position"][0])
    out = 0.0
    for t in tiles:
        home = chips.get(t["source"])
        if home and t["position"][0] not in home:
            hops = min(chip_hops(Position(c, 0, 0), Position(t["position"][0], 0, 0), target) for c in home)
            out += rate(t["source"]) * (t["rows"][1] - t["rows"][0]) * hops
    return out


def estimate(graph: Graph, tiles: list[dict], target, options: EmitOptions, activity: dict | None) -> dict:
    """Energy and time of one inference from the target's costs (FORMAT.md, "Estimate")."""
    c, tm = target.costs, target.timing
    ticks = activity["ticks"] if activity else options.ticks
    rate = (lambda src: activity["per_source"].get(src, options.activity)) if activity else \
        (lambda src: options.activity)
    pops = _populations(graph)
    rows = sum(rate(t["source"]) * t["physical_rows"] for t in tiles)
    reads = sum(t["physical_cols"] for t in tiles) if not tm.continuous else 0
    adds = partial_sum_adds(tiles) if target.crossbar.partial_sums == "digital" else 0
    neurons = sum(graph.op(p).shape[0] for p in pops)
    spikes = sum(rate(p) * graph.op(p).shape[0] for p in pops)
    crossings = chip_crossings(tiles, rate, target)
    dyn_pj = (rows * c.row_drive_pj + reads * c.column_read_pj + adds * c.partial_sum_pj
              + neurons * c.neuron_update_pj + spikes * c.spike_pj + crossings * target.links.energy_pj)
    tick_ns = graph.dt * 1e9 if tm.continuous else len(pops) * (tm.mvm_ns + tm.neuron_ns)
    time_ns = tick_ns * ticks
    energy_pj = dyn_pj * ticks + c.static_mw * 1e-3 * time_ns * 1e-9 * 1e12
    return {"assumptions": {"ticks": ticks, "activity": activity["per_source"] if activity else options.activity,
                            "activity_from": "ideal-chip run of the evaluation data" if activity else "assumed",
                            "costs_source": c.source, "costs_note": c.note},
            "per_tick": {"dynamic_pj": dyn_pj, "time_ns": tick_ns, "row_drives": rows, "column_reads": reads,
                         "partial_sum_adds": adds, "neuron_updates": neurons, "spikes": spikes,
                         **({"chip_crossings": crossings} if crossings else {})},
            "per_inference": {"energy_uj": energy_pj * 1e-6, "time_us": time_ns * 1e-3,
                              "static_uj": c.static_mw * 1e-3 * time_ns * 1e-9 * 1e6}}


# -- what needs evaluation data ----------------------------------------------------------------------
def evaluate(graph: Graph, target, options: EmitOptions) -> dict:
    """The compile-time-only sections: `monte_carlo` (None without data) and, with data, the
    estimate under measured activity."""
    if options.data is None:
        return {"monte_carlo": None}
    activity = measured_activity(graph, options)
    return {"estimate": estimate(graph, tile_table(graph, target), target, options, activity),
            "monte_carlo": monte_carlo(graph, options)}


def measured_activity(graph: Graph, options: EmitOptions) -> dict:
    """Mean active fraction per tick of every graph input and population, on an ideal chip run
    of the evaluation data."""
    pops = _populations(graph)
    x = options.data.x
    res = run(chip.ideal(graph), {graph.inputs[0]: x}, record=pops)
    act = {graph.inputs[0]: float(np.mean(x != 0))}
    act.update({p: float(np.mean(res.recorded[p] != 0)) for p in pops})
    return {"ticks": int(x.shape[0]), "per_source": act}


def monte_carlo(graph: Graph, options: EmitOptions) -> dict:
    """Accuracy over `instances` chips at each time (mean, 5th percentile, ...), and on an ideal chip."""
    d = options.data
    compiled = max((n.op.t_inference for n in graph.nodes.values() if isinstance(n.op, Crossbar)), default=0.0)
    results = []
    for t in options.times or (compiled,):
        s = chip.monte_carlo(chip.at_time(graph, t), d.x, d.labels, instances=options.instances, seed=options.seed)
        results.append({"t_inference": t, **s})
    ideal = float(np.mean(chip.accuracies(chip.ideal(graph), d.x, d.labels, instances=1)))
    return {"data": d.to_json(), "instances": options.instances, "seed": options.seed,
            "ideal_chip_accuracy": ideal, "percentile": "numpy linear interpolation", "results": results}


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
