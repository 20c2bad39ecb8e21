"""NIR -> Graph: flatten nested graphs, mark feedback edges, convert node by node (`_open` opens)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import networkx as nx
import nir
import numpy as np

from snnc.errors import IRVerificationError, MalformedInputError, SnncError
from snnc.ir.graph import Edge, Graph, Node
from snnc.ir.types import TensorType
from snnc.safeio import Limits, check_finite

from ._mapping import BY_NIR_TYPE, NODE_OP, NODE_ORIGIN, PREFIX, ImportContext, NodeProblem, decode_field
from ._open import LIVE, snnc_meta, unsupported, open_source
from ._provenance import announce_guesses, detect, dt_source

DEFAULT_DT = 1e-3


@dataclass(frozen=True)
class Options:
    dt: float | None = None
    method: str | None = None
    overrides: tuple[tuple[str, str], ...] = ()   # op field -> value, for every op that has it
    flatten_dims: str | None = None               # None: the file's framework's, else "sample"
    limits: Limits = Limits()
    user_fields: tuple[str, ...] = ()             # the override fields the caller set


@dataclass
class _Flat:
    """One NIR node that becomes one snnc node."""

    path: tuple[str, ...]     # NIR keys from the top graph down
    node: object
    name: str = ""

    @property
    def key(self) -> str:
        return ".".join(self.path)


# -- flattening nested graphs -------------------------------------------------------------------------
def flatten(graph: nir.NIRGraph, file: str | None) -> tuple[list[_Flat], list[tuple[tuple, tuple]]]:
    """Every non-graph node with its key path, and the edges between them (by key path).

    A nested NIRGraph's Input and Output nodes are spliced out: an edge into the subgraph
    feeds whatever its one Input feeds, and whatever feeds its one Output feeds the edge
    out of it. Edges keep their order: outer graph first, then each subgraph's in turn.
    """
    flats: list[_Flat] = []
    edges: list[tuple[tuple, tuple]] = []
    aliases: list[tuple] = []

    def visit(g: nir.NIRGraph, prefix: tuple[str, ...]) -> None:
        subgraphs = {}
        for key, node in g.nodes.items():
            path = prefix + (key,)
            if isinstance(node, nir.NIRGraph):
                visit(node, path)
                subgraphs[key] = node
                continue
            kind = type(node).__name__
            if kind not in BY_NIR_TYPE or type(node) is not getattr(nir, kind, None):
                raise unsupported("snnc has no mapping for this NIR node type", ".".join(path), kind, file)
            if prefix and isinstance(node, (nir.Input, nir.Output)):
                aliases.append(path)
            else:
                flats.append(_Flat(path, node))
        def end(key, cls):
            path = prefix + (key,)
            return _boundary(subgraphs[key], cls, path, file) if key in subgraphs else path

        edges.extend((end(src, nir.Output), end(dst, nir.Input)) for src, dst in g.edges)

    visit(graph, ())
    for a in aliases:
        sources = [s for s, d in edges if d == a]
        spliced = []
        for s, d in edges:
            if d == a:
                continue
            spliced.extend([(p, d) for p in sources] if s == a else [(s, d)])
        edges = spliced
    return flats, edges


def _boundary(g: nir.NIRGraph, cls, path: tuple[str, ...], file) -> tuple[str, ...]:
    """The key path of a subgraph's one Input (or Output) node, which an outer edge uses."""
    keys = [k for k, n in g.nodes.items() if isinstance(n, cls)]
    if len(keys) != 1:
        raise unsupported(f"an edge to or from a nested NIRGraph needs exactly one {cls.__name__} node "
                           f"in it, found {len(keys)}", ".".join(path), "NIRGraph", file)
    return path + (keys[0],)


# -- names and recurrence ---------------------------------------------------------------------------
_BAD = re.compile(r"[^A-Za-z0-9_.\-]")


