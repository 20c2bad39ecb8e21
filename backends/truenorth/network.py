"""`NetworkGroup`: a region of a mapped TrueNorth network (region.py) stepped as one.

Per tick: the outside inputs become stage 0's spikes; each stage then sums, for each of its
columns, the spikes its rows read (signal σ at tick t − d, from a ring of past ticks per
stage): dense blocks by matmul (exact: float32 where every column's absolute sum is below
2^24, float64 below 2^53, else int64), the other columns entry by entry, or, for runs of
few samples, every entry of the active rows only; then it runs ops.Core's neuron equations
(η = 0) on its classes. Last, the values leaving the region are gathered: spikes of cores
read outside, and the spike counts of the routes into outside nodes. Each class is one
neuron's state, whatever its copies. Arrays are neuron-major, the batch innermost.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.truenorth import kernels
from snnc.backends.truenorth.classes import REGISTERS, neuron_classes
from snnc.backends.truenorth.ops import RESET_LINEAR, RESET_NORMAL
from snnc.backends.truenorth.region import Wiring, wiring
from snnc.backends.truenorth.stages import Stages, build_stages
from snnc.interp.fusion import Group, Into, Value, exact_matmul_dtype

_R = {f: k for k, f in enumerate((*REGISTERS, "membrane_bits"))}
#: runs of at most this many samples sum each stage spike by spike (compiled kernels), reading
#: only active rows; larger ones by dense blocks (a matmul reads every row, but at BLAS speed)
ROW_BATCH = 4


def analysis(graph, region: frozenset[str], order: list[str], probed) -> tuple[Wiring, object, Stages]:
    """The region's wiring, classes and stages, computed once per graph."""
    key = ("truenorth.network", region, frozenset(probed) & region)
    if key not in graph.derived:
        w = wiring(graph, region, order, probed)
        c = neuron_classes(graph, w)
        graph.derived[key] = (w, c, build_stages(c))
    return graph.derived[key]


class _Registers:
    """One stage's class registers as the kernels read them, int64 [n] each."""

    def __init__(self, regs: np.ndarray):
        col = lambda f: np.ascontiguousarray(regs[:, _R[f]], np.int64)  # noqa: E731
        leak = col("leak")
        self.lam, self.sigma_lam, self.reversal = np.abs(leak), np.sign(leak), col("leak_reversal")
        half = np.int64(1) << (col("membrane_bits") - 1)
        self.v_lo, self.v_hi = -half, half - 1
        self.alpha, self.beta, self.kappa = col("alpha"), col("beta"), col("saturate")
        gamma = col("reset_mode")
        self.normal, self.linear = (gamma == RESET_NORMAL).astype(np.int64), (gamma == RESET_LINEAR).astype(np.int64)
        self.reset = col("reset_value")

    def v_bound(self) -> int:
        """The largest |V| after a tick: within the membrane range, or a reset to ±R or −β."""
        return int(max(np.abs(self.v_lo).max(initial=0), np.abs(self.reset).max(initial=0),
                       self.beta.max(initial=0)))

    def args(self, j: slice = slice(None)) -> tuple:
        """The registers of classes `j`, in the kernel's order."""
        return tuple(a[j] for a in (self.lam, self.sigma_lam, self.reversal, self.v_lo, self.v_hi, self.alpha,
                                    self.beta, self.kappa, self.normal, self.linear, self.reset))


