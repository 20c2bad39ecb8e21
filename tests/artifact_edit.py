"""Editing an artifact's files the way a wrong emitter would: the change is consistent with the
manifest (its digests are updated), so only running what the files say can find it."""
from __future__ import annotations

import json

from snnc.artifact import MANIFEST, Artifact, json_bytes, npz_bytes, read_npz, sha256


def with_files(art: Artifact, changed: dict[str, bytes]) -> Artifact:
    """`art` with some files replaced and the manifest's digests updated to match."""
    files = {**art.files, **changed}
    manifest = json.loads(files[MANIFEST])
    manifest["files"] = {k: sha256(v) for k, v in sorted(files.items()) if k != MANIFEST}
    files[MANIFEST] = json_bytes(manifest)
    return Artifact(files)


def edit_arrays(art: Artifact, name: str, change) -> Artifact:
    """`art` with the arrays of npz file `name` passed through `change(arrays)` (edits in place)."""
    arrays = read_npz(art.files[name])
    change(arrays)
    return with_files(art, {name: npz_bytes(arrays)})


def edit_json(art: Artifact, name: str, change) -> Artifact:
    """`art` with JSON file `name` passed through `change(data)` (edits in place)."""
    data = json.loads(art.files[name])
    change(data)
    return with_files(art, {name: json_bytes(data)})
