"""`place`: logical cores onto chips, tiles and slots of the target's mesh.

The partition numbers cores in the order the layers run, so neighbouring numbers talk to
each other. Placement fills chip after chip and, inside a chip, walks the tile mesh in a
snake (row 0 left to right, row 1 right to left, ...), `cores_per_tile` cores per tile:
consecutive cores are on the same tile or on adjacent tiles. A graph that needs more
cores than the target has is refused with the count and the limit.

Reads the mapping record's `cores` (snnc/ir/mapping.py), writes its `place`:
{core: Position(chip, tile_row, tile_col, slot)}. Statistics: chips used and the mean mesh
distance (in tile hops) over the core-to-core connections, weighted by source neurons.
"""
from __future__ import annotations

from dataclasses import dataclass

from snnc.errors import ConstraintViolation, UsageError
from snnc.ir.graph import Graph
from snnc.ir.mapping import Position
from snnc.passes.registry import PassResult, register_pass


@dataclass(frozen=True)
class PlaceOptions:
    """No options."""


def position(core: int, target) -> Position:
    """The mesh position of logical core `core` under snake filling."""
    chip, idx = divmod(core, target.cores_per_chip)
    tile, slot = divmod(idx, target.cores_per_tile)
    rows, cols = target.mesh
    row, col = divmod(tile, cols)
    if row % 2:
        col = cols - 1 - col
    return Position(chip, row, col, slot)


def hops(a: Position, b: Position) -> int:
    """Tile hops between two positions on one chip (Manhattan); -1 between chips."""
    if a.chip != b.chip:
        return -1
    return abs(a.row - b.row) + abs(a.col - b.col)


@register_pass("place", PlaceOptions)
def place(graph: Graph, target, options: PlaceOptions) -> PassResult:
    """Assign every logical core a chip, tile and slot, filling tiles in a snake order."""
    cores = dict(graph.mapping.cores) if graph.mapping else {}
    if not cores:
        raise UsageError("place: the graph has no core assignment (mapping.cores); a partition pass "
                         "(e.g. loihi-partition) must run before place")
    n = 1 + max(cores.values())
    if n > target.total_cores:
        raise ConstraintViolation(target=target.name, rule="cores", where="graph", value=f"{n} cores",
                                  limit=f"{target.total_cores} ({target.chips} chip(s) x {target.cores_per_chip})")
    placed = {c: position(c, target) for c in range(n)}
    dist, weight, inter_chip = 0, 0, 0
    types = graph.types()
    for src, dst_cores in _connections(graph, cores).items():
        size = types[(src, "output")].size
        for d in dst_cores:
            h = hops(placed[cores[src]], placed[d])
            if h < 0:
                inter_chip += size
            else:
                dist += h * size
                weight += size
    stats = {"cores": n, "chips": len({p.chip for p in placed.values()}),
             "mean_tile_hops": dist / weight if weight else 0.0, "inter_chip_axons": inter_chip}
    return PassResult(graph.replace(mapping=graph.mapping.replace(place=placed)), stats=stats)


def _connections(graph: Graph, cores: dict[str, int]) -> dict[str, set[int]]:
    """Compartment node -> the cores its spikes reach (through the synapse nodes it feeds)."""
    out: dict[str, set[int]] = {}
    for src in cores:
        for e in graph.out_edges(src):
            for e2 in graph.out_edges(e.dst):
                if e2.dst in cores:
                    out.setdefault(src, set()).add(cores[e2.dst])
    return out
