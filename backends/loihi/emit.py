"""The Loihi emitter: a mapped `loihi.*` graph to the artifact files of FORMAT.md.

Mapping decisions are made by the passes; this module only writes them down: per-core
compartment registers, synapse tables, axon maps and routes, the host's input and output
maps, the manifest (resources, estimates, pass statistics) and, when the network is
expressible there, a lava-dl netx HDF5 file. Every file is a deterministic function of
the graph and the options.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass, field
from pathlib import Path

import numpy as np

from snnc.artifact import io_json, json_bytes, npz_bytes
from snnc.backend import Emitted
from snnc.backends.loihi.ops import Cuba, Sparse
from snnc.errors import SnncError
from snnc.ir.graph import Graph
from snnc.ir.mapping import PartOf, Position
from snnc.ir.text import print_graph
from snnc.passes.place import hops

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


@dataclass
class CoreTable:
    core: int
    position: list[int]
    parts: list[dict] = field(default_factory=list)       # {node, population, offset, count, first}
    registers: dict[str, list[np.ndarray]] = field(default_factory=dict)
    axon_src: list[tuple[int, int, int]] = field(default_factory=list)   # (kind, id, neuron)
    axon_sparse: list[bool] = field(default_factory=list)
    axon_delays: list[bool] = field(default_factory=list)
    synapses: list[np.ndarray] = field(default_factory=list)             # per axon: [k, 4] target, w, exp, delay
    out: dict[int, list[tuple[int, int]]] = field(default_factory=dict)   # compartment -> [(core, axon)]

    @property
    def n(self) -> int:
        return sum(p["count"] for p in self.parts)


def build_cores(graph: Graph) -> tuple[list[CoreTable], dict]:
    """Per-core tables and the host maps from a partitioned, placed graph."""
    m = graph.mapping
    cores_of, place, parts = m.cores, m.place, m.parts
    tables = [CoreTable(c, place[c].as_list() if c in place else [0, 0, 0, c])
              for c in range(1 + max(cores_of.values(), default=-1))]
    slot: dict[str, tuple[int, int]] = {}                     # part -> (core, first compartment)
    for name in graph.schedule():
        op = graph.op(name)
        if not isinstance(op, Cuba):
            continue
        t = tables[cores_of[name]]
        part = parts.get(name, PartOf(name, 0, op.shape[0]))
        pop, offset, count = part.population, part.offset, part.count
        slot[name] = (t.core, t.n)
        t.parts.append({"node": name, "population": pop, "offset": offset, "count": count, "first": t.n,
                        "reset_mode": op.reset_mode, "graded": op.graded})
        for f in ("du", "dv", "vth_mant", "bias_mant", "bias_exp", "refractory"):
            t.registers.setdefault(f, []).append(getattr(op, f))
    host = {n: [[] for _ in range(graph.op(n).shape[0])] for n in graph.inputs}
    input_index = {n: i for i, n in enumerate(graph.inputs)}
    for name in graph.schedule():
        op = graph.op(name)
        if not hasattr(op, "weight_exp"):
            continue
        src, dst = graph.in_edges(name)[0].src, graph.out_edges(name)[0].dst
        core, first = slot[dst]
        t = tables[core]
        w = op.to_dense() if isinstance(op, Sparse) else op.weight
        delay = _dense_delay(op, w.shape)
        delays = bool(np.any(op.delay != 0))
        for j in np.flatnonzero(np.any(w != 0, axis=0)):
            rows = np.flatnonzero(w[:, j]) if isinstance(op, Sparse) else np.arange(w.shape[0])
            axon = len(t.axon_src)
            t.synapses.append(np.stack([first + rows, w[rows, j], op.weight_exp[rows], delay[rows, j]], axis=1))
            t.axon_sparse.append(isinstance(op, Sparse))
            t.axon_delays.append(delays)
            if src in slot:
                s_core, s_first = slot[src]
                t.axon_src.append((1, s_core, s_first + int(j)))
                tables[s_core].out.setdefault(s_first + int(j), []).append((core, axon))
            else:
                t.axon_src.append((0, input_index[src], int(j)))
                host[src][int(j)].append((core, axon))
    return tables, {"inputs": host, "slots": slot}


def _dense_delay(op, shape) -> np.ndarray:
    if op.delay.ndim == 0:
        return np.full(shape, int(op.delay), np.int64)
    if isinstance(op, Sparse):
        d = np.zeros(shape, np.int64)
        d[op.rows(), op.indices] = op.delay
        return d
    return op.delay


def core_files(t: CoreTable, target) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON object, arrays) of one core, as FORMAT.md describes."""
    regs = {f: np.concatenate(v).astype(np.int64) if v else np.zeros(0, np.int64)
            for f, v in t.registers.items()}
    for f in ("du", "dv", "vth_mant", "bias_mant", "bias_exp", "refractory"):
        regs.setdefault(f, np.zeros(0, np.int64))
    counts = [len(s) for s in t.synapses]
    syn = np.concatenate(t.synapses) if t.synapses else np.zeros((0, 4), np.int64)
    out_lists = [t.out.get(i, []) for i in range(t.n)]
    flat = [x for lst in out_lists for x in lst]
    arrays = {
        **{f"compartment.{k}": v.astype(np.int32) for k, v in regs.items()},
        "axon.source": np.array(t.axon_src, np.int32).reshape(-1, 3),
        "axon.sparse": np.array(t.axon_sparse, bool),
        "axon.delays": np.array(t.axon_delays, bool),
        "axon.ptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "synapse.target": syn[:, 0].astype(np.int32),
        "synapse.weight": syn[:, 1].astype(np.int16),
        "synapse.exp": syn[:, 2].astype(np.int8),
        "synapse.delay": syn[:, 3].astype(np.int8),
        "output.ptr": np.concatenate([[0], np.cumsum([len(x) for x in out_lists])]).astype(np.int64),
        "output.target": np.array(flat, np.int32).reshape(-1, 2),
    }
    enc = target.synapse_encoding
    bits = sum(enc.axon_bits(k, sparse=s, delays=d) for k, s, d in zip(counts, t.axon_sparse, t.axon_delays))
    routes = {}
    for core, _ in flat:
        routes[core] = routes.get(core, 0) + 1
    meta = {"core": t.core, "position": t.position, "parts": t.parts,
            "resources": {"neurons": t.n, "input_axons": len(counts), "output_axons": len(flat),
                          "synapse_bits": int(bits), "synapses": int(sum(counts))},
            "routes": [{"to": c, "axons": n} for c, n in sorted(routes.items())]}
    return meta, arrays


