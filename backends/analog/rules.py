"""Analog design rules, checked from the artifact's files alone (FORMAT.md).

Nothing here calls the passes: every tile is re-read from `tiles.json` and its
`tiles/tile_NNNN.npz`, every population from `neurons.json` / `neurons.npz`, and each rule
compares what it finds with the limit the installed Target states, e.g.

    tile 3: 300 rows > 256 allowed (analog.crossbar.rows)
"""
from __future__ import annotations

import json

import numpy as np

from snnc.artifact import Artifact, read_npz
from snnc.errors import MalformedInputError
from snnc.rules import files_match_manifest
from snnc.verify import Diagnostic

GRID_TOL = 1e-6          # a stored value is "on a grid" within this many grid steps


def _tiles(art: Artifact) -> list[dict]:
    meta = json.loads(art.files["tiles.json"]) if "tiles.json" in art.files else {"tiles": []}
    out = []
    for t in meta["tiles"]:
        arrays, error = {}, ""
        if t["file"] in art.files:
            try:
                arrays = read_npz(art.files[t["file"]], file=t["file"])
            except MalformedInputError as exc:
                error = str(exc)
        out.append({**t, "arrays": arrays, "error": error})
    return out


def tiles_within_chip(tiles, art, target) -> list[Diagnostic]:
    x = target.crossbar
    out = []
    if len(tiles) > target.total_tiles:
        out.append(Diagnostic("artifact", "cores_per_chip", target.name, f"{len(tiles)} tiles",
                              f"{target.total_tiles} ({target.chips} chip(s) x {target.cores_per_chip})"))
    seen = {}
    for t in tiles:
        where = f"tile {t['tile']}"
        if not (0 <= t["index"] < target.cores_per_chip and 0 <= t["chip"] < target.chips):
            out.append(Diagnostic(where, "cores_per_chip", target.name,
                                  message=f"position chip {t['chip']} index {t['index']} does not exist"))
        if t["tile"] in seen:
            out.append(Diagnostic(where, "cores_per_chip", target.name,
                                  message=f"holds two blocks ({seen[t['tile']]} and {t['node']})"))
        seen[t["tile"]] = t["node"]
        if t["file"] not in art.files:
            out.append(Diagnostic(where, "files", target.name, message=f"{t['file']} is missing"))
        elif t["error"]:
            out.append(Diagnostic(where, "files", target.name, message=t["error"]))
    return out


def tiles_fit_the_crossbar(tiles, art, target) -> list[Diagnostic]:
    x, out = target.crossbar, []
    for t in tiles:
        where, a = f"tile {t['tile']}", t["arrays"]
        if "g_pos" not in a:
            continue
        C, R = a["g_pos"].shape
        rows = 2 * R if x.signed_mode == "split_rows" else R
        if rows > x.rows:
            out.append(Diagnostic(where, "crossbar.rows", target.name, f"{rows} rows", x.rows))
        if C > x.cols:
            out.append(Diagnostic(where, "crossbar.cols", target.name, f"{C} columns", x.cols))
        if (C, R) != (t["cols"][1] - t["cols"][0], t["rows"][1] - t["rows"][0]) or rows != t["physical_rows"]:
            out.append(Diagnostic(where, "tiles", target.name, message=f"conductances are {C}x{R}, the tile map "
                                  f"says columns {t['cols']} and rows {t['rows']} ({t['physical_rows']} physical)"))
    return out


def conductances_within_device(tiles, art, target) -> list[Diagnostic]:
    d, out = target.device, []
    for t in tiles:
        where, a = f"tile {t['tile']}", t["arrays"]
        for key in ("g_pos", "g_neg"):
            if key not in a:
                continue
            g = a[key]
            if g.size and (g.min() < 0 or g.max() > d.g_max):
                out.append(Diagnostic(where, "device.g_max", target.name,
                                      message=f"{key} spans {g.min():g}..{g.max():g} {d.unit}, outside [0, {d.g_max:g}]"))
            if d.levels and g.size:
                steps = g / (d.g_max / (d.levels - 1))
                if np.abs(steps - np.rint(steps)).max() > GRID_TOL:
                    out.append(Diagnostic(where, "device.levels", target.name,
                                          message=f"{key} is not on the {d.levels}-level grid"))
                code = a.get(key.replace("g_", "code_"))
                if code is None or not np.array_equal(code, np.rint(steps)):
                    out.append(Diagnostic(where, "device.levels", target.name,
                                          message=f"codes of {key} are missing or disagree with the conductances"))
    return out


