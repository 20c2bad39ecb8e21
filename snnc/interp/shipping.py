"""Arrays sent between processes compactly: an array whose every value is 0 or 1 (spikes, in any
dtype) travels as packed bits (`Bits`, 1 bit per value instead of 64) and is rebuilt in its
own dtype and shape, bit for bit; every other value travels as it is. `pack` and `unpack` walk
dicts, lists, tuples and dataclasses."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Bits:
    """A 0/1 array as np.packbits of its values, with its shape and dtype."""

    packed: np.ndarray
    shape: tuple[int, ...]
    dtype: str

    def array(self) -> np.ndarray:
        n = int(np.prod(self.shape))
        return np.unpackbits(self.packed, count=n).astype(self.dtype).reshape(self.shape)


def binary(a: np.ndarray) -> bool:
    """True when every value of `a` is 0 or 1 (a float 0 with its sign bit set is not: it would
    come back as +0)."""
    if a.dtype == bool:
        return True
    if a.dtype.kind not in "iuf" or not a.size:
        return False
    ones = a == 1
    zeros = a == 0
    if a.dtype.kind == "f":
        zeros &= ~np.signbit(a)
    return bool((ones | zeros).all())


def pack(obj):
    return _walk(obj, _pack_array)


def unpack(obj):
    return _walk(obj, lambda leaf: leaf.array() if isinstance(leaf, Bits) else leaf)


def _pack_array(leaf):
    if isinstance(leaf, np.ndarray) and leaf.size >= 64 and binary(leaf):
        return Bits(np.packbits(leaf.reshape(-1).astype(bool)), leaf.shape, leaf.dtype.str)
    return leaf


def _walk(obj, leaf):
    """`obj` with `leaf` applied to everything that is not a dict, list, tuple or dataclass (or Bits)."""
    if isinstance(obj, Bits):
        return leaf(obj)
    if isinstance(obj, dict):
        return {k: _walk(v, leaf) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_walk(v, leaf) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _walk(getattr(obj, f.name), leaf) for f in dataclasses.fields(obj)})
    return leaf(obj)
