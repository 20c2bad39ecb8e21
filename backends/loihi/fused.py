"""Fused steppers of the `loihi.*` dialect: a partitioned network stepped a layer at a time.

Lowering splits every population into core parts (`loihi.cuba` nodes) and every synapse
node into blocks (`loihi.dense`, one per source part × destination part). Stepped node by
node that is ~100 small steps per tick; here the engine's fusers (`snnc.interp.fusion`)
step them as a few large ones, with exactly the blocks' own arithmetic (ops.py):

  * `CubaGroup`: every `loihi.cuba` node of one depth (and one reset mode and output kind)
    as one vectorised update over all their compartments: the equations are elementwise.
  * `DenseGroup`: delay-free `loihi.dense` blocks, by connected component of sources and
    destination ports. Each block is summed, then shifted by its own row exponents (Lava's
    order; floor for negative exponents), then added into its destination. Blocks that
    read one source and reach distinct destinations are one matrix (a *lane*): one exact
    matmul per lane, one shift per lane. When every destination row's exponent is the same
    non-negative number in every lane, shifting the sum equals summing the shifts, and the
    lanes become one matmul over the concatenated sources.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.loihi.ops import (ACTIVATION_SHIFT, DECAY_SHIFT, STATE_BITS, THRESHOLD_SHIFT,
                                     U_DECAY_OFFSET, V_DECAY_OFFSET, Cuba, Dense)
from snnc.errors import SimulationError
from snnc.interp import fixed
from snnc.interp import jit
from snnc.interp.fusion import Group, Into, MembersGroup, exact_matmul_dtype, register_fuser

_HALF = 1 << (STATE_BITS - 1)
_V_MAX = _HALF - 1
_ROUND = (1 << DECAY_SHIFT) - 1


def trunc_decay(x: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """`fixed.decay_toward_zero(x, mult, DECAY_SHIFT)` for mult ≥ 0, in four int64 ops:
    adding 2^12 − 1 to a negative product before the arithmetic shift rounds it toward zero."""
    p = x * mult
    bias = p >> 63
    bias &= _ROUND
    p += bias
    p >>= DECAY_SHIFT
    return p


def _cuba_loop(a, u, v, z, refrac_left, u_mult, v_mult, theta, bias, refractory, subtract, graded, out):
    """CubaStepper's tick, element by element (int64 throughout; non-strict)."""
    batch, n = a.shape
    for b in range(batch):
        for k in range(n):
            p = u[b, k] * u_mult[k]
            uu = (-((-p) >> DECAY_SHIFT) if p < 0 else p >> DECAY_SHIFT) + (a[b, k] << ACTIVATION_SHIFT)
            if uu > _HALF:                                # wrap_once_upper
                uu -= 2 * _HALF
            elif uu <= -_HALF:
                uu += 2 * _HALF
            u[b, k] = uu
            refr = refrac_left[b, k] > 0
            if refr:
                vv = v[b, k]
            else:
                q = v[b, k] * v_mult[k]
                vv = (-((-q) >> DECAY_SHIFT) if q < 0 else q >> DECAY_SHIFT) + uu + bias[k]
            if subtract and z[b, k]:
                vv -= theta[k]
            vv = min(max(vv, -_V_MAX), _V_MAX)
            spike = vv > theta[k] and not refr
            out[b, k] = (vv if graded else 1) if spike else 0
            v[b, k] = 0 if spike and not subtract else vv
            refrac_left[b, k] = refractory[k] if spike else refrac_left[b, k] - refr
            z[b, k] = spike


_cuba_kernel = jit.kernel(_cuba_loop)


