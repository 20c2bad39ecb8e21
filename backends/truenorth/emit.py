"""The TrueNorth emitter: a mapped `truenorth.*` graph to the artifact files of FORMAT.md.

Mapping decisions are the passes'; this module writes them down: per core its crossbar,
axon types, neuron registers, the one destination of each neuron, its node name, origin,
mapping entries and the routes feeding it; the host's input and read maps, the graph
inputs and outputs, the float nodes the host runs (host_program.snnir) and the mapping
record's host tables; the manifest sections with cores used, per-layer parts and an
estimate of power at the target's tick. Every file is a
deterministic function of the mapped graph alone, and holds what `decode.py` needs to
rebuild that graph: `emit(decode(artifact))` writes the same bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.artifact import io_json, json_bytes, npz_bytes
from snnc.backend import Emitted
from snnc.backends.truenorth.cores import NEURON_FIELDS, ROW_FIELDS
from snnc.backends.truenorth.files import CORE_FILE, DEST_FIELDS, HOST, HOST_JSON, HOST_NPZ
from snnc.backends.truenorth.netlist import Link, Netlist
from snnc.backends.truenorth.program import host_program, stream_names
from snnc.errors import UsageError
from snnc.passes.place import chip_hops


@dataclass(frozen=True)
class EmitOptions:
    activity: float = 0.1        # assumed spikes per neuron (and per input) per tick, for the estimate
    ticks: int = 100             # ticks per inference, for the per-inference estimate

    def __post_init__(self):
        if not 0 <= self.activity <= 1:
            raise ValueError(f"activity must lie in [0, 1] spikes per neuron per tick, got {self.activity}")
        if self.ticks < 1:
            raise ValueError(f"ticks must be >= 1, got {self.ticks}")


def core_arrays(op, destinations: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of one core file: configuration registers and the destination table."""
    arrays = {"crossbar": op.crossbar.astype(np.uint8), "axon_type": op.axon_type.astype(np.int64)}
    for f in (*ROW_FIELDS, *NEURON_FIELDS):
        arrays[f"neuron.{f}"] = getattr(op, f).astype(np.int64)
    d = destinations.reshape(-1, 4)
    for i, f in enumerate(DEST_FIELDS):
        arrays[f"dest.{f}"] = d[:, i].astype(np.int64)
    return arrays


def routes_in(graph, links: list[Link]) -> list[dict]:
    """The routes feeding one core, host node or output, in graph order: node name, source node,
    origin, and `recurrent` for a route behind a recurrent edge."""
    out = []
    for l in links:
        entry = {"node": l.name, "source": l.src, "origin": l.origin}
        if any(e.recurrent for e in graph.in_edges(l.name)):
            entry["recurrent"] = True
        out.append(entry)
    return out


def build(graph):
    """(core tables in core order, host input map, host read maps, netlist) of a placed graph: the
    host reads an output element, or an element of a host node's input, from one neuron each."""
    net = Netlist.of(graph)
    index = check_mapped(graph, net)
    dests = {c: [] for c in net.cores}
    host_in = {n: [[] for _ in range(net.inputs[n].op.shape[0])] for n in net.inputs}
    host_in.update({l.src: [[] for _ in range(l.n_in)] for l in net.links if l.src in net.host})
    reads = {l.dst: np.full((l.n_axons, 2), -1, np.int64) for l in net.links if l.dst not in net.cores}
    for link in net.links:
        for src, axon, delay in zip(link.source.tolist(), link.axon.tolist(), link.delay.tolist()):
            if link.src not in net.cores:
                host_in[link.src][src].append((index[link.dst], axon, delay))
            elif link.dst not in net.cores:
                dests[link.src].append((src, HOST, axon, delay))
                reads[link.dst][axon] = (index[link.src], src)
            else:
                dests[link.src].append((src, index[link.dst], axon, delay))
    tables = sorted(((index[c], c, net.cores[c].op, np.array(sorted(dests[c]), np.int64)) for c in net.cores))
    return tables, host_in, reads, net


