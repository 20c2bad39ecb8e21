"""Analog design rules, checked from the artifact's files alone (FORMAT.md).

Nothing here calls the passes: every tile is re-read from `tiles.json` and its
`tiles/tile_NNNN.npz`, every population from `neurons.json` / `neurons.npz`, and each rule
compares what it finds with the limit the installed Target states, e.g.

    tile 3: 300 rows > 256 allowed (analog.crossbar.rows)

Files that cannot be read as FORMAT.md says are one `files` diagnostic naming the file and
the entry. Whether the files decode into a runnable graph (`decode.py`, with its own checks
of every reference between the files) is `snnc verify`'s check, for every family.
"""
from __future__ import annotations

import numpy as np

from snnc.artifact import Artifact
from snnc.backends.analog.reader import Obj
from snnc.errors import MalformedInputError
from snnc.rules import files_match_manifest
from snnc.verify import Diagnostic

GRID_TOL = 1e-6          # a stored value is "on a grid" within this many grid steps


class Stored:
    """The files as the rules read them: tiles.json and neurons.json with every array."""

    def __init__(self, art: Artifact):
        self.doc = Obj(art.json("tiles.json"), "tiles.json")
        self.tiles = []
        for t in self.doc.arr("tiles").objs():
            t.int("tile", low=0), t.ints("position", 3), t.ints("rows", 2), t.ints("cols", 2)
            t.int("physical_rows", low=0), t.obj("converters"), t.str("population"), t.str("source")
            t.int("lag", low=0)
            self.tiles.append({**t.data, "arrays": art.arrays(t.str("file")) if t.str("file") in art.files else None})
        self.neurons = Obj(art.json("neurons.json"), "neurons.json")
        self.pops = list(self.neurons.arr("populations").objs())
        for p in self.pops:
            p.str("name"), p.int("neurons", low=1), p.str("reset_mode"), p.num("t_refrac", low=0)
        self.neuron_arrays = art.arrays("neurons.npz")


def _where(t: dict) -> str:
    return f"tile {t['tile']}"


def tiles_within_chip(s: Stored, art, target) -> list[Diagnostic]:
    out = []
    if len(s.tiles) > target.total_tiles:
        out.append(Diagnostic("artifact", "cores_per_chip", target.name, f"{len(s.tiles)} tiles",
                              f"{target.total_tiles} ({target.chips} chip(s) x {target.cores_per_chip})"))
    rows, cols = target.mesh
    seen: dict[tuple, int] = {}
    for t in s.tiles:
        chip, row, col = t["position"]
        if not (chip < target.chips and row < rows and col < cols and row * cols + col < target.cores_per_chip):
            out.append(Diagnostic(_where(t), "mesh", target.name,
                                  message=f"position chip {chip} row {row} column {col} does not exist "
                                          f"({target.chips} chip(s) of {target.cores_per_chip} tiles, mesh "
                                          f"{rows}x{cols})"))
        if (chip, row, col) in seen:
            out.append(Diagnostic(_where(t), "mesh", target.name,
                                  message=f"shares its position with tile {seen[(chip, row, col)]}"))
        seen[(chip, row, col)] = t["tile"]
        if t["arrays"] is None:
            out.append(Diagnostic(_where(t), "files", target.name, message=f"{t['file']} is missing"))
    return out


def tiles_fit_the_crossbar(s: Stored, art, target) -> list[Diagnostic]:
    x, out = target.crossbar, []
    for t in s.tiles:
        a = t["arrays"] or {}
        if "g_pos" not in a or a["g_pos"].ndim != 2:
            continue
        C, R = a["g_pos"].shape
        rows = 2 * R if x.signed_mode == "split_rows" else R
        if rows > x.rows:
            out.append(Diagnostic(_where(t), "crossbar.rows", target.name, f"{rows} rows", x.rows))
        if C > x.cols:
            out.append(Diagnostic(_where(t), "crossbar.cols", target.name, f"{C} columns", x.cols))
        if (C, R) != (t["cols"][1] - t["cols"][0], t["rows"][1] - t["rows"][0]) or rows != t["physical_rows"]:
            out.append(Diagnostic(_where(t), "tiles", target.name, message=f"conductances are {C}x{R}, the tile map "
                                  f"says columns {t['cols']} and rows {t['rows']} ({t['physical_rows']} physical)"))
    return out


def blocks_do_not_overlap(s: Stored, art, target) -> list[Diagnostic]:
    """The blocks of one population's matrix from one source at one age partition it: no weight is stored twice."""
    out, seen = [], {}
    for t in s.tiles:
        key = (t["population"], t["source"], t["lag"])
        for other in seen.get(key, []):
            if (t["rows"][0] < other["rows"][1] and other["rows"][0] < t["rows"][1]
                    and t["cols"][0] < other["cols"][1] and other["cols"][0] < t["cols"][1]):
                out.append(Diagnostic(_where(t), "tiles", target.name,
                                      message=f"rows {t['rows']} x columns {t['cols']} of '{t['population']}' from "
                                              f"'{t['source']}' (lag {t['lag']}) overlap tile {other['tile']}"))
        seen.setdefault(key, []).append(t)
    return out


