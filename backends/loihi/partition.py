"""`loihi-partition`: every neuron onto a core, within every limit, with the least spike traffic.

Resource model of one core (the same counts the emitter writes and `rules.py` re-checks):

    neurons          compartments on the core
    input_axons      one per (synapse node, source neuron) with a nonzero weight into the
                     core's rows of that node
    synapse_bits     per input axon, the target's grouped cost (`SynapseEncoding.axon_bits`)
                     of its synapse list: every row of the part in dense format, the
                     nonzero ones with index bits in sparse format; delay bits when the
                     synapse node has delays
    output_axons     one per (neuron, destination part) the neuron has a nonzero weight into

The network becomes the shared partitioning problem (`snnc.passes.partitioning`): one
vertex per compartment, one net per (synapse node, source neuron), rates from a calibration
run of the interpreter when `calibration` inputs are given, else `activity` for every
neuron. Several legal partitions are made (contiguous slicing of each population, a
space-filling cut and a recursive bisection of feature maps, METIS's blocks repaired), the
most promising refined by local search, and the one with least traffic within `core_slack`
of the fewest cores is kept (`choose.py`); `strategy` forces one, or `all` tries Mt-KaHyPar
too. A neuron's output axons depend on how its destinations are cut (the second-order
growth nengo-loihi's splitter sizes for only after the fact): every cut is repeated with
those counts until it is legal.

A core holds one part of each population it has neurons of: the part's neurons, in
increasing order, are a contiguous range or sorted runs of ranges (`PartOf.runs`). The
pass splits nodes: population P becomes P.0, P.1, ... (ordered by their first neuron; P
when it sits on one core), synapse node D between parts q and p becomes D.from{q}.to{p}
(only the split sides named), an output fed by a split population becomes one output per
part (the mapping record lists them so the host reassembles the output), and a host
readout of a split population one readout per part. The provenance map says which. Cores
are numbered by their first neuron in population order, so cores that talk have nearby
numbers.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import numpy as np

from snnc.backends.loihi.native import COMPARTMENTS
from snnc.backends.loihi.ops import Dense, Sparse
from snnc.errors import ConstraintViolation
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.ir.mapping import HostOutput, Mapping, PartOf, Piece, runs_of
from snnc.ir.snn import Output
from snnc.passes.partitioning import activity, cut
from snnc.passes.partitioning.choose import STRATEGIES, choose
from snnc.passes.partitioning.problem import Group, Limits, Problem, Projection, distinct
from snnc.passes.registry import PassResult, option, register_pass

RESOURCES = ("neurons", "input_axons", "output_axons", "synapse_bits")
LIMIT_KEYS = {"neurons": "neurons", "input_axons": "input_axons", "output_axons": "output_axons",
              "synapse_bits": "synapse_memory_bits"}


@dataclass(frozen=True)
class PartitionOptions:
    pack: bool = option(True, "several parts may share a core when their sums fit (false: one part per core, "
                              "populations sliced contiguously)")
    strategy: str = option("auto", "which partitioner: the cheapest by measured cost of those that pay off "
                                   "(auto), of every one (all, slow), or one of them",
                           choices=("auto", "all") + STRATEGIES)
    core_slack: float = option(0.05, "auto picks the least traffic among partitions using at most this fraction "
                                     "more cores than the fewest", low=0.0, high=1.0)
    refine: int = option(4, "passes of local search on the most promising partitions (0: none)", low=0)
    activity: float = option(activity.DEFAULT_RATE, "spikes per neuron per tick assumed without calibration inputs",
                             low=0.0, high=1.0)
    calibration: object = option(None, "inputs [T, B, *input_shape] (an array or a .npy path): rates measured by "
                                       "an interpreter run weight the traffic", type_name="array or .npy path")

    def __post_init__(self):
        if self.strategy not in ("auto", "all") + STRATEGIES:
            raise ValueError(f"strategy must be one of auto, all, {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.calibration is not None and not isinstance(self.calibration, activity.InputData):
            object.__setattr__(self, "calibration", activity.InputData(self.calibration))


@dataclass(frozen=True)
class Cost:
    """One core's (or part's) resources, in RESOURCES order."""

    neurons: int = 0
    input_axons: int = 0
    output_axons: int = 0
    synapse_bits: int = 0

    def excess(self, target) -> tuple[str, int, int] | None:
        """(rule, value, limit) of the first exceeded limit, or None."""
        for r in RESOURCES:
            limit = getattr(target.core, LIMIT_KEYS[r])
            if getattr(self, r) > limit:
                return f"core.{LIMIT_KEYS[r]}", getattr(self, r), limit
        return None


def axon_bits_table(enc, n: int, *, sparse: bool, delays: bool) -> np.ndarray:
    """`enc.axon_bits(k, sparse=, delays=)` for k = 0 … n, vectorised."""
    per = enc.weight_bits + enc.tag_bits + (enc.delay_bits if delays else 0) + (enc.index_bits if sparse else 0)
    head, g, w = sum(enc.group_header_bits), enc.group_size, enc.word_bits
    k = np.arange(n + 1, dtype=np.int64)
    full, rest = k // g, k % g
    word = lambda x: -(-x // w) * w                                              # noqa: E731
    return full * word(g * per + head) + np.where(rest > 0, word(rest * per + head), 0)


# -- the problem ------------------------------------------------------------------------------------
@dataclass
class _Net:
    """The lowered graph seen as a partitioning problem, with what rebuilding needs."""

    problem: Problem
    pops: list[str]
    synapses: list[str]
    src: dict[str, str]
    dst: dict[str, str]
    whole: list[int]


def problem_of(graph: Graph, target, rates: dict[str, np.ndarray]) -> _Net:
    """Groups (populations, then host inputs), projections (synapse nodes) and the core's limits."""
    pops = [n for n in graph.schedule() if isinstance(graph.op(n), COMPARTMENTS)]
    syn = [n for n in graph.schedule() if isinstance(graph.op(n), (Dense, Sparse))]
    src = {s: graph.in_edges(s)[0].src for s in syn}
    dst = {s: graph.out_edges(s)[0].dst for s in syn}
    hosts = list(dict.fromkeys(src[s] for s in syn if src[s] not in pops))
    m = graph.mapping
    groups = [Group(p, graph.op(p).shape[0], rates[p], _shape(m, p)) for p in pops]
    groups += [Group(h, int(np.prod(graph.op(h).shape)), rates.get(h, np.full(int(np.prod(graph.op(h).shape)),
                                                                            activity.DEFAULT_RATE)),
                     tuple(m.inputs[h].shape) if m and h in m.inputs else (), placed=False) for h in hosts]
    index = {g.name: i for i, g in enumerate(groups)}
    projections = [_projection(graph.op(s), s, index[src[s]], index[dst[s]], target) for s in syn]
    c = target.core
    limits = Limits(c.neurons, c.input_axons, c.output_axons, c.synapse_memory_bits)
    whole = sorted({index[e.dst] for p in pops for e in graph.in_edges(p) if e.src not in src and e.dst in index})
    return _Net(Problem(groups, projections, limits), pops, syn, src, dst, whole)


