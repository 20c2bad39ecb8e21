"""TrueNorth design rules, checked from the artifact's files alone (FORMAT.md).

Nothing here calls the compiler: each core is re-read from `cores/core_NNNN.{json,npz}`, its
sizes and registers are compared with the limits of the installed Target, and the routes
are followed from the destination tables to the cores they name. A rule is a small
function returning `Diagnostic`s that name the core (and neuron or axon), the value and
the limit, and the rule as the target's key, e.g.

    core 0: 257 > 256 allowed (truenorth.core.axons)
    core 3 neuron 17: 2 > 1 allowed (truenorth.core.destinations_per_neuron)
"""
from __future__ import annotations

import json

import numpy as np

from snnc.artifact import Artifact, read_npz
from snnc.backends.truenorth.cores import NEURON_FIELDS
from snnc.backends.truenorth.files import CORE_ARRAYS, CORE_PREFIX, DEST_FIELDS, HOST
from snnc.backends.truenorth.target import RESET_MODES
from snnc.errors import MalformedInputError
from snnc.rules import StoredCore, files_match_manifest, host_arrays, over_limit
from snnc.targets.schema import Range
from snnc.verify import Diagnostic


class Core(StoredCore):
    """A TrueNorth core as stored: its size is its crossbar's [axons, neurons]."""

    @property
    def axons(self) -> int:
        return self.arrays["crossbar"].shape[0]

    @property
    def neurons(self) -> int:
        return self.arrays["crossbar"].shape[1]


def read_cores(art: Artifact, target) -> tuple[list[Core], list[Diagnostic]]:
    """Every core of the artifact the rules can read, in core order, straight from its files;
    a "format" diagnostic for each core file they cannot (decode says more about it)."""
    cores, diags = [], []
    for name in sorted(f for f in art.files if f.startswith(CORE_PREFIX) and f.endswith(".json")):
        stem = name[:-len(".json")]
        try:
            meta = json.loads(art.files[name])
            arrays = read_npz(art.files.get(f"{stem}.npz", b""), file=f"{stem}.npz")
        except (ValueError, MalformedInputError) as exc:
            diags.append(Diagnostic(name, "format", target.name, message=f"unreadable ({exc}); its rules were skipped"))
            continue
        problem = _unreadable(meta, arrays)
        if problem:
            diags.append(Diagnostic(name, "format", target.name, message=f"{problem}; its rules were skipped"))
        else:
            cores.append(Core(meta["core"], meta, arrays))
    return cores, diags


def _unreadable(meta, arrays: dict) -> str:
    """What keeps the rules from reading a core's files (empty when nothing does)."""
    if not isinstance(meta, dict) or not _is_int(meta.get("core")):
        return "no integer 'core'"
    pos, parts = meta.get("position"), meta.get("parts")
    if not isinstance(pos, list) or len(pos) != 4 or not all(map(_is_int, pos)):
        return f"position {pos!r} is not 4 integers"
    if not isinstance(parts, list) or not all(isinstance(p, dict) and isinstance(p.get("population"), str)
                                              and all(_is_int(p.get(k)) for k in ("offset", "count", "first"))
                                              for p in parts):
        return "parts is not a list of {population, offset, count, first}"
    missing = [k for k in CORE_ARRAYS if k not in arrays]
    if missing:
        return f"the .npz lacks array '{missing[0]}'"
    ndim = {k: (2 if k in ("crossbar", "neuron.weight", "neuron.stochastic_weight") else 1) for k in CORE_ARRAYS}
    bad = [k for k in CORE_ARRAYS if arrays[k].ndim != ndim[k] or arrays[k].dtype.kind not in "iu"]
    if bad:
        return f"array '{bad[0]}' is not a {ndim[bad[0]]}-D integer array"
    if len({len(arrays[f"dest.{f}"]) for f in DEST_FIELDS}) != 1:
        return "the dest.* arrays differ in length"
    return ""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# -- per-core rules ------------------------------------------------------------------------------
