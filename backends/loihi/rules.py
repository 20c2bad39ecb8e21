"""Loihi design rules, checked from the artifact's files alone.

Nothing here calls the compiler's passes: each core is re-read from
`cores/core_NNNN.{json,npz}` (FORMAT.md), its resources are recounted from the stored
tables, and each rule compares one count or register range with the limit the Target
states. A rule is a small function returning `Diagnostic`s; a message names the core (and
compartment or axon), the value and the limit, and the rule as the target's key, e.g.

    core 3: 1081344 > 1048576 allowed (loihi1.core.synapse_memory_bits)
"""
from __future__ import annotations

import json
from functools import cached_property

import numpy as np

from snnc.artifact import Artifact
from snnc.rules import StoredCore, files_match_manifest, host_arrays, over_limit, read_core_files
from snnc.verify import Diagnostic


class Core(StoredCore):
    """A Loihi core as stored: compartments, input axons (CSR synapse lists), output axons."""

    @property
    def neurons(self) -> int:
        return len(self.arrays["compartment.du"])

    @property
    def input_axons(self) -> int:
        return len(self.arrays["axon.ptr"]) - 1

    @property
    def output_axons(self) -> int:
        return len(self.arrays["output.target"])

    @cached_property
    def synapses_per_axon(self) -> np.ndarray:
        return np.diff(self.arrays["axon.ptr"])

    def synapse_bits(self, target) -> int:
        enc = target.synapse_encoding
        return int(sum(enc.axon_bits(int(k), sparse=bool(s), delays=bool(d)) for k, s, d in
                       zip(self.synapses_per_axon, self.arrays["axon.sparse"], self.arrays["axon.delays"])))


def read_cores(art: Artifact) -> list[Core]:
    """Every core of the artifact, in core order, straight from its files."""
    return read_core_files(art, Core)


# -- per-core limits -----------------------------------------------------------------------------
def neurons_within_limit(core: Core, target) -> list[Diagnostic]:
    return over_limit(core.where, target, "core.neurons", core.neurons, target.core.neurons)


def input_axons_within_limit(core: Core, target) -> list[Diagnostic]:
    return over_limit(core.where, target, "core.input_axons", core.input_axons, target.core.input_axons)


def output_axons_within_limit(core: Core, target) -> list[Diagnostic]:
    return over_limit(core.where, target, "core.output_axons", core.output_axons, target.core.output_axons)


def synapse_memory_within_limit(core: Core, target) -> list[Diagnostic]:
    return over_limit(core.where, target, "core.synapse_memory_bits", core.synapse_bits(target),
                      target.core.synapse_memory_bits)


def _range_rule(core: Core, target, key: str, rule: str, rng, what: str) -> list[Diagnostic]:
    v = core.arrays[key]
    bad = np.flatnonzero((v < rng.lo) | (v > rng.hi))
    if not bad.size:
        return []
    i = int(bad[0])
    return [Diagnostic(f"{core.where} {what} {i}", rule, target.name,
                       message=f"{key.split('.')[-1]} = {int(v[i])} outside {rng}")]


def registers_within_formats(core: Core, target) -> list[Diagnostic]:
    """Every compartment register and synapse field within the target's number formats."""
    f = target.formats
    from snnc.targets.schema import Range
    checks = [
        ("compartment.du", "formats.decay_bits", f.current_decay_range, "compartment"),
        ("compartment.dv", "formats.decay_bits", f.voltage_decay_range, "compartment"),
        ("compartment.vth_mant", "formats.threshold_mantissa_bits", f.threshold_mantissa_range, "compartment"),
        ("compartment.bias_mant", "formats.bias_mantissa_bits", f.bias_mantissa_range, "compartment"),
        ("compartment.bias_exp", "formats.bias_exp", f.bias_exp, "compartment"),
        ("compartment.refractory", "formats.refractory", f.refractory, "compartment"),
        ("synapse.weight", "formats.weight_bits", f.weight_range, "synapse"),
        ("synapse.exp", "formats.weight_exp", f.weight_exp, "synapse"),
        ("synapse.delay", "formats.delay", f.delay, "synapse"),
        ("synapse.target", "core.neurons", Range(0, max(core.neurons - 1, 0)), "synapse"),
    ]
    return [d for key, rule, rng, what in checks for d in _range_rule(core, target, key, rule, rng, what)]