def converters_are_the_chips(tiles, art, target) -> list[Diagnostic]:
    c, out = target.converters, []
    for t in tiles:
        conv = t["converters"]
        for key in ("dac_bits", "adc_bits", "adc_bound"):
            if conv.get(key) != getattr(c, key):
                out.append(Diagnostic(f"tile {t['tile']}", f"converters.{key}", target.name,
                                      message=f"{key} = {conv.get(key)}, the chip has {getattr(c, key)}"))
    return out


def neurons_within_circuits(tiles, art, target) -> list[Diagnostic]:
    n, out = target.neuron, []
    meta = json.loads(art.files["neurons.json"]) if "neurons.json" in art.files else {"populations": {}}
    arrays = read_npz(art.files["neurons.npz"], file="neurons.npz") if "neurons.npz" in art.files else {}
    total = sum(p["neurons"] for p in meta["populations"].values())
    limit = target.total_tiles * target.crossbar.cols
    if total > limit:
        out.append(Diagnostic("artifact", "crossbar.cols", target.name, f"{total} neurons", limit))
    step = (n.v_range.hi - n.v_range.lo) / ((1 << n.parameter_bits) - 1)
    for pop, p in meta["populations"].items():
        where = f"population '{pop}'"
        if p["reset_mode"] not in n.reset_modes:
            out.append(Diagnostic(where, "neuron.reset_modes", target.name,
                                  message=f"reset_mode {p['reset_mode']} is not supported"))
        for key in ("v_leak", "v_init", "v_threshold", "v_reset"):
            v = arrays.get(f"{pop}.{key}")
            if v is None or not v.size:
                continue
            if v.min() < n.v_range.lo or v.max() > n.v_range.hi:
                out.append(Diagnostic(where, "neuron.v_range", target.name,
                                      message=f"{key} spans {v.min():g}..{v.max():g} {n.units}, outside {n.v_range}"))
            codes = (v - n.v_range.lo) / step
            if np.abs(codes - np.rint(codes)).max() > GRID_TOL:
                out.append(Diagnostic(where, "neuron.parameter_bits", target.name,
                                      message=f"{key} is not on the {n.parameter_bits}-bit parameter grid"))
        tau = arrays.get(f"{pop}.tau_mem")
        if tau is not None and tau.size:
            finite = tau[np.isfinite(tau)]
            lo, hi = n.tau_range
            if finite.size and (finite.min() < lo * (1 - 1e-9) or finite.max() > hi * (1 + 1e-9)):
                out.append(Diagnostic(where, "neuron.tau_range", target.name,
                                      message=f"tau_mem spans {finite.min():g}..{finite.max():g} s, outside "
                                              f"[{lo:g}, {hi:g}]"))
            if finite.size < tau.size and not n.integrators:
                out.append(Diagnostic(where, "neuron.integrators", target.name,
                                      message="a leak-free circuit (tau_mem = inf) is not available"))
        if p["t_refrac"] > n.refractory_max * (1 + 1e-9):
            out.append(Diagnostic(where, "neuron.refractory_max", target.name, f"{p['t_refrac']:g} s",
                                  f"{n.refractory_max:g} s"))
    return out


def manifest_matches_files(tiles, art, target) -> list[Diagnostic]:
    out = files_match_manifest(art, target)
    claim = art.manifest.get("resources", {}).get("tiles")
    if claim is not None and claim != len(tiles):
        out.append(Diagnostic("manifest", "resources", target.name,
                              message=f"claims {claim} tiles, tiles.json lists {len(tiles)}"))
    return out


RULES = (tiles_within_chip, tiles_fit_the_crossbar, conductances_within_device, converters_are_the_chips,
         neurons_within_circuits, manifest_matches_files)


def check(art: Artifact, target) -> tuple[list[Diagnostic], dict]:
    """Run every rule; return the diagnostics and what was checked."""
    tiles = _tiles(art)
    diags = [d for rule in RULES for d in rule(tiles, art, target)]
    return diags, {"unit": "tile", "tiles": len(tiles), "rules": [r.__name__ for r in RULES]}
