"""The Loihi emitter: a mapped `loihi.*` graph to the artifact files of FORMAT.md.

Mapping decisions are made by the passes; this module only writes them down: per-core
compartment registers, synapse tables, axon maps and routes, the host's input and output
maps, the manifest (resources, estimates, pass statistics) and, when the network is
expressible there, a lava-dl netx HDF5 file. Every file is a deterministic function of
the graph and the options.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.artifact import io_json, json_bytes, npz_bytes
from snnc.backend import Emitted
from snnc.backends.loihi.tables import SYNAPSES, build, core_files
from snnc.errors import SnncError
from snnc.ir.graph import Graph, Node
from snnc.ir.mapping import Position
from snnc.ir.snn import Input
from snnc.ir.text import print_graph
from snnc.passes.place import chip_hops, hops

CORE_FILE = "cores/core_{:04d}"


@dataclass(frozen=True)
class EmitOptions:
    activity: float = 0.1        # assumed spikes per neuron per tick, for the energy estimate
    ticks: int = 100             # ticks per inference, for the per-inference estimate

    def __post_init__(self):
        if not 0 <= self.activity <= 1:
            raise ValueError(f"activity must lie in [0, 1] spikes per neuron per tick, got {self.activity}")
        if self.ticks < 1:
            raise ValueError(f"ticks must be >= 1, got {self.ticks}")


def emit(graph: Graph, target, options: EmitOptions = EmitOptions()) -> Emitted:
    """The family's files and manifest sections, from a mapped graph alone."""
    tabs = build(graph)
    files: dict[str, bytes] = {}
    per_core = []
    for t in tabs.cores:
        meta, arrays = core_files(t, target)
        for c in meta["routes"]:
            here, there = Position(*t.position), Position(*tabs.cores[c["to"]].position)
            c["hops"] = hops(here, there)
            if c["hops"] < 0:
                c["chip_hops"] = chip_hops(here, there, target)
        stem = CORE_FILE.format(t.core)
        files[f"{stem}.json"] = json_bytes(meta)
        files[f"{stem}.npz"] = npz_bytes(arrays)
        per_core.append({"core": t.core, "position": t.position, **meta["resources"], "routes": meta["routes"]})
    files.update(host_files(graph, tabs))
    netx = _netx(graph)
    if isinstance(netx, bytes):
        files["model.net"] = netx
    sections = {
        "io": io_json(graph.mapping), "layers": _layers(graph),
        "resources": _resources(per_core, target),
        "estimate": estimate(per_core, graph, target, options),
        "netx": {"file": "model.net"} if isinstance(netx, bytes) else {"file": None, "reason": netx},
    }
    return Emitted(files, sections)


def host_files(graph: Graph, tabs) -> dict[str, bytes]:
    """host.json and host.npz (how the host feeds inputs and reads outputs) and, when the host
    runs float readouts, host_program.snnir (+ .npz): their graph, fed by the chip's parts."""
    m = graph.mapping
    arrays = {}
    for name, lists in tabs.host_inputs.items():
        arrays[f"input.{name}.ptr"] = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)
        arrays[f"input.{name}.target"] = np.array([x for lst in lists for x in lst], np.int64).reshape(-1, 2)
    io = io_json(m)
    outputs = {}
    for name, entry in io["outputs"].items():
        reads = [] if entry["encoding"] == "values" else [_read(graph, tabs, *piece) for piece in entry["parts"]]
        outputs[name] = {**{k: v for k, v in entry.items() if k != "parts"}, "reads": reads}
    meta = {"inputs": {n: {**io["inputs"][n], "index": i, "origin": graph.nodes[n].origin,
                           "drives": [_drive(graph, tabs, p) for p in tabs.drives[n]]}
                       for i, n in enumerate(graph.inputs)},
            "outputs": outputs, "layers": io["layers"], "dt": graph.dt, "method": graph.method}
    files = {"host.json": json_bytes(meta), "host.npz": npz_bytes(arrays)}
    program = host_program(graph, tabs)
    if program is not None:
        sidecar: dict[str, np.ndarray] = {}
        files["host_program.snnir"] = print_graph(program, sidecar=sidecar).encode("utf-8")
        if sidecar:
            files["host_program.npz"] = npz_bytes(sidecar)
    return files


def _drive(graph: Graph, tabs, part: str) -> dict:
    core, first = tabs.slots[part]
    return {"part": part, "core": core, "first": first, "count": graph.op(part).shape[0]}


def _read(graph: Graph, tabs, node: str, offset: int, count: int, runs=()) -> dict:
    part = graph.in_edges(node)[0].src
    core, first = tabs.slots[part]
    return {"node": node, "origin": graph.nodes[node].origin, "offset": offset, "count": count,
            "core": core, "first": first, **({"runs": runs} if runs else {})}


