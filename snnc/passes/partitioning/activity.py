"""Spike rates for the partitioners: measured by the interpreter on calibration inputs, or assumed.

With calibration inputs [T, B, *input_shape] (one graph input, an array or a .npy path), the
lowered graph runs in the interpreter as the host would drive the chip
(`snnc.artifact.run_mapped`), and each neuron's rate is its spikes per tick averaged over
the ticks and samples; a host input element's rate is how often it is nonzero. Without
them every neuron and input is assumed to spike with probability `default` per tick (the
emitters' estimates assume the same 0.1 by default), so traffic is proportional to the
messages a spike causes.

`InputData` is how a pass option holds such inputs: by value, recorded in the manifest by
shape and sha256 only, so artifacts stay small and deterministic.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from snnc.errors import UsageError
from snnc.ir.mapping import PartOf

DEFAULT_RATE = 0.1


class InputData:
    """Inputs [T, B, *input_shape] for one graph input, given as an array or a .npy path."""

    def __init__(self, x, what: str = "calibration inputs"):
        if isinstance(x, InputData):
            x = x.x
        if isinstance(x, (str, Path)):
            p = Path(x)
            if not p.is_file():
                raise UsageError(f"{what} {x}: no such file")
            try:
                x = np.load(p, allow_pickle=False)
            except ValueError as exc:
                raise UsageError(f"{what} {x}: not a .npy array ({exc})") from None
        self.x = np.asarray(x, dtype=np.float64)
        if self.x.ndim < 3 or 0 in self.x.shape[:2]:
            raise UsageError(f"{what} must be [T, B, *input_shape] with T, B >= 1, got shape {list(self.x.shape)}")
        if not np.all(np.isfinite(self.x)):
            raise UsageError(f"{what} hold NaN or infinite values")
        self.digest = hashlib.sha256(np.ascontiguousarray(self.x).tobytes()).hexdigest()

    def to_json(self) -> dict:
        return {"shape": list(self.x.shape), "sha256": self.digest}

    def __eq__(self, other):
        return isinstance(other, InputData) and self.digest == other.digest

    def __hash__(self):
        return hash(self.digest)


def rates(graph, populations: list[str], data: InputData | None, default: float = DEFAULT_RATE) \
        -> dict[str, np.ndarray]:
    """Spikes per tick of every neuron of `populations` and every element of the graph inputs."""
    sizes = {p: int(graph.op(p).shape[0]) for p in populations}
    sizes.update({n: int(np.prod(graph.op(n).shape)) for n in graph.inputs})
    if data is None:
        return {k: np.full(n, float(default)) for k, n in sizes.items()}
    if len(graph.inputs) != 1:
        raise UsageError(f"calibration inputs feed one graph input; this graph has {len(graph.inputs)}")
    from snnc.artifact import run_mapped
    name = graph.inputs[0]
    m = graph.mapping
    probe = graph.replace(mapping=m.replace(parts={p: PartOf(p, 0, n) for p, n in sizes.items() if p in populations}))
    _, spikes = run_mapped(probe, {name: data.x}, raw=True, layers=True)
    out = {p: spikes[p].reshape(-1, sizes[p]).mean(axis=0) for p in populations}
    out[name] = (data.x.reshape(data.x.shape[0] * data.x.shape[1], -1) != 0).mean(axis=0)
    return out