def _shape(m, pop: str) -> tuple[int, ...]:
    layer = m.layers.get(pop) if m is not None else None
    return tuple(layer.shape) if layer is not None else ()


def _projection(op, name: str, s: int, d: int, target) -> Projection:
    if isinstance(op, Sparse):
        rows, cols = op.rows(), op.indices
        key, inv = distinct(cols * op.n_out + rows, inverse=True)
        total = np.bincount(inv, weights=op.weight.astype(np.float64))
        key = key[total != 0]
        rows, cols, n_src, n_dst = key % op.n_out, key // op.n_out, op.n_in, op.n_out
    else:
        rows, cols = np.nonzero(op.weight)
        n_dst, n_src = op.weight.shape
    delays = bool(np.any(op.delay != 0))
    lut = axon_bits_table(target.synapse_encoding, n_dst, sparse=isinstance(op, Sparse), delays=delays)
    return Projection.from_pairs(name, s, d, n_src, rows, cols, dense=isinstance(op, Dense), lut=lut)


# -- the pass ----------------------------------------------------------------------------------------
@register_pass("loihi-partition", PartitionOptions, reports_progress=True)
def partition(graph: Graph, target, options: PartitionOptions, progress) -> PassResult:
    """Assign every compartment a core: the least traffic within every limit (module docstring)."""
    pops = [n for n in graph.schedule() if isinstance(graph.op(n), COMPARTMENTS)]
    net = problem_of(graph, target, activity.rates(graph, pops, options.calibration, options.activity))
    _refuse_split_drives(graph, net, target)
    strategies = STRATEGIES if options.strategy in ("auto", "all") else (options.strategy,)
    progress(f"{net.problem.n} neurons, {net.problem.synapses} synapses, {net.problem.n_nets} nets; "
             f"lower bound {net.problem.lower_bound()['cores']} cores")
    try:
        choice = choose(net.problem, strategies=strategies, whole_groups=net.whole, core_slack=options.core_slack,
                        passes=options.refine, pack=options.pack, every=options.strategy == "all", progress=progress)
    except cut.Unfit as exc:
        raise _violation(net, exc, target) from None
    return _rebuild(graph, target, net, _canonical(choice.best.assign), choice.stats())


