"""The one registry of target families (backends).

Each package under `snnc.backends` is one family and registers one `Backend` record when it
is imported: the family's target schema, its pipeline, how it writes an artifact (`emit`)
and reads one back (`decode`), its design rules, and how its chip runs. Everything outside
a backend reaches it through this record — the compiler, `snnc verify`, `snnc simulate`, the
CLI, the target loader, and the op, step-function and pass registries, which import every
family through `load_backends()`. This module is the only place that finds a backend module
by name.

The contract a family fulfils:

    target_schema   a frozen, kw_only dataclass extending `snnc.targets.schema.TargetBase`
    pipeline(target)                -> the pass names that lower a source graph for `target`
    emit(graph, target, options)    -> Emitted: the family's files and manifest sections, a
                                       deterministic function of the mapped graph alone
    decode(artifact, target)        -> the mapped graph rebuilt from the files alone, runnable
                                       (`snnc.artifact.run_mapped`); emit(decode(a)) gives a's files
    rules(artifact, target)         -> (diagnostics, what was checked), from the files alone
    summary(artifact)               -> one line on what the artifact uses
    stochastic                      whether the chip is a seeded model whose instances differ
    unit                            what the rules count ("core", "tile")
    evaluate(graph, target, options) -> manifest sections that need data at compile time
                                       (optional: e.g. the analog Monte Carlo accuracy)
    report(result)                  -> manifest sections summarising what the passes did, from the
                                       pipeline result's statistics (optional)
    locate(graph, node, index)      -> the cores of neuron `index` of `node` when mapping.cores places
                                       the node on none (optional: analog neurons sit below the
                                       columns of the tiles that feed them), for verify's messages

Sections from `evaluate` and `report` are written at compile time only: `decode` need not
(and cannot) reproduce them, so they travel with the envelope.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from snnc.errors import UsageError


@dataclass(frozen=True)
class NoEmitOptions:
    """Emit options of a family that takes none."""


@dataclass(frozen=True)
class Emitted:
    """What a family's emitter writes: files by relative path ('/'-separated), and the family's
    own manifest sections (JSON data; the core adds the envelope around them)."""

    files: Mapping[str, bytes]
    sections: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Backend:
    """One target family (module docstring)."""

    family: str
    target_schema: type
    pipeline: Callable
    emit: Callable
    decode: Callable
    rules: Callable
    summary: Callable
    emit_options: type = NoEmitOptions
    stochastic: bool = False
    unit: str = "core"
    evaluate: Callable | None = None
    report: Callable | None = None
    locate: Callable | None = None


_BACKENDS: dict[str, Backend] = {}


def register_backend(record: Backend) -> Backend:
    """Enter a family's record; called once by its package when it is imported."""
    if record.family in _BACKENDS:
        raise TypeError(f"backend {record.family} registered twice")
    _BACKENDS[record.family] = record
    return record


def family_names() -> tuple[str, ...]:
    """The installed families: the packages under `snnc.backends`."""
    try:
        import snnc.backends as package
    except ImportError:
        return ()
    return tuple(sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg))


def backend(family: str) -> Backend:
    """The Backend of `family`, importing its package on first use."""
    if family not in _BACKENDS:
        if family not in family_names():
            raise UsageError(f"no backend '{family}' is installed (known: {', '.join(family_names()) or 'none'})")
        importlib.import_module(f"snnc.backends.{family}")
        if family not in _BACKENDS:
            raise TypeError(f"package snnc.backends.{family} registered no Backend")
    return _BACKENDS[family]


def all_backends() -> Mapping[str, Backend]:
    """Every installed family's Backend (each package imported once)."""
    load_backends()
    return MappingProxyType(_BACKENDS)


def load_backends() -> None:
    """Import every installed family, so its ops, step functions, passes and record register."""
    for family in family_names():
        backend(family)
