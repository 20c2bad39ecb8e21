"""Local search on a legal assignment: move single neurons between cores while traffic falls.

The state keeps, for every net and core, how many of the net's pins the core holds, and for
every source the same summed over its nets; from these a move's change of traffic is exact
for every destination core at once, and its change of every core's resources (input axons,
synapse bits, output axons of the core it leaves, of the core it joins and of the cores of
its sources) is applied exactly. A move is kept only if every touched core stays within its
limits, so the assignment stays legal throughout. A pass visits every movable neuron once
and moves it to the core of largest gain; passes repeat until one gains less than `tol` of
the traffic, or `passes` are done. `dissolve` then tries to empty the least loaded cores
(each neuron to the feasible core that costs least), keeping what succeeds.

Memory: two count tables of nets × cores and sources × cores (int32); `fits` says whether a
problem is small enough to refine.
"""
from __future__ import annotations

import numpy as np

from snnc.passes.partitioning.problem import Problem

MAX_TABLE = 1 << 26          # entries of the nets × cores table refine keeps (256 MiB of int32)
EPS = 1e-12


def fits(problem: Problem, K: int) -> bool:
    return (problem.n_nets + problem.n_sources) * K <= MAX_TABLE


class State:
    """Counts and loads of an assignment, updated move by move (module docstring)."""

    def __init__(self, problem: Problem, assign: np.ndarray, K: int):
        p = self.p = problem
        self.K = K
        self.assign = np.asarray(assign, np.int64).copy()
        self.cnt = np.zeros((p.n_nets, K), np.int32)
        np.add.at(self.cnt, (p.pin_net, self.assign[p.pin_v]), 1)
        self.src = np.zeros((p.n_sources, K), np.int32)
        np.add.at(self.src, p.net_src, self.cnt)
        self.lam = (self.cnt > 0).sum(axis=1).astype(np.int64)
        self.own = np.concatenate([self.assign, np.full(p.n_sources - p.n, -1, np.int64)])
        self.limit = p.limits.vector()
        self.rows = np.zeros((len(p.projections), K), np.int64)
        self.present = np.zeros((len(p.projections), K), np.int64)
        self.dense_in = p.dense_in
        for k in np.flatnonzero(p.proj_dense):
            self.rows[k] = np.bincount(self.assign[p.vertices(p.proj_dst[k])], minlength=K)[:K]
            self.present[k] = (self.cnt[p.net_proj == k] > 0).sum(axis=0)
        self.loads = self._loads()

    def _loads(self) -> np.ndarray:
        from snnc.passes.partitioning.cost import evaluate
        return evaluate(self.p, self.assign, self.K).loads.copy()

    def traffic(self) -> float:
        reach = (self.src > 0).astype(np.float64)
        placed = self.own >= 0
        reach[np.flatnonzero(placed), self.own[placed]] = 0.0
        return float(self.p.rate @ reach.sum(axis=1))

    # -- gains ---------------------------------------------------------------------------------
    def gains(self, v: int, full: bool = False) -> np.ndarray:
        """Traffic saved by moving `v` to each core (0 for its own; −inf where it cannot be positive).

        Leaving core a saves the sources that reach a through v alone; joining b costs the sources
        that do not reach b yet; v's own spikes save one message where its destinations are. When
        leaving saves nothing, only the cores holding v's destinations can gain, so the others are
        not evaluated (unless `full`)."""
        p, a = self.p, self.assign[v]
        srcs = p.net_src[p.in_nets(v)]
        u, m = np.unique(srcs, return_counts=True)
        r, own = p.rate[u], self.own[u]
        leave = float(r[(self.src[u, a] == m) & (own != a)].sum())
        reach = self.src[v] > 0
        cols = np.arange(self.K) if full or leave > EPS else np.flatnonzero(reach)
        gain = np.full(self.K, -np.inf)
        if len(cols):
            empty = self.src[np.ix_(u, cols)] == 0
            empty &= own[:, None] != cols[None, :]
            gain[cols] = leave - r @ empty + p.rate[v] * (reach[cols].astype(np.float64) - float(reach[a]))
        gain[a] = 0.0
        return gain

    # -- moves -----------------------------------------------------------------------------------
    def move(self, v: int, b: int) -> None:
        """Move `v` to core `b`, updating every count and load exactly."""
        p, a = self.p, int(self.assign[v])
        if a == b:
            return
        nets = p.in_nets(v)
        proj = p.net_proj[nets]
        sparse = ~p.proj_dense[proj]
        ca, cb = self.cnt[nets, a].astype(np.int64), self.cnt[nets, b].astype(np.int64)
        L = self.loads
        L[a, 1] -= np.count_nonzero(ca == 1)
        L[b, 1] += np.count_nonzero(cb == 0)
        oa, ob = p.lut_off[proj] + ca, p.lut_off[proj] + cb
        L[a, 3] += float((p.lut[oa - 1] - p.lut[oa])[sparse].sum())
        L[b, 3] += float((p.lut[ob + 1] - p.lut[ob])[sparse].sum())
        for k in self.dense_in[p.group_of[v]]:
            mine = proj == k
            self._dense(k, a, -1, -int(np.count_nonzero(mine & (ca == 1))))
            self._dense(k, b, +1, int(np.count_nonzero(mine & (cb == 0))))
        self.cnt[nets, a] -= 1
        self.cnt[nets, b] += 1
        src = p.net_src[nets]
        np.add.at(self.src, (src, a), -1)
        np.add.at(self.src, (src, b), 1)
        dl = (cb == 0).astype(np.int64) - (ca == 1)
        self.lam[nets] += dl
        placed = src < p.n
        np.add.at(L[:, 2], self.own[src[placed]], dl[placed])
        mine = self.lam[p.out_nets(v)].sum()
        L[a, 2] -= mine
        L[b, 2] += mine
        L[a, 0] -= p.slots[v]
        L[b, 0] += p.slots[v]
        self.assign[v] = b
        self.own[v] = b

    def _dense(self, k: int, core: int, drow: int, dpresent: int) -> None:
        p = self.p
        off = p.lut_off[k]
        before = self.present[k, core] * p.lut[off + self.rows[k, core]]
        self.rows[k, core] += drow
        self.present[k, core] += dpresent
        self.loads[core, 3] += float(self.present[k, core] * p.lut[off + self.rows[k, core]] - before)

    def touched(self, v: int) -> np.ndarray:
        """Cores a move of `v` can push over a limit: its own and its sources' cores."""
        src = self.p.net_src[self.p.in_nets(v)]
        return np.unique(np.concatenate([[self.assign[v]], self.own[src[src < self.p.n]]]))

    def legal_at(self, cores: np.ndarray) -> bool:
        return bool(np.all(self.loads[cores] <= self.limit[None, :]))

    def fits_at(self, v: int, b: int) -> bool:
        """Whether core `b` can take `v` (its own resources only; a necessary condition)."""
        p = self.p
        nets = p.in_nets(v)
        cb = self.cnt[nets, b]
        proj = p.net_proj[nets]
        sparse = ~p.proj_dense[proj]
        ob = p.lut_off[proj] + cb
        load = self.loads[b].copy()
        load[0] += p.slots[v]
        load[1] += np.count_nonzero(cb == 0)
        load[2] += self.lam[p.out_nets(v)].sum()
        load[3] += float((p.lut[ob + 1] - p.lut[ob])[sparse].sum())
        return bool(np.all(load <= self.limit))

    def try_move(self, v: int, b: int) -> bool:
        """Move `v` to `b` if every touched core stays legal."""
        a = int(self.assign[v])
        if not self.fits_at(v, b):
            return False
        self.move(v, b)
        if self.legal_at(np.union1d(self.touched(v), [a])):
            return True
        self.move(v, a)
        return False