def emit(graph: Graph, target, options: EmitOptions = EmitOptions()) -> Emitted:
    """The family's files and manifest sections, from a mapped graph alone."""
    tables, host = build_cores(graph)
    files: dict[str, bytes] = {}
    per_core = []
    for t in tables:
        meta, arrays = core_files(t, target)
        for c in meta["routes"]:
            c["hops"] = hops(Position(*t.position), Position(*tables[c["to"]].position))
        stem = CORE_FILE.format(t.core)
        files[f"{stem}.json"] = json_bytes(meta)
        files[f"{stem}.npz"] = npz_bytes(arrays)
        per_core.append({"core": t.core, "position": t.position, **meta["resources"], "routes": meta["routes"]})
    io_ann = io_json(graph.mapping)
    files["host.json"], files["host.npz"] = _host_files(graph, io_ann, host)
    sidecar: dict[str, np.ndarray] = {}
    files["graph.snnir"] = print_graph(graph, sidecar=sidecar).encode("utf-8")
    if sidecar:
        files["graph.npz"] = npz_bytes(sidecar)
    netx = _netx(graph)
    if isinstance(netx, bytes):
        files["model.net"] = netx
    sections = {
        "io": io_ann, "layers": _layers(graph),
        "resources": _resources(per_core, target),
        "estimate": estimate(per_core, tables, graph, target, options),
        "netx": {"file": "model.net"} if isinstance(netx, bytes) else {"file": None, "reason": netx},
    }
    return Emitted(files, sections)


