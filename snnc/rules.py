"""Scaffolding the target families' design rules share (`snnc.backends.<family>.rules`).

A family's rules read its artifact's files alone, never the compiler's passes. What every
family reads the same way lives here: the per-core files `cores/core_NNNN.{json,npz}`, the
host's routing tables `host.npz`, the manifest's file digests, and the plain "value over
its limit" diagnostic. What a core holds, and so what a rule checks, stays with the family.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from snnc.artifact import Artifact, read_npz, sha256
from snnc.verify import Diagnostic

CORE_PREFIX = "cores/core_"


def over_limit(where: str, target, rule: str, value: int, limit: int) -> list[Diagnostic]:
    """`where: value > limit allowed (target.rule)` when the value is over, else nothing."""
    return [Diagnostic(where, rule, target.name, value, limit)] if value > limit else []


@dataclass
class StoredCore:
    """One core as stored: its JSON object and its arrays. A family subclasses it with
    properties for what its cores hold."""

    index: int
    meta: dict
    arrays: dict[str, np.ndarray]

    @property
    def where(self) -> str:
        return f"core {self.index}"


def read_core_files(art: Artifact, core_type: type[StoredCore] = StoredCore) -> list:
    """Every core of the artifact as `core_type`, in core order, straight from its files."""
    cores = []
    for name in sorted(f for f in art.files if f.startswith(CORE_PREFIX) and f.endswith(".json")):
        stem = name[:-len(".json")]
        meta = json.loads(art.files[name])
        arrays = read_npz(art.files.get(f"{stem}.npz", b""), file=f"{stem}.npz")
        cores.append(core_type(int(meta["core"]), meta, arrays))
    return cores


def host_arrays(art: Artifact) -> dict[str, np.ndarray]:
    """The host's routing tables (`host.npz`), empty when the artifact has none."""
    return read_npz(art.files["host.npz"], file="host.npz") if "host.npz" in art.files else {}


def files_match_manifest(art: Artifact, target) -> list[Diagnostic]:
    """Every file the manifest lists is present, with the sha256 the manifest records."""
    out = []
    for name, digest in art.manifest.get("files", {}).items():
        if name not in art.files:
            out.append(Diagnostic(name, "files", target.name, message="listed in the manifest but missing"))
        elif sha256(art.files[name]) != digest:
            out.append(Diagnostic(name, "files", target.name, message="content differs from the manifest's sha256"))
    return out
