"""Targets as data: one JSON file per chip family variant in this folder.

`all_targets()` loads every `*.json` here; `get_target(name)` loads one. The schema
(`schema.py`) says what a file must hold; loading checks it and names the file and key
of anything wrong. Passes, rules and the verifier read limits only from these objects.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from snnc.errors import MalformedInputError, UsageError
from snnc.targets.schema import TargetBase, target_from_json

DATA_DIR = Path(__file__).parent

__all__ = ["TargetBase", "all_targets", "get_target", "load_target_file", "target_names"]


def target_names() -> tuple[str, ...]:
    """Names of the installed targets (the data files' stems), sorted."""
    return tuple(sorted(p.stem for p in DATA_DIR.glob("*.json")))


def all_targets() -> dict[str, TargetBase]:
    """Every installed target by name."""
    return {name: get_target(name) for name in target_names()}


def get_target(name: str) -> TargetBase:
    """The installed target `name`, or `<target>@<system>`: that chip in one of the multi-chip
    systems its file lists; `UsageError` listing the known names if there is none."""
    base, _, system = name.partition("@") if isinstance(name, str) else (name, "", "")
    if not isinstance(name, str) or base not in target_names():
        raise UsageError(f"unknown target {name!r} (known: {', '.join(target_names()) or 'none installed'})")
    target = _load_installed(base)
    if not system:
        return target
    try:
        return target.system(system)
    except StopIteration:
        known = ", ".join(f"{base}@{s.name}" for s in target.systems) or "none"
        raise UsageError(f"unknown system {system!r} of target {base} (known: {known})") from None


@lru_cache(maxsize=None)
def _load_installed(name: str) -> TargetBase:
    return load_target_file(DATA_DIR / f"{name}.json")


def load_target_file(path, *, _chain: tuple[str, ...] = ()) -> TargetBase:
    """Read and check one target data file (installed or not).

    A ``costs.proxy`` names another target in the same folder, which is loaded to supply
    the numbers; a proxy chain that loops back is an error.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MalformedInputError(f"cannot read target file ({exc.strerror})", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise MalformedInputError(f"not valid JSON: {exc.msg}", file=path.name,
                                  where=f"{exc.lineno}:{exc.colno}") from None

    def resolve(other: str) -> TargetBase:
        chain = _chain + (path.stem,)
        if other in chain:
            raise MalformedInputError(f"costs.proxy loops: {' -> '.join(chain + (other,))}", file=path.name)
        other_path = path.parent / f"{other}.json"
        if not other_path.exists():
            known = ", ".join(sorted(p.stem for p in path.parent.glob("*.json")))
            raise MalformedInputError(f"costs.proxy names unknown target {other!r} (known: {known})",
                                      file=path.name)
        return load_target_file(other_path, _chain=chain)

    target = target_from_json(data, path.name, resolve)
    if target.name != path.stem:
        raise MalformedInputError(f"name {target.name!r} differs from the file name {path.stem!r}",
                                  file=path.name, where="name")
    return target