def axons_within_limit(core: Core, target) -> list[Diagnostic]:
    return over_limit(core.where, target, "core.axons", core.axons, target.core.axons)


def neurons_within_limit(core: Core, target) -> list[Diagnostic]:
    return over_limit(core.where, target, "core.neurons", core.neurons, target.core.neurons)


def crossbar_is_binary(core: Core, target) -> list[Diagnostic]:
    bad = np.argwhere((core.arrays["crossbar"] != 0) & (core.arrays["crossbar"] != 1))
    if not bad.size:
        return []
    i, j = (int(v) for v in bad[0])
    return [Diagnostic(f"{core.where} axon {i} neuron {j}", "core.crossbar", target.name,
                       message=f"synapse = {int(core.arrays['crossbar'][i, j])}, a crossbar bit is 0 or 1")]


def shapes_agree(core: Core, target) -> list[Diagnostic]:
    """One type per axon; one value per neuron; at most `core.axon_types` weights per neuron."""
    out = []
    k = core.arrays["neuron.weight"].shape[1] if core.arrays["neuron.weight"].ndim == 2 else -1
    if k > target.core.axon_types:
        out.append(Diagnostic(core.where, "core.axon_types", target.name,
                              message=f"{k} weights per neuron > {target.core.axon_types} allowed"))
    expected = {"axon_type": (core.axons,), "neuron.weight": (core.neurons, k),
                "neuron.stochastic_weight": (core.neurons, k), **{f"neuron.{f}": (core.neurons,) for f in NEURON_FIELDS}}
    for key, shape in expected.items():
        got = core.arrays[key].shape
        if got != shape:
            out.append(Diagnostic(core.where, "format", target.name,
                                  message=f"{key} has shape {list(got)}, the crossbar implies {list(shape)}"))
    return out


def _range(core: Core, target, key: str, rule: str, rng: Range, what: str) -> list[Diagnostic]:
    v = core.arrays[key]
    bad = np.argwhere((v < rng.lo) | (v > rng.hi))
    if not bad.size:
        return []
    i = int(bad[0][0])
    return [Diagnostic(f"{core.where} {what} {i}", rule, target.name,
                       message=f"{key.split('.')[-1]} = {int(v[tuple(bad[0])])} outside {rng}")]


def registers_within_formats(core: Core, target) -> list[Diagnostic]:
    f = target.formats
    flag = Range(0, 1 if target.neurons.stochastic else 0)
    modes = Range(0, len(RESET_MODES) - 1)
    checks = [("axon_type", "core.axon_types", Range(0, target.core.axon_types - 1), "axon"),
              ("neuron.weight", "formats.weight", f.weight, "neuron"),
              ("neuron.leak", "formats.leak", f.leak, "neuron"),
              ("neuron.alpha", "formats.alpha", f.alpha, "neuron"),
              ("neuron.beta", "formats.beta", f.beta, "neuron"),
              ("neuron.reset_value", "formats.reset_value", f.reset_value, "neuron"),
              ("neuron.threshold_mask_bits", "formats.threshold_mask_bits",
               f.threshold_mask_bits if target.neurons.stochastic else Range(0, 0), "neuron"),
              ("neuron.reset_mode", "neurons.reset_modes", modes, "neuron"),
              ("neuron.saturate", "neurons.saturate", Range(0, 1), "neuron"),
              ("neuron.leak_reversal", "neurons.leak_reversal", Range(0, 1), "neuron"),
              ("neuron.stochastic_weight", "neurons.stochastic", flag, "neuron"),
              ("neuron.stochastic_leak", "neurons.stochastic", flag, "neuron")]
    out = [d for key, rule, rng, what in checks for d in _range(core, target, key, rule, rng, what)]
    used = {RESET_MODES[int(g)] for g in np.unique(core.arrays["neuron.reset_mode"]) if 0 <= g < len(RESET_MODES)}
    for mode in sorted(used - set(target.neurons.reset_modes)):
        out.append(Diagnostic(core.where, "neurons.reset_modes", target.name, message=f"reset mode {mode} is not supported"))
    if core.meta.get("membrane_bits") != f.membrane_bits:
        out.append(Diagnostic(core.where, "formats.membrane_bits", target.name,
                              message=f"membrane_bits = {core.meta.get('membrane_bits')}, the chip has {f.membrane_bits}"))
    return out


