"""A human-readable summary of a Graph: one row per node, then totals (used by `snnc inspect`)."""
from __future__ import annotations

import numpy as np

from snnc.ir.graph import Graph


def graph_counts(graph: Graph) -> list[dict]:
    """Per node: name, op, origin, output shape, neurons (stateful ops), synapses, parameters."""
    types = graph.types()
    rows = []
    for name, node in graph.nodes.items():
        op = node.op
        ins = {e.dst_port: types[(e.src, e.src_port)] for e in graph.in_edges(name)
               if (e.src, e.src_port) in types}
        outs = {p: types[(name, p)] for p in op.output_ports if (name, p) in types}
        shape = outs["output"].shape if "output" in outs else tuple(getattr(op, "shape", ()))
        params = sum(v.size for v in op.field_values().values() if isinstance(v, np.ndarray))
        rows.append(dict(name=name, op=op.name, origin=node.origin, shape=shape,
                         neurons=int(np.prod(shape)) if op.neurons else 0,
                         synapses=op.synapse_count(ins, outs), params=int(params)))
    return rows


def summarize(graph: Graph, title: str = "") -> str:
    rows = graph_counts(graph)
    head = ("node", "op", "shape", "neurons", "synapses", "origin")
    table = [head] + [(r["name"], r["op"], "x".join(map(str, r["shape"])) or "-", str(r["neurons"] or ""),
                       str(r["synapses"] or ""), r["origin"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [f"{title}" if title else "graph",
             f"  dt = {graph.dt:g} s, method = {graph.method}, inputs = {', '.join(graph.inputs)}, "
             f"outputs = {', '.join(graph.outputs)}"]
    for i, row in enumerate(table):
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    lines.append(f"  total: {len(rows)} nodes, {sum(r['neurons'] for r in rows)} neurons, "
                 f"{sum(r['synapses'] for r in rows)} synapses, {sum(r['params'] for r in rows)} parameters, "
                 f"{sum(1 for e in graph.edges if e.recurrent)} recurrent edges")
    return "\n".join(lines)
