"""`loihi-partition`: split every population onto cores and pack the pieces, within every limit.

Resource model of one core (the same counts the emitter writes and `rules.py` re-checks):

    neurons          compartments on the core
    input_axons      one per (synapse node, source neuron) with a nonzero weight into the
                     core's rows of that node
    synapse_bits     per input axon, the target's grouped cost (`SynapseEncoding.axon_bits`)
                     of its synapse list: every row of the part in dense format, the
                     nonzero ones with index bits in sparse format; delay bits when the
                     synapse node has delays
    output_axons     one per (neuron, destination part) the neuron has a nonzero weight into

A population is cut into contiguous parts. For given destination cuts, each limit is
monotone in a part's extent, so the greedy cut that grows each part as far as it fits
gives the fewest parts (then the same count is tried with equal sizes, which is kept
when it fits). The output-axon count depends on how the *destinations* are cut: cutting
a destination into m parts gives each source neuron up to m output axons, the
second-order growth nengo-loihi's splitter sizes for only after the fact. Populations
are therefore cut from the outputs backwards and the cuts repeated until none changes.

Parts are then packed first-fit into cores (in layer order, so cores that talk have
nearby numbers), adding their resources; `pack=False` gives one part per core as
nengo-loihi does.

The pass splits nodes: population P becomes P.0, P.1, ... (P when it fits one core),
synapse node D between parts q and p becomes D.from{q}.to{p} (only the split sides
named), and an output fed by a split population becomes one output per part (the mapping record
lists them so the host reassembles the output). The provenance map says which.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import numpy as np

from snnc.backends.loihi.native import COMPARTMENTS
from snnc.backends.loihi.ops import Dense, Sparse
from snnc.errors import ConstraintViolation
from snnc.ir.graph import Edge, Graph, Node
from snnc.ir.snn import Output
from snnc.ir.mapping import HostOutput, Mapping, PartOf, Piece
from snnc.passes.registry import PassResult, option, register_pass

RESOURCES = ("neurons", "input_axons", "output_axons", "synapse_bits")
LIMIT_KEYS = {"neurons": "neurons", "input_axons": "input_axons", "output_axons": "output_axons",
              "synapse_bits": "synapse_memory_bits"}
MAX_ROUNDS = 64


@dataclass(frozen=True)
class PartitionOptions:
    pack: bool = option(True, "several parts may share a core when their sums fit (false: one part per core)")


@dataclass(frozen=True)
class Cost:
    neurons: int = 0
    input_axons: int = 0
    output_axons: int = 0
    synapse_bits: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def excess(self, target) -> tuple[str, int, int] | None:
        """(rule, value, limit) of the first exceeded limit, or None."""
        for r in RESOURCES:
            limit = getattr(target.core, LIMIT_KEYS[r])
            if getattr(self, r) > limit:
                return f"core.{LIMIT_KEYS[r]}", getattr(self, r), limit
        return None


class SynapseView:
    """One synapse node's nonzero pattern, with prefix counts over rows for O(columns) queries."""

    def __init__(self, name: str, op, src: str, dst: str, target):
        self.name, self.op, self.src, self.dst = name, op, src, dst
        w = op.to_dense() if isinstance(op, Sparse) else op.weight
        self.nonzero = w != 0
        self.sparse = isinstance(op, Sparse)
        self.delays = bool(np.any(op.delay != 0))
        n = w.shape[0]
        self.prefix = np.zeros((n + 1, w.shape[1]), dtype=np.int32)
        np.cumsum(self.nonzero, axis=0, out=self.prefix[1:])
        enc = target.synapse_encoding
        self.lut = np.array([enc.axon_bits(k, sparse=self.sparse, delays=self.delays) for k in range(n + 1)],
                            dtype=np.int64)

    def in_cost(self, a: int, b: int) -> tuple[int, int]:
        """(input axons, synapse bits) that rows [a, b) of this node cost their core."""
        nnz = self.prefix[b] - self.prefix[a]
        present = nnz > 0
        per_axon = self.lut[nnz[present]] if self.sparse else np.full(int(present.sum()), self.lut[b - a])
        return int(present.sum()), int(per_axon.sum())

    def axons_per_source(self, cuts: list[tuple[int, int]]) -> np.ndarray:
        """Per source neuron, the number of destination parts it has a nonzero weight into."""
        return sum(((self.prefix[b] - self.prefix[a]) > 0).astype(np.int64) for a, b in cuts)