def conductances_within_device(s: Stored, art, target) -> list[Diagnostic]:
    d, out = target.device, []
    for t in s.tiles:
        a = t["arrays"] or {}
        for key in ("g_pos", "g_neg"):
            g = a.get(key)
            if g is None or not g.size:
                continue
            if g.min() < 0 or g.max() > d.g_max:
                out.append(Diagnostic(_where(t), "device.g_max", target.name,
                                      message=f"{key} spans {g.min():g}..{g.max():g} {d.unit}, outside [0, {d.g_max:g}]"))
            if d.levels:
                steps = g / (d.g_max / (d.levels - 1))
                if np.abs(steps - np.rint(steps)).max() > GRID_TOL:
                    out.append(Diagnostic(_where(t), "device.levels", target.name,
                                          message=f"{key} is not on the {d.levels}-level grid"))
                code = a.get(key.replace("g_", "code_"))
                if code is None or code.shape != g.shape or not np.array_equal(code, np.rint(steps)):
                    out.append(Diagnostic(_where(t), "device.levels", target.name,
                                          message=f"codes of {key} are missing or disagree with the conductances"))
    return out


def tile_map_matches_tiles(s: Stored, art, target) -> list[Diagnostic]:
    """The tile map's summaries of each tile (columns, scales, gains, synapses) are its file's."""
    out = []
    for t in s.tiles:
        a = t["arrays"] or {}
        if not {"g_pos", "g_neg", "w_scale", "gain"} <= set(a) or a["g_pos"].shape != a["g_neg"].shape:
            continue
        claims = {"physical_cols": int(a["g_pos"].shape[0]),
                  "synapses": int(np.count_nonzero(a["g_pos"] != a["g_neg"])),
                  "w_scale": [float(a["w_scale"].min(initial=np.inf)), float(a["w_scale"].max(initial=-np.inf))],
                  "gain": [float(a["gain"].min(initial=np.inf)), float(a["gain"].max(initial=-np.inf))]}
        for key, value in claims.items():
            if t.get(key) != value:
                out.append(Diagnostic(_where(t), "tiles", target.name,
                                      message=f"tiles.json says {key} {t.get(key)}, {t['file']} holds {value}"))
    return out


def converters_are_the_chips(s: Stored, art, target) -> list[Diagnostic]:
    c, out = target.converters, []
    for t in s.tiles:
        conv = t["converters"]
        for key in ("dac_bits", "adc_bits", "adc_bound"):
            if conv.get(key) != getattr(c, key):
                out.append(Diagnostic(_where(t), f"converters.{key}", target.name,
                                      message=f"{key} = {conv.get(key)}, the chip has {getattr(c, key)}"))
    return out


def settings_are_the_chips(s: Stored, art, target) -> list[Diagnostic]:
    """Array organisation, device grid and neuron units are the target's, as the files claim."""
    d = s.doc.obj("device")
    claims = {"crossbar.signed_mode": (s.doc.get("signed_mode"), target.crossbar.signed_mode),
              "crossbar.partial_sums": (s.doc.get("partial_sums"), target.crossbar.partial_sums),
              "device.unit": (d.get("unit"), target.device.unit), "device.levels": (d.get("levels"), target.device.levels),
              "device.g_max": (d.obj("model").get("g_max"), target.device.g_max),
              "neuron.units": (s.neurons.get("units"), target.neuron.units),
              "timing.speedup": (s.neurons.get("speedup"), target.timing.speedup)}
    return [Diagnostic("artifact", rule, target.name, message=f"the files say {got!r}, the chip has {want!r}")
            for rule, (got, want) in claims.items() if got != want]


def neurons_within_circuits(s: Stored, art, target) -> list[Diagnostic]:
    n, out = target.neuron, []
    total = sum(p.get("neurons") for p in s.pops)
    limit = target.total_tiles * target.crossbar.cols
    if total > limit:
        out.append(Diagnostic("artifact", "crossbar.cols", target.name, f"{total} neurons", limit))
    step = (n.v_range.hi - n.v_range.lo) / ((1 << n.parameter_bits) - 1)
    for p in s.pops:
        pop = p.get("name")
        where = f"population '{pop}'"
        if p.get("reset_mode") not in n.reset_modes:
            out.append(Diagnostic(where, "neuron.reset_modes", target.name,
                                  message=f"reset_mode {p.get('reset_mode')} is not supported"))
        for key in ("v_leak", "v_init", "v_threshold", "v_reset"):
            out += _potential(s.neuron_arrays, pop, key, where, target, step)
        out += _time_constants(s.neuron_arrays.get(f"{pop}.tau_mem"), where, target)
        if p.get("t_refrac") > n.refractory_max * (1 + 1e-9):
            out.append(Diagnostic(where, "neuron.refractory_max", target.name, f"{p.get('t_refrac'):g} s",
                                  f"{n.refractory_max:g} s"))
    return out


