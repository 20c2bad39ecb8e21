"""Fused steppers of the `truenorth.*` dialect.

A mapped TrueNorth network is hundreds of `truenorth.core` nodes and thousands of
`truenorth.route` nodes; stepped node by node, Python overhead is most of a tick, and the
crossbars hold several times the source model's synapses. Here (see `snnc.interp.fusion`):

  * `network.NetworkGroup` (a region fuser): each region of deterministic cores and the
    routes between them (region.py) as one step per tick, each set of identical neurons
    computed once and duplicated axons folded (classes.py, stages.py).
  * What no region holds (stochastic cores, strict mode, probed routes) steps by depth:
  * `CoreGroup`: deterministic cores (no stochastic synapse, leak or threshold) of one
    depth and one crossbar shape: one batched matmul of active axons [C, B, A] with the
    effective weights c_ij · s_j^{G_i} [C, A, N] (float32: every column's absolute sum is
    below 2^24, else float64 below 2^53, else int64), then the neuron equations of ops.Core
    vectorised over [C, B, N]. Stochastic cores keep their own stepper and PRN stream.
  * `RouteGroup`: the routes of one depth as one scheduler ring over all their destination
    ports; each destination receives the sum of its routes (`fusion.Into`).
"""
from __future__ import annotations

import numpy as np

from snnc.backends.truenorth.ops import RESET_LINEAR, RESET_NORMAL, Core, Route
from snnc.errors import SimulationError
from snnc.backends.truenorth.network import NetworkGroup
from snnc.backends.truenorth.region import deterministic as _deterministic
from snnc.backends.truenorth.region import regions
from snnc.interp import jit
from snnc.interp.fusion import (Group, Into, MembersGroup, exact_matmul_dtype, register_fuser,
                                register_region_fuser)


@register_region_fuser(Core, Route)
def fuse_network(graph, names, ctx, batch, probed):
    """One `NetworkGroup` per region (none in strict mode: there the first saturating neuron is
    named in node order, by the cores' own steppers)."""
    if ctx.strict:
        return []
    key = ("truenorth.regions", tuple(names), frozenset(probed))
    if key not in graph.derived:
        graph.derived[key] = regions(graph, names, probed)
    return [NetworkGroup(graph, r, names, ctx, batch, probed) for r in graph.derived[key]]


@register_fuser(Core)
def fuse_cores(graph, names, ctx, batch, probed):
    buckets: dict[tuple, list[str]] = {}
    for n in names:
        op = graph.op(n)
        if _deterministic(op):
            buckets.setdefault(op.crossbar.shape, []).append(n)
    return [CoreGroup(graph, ns, ctx, batch) for ns in buckets.values() if len(ns) > 1]


def _per_neuron(ops, f) -> np.ndarray:
    """[C, 1, N] int64 from one [N] array per core."""
    return np.stack([np.asarray(f(op), np.int64) for op in ops])[:, None, :]


def _core_loop(act, w, summed, v, lam, sigma_lam, reversal, v_lo, v_hi, alpha, beta, kappa, normal, linear, reset,
               out):
    """ops.Core without noise (η = 0), element by element, v updated in place. Step 1 takes the
    synaptic sums from `summed` [C, B, N] when it has any rows, else adds the weight row of every
    active axon (work ∝ spikes); steps 2-4 follow per neuron."""
    cores, batch, n = v.shape
    syn = np.zeros(n, np.int64)
    for c in range(cores):
        for b in range(batch):
            if summed.shape[0]:
                syn[:] = summed[c, b]
            else:
                syn[:] = 0
                for i in range(act.shape[2]):
                    if act[c, b, i]:
                        for j in range(n):
                            syn[j] += w[c, i, j]
            for j in range(n):
                x = v[c, b, j] + syn[j]
                omega = sigma_lam[c, 0, j]
                if reversal[c, 0, j]:
                    omega = omega * ((x > 0) - (x < 0))
                x += omega * lam[c, 0, j]
                x = min(max(x, v_lo[c, 0, 0]), v_hi[c, 0, 0])
                fire = x >= alpha[c, 0, j]
                if fire:
                    x = reset[c, 0, j] if normal[c, 0, j] else (x - alpha[c, 0, j] if linear[c, 0, j] else x)
                elif x < -beta[c, 0, j]:
                    if kappa[c, 0, j]:
                        x = -beta[c, 0, j]
                    elif normal[c, 0, j]:
                        x = -reset[c, 0, j]
                    elif linear[c, 0, j]:
                        x = x + beta[c, 0, j]
                v[c, b, j] = x
                out[c, b, j] = 1 if fire else 0


