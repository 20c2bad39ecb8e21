"""Mutations of a seed `Case`, each a function (case, rng) -> case, drawn per kind.

Byte-level mutations apply to every file; structural ones edit the text, the HDF5 tree
(h5py on a copy), the ONNX protobuf or the sidecar `.npz`. A mutation that certainly makes
the model invalid (an external reference, a NaN parameter the model uses, a declared size
past the limits, a foreign op domain, ...) sets `Case.invalid`, so a reader that accepts
the result is caught. Files placed at ``../outside/NAME`` lie outside the model's folder:
no reader may open them.
"""
from __future__ import annotations

import random

from tests.fuzz.seeds import Case, is_link

# -- bytes ------------------------------------------------------------------------------------------
def _own_files(case: Case) -> list[str]:
    """The files in the model's folder that are files (not links, not the outside ones)."""
    return [n for n, d in case.files.items() if not n.startswith("../") and not is_link(d)]


def flip_bytes(case: Case, rng: random.Random) -> Case:
    name = rng.choice(_own_files(case))
    data = bytearray(case.files[name])
    if not data:
        return case
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return case.with_file(name, bytes(data), f"flip bytes of {name}")


def truncate(case: Case, rng: random.Random) -> Case:
    name = rng.choice(_own_files(case))
    data = case.files[name]
    return case.with_file(name, data[:rng.randrange(len(data) + 1)], f"truncate {name}")


def splice(case: Case, rng: random.Random) -> Case:
    """Insert random bytes, or duplicate or zero a chunk."""
    name = rng.choice(_own_files(case))
    data = bytearray(case.files[name])
    i, n = rng.randrange(len(data) + 1), rng.randint(1, 64)
    how = rng.choice(("insert", "duplicate", "zero"))
    if how == "insert":
        data[i:i] = bytes(rng.randrange(256) for _ in range(n))
    elif how == "duplicate":
        data[i:i] = data[i:i + n]
    else:
        data[i:i + n] = bytes(len(data[i:i + n]))
    return case.with_file(name, bytes(data), f"{how} bytes in {name}")


BYTES = (flip_bytes, truncate, splice)


def _families():
    from tests.fuzz.mutate_hdf5 import HDF5, NIR_ONLY
    from tests.fuzz.mutate_onnx import ONNX
    from tests.fuzz.mutate_text import SIDECAR, TEXT
    return {
        "snnir": BYTES + TEXT,
        "snnir+npz": BYTES + TEXT + SIDECAR + SIDECAR,
        "nir": BYTES + HDF5 + HDF5 + NIR_ONLY * 2,
        "onnx-step": BYTES + ONNX + ONNX,
        "onnx-ann": BYTES + ONNX + ONNX,
        "netx": BYTES + HDF5 + HDF5,
    }


def mutate(case: Case, rng: random.Random, count: int) -> Case:
    """`count` mutations of `case`, drawn with `rng` from its kind's list."""
    families = _families()
    for _ in range(count):
        try:
            case = rng.choice(families[case.kind])(case, rng)
        except Exception:  # noqa: BLE001 -- an earlier mutation left nothing this one can edit: skip it
            continue
    return case