def _potential(arrays, pop: str, key: str, where: str, target, step: float) -> list[Diagnostic]:
    n, out = target.neuron, []
    v, code = arrays.get(f"{pop}.{key}"), arrays.get(f"{pop}.{key}_code")
    if v is None or not v.size or v.dtype.kind != "f":
        return out
    if v.min() < n.v_range.lo or v.max() > n.v_range.hi:
        out.append(Diagnostic(where, "neuron.v_range", target.name,
                              message=f"{key} spans {v.min():g}..{v.max():g} {n.units}, outside {n.v_range}"))
    codes = (v - n.v_range.lo) / step
    if np.abs(codes - np.rint(codes)).max() > GRID_TOL:
        out.append(Diagnostic(where, "neuron.parameter_bits", target.name,
                              message=f"{key} is not on the {n.parameter_bits}-bit parameter grid"))
    elif code is None or code.shape != v.shape or not np.array_equal(code, np.rint(codes)):
        out.append(Diagnostic(where, "neuron.parameter_bits", target.name,
                              message=f"the parameter-DAC codes of {key} are missing or disagree with its potentials"))
    return out


def _time_constants(tau, where: str, target) -> list[Diagnostic]:
    n, out = target.neuron, []
    if tau is None or not tau.size or tau.dtype.kind != "f":
        return out
    finite = tau[np.isfinite(tau)]
    lo, hi = n.tau_range
    if finite.size and (finite.min() < lo * (1 - 1e-9) or finite.max() > hi * (1 + 1e-9)):
        out.append(Diagnostic(where, "neuron.tau_range", target.name,
                              message=f"tau_mem spans {finite.min():g}..{finite.max():g} s, outside [{lo:g}, {hi:g}]"))
    if finite.size < tau.size and not n.integrators:
        out.append(Diagnostic(where, "neuron.integrators", target.name,
                              message="a leak-free circuit (tau_mem = inf) is not available"))
    return out


def delays_within_buffers(s: Stored, art, target) -> list[Diagnostic]:
    """No tile reads a population's spikes older than the event path holds (the host holds inputs)."""
    most, pops = target.timing.max_delay, {p.get("name") for p in s.pops}
    return [Diagnostic(_where(t), "timing.max_delay", target.name, f"lag {t['lag']} ticks", f"{most} ticks")
            for t in s.tiles if t["lag"] > most and t["source"] in pops]


def synapses_within_circuits(s: Stored, art, target) -> list[Diagnostic]:
    """A synaptic-input circuit exists on the chip, with a time constant it can set."""
    n, out = target.neuron, []
    for p in s.pops:
        if p.get("synapse") is None:
            continue
        where = f"population '{p.get('name')}'"
        if not n.tau_syn_range:
            out.append(Diagnostic(where, "neuron.tau_syn_range", target.name,
                                  message="has a synaptic-input circuit; the chip's circuits have none"))
            continue
        tau = s.neuron_arrays.get(f"{p.get('name')}.tau_syn")
        lo, hi = n.tau_syn_range
        if tau is not None and tau.size and tau.dtype.kind == "f" and \
                (tau.min() < lo * (1 - 1e-9) or tau.max() > hi * (1 + 1e-9)):
            out.append(Diagnostic(where, "neuron.tau_syn_range", target.name,
                                  message=f"tau_syn spans {tau.min():g}..{tau.max():g} s, outside [{lo:g}, {hi:g}]"))
    return out


def resources_match_files(s: Stored, art, target) -> list[Diagnostic]:
    claim = art.manifest.get("resources", {}).get("tiles")
    if claim is not None and claim != len(s.tiles):
        return [Diagnostic("manifest", "resources", target.name,
                           message=f"claims {claim} tiles, tiles.json lists {len(s.tiles)}")]
    return []


RULES = (tiles_within_chip, tiles_fit_the_crossbar, blocks_do_not_overlap, conductances_within_device,
         tile_map_matches_tiles, converters_are_the_chips, settings_are_the_chips, neurons_within_circuits,
         delays_within_buffers, synapses_within_circuits, resources_match_files)


def check(art: Artifact, target) -> tuple[list[Diagnostic], dict]:
    """Run every rule; return the diagnostics and what was checked (module docstring)."""
    names = ["files_match_manifest"] + [r.__name__ for r in RULES]
    diags = files_match_manifest(art, target)
    try:
        stored = Stored(art)
    except MalformedInputError as exc:
        return diags + [_unreadable(exc, target)], {"unit": "tile", "tiles": 0, "rules": names}
    diags += [d for rule in RULES for d in rule(stored, art, target)]
    return diags, {"unit": "tile", "tiles": len(stored.tiles), "rules": names}


def _unreadable(exc: MalformedInputError, target) -> Diagnostic:
    return Diagnostic(exc.file or "artifact", "files", target.name, message=str(exc).removeprefix(f"{exc.file}:").strip()
                      if exc.file else str(exc))