def _canonical(assign: np.ndarray) -> np.ndarray:
    """Cores renumbered by their first vertex (population order, then neuron order)."""
    _, first = np.unique(assign, return_index=True)
    order = np.argsort(first, kind="stable")
    renumber = np.empty(len(order), np.int64)
    renumber[order] = np.arange(len(order))
    return renumber[np.searchsorted(np.unique(assign), assign)]


def _violation(net: _Net, exc: cut.Unfit, target) -> ConstraintViolation:
    rule = f"core.{LIMIT_KEYS[exc.resource]}"
    p = net.problem
    g = int(p.group_of[exc.vertex]) if exc.vertex >= 0 else 0
    if exc.whole:
        return ConstraintViolation(target=target.name, rule=rule, where=f"node '{net.pops[g]}'",
                                   value=f"{exc.value} for neurons driven directly by the host (they must share "
                                         f"one core)", limit=exc.limit)
    if exc.vertex < 0:
        return ConstraintViolation(target=target.name, rule="partition", where="graph",
                                   value=f"no legal cut after {cut.MAX_ROUNDS} rounds", limit="convergence")
    where = f"node '{net.pops[g]}' neuron {exc.vertex - int(p.base[g])} alone"
    return ConstraintViolation(target=target.name, rule=rule, where=where, value=exc.value, limit=exc.limit)


def _refuse_split_drives(graph: Graph, net: _Net, target) -> None:
    """A population the host drives directly must fit one core (checked again by the cut)."""
    for g in net.whole:
        name = net.pops[g]
        if graph.op(name).shape[0] > target.core.neurons:
            src = next(e.src for e in graph.in_edges(name) if e.src not in net.src)
            raise ConstraintViolation(target=target.name, rule="core.neurons", where=f"node '{name}'",
                                      value=f"{graph.op(name).shape[0]} neurons driven directly by '{src}' "
                                            f"(they must share one core)", limit=target.core.neurons)


# -- rebuilding the graph ---------------------------------------------------------------------------
@dataclass
class _Parts:
    """Per population: its parts' neurons (sorted), names, cores; per neuron its part and slot."""

    index: dict[str, list[np.ndarray]]
    names: dict[str, list[str]]
    core: dict[str, list[int]]
    part_of: dict[str, np.ndarray]
    slot: dict[str, np.ndarray]

    def split(self, pop: str) -> bool:
        return len(self.index.get(pop, ())) > 1


def _parts(graph: Graph, net: _Net, assign: np.ndarray) -> _Parts:
    taken = set(graph.nodes)
    out = _Parts({}, {}, {}, {}, {})
    for g, pop in enumerate(net.pops):
        cores = assign[net.problem.vertices(g)]
        order = np.argsort(cores, kind="stable")
        bounds = np.flatnonzero(np.diff(cores[order])) + 1
        chunks = sorted(np.split(order, bounds), key=lambda a: int(a[0]))
        out.index[pop] = chunks
        out.core[pop] = [int(cores[c[0]]) for c in chunks]
        out.names[pop] = [pop] if len(chunks) == 1 else [_fresh(f"{pop}.{i}", taken) for i in range(len(chunks))]
        out.part_of[pop] = np.empty(len(cores), np.int64)
        out.slot[pop] = np.empty(len(cores), np.int64)
        for i, c in enumerate(chunks):
            out.part_of[pop][c] = i
            out.slot[pop][c] = np.arange(len(c))
    return out


def _fresh(name: str, taken: set) -> str:
    name = unique_name(name, taken)
    taken.add(name)
    return name


def _part_of(pop: str, idx: np.ndarray) -> PartOf:
    runs = runs_of(idx)
    return PartOf(pop, int(idx[0]), len(idx), runs=runs if len(runs) > 1 else ())