class CubaGroup(MembersGroup):
    """Many `loihi.cuba` nodes as one flat compartment vector (steps.CubaStepper's arithmetic)."""

    def __init__(self, graph, names, ctx, batch):
        super().__init__(names, ctx, batch)
        ops = [graph.op(n) for n in names]
        self.shapes = [op.shape for op in ops]
        sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        cat = lambda f: np.concatenate([np.asarray(f(op), np.int64).reshape(-1) for op in ops])  # noqa: E731
        one = 1 << DECAY_SHIFT
        self.u_mult = one - (cat(lambda op: op.du) + U_DECAY_OFFSET)
        self.v_mult = one - (cat(lambda op: op.dv) + V_DECAY_OFFSET)
        self.theta = fixed.shift_left(cat(lambda op: op.vth_mant), THRESHOLD_SHIFT)
        self.bias = fixed.shift_by_exponent(cat(lambda op: op.bias_mant), cat(lambda op: op.bias_exp))
        self.refractory = cat(lambda op: op.refractory)
        self.has_refractory = bool(self.refractory.any())
        self.subtract, self.graded = ops[0].reset_mode == "subtract", ops[0].graded
        n = int(self.bounds[-1])
        self.u = np.zeros((batch, n), np.int64)
        self.v = np.zeros((batch, n), np.int64)
        self.z = np.zeros((batch, n), bool)
        self.refrac_left = np.zeros((batch, n), np.int64)
        self.tick = 0

    def _input(self, xs) -> np.ndarray:
        parts = []
        for name, shape, x in zip(self.members, self.shapes, xs):
            if x is None:
                x = np.zeros((self.batch, *shape), np.int64)
            elif x.dtype != np.int64:
                try:
                    x = fixed.as_int64(x, "input")
                except ValueError as exc:
                    raise SimulationError(f"node '{name}' tick {self.tick}: {exc}") from None
            parts.append(x.reshape(self.batch, -1))
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0].copy()

    def step(self, xs):
        a = self._input(xs)
        if _cuba_kernel is not None and self.ctx.jit and not self.ctx.strict:
            out = np.empty_like(a)
            _cuba_kernel(a, self.u, self.v, self.z, self.refrac_left, self.u_mult, self.v_mult, self.theta,
                         self.bias, self.refractory, self.subtract, self.graded, out)
            self.tick += 1
            return self._split(out)
        return self._split(self._numpy_step(a))

    def _split(self, out):
        return [out[:, a:b].reshape(self.batch, *s) for a, b, s in zip(self.bounds, self.bounds[1:], self.shapes)]

    def _numpy_step(self, a):
        a <<= ACTIVATION_SHIFT
        u = trunc_decay(self.u, self.u_mult)
        u += a
        if self.ctx.strict:
            self._overflow(fixed.wrap_once_upper_overflow(u, STATE_BITS), u, "current u",
                           f"wraps (24-bit range is ({-_HALF}, {_HALF}])")
        self.u = u = fixed.wrap_once_upper(u, STATE_BITS)
        v = trunc_decay(self.v, self.v_mult)
        v += u
        v += self.bias
        if self.has_refractory:
            refractory = self.refrac_left > 0
            v = np.where(refractory, self.v, v)
        if self.subtract:
            v -= self.theta * self.z
        if self.ctx.strict:
            self._overflow(fixed.saturate_symmetric_overflow(v, STATE_BITS), v, "voltage v",
                           f"saturates (limit ±{_V_MAX})")
        np.clip(v, -_V_MAX, _V_MAX, out=v)
        z = v > self.theta
        if self.has_refractory:
            z &= ~refractory
            self.refrac_left = np.where(z, self.refractory, self.refrac_left - refractory)
        out = np.where(z, v, 0) if self.graded else z.astype(np.int64)
        self.v = v if self.subtract else np.where(z, 0, v)
        self.z = z
        self.tick += 1
        return out

    def _overflow(self, mask, values, what, limit) -> None:
        if not mask.any():
            return
        b, k = (int(i) for i in np.argwhere(mask)[0])
        m = int(np.searchsorted(self.bounds, k, side="right")) - 1
        local = np.unravel_index(k - self.bounds[m], self.shapes[m])
        neuron = tuple(int(i) for i in local) if len(local) > 1 else int(local[0])
        raise SimulationError(f"node '{self.members[m]}' (loihi.cuba) tick {self.tick}, sample {b}, "
                              f"neuron {neuron}: {what} = {int(values[b, k])} {limit} (strict mode)")

    def state(self, member):
        m = self.members.index(member)
        a, b, s = self.bounds[m], self.bounds[m + 1], self.shapes[m]
        return {k: getattr(self, k)[:, a:b].reshape(self.batch, *s) for k in ("u", "v")} | \
            {"refractory_left": self.refrac_left[:, a:b].reshape(self.batch, *s)}


@register_fuser(Cuba)
def fuse_cuba(graph, names, ctx, batch, probed):
    by_kind: dict[tuple, list[str]] = {}
    for n in names:
        op = graph.op(n)
        by_kind.setdefault((op.reset_mode, op.graded), []).append(n)
    return [CubaGroup(graph, ns, ctx, batch) for ns in by_kind.values() if len(ns) > 1]


