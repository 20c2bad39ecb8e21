"""Readers of the file layouts the report can draw, each chosen by what an artifact holds.

Each reader takes an `Artifact` and returns a `ChipView` (`snnc.report.chip`), or None when
the files are not of its layout. The layouts are the families' documented formats:

    core_routes        cores/core_NNNN.json with `routes`, and .npz output tables
                       (`output.ptr`, `output.target`): backends/loihi/FORMAT.md
    core_destinations  cores/core_NNNN.json with `routes_in`, and .npz destination tables
                       (`dest.neuron`, `dest.core`) and crossbars: backends/truenorth/FORMAT.md
    tile_map           tiles.json listing crossbar tiles: backends/analog/FORMAT.md

Loads are fractions of the limits the artifact states (the manifest's `resources.limits`)
or, where it states none, of the installed target's.
"""
from __future__ import annotations

import re

import numpy as np

from snnc.report.chip import ChipView, Load, Route, Unit, group, neurons_of, position

_CORE_FILE = re.compile(r"cores/core_(\d+)\.json")


def _core_files(art) -> list[tuple[dict, dict]]:
    """(core JSON, core arrays) of every core file, in core order."""
    names = sorted((int(m.group(1)), name) for name in art.files if (m := _CORE_FILE.fullmatch(name)))
    return [(art.json(name), art.arrays(name[:-5] + ".npz")) for _, name in names]


def _compartments(meta: dict) -> dict[int, tuple[str, int]]:
    """Core-local neuron index -> (population, neuron) for the layer neurons a core file lists."""
    out = {}
    for part in meta.get("parts", []):
        for i, n in enumerate(neurons_of(part)):
            out[int(part["first"]) + i] = (part["population"], int(n))
    return out


def _routes(src: int, dest_core: np.ndarray, who: list) -> list[Route]:
    """Routes from core `src`: one per destination core >= 0 of its destination rows, carrying
    the (population, neuron) `who[row]` of each row (None: no population neuron)."""
    routes = []
    for dst in sorted(set(int(d) for d in dest_core if d >= 0)):
        rows = np.flatnonzero(dest_core == dst)
        known = [who[r] for r in rows if who[r] is not None]
        routes.append(Route(src, dst, int(rows.size), group(known), int(rows.size - len(known))))
    return routes


def core_routes(art) -> ChipView | None:
    """Cores with compartments, synapse memory and input/output axons, and per-compartment output tables."""
    cores = _core_files(art)
    if not cores or "routes" not in cores[0][0] or "output.ptr" not in cores[0][1]:
        return None
    lim = art.manifest["resources"]["limits"]
    units, routes, holds = [], [], {}
    for meta, arrays in cores:
        r, c = meta["resources"], int(meta["core"])
        axons = max((Load(r["input_axons"], lim["input_axons"], "input axons"),
                     Load(r["output_axons"], lim["output_axons"], "output axons")), key=lambda l: l.fraction)
        loads = {"neurons": Load(r["neurons"], lim["neurons"], "compartments"),
                 "synapse memory": Load(r["synapse_bits"], lim["synapse_bits"], "synapse bits"), "axons": axons}
        comp = _compartments(meta)
        units.append(Unit(c, position(meta["position"]), loads, ", ".join(sorted({p for p, _ in comp.values()}))))
        holds[c] = group(comp.values())
        ptr, target = arrays["output.ptr"], arrays["output.target"]
        owner = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))          # compartment of each output row
        routes += _routes(c, target[:, 0] if len(target) else np.zeros(0, np.int64),
                          [comp.get(int(o)) for o in owner])
    return ChipView("core", "core files with output axon tables", units, routes, holds)