def _rebuild(graph: Graph, target, net: _Net, assign: np.ndarray, stats: dict) -> PassResult:
    parts = _parts(graph, net, assign)
    nodes: list[Node] = []
    edges: list[Edge] = []
    prov: dict[str, tuple[str, ...]] = {}
    host_split: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        if name in parts.index:
            prov[name] = tuple(parts.names[name])
            nodes += [Node(part, _slice_compartments(node.op, idx), node.origin)
                      for part, idx in zip(parts.names[name], parts.index[name])]
        elif name in net.src or name in graph.outputs and _fed_by(graph, name, parts):
            continue                                                    # rebuilt below
        elif any(parts.split(e.src) for e in graph.in_edges(name)):
            host_split[name] = _split_host_affine(graph, name, node, parts, nodes, edges)
            prov[name] = tuple(host_split[name])
        else:
            nodes.append(node)                                          # graph inputs and host nodes
    for e in graph.edges:                                               # edges among host nodes and drives
        if e.dst in host_split or _fed_by(graph, e.dst, parts) and e.dst in graph.outputs:
            continue
        if e.src in net.src or e.dst in net.src:
            continue
        for src in host_split.get(e.src, [e.src]):
            edges.append(Edge(src, e.dst, e.src_port, e.dst_port, e.recurrent))
    for s in net.synapses:
        prov[s] = _blocks(graph, s, net, parts, nodes, edges)
    outputs, host_outputs = _split_outputs(graph, parts, nodes, edges, prov)
    core_of = {n: c for pop in parts.index for n, c in zip(parts.names[pop], parts.core[pop])}
    where = {n: _part_of(pop, idx) for pop in parts.index for n, idx in zip(parts.names[pop], parts.index[pop])}
    m = (graph.mapping or Mapping()).replace(outputs=host_outputs, cores=core_of, parts=where)
    out = Graph(nodes, edges, inputs=graph.inputs, outputs=outputs, dt=graph.dt, method=graph.method,
                version=graph.version, metadata=dict(graph.metadata), mapping=m)
    return PassResult(out, provenance=prov, stats=_stats(net, parts, assign, target, stats))


def _fed_by(graph: Graph, name: str, parts: _Parts) -> bool:
    """Whether node `name` is fed by a compartment population (then partition rebuilds it)."""
    return any(e.src in parts.index for e in graph.in_edges(name))


def _slice_compartments(op, idx: np.ndarray):
    """Neurons `idx` of a compartment op (every per-neuron array field taken)."""
    arrays = {f: v[idx] for f, v in op.field_values().items() if isinstance(v, np.ndarray) and v.ndim == 1}
    return op.replace(**arrays)


def _split_host_affine(graph, name, node, parts: _Parts, nodes, edges) -> list[str]:
    """A host-side snn.affine reading a split population becomes one affine per part (its
    columns; the bias on the first), all feeding what the original fed."""
    (e,) = graph.in_edges(name)
    op = node.op
    made = []
    for q, (part, idx) in enumerate(zip(parts.names[e.src], parts.index[e.src])):
        piece = f"{name}.from{q}"
        bias = op.bias if q == 0 else np.zeros_like(op.bias)
        nodes.append(Node(piece, op.replace(weight=op.weight[:, idx], bias=bias), node.origin))
        edges.append(Edge(part, piece))
        made.append(piece)
    return made


def _split_outputs(graph, parts: _Parts, nodes, edges, prov) -> tuple[list[str], dict[str, HostOutput]]:
    """One output per part of a split population (the mapping's host output lists the parts);
    outputs of host readouts stay as they are."""
    host = dict(graph.mapping.outputs) if graph.mapping else {}
    by_node = {p.node: name for name, entry in host.items() for p in entry.parts}
    outputs = []
    for out in graph.outputs:
        src = graph.in_edges(out)[0].src
        if src not in parts.index:                                      # a host readout's output
            outputs.append(out)
            continue
        pieces = []
        for i, (part, idx) in enumerate(zip(parts.names[src], parts.index[src])):
            name = out if len(parts.names[src]) == 1 else f"{out}.{i}"
            nodes.append(Node(name, Output(shape=(len(idx),)), graph.nodes[out].origin))
            edges.append(Edge(part, name))
            p = _part_of(src, idx)
            pieces.append(Piece(name, p.offset, p.count, p.runs))
            outputs.append(name)
        prov[out] = tuple(p.node for p in pieces)
        source = by_node.get(out, out)
        entry = host.get(source) or HostOutput((graph.op(out).shape[0],), ())
        host[source] = dataclasses.replace(entry, parts=tuple(pieces))
    return outputs, host