class NetworkGroup(Group):
    """Every core and route of one region, one step per tick."""

    def __init__(self, graph, region, order, ctx, batch, probed):
        w, c, st = analysis(graph, region, order, probed)
        self.ctx, self.batch, self.tick = ctx, batch, 0
        self.compiled = bool(ctx.jit) and kernels.neuron_kernel is not None
        self.members = w.members
        self.inputs = tuple((r, "input") for r in w.inputs)
        self.in_slices = _slices(w.input_sizes)
        self._layout(w, c, st)
        self.stages = [self._stage_table(k, s, c, st) for k, s in enumerate(st.stages, start=1)]
        self._outputs(graph, w, c, st)

    # -- the spike history ------------------------------------------------------------------
    def _layout(self, w, c, st):
        """hist [Σ L_s · n_s, B] (uint8): stage s keeps its last L_s ticks, tick t in slot t mod L_s."""
        sizes = [c.n_in] + [len(s.classes) for s in st.stages]
        reach = np.zeros(len(sizes), np.int64)
        for s in st.stages:
            np.maximum.at(reach, _stage_of(st, s.row_signal), s.row_delay)
        for sig, delay, *_ in list(w.outputs.values()) + list(w.recurrent_out.values()):
            np.maximum.at(reach, _stage_of(st, _signal_class(c, sig)), delay)
        self.ring = reach + 1
        self.n = np.asarray(sizes, np.int64)
        self.offset = np.concatenate([[0], np.cumsum(self.ring * self.n)]).astype(np.int64)
        self.hist = np.zeros((int(self.offset[-1]), self.batch), np.uint8)

    def _reader(self, st, signal_class, delay) -> "_Reader":
        s = _stage_of(st, signal_class)
        pos = np.where(signal_class < st.n_in, signal_class, st.position[np.maximum(signal_class - st.n_in, 0)])
        return _Reader(self.offset[s] + pos, np.asarray(delay, np.int64), self.ring[s], self.n[s])

    @staticmethod
    def _rows(reader, t):
        return reader.rows(t)

    def _slot(self, stage: int, t: int) -> int:
        return int(self.offset[stage] + (t % self.ring[stage]) * self.n[stage])

    # -- stages -----------------------------------------------------------------------------
    def _stage_table(self, k, s, c, st) -> dict:
        regs = _Registers(c.registers[s.classes])
        v = np.zeros((len(s.classes), self.batch), _narrow(regs.v_bound()))
        parts = []
        for (c0, c1, j0, j1), block in zip(s.parts, s.blocks + [None]):
            part = {"j": slice(j0, j1), "col_of": s.col_of[j0:j1] - c0, "sign": s.sign[j0:j1], "v": v[j0:j1],
                    "regs": regs.args(slice(j0, j1)), "summed": np.zeros((c1 - c0, self.batch), _narrow(s.column_bound))}
            lam, _, reversal, _, _, _, _, kappa, normal, linear, _ = part["regs"]
            part["linear"] = not (lam.any() or reversal.any() or normal.any()) and linear.all() and kappa.all()
            if block is not None:
                part["block"] = self._block(block[0], block[1], block[4], part)
                part["x"] = np.zeros((block[1] - block[0], self.batch), part["block"][1].dtype)
            parts.append(part)
        table = {"k": k, "reader": self._reader(st, s.row_signal, s.row_delay), "v": v, "parts": parts,
                 "rest": s.rest, "packed": None}
        if self.compiled and self.batch <= ROW_BATCH:
            table["packed"] = _packed(s, regs, v, [(b, p) for b, p in zip(s.blocks, parts) if p["linear"]])
            table["parts"] = [p for p in parts if "block" not in p or not p["linear"]]
        return table

    def _block(self, r0, r1, f, part):
        """(rows, matrix, summed) of a dense block: f as int [R, C] summed row by row (compiled, few
        samples), else f.T [C, R] for the matmul in the dtype that keeps its sums exact."""
        rows = np.arange(r0, r1)
        if self.compiled and self.batch <= ROW_BATCH:
            return rows, np.ascontiguousarray(f, part["summed"].dtype), part["summed"]
        dtype = exact_matmul_dtype(int(np.abs(f).sum(axis=0).max(initial=0)))
        return rows, np.ascontiguousarray(f.T, dtype), np.zeros(part["summed"].shape, dtype)

    def step(self, xs):
        t = self.tick
        row = self._slot(0, t)
        for (a, b), x in zip(self.in_slices, xs):
            self.hist[row + a:row + b] = 0 if x is None else (np.asarray(x).reshape(self.batch, -1) != 0).T
        for s in self.stages:
            self._run_stage(s, t)
        out = self._leaving(t)
        self.tick += 1
        return out

    def _run_stage(self, s, t):
        """Each dense block's columns, then the classes reading them, while the sums are in cache;
        the other columns and their classes last."""
        rows = self._rows(s["reader"], t)            # where each matrix row's spike of this tick lies in hist
        row0 = self._slot(s["k"], t)
        if s["packed"] is not None:
            sel, *packed = s["packed"]
            kernels.blocks_row_kernel(self.hist, rows[sel], *packed, row0)
        for part in s["parts"]:
            if "block" not in part:
                summed = part["summed"]
                self._sum_rest(s["rest"], rows, summed)
            elif self.compiled and self.batch <= ROW_BATCH:
                sel, f, summed = part["block"]
                kernels.row_kernel(self.hist, rows[sel], f, summed)
            else:
                sel, f_t, summed = part["block"]
                np.matmul(f_t, self._spikes(rows[sel], part["x"]), out=summed)
            j = part["j"]
            if self.compiled and part["linear"]:
                lam, sigma_lam, reversal, v_lo, v_hi, alpha, beta, *_ = part["regs"]
                kernels.linear_kernel(summed, part["col_of"], part["sign"], part["v"], v_lo, v_hi, alpha, beta,
                                      self.hist, row0 + j.start)
            elif self.compiled:
                kernels.neuron_kernel(summed, part["col_of"], part["sign"], part["v"], *part["regs"], self.hist,
                                      row0 + j.start)
            else:
                s["v"][j], fire = _neurons_numpy(summed[part["col_of"]].astype(np.int64) * part["sign"][:, None],
                                                 part["v"], part["regs"])
                self.hist[row0 + j.start:row0 + j.stop] = fire

    def _spikes(self, rows, out):
        """The spikes of hist rows `rows`, in `out` (the matmul's dtype)."""
        if self.compiled:
            kernels.gather_kernel(self.hist, rows, out)
            return out
        return np.take(self.hist, rows, axis=0).astype(out.dtype)

    def _sum_rest(self, rest, rows, summed):
        """The columns outside the dense blocks, entry by entry (the last column, of classes without
        synapses, stays 0)."""
        if len(rest.ptr) == 1:
            return
        if self.compiled:
            kernels.column_kernel(self.hist, rows, rest.ptr, rest.minor, rest.data, summed, 0)
            return
        got = np.take(self.hist, rows[rest.minor], axis=0).astype(np.int64) * rest.data[:, None]
        summed[:len(rest.ptr) - 1] = np.add.reduceat(got, rest.ptr[:-1], axis=0)

    # -- what leaves the region -------------------------------------------------------------
    def _outputs(self, graph, w, c, st):
        outs, self.counts, self.core_reader = [], [], None
        if w.core_values:
            signal = np.concatenate([w.core_offset[n] + np.arange(graph.op(n).neurons) for n in w.core_values])
            self.core_reader = self._reader(st, _signal_class(c, signal), np.zeros(len(signal), np.int64))
            self.core_slices = _slices([graph.op(n).neurons for n in w.core_values])
            outs += [Value(n) for n in w.core_values]
        for (dst, port), (sig, delay, axon, routes) in w.outputs.items():
            self.counts.append(self._counter(st, c, sig, delay, axon, graph.op(routes[0]).n_axons))
            outs.append(Into(dst, port, routes))
        for r, (sig, delay, axon) in w.recurrent_out.items():
            self.counts.append(self._counter(st, c, sig, delay, axon, graph.op(r).n_axons))
            outs.append(Value(r))
        self.outputs = tuple(outs)
        self.classes_of = lambda n: c.of[w.core_offset[n] - c.n_in + np.arange(graph.op(n).neurons)]  # noqa: E731
        self.class_stage = (st.level, st.position)

    def _counter(self, st, c, sig, delay, axon, width):
        order = np.argsort(axon, kind="stable")
        axon = axon[order]
        starts = np.flatnonzero(np.r_[True, axon[1:] != axon[:-1]]) if len(axon) else np.zeros(0, np.int64)
        return self._reader(st, _signal_class(c, sig[order]), delay[order]), starts, axon[starts], width

    def _leaving(self, t):
        out = []
        if self.core_reader is not None:
            spikes = np.take(self.hist, self._rows(self.core_reader, t), axis=0).T.astype(np.int64, order="C")
            out += [spikes[:, a:b] for a, b in self.core_slices]
        for reader, starts, axons, width in self.counts:
            y = np.zeros((self.batch, width), np.int64)
            if len(starts):
                got = np.take(self.hist, self._rows(reader, t), axis=0).astype(np.int64)
                y[:, axons] = np.add.reduceat(got, starts, axis=0).T
            out.append(y)
        return out

    def state(self, member):
        level, position = self.class_stage
        u = self.classes_of(member)
        v = np.zeros((self.batch, len(u)), np.int64)
        for s in self.stages:
            here = level[u] == s["k"]
            v[:, here] = s["v"][position[u[here]]].T
        return {"v": v}


