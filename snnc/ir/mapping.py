"""Mapping state: how a lowered graph sits on a chip and how the host talks to it.

A lowered graph computes in its ops. What the ops alone do not say is recorded here, in
one typed, frozen record (`Graph.mapping`), which the IR verifier checks against the graph
after every pass (`Mapping.verify`) and the text form prints as one `mapping` statement:

    inputs   {graph input: HostInput}    how the host encodes the input: its source shape
                                         (the node holds it flattened), spikes (0/1), graded
                                         fixed-point payloads, or values passed as they are
    outputs  {source output: HostOutput} how the host reassembles an output: the graph output
                                         nodes whose concatenation (flat order) it is, its
                                         latency (ticks later than the source model), its
                                         encoding and, for graded payloads, value = payload / scale
    layers   {population: Layer}         each source population's latency, graded flag and, where
                                         the lowering knows it, its source shape (e.g. C, H, W)
    parts    {node: PartOf}              which neurons of which source population a node holds:
                                         a contiguous range, or sorted runs of ranges (`runs`)
    cores    {node: int}                 the logical core (or tile) of each placed node
    place    {core: Position}            where each logical core sits on the mesh
    roles    {node: str}                 what a node is for, in its family's vocabulary
    latency  {node: int}                 a node's own chip latency, where a family records it

Everything is optional: a graph fresh from a frontend has no mapping (`Graph.mapping` is
None); lowering fills `inputs`, `outputs` and `layers`, partitioning `parts` and `cores`,
placement `place`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from types import MappingProxyType
from typing import Mapping as TypingMapping

import numpy as np

from snnc.errors import MalformedInputError

INPUT_ENCODINGS = ("spikes", "graded", "values", "rate")
OUTPUT_ENCODINGS = ("spikes", "graded", "values")


@dataclass(frozen=True)
class HostInput:
    """How the host feeds one graph input: `shape` is the source model's input shape."""

    shape: tuple[int, ...]
    encoding: str = "spikes"        # spikes: 0/1 checked; graded: round(x · 2^frac_bits); values: as given;
                                    # rate: spikes of a host integrate-and-fire encoder of round(x · 2^frac_bits)
    frac_bits: int = 0
    payload_bits: int = 0

    @property
    def size(self) -> int:
        return math.prod(self.shape)


Runs = tuple[tuple[int, int], ...]


def runs_of(index) -> Runs:
    """Sorted, distinct indices as maximal ranges [(start, stop), ...]."""
    idx = np.asarray(index, dtype=np.int64)
    if not idx.size:
        return ()
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts, stops = idx[np.r_[0, breaks]], idx[np.r_[breaks - 1, idx.size - 1]] + 1
    return tuple((int(a), int(b)) for a, b in zip(starts, stops))


def _indices(offset: int, count: int, runs: Runs) -> np.ndarray:
    if not runs:
        return np.arange(offset, offset + count, dtype=np.int64)
    return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in runs])


@dataclass(frozen=True)
class Piece:
    """Elements `offset … offset+count−1` of a host output come from graph output node `node`; with
    `runs` (sorted ranges, `offset` the first element, `count` their total length), those elements
    in increasing order."""

    node: str
    offset: int
    count: int
    runs: Runs = ()

    def indices(self):
        """The host output's elements this piece fills, in the node's output order (int64 array)."""
        return _indices(self.offset, self.count, self.runs)


@dataclass(frozen=True)
class HostOutput:
    """How the host reassembles one source-model output from graph output nodes."""

    shape: tuple[int, ...]
    parts: tuple[Piece, ...]
    latency: int = 0
    encoding: str = "spikes"        # spikes: 0/1; graded: value = payload / scale; values: as produced
    scale: tuple[float, ...] = ()

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Layer:
    """A source population: how many ticks later than the source model the chip computes it, and
    its shape in the source model where the lowering records it (channels first, e.g. (C, H, W);
    empty when not known). Partitioners read the shape to cut feature maps into spatial tiles."""

    latency: int = 0
    graded: bool = False
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class PartOf:
    """A node holds neurons `offset … offset+count−1` of `population`, as its outputs `first …`.

    With `runs` (sorted, disjoint, non-adjacent ranges [(start, stop), ...]) the node holds the
    neurons of those ranges instead, in increasing order: `offset` is the first of them and
    `count` their number. A partitioner that gives a core a spatial tile of a feature map, or any
    set of neurons, records it so."""

    population: str
    offset: int
    count: int
    first: int = 0
    runs: Runs = ()

    def indices(self):
        """The population's neurons this node holds, in the node's output order (int64 array)."""
        return _indices(self.offset, self.count, self.runs)