def _blocks(graph, s: str, net: _Net, parts: _Parts, nodes, edges) -> tuple[str, ...]:
    """Add synapse node `s`'s blocks between source parts and destination parts; return their names."""
    op, src, dst = graph.op(s), net.src[s], net.dst[s]
    n_src = op.n_in if isinstance(op, Sparse) else op.weight.shape[1]
    src_index = parts.index.get(src, [np.arange(n_src)])
    src_names = parts.names.get(src, [src])
    part_of = parts.part_of.get(src, np.zeros(n_src, np.int64))
    slot = parts.slot.get(src, np.arange(n_src))
    made = []
    for p, rows in enumerate(parts.index[dst]):
        pieces = _sparse_blocks(op, rows, part_of, slot, src_index) if isinstance(op, Sparse) else \
            _dense_blocks(op, rows, src_index)
        fed = False
        for q in range(len(src_index)):
            block = pieces.get(q)
            last = q == len(src_index) - 1
            if block is None and (fed or not last):
                continue                                   # no synapses; keep one block so the part is fed
            block = block if block is not None else _empty_block(op, rows, len(src_index[q]))
            label = (f".from{q}" if len(src_index) > 1 else "") + (f".to{p}" if len(parts.index[dst]) > 1 else "")
            nodes.append(Node(s + label, block, graph.nodes[s].origin))
            edges.extend([Edge(src_names[q], s + label), Edge(s + label, parts.names[dst][p])])
            made.append(s + label)
            fed = True
    return tuple(made)


def _dense_blocks(op: Dense, rows: np.ndarray, src_index) -> dict[int, Dense]:
    out = {}
    w = op.weight[rows]
    for q, cols in enumerate(src_index):
        block = w[:, cols]
        if block.any():
            delay = op.delay if op.delay.ndim == 0 else op.delay[np.ix_(rows, cols)]
            out[q] = op.replace(weight=block, weight_exp=op.weight_exp[rows], delay=delay)
    return out


def _sparse_blocks(op: Sparse, rows: np.ndarray, part_of, slot, src_index) -> dict[int, Sparse]:
    """The synapses of `rows`, split by the part of their source column (CSR kept row-major)."""
    lo, hi = op.indptr[rows], op.indptr[rows + 1]
    count = hi - lo
    sel = np.repeat(lo - np.cumsum(np.r_[0, count[:-1]]), count) + np.arange(int(count.sum()))
    local_row = np.repeat(np.arange(len(rows)), count)
    cols = op.indices[sel]
    q_of = part_of[cols]
    out = {}
    for q in np.unique(q_of):
        keep = q_of == q
        if not np.any(op.weight[sel[keep]] != 0):
            continue
        r = local_row[keep]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=len(rows)))]).astype(np.int64)
        delay = op.delay if op.delay.ndim == 0 else op.delay[sel[keep]]
        out[int(q)] = op.replace(indptr=indptr, indices=slot[cols[keep]], weight=op.weight[sel[keep]],
                                 weight_exp=op.weight_exp[rows], delay=delay, n_in=len(src_index[int(q)]))
    return out


def _empty_block(op, rows: np.ndarray, n_in: int):
    if isinstance(op, Dense):
        delay = op.delay if op.delay.ndim == 0 else np.zeros((len(rows), n_in), np.int64)
        return op.replace(weight=np.zeros((len(rows), n_in), np.int64), weight_exp=op.weight_exp[rows], delay=delay)
    delay = op.delay if op.delay.ndim == 0 else np.zeros(0, np.int64)
    return op.replace(indptr=np.zeros(len(rows) + 1, np.int64), indices=np.zeros(0, np.int64),
                      weight=np.zeros(0, np.int64), weight_exp=op.weight_exp[rows], delay=delay, n_in=n_in)


def _stats(net: _Net, parts: _Parts, assign: np.ndarray, target, chosen: dict) -> dict:
    from snnc.passes.partitioning.cost import evaluate
    ev = evaluate(net.problem, assign)
    limit = np.array([getattr(target.core, LIMIT_KEYS[r]) for r in RESOURCES], np.float64)
    util = {r: round(float(ev.loads[:, i].max(initial=0) / limit[i]), 6) for i, r in enumerate(RESOURCES)}
    return {"cores": ev.cores, "parts": sum(len(v) for v in parts.index.values()),
            "parts_per_population": {p: len(v) for p, v in parts.index.items()},
            "grown_by_second_order": _grown(net, parts), "max_utilisation": util, **chosen}


def _grown(net: _Net, parts: _Parts) -> list[str]:
    """Populations cut into more parts than they would need if no destination were split."""
    p = net.problem
    fill = cut.CoreFill(p, np.bincount(p.net_src[p.placed_src], minlength=p.n)[:p.n].astype(np.float64))
    out = []
    for g, pop in enumerate(net.pops):
        if len(parts.index[pop]) > 1 and g not in net.whole:
            if len(cut.cut_sequence(fill, p.vertices(g))) < len(parts.index[pop]):
                out.append(pop)
    return sorted(out)