def assign_names(flats: list[_Flat]) -> None:
    """snnc names: the key path joined by '.', characters the IR cannot spell replaced by '_'."""
    used: set[str] = set()
    for f in flats:
        base = ".".join(_BAD.sub("_", k) or "_" for k in f.path)
        if base[0] in ".-":
            base = "n" + base
        name, k = base, 0
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        f.name = name


def mark_recurrent(order: list[str], starts: list[str], edges: list[tuple[str, str]],
                   stateless: set[str]) -> list[bool]:
    """Which edges deliver the previous tick's value (see the module docstring).

    1. Depth-first search from the graph inputs (then any node not yet reached, in node
       order), following each node's out-edges in edge order: an edge to a node still on
       the search stack closes a cycle and is marked.
    2. A marked edge leaving a stateless node that has exactly one in-edge and one
       out-edge moves back onto that in-edge, repeatedly: the delay then sits on the
       spikes leaving the neuron, and a feedback projection computes W·z[t−1] + b within
       tick t, as snnTorch's RLeaky does. Every cycle through the old edge passes the new
       one (the node has no other way in), so the graph stays free of same-tick cycles,
       and the moved-over nodes feed nothing else, so only tick 0 changes: b instead of 0.
    """
    back = _back_edges(order, starts, edges)
    ins: dict[str, list[int]] = {}
    outs: dict[str, list[int]] = {}
    for i, (s, d) in enumerate(edges):
        outs.setdefault(s, []).append(i)
        ins.setdefault(d, []).append(i)
    for i in [i for i, b in enumerate(back) if b]:
        j = i
        while True:
            src = edges[j][0]
            if src not in stateless or len(ins.get(src, ())) != 1 or len(outs[src]) != 1:
                break
            k = ins[src][0]
            if back[k] or k == i:
                break
            back[j], back[k] = False, True
            j = k
    return back


def _back_edges(order: list[str], starts: list[str], edges: list[tuple[str, str]]) -> list[bool]:
    succ: dict[str, list[int]] = {}
    for i, (s, _) in enumerate(edges):
        succ.setdefault(s, []).append(i)
    state: dict[str, int] = {}          # 1: on the stack, 2: finished
    back = [False] * len(edges)
    for root in [*starts, *order]:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ.get(root, ())))]
        while stack:
            node, out = stack[-1]
            i = next(out, None)
            if i is None:
                state[node] = 2
                stack.pop()
                continue
            dst = edges[i][1]
            if state.get(dst) == 1:
                back[i] = True
            elif dst not in state:
                state[dst] = 1
                stack.append((dst, iter(succ.get(dst, ()))))
    return back


def _edges_from_meta(meta: dict | None, edges: list[tuple[str, str]], names: set[str]) -> list[Edge] | None:
    """The exact snnc edges recorded in a snnc-written file, if they still match the NIR edges."""
    rows = (meta or {}).get("edges")
    if not isinstance(rows, list):
        return None
    try:
        out = [Edge(str(s), str(d), str(sp), str(dp), bool(r)) for s, sp, d, dp, r in rows]
    except (TypeError, ValueError):
        return None
    if {(e.src, e.dst) for e in out} != set(edges) or not {e.src for e in out} | {e.dst for e in out} <= names:
        return None
    return out