@dataclass(frozen=True)
class Position:
    """A slot of the target's mesh: chip, tile row and column, slot within the tile."""

    chip: int
    row: int
    col: int
    slot: int = 0

    def as_list(self) -> list[int]:
        return [self.chip, self.row, self.col, self.slot]


_TABLES = {"inputs": HostInput, "outputs": HostOutput, "layers": Layer, "parts": PartOf,
           "cores": int, "place": Position, "roles": str, "latency": int}


@dataclass(frozen=True)
class Mapping:
    """The mapping state of a lowered graph (module docstring). Tables are read-only."""

    inputs: TypingMapping[str, HostInput] = field(default_factory=dict)
    outputs: TypingMapping[str, HostOutput] = field(default_factory=dict)
    layers: TypingMapping[str, Layer] = field(default_factory=dict)
    parts: TypingMapping[str, PartOf] = field(default_factory=dict)
    cores: TypingMapping[str, int] = field(default_factory=dict)
    place: TypingMapping[int, Position] = field(default_factory=dict)
    roles: TypingMapping[str, str] = field(default_factory=dict)
    latency: TypingMapping[str, int] = field(default_factory=dict)

    def __post_init__(self):
        for name in _TABLES:
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def replace(self, **tables) -> Mapping:
        """A copy with some tables replaced."""
        return replace(self, **tables)

    # -- the text form -----------------------------------------------------------------------
    def to_json(self) -> dict:
        """Plain JSON data (sorted by key where order carries no meaning), empty tables left out."""
        out = {}
        for name in _TABLES:
            table = getattr(self, name)
            if table:
                out[name] = {str(k): _plain(v) for k, v in sorted(table.items(), key=lambda kv: str(kv[0]))}
        for name in ("inputs", "outputs"):                 # these keep the graph's order
            if name in out:
                out[name] = {str(k): _plain(v) for k, v in getattr(self, name).items()}
        return out

    @classmethod
    def from_json(cls, data, *, file: str | None = None, where: str | None = None) -> Mapping:
        """Build and type-check a Mapping from `to_json` data; MalformedInputError names the key."""
        def bad(key: str, message: str):
            return MalformedInputError(f"mapping.{key}: {message}", file=file, where=where)
        if not isinstance(data, dict):
            raise bad("", "expected an object")
        unknown = sorted(set(data) - set(_TABLES))
        if unknown:
            raise bad(unknown[0], f"unknown table (known: {', '.join(_TABLES)})")
        tables = {}
        for name, kind in _TABLES.items():
            raw = data.get(name, {})
            if not isinstance(raw, dict):
                raise bad(name, "expected an object")
            tables[name] = {(_as_int(k, bad, f"{name} key") if name == "place" else k): _record(kind, v, bad, f"{name}.{k}")
                            for k, v in raw.items()}
        return cls(**tables)

    # -- the checks ---------------------------------------------------------------------------
    def verify(self, graph) -> list[str | tuple[str, str]]:
        """Every way this record disagrees with `graph`: messages, or (node, message) pairs."""
        return (_check_inputs(self, graph) + _check_outputs(self, graph) + _check_parts(self, graph)
                + _check_nodes(self, graph) + _check_place(self))


# -- JSON helpers ------------------------------------------------------------------------------------
def _plain(v):
    if isinstance(v, (int, str)):
        return v
    d = asdict(v)
    if isinstance(v, HostOutput):
        d["parts"] = [[p.node, p.offset, p.count] + ([[list(r) for r in p.runs]] if p.runs else []) for p in v.parts]
        d["shape"], d["scale"] = list(v.shape), list(v.scale)
        if not v.scale:
            del d["scale"]
    elif isinstance(v, HostInput):
        d["shape"] = list(v.shape)
    elif isinstance(v, Layer):
        d["shape"] = list(v.shape)
        if not v.shape:
            del d["shape"]
    elif isinstance(v, PartOf):
        return [v.population, v.offset, v.count, v.first] + ([[list(r) for r in v.runs]] if v.runs else [])
    elif isinstance(v, Position):
        return [d[f.name] for f in fields(v)]
    return d


def _runs(x, bad, key: str) -> Runs:
    if not isinstance(x, list) or any(not isinstance(r, list) or len(r) != 2 for r in x):
        raise bad(key, f"expected runs [[start, stop], ...], got {x!r}")
    return tuple((_as_int(a, bad, key), _as_int(b, bad, key)) for a, b in x)


def _as_int(x, bad, key: str) -> int:
    try:
        value = int(x)
    except (TypeError, ValueError):
        raise bad(key, f"expected an integer, got {x!r}") from None
    if isinstance(x, (bool, float)) or str(value) != str(x).strip():
        raise bad(key, f"expected an integer, got {x!r}")
    return value