# -- synapse blocks -----------------------------------------------------------------------------
def _fusable_block(graph, name, probed) -> bool:
    op = graph.op(name)
    if name in probed or op.delay.any():
        return False
    outs = graph.out_edges(name)
    return bool(outs) and all(not e.recurrent and e.src_port == "output" for e in outs)


def _source_key(graph, name) -> tuple:
    return tuple(sorted((e.src, e.src_port, e.recurrent) for e in graph.in_edges(name)))


def _components(graph, names) -> list[list[str]]:
    """Blocks joined by a shared source or a shared destination port, one graded kind each."""
    parent = {n: n for n in names}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n
    first: dict[tuple, str] = {}
    for n in names:
        keys = [("src", graph.op(n).graded, _source_key(graph, n))]
        keys += [("dst", e.dst, e.dst_port) for e in graph.out_edges(n)]
        for k in keys:
            if k in first:
                parent[find(n)] = find(first[k])
            else:
                first[k] = n
    comps: dict[str, list[str]] = {}
    for n in names:
        comps.setdefault(find(n), []).append(n)
    return list(comps.values())


@register_fuser(Dense)
def fuse_dense(graph, names, ctx, batch, probed):
    fusable = [n for n in names if _fusable_block(graph, n, probed)]
    groups = []
    for comp in _components(graph, fusable):
        graded = {graph.op(n).graded for n in comp}
        if len(graded) == 1:
            groups.append(DenseGroup(graph, comp, ctx, batch))
    return groups


class _Lane:
    """Blocks reading one source into distinct destination columns: one matrix [n_in, N_C]."""

    def __init__(self, source: int, n_in: int, width: int):
        self.source = source
        self.w = np.zeros((n_in, width), np.int64)
        self.exp = np.zeros(width, np.int64)
        self.used = np.zeros(width, bool)

    def free(self, lo: int, hi: int) -> bool:
        return not self.used[lo:hi].any()

    def add(self, op: Dense, lo: int, hi: int) -> None:
        self.w[:, lo:hi] = op.weight.T
        self.exp[lo:hi] = op.weight_exp
        self.used[lo:hi] = True


class DenseGroup(Group):
    """A component of delay-free `loihi.dense` blocks; gives each destination port its summed input."""

    delayed = True

    def __init__(self, graph, names, ctx, batch):
        self.members, self.ctx, self.batch = tuple(names), ctx, batch
        self.graded = graph.op(names[0]).graded
        sources, reps, dests, edges = {}, [], {}, {}
        for n in names:
            key = _source_key(graph, n)
            if key not in sources:
                sources[key] = len(reps)
                reps.append(n)
            for e in graph.out_edges(n):
                dests.setdefault((e.dst, e.dst_port), graph.op(n).weight.shape[0])
                edges.setdefault((e.dst, e.dst_port), []).append(n)
        self.inputs = tuple((n, "input") for n in reps)
        self.outputs = tuple(Into(c, p, tuple(edges[(c, p)])) for c, p in dests)
        offsets = np.concatenate([[0], np.cumsum(list(dests.values()))]).astype(int)
        self.slices = [slice(a, b) for a, b in zip(offsets, offsets[1:])]
        width = int(offsets[-1])
        lanes: list[_Lane] = []
        for n in names:
            op, src = graph.op(n), sources[_source_key(graph, n)]
            for e in graph.out_edges(n):
                k = list(dests).index((e.dst, e.dst_port))
                lo, hi = offsets[k], offsets[k + 1]
                lane = next((l for l in lanes if l.source == src and l.free(lo, hi)), None)
                if lane is None:
                    lane = _Lane(src, op.weight.shape[1], width)
                    lanes.append(lane)
                lane.add(op, lo, hi)
        self._plan(lanes, width)
        self.pending = [np.zeros((batch, width), np.int64)]
        self.tick = 0

    def _plan(self, lanes: list[_Lane], width: int) -> None:
        """One merged matrix when shifting the sum equals summing the shifts (every column
        reached by two or more lanes has one exponent there, and it is >= 0), else a stack
        of lanes, each shifted before the lanes are added."""
        used = np.stack([l.used for l in lanes])
        exps = np.stack([l.exp for l in lanes])
        shared = used.sum(axis=0) > 1
        hi = np.where(used, exps, np.iinfo(np.int64).min).max(axis=0)
        lo = np.where(used, exps, np.iinfo(np.int64).max).min(axis=0)
        if len(lanes) > 1 and not np.any(shared & ((hi != lo) | (lo < 0))):
            exp = np.where(used.any(axis=0), hi, 0)
            self.product = _Lanes([np.concatenate([l.w for l in lanes])], exp[None],
                                  [tuple(l.source for l in lanes)])
        else:
            self.product = _Lanes([l.w for l in lanes], exps, [(l.source,) for l in lanes])

    def emit(self):
        y = self.pending[0]
        return [y[:, s] for s in self.slices]

    def absorb(self, xs):
        if self.graded:
            xs = [self._integers(n, x) for (n, _), x in zip(self.inputs, xs)]
        self.pending[0] = self.product(xs, self.batch, not self.graded)
        self.tick += 1

    def _integers(self, name, x):
        if x is None or x.dtype == np.int64:
            return x
        try:
            return fixed.as_int64(x, "input")
        except ValueError as exc:
            raise SimulationError(f"node '{name}' tick {self.tick}: {exc}") from None

    def state(self, member):
        return {}