def one_destination_per_neuron(core: Core, target) -> list[Diagnostic]:
    """Each neuron sends to at most `destinations_per_neuron` (core, axon) pairs, with a delay in range."""
    out = []
    neuron, dest, delay = core.arrays["dest.neuron"], core.arrays["dest.core"], core.arrays["dest.delay"]
    bad = np.flatnonzero((neuron < 0) | (neuron >= core.neurons))
    if bad.size:
        out.append(Diagnostic(f"{core.where} destination {int(bad[0])}", "core.neurons", target.name,
                              message=f"names neuron {int(neuron[bad[0]])}, the core has {core.neurons}"))
    counts = np.bincount(neuron[(neuron >= 0) & (neuron < core.neurons)], minlength=core.neurons)
    for j in np.flatnonzero(counts > target.core.destinations_per_neuron):
        out.append(Diagnostic(f"{core.where} neuron {int(j)}", "core.destinations_per_neuron", target.name,
                              int(counts[j]), target.core.destinations_per_neuron))
    on_chip = dest != HOST
    rng = target.formats.delay
    for i in np.flatnonzero(on_chip & ((delay < rng.lo) | (delay > rng.hi))):
        out.append(Diagnostic(f"{core.where} neuron {int(neuron[i])}", "formats.delay", target.name,
                              message=f"delay = {int(delay[i])} outside {rng}"))
    return out


CORE_RULES = (axons_within_limit, neurons_within_limit, crossbar_is_binary, shapes_agree,
              registers_within_formats, one_destination_per_neuron)


# -- whole-artifact rules ------------------------------------------------------------------------
def cores_placed_on_mesh(cores: list[Core], art: Artifact, target) -> list[Diagnostic]:
    out = over_limit("artifact", target, "cores", len(cores), target.total_cores)
    rows, cols = target.mesh
    seen = {}
    for c in cores:
        chip, row, col, slot = c.meta["position"]
        if not (0 <= chip < target.chips and 0 <= row < rows and 0 <= col < cols and slot == 0
                and row * cols + col < target.cores_per_chip):
            out.append(Diagnostic(c.where, "mesh", target.name, message=f"position {c.meta['position']} is not "
                                  f"a core of the {target.chips}-chip {rows}x{cols} mesh"))
        key = tuple(c.meta["position"])
        if key in seen:
            out.append(Diagnostic(c.where, "mesh", target.name, message=f"shares position {list(key)} with core {seen[key]}"))
        seen[key] = c.index
    return out


def destinations_exist(cores: list[Core], art: Artifact, target) -> list[Diagnostic]:
    """Every on-chip destination names an existing core and axon; every host one an output element."""
    out = []
    by_index = {c.index: c for c in cores}
    host_out = _host_outputs(art)
    for c in cores:
        for j, d, axon in zip(*(c.arrays[f"dest.{f}"] for f in ("neuron", "core", "axon"))):
            if d == HOST:
                if (c.index, int(j)) not in host_out:
                    out.append(Diagnostic(f"{c.where} neuron {int(j)}", "routes", target.name,
                                          message="sends to the host, but no output or host node element reads it"))
                continue
            dst = by_index.get(int(d))
            if dst is None or not 0 <= axon < dst.axons:
                out.append(Diagnostic(f"{c.where} neuron {int(j)}", "routes", target.name,
                                      message=f"sends to core {int(d)} axon {int(axon)}, which does not exist"))
    return out


def _host_outputs(art: Artifact) -> set[tuple[int, int]]:
    arrays = _host_tables(art)
    return {(int(c), int(n)) for k, v in arrays.items() if k.endswith(".source") for c, n in v}


