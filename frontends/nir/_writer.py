"""Graph -> NIR: one flat NIRGraph, snnc's extra meaning in metadata, written by nir.write."""
from __future__ import annotations

import os

import nir
import numpy as np

from snnc.errors import UnsupportedOpError, UsageError
from snnc.ir.graph import Graph

from ._mapping import BY_OP, NODE_OP, NODE_ORIGIN, PREFIX, encode_field, encode_graph_meta


def to_nir(graph: Graph) -> nir.NIRGraph:
    """The NIRGraph for a verified `snn.*` graph: node keys are the snnc names."""
    for name, node in graph.nodes.items():
        if type(node.op) not in BY_OP:
            raise UnsupportedOpError("NIR has no node for this op; save the source-dialect graph instead",
                                     node=name, op=node.op.name,
                                     supported=tuple(sorted(m.op.name for m in BY_OP.values())))
    graph.verify()
    types = graph.types()
    nodes = {}
    for name, node in graph.nodes.items():
        m = BY_OP[type(node.op)]
        feeders = [e for e in graph.in_edges(name) if not e.recurrent] or list(graph.in_edges(name))
        in_shape = types[(feeders[0].src, feeders[0].src_port)].shape if feeders else None
        meta = {NODE_OP: node.op.name, NODE_ORIGIN: node.origin}
        meta.update((PREFIX + f.name, encode_field(f, getattr(node.op, f.name))) for f in m.extra_fields())
        nodes[name] = m.nir_class(**m.op_to_nir(node.op, in_shape), metadata=meta)
    edges = list(dict.fromkeys((e.src, e.dst) for e in graph.edges))   # NIR rejects duplicate edges
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=encode_graph_meta(graph), type_check=False)


def write_graph(graph: Graph, path) -> None:
    g = to_nir(graph)
    # nir.write gzips every array, which HDF5 refuses for 0-d ones (scalar-shaped neurons)
    compression = None if _has_0d_array(g.to_dict()) else "gzip"
    try:
        nir.write(os.fspath(path), g, compression=compression)
    except OSError as exc:
        raise UsageError(f"{os.fspath(path)}: cannot write NIR file: {exc}") from None


def _has_0d_array(tree) -> bool:
    if isinstance(tree, dict):
        return any(_has_0d_array(v) for v in tree.values())
    return isinstance(tree, np.ndarray) and tree.ndim == 0