class _Reader:
    """Where signals read `delay` ticks late lie in hist: at tick t, row base + ((t − delay) mod
    ring) · n. The rows of every tick mod P (P the least common multiple of the rings read) are
    tabled when P is small, as it is (rings are delays + 1)."""

    PERIOD_TABLED = 64

    def __init__(self, base, delay, ring, n):
        self.base, self.delay, self.ring, self.n = base, delay, ring, n
        period = int(np.lcm.reduce(np.unique(ring))) if len(ring) else 1
        self.table = self._at(np.arange(period)[:, None]) if period <= self.PERIOD_TABLED else None

    def _at(self, t):
        return self.base + ((t - self.delay) % self.ring) * self.n

    def rows(self, t: int) -> np.ndarray:
        return self.table[t % len(self.table)] if self.table is not None else self._at(t)


def _packed(s, regs: _Registers, v, blocks) -> tuple | None:
    """The arguments of kernels.blocks_by_rows for the dense blocks of stage `s` whose classes are
    `neurons_linear` ones (row selection first, then all but the tick's first hist row)."""
    if not blocks:
        return None
    dtype = np.int32 if max(int(np.abs(b[4]).max(initial=0)) for b, _ in blocks) < 1 << 31 else np.int64
    f = [np.ascontiguousarray(b[4], dtype).ravel() for b, _ in blocks]
    ptr = lambda sizes: np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # noqa: E731
    rows = np.concatenate([np.arange(b[0], b[1]) for b, _ in blocks])
    bounds = np.array([(b[2], b[3], p["j"].start, p["j"].stop) for b, p in blocks], np.int64).T
    small = [_compact(a) for a in (s.col_of, s.sign, regs.v_lo, regs.v_hi, regs.alpha, regs.beta)]
    return (rows, ptr([b[1] - b[0] for b, _ in blocks]), np.concatenate(f), ptr([len(x) for x in f]), *bounds,
            *small[:2], v, *small[2:])