def neuron_features_supported(core: Core, target) -> list[Diagnostic]:
    out = []
    for p in core.meta["parts"]:
        model = p.get("model", "cuba")
        if model not in target.neurons.models:
            out.append(Diagnostic(f"{core.where} node '{p['node']}'", "neurons.models", target.name,
                                  message=f"neuron model {model} is not supported"))
            continue
        if model != "cuba":
            continue
        if p["reset_mode"] not in target.neurons.reset_modes:
            out.append(Diagnostic(f"{core.where} node '{p['node']}'", "neurons.reset_modes", target.name,
                                  message=f"reset_mode {p['reset_mode']} is not supported"))
        if p["graded"] and not target.neurons.graded_spikes:
            out.append(Diagnostic(f"{core.where} node '{p['node']}'", "neurons.graded_spikes", target.name,
                                  message="graded spikes are not supported"))
    return out


def blocks_cover_axons(core: Core, target) -> list[Diagnostic]:
    """The core's synapse blocks hold its input axons in order, each axon in exactly one block,
    and each block feeds a part of this core with axons stored in one format."""
    out, parts = [], {p["node"] for p in core.meta.get("parts", [])}
    at = 0
    for b in core.meta.get("blocks", []):
        a0, a1 = b["axons"]
        if a0 != at or a1 < a0:
            out.append(Diagnostic(f"{core.where} block '{b['node']}'", "blocks", target.name,
                                  message=f"holds axons [{a0}, {a1}), expected to start at {at}"))
        if b["target"] not in parts:
            out.append(Diagnostic(f"{core.where} block '{b['node']}'", "blocks", target.name,
                                  message=f"feeds '{b['target']}', which is no part of this core"))
        if len(set(core.arrays["axon.sparse"][a0:a1].tolist())) > 1:
            out.append(Diagnostic(f"{core.where} block '{b['node']}'", "blocks", target.name,
                                  message="mixes dense and sparse synapse lists"))
        at = max(at, a1)
    if at != core.input_axons:
        out.append(Diagnostic(core.where, "blocks", target.name,
                              message=f"blocks hold {at} input axons, the core stores {core.input_axons}"))
    return out


CORE_RULES = (neurons_within_limit, input_axons_within_limit, output_axons_within_limit,
              synapse_memory_within_limit, registers_within_formats, neuron_features_supported, blocks_cover_axons)


# -- whole-artifact rules --------------------------------------------------------------------------
def cores_placed_on_chips(cores: list[Core], art: Artifact, target) -> list[Diagnostic]:
    """Core count within the target; every position a distinct, existing slot of the mesh."""
    out = over_limit("artifact", target, "cores", len(cores), target.total_cores)
    seen = {}
    rows, cols = target.mesh
    for c in cores:
        chip, row, col, slot = c.meta["position"]
        index = (row * cols + col) * target.cores_per_tile + slot
        if not (0 <= chip < target.chips and 0 <= row < rows and 0 <= col < cols
                and 0 <= slot < target.cores_per_tile and index < target.cores_per_chip):
            out.append(Diagnostic(c.where, "mesh", target.name, message=f"position {c.meta['position']} "
                                  f"is not a core of the {target.chips}-chip {rows}x{cols}-tile mesh"))
        key = tuple(c.meta["position"])
        if key in seen:
            out.append(Diagnostic(c.where, "mesh", target.name,
                                  message=f"shares position {list(key)} with core {seen[key]}"))
        seen[key] = c.index
    return out


def axon_maps_consistent(cores: list[Core], art: Artifact, target) -> list[Diagnostic]:
    """Each output axon names an input axon whose recorded source is that very compartment."""
    out = []
    by_index = {c.index: c for c in cores}
    for c in cores:
        ptr, tgt = c.arrays["output.ptr"], c.arrays["output.target"]
        for comp in range(len(ptr) - 1):
            for dst_core, axon in tgt[ptr[comp]:ptr[comp + 1]]:
                d = by_index.get(int(dst_core))
                if d is None or not 0 <= axon < d.input_axons:
                    out.append(Diagnostic(f"{c.where} compartment {comp}", "routes", target.name,
                                          message=f"output axon targets core {dst_core} axon {axon}, which does not exist"))
                elif tuple(d.arrays["axon.source"][axon]) != (1, c.index, comp):
                    out.append(Diagnostic(f"{c.where} compartment {comp}", "routes", target.name,
                                          message=f"output axon targets core {dst_core} axon {axon}, whose source is "
                                                  f"{list(map(int, d.arrays['axon.source'][axon]))}"))
    out += _host_map(art, by_index, target)
    for kind, what in ((1, "output axons of cores"), (0, "host input targets")):
        fed = sum(int(np.count_nonzero(c.arrays["axon.source"][:, 0] == kind)) for c in cores)
        sent = (sum(c.output_axons for c in cores) if kind == 1 else
                sum(len(v) for k, v in host_arrays(art).items() if k.endswith(".target")))
        if fed != sent:
            out.append(Diagnostic("artifact", "routes", target.name,
                                  message=f"{fed} input axons fed by {'cores' if kind else 'the host'}, "
                                          f"but {sent} {what}"))
    return out


