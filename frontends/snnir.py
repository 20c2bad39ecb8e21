"""The IR's own text form (`.snnir` plus an optional `.npz` sidecar) as a frontend."""
from __future__ import annotations

from pathlib import Path

from snnc.ir.graph import Graph


def load(source, **options) -> Graph:
    from snnc.ir.text import load_snnir
    if options:
        from snnc.errors import UsageError
        raise UsageError(f"{source}: .snnir files take no load options (got {', '.join(sorted(options))})")
    return load_snnir(Path(source))


def save(graph: Graph, path, **options) -> None:
    from snnc.ir.text import save_snnir
    save_snnir(graph, Path(path))