class _Lanes:
    """Σ_l shift_by_exponent(S_l @ W_l, exp_l) over lanes l, exactly.

    S_l is the concatenation of lane l's sources. The lanes run as one stacked matmul in
    float32 or float64 (zero-padded to one depth) wherever every partial sum, every shifted
    lane and their total stay below 2^24 or 2^53: a float holds those integers exactly,
    scaling by 2^e is exact, and floor after scaling is Lava's floor shift. Otherwise each
    lane is summed in int64 and shifted by `fixed.shift_by_exponent`.
    """

    def __init__(self, weights: list[np.ndarray], exps: np.ndarray, sources: list[tuple[int, ...]]):
        self.sources, self.exps = sources, exps
        self.widths = [w.shape[0] for w in weights]
        depth = max(self.widths)
        self.w = np.zeros((len(weights), depth, weights[0].shape[1]), np.int64)
        for l, w in enumerate(weights):
            self.w[l, :w.shape[0]] = w
        col_abs = np.abs(self.w).sum(axis=1).max(axis=1)                  # per lane
        self.lane_bound = int(col_abs.max(initial=0))
        self.total_bound = int((col_abs * 2.0 ** np.maximum(exps.max(axis=1), 0)).sum())
        self.scale = {}
        self.cast = {}
        self.floor = bool(np.any(exps < 0))
        self.plain = not exps.any()

    def _as(self, dtype):
        if dtype not in self.cast:
            self.cast[dtype] = self.w.astype(dtype)
            self.scale[dtype] = np.ldexp(np.ones(1, dtype), self.exps)[:, None, :].astype(dtype)
        return self.cast[dtype], self.scale[dtype]

    def _stack(self, xs: list, batch: int, dtype, binary: bool) -> np.ndarray:
        s = np.zeros((len(self.sources), batch, self.w.shape[1]), dtype)
        for l, srcs in enumerate(self.sources):
            col = 0
            for i in srcs:
                x = xs[i]
                n = x.shape[-1] if x is not None else 0
                if x is not None:
                    x = x.reshape(batch, -1)
                    n = x.shape[1]
                    if binary:
                        np.not_equal(x, 0, out=s[l, :, col:col + n])
                    else:
                        s[l, :, col:col + n] = x
                col += n
        return s

    def __call__(self, xs: list, batch: int, binary: bool) -> np.ndarray:
        peak = 1 if binary else max((int(np.abs(x).max(initial=0)) for x in xs if x is not None), default=0)
        dtype = exact_matmul_dtype(max(peak * self.total_bound, peak * self.lane_bound))
        if dtype is np.int64:
            return self._integer(xs, batch, binary)
        w, scale = self._as(dtype)
        y = np.matmul(self._stack(xs, batch, dtype, binary), w)
        if not self.plain:
            y *= scale
            if self.floor:
                np.floor(y, out=y)
        total = y[0] if len(y) == 1 else y.sum(axis=0)
        return total.astype(np.int64)

    def _integer(self, xs, batch, binary) -> np.ndarray:
        s = self._stack(xs, batch, np.int64, binary)
        total = None
        for l in range(len(self.sources)):
            y = fixed.shift_by_exponent(s[l] @ self.w[l], self.exps[l])
            total = y if total is None else total + y
        return total
