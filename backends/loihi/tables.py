"""Per-core tables of a mapped `loihi.*` graph: what the emitter writes and the decoder reads.

A core holds compartment parts (`loihi.cuba` nodes with a core in the mapping record) and
the synapse blocks that feed them (`loihi.dense`/`loihi.sparse` nodes whose destination is a
part on the core). The layout is canonical, a function of the nodes' names and the mapping
record alone, never of the order of nodes in the graph, so that decoding an artifact and
emitting it again gives the same bytes:

- parts on a core are ordered by (population, offset) and take consecutive compartments; a
  part holding sorted runs of a population's neurons (`PartOf.runs`) lists them as `runs`;
- blocks on a core are ordered by (the compartment of their destination part, their name);
  each block stores one input axon per source element with a nonzero weight, in element
  order; a dense block's axon lists every row of its destination part, a sparse one only
  the nonzero weights;
- a compartment's output axons and a host input element's targets are listed in the order
  the axons are made (core by core, block by block).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.backends.loihi.conv import SigmaDelta
from snnc.backends.loihi.native import COMPARTMENTS
from snnc.backends.loihi.ops import Cuba, Dense, Sparse
from snnc.errors import UsageError
from snnc.ir.graph import Graph
from snnc.ir.mapping import PartOf

# Per compartment model: its op, its per-neuron registers (stored as compartment.<key>) and the
# scalar fields stored per part in the core's JSON.
MODELS = {
    "cuba": (Cuba, {"du": "du", "dv": "dv", "vth_mant": "vth_mant", "bias_mant": "bias_mant",
                    "bias_exp": "bias_exp", "refractory": "refractory"}, ("reset_mode", "graded")),
    "sigma_delta": (SigmaDelta, {"vth": "sd_vth", "bias": "sd_bias"}, ("spike_exp", "state_exp", "mode", "activation")),
}
REGISTERS = tuple(key for _, regs, _ in MODELS.values() for key in regs.values())
SYNAPSES = (Dense, Sparse)


def model_of(op) -> str:
    return next(m for m, (cls, _, _) in MODELS.items() if isinstance(op, cls))


@dataclass
class CoreTable:
    core: int
    position: list[int]
    parts: list[dict] = field(default_factory=list)       # node, origin, population, offset, count, first, ...
    blocks: list[dict] = field(default_factory=list)      # node, origin, source, target, axons [a0, a1)
    registers: dict[str, list[np.ndarray]] = field(default_factory=dict)
    axon_src: list[tuple[int, int, int]] = field(default_factory=list)   # (kind, id, neuron)
    axon_sparse: list[bool] = field(default_factory=list)
    axon_delays: list[bool] = field(default_factory=list)
    synapses: list[np.ndarray] = field(default_factory=list)             # per axon: [k, 4] target, w, exp, delay
    out: dict[int, list[tuple[int, int]]] = field(default_factory=dict)   # compartment -> [(core, axon)]

    @property
    def n(self) -> int:
        return sum(p["count"] for p in self.parts)


@dataclass
class Tables:
    cores: list[CoreTable]
    host_inputs: dict[str, list[list[tuple[int, int]]]]      # input -> per element [(core, axon)]
    slots: dict[str, tuple[int, int]]                         # part node -> (core, first compartment)
    drives: dict[str, list[str]]                              # input -> the parts it drives directly


def check_mapped(graph: Graph) -> None:
    """Refuse a graph the emitter cannot lay out, naming what the pipeline left undone."""
    m = graph.mapping
    if m is None or not m.inputs:
        raise UsageError("loihi emit: the graph has no mapping record; the pipeline must lower it "
                         "(loihi-quantize) before it can be emitted")
    for name in graph.nodes:
        op = graph.op(name)
        if isinstance(op, COMPARTMENTS) and name not in m.cores:
            raise UsageError(f"loihi emit: node '{name}' has no core (mapping.cores); run loihi-partition "
                             f"before place")
        if isinstance(op, COMPARTMENTS) and m.cores[name] not in m.place:
            raise UsageError(f"loihi emit: core {m.cores[name]} of node '{name}' has no position; run place")
        if isinstance(op, SYNAPSES) and not isinstance(graph.op(graph.out_edges(name)[0].dst), COMPARTMENTS):
            raise UsageError(f"loihi emit: synapse node '{name}' does not feed a compartment node")


def build(graph: Graph) -> Tables:
    """The per-core tables and host input maps of a lowered, partitioned and placed graph."""
    check_mapped(graph)
    m = graph.mapping
    n_cores = 1 + max(m.cores.values(), default=-1)
    tables = [CoreTable(c, m.place[c].as_list()) for c in range(n_cores)]
    slots = _place_parts(graph, tables)
    host = {n: [[] for _ in range(graph.op(n).shape[0])] for n in graph.inputs}
    index = {n: i for i, n in enumerate(graph.inputs)}
    blocks = [n for n in graph.nodes if isinstance(graph.op(n), SYNAPSES)]
    for t in tables:
        mine = [b for b in blocks if slots[graph.out_edges(b)[0].dst][0] == t.core]
        for name in sorted(mine, key=lambda b: (slots[graph.out_edges(b)[0].dst][1], b)):
            _add_block(graph, name, t, tables, slots, host, index)
    drives = {n: sorted(e.dst for e in graph.out_edges(n) if e.dst in slots) for n in graph.inputs}
    return Tables(tables, host, slots, drives)


def _place_parts(graph: Graph, tables: list[CoreTable]) -> dict[str, tuple[int, int]]:
    m = graph.mapping
    parts = [n for n in graph.nodes if isinstance(graph.op(n), COMPARTMENTS)]
    whole = {n: m.parts.get(n, PartOf(n, 0, graph.op(n).shape[0])) for n in parts}
    slots = {}
    for name in sorted(parts, key=lambda n: (m.cores[n], whole[n].population, whole[n].offset, n)):
        op, part, t = graph.op(name), whole[name], tables[m.cores[name]]
        slots[name] = (t.core, t.n)
        model = model_of(op)
        _, regs, scalars = MODELS[model]
        t.parts.append({"node": name, "origin": graph.nodes[name].origin, "population": part.population,
                        "offset": part.offset, "count": op.shape[0], "first": t.n, "model": model,
                        **({"runs": [list(r) for r in part.runs]} if part.runs else {}),
                        **{f: getattr(op, f) for f in scalars}})
        for key in REGISTERS:
            field = next((f for f, k in regs.items() if k == key), None)
            t.registers.setdefault(key, []).append(getattr(op, field) if field else np.zeros(op.shape[0], np.int64))
    return slots


def _add_block(graph, name, t: CoreTable, tables, slots, host, index) -> None:
    op = graph.op(name)
    src, dst = graph.in_edges(name)[0].src, graph.out_edges(name)[0].dst
    first = slots[dst][1]
    w = op.to_dense() if isinstance(op, Sparse) else op.weight
    delay = dense_delay(op, w.shape)
    stored = (w != 0) if isinstance(op, Sparse) else np.any(w != 0, axis=0)[None, :]
    delays = bool(np.any((delay != 0) & stored))                # a delay field only where a stored synapse needs it
    a0 = len(t.axon_src)
    for j in np.flatnonzero(np.any(w != 0, axis=0)):
        rows = np.flatnonzero(w[:, j]) if isinstance(op, Sparse) else np.arange(w.shape[0])
        axon = len(t.axon_src)
        t.synapses.append(np.stack([first + rows, w[rows, j], op.weight_exp[rows], delay[rows, j]], axis=1))
        t.axon_sparse.append(isinstance(op, Sparse))
        t.axon_delays.append(delays)
        if src in slots:
            s_core, s_first = slots[src]
            t.axon_src.append((1, s_core, s_first + int(j)))
            tables[s_core].out.setdefault(s_first + int(j), []).append((t.core, axon))
        else:
            t.axon_src.append((0, index[src], int(j)))
            host[src][int(j)].append((t.core, axon))
    t.blocks.append({"node": name, "origin": graph.nodes[name].origin, "source": src, "target": dst,
                     "axons": [a0, len(t.axon_src)]})


def dense_delay(op, shape) -> np.ndarray:
    """The delay of every (row, column) of a synapse node's matrix."""
    if op.delay.ndim == 0:
        return np.full(shape, int(op.delay), np.int64)
    if isinstance(op, Sparse):
        d = np.zeros(shape, np.int64)
        d[op.rows(), op.indices] = op.delay
        return d
    return op.delay


def core_files(t: CoreTable, target) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON object, arrays) of one core, as FORMAT.md describes."""
    regs = {f: np.concatenate(t.registers[f]).astype(np.int64) if t.registers.get(f) else np.zeros(0, np.int64)
            for f in REGISTERS}
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
    meta = {"core": t.core, "position": t.position, "parts": t.parts, "blocks": t.blocks,
            "resources": {"neurons": t.n, "input_axons": len(counts), "output_axons": len(flat),
                          "synapse_bits": int(bits), "synapses": int(sum(counts))},
            "routes": [{"to": c, "axons": n} for c, n in sorted(routes.items())]}
    return meta, arrays
