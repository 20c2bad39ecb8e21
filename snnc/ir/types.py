"""Port types: the per-sample shape (no batch, no time axis) and element kind of a value."""
from __future__ import annotations

from dataclasses import dataclass
from math import prod


@dataclass(frozen=True)
class TensorType:
    """The type of the value on one port at one tick.

    `shape` excludes the batch and time axes (as NIR's types do); `dtype` is ``float``
    for the source dialect and ``int`` for integer target dialects.
    """

    shape: tuple[int, ...]
    dtype: str = "float"

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def size(self) -> int:
        return prod(self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]"