def _host_files(graph: Graph, io_ann: dict, host: dict) -> tuple[bytes, bytes]:
    arrays = {}
    for name, lists in host["inputs"].items():
        arrays[f"input.{name}.ptr"] = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)
        arrays[f"input.{name}.target"] = np.array([x for lst in lists for x in lst], np.int64).reshape(-1, 2)
    outputs = {}
    for name, entry in io_ann["outputs"].items():
        reads = []
        if entry.get("encoding") == "values":
            outputs[name] = {**{k: v for k, v in entry.items() if k != "parts"}, "reads": [],
                             "host_nodes": _host_nodes(graph, name)}
            continue
        for node, offset, count in entry["parts"]:
            part = graph.in_edges(node)[0].src
            core, first = host["slots"][part]
            reads.append({"node": node, "offset": offset, "count": count, "core": core, "first": first})
        outputs[name] = {**{k: v for k, v in entry.items() if k != "parts"}, "reads": reads}
    meta = {"inputs": {n: {**io_ann["inputs"].get(n, {}), "index": i} for i, n in enumerate(graph.inputs)},
            "outputs": outputs}
    return json_bytes(meta), npz_bytes(arrays)


def _host_nodes(graph: Graph, output: str) -> list[str]:
    """The float nodes the host runs to produce `output` from the chip's spikes (schedule order)."""
    keep, todo = set(), [e.src for e in graph.in_edges(output)]
    while todo:
        n = todo.pop()
        if n in keep or isinstance(graph.op(n), Cuba):
            continue
        keep.add(n)
        todo += [e.src for e in graph.in_edges(n)]
    return [n for n in graph.schedule() if n in keep]


def _layers(graph: Graph) -> list[dict]:
    """Per source population: its origin, latency and where its neurons went."""
    m = graph.mapping
    cores, parts = m.cores, m.parts
    out = {}
    for node, (pop, offset, count, _) in sorted(((n, astuple(p)) for n, p in parts.items()),
                                                key=lambda kv: (kv[1][0], kv[1][1])):
        entry = out.setdefault(pop, {"population": pop, "latency": m.layers[pop].latency, "neurons": 0, "parts": []})
        entry["parts"].append({"node": node, "core": cores[node], "offset": offset, "count": count})
        entry["neurons"] += count
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


def estimate(per_core: list[dict], tables, graph: Graph, target, options: EmitOptions) -> dict:
    """Energy and time per tick and per inference from the target's per-operation costs.

    Assumes every neuron (and input) spikes with probability `activity` per tick; every
    spike drives all synapses of its axons, and every output axon sends one message
    (within a tile, or over the tile hops of its route)."""
    c, a = target.costs, options.activity
    neurons = sum(p["neurons"] for p in per_core)
    synapses = sum(p["synapses"] for p in per_core)
    messages = sum(r["axons"] * max(r.get("hops", 0), 0) for p in per_core for r in p["routes"])
    local = sum(r["axons"] for p in per_core for r in p["routes"])
    hop = (c.hop_east_west.energy_pj + c.hop_north_south.energy_pj) / 2
    energy = (neurons * (c.neuron_update_inactive.energy_pj
                         + a * (c.neuron_update_active.energy_pj - c.neuron_update_inactive.energy_pj))
              + a * synapses * c.synaptic_op.energy_pj
              + a * (local * c.spike_within_tile.energy_pj + messages * hop))
    busiest = max((p["neurons"] * c.neuron_update_active.time_ns + a * p["synapses"] * c.synaptic_op.time_ns
                   for p in per_core), default=0.0)
    tiles = len({tuple(p["position"][:3]) for p in per_core})
    all_tiles = target.mesh[0] * target.mesh[1]
    barrier = c.barrier_ns.lo + (c.barrier_ns.hi - c.barrier_ns.lo) * max(tiles - 1, 0) / max(all_tiles - 1, 1)
    tick_ns = busiest + barrier
    fill = max((o.latency for o in graph.mapping.outputs.values()), default=0)
    ticks = options.ticks + fill
    return {"assumptions": {"activity": a, "ticks": options.ticks, "pipeline_fill_ticks": fill,
                            "costs_source": c.source, "costs_proxy": c.proxy},
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