# -- dt -----------------------------------------------------------------------------------------------
def infer_dt(flats: list[_Flat]) -> float | None:
    """The dt an exporter folded into r under the unit-gain convention r = τ/dt (snnTorch:
    τ = dt/(1−β), r = τ/dt): τ/r must agree on every leaky neuron (to 1e-5) and r > 1.
    Rounded to 6 significant digits, since exporters compute τ and r in float32."""
    ratios = []
    for f in flats:
        node = f.node
        if isinstance(node, (nir.LIF, nir.LI, nir.CubaLIF, nir.CubaLI)):
            tau = np.asarray(node.tau_mem if isinstance(node, (nir.CubaLIF, nir.CubaLI)) else node.tau,
                             dtype=np.float64)
            r = np.asarray(node.r, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.broadcast_arrays(tau / r, r)
            if not (np.all(ratio[1] > 1) and np.all(np.isfinite(ratio[0])) and np.all(ratio[0] > 0)):
                return None
            ratios.append(ratio[0].ravel())
    if not ratios:
        return None
    ratios = np.concatenate(ratios)
    mid = float(np.median(ratios))
    if np.max(np.abs(ratios - mid)) > 1e-5 * mid:
        return None
    return float(f"{mid:.6g}")


# -- the whole import ------------------------------------------------------------------------------------
def read_graph(source, options: Options) -> Graph:
    graph, file = open_source(source, options.limits)
    where = file or LIVE
    meta = snnc_meta(graph, file)
    flats, nir_edges = flatten(graph, file)
    assign_names(flats)
    found = None if meta is not None else detect([(f.key, f.node) for f in flats])
    if found is not None:       # the framework's neuron semantics, under the caller's own overrides
        given = {k for k, _ in options.overrides}
        options = replace(options, overrides=tuple((k, v) for k, v in found.neuron_fields if k not in given)
                          + options.overrides, flatten_dims=options.flatten_dims or found.flatten_dims)
    name_of = {f.path: f.name for f in flats}
    for s, d in nir_edges:
        if s not in name_of or d not in name_of:     # only in graphs built with type_check=False
            raise MalformedInputError(f"edge ({'.'.join(s)!r}, {'.'.join(d)!r}) names a node that does "
                                      f"not exist", file=where)
    named = [(name_of[s], name_of[d]) for s, d in nir_edges]
    names = [f.name for f in flats]
    edges = _edges_from_meta(meta, named, set(names))
    if edges is None:
        starts = [f.name for f in flats if isinstance(f.node, nir.Input)]
        stateless = {f.name for f in flats if not BY_NIR_TYPE[type(f.node).__name__][0].op.stateful}
        back = mark_recurrent(names, starts, named, stateless)
        edges = [Edge(s, d, recurrent=r) for (s, d), r in zip(named, back)]
    nodes = _convert_all(flats, edges, meta is not None, options, file)
    listed = (meta or {}).get("nodes")
    if isinstance(listed, list) and sorted(map(str, listed)) == sorted(n.name for n in nodes):
        rank = {str(name): i for i, name in enumerate(listed)}
        nodes.sort(key=lambda n: rank[n.name])
    attrs, source_words = _graph_attrs(meta, flats, nodes, options, found)
    try:
        result = Graph(nodes, edges, **attrs).verify()
    except IRVerificationError as exc:
        raise MalformedInputError(str(exc), file=where) from None
    check_finite(result, file=where)
    if meta is None:
        announce_guesses(where, found, result, dt_given=options.dt is not None, dt_words=source_words,
                         overridden=set(options.user_fields))
    return result


def _graph_attrs(meta, flats, nodes: list[Node], options: Options, found) -> tuple[dict, str]:
    """The graph's attributes, and (for a file snnc did not write) the words saying where dt came from."""
    meta = meta or {}
    attrs: dict = {"method": options.method or meta.get("method") or (found and found.method) or "euler"}
    if "ir_version" in meta:
        attrs["version"] = meta["ir_version"]
    extra = dict(meta["metadata"]) if isinstance(meta.get("metadata"), dict) else {}
    words = ""
    if options.dt is not None:
        attrs["dt"] = options.dt
    elif isinstance(meta.get("dt"), float) and math.isfinite(meta["dt"]) and meta["dt"] > 0:
        attrs["dt"] = meta["dt"]
    else:
        dt, source, words = dt_source(found, infer_dt(flats))
        attrs["dt"] = dt or DEFAULT_DT
        extra.setdefault("dt_source", source)
    if found is not None:
        extra.setdefault("provenance", found.framework)
    attrs["metadata"] = {str(k): str(v) for k, v in extra.items()}
    for key, kind in (("inputs", "snn.input"), ("outputs", "snn.output")):
        own = [n.name for n in nodes if n.op.name == kind]
        listed = [str(x) for x in meta[key]] if isinstance(meta.get(key), list) else None
        attrs[key] = listed if listed is not None and sorted(listed) == sorted(own) else own
    return attrs, words


def _convert_all(flats, edges: list[Edge], snnc_file: bool, options: Options, file) -> list[Node]:
    """Convert in a topological order of the same-tick edges, so each node knows the shape it
    receives (scalar NIR parameters broadcast to it); the nodes come back in that order,
    Input nodes first where the edges allow."""
    by_name = {f.name: f for f in flats}
    ff = nx.DiGraph()
    ff.add_nodes_from(by_name)
    ff.add_edges_from((e.src, e.dst) for e in edges if not e.recurrent)
    rank = {n: (not isinstance(f.node, nir.Input), i) for i, (n, f) in enumerate(by_name.items())}
    try:
        order = list(nx.lexicographical_topological_sort(ff, key=rank.__getitem__))
    except nx.NetworkXUnfeasible:
        order = list(by_name)              # the verifier will name the same-tick cycle
    feeders: dict[str, list[str]] = {}
    for e in edges:
        if not e.recurrent:
            feeders.setdefault(e.dst, []).append(e.src)
    shapes: dict[str, tuple[int, ...]] = {}
    nodes: dict[str, Node] = {}
    for name in order:
        known = [shapes[s] for s in feeders.get(name, ()) if s in shapes]
        in_shape = known[0] if known else None
        node = _convert(by_name[name], in_shape, snnc_file, options, file)
        nodes[name] = node
        out = _output_shape(node.op, in_shape)
        if out is not None:
            shapes[name] = out
    return [nodes[name] for name in order]


def _output_shape(op, in_shape) -> tuple[int, ...] | None:
    if not op.output_ports or op.verify() or (op.input_ports and in_shape is None):
        return None
    try:
        types = op.infer_types({"input": TensorType(in_shape)} if op.input_ports else {})
    except SnncError:
        return None
    return types["output"].shape


def _convert(flat: _Flat, in_shape, snnc_file: bool, options: Options, file) -> Node:
    node, kind = flat.node, type(flat.node).__name__
    meta = node.metadata if isinstance(node.metadata, dict) else {}
    maps = BY_NIR_TYPE[kind]
    wanted = meta.get(NODE_OP)
    m = next((x for x in maps if x.op.name == wanted), maps[0])
    try:
        extras = {f.name: decode_field(f, meta[PREFIX + f.name]) for f in m.extra_fields()
                  if m.op.name == wanted and PREFIX + f.name in meta}
        ctx = ImportContext(in_shape=in_shape, extras=extras, snnc=snnc_file,
                            options={"flatten_dims": options.flatten_dims or "sample"})
        fields = m.nir_to_fields(node, ctx)
        for f in m.extra_fields():
            if f.name not in fields and f.name in extras:
                fields[f.name] = extras[f.name]
        own = {f.name for f in m.op.field_specs()}
        fields.update((k, v) for k, v in options.overrides if k in own)
        op = m.op(**fields)
    except NodeProblem as exc:
        if exc.unsupported:
            raise unsupported(str(exc), flat.key, kind, file) from None
        raise MalformedInputError(str(exc), file=file or LIVE, where=f"node '{flat.key}' ({kind})") from None
    except (SnncError, TypeError, ValueError) as exc:
        raise MalformedInputError(str(exc), file=file or LIVE, where=f"node '{flat.key}' ({kind})") from None
    origin = meta.get(NODE_ORIGIN) if wanted == m.op.name and NODE_ORIGIN in meta else flat.key
    return Node(flat.name, op, str(origin))
