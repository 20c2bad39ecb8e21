"""Placing logical cores on the mesh of one or more chips: recursive bisection, then local search.

The mesh: `chips` chips laid out `chip_mesh` (rows × columns of chips), each a `mesh` of tiles
(rows × columns) with `cores_per_tile` slots; a chip's valid slots are the first
`cores_per_chip` in row-major tile order (as the design rules check). A message from core a
to core b costs its distance

    d(a, b) = |row_a − row_b| + |col_a − col_b|                       (tile hops)
              + inter_chip · (|chip_row_a − chip_row_b| + |chip_col_a − chip_col_b|)

so leaving a chip costs `inter_chip` hops per chip crossed. Placement minimises
Σ_ab W_ab · d(a, b) over the rate-weighted messages W between cores:

1. cores are spread over as few chips as hold them, and within a chip over a compact
   rectangle of tiles holding them;
2. recursive bisection: the region is halved (across chips while it spans several, then
   along its longer side of tiles) and the cores split into two sets sized to the halves,
   the split improved by swaps that cut the weight between the halves (Kernighan–Lin);
3. local search: each core in turn moves to the slot (swapping with its occupant, if any)
   that lowers the cost most, until a pass gains nothing.

`report` gives the figures the manifest records: mean tile hops per message on a chip, the
messages between chips, and the largest load of one directed mesh link under X-then-Y
dimension-order routing (messages per tick).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.ir.mapping import Position

MAX_LOCAL = 1 << 25            # cores × slots beyond which local search is skipped (memory)
LOCAL_WORK = 2e9               # element operations local search may spend (passes are cut to fit)


@dataclass(frozen=True)
class Mesh:
    chips: int
    chip_mesh: tuple[int, int]
    rows: int
    cols: int
    per_tile: int
    per_chip: int
    inter_chip: float

    @staticmethod
    def of(target, inter_chip: float) -> "Mesh":
        rows, cols = target.mesh
        return Mesh(target.chips, target.chip_layout, rows, cols, target.cores_per_tile, target.cores_per_chip,
                    inter_chip)

    def slots(self) -> np.ndarray:
        """Every valid slot as [chip, row, col, slot], chip by chip in row-major tile order."""
        idx = np.arange(self.per_chip)
        tile, slot = np.divmod(idx, self.per_tile)
        row, col = np.divmod(tile, self.cols)
        one = np.stack([row, col, slot], axis=1)
        return np.concatenate([np.column_stack([np.full(len(one), c), one]) for c in range(self.chips)]) \
            .astype(np.int64)

    def chip_xy(self, chip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.divmod(np.asarray(chip), self.chip_mesh[1])

    def plane(self, slots: np.ndarray) -> np.ndarray:
        """Slots as points (y, x) whose Manhattan distance is `distance` (chips spaced by their
        mesh plus `inter_chip`)."""
        r, c = self.chip_xy(slots[:, 0])
        return np.stack([r * (self.rows + self.inter_chip) + slots[:, 1],
                         c * (self.cols + self.inter_chip) + slots[:, 2]], axis=1).astype(np.float64)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """d between slots a and b ([..., 4] arrays, broadcast)."""
        ar, ac = self.chip_xy(a[..., 0])
        br, bc = self.chip_xy(b[..., 0])
        tiles = np.abs(a[..., 1] - b[..., 1]) + np.abs(a[..., 2] - b[..., 2])
        return tiles + self.inter_chip * (np.abs(ar - br) + np.abs(ac - bc))


def cost(W: np.ndarray, pos: np.ndarray, mesh: Mesh) -> float:
    """Σ W_ab d(a, b) for cores at slots `pos` [K, 4]."""
    a, b = np.nonzero(W)
    return float((W[a, b] * mesh.distance(pos[a], pos[b])).sum())


# -- 1, 2: compact region and recursive bisection ----------------------------------------------------
def _region(slots: np.ndarray, n: int, mesh: Mesh) -> np.ndarray:
    """Indices of slots forming a compact region that holds `n` cores (whole chips first)."""
    full, rest = divmod(n, mesh.per_chip)
    take = [np.flatnonzero(slots[:, 0] < full)]
    if rest:
        chip = np.flatnonzero(slots[:, 0] == full)
        take.append(chip[_rectangle(slots[chip], rest, mesh)])
    return np.concatenate(take)


def _rectangle(slots: np.ndarray, n: int, mesh: Mesh) -> np.ndarray:
    """Positions (into `slots` of one chip) of the near-square tile rectangle holding `n` cores."""
    best = None
    for r in range(1, mesh.rows + 1):
        for c in range(1, mesh.cols + 1):
            inside = (slots[:, 1] < r) & (slots[:, 2] < c)
            if inside.sum() >= n:
                key = (r + c, r * c)
                if best is None or key < best[0]:
                    best = (key, np.flatnonzero(inside))
                break
    return best[1] if best is not None else np.arange(len(slots))


def bisection(W: np.ndarray, mesh: Mesh, order: np.ndarray | None = None) -> np.ndarray:
    """Slot [K, 4] of every core by recursive bisection (module docstring, steps 1 and 2).

    Cores outside the set being split pull each core towards the half nearer to where they
    are (the centre of the region they were last put in: terminal propagation)."""
    K = W.shape[0]
    slots = mesh.slots()
    region = slots[_region(slots, K, mesh)]
    sym = W + W.T
    out = np.empty((K, 4), np.int64)
    where = np.tile(mesh.plane(region).mean(axis=0), (K, 1))
    cores = np.arange(K) if order is None else np.asarray(order)
    _place(sym, cores, region, mesh, out, where)
    return out


def _place(sym, cores, slots, mesh: Mesh, out, where) -> None:
    if not len(cores):
        return
    if len({tuple(s) for s in slots[:, :3]}) == 1 or len(cores) == 1:
        out[cores] = slots[:len(cores)]
        where[cores] = mesh.plane(slots[:len(cores)])
        return
    left = _halve(slots, mesh)
    cap1, cap2 = int(left.sum()), int((~left).sum())
    n = len(cores)
    n1 = min(cap1, max(n - cap2, int(round(n * cap1 / (cap1 + cap2)))))
    c1, c2 = mesh.plane(slots[left]).mean(axis=0), mesh.plane(slots[~left]).mean(axis=0)
    others = np.setdiff1d(np.arange(sym.shape[0]), cores)
    pull = sym[np.ix_(cores, others)] @ (np.abs(where[others] - c1).sum(1) - np.abs(where[others] - c2).sum(1))
    order = np.argsort(pull, kind="stable")
    a, b = _split(sym, cores[order], n1, pull[order])
    where[a], where[b] = c1, c2
    _place(sym, a, slots[left], mesh, out, where)
    _place(sym, b, slots[~left], mesh, out, where)


def _halve(slots: np.ndarray, mesh: Mesh) -> np.ndarray:
    """Mask of the first half of a region: across chips while it spans several, else along its
    longer side of tiles (whole tiles on each side)."""
    chips = np.unique(slots[:, 0])
    if len(chips) > 1:
        r, c = mesh.chip_xy(slots[:, 0])
        key = r if np.ptp(r) >= np.ptp(c) else c
    else:
        key = slots[:, 1] if np.ptp(slots[:, 1]) >= np.ptp(slots[:, 2]) else slots[:, 2]
    values = np.unique(key)
    return key <= values[(len(values) - 1) // 2]


def _split(sym: np.ndarray, cores: np.ndarray, n1: int, pull: np.ndarray,
           max_swaps: int = 256, work: float = 2e7) -> tuple[np.ndarray, np.ndarray]:
    """Cores into the first n1 and the rest with little weight between the two sets and to the
    cores outside (Kernighan–Lin swaps, each weighing every pair across: at most `work` pair
    evaluations in all); `pull[i]` is what core i saves on the second side rather than the first."""
    max_swaps = max(1, min(max_swaps, int(work // max(1, n1 * (len(cores) - n1)))))
    a, b = cores[:n1].copy(), cores[n1:].copy()
    if not len(a) or not len(b):
        return a, b
    w = sym[np.ix_(cores, cores)]
    side = np.zeros(len(cores), bool)
    side[:n1] = True
    for _ in range(max_swaps):
        ext = np.where(side, w[:, ~side].sum(1), w[:, side].sum(1))
        inn = np.where(side, w[:, side].sum(1), w[:, ~side].sum(1))
        d = ext - inn + np.where(side, pull, -pull)
        ia, ib = np.flatnonzero(side), np.flatnonzero(~side)
        gain = d[ia][:, None] + d[ib][None, :] - 2 * w[np.ix_(ia, ib)]
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if gain[i, j] <= 1e-12:
            break
        side[ia[i]], side[ib[j]] = False, True
    return cores[side], cores[~side]


# -- 3: local search --------------------------------------------------------------------------------
def local_search(W: np.ndarray, pos: np.ndarray, mesh: Mesh, *, passes: int = 16) -> tuple[np.ndarray, int]:
    """Move cores (swapping with the occupant) while the cost falls: (positions, moves).

    With C[i, s] = Σ_k w_ik d(slot_k, s) (w symmetric), moving core i to an empty slot s
    changes the cost by C[i, s] − C[i, P_i]; swapping it with core j at s by
    C[i, P_j] − C[i, P_i] + C[j, P_i] − C[j, P_j] + 2 w_ij d(P_i, P_j)."""
    slots = mesh.slots()
    K, S = W.shape[0], len(slots)
    if K * S > MAX_LOCAL or K < 2:
        return pos, 0
    sym = W + W.T
    r, c = np.nonzero(sym)
    v = sym[r, c]
    index = {tuple(x): i for i, x in enumerate(slots)}
    P = np.array([index[tuple(x)] for x in pos], np.int64)
    occ = np.full(S, -1, np.int64)
    occ[P] = np.arange(K)
    DP = mesh.distance(slots[P][:, None, :], slots[None, :, :]).astype(np.float64)    # d(slot of k, s)
    passes = min(passes, max(1, int(LOCAL_WORK // (K * (S + len(v) + 1)))))
    ptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=K))])
    cur = np.bincount(r, weights=v * DP[c, P[r]], minlength=K)
    moves = 0
    for _ in range(passes):
        moved = 0
        for i in range(K):
            nb, wv = c[ptr[i]:ptr[i + 1]], v[ptr[i]:ptr[i + 1]]
            C_i = wv @ DP[nb]
            col = np.bincount(r, weights=v * DP[c, P[i]], minlength=K)
            delta = C_i - C_i[P[i]]
            held = np.flatnonzero(occ >= 0)
            jj = occ[held]
            delta[held] += col[jj] - cur[jj] + 2 * sym[i, jj] * DP[i, held]
            s = int(np.argmin(delta))
            if delta[s] >= -1e-9:
                continue
            _swap(i, s, P, occ, DP, slots, mesh)
            cur = np.bincount(r, weights=v * DP[c, P[r]], minlength=K)
            moved += 1
        moves += moved
        if not moved:
            break
    return slots[P], moves


def _swap(i: int, s: int, P, occ, DP, slots, mesh: Mesh) -> None:
    """Core i to slot s; its occupant, if any, to i's old slot."""
    j, old = occ[s], P[i]
    P[i], occ[s], occ[old] = s, i, j
    DP[i] = mesh.distance(slots[s][None, :], slots)
    if j >= 0:
        P[j] = old
        DP[j] = mesh.distance(slots[old][None, :], slots)


