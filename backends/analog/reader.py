"""Typed reads from the analog artifact's JSON files: every wrong key names its file and path.

    t = list(Obj(data, "tiles.json").arr("tiles").objs())[3]     # an Obj located at tiles.json:tiles[3]
    t.int("tile", low=0); t.ints("rows", 2); t.str("node"); t.num("t_inference", low=0)

A missing key, a wrong type or a value out of range raises `MalformedInputError`, e.g.
``tiles.json:tiles[3].rows: expected a list of 2 integers, got [0]``.
"""
from __future__ import annotations

import math

from snnc.errors import MalformedInputError


class _Node:
    def __init__(self, data, file: str, where: str):
        self.data, self.file, self.where = data, file, where

    def bad(self, message: str, key: str | None = None) -> MalformedInputError:
        return MalformedInputError(message, file=self.file, where=self._at(key) or None)

    def _at(self, key) -> str:
        if key is None:
            return self.where
        if isinstance(key, int):
            return f"{self.where}[{key}]"
        return f"{self.where}.{key}" if self.where else str(key)


class Obj(_Node):
    """A JSON object."""

    def __init__(self, data, file: str, where: str = ""):
        super().__init__(data, file, where)
        if not isinstance(data, dict):
            raise self.bad(f"expected an object, got {_show(data)}")

    def __contains__(self, key) -> bool:
        return key in self.data

    def get(self, key):
        if key not in self.data:
            raise self.bad("missing", key)
        return self.data[key]

    def obj(self, key) -> Obj:
        return Obj(self.get(key), self.file, self._at(key))

    def arr(self, key) -> Arr:
        return Arr(self.get(key), self.file, self._at(key))

    def str(self, key, choices=None) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise self.bad(f"expected a string, got {_show(value)}", key)
        if choices is not None and value not in choices:
            raise self.bad(f"expected one of {', '.join(choices)}, got {value!r}", key)
        return value

    def int(self, key, *, low: int | None = None) -> int:
        value = self.get(key)
        if not _is_int(value) or (low is not None and value < low):
            raise self.bad(f"expected an integer{f' >= {low}' if low is not None else ''}, got {_show(value)}", key)
        return value

    def num(self, key, *, low: float | None = None, positive: bool = False) -> float:
        value = self.get(key)
        ok = _is_num(value) and math.isfinite(value) and (low is None or value >= low) and (not positive or value > 0)
        if not ok:
            what = " > 0" if positive else f" >= {low:g}" if low is not None else ""
            raise self.bad(f"expected a finite number{what}, got {_show(value)}", key)
        return float(value)

    def ints(self, key, n: int, *, low: int = 0) -> list[int]:
        value = self.get(key)
        if not isinstance(value, list) or len(value) != n or not all(_is_int(v) and v >= low for v in value):
            raise self.bad(f"expected a list of {n} integers >= {low}, got {_show(value)}", key)
        return list(value)

    def dims(self, key) -> tuple[int, ...]:
        value = self.get(key)
        if not isinstance(value, list) or not value or not all(_is_int(v) and v >= 1 for v in value):
            raise self.bad(f"expected a shape: a list of integers >= 1, got {_show(value)}", key)
        return tuple(value)

    def nums(self, key) -> list[float]:
        value = self.get(key)
        if not isinstance(value, list) or not all(_is_num(v) and math.isfinite(v) for v in value):
            raise self.bad(f"expected a list of finite numbers, got {_show(value)}", key)
        return [float(v) for v in value]

    def strings(self, key) -> dict[str, str]:
        value = self.get(key)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.bad(f"expected an object of strings, got {_show(value)}", key)
        return dict(value)


class Arr(_Node):
    """A JSON list."""

    def __init__(self, data, file: str, where: str = ""):
        super().__init__(data, file, where)
        if not isinstance(data, list):
            raise self.bad(f"expected a list, got {_show(data)}")

    def __len__(self) -> int:
        return len(self.data)

    def objs(self):
        return (Obj(v, self.file, self._at(i)) for i, v in enumerate(self.data))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
