"""Greedy cuts of vertex sequences into cores, and the repair that makes any assignment legal.

`cut_sequences` walks each sequence of vertices (a population in index order, a feature map
in a space-filling order, one block of a graph partitioner, ...) and fills a core with the
next vertex while every limit holds, counting each resource exactly as `cost.evaluate` does
(`CoreFill`); the output axons of a vertex depend on how its destinations are cut, so they
are estimated from the previous round and the cut is repeated with the estimates raised
until the result is legal. The pieces are then packed first fit into cores: a piece joins
an earlier core when the union fits (checked exactly), so small pieces share cores.

For a given sequence and fixed destination cuts, growing each piece as far as it fits
gives the fewest pieces (every limit is monotone in a piece's extent), as nengo-loihi's and
PACMAN's contiguous slicing do when the sequence is a population in index order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.passes.partitioning.cost import Evaluation, evaluate
from snnc.passes.partitioning.problem import RESOURCES, Problem

MAX_ROUNDS = 64


class Unfit(Exception):
    """A vertex that no core can hold on its own (or a whole group that does not fit one core)."""

    def __init__(self, vertex: int, resource: str, value: int, limit: int, whole: bool = False):
        super().__init__(f"vertex {vertex}: {resource} {value} > {limit}")
        self.vertex, self.resource, self.value, self.limit, self.whole = vertex, resource, value, limit, whole


class CoreFill:
    """The resources of one core as vertices join it (exact but for the output-axon estimates)."""

    def __init__(self, problem: Problem, out_est: np.ndarray):
        self.p, self.out_est = problem, out_est
        self.cnt = np.zeros(problem.n_nets, np.int32)
        self.rows = np.zeros(len(problem.projections), np.int64)
        self.present = np.zeros(len(problem.projections), np.int64)
        self.dense_in = problem.dense_in
        self.limit = problem.limits.vector()
        self.load = np.zeros(len(RESOURCES))
        self.members: list[int] = []

    def delta(self, v: int) -> np.ndarray:
        p = self.p
        nets = p.in_nets(v)
        c = self.cnt[nets]
        new = c == 0
        proj = p.net_proj[nets]
        sparse = ~p.proj_dense[proj]
        at = p.lut_off[proj] + c
        bits = float((p.lut[at + 1] - p.lut[at])[sparse].sum())
        for k in self.dense_in[p.group_of[v]]:
            off, r, pres = p.lut_off[k], self.rows[k], self.present[k]
            grown = pres + int(np.count_nonzero(new & (proj == k)))
            bits += float(grown * p.lut[off + r + 1] - pres * p.lut[off + r])
        return np.array([p.slots[v], float(new.sum()), self.out_est[v], bits])

    def fits(self, d: np.ndarray) -> bool:
        return bool(np.all(self.load + d <= self.limit))

    def add(self, v: int, d: np.ndarray) -> None:
        p = self.p
        nets = p.in_nets(v)
        proj = p.net_proj[nets]
        for k in self.dense_in[p.group_of[v]]:
            self.present[k] += int(np.count_nonzero((self.cnt[nets] == 0) & (proj == k)))
            self.rows[k] += 1
        self.cnt[nets] += 1
        self.load += d
        self.members.append(v)

    def clear(self) -> None:
        for v in self.members:
            self.cnt[self.p.in_nets(v)] = 0
        self.rows[:] = 0
        self.present[:] = 0
        self.load[:] = 0
        self.members = []

    def excess(self, d: np.ndarray) -> tuple[str, int, int]:
        i = int(np.argmax(self.load + d > self.limit))
        return RESOURCES[i], int(self.load[i] + d[i]), int(self.limit[i])


@dataclass
class Piece:
    vertices: np.ndarray
    load: np.ndarray
    groups: frozenset


def cut_sequence(fill: CoreFill, seq: np.ndarray, whole: bool = False) -> list[Piece]:
    """Pieces of `seq`, each grown as far as it fits (`whole`: one piece or `Unfit`); then the
    same number of pieces of equal length, kept when every one fits (balanced cores)."""
    pieces = _greedy(fill, seq, whole)
    k = len(pieces)
    if k < 2:
        return pieces
    equal = []
    for i in range(k):
        part = seq[i * len(seq) // k:(i + 1) * len(seq) // k]
        fill.clear()
        for v in part:
            d = fill.delta(int(v))
            if not fill.fits(d):
                fill.clear()
                return pieces
            fill.add(int(v), d)
        equal.append(_close(fill))
    return equal


def _greedy(fill: CoreFill, seq: np.ndarray, whole: bool) -> list[Piece]:
    pieces = []
    fill.clear()
    for v in seq:
        v = int(v)
        d = fill.delta(v)
        if not fill.fits(d):
            if not fill.members or whole:
                raise Unfit(v, *fill.excess(d), whole=whole)
            pieces.append(_close(fill))
            d = fill.delta(v)
            if not fill.fits(d):
                raise Unfit(v, *fill.excess(d))
        fill.add(v, d)
    if fill.members:
        pieces.append(_close(fill))
    return pieces


def _close(fill: CoreFill) -> Piece:
    members = np.array(fill.members, np.int64)
    piece = Piece(members, fill.load.copy(), frozenset(fill.p.group_of[members].tolist()))
    fill.clear()
    return piece


def pack(fill: CoreFill, pieces: list[Piece], enabled: bool = True) -> list[list[int]]:
    """Pieces into cores, first fit (a piece joins the first core where the union fits: the sum of
    the loads, checked exactly when the two share a group and so may share nets)."""
    cores: list[list[int]] = []
    loads = np.zeros((0, len(RESOURCES)))
    groups: list[set] = []
    members: list[list[np.ndarray]] = []
    for i, piece in enumerate(pieces):
        home = None
        if enabled and len(cores):
            for k in np.flatnonzero(np.all(loads + piece.load <= fill.limit, axis=1)):
                if not (groups[k] & piece.groups) or _union_fits(fill, members[k], piece):
                    home = int(k)
                    break
        if home is None:
            cores.append([])
            loads = np.vstack([loads, np.zeros(len(RESOURCES))])
            groups.append(set())
            members.append([])
            home = len(cores) - 1
        cores[home].append(i)
        loads[home] += piece.load
        groups[home] |= piece.groups
        members[home].append(piece.vertices)
    return cores


def _union_fits(fill: CoreFill, held: list[np.ndarray], piece: Piece) -> bool:
    """Exact check for pieces sharing a group (their nets may overlap)."""
    fill.clear()
    ok = True
    for v in np.concatenate(held + [piece.vertices]):
        d = fill.delta(int(v))
        if not fill.fits(d):
            ok = False
            break
        fill.add(int(v), d)
    fill.clear()
    return ok


def cut_and_pack(problem: Problem, sequences: list[np.ndarray], *, whole: list[bool] | None = None,
                 pack_pieces: bool = True, out_est: np.ndarray | None = None) -> tuple[np.ndarray, Evaluation, int]:
    """A legal assignment from greedy cuts of `sequences` (which together hold every vertex once),
    the cut repeated with raised output-axon estimates until legal: (assign, evaluation, rounds)."""
    whole = whole or [False] * len(sequences)
    est = np.bincount(problem.net_src[problem.placed_src], minlength=problem.n)[:problem.n].astype(np.float64) \
        if out_est is None else out_est.astype(np.float64)
    fill = CoreFill(problem, est)
    for rounds in range(1, MAX_ROUNDS + 1):
        pieces = [p for seq, w in zip(sequences, whole) for p in cut_sequence(fill, seq, w)]
        cores = pack(fill, pieces, pack_pieces)
        assign = np.empty(problem.n, np.int64)
        for k, idx in enumerate(cores):
            for i in idx:
                assign[pieces[i].vertices] = k
        ev = evaluate(problem, assign, len(cores))
        if ev.legal:
            return assign, ev, rounds
        reach = ev.reach[problem.placed_src]
        actual = np.bincount(problem.net_src[problem.placed_src], weights=reach, minlength=problem.n)[:problem.n]
        fill.out_est = est = np.maximum(est, actual)
    raise Unfit(-1, "output_axons", 0, 0)


def repair(problem: Problem, blocks: np.ndarray, order: np.ndarray | None = None, *,
           whole_groups: list[int] = ()) -> tuple[np.ndarray, Evaluation, int]:
    """Make a partitioner's blocks legal: each block (its vertices in `order`, default index order)
    is cut into pieces that fit and the pieces are packed; a group that must stay whole keeps
    its own sequence."""
    order = np.arange(problem.n) if order is None else np.asarray(order, np.int64)
    whole_v = np.zeros(problem.n, bool)
    for g in whole_groups:
        whole_v[problem.vertices(g)] = True
    seq_order = order[~whole_v[order]]
    key = blocks[seq_order]
    split = np.argsort(key, kind="stable")
    sorted_v = seq_order[split]
    bounds = np.flatnonzero(np.diff(key[split])) + 1
    sequences = [s for s in np.split(sorted_v, bounds) if len(s)]
    flags = [False] * len(sequences)
    for g in whole_groups:
        sequences.append(problem.vertices(g))
        flags.append(True)
    return cut_and_pack(problem, sequences, whole=flags)