def part_cost(views_in: list[SynapseView], out_prefix: np.ndarray, a: int, b: int) -> Cost:
    ins = [v.in_cost(a, b) for v in views_in]
    return Cost(b - a, sum(i for i, _ in ins), int(out_prefix[b] - out_prefix[a]), sum(s for _, s in ins))


def cut_population(name: str, n: int, views_in, out_axons: np.ndarray, target) -> list[tuple[int, int]]:
    """Contiguous cuts of a population of `n` neurons that each fit one core."""
    prefix = np.concatenate([[0], np.cumsum(out_axons)])

    def fits(a, b):
        return part_cost(views_in, prefix, a, b).excess(target) is None

    cuts, a = [], 0
    while a < n:
        lo, hi = a + 1, n                                  # largest b in [a+1, n] that fits
        if not fits(a, lo):
            rule, value, limit = part_cost(views_in, prefix, a, lo).excess(target)
            raise ConstraintViolation(target=target.name, rule=rule, where=f"node '{name}' neuron {a} alone",
                                      value=value, limit=limit)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(a, mid) else (lo, mid - 1)
        cuts.append((a, lo))
        a = lo
    k = len(cuts)
    equal = [(i * n // k, (i + 1) * n // k) for i in range(k)]
    return equal if all(fits(a, b) for a, b in equal) else cuts


@dataclass
class _Plan:
    cuts: dict[str, list[tuple[int, int]]]
    rounds: int
    first_order_parts: dict[str, int]


def plan_cuts(graph: Graph, views: list[SynapseView], target) -> _Plan:
    pops = [n for n in graph.schedule() if isinstance(graph.op(n), COMPARTMENTS)]
    size = {p: graph.op(p).shape[0] for p in pops}
    cuts = {p: [(0, size[p])] for p in pops}
    into = {p: [v for v in views if v.dst == p] for p in pops}
    out_of = {p: [v for v in views if v.src == p] for p in pops}
    unsplit = {p: [(0, size[p])] for p in pops}
    first = {p: len(cut_population(p, size[p], into[p], sum((v.axons_per_source(unsplit[v.dst]) for v in out_of[p]),
                                                             np.zeros(size[p], np.int64)), target))
             for p in pops}
    for rounds in range(1, MAX_ROUNDS + 1):
        changed = False
        for p in reversed(pops):
            out_axons = sum((v.axons_per_source(cuts[v.dst]) for v in out_of[p]), np.zeros(size[p], np.int64))
            new = cut_population(p, size[p], into[p], out_axons, target)
            if new != cuts[p]:
                cuts[p], changed = new, True
        if not changed:
            return _Plan(cuts, rounds, first)
    raise ConstraintViolation(target=target.name, rule="partition", where="graph",
                              value=f"no stable cut after {MAX_ROUNDS} rounds", limit="convergence")


def pack(parts: list[tuple[str, int, Cost]], target, enabled: bool) -> list[int]:
    """Core of each part: first fit over the cores opened so far (or one core per part)."""
    loads: list[Cost] = []
    out = []
    for _, _, cost in parts:
        core = next((i for i, load in enumerate(loads) if enabled and (load + cost).excess(target) is None), None)
        if core is None:
            loads.append(Cost())
            core = len(loads) - 1
        loads[core] = loads[core] + cost
        out.append(core)
    return out


@register_pass("loihi-partition", PartitionOptions, reports_progress=True)
def partition(graph: Graph, target, options: PartitionOptions, progress) -> PassResult:
    """Cut every population into core-sized parts (counting second-order output axons) and pack them."""
    views = [SynapseView(n, graph.op(n), graph.in_edges(n)[0].src, graph.out_edges(n)[0].dst, target)
             for n in graph.schedule() if isinstance(graph.op(n), (Dense, Sparse))]
    plan = plan_cuts(graph, views, target)
    progress(f"cut {len(plan.cuts)} populations into {sum(map(len, plan.cuts.values()))} parts "
             f"in {plan.rounds} round(s)")
    return _rebuild(graph, target, options, views, plan)


def _part_names(graph: Graph, plan: _Plan) -> dict[str, list[str]]:
    taken = set(graph.nodes)
    names = {}
    for p, cuts in plan.cuts.items():
        if len(cuts) == 1:
            names[p] = [p]
            continue
        names[p] = []
        for i in range(len(cuts)):
            name, k = f"{p}.{i}", 0
            while name in taken:
                k += 1
                name = f"{p}.{i}_{k}"
            taken.add(name)
            names[p].append(name)
    return names


def _rebuild(graph: Graph, target, options: PartitionOptions, views, plan: _Plan) -> PassResult:
    names = _part_names(graph, plan)
    nodes: list[Node] = []
    edges: list[Edge] = []
    prov: dict[str, tuple[str, ...]] = {}
    parts: list[tuple[str, int, Cost]] = []
    out_axons = {p: sum((v.axons_per_source(plan.cuts[v.dst]) for v in views if v.src == p),
                        np.zeros(graph.op(p).shape[0], np.int64)) for p in plan.cuts}
    host_split: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        if name in plan.cuts:
            prov[name] = tuple(names[name])
            into = [v for v in views if v.dst == name]
            prefix = np.concatenate([[0], np.cumsum(out_axons[name])])
            for part, (a, b) in zip(names[name], plan.cuts[name]):
                nodes.append(Node(part, _slice_cuba(node.op, a, b), node.origin))
                parts.append((part, b - a, part_cost(into, prefix, a, b)))
        elif isinstance(node.op, (Dense, Sparse)) or name in graph.outputs and _fed_by(graph, name, plan):
            continue                                                    # rebuilt below
        elif any(e.src in plan.cuts and len(plan.cuts[e.src]) > 1 for e in graph.in_edges(name)):
            host_split[name] = _split_host_affine(graph, name, node, plan, names, nodes, edges)
            prov[name] = tuple(host_split[name])
        else:
            nodes.append(node)                                          # graph inputs and host nodes
    for e in graph.edges:                                               # edges among host nodes
        if e.dst in host_split or _fed_by(graph, e.dst, plan) and e.dst in graph.outputs:
            continue
        if isinstance(graph.op(e.src), (Dense, Sparse)) or isinstance(graph.op(e.dst), (Dense, Sparse)):
            continue
        if e.dst in plan.cuts and len(plan.cuts[e.dst]) > 1:
            raise ConstraintViolation(target=target.name, rule="core.neurons", where=f"node '{e.dst}'",
                                      value=f"{graph.op(e.dst).shape[0]} neurons driven directly by '{e.src}' "
                                            f"(they must share one core)", limit=target.core.neurons)
        for src in host_split.get(e.src, [e.src]):
            edges.append(Edge(src, e.dst, e.src_port, e.dst_port, e.recurrent))
    for v in views:
        prov[v.name] = _blocks(graph, v, plan, names, nodes, edges)
    outputs, host_outputs = _split_outputs(graph, plan, names, nodes, edges, prov)
    cores = pack(parts, target, options.pack)
    core_of = {name: core for (name, _, _), core in zip(parts, cores)}
    where = {part: PartOf(pop, a, b - a) for pop in plan.cuts for part, (a, b) in zip(names[pop], plan.cuts[pop])}
    m = (graph.mapping or Mapping()).replace(outputs=host_outputs, cores=core_of, parts=where)
    out = Graph(nodes, edges, inputs=graph.inputs, outputs=outputs, dt=graph.dt, method=graph.method,
                version=graph.version, metadata=dict(graph.metadata), mapping=m)
    return PassResult(out, provenance=prov, stats=_stats(plan, parts, cores, target))


def _split_outputs(graph, plan, names, nodes, edges, prov) -> tuple[list[str], dict[str, HostOutput]]:
    """One output per part of a split population (the mapping's host output lists the parts);
    outputs of host readouts stay as they are."""
    host = dict(graph.mapping.outputs) if graph.mapping else {}
    by_node = {p.node: name for name, entry in host.items() for p in entry.parts}
    outputs = []
    for out in graph.outputs:
        src = graph.in_edges(out)[0].src
        if src not in plan.cuts:                                        # a host readout's output
            outputs.append(out)
            continue
        pieces = []
        for i, (part, (a, b)) in enumerate(zip(names[src], plan.cuts[src])):
            name = out if len(names[src]) == 1 else f"{out}.{i}"
            nodes.append(Node(name, Output(shape=(b - a,)), graph.nodes[out].origin))
            edges.append(Edge(part, name))
            pieces.append(Piece(name, a, b - a))
            outputs.append(name)
        prov[out] = tuple(p.node for p in pieces)
        source = by_node.get(out, out)
        entry = host.get(source) or HostOutput((graph.op(out).shape[0],), ())
        host[source] = dataclasses.replace(entry, parts=tuple(pieces))
    return outputs, host


def _fed_by(graph: Graph, name: str, plan: _Plan) -> bool:
    """Whether node `name` is fed by a compartment population (then partition rebuilds it)."""
    return any(e.src in plan.cuts for e in graph.in_edges(name))


def _split_host_affine(graph, name, node, plan, names, nodes, edges) -> list[str]:
    """A host-side snn.affine reading a split population becomes one affine per part (its
    column block; the bias on the first), all feeding what the original fed."""
    (e,) = graph.in_edges(name)
    op = node.op
    made = []
    for q, (part, (c, d)) in enumerate(zip(names[e.src], plan.cuts[e.src])):
        piece = f"{name}.from{q}"
        bias = op.bias if q == 0 else np.zeros_like(op.bias)
        nodes.append(Node(piece, op.replace(weight=op.weight[:, c:d], bias=bias), node.origin))
        edges.append(Edge(part, piece))
        made.append(piece)
    return made


def _slice_cuba(op, a: int, b: int):
    """Neurons a … b−1 of a compartment op (every per-neuron array field sliced)."""
    arrays = {f: v[a:b] for f, v in op.field_values().items() if isinstance(v, np.ndarray) and v.ndim == 1}
    return op.replace(**arrays)


def _blocks(graph, v: SynapseView, plan, names, nodes, edges) -> tuple[str, ...]:
    """Add the synapse node's blocks between source parts and destination parts; return their names."""
    src_cuts = plan.cuts.get(v.src, [(0, v.nonzero.shape[1])])
    src_names = names.get(v.src, [v.src])
    made = []
    for p, (a, b) in enumerate(plan.cuts[v.dst]):
        fed = False
        for q, (c, d) in enumerate(src_cuts):
            last = q == len(src_cuts) - 1
            if not v.nonzero[a:b, c:d].any() and (fed or not last):
                continue                                   # no synapses; keep one block so the part is fed
            label = (f".from{q}" if len(src_cuts) > 1 else "") + (f".to{p}" if len(plan.cuts[v.dst]) > 1 else "")
            name = v.name + label
            nodes.append(Node(name, _slice_synapses(v.op, a, b, c, d), graph.nodes[v.name].origin))
            edges += [Edge(src_names[q], name), Edge(name, names[v.dst][p])]
            made.append(name)
            fed = True
    return tuple(made)


def _slice_synapses(op, a: int, b: int, c: int, d: int):
    exp = op.weight_exp[a:b]
    if isinstance(op, Dense):
        delay = op.delay if op.delay.ndim == 0 else op.delay[a:b, c:d]
        return op.replace(weight=op.weight[a:b, c:d], weight_exp=exp, delay=delay)
    w = op.to_dense()[a:b, c:d]
    delay_full = np.zeros(op.to_dense().shape, np.int64)
    if op.delay.ndim:
        delay_full[op.rows(), op.indices] = op.delay
    rows, cols = np.nonzero(w)
    indptr = np.zeros(b - a + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=b - a), out=indptr[1:])
    delay = op.delay if op.delay.ndim == 0 else delay_full[a:b, c:d][rows, cols]
    return op.replace(indptr=indptr, indices=cols, weight=w[rows, cols], weight_exp=exp, delay=delay, n_in=d - c)


def _stats(plan: _Plan, parts, cores, target) -> dict:
    n_cores = 1 + max(cores, default=-1)
    loads = [Cost() for _ in range(n_cores)]
    for (_, _, cost), core in zip(parts, cores):
        loads[core] = loads[core] + cost
    util = {r: max((getattr(l, r) / getattr(target.core, LIMIT_KEYS[r]) for l in loads), default=0.0)
            for r in RESOURCES}
    second = sorted(p for p, k in plan.first_order_parts.items() if len(plan.cuts[p]) > k)
    return {"cores": n_cores, "parts": len(parts), "rounds": plan.rounds,
            "parts_per_population": {p: len(c) for p, c in plan.cuts.items()},
            "grown_by_second_order": second, "max_utilisation": util}