_core_kernel = jit.kernel(_core_loop)


class CoreGroup(MembersGroup):
    """C deterministic cores of one shape [A, N] (steps.CoreStepper's arithmetic)."""

    #: with compiled kernels, a tick with at most this fraction of active axons is summed spike
    #: by spike, a denser one by the matmul (the same integers either way). A matmul of a few
    #: samples is bound by reading the weights, of many by arithmetic: the fraction falls with B.
    @staticmethod
    def event_density(batch: int) -> float:
        return min(0.5, max(0.08, 0.5 / np.sqrt(batch)))

    def __init__(self, graph, names, ctx, batch):
        super().__init__(names, ctx, batch)
        ops = [graph.op(n) for n in names]
        w = np.stack([op.crossbar * op.weight[:, op.axon_type].T for op in ops])     # [C, A, N]
        self.w_int = w.astype(np.int32) if np.abs(w).max(initial=0) < 1 << 31 else w
        self.density = self.event_density(batch)
        self._no_sums = np.zeros((0, 0, 0), np.int64)
        self.w = w.astype(exact_matmul_dtype(int(np.abs(w).sum(axis=1).max(initial=0))))
        self.lam = _per_neuron(ops, lambda op: np.abs(op.leak))
        self.sigma_lam = _per_neuron(ops, lambda op: np.sign(op.leak))
        self.reversal = _per_neuron(ops, lambda op: op.leak_reversal).astype(bool)
        self.any_reversal = bool(self.reversal.any())
        self.bits = [op.membrane_bits for op in ops]
        half = np.array([1 << (b - 1) for b in self.bits], np.int64)[:, None, None]
        self.v_lo, self.v_hi = -half, half - 1
        self.alpha = _per_neuron(ops, lambda op: op.alpha)
        self.beta = _per_neuron(ops, lambda op: op.beta)
        kappa = _per_neuron(ops, lambda op: op.saturate).astype(bool)
        gamma = _per_neuron(ops, lambda op: op.reset_mode)
        reset = _per_neuron(ops, lambda op: op.reset_value)
        self.normal, self.linear, self.kappa, self.reset = gamma == RESET_NORMAL, gamma == RESET_LINEAR, kappa, reset
        self.v = np.zeros((len(ops), batch, ops[0].neurons), np.int64)
        self.tick = 0

    def _active(self, xs, dtype) -> np.ndarray:
        act = np.zeros((len(xs), self.batch, self.w.shape[1]), dtype)
        for c, x in enumerate(xs):
            if x is not None:
                np.not_equal(x, 0, out=act[c])
        return act

    def step(self, xs):
        act = self._active(xs, self.w.dtype)
        sparse = np.count_nonzero(act) <= self.density * act.size
        syn = self._no_sums if sparse else np.matmul(act, self.w)
        syn = syn.astype(np.int64) if syn.dtype != np.int64 else syn
        if _core_kernel is not None and self.ctx.jit and not self.ctx.strict:
            out = np.empty_like(self.v)
            _core_kernel(act, self.w_int, syn, self.v, self.lam, self.sigma_lam, self.reversal, self.v_lo, self.v_hi,
                         self.alpha, self.beta, self.kappa, self.normal, self.linear, self.reset, out)
            self.tick += 1
            return list(out)
        if sparse:
            syn = np.matmul(act, self.w).astype(np.int64)
        v = self.v + syn
        omega = np.where(self.reversal, self.sigma_lam * np.sign(v), self.sigma_lam) if self.any_reversal \
            else self.sigma_lam
        v += omega * self.lam
        if self.ctx.strict:
            self._overflow(v)
        np.clip(v, self.v_lo, self.v_hi, out=v)
        fire = v >= self.alpha
        below = ~fire & (v < -self.beta)
        up = np.where(self.normal, self.reset, np.where(self.linear, v - self.alpha, v))
        down = np.where(self.kappa, -self.beta, np.where(self.normal, -self.reset,
                                                         np.where(self.linear, v + self.beta, v)))
        self.v = np.where(fire, up, np.where(below, down, v))
        self.tick += 1
        out = fire.astype(np.int64)
        return list(out)

    def _overflow(self, v) -> None:
        over = (v < self.v_lo) | (v > self.v_hi)
        if not over.any():
            return
        c, b, j = (int(i) for i in np.argwhere(over)[0])
        raise SimulationError(f"node '{self.members[c]}' (truenorth.core) tick {self.tick}, sample {b}, neuron {j}: "
                              f"membrane V = {int(v[c, b, j])} saturates (range [{int(self.v_lo[c, 0, 0])}, "
                              f"{int(self.v_hi[c, 0, 0])}], membrane_bits {self.bits[c]}) (strict mode)")

    def state(self, member):
        return {"v": self.v[self.members.index(member)]}


