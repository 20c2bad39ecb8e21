"""`place`: logical cores onto chips, tiles and slots of the target's mesh, with short routes.

The messages between cores come from the graph: a node on core a feeds a synapse or route
node feeding a node on core b, and each of its output elements that node reads (the op's
`inputs_used`, all of them for an op that cannot say) sends one message per spike to b. A
spike reaching several nodes on b is one message. Elements spike at `activity` per tick,
or at the rates an interpreter run on `calibration` inputs measures (`run_mapped`, layer by
layer through the mapping record); host inputs are left out (they enter from the host).

`method`:
    auto     recursive bisection onto the mesh refined by local search (`snnc.passes.placement`),
             kept when it beats the snake fill, which is kept otherwise
    snake    chip after chip, and inside a chip the tile mesh in a snake (row 0 left to right,
             row 1 right to left, ...), `cores_per_tile` cores per tile; consecutive cores on the
             same or adjacent tiles
A message between chips counts `inter_chip` tile hops per chip crossed (default: a chip's
rows + columns, as far as crossing the chip); a graph that needs more cores than the target
has is refused with the count and the limit.

Reads the mapping record's `cores` (snnc/ir/mapping.py), writes its `place`:
{core: Position(chip, tile_row, tile_col, slot)}. Statistics: chips used, the method kept,
messages per tick between cores, their mean tile hops on a chip (`mean_hops`, and for the
snake fill `snake_mean_hops`), the messages between chips and the busiest directed mesh link
under X-then-Y routing (`max_link_load`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.errors import ConstraintViolation, UsageError
from snnc.ir.graph import Graph
from snnc.ir.mapping import Position
from snnc.passes import placement
from snnc.passes.partitioning.activity import DEFAULT_RATE, InputData
from snnc.passes.registry import PassResult, option, register_pass

METHODS = ("auto", "snake")


@dataclass(frozen=True)
class PlaceOptions:
    method: str = option("auto", "recursive bisection and local search, kept when better than the snake fill "
                                 "(auto), or the snake fill", choices=METHODS)
    inter_chip: float = option(-1.0, "tile hops one chip crossing counts as (< 0: the chip's rows + columns)")
    passes: int = option(16, "passes of local search", low=0)
    activity: float = option(DEFAULT_RATE, "spikes per neuron per tick assumed without calibration inputs",
                             low=0.0, high=1.0)
    calibration: object = option(None, "inputs [T, B, *input_shape] (an array or a .npy path): rates measured by "
                                       "an interpreter run weight the messages", type_name="array or .npy path")

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.calibration is not None and not isinstance(self.calibration, InputData):
            object.__setattr__(self, "calibration", InputData(self.calibration))


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


def chip_hops(a: Position, b: Position, target) -> int:
    """Chip-to-chip hops between two positions on the target's chip mesh (0 on one chip)."""
    cols = target.chip_layout[1]
    (ar, ac), (br, bc) = divmod(a.chip, cols), divmod(b.chip, cols)
    return abs(ar - br) + abs(ac - bc)


@register_pass("place", PlaceOptions, reports_progress=True)
def place(graph: Graph, target, options: PlaceOptions, progress) -> PassResult:
    """Give every logical core a chip, tile and slot, keeping busy routes short."""
    cores = dict(graph.mapping.cores) if graph.mapping else {}
    if not cores:
        raise UsageError("place: the graph has no core assignment (mapping.cores); a partition pass "
                         "(e.g. loihi-partition) must run before place")
    n = 1 + max(cores.values())
    if n > target.total_cores:
        raise ConstraintViolation(target=target.name, rule="cores", where="graph", value=f"{n} cores",
                                  limit=f"{target.total_cores} ({target.chips} chip(s) x {target.cores_per_chip})")
    W = messages(graph, n, element_rates(graph, options))
    place, stats = arrange(W, target, [position(c, target) for c in range(n)], options)
    progress(f"{n} cores placed by {stats['method']}")
    return PassResult(graph.replace(mapping=graph.mapping.replace(place=place)), stats=stats)


def arrange(W: np.ndarray, target, start: list[Position], options: PlaceOptions = PlaceOptions()) \
        -> tuple[dict[int, Position], dict]:
    """Positions of the cores exchanging messages W [n, n] (`options.method`), kept when they cost
    less than `start`, and the statistics the pass records."""
    n = W.shape[0]
    rows, cols = target.mesh
    mesh = placement.Mesh.of(target, options.inter_chip if options.inter_chip >= 0 else float(rows + cols))
    first = np.array([p.as_list() for p in start], np.int64).reshape(n, 4)
    chosen, method, moves = first, "snake", 0
    if options.method == "auto" and n > 1:
        pos = placement.bisection(W, mesh)
        pos, moves = placement.local_search(W, pos, mesh, passes=options.passes)
        if placement.cost(W, pos, mesh) < placement.cost(W, first, mesh):
            chosen, method = pos, "bisection"
    stats = {"cores": n, "chips": len({int(p[0]) for p in chosen}), "method": method, "local_moves": moves,
             **placement.report(W, chosen, mesh), "snake_mean_hops": placement.report(W, first, mesh)["mean_hops"]}
    return placement.as_positions(chosen), stats


def element_rates(graph: Graph, options: PlaceOptions) -> dict[str, np.ndarray]:
    """Spikes per tick of every output element of every node on a core."""
    m = graph.mapping
    types = graph.types()
    sizes = {node: types[(node, graph.op(node).output_ports[0])].size for node in m.cores}
    out = {node: np.full(size, float(options.activity)) for node, size in sizes.items()}
    if options.calibration is None:
        return out
    from snnc.artifact import run_mapped
    if len(graph.inputs) != 1:
        raise UsageError(f"place: calibration inputs feed one graph input; this graph has {len(graph.inputs)}")
    _, spikes = run_mapped(graph, {graph.inputs[0]: options.calibration.x}, raw=True, layers=True)
    for node, p in m.parts.items():
        if node in out and p.population in spikes:
            rate = spikes[p.population].reshape(-1, spikes[p.population].shape[-1]).mean(axis=0)
            out[node][p.first:p.first + p.count] = rate[p.indices()]
    return out


def messages(graph: Graph, n: int, rates: dict[str, np.ndarray]) -> np.ndarray:
    """[n, n] messages per tick from core a to core b ≠ a (module docstring)."""
    cores = graph.mapping.cores
    W = np.zeros((n, n))
    for src, a in cores.items():
        reach: dict[int, np.ndarray] = {}
        for e in graph.out_edges(src):
            used = _used(graph, e.dst, len(rates[src]))
            for e2 in graph.out_edges(e.dst):
                b = cores.get(e2.dst)
                if b is not None and b != a:
                    reach[b] = used if b not in reach else np.union1d(reach[b], used)
        for b, used in reach.items():
            W[a, b] += float(rates[src][used].sum())
    return W


def _used(graph: Graph, node: str, size: int) -> np.ndarray:
    ask = getattr(graph.op(node), "inputs_used", None)
    return np.asarray(ask(), np.int64) if ask is not None else np.arange(size)