def _host_tables(art: Artifact) -> dict[str, np.ndarray]:
    """host.npz's input targets [m, 3] and output sources [n, 2] as far as they are readable
    (decode reports a file that is not: a "decode" violation)."""
    try:
        arrays = host_arrays(art)
    except MalformedInputError:
        return {}
    width = {"target": 3, "source": 2}
    return {k: v for k, v in arrays.items() if v.dtype.kind in "iu" and v.ndim == 2
            and v.shape[1] == width.get(k.rsplit(".", 1)[-1])}


def host_map_consistent(cores: list[Core], art: Artifact, target) -> list[Diagnostic]:
    """Host inputs reach existing axons within the scheduler; output elements read neurons that send to the host."""
    out = []
    by_index = {c.index: c for c in cores}
    sends = {(c.index, int(j)) for c in cores for j, d in zip(c.arrays["dest.neuron"], c.arrays["dest.core"])
             if d == HOST}
    for key, v in _host_tables(art).items():
        if key.endswith(".target"):
            for core, axon, delay in v:
                d = by_index.get(int(core))
                if d is None or not 0 <= axon < d.axons or not 0 <= delay < target.core.scheduler_ticks:
                    out.append(Diagnostic(key, "routes", target.name,
                                          message=f"targets core {int(core)} axon {int(axon)} delay {int(delay)}, "
                                                  f"which is not an axon within the scheduler"))
        elif key.endswith(".source"):
            for i, (core, j) in enumerate(v):
                if (int(core), int(j)) not in sends:
                    out.append(Diagnostic(f"{key} element {i}", "routes", target.name,
                                          message=f"reads core {int(core)} neuron {int(j)}, which sends nothing to the host"))
    return out


def neurons_mapped_once(cores: list[Core], art: Artifact, target) -> list[Diagnostic]:
    """Every neuron of every layer held by exactly one core part."""
    out = []
    count = {l["population"]: np.zeros(l["neurons"], np.int64) for l in art.manifest.get("layers", [])}
    for c in cores:
        for p in c.meta["parts"]:
            if p["population"] not in count or p["first"] + p["count"] > c.neurons:
                out.append(Diagnostic(c.where, "mapping", target.name,
                                      message=f"part of layer '{p['population']}' does not fit the core's neurons"))
                continue
            count[p["population"]][p["offset"]:p["offset"] + p["count"]] += 1
    for pop, k in count.items():
        bad = np.flatnonzero(k != 1)
        if bad.size:
            out.append(Diagnostic(f"layer '{pop}' neuron {int(bad[0])}", "mapping", target.name,
                                  message=f"held by {int(k[bad[0]])} cores, expected exactly 1"))
    return out


def manifest_matches_files(cores: list[Core], art: Artifact, target) -> list[Diagnostic]:
    out = files_match_manifest(art, target)
    claims = {c["core"]: c for c in art.manifest.get("resources", {}).get("per_core", [])}
    for c in cores:
        actual = {"axons": c.axons, "neurons": c.neurons, "synapses": int(c.arrays["crossbar"].astype(bool).sum()),
                  "destinations": len(c.arrays["dest.neuron"])}
        for k, v in actual.items():
            claim = claims.get(c.index, {}).get(k)
            if claim is not None and claim != v:
                out.append(Diagnostic(c.where, "manifest", target.name,
                                      message=f"manifest claims {k} = {claim}, the files give {v}"))
    return out


ARTIFACT_RULES = (cores_placed_on_mesh, destinations_exist, host_map_consistent, neurons_mapped_once,
                  manifest_matches_files)


def check(art: Artifact, target) -> tuple[list[Diagnostic], dict]:
    """Run every rule; return the diagnostics and what was checked."""
    cores, diags = read_cores(art, target)
    diags += [d for core in cores for rule in CORE_RULES for d in rule(core, target)]
    diags += [d for rule in ARTIFACT_RULES for d in rule(cores, art, target)]
    return diags, {"cores": len(cores), "rules": [r.__name__ for r in CORE_RULES + ARTIFACT_RULES]}