def _copies(arrays: dict, layer: dict[int, tuple[str, int]]) -> dict[int, tuple[str, int]]:
    """Every neuron of a crossbar core attributed to a layer neuron: itself, or the layer neuron
    whose crossbar column and registers it repeats (the same inputs and state: the same spikes)."""
    regs = [arrays["crossbar"].T] + [arrays[k].reshape(arrays["crossbar"].shape[1], -1)
                                     for k in sorted(arrays) if k.startswith("neuron.")]
    key = np.concatenate([np.asarray(a, dtype=np.int64) for a in regs], axis=1)
    by_key = {key[j].tobytes(): who for j, who in layer.items() if j < len(key)}
    return {j: layer.get(j) or by_key.get(key[j].tobytes()) for j in range(len(key))
            if layer.get(j) or key[j].tobytes() in by_key}


def core_destinations(art) -> ChipView | None:
    """Crossbar cores (axons x neurons) with one destination row per sending neuron."""
    cores = _core_files(art)
    if not cores or "routes_in" not in cores[0][0] or "dest.core" not in cores[0][1]:
        return None
    lim = art.manifest["resources"]["limits"]
    units, routes, holds, repeats, other = [], [], {}, 0, 0
    for meta, arrays in cores:
        r, c = meta["resources"], int(meta["core"])
        loads = {"neurons": Load(r["neurons"], lim["neurons"], "neurons"),
                 "synapse memory": Load(r["synapses"], lim["axons"] * lim["neurons"], "crossbar cells set"),
                 "axons": Load(r["axons"], lim["axons"], "axons")}
        layer = _compartments(meta)
        who = _copies(arrays, layer)
        repeats += len(who) - len(layer)
        other += int(r["neurons"]) - len(who)
        label = f"{meta.get('role', '')} {meta.get('node', '')}".strip()
        units.append(Unit(c, position(meta["position"]), loads, label))
        holds[c] = group(who.values())
        routes += _routes(c, arrays["dest.core"], [who.get(int(j)) for j in arrays["dest.neuron"]])
    notes = [f"{repeats} neuron(s) repeat a layer neuron's crossbar column and registers (copies for fan-out) "
             f"and count as that neuron"] if repeats else []
    notes += [f"{other} neuron(s) (relays, partial sums) carry no layer neuron's spikes: the activity leaves "
              f"them out"] if other else []
    return ChipView("core", "core files with destination tables", units, routes, holds, notes)


def tile_map(art) -> ChipView | None:
    """Crossbar tiles feeding neuron populations, listed in tiles.json."""
    if "tiles.json" not in art.files:
        return None
    tiles = art.json("tiles.json")["tiles"]
    xb = art.target.crossbar
    cells = xb.rows * xb.cols
    sender = _senders(tiles)
    units, holds = [], {}
    for t in tiles:
        loads = {"neurons": Load(t["physical_cols"], xb.cols, "columns (neuron inputs)"),
                 "synapse memory": Load(t["physical_rows"] * t["physical_cols"], cells, "cells"),
                 "axons": Load(t["physical_rows"], xb.rows, "word lines")}
        units.append(Unit(int(t["tile"]), position(t["position"]), loads, f"{t['source']} -> {t['population']}"))
        holds[int(t["tile"])] = group((t["population"], i) for (p, i), s in sender.items()
                                      if s == t["tile"] and p == t["population"])
    routes = []
    for t in tiles:
        pairs: dict[int, list] = {}
        for i in range(*t["rows"]):
            if (t["source"], i) in sender:
                pairs.setdefault(sender[(t["source"], i)], []).append((t["source"], i))
        routes += [Route(s, int(t["tile"]), len(v), group(v)) for s, v in sorted(pairs.items())]
    note = ("a neuron sits below the columns of every tile that feeds it; its spikes are counted on, and sent "
            "from, the lowest-numbered of them")
    return ChipView("tile", "tiles.json", units, routes, holds, [note])


def _senders(tiles: list[dict]) -> dict[tuple[str, int], int]:
    """(population, neuron) -> the lowest-numbered tile whose columns feed it."""
    out: dict[tuple[str, int], int] = {}
    for t in sorted(tiles, key=lambda t: t["tile"]):
        for i in range(*t["cols"]):
            out.setdefault((t["population"], i), int(t["tile"]))
    return out


READERS = (core_routes, core_destinations, tile_map)