def _ints(x, bad, key: str) -> tuple[int, ...]:
    if not isinstance(x, list):
        raise bad(key, f"expected a list of integers, got {x!r}")
    return tuple(_as_int(v, bad, key) for v in x)


def _record(kind, v, bad, key: str):
    if kind is int:
        return _as_int(v, bad, key)
    if kind is str:
        if not isinstance(v, str):
            raise bad(key, f"expected a string, got {v!r}")
        return v
    if kind is PartOf:
        if not isinstance(v, list) or len(v) not in (3, 4, 5) or not isinstance(v[0], str):
            raise bad(key, f"expected [population, offset, count, first, runs?], got {v!r}")
        runs = _runs(v[4], bad, key) if len(v) == 5 else ()
        return PartOf(v[0], *(_as_int(x, bad, key) for x in v[1:4]), runs=runs)
    if kind is Position:
        if not isinstance(v, list) or len(v) not in (3, 4):
            raise bad(key, f"expected [chip, row, col, slot], got {v!r}")
        return Position(*(_as_int(x, bad, key) for x in v))
    if not isinstance(v, dict):
        raise bad(key, f"expected an object, got {v!r}")
    known = {f.name for f in fields(kind)}
    if set(v) - known:
        raise bad(key, f"unknown key '{sorted(set(v) - known)[0]}' (known: {', '.join(sorted(known))})")
    try:
        if kind is HostOutput:
            parts = tuple(Piece(str(p[0]), _as_int(p[1], bad, key), _as_int(p[2], bad, key),
                                _runs(p[3], bad, key) if len(p) > 3 else ()) for p in v["parts"])
            scale = tuple(float(s) for s in v.get("scale", ()))
            return HostOutput(_ints(v["shape"], bad, key), parts, _as_int(v.get("latency", 0), bad, key),
                              str(v.get("encoding", "spikes")), scale)
        if kind is HostInput:
            return HostInput(_ints(v["shape"], bad, key), str(v.get("encoding", "spikes")),
                             _as_int(v.get("frac_bits", 0), bad, key), _as_int(v.get("payload_bits", 0), bad, key))
        return Layer(_as_int(v.get("latency", 0), bad, key), bool(v.get("graded", False)),
                     _ints(v.get("shape", []), bad, key))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise bad(key, f"malformed entry ({type(exc).__name__}: {exc})") from None


# -- checks against the graph -----------------------------------------------------------------------
def _size(graph, node: str) -> int:
    """Elements of the node's output (or, for a graph output, of what arrives at it)."""
    if node in graph.outputs:
        return math.prod(graph.op(node).shape)
    ports = graph.op(node).output_ports
    return graph.types()[(node, ports[0])].size if ports else -1


def _check_inputs(m: Mapping, graph) -> list:
    out = []
    if m.inputs and set(m.inputs) != set(graph.inputs):
        out.append(f"mapping.inputs lists {sorted(m.inputs)}, the graph's inputs are {list(graph.inputs)}")
        return out
    for name, entry in m.inputs.items():
        if entry.encoding not in INPUT_ENCODINGS:
            out.append((name, f"mapping.inputs: encoding {entry.encoding!r} is not one of {', '.join(INPUT_ENCODINGS)}"))
        if any(d < 0 for d in entry.shape) or entry.size != _size(graph, name):
            out.append((name, f"mapping.inputs: shape {list(entry.shape)} does not hold the input node's "
                              f"{_size(graph, name)} elements"))
    return out


def _check_outputs(m: Mapping, graph) -> list:
    out, seen = [], {}
    for name, entry in m.outputs.items():
        if entry.encoding not in OUTPUT_ENCODINGS:
            out.append(f"mapping.outputs '{name}': encoding {entry.encoding!r} is not one of "
                       f"{', '.join(OUTPUT_ENCODINGS)}")
        if entry.latency < 0:
            out.append(f"mapping.outputs '{name}': latency {entry.latency} < 0")
        covered = [0] * max(entry.size, 0)
        for p in entry.parts:
            if p.node not in graph.outputs:
                out.append(f"mapping.outputs '{name}': part '{p.node}' is not a graph output")
                continue
            if p.node in seen:
                out.append((p.node, f"mapping.outputs: part of both '{seen[p.node]}' and '{name}'"))
            seen[p.node] = name
            bad_runs = _runs_problem(p.offset, p.count, p.runs)
            if bad_runs:
                out.append((p.node, f"mapping.outputs '{name}': {bad_runs}"))
                continue
            if p.count != _size(graph, p.node) or p.offset < 0 or _end(p) > entry.size:
                out.append((p.node, f"mapping.outputs '{name}': part [{p.offset}, {_end(p)}) does not "
                                    f"match the node's {_size(graph, p.node)} elements within {entry.size}"))
                continue
            for a, b in p.runs or ((p.offset, p.offset + p.count),):
                for i in range(a, b):
                    covered[i] += 1
        if entry.parts and any(c != 1 for c in covered):
            out.append(f"mapping.outputs '{name}': its parts do not cover its {entry.size} elements exactly once")
        if entry.scale and len(entry.scale) != entry.size:
            out.append(f"mapping.outputs '{name}': {len(entry.scale)} scales for {entry.size} elements")
    if m.outputs:
        missing = [o for o in graph.outputs if o not in seen]
        if missing:
            out.append(f"mapping.outputs: graph output(s) {', '.join(missing)} belong to no source output")
    return out


