"""The IR's own text form (`.snnir` plus an optional `.npz` sidecar) as a frontend.

A model file is held to what a model may be: besides the limits of `load_snnir`
(`max_elements`, `max_expansion`, `max_nodes`, its only load options), a NaN or infinite
parameter is refused, naming the node and the field (the text form itself can spell them,
so that any Graph prints and parses back).
"""
from __future__ import annotations

from pathlib import Path

from snnc.ir.graph import Graph

OPTIONS = ("max_elements", "max_expansion", "max_nodes")


def load(source, **options) -> Graph:
    from snnc.errors import UsageError
    from snnc.ir.text import load_snnir
    from snnc.safeio import check_finite
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UsageError(f"{source}: .snnir files take only the load options {', '.join(OPTIONS)} "
                         f"(got {', '.join(unknown)})")
    graph = load_snnir(Path(source), **options)
    check_finite(graph, file=str(source))
    return graph


def save(graph: Graph, path, **options) -> None:
    from snnc.ir.text import save_snnir
    save_snnir(graph, Path(path))
