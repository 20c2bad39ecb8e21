"""Bit-exact step functions of the `loihi.*` dialect (equations in `ops.py`).

Everything is int64 and vectorised over [B, neurons]. The order of operations is that
of Lava's `PyLifModelBitAcc.run_spk` and `PyDenseModelBitAcc.run_spk`; the fixed-point
helpers are the named ones in `snnc.interp.fixed`. In strict mode (`Context.strict`) a
value that would wrap or saturate raises `SimulationError` naming the node, the tick,
the batch sample and the neuron.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.loihi.ops import (ACTIVATION_SHIFT, DECAY_SHIFT, STATE_BITS, THRESHOLD_SHIFT,
                                     U_DECAY_OFFSET, V_DECAY_OFFSET, AxonDelay, Cuba, Dense, Sparse)
from snnc.errors import SimulationError
from snnc.interp import fixed
from snnc.interp.kernel import DelayedStepper, Stepper, register_stepper
from snnc.backends.loihi import fused  # noqa: F401,E402  (fusers: partitioned layers stepped as one)

# Integers below 2^24 (float32) and 2^53 (float64) add up exactly in floating point.
_FLOAT32_EXACT = 1 << 24
_FLOAT64_EXACT = 1 << 53


def _integers(x, node: str, tick: int) -> np.ndarray:
    try:
        return fixed.as_int64(x, "input")
    except ValueError as exc:
        raise SimulationError(f"node '{node}' tick {tick}: {exc}") from None


class _Ticking(Stepper):
    """A stepper that counts its ticks and raises strict-mode errors with a location."""

    def __init__(self, op, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.tick = 0

    def overflow(self, mask: np.ndarray, values: np.ndarray, what: str, limit: str) -> None:
        """Raise if `mask` ([B, *shape]) marks any element (strict mode only)."""
        if not self.ctx.strict or not mask.any():
            return
        idx = tuple(int(i) for i in np.argwhere(mask)[0])
        neuron = idx[1:] if len(idx) > 2 else idx[1]
        raise SimulationError(f"node '{self.node}' ({self.op.name}) tick {self.tick}, sample {idx[0]}, "
                              f"neuron {neuron}: {what} = {int(values[idx])} {limit} (strict mode)")


@register_stepper(Cuba)
class CubaStepper(_Ticking):
    """CUBA compartments: u wraps at 24 bits, v saturates at ±(2^23 − 1), strict > threshold."""

    def __init__(self, op: Cuba, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        one = 1 << DECAY_SHIFT
        self.u_mult = one - (op.du + U_DECAY_OFFSET)
        self.v_mult = one - (op.dv + V_DECAY_OFFSET)
        self.theta = fixed.shift_left(op.vth_mant, THRESHOLD_SHIFT)
        self.bias = fixed.shift_by_exponent(op.bias_mant, op.bias_exp)
        self.subtract = op.reset_mode == "subtract"
        shape = (batch, *op.shape)
        self.u = np.zeros(shape, np.int64)
        self.v = np.zeros(shape, np.int64)
        self.z = np.zeros(shape, bool)
        self.refrac_left = np.zeros(shape, np.int64)

    def step(self, inputs):
        a = _integers(inputs["input"], self.node, self.tick)
        u = fixed.decay_toward_zero(self.u, self.u_mult, DECAY_SHIFT) + fixed.shift_left(a, ACTIVATION_SHIFT)
        self.overflow(fixed.wrap_once_upper_overflow(u, STATE_BITS), u, "current u",
                      f"wraps (24-bit range is ({-(1 << 23)}, {1 << 23}])")
        self.u = fixed.wrap_once_upper(u, STATE_BITS)

        refractory = self.refrac_left > 0
        pending = self.theta * self.z if self.subtract else 0
        integrated = fixed.decay_toward_zero(self.v, self.v_mult, DECAY_SHIFT) + self.u + self.bias
        v = np.where(refractory, self.v, integrated) - pending
        self.overflow(fixed.saturate_symmetric_overflow(v, STATE_BITS), v, "voltage v",
                      f"saturates (limit ±{(1 << 23) - 1})")
        v = fixed.saturate_symmetric(v, STATE_BITS)

        z = (v > self.theta) & ~refractory
        out = np.where(z, v, 0) if self.op.graded else z.astype(np.int64)
        self.v = np.where(z, 0, v) if not self.subtract else v
        self.refrac_left = np.where(z, self.op.refractory, self.refrac_left - refractory)
        self.z = z
        self.tick += 1
        return {"output": out}

    def state(self):
        return {"u": self.u, "v": self.v, "refractory_left": self.refrac_left}


class _Accumulator:
    """Sums W · s for integer W [N_out, N_in] over a batch of inputs s [B, N_in], exactly.

    Binary spikes: when fewer weight rows are active in the whole batch than W has rows,
    add up the active rows (Lava's method, reading only what spiked); otherwise a BLAS
    matmul in float32 or float64, used only where every partial sum stays below 2^24 or
    2^53 (bounded from the weights' row sums and the input's magnitude), else int64.
    """

    def __init__(self, weight: np.ndarray):
        self.wt = np.ascontiguousarray(weight.T, dtype=np.int64)       # [N_in, N_out]
        self.row_abs_sum = int(np.abs(self.wt).sum(axis=0).max(initial=0))
        self._float = {}

    def _as(self, dtype):
        if dtype not in self._float:
            self._float[dtype] = self.wt.astype(dtype)
        return self._float[dtype]

    def __call__(self, s: np.ndarray, binary: bool) -> np.ndarray:
        if binary:
            active = s != 0
            if np.count_nonzero(active) <= self.wt.shape[0]:
                return self._gather(active)
            return self._matmul(active, 1)
        s = np.asarray(s, dtype=np.int64)
        return self._matmul(s, int(np.abs(s).max(initial=0)))

    def _gather(self, active: np.ndarray) -> np.ndarray:
        out = np.zeros((active.shape[0], self.wt.shape[1]), np.int64)
        for b in range(active.shape[0]):
            rows = np.flatnonzero(active[b])
            if rows.size:
                out[b] = self.wt[rows].sum(axis=0)
        return out

    def _matmul(self, s: np.ndarray, peak: int) -> np.ndarray:
        bound = peak * self.row_abs_sum
        for dtype, limit in ((np.float32, _FLOAT32_EXACT), (np.float64, _FLOAT64_EXACT)):
            if bound < limit:
                return (s.astype(dtype) @ self._as(dtype)).astype(np.int64)
        return s.astype(np.int64) @ self.wt


class _DelayedSynapses(_Ticking, DelayedStepper):
    """Shared timing of loihi.dense and loihi.sparse: a ring of arrival slots, one per delay.

    Slot (t + 1 + d) mod L collects what arrives at tick t + 1 + d. Both ops are delayed
    (`Op.delayed`), so the engine runs them in two phases: `emit` reads the slot of tick t,
    scales it by the row exponents and clears it (Lava: sum, then shift); `absorb`, after
    every other node of tick t has run, lets `deliver` add tick t's input into the slots.
    """

    def setup(self, n_out: int, max_delay: int, deliver):
        self.deliver = deliver
        self.ring = np.zeros((max_delay + 1, self.batch, n_out), np.int64)
        self.exp = self.op.weight_exp
        self.unscaled = not self.exp.any()

    def emit(self):
        now = self.tick % len(self.ring)
        out = self.ring[now].copy() if self.unscaled else fixed.shift_by_exponent(self.ring[now], self.exp)
        self.ring[now] = 0
        return {"output": out}

    def absorb(self, inputs):
        s = inputs["input"]
        if self.op.graded:
            s = _integers(s, self.node, self.tick)
        self.deliver(self.ring, self.tick, s, not self.op.graded)
        self.tick += 1

    def state(self):
        return {"pending": self.ring.sum(axis=0)}


class _EventSynapses:
    """Synapses as (row, column, weight, delay) lists sorted by input column, delivered event
    by event: each nonzero input adds its column's synapses into the slots they arrive in.
    Memory and work grow with the stored synapses and the spikes, never with N_out · N_in · delays.
    """

    def __init__(self, rows, cols, weight, delay, n_in: int):
        keep = weight != 0
        order = np.argsort(cols[keep], kind="stable")
        self.rows, self.cols = rows[keep][order], cols[keep][order]
        self.weight, self.delay = weight[keep][order], delay[keep][order]
        self.col_ptr = np.searchsorted(self.cols, np.arange(n_in + 1))
        self.abs_total = int(np.abs(self.weight).sum())
        self.weight_f = self.weight.astype(np.float64)

    def __call__(self, ring: np.ndarray, t: int, s: np.ndarray, binary: bool) -> None:
        L, _, n_out = ring.shape
        peak = 1 if binary else int(np.abs(s).max(initial=0))
        exact_in_float = peak * self.abs_total < _FLOAT64_EXACT
        for b in range(s.shape[0]):
            active = np.flatnonzero(s[b])
            lengths = self.col_ptr[active + 1] - self.col_ptr[active]
            total = int(lengths.sum())
            if not total:
                continue
            first = np.repeat(self.col_ptr[active] - (np.cumsum(lengths) - lengths), lengths)
            idx = first + np.arange(total)
            slot = (t + 1 + self.delay[idx]) % L
            if exact_in_float:              # bincount sums in float64: exact below 2^53
                w = self.weight_f[idx] if binary else self.weight_f[idx] * s[b][self.cols[idx]]
                flat = np.bincount(slot * n_out + self.rows[idx], w, minlength=L * n_out)
                ring[:, b, :] += flat.astype(np.int64).reshape(L, n_out)
            else:
                w = self.weight[idx] if binary else self.weight[idx] * s[b][self.cols[idx]]
                np.add.at(ring[:, b, :], (slot, self.rows[idx]), w)


@register_stepper(Dense)
class DenseStepper(_DelayedSynapses):
    """Without delays: one exact accumulation per tick (`_Accumulator`). With delays: event by event."""

    def __init__(self, op: Dense, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        n_out, n_in = op.weight.shape
        if not op.delay.any():
            acc = _Accumulator(op.weight)

            def deliver(ring, t, s, binary):
                ring[(t + 1) % len(ring)] += acc(s, binary)
            self.setup(n_out, 0, deliver)
            return
        rows, cols = np.indices(op.weight.shape).reshape(2, -1)
        delay = np.broadcast_to(op.delay, op.weight.shape).reshape(-1)
        self.setup(n_out, int(delay.max()), _EventSynapses(rows, cols, op.weight.reshape(-1), delay, n_in))


@register_stepper(Sparse)
class SparseStepper(_DelayedSynapses):
    def __init__(self, op: Sparse, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        delay = np.broadcast_to(op.delay, op.weight.shape)
        self.setup(op.n_out, int(delay.max(initial=0)),
                   _EventSynapses(op.rows(), op.indices, op.weight, delay, op.n_in))


@register_stepper(AxonDelay)
class AxonDelayStepper(_Ticking):
    """y[t] = x[t − d] per element, from a ring of the last max(d) + 1 inputs."""

    def __init__(self, op: AxonDelay, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.d = op.delay.reshape(-1)
        self.ring = np.zeros((int(self.d.max(initial=0)) + 1, batch, self.d.size), np.int64)
        self.cols = np.arange(self.d.size)

    def step(self, inputs):
        x = _integers(inputs["input"], self.node, self.tick).reshape(self.batch, -1)
        L = len(self.ring)
        self.ring[self.tick % L] = x
        out = self.ring[(self.tick - self.d) % L, :, self.cols].T     # [B, E]; unwritten slots hold 0
        self.tick += 1
        return {"output": out.reshape(self.batch, *self.op.delay.shape)}


from snnc.backends.loihi import conv_steps  # noqa: F401,E402  (their step functions)
