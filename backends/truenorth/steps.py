"""Bit-exact step functions of the `truenorth.*` dialect (equations in `ops.py`).

Everything is int64 and vectorised over the batch and over a core's axons and neurons. The
deterministic synaptic sum is one matmul of the active axons with the effective weights
c_ij · s_j^{G_i}, in float32 where every column's absolute sum is below 2^24 (so every
partial sum is an exactly represented integer), else float64 below 2^53, else int64. In strict mode (`Context.strict`) a
membrane value that would saturate raises `SimulationError` naming node, tick, sample and
neuron.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.truenorth.ops import PRN_BITS, RESET_LINEAR, RESET_NORMAL, Core, Route
from snnc.errors import SimulationError
from snnc.interp import fixed
from snnc.interp.kernel import Stepper, register_stepper
from snnc.backends.truenorth import fused  # noqa: F401,E402  (fusers: the cores and routes of a depth as one step)

_PRN_HIGH = 1 << PRN_BITS
_FLOAT32_EXACT = 1 << 24
_FLOAT64_EXACT = 1 << 53


def core_rng(seed: int, prng_seed: int) -> np.random.Generator:
    """The PRN stream of one core in one run (ops.py, "Pseudo-random numbers")."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed) % (1 << 63), int(prng_seed)])))


@register_stepper(Core)
class CoreStepper(Stepper):
    def __init__(self, op: Core, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.tick = 0
        stoch = op.stochastic_weight.astype(bool)
        # deterministic part: one matrix of effective weights c_ij · s_j^{G_i} (0 where b = 1)
        w_ax = np.where(stoch[:, op.axon_type].T, 0, op.crossbar * op.weight[:, op.axon_type].T)
        bound = int(np.abs(w_ax).sum(axis=0).max(initial=0))
        self.w_eff = w_ax.astype(np.float32 if bound < _FLOAT32_EXACT else np.float64)
        self.exact_in_float = bound < _FLOAT64_EXACT
        self.w_int = w_ax
        self.stochastic_synapses = bool(stoch.any())
        if self.stochastic_synapses:
            s_ax = op.weight[:, op.axon_type].T                      # s_j^{G_i}, [A, N]
            live = op.crossbar.astype(bool) & stoch[:, op.axon_type].T
            self.syn_sign = np.where(live, np.sign(s_ax), 0)
            self.syn_mag = np.abs(s_ax)
        self.lam = np.abs(op.leak)
        self.sigma_lam = np.sign(op.leak)
        self.reversal = op.leak_reversal.astype(bool)
        self.stochastic_leak = op.stochastic_leak.astype(bool)
        self.mask = (np.int64(1) << op.threshold_mask_bits) - 1
        self.noisy_threshold = bool(np.any(op.threshold_mask_bits > 0))
        half = np.int64(1) << (op.membrane_bits - 1)
        self.v_lo, self.v_hi = -half, half - 1
        self.rng = core_rng(ctx.seed, op.prng_seed)
        draws = self.stochastic_synapses or self.stochastic_leak.any() or self.noisy_threshold
        self.window = ctx.whole_rows(batch) if draws else (batch, None)
        self.v = np.zeros((batch, op.neurons), np.int64)

    def _prn(self, shape) -> np.ndarray:
        """PRNs for [batch, ...]; a run holding part of a larger batch draws the whole run's and
        keeps its rows (Context.whole_rows), so every sample sees the numbers of the whole run."""
        whole, rows = self.window
        if rows is None:
            return self.rng.integers(0, _PRN_HIGH, size=shape, dtype=np.int64)
        return self.rng.integers(0, _PRN_HIGH, size=(whole, *shape[1:]), dtype=np.int64)[rows]

    def _integrate(self, active: np.ndarray) -> np.ndarray:
        if self.exact_in_float:               # integer sums below 2^24 (float32) or 2^53 (float64) are exact
            syn = (active.astype(self.w_eff.dtype) @ self.w_eff).astype(np.int64)
        else:
            syn = active.astype(np.int64) @ self.w_int
        if self.stochastic_synapses:
            rho = self._prn((self.batch, *self.syn_mag.shape))
            fired = (self.syn_mag[None] >= rho) & active[:, :, None]
            syn += (fired * self.syn_sign[None]).sum(axis=1)
        return syn

    def _leak(self, v: np.ndarray) -> np.ndarray:
        omega = np.where(self.reversal, self.sigma_lam * np.sign(v), self.sigma_lam)
        if not self.stochastic_leak.any():
            return v + omega * self.lam
        step = np.where(self.stochastic_leak, self.lam >= self._prn(v.shape), self.lam)
        return v + omega * step

    def step(self, inputs):
        op = self.op
        active = np.asarray(inputs["input"]) != 0
        v = self._leak(self.v + self._integrate(active))
        over = (v < self.v_lo) | (v > self.v_hi)
        if self.ctx.strict and over.any():
            b, j = (int(i) for i in np.argwhere(over)[0])
            raise SimulationError(f"node '{self.node}' ({op.name}) tick {self.tick}, sample {b}, neuron {j}: "
                                  f"membrane V = {int(v[b, j])} saturates (range [{self.v_lo}, {self.v_hi}], "
                                  f"membrane_bits {op.membrane_bits}) (strict mode)")
        v = fixed.saturate(v, self.v_lo, self.v_hi)
        eta = self._prn(v.shape) & self.mask if self.noisy_threshold else 0
        fire = v >= op.alpha + eta
        kappa = op.saturate.astype(bool)
        below = ~fire & (v < -np.where(kappa, op.beta, op.beta + eta))
        gamma = op.reset_mode
        up = np.where(gamma == RESET_NORMAL, op.reset_value, np.where(gamma == RESET_LINEAR, v - (op.alpha + eta), v))
        down = np.where(kappa, -op.beta, np.where(gamma == RESET_NORMAL, -op.reset_value,
                                                  np.where(gamma == RESET_LINEAR, v + (op.beta + eta), v)))
        self.v = np.where(fire, up, np.where(below, down, v))
        self.tick += 1
        return {"output": fire.astype(np.int64)}

    def state(self):
        return {"v": self.v}


@register_stepper(Route)
class RouteStepper(Stepper):
    """A ring of max(delay) + 1 slots; slot (t + d) mod L collects what arrives at t + d."""

    def __init__(self, op: Route, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.tick = 0
        self.ring = np.zeros((int(op.delay.max(initial=0)) + 1, batch, op.n_axons), np.int64)
        self.groups = []
        for d in np.unique(op.delay):
            k = np.flatnonzero(op.delay == d)
            axons = op.axon[k]
            self.groups.append((int(d), op.source[k], axons, len(np.unique(axons)) == len(axons)))

    def step(self, inputs):
        spikes = (np.asarray(inputs["input"]) != 0).astype(np.int64)
        L = len(self.ring)
        for d, src, axons, unique in self.groups:
            slot = self.ring[(self.tick + d) % L]
            if unique:
                slot[:, axons] += spikes[:, src]
            else:
                np.add.at(slot, (slice(None), axons), spikes[:, src])
        now = self.tick % L
        out = self.ring[now].copy()
        self.ring[now] = 0
        self.tick += 1
        return {"output": out}

    def state(self):
        return {"pending": self.ring.sum(axis=0)}
