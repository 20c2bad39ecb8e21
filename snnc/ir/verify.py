"""The graph verifier: every IR rule, each broken one reported with its node and origin.

Rules (in the order checked):
  graph attributes   dt > 0 and finite; method is euler or exact
  names              node names match NAME_PATTERN (the text form can spell them)
  edges              both ends exist; ports are ports of the ops
  inputs/outputs     name nodes whose op has no input (inputs) or no output (outputs) port
  op rules           each op's own `verify()`
  connectivity       every input port of every node is fed by at least one edge
  schedule           no cycle of same-tick edges (feedback must be marked recurrent or pass
                     through a delayed op)
  types              edges into one port agree in shape; each op accepts its input types
  mapping            the mapping record agrees with the graph (snnc/ir/mapping.py)
"""
from __future__ import annotations

import math
import re

from snnc.errors import SnncError
from snnc.ir.graph import METHODS, Diagnostic, Edge, Graph
from snnc.ir.types import TensorType

NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


def verify_graph(g: Graph) -> list[Diagnostic]:
    """All diagnostics for `g`; empty when the graph is valid."""
    diags = _structure(g)
    if diags:
        return diags
    cycle = g.find_cycle()
    if cycle:
        return [Diagnostic(cycle[0], f"same-tick cycle {' -> '.join(cycle + cycle[:1])}; "
                                     f"mark the feedback edge recurrent", g.nodes[cycle[0]].origin)]
    _, diags = infer_graph_types(g)
    return diags or _mapping(g)


def _mapping(g: Graph) -> list[Diagnostic]:
    """The mapping record's disagreements with the graph (`snnc.ir.mapping.Mapping.verify`)."""
    if g.mapping is None:
        return []
    out = []
    for item in g.mapping.verify(g):
        node, message = item if isinstance(item, tuple) else (None, item)
        out.append(Diagnostic(node, message, g.nodes[node].origin if node in g.nodes else ""))
    return out


def _structure(g: Graph) -> list[Diagnostic]:
    d: list[Diagnostic] = []
    if not (g.dt > 0 and math.isfinite(g.dt)):
        d.append(Diagnostic(None, f"dt must be a positive number of seconds, got {g.dt!r}"))
    if g.method not in METHODS:
        d.append(Diagnostic(None, f"method must be one of {', '.join(METHODS)}, got {g.method!r}"))
    for name, node in g.nodes.items():
        if not NAME_PATTERN.match(name):
            d.append(Diagnostic(name, "node names use letters, digits, '_', '.', '-' and do not start "
                                      "with '.' or '-'", node.origin))
        d.extend(Diagnostic(name, msg, node.origin) for msg in node.op.verify())
    for e in g.edges:
        for end, port, ports in ((e.src, e.src_port, "output_ports"), (e.dst, e.dst_port, "input_ports")):
            if end not in g.nodes:
                d.append(Diagnostic(end, f"edge {e} refers to a node that does not exist"))
            elif port not in getattr(g.op(end), ports):
                kind = ports.split("_")[0]
                have = ", ".join(getattr(g.op(end), ports)) or "none"
                d.append(Diagnostic(end, f"edge {e}: {g.op(end).name} has no {kind} port '{port}' "
                                         f"({kind} ports: {have})", g.nodes[end].origin))
    for names, kind, attr in ((g.inputs, "input", "input_ports"), (g.outputs, "output", "output_ports")):
        for n in names:
            if n not in g.nodes:
                d.append(Diagnostic(n, f"graph {kind} names a node that does not exist"))
            elif getattr(g.op(n), attr):
                d.append(Diagnostic(n, f"graph {kind} must be a node without {attr.split('_')[0]} ports, "
                                       f"got {g.op(n).name}", g.nodes[n].origin))
    if d:
        return d
    for name, node in g.nodes.items():
        fed = {e.dst_port for e in g.in_edges(name)}
        for port in node.op.input_ports:
            if port not in fed:
                d.append(Diagnostic(name, f"input port '{port}' has no incoming edge", node.origin))
    return d


