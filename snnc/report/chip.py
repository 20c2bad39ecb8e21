"""The chip as the report draws it: units (cores or tiles) on the mesh with their load, and the
routes between them, read from an artifact's files.

A family's files say different things (`backends/<family>/FORMAT.md`), so each file layout
has a small reader in `snnc.report.layouts`, chosen by what the artifact holds, never by the
target's name. Every reader returns the same `ChipView`:

    units    each core or tile: its number, mesh position and its loads, each a count over
             the limit it is held to (neurons, synapse memory, axons)
    routes   each pair of units that spikes travel between, with the axons (messages per
             spike) the files give it and the population neurons whose spikes it carries
             (a neuron listed k times sends k messages per spike)
    holds    per unit, the population neurons it holds (what its activity counts)

Activity (`activity`) then needs only a run's population spikes [T, B, n].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LOADS = ("neurons", "synapse memory", "axons")


@dataclass(frozen=True)
class Load:
    """`value` of `limit` (what it counts in `what`); `fraction` is value / limit."""

    value: float
    limit: float
    what: str

    @property
    def fraction(self) -> float:
        return self.value / self.limit if self.limit else 0.0


@dataclass(frozen=True)
class Unit:
    index: int
    position: tuple[int, int, int, int]          # chip, row, column, slot within the tile
    loads: dict[str, Load]
    label: str = ""                              # what it holds, in its family's words


@dataclass(frozen=True)
class Route:
    src: int
    dst: int
    axons: int
    carries: dict[str, np.ndarray] = field(default_factory=dict)   # population -> neuron indices
    unattributed: int = 0                       # axons whose spikes come from no population neuron


@dataclass(frozen=True)
class ChipView:
    unit: str                                    # "core" or "tile"
    layout: str                                  # which file layout it was read from
    units: list[Unit]
    routes: list[Route]
    holds: dict[int, dict[str, np.ndarray]]
    notes: list[str] = field(default_factory=list)


def chip_view(art) -> tuple[ChipView | None, str]:
    """The view of `art` from the first layout reader that recognises its files, or None and why
    not (no reader knows the layout, or its files lack what the reader needs: `snnc verify`
    names what is wrong with them)."""
    from snnc.errors import SnncError
    from snnc.report.layouts import READERS
    for reader in READERS:
        try:
            view = reader(art)
        except (SnncError, KeyError, IndexError, TypeError, ValueError) as exc:
            return None, f"the map is left out: the files do not hold what {reader.__name__} reads ({exc!r})"
        if view is not None:
            return view, ""
    return None, "the map is left out: no reader knows this artifact's file layout"


@dataclass(frozen=True)
class Activity:
    """Spikes per tick (mean over the samples) of each unit's neurons and carried by each route."""

    per_unit: dict[int, float]
    per_route: dict[tuple[int, int], float]
    ticks: int
    batch: int


def activity(view: ChipView, spikes: dict[str, np.ndarray]) -> Activity:
    """What a run's population spikes {population: [T, B, n]} put on each unit and route."""
    some = next(iter(spikes.values()))
    T, B = some.shape[:2]
    totals = {p: s.reshape(T * B, -1).sum(axis=0, dtype=np.int64) for p, s in spikes.items()}

    def count(neurons: dict[str, np.ndarray]) -> float:
        n = sum(int(totals[p][idx].sum()) for p, idx in neurons.items() if p in totals)
        return n / (T * B) if T * B else 0.0

    return Activity({u: count(h) for u, h in view.holds.items()},
                    {(r.src, r.dst): count(r.carries) for r in view.routes}, int(T), int(B))


def neurons_of(part: dict) -> np.ndarray:
    """The population neurons a part entry of a core file holds, in its order: `runs` of
    [start, stop) when the entry has them, else `offset … offset+count−1`."""
    runs = part.get("runs")
    if runs:
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in runs])
    return np.arange(part["offset"], part["offset"] + part["count"], dtype=np.int64)


def position(raw) -> tuple[int, int, int, int]:
    """A file's position list ([chip, row, column] or [chip, row, column, slot]) as four integers."""
    p = [int(v) for v in raw] + [0] * (4 - len(raw))
    return (p[0], p[1], p[2], p[3])


def group(pairs) -> dict[str, np.ndarray]:
    """[(population, neuron index), ...] as {population: indices}, repeats kept."""
    out: dict[str, list[int]] = {}
    for pop, i in pairs:
        out.setdefault(pop, []).append(int(i))
    return {p: np.asarray(v, dtype=np.int64) for p, v in out.items()}