@register_fuser(Route)
def fuse_routes(graph, names, ctx, batch, probed):
    ok = [n for n in names if n not in probed and graph.out_edges(n)
          and all(not e.recurrent for e in graph.out_edges(n))]
    return [RouteGroup(graph, ok, ctx, batch)] if len(ok) > 1 else []


class RouteGroup(Group):
    """Routes of one depth: one ring of scheduler slots over all their destination ports."""

    def __init__(self, graph, names, ctx, batch):
        self.members, self.batch = tuple(names), batch
        sources: dict[tuple, int] = {}                 # routes fed by the same edges read one input
        reps = []
        for n in names:
            key = tuple(sorted((e.src, e.src_port, e.recurrent) for e in graph.in_edges(n)))
            if key not in sources:
                sources[key] = len(reps)
                reps.append(n)
        which = [sources[tuple(sorted((e.src, e.src_port, e.recurrent) for e in graph.in_edges(n)))] for n in names]
        self.inputs = tuple((n, "input") for n in reps)
        dests: dict[tuple, list[str]] = {}
        for n in names:
            for e in graph.out_edges(n):
                dests.setdefault((e.dst, e.dst_port), []).append(n)
        self.outputs = tuple(Into(c, p, tuple(ms)) for (c, p), ms in dests.items())
        sizes = {n: graph.op(n).n_axons for n in names}
        width = {k: sizes[ms[0]] for k, ms in dests.items()}
        dst_off = dict(zip(dests, np.concatenate([[0], np.cumsum(list(width.values()))]).astype(int)))
        src_off = np.concatenate([[0], np.cumsum([graph.op(n).n_in for n in reps])]).astype(int)
        src, dst, delay = [], [], []
        for i, n in zip(which, names):
            op = graph.op(n)
            for e in graph.out_edges(n):
                src.append(src_off[i] + op.source)
                dst.append(dst_off[(e.dst, e.dst_port)] + op.axon)
                delay.append(op.delay)
        src, dst, delay = (np.concatenate(a) if a else np.zeros(0, np.int64) for a in (src, dst, delay))
        self.length = int(delay.max(initial=0)) + 1
        total = int(sum(width.values()))
        n_src = int(src_off[-1])
        self.by_delay = []                         # (delay, gather index per destination, or add.at pairs)
        for d in np.unique(delay):
            k = delay == d
            if len(np.unique(dst[k])) == int(k.sum()):
                gather = np.full(total, n_src, np.int64)           # column n_src is always 0
                gather[dst[k]] = src[k]
                self.by_delay.append((int(d), gather, None))
            else:
                self.by_delay.append((int(d), src[k], dst[k]))
        self.ring = np.zeros((self.length, batch, total), np.int64)
        self.slices = [slice(dst_off[k], dst_off[k] + width[k]) for k in dests]
        self.n_in = [graph.op(n).n_in for n in reps]
        self.tick = 0

    def step(self, xs):
        parts = [np.zeros((self.batch, n), bool) if x is None else (x.reshape(self.batch, -1) != 0)
                 for x, n in zip(xs, self.n_in)]
        parts.append(np.zeros((self.batch, 1), bool))
        spikes = np.concatenate(parts, axis=1).view(np.int8)
        for d, idx, dst in self.by_delay:
            slot = self.ring[(self.tick + d) % self.length]
            if dst is None:
                slot += np.take(spikes, idx, axis=1)
            else:
                np.add.at(slot, (slice(None), dst), np.take(spikes, idx, axis=1).astype(np.int64))
        now = self.tick % self.length
        out = self.ring[now].copy()
        self.ring[now] = 0
        self.tick += 1
        return [out[:, s] for s in self.slices]

    def state(self, member):
        return {}