def host_program(graph: Graph, tabs) -> Graph | None:
    """The float nodes the host runs (readouts fed by the chip's spikes) as a graph of their own:
    each chip part they read becomes an input node of the part's name; None when there are none."""
    chip = set(tabs.slots) | {n for n in graph.nodes if isinstance(graph.op(n), SYNAPSES)} | set(graph.inputs)
    chip_fed = {p.node for o in graph.mapping.outputs.values() if o.encoding != "values" for p in o.parts}
    host = [n for n in graph.nodes if n not in chip and n not in chip_fed]
    if not host:
        return None
    sources = sorted({e.src for n in host for e in graph.in_edges(n) if e.src in tabs.slots})
    nodes = [Node(s, Input(shape=graph.op(s).shape), graph.nodes[s].origin) for s in sources]
    nodes += [graph.nodes[n] for n in host]
    edges = [e for n in host for e in graph.in_edges(n)]
    outputs = [n for n in graph.outputs if n in host]
    return Graph(nodes, edges, inputs=sources, outputs=outputs, dt=graph.dt, method=graph.method)


def _layers(graph: Graph) -> list[dict]:
    """Per source population: its origin, latency and where its neurons went."""
    m = graph.mapping
    cores, parts = m.cores, m.parts
    out = {}
    for node, p in sorted(parts.items(), key=lambda kv: (kv[1].population, kv[1].offset)):
        pop = p.population
        entry = out.setdefault(pop, {"population": pop, "latency": m.layers[pop].latency, "neurons": 0, "parts": []})
        entry["parts"].append({"node": node, "core": cores[node], "offset": p.offset, "count": p.count,
                               **({"runs": [list(r) for r in p.runs]} if p.runs else {})})
        entry["neurons"] += p.count
    for entry in out.values():
        entry["origin"] = graph.nodes[entry["parts"][0]["node"]].origin
    return [out[k] for k in sorted(out)]


def _resources(per_core: list[dict], target) -> dict:
    keys = ("neurons", "input_axons", "output_axons", "synapse_bits", "synapses")
    limits = {"neurons": target.core.neurons, "input_axons": target.core.input_axons,
              "output_axons": target.core.output_axons, "synapse_bits": target.core.synapse_memory_bits}
    return {"cores": len(per_core), "chips": len({c["position"][0] for c in per_core}),
            "totals": {k: sum(c[k] for c in per_core) for k in keys},
            "max_per_core": {k: max((c[k] for c in per_core), default=0) for k in keys},
            "limits": limits, "per_core": per_core}


def estimate(per_core: list[dict], graph: Graph, target, options: EmitOptions) -> dict:
    """Energy and time per tick and per inference from the target's per-operation costs.

    Assumes every neuron (and input) spikes with probability `activity` per tick; every
    spike drives all synapses of its axons, and every output axon sends one message
    (within a tile, or over the tile hops of its route, or to another chip at the target's
    `links.energy_pj` per chip crossed)."""
    c, a = target.costs, options.activity
    neurons = sum(p["neurons"] for p in per_core)
    synapses = sum(p["synapses"] for p in per_core)
    messages = sum(r["axons"] * max(r.get("hops", 0), 0) for p in per_core for r in p["routes"])
    local = sum(r["axons"] for p in per_core for r in p["routes"])
    crossings = sum(r["axons"] * r.get("chip_hops", 0) for p in per_core for r in p["routes"])
    hop = (c.hop_east_west.energy_pj + c.hop_north_south.energy_pj) / 2
    energy = (neurons * (c.neuron_update_inactive.energy_pj
                         + a * (c.neuron_update_active.energy_pj - c.neuron_update_inactive.energy_pj))
              + a * synapses * c.synaptic_op.energy_pj
              + a * (local * c.spike_within_tile.energy_pj + messages * hop)
              + a * crossings * target.links.energy_pj)
    busiest = max((p["neurons"] * c.neuron_update_active.time_ns + a * p["synapses"] * c.synaptic_op.time_ns
                   for p in per_core), default=0.0)
    tiles = len({tuple(p["position"][:3]) for p in per_core})
    all_tiles = target.mesh[0] * target.mesh[1]
    barrier = c.barrier_ns.lo + (c.barrier_ns.hi - c.barrier_ns.lo) * max(tiles - 1, 0) / max(all_tiles - 1, 1)
    tick_ns = busiest + barrier
    fill = max((o.latency for o in graph.mapping.outputs.values()), default=0)
    ticks = options.ticks + fill
    return {"assumptions": {"activity": a, "ticks": options.ticks, "pipeline_fill_ticks": fill,
                            "costs_source": c.source, "costs_proxy": c.proxy,
                            **({"chip_links_source": target.links.source} if crossings else {})},
            "per_tick": {"energy_pj": energy, "time_ns": tick_ns},
            "per_inference": {"ticks": ticks, "energy_uj": energy * ticks * 1e-6, "time_us": tick_ns * ticks * 1e-3}}


def _netx(graph: Graph | None) -> bytes | str:
    """The lava-dl netx file of the quantised (unpartitioned) graph, or why there is none."""
    if graph is None:
        return "no quantised graph to export"
    try:
        from snnc.frontends.netx import save_netx
    except ImportError as exc:
        return f"netx writer unavailable ({exc})"
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.net"
        try:
            save_netx(graph, path)
        except SnncError as exc:
            return str(exc)
        return path.read_bytes()


def summary(art) -> str:
    """One line on what an artifact uses: cores, chips, neurons and synapses."""
    r = art.manifest["resources"]
    return (f"{r['cores']} core(s) on {r['chips']} chip(s), {r['totals']['neurons']} neurons, "
            f"{r['totals']['synapses']} synapses")