def _host_map(art: Artifact, by_index: dict, target) -> list[Diagnostic]:
    out = []
    host = json.loads(art.files["host.json"]) if "host.json" in art.files else {"inputs": {}}
    arrays = host_arrays(art)
    for name, entry in host["inputs"].items():
        ptr, tgt = arrays.get(f"input.{name}.ptr", np.zeros(1, np.int64)), arrays.get(f"input.{name}.target")
        for j in range(len(ptr) - 1):
            for core, axon in tgt[ptr[j]:ptr[j + 1]]:
                d = by_index.get(int(core))
                if d is None or not 0 <= axon < d.input_axons or \
                        tuple(d.arrays["axon.source"][axon]) != (0, entry["index"], j):
                    out.append(Diagnostic(f"input '{name}' element {j}", "routes", target.name,
                                          message=f"targets core {core} axon {axon}, which is not fed by it"))
    return out


def neurons_mapped_once(cores: list[Core], art: Artifact, target) -> list[Diagnostic]:
    """Every neuron of every layer on exactly one core, and each core's parts fill its compartments."""
    out = []
    sizes = {l["population"]: l["neurons"] for l in art.manifest.get("layers", [])}
    count: dict[str, np.ndarray] = {p: np.zeros(n, np.int64) for p, n in sizes.items()}
    for c in cores:
        filled = 0
        for p in c.meta["parts"]:
            if p["first"] != filled:
                out.append(Diagnostic(c.where, "mapping", target.name,
                                      message=f"part '{p['node']}' starts at compartment {p['first']}, expected {filled}"))
            filled = p["first"] + p["count"]
            if p["population"] not in count:
                out.append(Diagnostic(c.where, "mapping", target.name,
                                      message=f"part '{p['node']}' belongs to unknown layer '{p['population']}'"))
                continue
            runs = p.get("runs") or [[p["offset"], p["offset"] + p["count"]]]
            for a, b in runs:
                count[p["population"]][a:b] += 1
        if filled != c.neurons:
            out.append(Diagnostic(c.where, "mapping", target.name,
                                  message=f"parts cover {filled} compartments, the core stores {c.neurons}"))
    for pop, k in count.items():
        for bad in (np.flatnonzero(k > 1), np.flatnonzero(k == 0)):
            if bad.size:
                more = f" (and {bad.size - 1} more neurons)" if bad.size > 1 else ""
                out.append(Diagnostic(f"layer '{pop}' neuron {int(bad[0])}", "mapping", target.name,
                                      message=f"mapped to {int(k[bad[0]])} cores, expected exactly 1{more}"))
    return out


def manifest_matches_files(cores: list[Core], art: Artifact, target) -> list[Diagnostic]:
    """The manifest's file digests and per-core resource claims agree with the files."""
    out = files_match_manifest(art, target)
    claims = {c["core"]: c for c in art.manifest.get("resources", {}).get("per_core", [])}
    for c in cores:
        claim = claims.get(c.index, {})
        actual = {"neurons": c.neurons, "input_axons": c.input_axons, "output_axons": c.output_axons,
                  "synapse_bits": c.synapse_bits(target)}
        for k, v in actual.items():
            if k in claim and claim[k] != v:
                out.append(Diagnostic(c.where, "manifest", target.name,
                                      message=f"manifest claims {k} = {claim[k]}, the files give {v}"))
    return out


ARTIFACT_RULES = (cores_placed_on_chips, axon_maps_consistent, neurons_mapped_once, manifest_matches_files)


def check(art: Artifact, target) -> tuple[list[Diagnostic], dict]:
    """Run every rule; return the diagnostics and what was checked."""
    cores = read_cores(art)
    diags = [d for core in cores for rule in CORE_RULES for d in rule(core, target)]
    diags += [d for rule in ARTIFACT_RULES for d in rule(cores, art, target)]
    checked = {"cores": len(cores), "rules": [r.__name__ for r in CORE_RULES + ARTIFACT_RULES]}
    return diags, checked