def refine(problem: Problem, assign: np.ndarray, K: int, *, movable: np.ndarray | None = None,
           passes: int = 8, tol: float = 1e-3, tries: int = 3, progress=None) -> tuple[np.ndarray, dict]:
    """A legal assignment of lower (never higher) traffic than `assign` (module docstring)."""
    st = State(problem, assign, K)
    start = st.traffic()
    todo = np.flatnonzero(movable) if movable is not None else np.arange(problem.n)
    moves, done = 0, 0
    for done in range(1, passes + 1):
        gained = 0.0
        for v in todo:
            gain = st.gains(int(v))
            for b in np.argsort(-gain, kind="stable")[:tries]:
                if gain[b] <= EPS:
                    break
                if st.try_move(int(v), int(b)):
                    gained += float(gain[b])
                    moves += 1
                    break
        if progress is not None:
            progress(f"refine pass {done}: {gained:.4g} messages/tick saved")
        if gained <= tol * max(start, EPS):
            break
    return st.assign, {"moves": moves, "passes": done, "traffic_before": start, "traffic_after": st.traffic()}


def dissolve(problem: Problem, assign: np.ndarray, K: int, *, movable: np.ndarray | None = None,
             attempts: int = 8) -> tuple[np.ndarray, int]:
    """Try to empty the least loaded cores into the others; (assignment renumbered, cores emptied)."""
    st = State(problem, assign, K)
    ok_v = np.ones(problem.n, bool) if movable is None else movable
    lim = st.limit
    emptied = 0
    share = np.max(np.where(np.isfinite(lim), st.loads / np.where(np.isfinite(lim), lim, 1), 0), axis=1)
    for core in np.argsort(share, kind="stable")[:attempts]:
        members = np.flatnonzero(st.assign == core)
        if not len(members) or not ok_v[members].all():
            continue
        done = []
        for v in members:
            gain = st.gains(int(v), full=True)
            gain[core] = -np.inf
            gain[np.bincount(st.assign, minlength=K) == 0] = -np.inf
            moved = False
            for b in np.argsort(-gain, kind="stable"):
                if not np.isfinite(gain[b]):
                    break
                if st.try_move(int(v), int(b)):
                    moved = True
                    done.append(int(v))
                    break
            if not moved:
                for u in reversed(done):
                    st.move(u, int(core))
                break
        else:
            emptied += 1
    used = np.unique(st.assign)
    renumber = np.full(K, -1, np.int64)
    renumber[used] = np.arange(len(used))
    return renumber[st.assign], emptied