def infer_graph_types(g: Graph) -> tuple[dict[tuple[str, str], TensorType], list[Diagnostic]]:
    """Propagate types in schedule order; deferred edges are checked once all types are known.

    Deferred edges (recurrent ones, and edges into a delayed op: `Graph.deferred`) may come
    from a node later in the schedule. A port fed only by deferred edges takes its sources'
    type; a node whose such sources come later in the schedule waits for them (and so does
    every node that a waiting node feeds the same tick), and passes repeat while any waiting
    node gets its type. Every edge a node's inference did not see
    is checked against the port's type at the end.
    """
    types: dict[tuple[str, str], TensorType] = {}
    diags: list[Diagnostic] = []
    seen: set[Edge] = set()
    pending = list(g.schedule())
    while pending:
        waiting, held = [], set()
        for name in pending:
            if _infer_node(g, name, types, diags, seen, held) == "wait":
                waiting.append(name)
                held.add(name)
        if len(waiting) == len(pending):
            for name in waiting:
                for port in g.op(name).input_ports:
                    incoming = [e for e in g.in_edges(name) if e.dst_port == port]
                    if incoming and all(g.deferred(e) and (e.src, e.src_port) not in types for e in incoming):
                        what = "edges into a delayed op" if g.op(name).delayed else "recurrent edges"
                        diags.append(Diagnostic(name, f"input port '{port}' is fed only by {what}; "
                                                      f"its type cannot be inferred", g.nodes[name].origin))
            break
        pending = waiting
    for e in g.edges:
        if e in seen or (e.src, e.src_port) not in types:
            continue
        src_t = types[(e.src, e.src_port)]
        same_port = [types.get((x.src, x.src_port)) for x in g.in_edges(e.dst)
                     if x.dst_port == e.dst_port and x in seen]
        want = next((t for t in same_port if t is not None), None)
        if want is not None and want.shape != src_t.shape:
            kind = "recurrent edge" if e.recurrent else "edge"
            diags.append(Diagnostic(e.dst, f"{kind} from {e.src} gives {list(src_t.shape)}, but port "
                                           f"'{e.dst_port}' takes {list(want.shape)}", g.nodes[e.dst].origin))
    return types, diags


def _infer_node(g: Graph, name: str, types: dict, diags: list[Diagnostic], seen: set, held: set) -> str:
    """Infer one node's output types into `types`: "done", "failed", or "wait" when a port has no
    source type yet because its sources are fed only by deferred edges or are themselves
    waiting (`held`). The edges it read go into `seen`."""
    node = g.nodes[name]
    fed: dict[str, list[tuple]] = {}
    for port in node.op.input_ports:
        incoming = [e for e in g.in_edges(name) if e.dst_port == port]
        feedback_only = bool(incoming) and all(g.deferred(e) for e in incoming)
        fed[port] = [(e, types[(e.src, e.src_port)]) for e in incoming
                     if (feedback_only or not g.deferred(e)) and (e.src, e.src_port) in types]
        if not fed[port] and (feedback_only or any(e.src in held for e in incoming)):
            return "wait"
    seen.update(e for known in fed.values() for e, _ in known)
    inputs: dict[str, TensorType] = {}
    ok = True
    for port, known in fed.items():
        if not known:
            ok = False
            continue
        first_edge, first = known[0]
        for e, t in known[1:]:
            if t.shape != first.shape:
                diags.append(Diagnostic(name, f"edges into port '{port}' disagree: {first_edge.src} gives "
                                              f"{list(first.shape)}, {e.src} gives {list(t.shape)}",
                                        node.origin))
                ok = False
        inputs[port] = first
    if not ok:
        return "failed"
    try:
        out = node.op.infer_types(inputs)
    except SnncError as exc:
        diags.append(Diagnostic(name, str(exc), node.origin))
        return "failed"
    for port, t in out.items():
        types[(name, port)] = t
    return "done"