def check_mapped(graph, net: Netlist) -> dict[str, int]:
    """The core number of every core node; UsageError naming what a pipeline left undecided."""
    m = graph.mapping
    after = "the TrueNorth pipeline ends with truenorth-partition and place"
    if m is None or set(m.inputs) != set(net.inputs) or not m.outputs:
        raise UsageError(f"emit: the graph has no host input and output map (mapping.inputs, mapping.outputs); "
                         f"the TrueNorth pipeline starts with truenorth-encode")
    for name in net.cores:
        for table, have in (("cores", m.cores), ("roles", m.roles), ("latency", m.latency)):
            if name not in have:
                raise UsageError(f"emit: core node '{name}' has no entry in mapping.{table}; {after}")
        if m.cores[name] not in m.place:
            raise UsageError(f"emit: core {m.cores[name]} (node '{name}') has no position (mapping.place); {after}")
    for name in net.host:
        if name not in m.latency:
            raise UsageError(f"emit: host node '{name}' has no entry in mapping.latency; {after}")
    for link in net.links:
        if link.src in net.inputs and link.dst not in net.cores:
            raise UsageError(f"emit: route {link.name} joins the host to the host; a TrueNorth route starts or "
                             f"ends at a core")
    return dict(m.cores)


def emit(graph, target, options: EmitOptions = EmitOptions()) -> Emitted:
    """The family's files and manifest sections, from a mapped graph alone."""
    tables, host_in, reads, net = build(graph)
    m = graph.mapping
    files: dict[str, bytes] = {}
    per_core = []
    for idx, name, op, dest in tables:
        stem = CORE_FILE.format(idx)
        meta = core_meta(graph, net, idx, name, op, dest)
        files[f"{stem}.json"] = json_bytes(meta)
        files[f"{stem}.npz"] = npz_bytes(core_arrays(op, dest))
        per_core.append({"core": idx, "node": name, "role": meta["role"], "position": meta["position"],
                         **meta["resources"]})
    io_ann = io_json(m)
    files[HOST_JSON], files[HOST_NPZ] = _host_files(graph, net, io_ann, host_in, reads)
    files.update(host_program(graph, net))
    sections = {"io": io_ann, "layers": _layers(graph, tables, io_ann, m.parts),
                "resources": _resources(per_core, target),
                "estimate": estimate(per_core, host_in, target, options, io_ann,
                                     chip_crossings(graph, tables, target))}
    return Emitted(files, sections)


def chip_crossings(graph, tables, target) -> int:
    """Chip-to-chip hops summed over every neuron's destination (0 on one chip)."""
    place = graph.mapping.place
    return sum(chip_hops(place[idx], place[int(d)], target) for idx, _, _, dest in tables if len(dest)
               for d in dest[:, 1] if d != HOST)


def core_meta(graph, net: Netlist, idx: int, name: str, op, dest: np.ndarray) -> dict:
    """The JSON object of one core file: its node, mapping entries, counts and the routes into it."""
    m = graph.mapping
    part = [{"population": p.population, "offset": p.offset, "count": p.count, "first": p.first}
            for p in [m.parts.get(name)] if p]
    counts = {"axons": op.axons, "neurons": op.neurons, "synapses": int(op.crossbar.sum()),
              "destinations": len(dest)}
    return {"core": idx, "node": name, "origin": graph.nodes[name].origin, "role": m.roles[name],
            "latency": m.latency[name], "position": m.place[idx].as_list(), "parts": part, "resources": counts,
            "membrane_bits": op.membrane_bits, "prng_seed": op.prng_seed,
            "routes_in": routes_in(graph, net.into(name))}


def report(result) -> dict:
    """The "mapping" section: what the mapping cost and approximated (cores, splitters, copies,
    partial sums, per-layer weight error), from the passes' statistics."""
    enc = result.stats("truenorth-encode").get("per_layer", {})
    part = result.stats("truenorth-partition")
    split = result.stats("truenorth-split-fan-in")
    layers = {name: {k: s[k] for k in ("duplication", "inputs", "axons", "rel_rms", "rel_max") if k in s}
              for name, s in enc.items()}
    return {"mapping": {"cores": part.get("cores"), "splitter_cores": part.get("splitter_cores", 0),
                        "neuron_copies": part.get("neuron_copies", 0),
                        "partial_sum_cores": split.get("partial_cores", 0), "fan_in_splits": split.get("split", 0),
                        "latency_max": part.get("latency_max"), "weight_error": layers}}


def summary(art) -> str:
    """One line on what an artifact uses: cores by role, neurons and synapses."""
    r = art.manifest["resources"]
    roles = ", ".join(f"{n} {role}" for role, n in sorted(r["cores_by_role"].items()))
    return (f"{r['cores']} core(s) ({roles}) on {r['chips']} chip(s), {r['totals']['neurons']} neurons, "
            f"{r['totals']['synapses']} synapses")


