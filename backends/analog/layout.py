"""The layout of a mapped analog graph: which nodes it has, in which order, and the tile table.

A graph the analog pipeline produced has one shape (lower.py), and the artifact files
(FORMAT.md) describe exactly that shape:

    graph inputs, each followed by an snn.flatten when it has more than one dimension
    per population, in node order: its analog.crossbar tiles (in core order), then its analog.lif
    graph outputs, each fed by one population

Every tile reads one source (a graph input, through its flatten, or an earlier population)
and feeds one population. `layout(graph)` checks that a graph has this shape and returns
it; the emitter writes it down and the decoder rebuilds the same nodes, edges and order,
so both runs sum a population's tiles in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.errors import UsageError
from snnc.ir.graph import Graph
from snnc.ir.snn import Flatten, Input, Output

TILE_FILE = "tiles/tile_{:04d}.npz"


@dataclass(frozen=True)
class Layout:
    """The nodes of a mapped analog graph by role (module docstring)."""

    flatten: dict[str, str]                  # graph input -> its snn.flatten node
    populations: tuple[str, ...]             # analog.lif nodes, in node order
    source: dict[str, str]                   # tile -> the graph input or population it reads
    output_population: dict[str, str]        # graph output -> the population feeding it


def _refuse(node: str, what: str) -> UsageError:
    return UsageError(f"analog emit: node '{node}' {what}; the analog files hold a graph lowered by the "
                      f"analog pipeline (analog-legalize, analog-tile, analog-neurons, analog-calibrate)")


def _only_edge(graph: Graph, node: str, edges, what: str):
    if len(edges) != 1:
        raise _refuse(node, f"has {len(edges)} {what} edges, expected 1")
    return edges[0]


def layout(graph: Graph) -> Layout:
    """The layout of `graph`; UsageError naming the node when it is not a mapped analog graph."""
    m = graph.mapping
    if m is None:
        raise UsageError("analog emit: the graph has no mapping record; lower it with the analog pipeline first")
    flatten, source, by_pop = {}, {}, {}
    feeds = {}                                           # node carrying a flat vector -> what it carries
    for name in graph.inputs:
        feeds[name] = name
        for e in graph.out_edges(name):
            if isinstance(graph.op(e.dst), Flatten):
                flatten[name], feeds[e.dst] = e.dst, name
    for name, node in graph.nodes.items():
        if not isinstance(node.op, (Input, Output, Flatten, Crossbar, LIFCircuit)):
            raise _refuse(name, f"is {node.op.name}")
    pops = tuple(n for n, node in graph.nodes.items() if isinstance(node.op, LIFCircuit))
    feeds.update({p: p for p in pops})
    for name, node in graph.nodes.items():
        op = node.op
        if isinstance(op, Crossbar):
            if name not in m.cores:
                raise _refuse(name, "is a tile on no core (mapping.cores)")
            src = _only_edge(graph, name, graph.in_edges(name), "incoming").src
            dst = _only_edge(graph, name, graph.out_edges(name), "outgoing").dst
            if src not in feeds or dst not in pops:
                raise _refuse(name, f"reads '{src}' and feeds '{dst}', expected a graph input or population "
                                    f"and a population")
            if src in pops and pops.index(src) >= pops.index(dst):
                raise _refuse(name, f"reads population '{src}', which does not precede '{dst}' in node order")
            source[name] = feeds[src]
            by_pop.setdefault(dst, []).append(name)
    for p in pops:
        if not by_pop.get(p):
            raise _refuse(p, "is a population fed by no tile")
    outs = {o: _only_edge(graph, o, graph.in_edges(o), "incoming").src for o in graph.outputs}
    for o, p in outs.items():
        if p not in pops:
            raise _refuse(o, f"is a graph output fed by '{p}', not by a population")
    return Layout(flatten, pops, source, outs)


def tile_map(graph: Graph) -> dict[str, dict]:
    """Where each tile node sits and what it connects, in core order (any graph after analog-tile)."""
    m = graph.mapping
    out = {}
    for name, core in sorted(m.cores.items(), key=lambda kv: kv[1]):
        op, pos = graph.op(name), m.place.get(core)
        if pos is None:
            raise _refuse(name, f"sits on core {core}, which has no position (mapping.place)")
        src = graph.in_edges(name)[0].src
        if isinstance(graph.op(src), Flatten):
            src = graph.in_edges(src)[0].src
        C, R = op.shape
        out[name] = {"population": graph.out_edges(name)[0].dst, "source": src, "core": core,
                     "position": [pos.chip, pos.row, pos.col],
                     "rows": [op.row_offset, op.row_offset + R], "cols": [op.col_offset, op.col_offset + C]}
    return out


def physical_rows(op: Crossbar, target) -> int:
    """Word lines one block occupies: split_rows spends an excitatory and an inhibitory row per input."""
    rows = op.shape[1]
    return 2 * rows if target.crossbar.signed_mode == "split_rows" else rows


CONVERTER_FIELDS = ("x_max", "dac_bits", "adc_bits", "adc_bound", "out_noise", "ir_drop", "ir_drop_g_ratio")


def tile_table(graph: Graph, target) -> list[dict]:
    """The entries of tiles.json, in core order (FORMAT.md), of a graph `layout` accepts."""
    layout(graph)
    entries = []
    for name, where in tile_map(graph).items():
        op = graph.op(name)
        entries.append({
            "tile": where["core"], "position": where["position"], "node": name, "origin": graph.nodes[name].origin,
            "population": where["population"], "source": where["source"],
            "rows": where["rows"], "cols": where["cols"],
            "physical_rows": physical_rows(op, target), "physical_cols": int(op.shape[0]),
            "file": TILE_FILE.format(where["core"]),
            "converters": {f: getattr(op, f) for f in CONVERTER_FIELDS},
            "drift_compensation": op.drift_compensation, "t_inference": op.t_inference,
            "w_scale": [float(op.w_scale.min()), float(op.w_scale.max())],
            "gain": [float(op.gain.min()), float(op.gain.max())],
            "synapses": int(np.count_nonzero(op.g_pos != op.g_neg))})
    return entries


def locate(graph: Graph, node: str, index: int) -> tuple[int, ...]:
    """The tiles (cores) whose columns feed neuron `index` of population `node`, in core order:
    where verify looks for the cause of a divergence in that neuron."""
    m, found = graph.mapping, []
    for e in graph.in_edges(node):
        op = graph.op(e.src)
        if e.src in m.cores and isinstance(op, Crossbar) and op.col_offset <= index < op.col_offset + op.shape[0]:
            found.append(m.cores[e.src])
    return tuple(sorted(found))
