"""The Target schema: frozen dataclasses read from one JSON data file per target.

Every chip limit is written once, in its target's JSON file; passes, design rules and
the verifier read it from there. This module holds what every family shares: the base
class (`TargetBase`: name, family, chips, cores per chip, mesh) and the loader that
builds a family's dataclass (its Backend's `target_schema`) from JSON. The loader checks
the file against these dataclasses field by field (type, sign, unknown or missing keys) and names the file and the key
path in every error, e.g. ``loihi.json: core.neurons: expected an integer >= 1, got -3``.

Each section may carry a free-text ``source`` (where its numbers come from). A target's
``costs`` section may, instead of its own numbers, say ``"proxy": "<other target>"``
to reuse another target's table (with a ``note`` saying why); the numbers are then read
from that file, so they too are written once.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from snnc.errors import MalformedInputError


class Signed(float):
    """Schema type of a number that may be negative or zero (a plain `float` field must be >= 0).

    Device models carry fitted coefficients of either sign (polynomial terms, log slopes)."""


@dataclass(frozen=True)
class Range:
    """An inclusive integer range, written ``[lo, hi]`` in JSON."""

    lo: int
    hi: int

    def __contains__(self, value) -> bool:
        return self.lo <= value <= self.hi

    def __str__(self) -> str:
        return f"[{self.lo}, {self.hi}]"


# -- the shared base ------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyBudget:
    """What `snnc verify` requires of this target's chip against the float model, unless the
    caller gives its own thresholds (`--max-accuracy-drop`, `--min-agreement`,
    `--min-count-agreement`, `--decision-margin`): how much accuracy it may lose (a fraction,
    with labels), the decision agreement per output, the spike-count agreement per output, and
    by how many spikes a float decision must be won to count in decision agreement (a decision
    won by fewer is a near tie, as much the chip's noise as the model's choice). `source` says why
    these numbers (what the chip's number formats or device model cost on the shipped examples).
    Verify thresholds do not change what is compiled, so the target digest leaves them out."""

    max_accuracy_drop: float = 0.01
    min_agreement: float = 0.95
    min_count_agreement: float = 0.8
    decision_margin: float = 1.0      # spikes a float decision must win by to count (1: every one but ties)
    source: str = "snnc's defaults"


@dataclass(frozen=True)
class ChipLinks:
    """What one spike message costs to cross from a chip to its neighbour in a system's chip mesh
    (per chip-to-chip hop). The energy estimates add it for every message between chips;
    `source` says where the numbers come from."""

    energy_pj: float = 0.0
    time_ns: float = 0.0
    source: str = "no chip-to-chip links stated"


@dataclass(frozen=True)
class System:
    """A board or system of several chips of a target, selected as `<target>@<name>`: `chips`
    chips laid out as `chip_mesh` (rows × columns of chips, messages between chips travel
    along it). `source` says where the chip count and layout come from."""

    name: str
    chips: int
    chip_mesh: tuple[int, ...]
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class TargetBase:
    """What every target file holds, whatever the family: its name and family, and how many
    chips of how many cores (tiles, crossbars) on what mesh. Each family's backend extends it
    with its own sections (`snnc.backends.<family>.target`) and registers the class as its
    Backend's `target_schema`; `family` names that backend. `verify` holds the thresholds
    `snnc verify` applies to its chips by default (`VerifyBudget`)."""

    name: str
    family: str
    description: str
    chips: int
    cores_per_chip: int
    mesh: tuple[int, ...]             # tiles per chip: rows × columns
    cores_per_tile: int = 1
    chip_mesh: tuple[int, ...] = ()   # chips laid out rows × columns; () is one row of `chips`
    links: ChipLinks = ChipLinks()
    systems: tuple[System, ...] = ()
    verify: VerifyBudget = VerifyBudget()
    sources: tuple[str, ...] = ()
    file: str = field(default="", compare=False)

    @property
    def total_cores(self) -> int:
        return self.chips * self.cores_per_chip

    @property
    def chip_layout(self) -> tuple[int, int]:
        """(rows, columns) of the chip mesh."""
        return tuple(self.chip_mesh) if self.chip_mesh else (1, self.chips)

    def system(self, name: str) -> "TargetBase":
        """This chip in its system `name` (as `<target>@<name>`); KeyError when there is none."""
        s = next(s for s in self.systems if s.name == name)
        return dataclasses.replace(self, name=f"{self.name}@{s.name}", chips=s.chips, chip_mesh=s.chip_mesh,
                                   systems=())

    def describe(self) -> str:
        """One line for `snnc targets` (families say more)."""
        return f"{self.name:<8} {self.family:<6} {self.chips} chip × {self.cores_per_chip} cores — {self.description}"

    def check(self) -> None:
        """Cross-field rules the types alone cannot express; raises `SchemaError(key, message)`.
        A family's `check` calls this one first."""
        for key in ("chips", "cores_per_chip", "cores_per_tile"):
            if getattr(self, key) < 1:
                raise _Invalid(key, f"expected an integer >= 1, got {getattr(self, key)}")
        if len(self.mesh) != 2 or 0 in self.mesh:
            raise _Invalid("mesh", f"expected [rows, columns] of tiles, both >= 1, got {list(self.mesh)}")
        if self.verify.decision_margin < 1:
            raise _Invalid("verify.decision_margin",
                           f"expected a number of spikes >= 1, got {self.verify.decision_margin}")
        for key in ("max_accuracy_drop", "min_agreement", "min_count_agreement"):
            if getattr(self.verify, key) > 1:
                raise _Invalid(f"verify.{key}", f"expected a fraction in [0, 1], got {getattr(self.verify, key)}")
        _check_chips("chip_mesh", self.chips, self.chip_mesh)
        for i, s in enumerate(self.systems):
            if not s.name or not all(ch.isalnum() or ch == "-" for ch in s.name) or s.chips < 1:
                raise _Invalid(f"systems[{i}]", f"expected a name of letters, digits and '-' and chips >= 1, "
                                                f"got {s.name!r} with {s.chips} chips")
            _check_chips(f"systems[{i}].chip_mesh", s.chips, s.chip_mesh)
        if self.systems and self.links == ChipLinks():
            raise _Invalid("links", "a target with multi-chip systems states what a chip-to-chip message costs")
        positions = self.mesh[0] * self.mesh[1] * self.cores_per_tile
        if self.cores_per_chip > positions:
            raise _Invalid("cores_per_chip", f"{self.cores_per_chip} cores do not fit a {self.mesh[0]}×{self.mesh[1]} "
                                             f"tile mesh of {self.cores_per_tile} cores each ({positions} positions)")


def _check_chips(key: str, chips: int, chip_mesh: tuple[int, ...]) -> None:
    if chip_mesh and (len(chip_mesh) != 2 or min(chip_mesh) < 1 or chip_mesh[0] * chip_mesh[1] < chips):
        raise _Invalid(key, f"expected [rows, columns] of chips holding {chips} chips, got {list(chip_mesh)}")


def schema_for(family) -> type:
    """The target dataclass of `family`: its Backend's `target_schema`."""
    from snnc.backend import all_backends
    backends = all_backends()
    if not isinstance(family, str) or family not in backends:
        raise _Invalid("family", f"unknown target family {_show(family)} (known: {', '.join(sorted(backends))})")
    return backends[family].target_schema


# -- loading ------------------------------------------------------------------------------------
class _Invalid(Exception):
    def __init__(self, key: str, message: str):
        self.key, self.message = key, message


SchemaError = _Invalid   # the name family schemas raise from their check()


def build(cls, data, key: str = ""):
    """Build dataclass `cls` from parsed JSON `data`; raises `_Invalid(key, message)`."""
    if not isinstance(data, dict):
        raise _Invalid(key or "(top level)", f"expected an object, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "file"}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise _Invalid(_join(key, unknown[0]), f"unknown key (known: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        sub = _join(key, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _Invalid(sub, "missing")
            continue
        values[name] = _convert(hints[name], data[name], sub)
    return cls(**values)


def _convert(hint, value, key):
    if dataclasses.is_dataclass(hint):
        if hint is Range:
            return _range(value, key)
        return build(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise _Invalid(key, f"expected true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Invalid(key, f"expected an integer >= 0, got {_show(value)}")
        return value
    if hint is Signed:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _Invalid(key, f"expected a number, got {_show(value)}")
        return float(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise _Invalid(key, f"expected a number >= 0, got {_show(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _Invalid(key, f"expected a string, got {_show(value)}")
        return value
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise _Invalid(key, f"expected a list, got {_show(value)}")
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    raise TypeError(f"schema type {hint!r} at {key} has no JSON form")  # a bug in this file, not in the data


def _range(value, key) -> Range:
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in value)):
        raise _Invalid(key, f"expected [lo, hi] integers, got {_show(value)}")
    if value[0] > value[1]:
        raise _Invalid(key, f"expected lo <= hi, got {value}")
    return Range(value[0], value[1])


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _show(value) -> str:
    import json
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def target_from_json(data, file: str, resolve_proxy=None):
    """Build and check a Target from parsed JSON; errors name `file` and the key path.

    `resolve_proxy(name) -> Target` supplies the target a ``costs.proxy`` refers to.
    """
    try:
        costs = data.get("costs") if isinstance(data, dict) else None
        if isinstance(costs, dict) and "proxy" in costs and resolve_proxy is not None:
            data = dict(data, costs=_proxied_costs(costs, resolve_proxy))
        cls = schema_for(data.get("family") if isinstance(data, dict) else None)
        target = build(cls, data)
        target.check()
    except _Invalid as exc:
        raise MalformedInputError(exc.message, file=file, where=exc.key) from None
    return dataclasses.replace(target, file=file)


def _json_form(value):
    """A schema value back in the JSON form `build` reads (a Range as [lo, hi], a section as an object)."""
    if isinstance(value, Range):
        return [value.lo, value.hi]
    if dataclasses.is_dataclass(value):
        return {f.name: _json_form(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return list(value) if isinstance(value, tuple) else value


def _proxied_costs(costs: dict, resolve_proxy) -> dict:
    extra = sorted(set(costs) - {"proxy", "note", "source"})
    if extra:
        raise _Invalid(f"costs.{extra[0]}", "a proxied cost table takes only proxy, note and source")
    name = costs["proxy"]
    if not isinstance(name, str):
        raise _Invalid("costs.proxy", f"expected a target name, got {_show(name)}")
    base = resolve_proxy(name)
    merged = {f.name: _json_form(getattr(base.costs, f.name)) for f in dataclasses.fields(base.costs)}
    merged.update(proxy=name, note=costs.get("note", ""), source=costs.get("source", base.costs.source))
    return merged