def _host_files(graph, net: Netlist, io_ann: dict, host_in: dict, reads: dict) -> tuple[bytes, bytes]:
    """host.json (graph attributes, inputs, outputs, the host nodes the chip feeds and the routes
    into them, the mapping's host tables) and host.npz (input element -> axons, output or host
    node element -> neuron)."""
    arrays = {}
    for name, lists in host_in.items():
        kind = "input" if name in net.inputs else "send"
        arrays[f"{kind}.{name}.ptr"] = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)
        arrays[f"{kind}.{name}.target"] = np.array([x for lst in lists for x in sorted(lst)], np.int64).reshape(-1, 3)
    for name, table in reads.items():
        arrays[f"{'output' if name in net.outputs else 'read'}.{name}.source"] = table
    streams = stream_names(net)
    meta = {"graph": {"dt": graph.dt, "method": graph.method, "version": graph.version,
                      "metadata": dict(graph.metadata)},
            "inputs": [{"node": n, "origin": graph.nodes[n].origin} for n in graph.inputs],
            "outputs": [{"node": n, "origin": graph.nodes[n].origin, "routes_in": routes_in(graph, net.into(n))}
                        for n in graph.outputs],
            "mapping": io_ann}
    if net.host:
        meta["reads"] = [{"node": n, "stream": streams[n], "routes_in": routes_in(graph, net.into(n))}
                         for n in net.host if n in streams]
        meta["sends"] = [n for n in net.host if net.out_of(n)]
        meta["host_latency"] = {n: graph.mapping.latency[n] for n in net.host}
    return json_bytes(meta), npz_bytes(arrays)


def _layers(graph, tables, io_ann: dict, parts: dict) -> list[dict]:
    """Per source population: origin, latency and the cores holding its neurons."""
    core_of = {name: idx for idx, name, _, _ in tables}
    out = {}
    for node, p in sorted(parts.items(), key=lambda kv: (kv[1].population, kv[1].offset)):
        entry = out.setdefault(p.population, {"population": p.population, "neurons": 0, "parts": [],
                                              "latency": io_ann.get("layers", {}).get(p.population, {}).get("latency")})
        entry["parts"].append({"node": node, "core": core_of[node], "offset": p.offset, "count": p.count,
                               "first": p.first})
        entry["neurons"] += p.count
    for entry in out.values():
        entry["origin"] = graph.nodes[entry["parts"][0]["node"]].origin
    return [out[k] for k in sorted(out)]


def _resources(per_core: list[dict], target) -> dict:
    keys = ("axons", "neurons", "synapses", "destinations")
    limits = {"axons": target.core.axons, "neurons": target.core.neurons}
    roles = {}
    for c in per_core:
        roles[c["role"]] = roles.get(c["role"], 0) + 1
    return {"cores": len(per_core), "chips": len({c["position"][0] for c in per_core}), "cores_by_role": roles,
            "totals": {k: sum(c[k] for c in per_core) for k in keys},
            "max_per_core": {k: max((c[k] for c in per_core), default=0) for k in keys},
            "limits": limits, "per_core": per_core}


def estimate(per_core: list[dict], host_in: dict, target, options: EmitOptions, io_ann: dict,
             crossings: int = 0) -> dict:
    """Energy per tick and power at the target's tick from its per-event energies.

    Every neuron and every input element spikes with probability `activity` per tick; a
    spike on an axon drives every synapse of its crossbar row (a synaptic event each), and
    every spike of a neuron with a destination sends one packet (a spike), which costs the
    target's `links.energy_pj` more for every chip it crosses. Static power is not modelled
    (the target data says why)."""
    a, e = options.activity, target.energy
    synapses = sum(c["synapses"] for c in per_core)
    spikes = sum(c["destinations"] for c in per_core)
    energy = a * synapses * e.synaptic_event_pj + a * spikes * e.spike_pj + a * crossings * target.links.energy_pj
    fill = max((o.get("latency", 0) for o in io_ann.get("outputs", {}).values()), default=0)
    ticks = options.ticks + fill
    return {"assumptions": {"activity": a, "ticks": options.ticks, "pipeline_fill_ticks": fill,
                            "tick_s": target.timing.tick_s, "energy_source": e.source,
                            "static_power": "not modelled"},
            "per_tick": {"synaptic_events": a * synapses, "spikes": a * spikes, "energy_pj": energy,
                         **({"chip_crossings": a * crossings} if crossings else {})},
            "power_mw": energy * 1e-12 / target.timing.tick_s * 1e3,
            "per_inference": {"ticks": ticks, "energy_uj": energy * ticks * 1e-6,
                              "time_ms": ticks * target.timing.tick_s * 1e3}}
