"""The host program: the float `snn.*` nodes the host runs beside the chip, written and read.

A TrueNorth neuron sends spikes only, so what a model computes in float from spikes (its
readouts) or before them (a real-valued input's encoder) runs on the host, as the host
nodes of the netlist (`netlist.py`). `host_program` writes them as `host_program.snnir`
(+ `.npz`) in the text IR: a graph whose inputs are the graph inputs it reads, then one
*stream* per host node the chip feeds (standing for the spikes the chip sends it), and
whose outputs are the graph outputs it feeds. `read_program` parses it back for
`decode.py`, checking it against host.json (FORMAT.md, "host_program.snnir").
"""
from __future__ import annotations

import numpy as np

from snnc.artifact import npz_bytes
from snnc.backends.truenorth.files import HOST_JSON, HOST_PROGRAM, HOST_PROGRAM_NPZ
from snnc.backends.truenorth.netlist import Netlist
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.ir.snn import Input
from snnc.ir.text import print_graph


def stream_names(net: Netlist) -> dict[str, str]:
    """The host program's input that stands for the chip's spikes into each host node the chip feeds."""
    taken = set(net.host) | set(net.inputs) | set(net.outputs) | set(net.cores) | {l.name for l in net.links}
    out = {}
    for n in net.host:
        if net.into(n):
            out[n] = unique_name(f"{n}.chip", taken)
            taken.add(out[n])
    return out


def host_program(graph, net: Netlist) -> dict[str, bytes]:
    """host_program.snnir (+ .npz): the float nodes the host runs, as a graph whose inputs are the
    chip's spikes into each (one per host node the chip feeds) and whose outputs are the graph
    outputs they feed; nothing when the host runs none."""
    if not net.host:
        return {}
    streams = stream_names(net)
    read = [x for x in graph.inputs if any(e.src == x for e in net.host_edges)]
    nodes = [net.inputs[x] for x in read] + [Node(s, Input(shape=(net.into(n)[0].n_axons,)), "")
                                             for n, s in streams.items()]
    nodes += list(net.host.values())
    outputs = [o for o in graph.outputs if any(e.src in net.host for e in graph.in_edges(o))]
    nodes += [net.outputs[o] for o in outputs]
    edges = [Edge(s, n) for n, s in streams.items()] + list(net.host_edges)
    program = Graph(nodes, edges, inputs=read + list(streams.values()), outputs=outputs, dt=graph.dt,
                    method=graph.method)
    sidecar: dict[str, np.ndarray] = {}
    files = {HOST_PROGRAM: print_graph(program, sidecar=sidecar).encode("utf-8")}
    if sidecar:
        files[HOST_PROGRAM_NPZ] = npz_bytes(sidecar)
    return files


def read_program(files, host) -> Graph | None:
    """The float nodes the host runs: their graph, whose inputs are the streams host.json's reads
    name and whose outputs are graph outputs; None when there is no program."""
    if HOST_PROGRAM not in files.art.files:
        if host.reads or host.sends or host.latency:
            raise files.fail(HOST_JSON, f"names host nodes ('reads', 'host_latency') but {HOST_PROGRAM} is missing")
        return None
    from snnc.errors import SnncError
    from snnc.ir.text import parse_graph
    sidecar = files.art.arrays(HOST_PROGRAM_NPZ) if HOST_PROGRAM_NPZ in files.art.files else {}
    try:
        text = files.art.files[HOST_PROGRAM].decode("utf-8")
        g = parse_graph(text, sidecar=sidecar, file=files.where(HOST_PROGRAM))
    except (UnicodeDecodeError, SnncError) as exc:
        raise files.fail(HOST_PROGRAM, f"not a host program this snnc can read ({exc})") from None
    streams = [stream for _, stream, _ in host.reads]
    graph_inputs = [x for x, _ in host.inputs]
    read = [x for x in g.inputs if x in graph_inputs]
    if list(g.inputs) != read + streams or read != [x for x in graph_inputs if x in read]:
        raise files.fail(HOST_PROGRAM, f"its inputs {list(g.inputs)} are not graph inputs (in order) then the "
                                       f"streams host.json reads {streams}")
    for node, stream, _ in host.reads:
        fed = [e.dst for e in g.out_edges(stream)]
        if fed != [node]:
            raise files.fail(HOST_PROGRAM, f"stream '{stream}' feeds {fed}, host.json says it feeds '{node}'")
    outputs = [o for o, _, _ in host.outputs]
    if any(o not in outputs for o in g.outputs):
        raise files.fail(HOST_PROGRAM, f"its outputs {list(g.outputs)} are not all graph outputs {outputs}")
    body = set(g.nodes) - set(g.inputs) - set(g.outputs)
    if not set(host.sends) <= body:
        raise files.fail(HOST_JSON, f"'sends' names {sorted(set(host.sends) - body)}, which the program does not run")
    if set(host.latency) != body:
        raise files.fail(HOST_JSON, f"'host_latency' names {sorted(host.latency)}, the program runs {sorted(body)}")
    return g