# -- the figures -------------------------------------------------------------------------------------
def report(W: np.ndarray, pos: np.ndarray, mesh: Mesh) -> dict:
    """Mean tile hops of on-chip messages, messages between chips, and the busiest directed link
    under X-then-Y routing (messages per tick, on-chip links)."""
    a, b = np.nonzero(W)
    w = W[a, b]
    same = pos[a, 0] == pos[b, 0]
    hops = np.abs(pos[a, 1] - pos[b, 1]) + np.abs(pos[a, 2] - pos[b, 2])
    on_chip = float(w[same].sum())
    return {"messages_per_tick": round(float(w.sum()), 6),
            "mean_hops": round(float((w[same] * hops[same]).sum() / on_chip), 6) if on_chip else 0.0,
            "weighted_hops": round(float((w[same] * hops[same]).sum()), 6),
            "inter_chip_messages": round(float(w[~same].sum()), 6),
            "max_link_load": round(float(_max_link(a[same], b[same], w[same], pos)), 6)}


def _max_link(a: np.ndarray, b: np.ndarray, w: np.ndarray, pos: np.ndarray) -> float:
    """Largest load of one directed tile-to-tile link under X-then-Y routing."""
    loads: dict[tuple, float] = {}
    for s, t, x in zip(a, b, w):
        chip, r, c = pos[s, :3]
        r1, c1 = pos[t, 1], pos[t, 2]
        while c != c1:
            step = 1 if c1 > c else -1
            key = (chip, r, c, r, c + step)
            loads[key] = loads.get(key, 0.0) + x
            c += step
        while r != r1:
            step = 1 if r1 > r else -1
            key = (chip, r, c, r + step, c)
            loads[key] = loads.get(key, 0.0) + x
            r += step
    return max(loads.values(), default=0.0)


def as_positions(pos: np.ndarray) -> dict[int, Position]:
    return {k: Position(*(int(v) for v in p)) for k, p in enumerate(pos)}

