"""Mapping annotations that passes leave on a graph, and the helpers that read them.

A lowered graph keeps its computation in its ops; where things run and how the host
talks to them are annotations, stored as JSON strings in graph metadata (they change no
result of the interpreter, so they are metadata in the sense of ir_spec/SPEC.md §2):

    "io"                {"inputs":  {name: {"shape": [...], "encoding": "spikes"|"graded",
                                            "frac_bits": f}},
                         "outputs": {name: {"shape": [...], "latency": ticks,
                                            "encoding": "spikes"|"graded",
                                            "parts": [[node, offset, count], ...]}},
                         "layers":  {population: {"latency": ticks, "graded": bool}}}
                        written by the lowering: an output's `latency` is how many ticks
                        later than the source model the chip produces it; `parts` lists
                        the output nodes whose concatenation (flat order) is the output;
                        a graded output also has "scale" (one number per element): the
                        source model's value is payload / scale.
    "mapping.cores"     {compartment node: logical core}        (partition)
    "mapping.parts"     {compartment node: [population, offset, count(, first)]}: which neurons
                        of which lowered population the node holds (partition); the optional
                        `first` (default 0) is where they start among the node's outputs, for a
                        node that also holds other neurons (TrueNorth copies and relays)
    "mapping.place"     {logical core: [chip, tile_row, tile_col, slot]}   (place)
"""
from __future__ import annotations

import json

from snnc.ir.graph import Graph

IO = "io"
CORES = "mapping.cores"
PARTS = "mapping.parts"
PLACE = "mapping.place"


def read(graph: Graph, key: str, default=None):
    """The JSON value stored under metadata `key`, or `default`."""
    text = graph.metadata.get(key)
    return default if text is None else json.loads(text)


def dumps(value) -> str:
    """The canonical JSON text of a metadata value (sorted keys, compact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def with_meta(graph: Graph, **values) -> Graph:
    """`graph` with metadata keys set (keyword names use '_' for '.': mapping_cores)."""
    meta = dict(graph.metadata)
    for key, value in values.items():
        meta[key.replace("_", ".")] = dumps(value)
    return graph.replace(metadata=meta)