def _end(p) -> int:
    """One past the last element a part or piece names."""
    return p.runs[-1][1] if p.runs else p.offset + p.count


def _runs_problem(offset: int, count: int, runs: Runs) -> str | None:
    """Why `runs` do not describe `count` elements starting at `offset` (None when they do)."""
    if not runs:
        return None
    if any(b <= a for a, b in runs) or any(b0 >= a1 for (_, b0), (a1, _) in zip(runs, runs[1:])):
        return f"runs {[list(r) for r in runs[:4]]}... are not sorted, non-empty, disjoint, non-adjacent ranges"
    if runs[0][0] != offset or sum(b - a for a, b in runs) != count:
        return f"runs starting at {runs[0][0]} holding {sum(b - a for a, b in runs)} elements do not match " \
               f"offset {offset}, count {count}"
    return None


def _check_parts(m: Mapping, graph) -> list:
    out, spans = [], {}
    for node, p in m.parts.items():
        if node not in graph.nodes:
            continue                                       # reported by _check_nodes
        bad_runs = _runs_problem(p.offset, p.count, p.runs)
        if bad_runs:
            out.append((node, f"mapping.parts: {bad_runs}"))
            continue
        if p.count < 1 or p.offset < 0 or p.first < 0 or p.first + p.count > _size(graph, node):
            out.append((node, f"mapping.parts: neurons [{p.offset}, {_end(p)}) of '{p.population}' as "
                              f"outputs [{p.first}, {p.first + p.count}) do not fit the node's "
                              f"{_size(graph, node)} outputs"))
            continue
        layer = m.layers.get(p.population)
        if m.layers and layer is None:
            out.append((node, f"mapping.parts: population '{p.population}' is not in mapping.layers"))
        elif layer is not None and layer.shape and _end(p) > math.prod(layer.shape):
            out.append((node, f"mapping.parts: neuron {_end(p) - 1} of '{p.population}' lies outside its "
                              f"shape {list(layer.shape)}"))
        for a, b in p.runs or ((p.offset, p.offset + p.count),):
            spans.setdefault(p.population, []).append((a, b, node))
    for pop, s in spans.items():
        s.sort()
        if s[0][0] > 0:
            out.append((s[0][2], f"mapping.parts: neurons [0, {s[0][0]}) of '{pop}' are held by no node"))
        for (a0, a1, n0), (b0, b1, n1) in zip(s, s[1:]):
            if b0 < a1:
                out.append((n1, f"mapping.parts: neurons [{b0}, {b1}) of '{pop}' overlap those of '{n0}'"))
            elif b0 > a1:
                out.append((n1, f"mapping.parts: neurons [{a1}, {b0}) of '{pop}' are held by no node"))
    return out


def _check_nodes(m: Mapping, graph) -> list:
    out = []
    for table in ("parts", "cores", "roles", "latency"):
        for node, value in getattr(m, table).items():
            if node not in graph.nodes:
                out.append(f"mapping.{table} names node '{node}', which does not exist")
            elif table in ("cores", "latency") and value < 0:
                out.append((node, f"mapping.{table}: {value} < 0"))
    for pop, layer in m.layers.items():
        if layer.latency < 0:
            out.append(f"mapping.layers '{pop}': latency {layer.latency} < 0")
        if any(d < 1 for d in layer.shape):
            out.append(f"mapping.layers '{pop}': shape {list(layer.shape)} has an extent < 1")
    return out


def _check_place(m: Mapping) -> list:
    out, seen = [], {}
    for core, pos in sorted(m.place.items()):
        key = tuple(pos.as_list())
        if min(key) < 0:
            out.append(f"mapping.place: core {core} at {list(key)}, a negative position")
        if key in seen:
            out.append(f"mapping.place: cores {seen[key]} and {core} share position {list(key)}")
        seen[key] = core
    if m.place:
        unplaced = sorted(set(m.cores.values()) - set(m.place))
        if unplaced:
            out.append(f"mapping.place: core {unplaced[0]} has no position")
    return out
