"""The layout of a mapped analog graph: which nodes it has, in which order, and the tile table.

A graph the analog pipeline produced has one shape (lower.py, tiles.py), and the artifact
files (FORMAT.md) describe exactly that shape:

    graph inputs, each followed by an snn.flatten when it has more than one dimension
    per population, in node order: its analog.crossbar tiles (in core order, each analog.buffer
        placed just before the first tile that reads it), its analog.synapse if it has one,
        then its analog.lif
    the host readouts, in node order: an snn.affine per source, then the readout (snn.i, snn.li,
        snn.cuba_li)
    graph outputs, each fed by one population or readout

Every tile reads one source (a graph input, through its flatten, or a population) k ticks
late — k = 0 over a same-tick edge from an earlier source, k = 1 over a recurrent edge,
k >= 2 over a recurrent edge from a buffer of k − 1 ticks fed by the source — and feeds one
population (its synapse circuit, if it has one). `layout(graph)` checks that a graph has
this shape and returns it; the emitter writes it down and the decoder rebuilds the same
nodes, edges and order, so both runs sum a population's tiles in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.analog.ops import Crossbar, LIFCircuit, SpikeBuffer, SynapseCircuit
from snnc.errors import UsageError
from snnc.ir.graph import Graph
from snnc.ir.snn import I, LI, Affine, CubaLI, Flatten, Input, Output

TILE_FILE = "tiles/tile_{:04d}.npz"
READOUTS = (I, LI, CubaLI)
HOST_OPS = (Affine, *READOUTS)
CHIP_OPS = (Input, Output, Flatten, Crossbar, LIFCircuit, SynapseCircuit, SpikeBuffer)


@dataclass(frozen=True)
class Layout:
    """The nodes of a mapped analog graph by role (module docstring)."""

    flatten: dict[str, str]                  # graph input -> its snn.flatten node
    populations: tuple[str, ...]             # analog.lif nodes, in node order
    source: dict[str, str]                   # tile -> the graph input or population it reads
    lag: dict[str, int]                      # tile -> how many ticks late it reads its source
    buffers: dict[str, tuple[str, int]]      # analog.buffer -> (source, ticks), in node order
    synapse: dict[str, str]                  # population -> its analog.synapse node
    host: tuple[str, ...]                    # host readout nodes (affines and readouts), in node order
    output_population: dict[str, str]        # graph output -> the population or readout feeding it


def _refuse(node: str, what: str) -> UsageError:
    return UsageError(f"analog emit: node '{node}' {what}; the analog files hold a graph lowered by the "
                      f"analog pipeline (analog-legalize, analog-tile, analog-neurons, analog-calibrate)")


def _only_edge(graph: Graph, node: str, edges, what: str):
    if len(edges) != 1:
        raise _refuse(node, f"has {len(edges)} {what} edges, expected 1")
    return edges[0]


def layout(graph: Graph) -> Layout:
    """The layout of `graph`; UsageError naming the node when it is not a mapped analog graph."""
    if graph.mapping is None:
        raise UsageError("analog emit: the graph has no mapping record; lower it with the analog pipeline first")
    flatten, feeds = {}, {}                              # node carrying a flat vector -> what it carries
    for name in graph.inputs:
        feeds[name] = name
        for e in graph.out_edges(name):
            if isinstance(graph.op(e.dst), Flatten):
                flatten[name], feeds[e.dst] = e.dst, name
    for name, node in graph.nodes.items():
        if not isinstance(node.op, CHIP_OPS + HOST_OPS):
            raise _refuse(name, f"is {node.op.name}")
    pops = tuple(n for n, node in graph.nodes.items() if isinstance(node.op, LIFCircuit))
    feeds.update({p: p for p in pops})
    synapse = _synapses(graph, pops)
    buffers = _buffers(graph, feeds)
    source, lag = _tiles(graph, pops, feeds, buffers, synapse)
    host = tuple(n for n, node in graph.nodes.items() if isinstance(node.op, HOST_OPS))
    readouts = _host(graph, host, feeds)
    outs = {o: _only_edge(graph, o, graph.in_edges(o), "incoming").src for o in graph.outputs}
    for o, p in outs.items():
        if p not in pops and p not in readouts:
            raise _refuse(o, f"is a graph output fed by '{p}', not by a population or host readout")
    return Layout(flatten, pops, source, lag, buffers, synapse, host, outs)


def _synapses(graph: Graph, pops: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name, node in graph.nodes.items():
        if isinstance(node.op, SynapseCircuit):
            dst = _only_edge(graph, name, graph.out_edges(name), "outgoing").dst
            if dst not in pops or dst in out:
                raise _refuse(name, f"is a synapse circuit feeding '{dst}', expected the one population it serves")
            out[dst] = name
    return out


def _buffers(graph: Graph, feeds: dict[str, str]) -> dict[str, tuple[str, int]]:
    out = {}
    for name, node in graph.nodes.items():
        if isinstance(node.op, SpikeBuffer):
            e = _only_edge(graph, name, graph.in_edges(name), "incoming")
            if e.src not in feeds or e.recurrent:
                raise _refuse(name, f"buffers '{e.src}', expected a graph input or population over a same-tick edge")
            out[name] = (feeds[e.src], node.op.ticks)
    return out


def _tiles(graph, pops, feeds, buffers, synapse) -> tuple[dict[str, str], dict[str, int]]:
    m, source, lag, fed = graph.mapping, {}, {}, {}
    into = {s: p for p, s in synapse.items()}
    for name, node in graph.nodes.items():
        if not isinstance(node.op, Crossbar):
            continue
        if name not in m.cores:
            raise _refuse(name, "is a tile on no core (mapping.cores)")
        e = _only_edge(graph, name, graph.in_edges(name), "incoming")
        dst = _only_edge(graph, name, graph.out_edges(name), "outgoing").dst
        pop = into.get(dst, dst)
        if pop not in pops or (pop in synapse and dst != synapse[pop]):
            raise _refuse(name, f"feeds '{dst}', expected a population (through its synapse circuit if it has one)")
        if e.src in buffers and e.recurrent:
            source[name], lag[name] = buffers[e.src][0], buffers[e.src][1] + 1
        elif e.src in feeds:
            source[name], lag[name] = feeds[e.src], int(e.recurrent)
        else:
            raise _refuse(name, f"reads '{e.src}', expected a graph input, a population or a buffer")
        if not e.recurrent and e.src in pops and pops.index(e.src) >= pops.index(pop):
            raise _refuse(name, f"reads population '{e.src}' in the same tick, but it does not precede '{pop}'")
        fed.setdefault(pop, []).append(name)
    for p in pops:
        if not fed.get(p):
            raise _refuse(p, "is a population fed by no tile")
    return source, lag


def _host(graph: Graph, host: tuple[str, ...], feeds: dict[str, str]) -> set[str]:
    """The readouts; every host affine reads a chip source in the same tick and feeds one readout."""
    readouts = {n for n in host if isinstance(graph.op(n), READOUTS)}
    for name in host:
        if name in readouts:
            srcs = [e for e in graph.in_edges(name)]
            if not srcs or any(e.src not in host or isinstance(graph.op(e.src), READOUTS) or e.recurrent
                               for e in srcs):
                raise _refuse(name, "is a host readout not fed by host affines alone")
            continue
        e = _only_edge(graph, name, graph.in_edges(name), "incoming")
        dst = _only_edge(graph, name, graph.out_edges(name), "outgoing").dst
        if e.src not in feeds or e.recurrent or dst not in readouts:
            raise _refuse(name, f"is a host affine reading '{e.src}' and feeding '{dst}', expected a chip source "
                                f"in the same tick and a readout")
    return readouts


def tile_map(graph: Graph) -> dict[str, dict]:
    """Where each tile node sits and what it connects, in core order (any graph after analog-tile)."""
    m = graph.mapping
    out = {}
    for name, core in sorted(m.cores.items(), key=lambda kv: kv[1]):
        op, pos = graph.op(name), m.place.get(core)
        if pos is None:
            raise _refuse(name, f"sits on core {core}, which has no position (mapping.place)")
        edge = graph.in_edges(name)[0]
        src, lag = edge.src, int(edge.recurrent)
        if isinstance(graph.op(src), SpikeBuffer):
            lag += graph.op(src).ticks
            src = graph.in_edges(src)[0].src
        if isinstance(graph.op(src), Flatten):
            src = graph.in_edges(src)[0].src
        dst = graph.out_edges(name)[0].dst
        if isinstance(graph.op(dst), SynapseCircuit):
            dst = graph.out_edges(dst)[0].dst
        C, R = op.shape
        out[name] = {"population": dst, "source": src, "lag": lag, "core": core,
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
            "population": where["population"], "source": where["source"], "lag": where["lag"],
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
    edges = graph.in_edges(node)
    if len(edges) == 1 and isinstance(graph.op(edges[0].src), SynapseCircuit):
        edges = graph.in_edges(edges[0].src)
    for e in edges:
        op = graph.op(e.src)
        if e.src in m.cores and isinstance(op, Crossbar) and op.col_offset <= index < op.col_offset + op.shape[0]:
            found.append(m.cores[e.src])
    return tuple(sorted(found))