def _compact(a: np.ndarray) -> np.ndarray:
    """`a` as int32 where its values fit (a run of few samples reads every register once a tick)."""
    return a.astype(np.int32) if not a.size or np.abs(a).max() < 1 << 31 else a


def _narrow(bound: int):
    """int32 for values of magnitude up to `bound` when that fits (half the memory traffic), else int64."""
    return np.int32 if bound < 1 << 31 else np.int64


def _stage_of(st, signal_class):
    return np.where(signal_class < st.n_in, 0, st.level[np.maximum(signal_class - st.n_in, 0)])


def _signal_class(c, signal):
    """Signal numbers of the wiring (inputs, then region neurons) -> signal classes."""
    return np.where(signal < c.n_in, signal, c.n_in + c.of[np.maximum(signal - c.n_in, 0)])


def _slices(sizes):
    ends = np.cumsum(sizes).astype(int)
    return [(int(e - n), int(e)) for e, n in zip(ends, sizes)]


def _neurons_numpy(syn, v, regs: tuple):
    """kernels.neurons on whole [n, B] arrays (registers as `_Registers.args` gives them):
    (new V, spikes as uint8)."""
    lam, sigma_lam, reversal, v_lo, v_hi, alpha, beta, kappa, normal, linear, reset = (a[:, None] for a in regs)
    normal, linear = normal.astype(bool), linear.astype(bool)
    v = v + syn
    omega = np.where(reversal.astype(bool), sigma_lam * np.sign(v), sigma_lam)
    v = np.clip(v + omega * lam, v_lo, v_hi)
    fire = v >= alpha
    below = ~fire & (v < -beta)
    up = np.where(normal, reset, np.where(linear, v - alpha, v))
    down = np.where(kappa.astype(bool), -beta, np.where(normal, -reset, np.where(linear, v + beta, v)))
    return np.where(fire, up, np.where(below, down, v)), fire.astype(np.uint8)
