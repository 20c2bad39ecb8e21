"""The host side of an analog artifact: host.json and the host program of float readouts.

A non-spiking readout (snn.i, snn.li, snn.cuba_li) is computed by the host from the spikes
the chip sends in the same tick, in float, exactly as the source model does: the host
program is that part of the mapped graph, written as text IR (`host_program.snnir`, with a
sidecar `host_program.npz` for large arrays) whose inputs are named after the chip nodes it
reads (populations, graph inputs or their flatten nodes). `decode` grafts it back onto the
chip graph. Its time constants are in the chip's time base, like every node's.
"""
from __future__ import annotations

import numpy as np

from snnc.artifact import npz_bytes
from snnc.backends.analog.layout import Layout
from snnc.errors import MalformedInputError, UsageError
from snnc.ir.graph import Graph, Node
from snnc.ir.mapping import HostOutput, Piece
from snnc.ir.snn import Flatten, Input

PROGRAM = "host_program.snnir"
SIDECAR = "host_program.npz"


def program_files(graph: Graph, lay: Layout) -> dict[str, bytes]:
    """host_program.snnir (+ .npz) when the graph has host readouts, else nothing."""
    if not lay.host:
        return {}
    from snnc.ir.text import print_graph
    host = set(lay.host)
    sources = list(dict.fromkeys(e.src for n in lay.host for e in graph.in_edges(n) if e.src not in host))
    nodes = [Node(s, Input(shape=(_size(graph, s),)), graph.nodes[s].origin) for s in sources]
    nodes += [graph.nodes[n] for n in lay.host]
    edges = [e for n in lay.host for e in graph.in_edges(n)]
    program = Graph(nodes, edges, inputs=sources, outputs=[], dt=graph.dt, method=graph.method,
                    version=graph.version)
    sidecar: dict = {}
    files = {PROGRAM: print_graph(program, sidecar=sidecar).encode("utf-8")}
    if sidecar:
        files[SIDECAR] = npz_bytes(sidecar)
    return files


def _size(graph: Graph, name: str) -> int:
    op = graph.op(name)
    if isinstance(op, Flatten):
        return _size(graph, graph.in_edges(name)[0].src)
    return int(np.prod(op.shape))


def read_program(art, sizes: dict[str, int]) -> Graph | None:
    """The host program of the files (None without one); its inputs must name chip nodes of `sizes`."""
    if PROGRAM not in art.files:
        return None
    from snnc.ir.text import parse_graph
    sidecar = art.arrays(SIDECAR) if SIDECAR in art.files else {}
    g = parse_graph(art.files[PROGRAM].decode("utf-8"), sidecar=sidecar, file=PROGRAM)
    for name in g.inputs:
        if name not in sizes:
            raise MalformedInputError(f"input '{name}' names no graph input, flatten node or population of the chip",
                                      file=PROGRAM)
        if tuple(g.op(name).shape) != (sizes[name],):
            raise MalformedInputError(f"input '{name}' has shape {list(g.op(name).shape)}, the chip's node holds "
                                      f"{sizes[name]} values", file=PROGRAM)
    return g


def host_outputs_entry(graph: Graph, lay: Layout, name: str) -> dict:
    """One output of host.json: its population's spikes or its host readout's values."""
    m = graph.mapping
    entry = m.outputs.get(name)
    src = lay.output_population[name]
    readout = src not in lay.populations
    want = "values" if readout else "spikes"
    if entry is None or [(p.node, p.offset) for p in entry.parts] != [(name, 0)] or entry.latency \
            or entry.encoding != want:
        raise UsageError(f"analog emit: graph output '{name}' is not its {'readout' if readout else 'population'}'s "
                         f"{want}, whole and without latency (mapping.outputs: {entry})")
    return {"name": name, "population": None if readout else src, "readout": src if readout else None,
            "shape": list(entry.shape), "origin": graph.nodes[name].origin}


def host_output(shape: tuple[int, ...], name: str, n: int, readout: bool) -> HostOutput:
    """The mapping record of one output: its population's spikes or its readout's values."""
    return HostOutput(tuple(shape), (Piece(name, 0, n),), 0, "values" if readout else "spikes")
