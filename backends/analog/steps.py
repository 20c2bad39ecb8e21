"""Step functions of the `analog.*` dialect (equations in `ops.py`, formulas in `device.py`).

The batch holds `Context.instances` chip instances, instance-major (`Context`): a stepper
draws each instance's static deviations once, from that instance's own stream, and keeps
them as a leading instance axis, so a Monte Carlo over N chips is one batched run. Inputs
and outputs stay [N · B, ...] as the engine passes them.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.analog import device, kernels
from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.errors import SimulationError
from snnc.interp.kernel import Stepper, register_stepper


def _groups(ctx, batch: int, node: str) -> tuple[int, int]:
    n = max(int(ctx.instances), 1)
    if batch % n:
        raise SimulationError(f"node '{node}': a batch of {batch} does not split into {n} chip instances")
    return n, batch // n


def device_conductances(g_t: np.ndarray, op: Crossbar, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(g, g_P) of the devices programmed to target g_t, for one chip instance, in device units:
    the conductance read at t_inference and the programmed one (ops.Crossbar, draws ξ₁ … ξ₄)."""
    g_max = op.g_max
    g = g_t / g_max
    sigma = device.programming_sigma(g, op.prog_noise, g_max, op.prog_noise_g_ref)
    g_p = np.maximum(g_t + sigma * rng.standard_normal(g.shape), 0.0)
    mu, sd = device.drift_nu_stats(g, op.nu_mean, op.nu_std)
    nu = np.abs(mu + sd * rng.standard_normal(g.shape))
    g_d = g_p * device.drift_factor(op.t_inference, op.t0, nu)
    s_read = device.read_noise_sigma(g_p / g_max, op.t_inference, op.t0, op.t_read, op.read_noise)
    g_now = np.maximum(g_d + np.abs(g_d) * s_read * rng.standard_normal(g.shape), 0.0)
    g_now = np.maximum(g_now * (1.0 + op.synapse_mismatch * rng.standard_normal(g.shape)), 0.0)
    return g_now, g_p


def conductances(op: Crossbar, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One chip instance's (W, W₀), normalised [C, R]: the pairs' difference at t_inference and
    as programmed (the drift-compensation reference)."""
    pos, pos_p = device_conductances(op.g_pos, op, rng)
    neg, neg_p = device_conductances(op.g_neg, op, rng)
    return (pos - neg) / op.g_max, (pos_p - neg_p) / op.g_max


def compensation(w: np.ndarray, w0: np.ndarray, mode: str) -> np.ndarray:
    """The digital factor c per column [C] (aihwkit Global/PerColumnDriftCompensation with a
    one-hot probe of every row: the reading is Σ_j |W_ij|)."""
    if mode == "none":
        return np.ones(w.shape[0])
    now, then = np.abs(w).sum(axis=1), np.abs(w0).sum(axis=1)
    if mode == "global":
        total = now.sum()
        return np.full(w.shape[0], then.sum() / total if total > 0 else 1.0)
    return np.divide(then, now, out=np.ones_like(now), where=now > 0)


@register_stepper(Crossbar)
class CrossbarStepper(Stepper):
    """Per instance: W [R, C] (transposed for the matmul) and the output factor per column."""

    def __init__(self, op: Crossbar, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.n, self.b = _groups(ctx, batch, node)
        C, R = op.shape
        self.w = np.empty((self.n, R, C))
        self.factor = np.empty((self.n, 1, C))
        unit = op.g_max * op.x_max / op.w_scale * op.gain
        self.read_rngs = []
        for i in range(self.n):
            chip = ctx.first_instance + i
            w, w0 = conductances(op, device.stream(ctx.seed, chip, node, 0))
            self.w[i] = w.T
            self.factor[i, 0] = compensation(w, w0, op.drift_compensation) * unit
            self.read_rngs.append(device.stream(ctx.seed, chip, node, 1))
        self.cols = slice(op.col_offset, op.col_offset + C)
        self.rows = slice(op.row_offset, op.row_offset + R)
        self.noise = np.empty((self.n, self.b, C)) if op.out_noise else None
        self.bias = np.broadcast_to(np.asarray(op.bias, np.float64), (C,)).copy()
        self.window = None
        if op.out_noise:                              # a slice of a larger run: draw its reads, keep ours
            whole, rows = ctx.whole_rows(batch)
            self.window = None if rows is None else (whole // self.n, rows[:self.b])

    def step(self, inputs):
        op = self.op
        x = np.asarray(inputs["input"], dtype=np.float64).reshape(self.n, self.b, -1)[:, :, self.rows]
        if self.ctx.jit and kernels.dac_kernel is not None:
            u = np.empty(x.shape)
            kernels.dac_kernel(x, float(op.x_max), device.levels(op.dac_bits) if op.dac_bits else 0, u)
        else:
            u = device.dac(x / op.x_max if op.x_max != 1.0 else x, op.dac_bits)
        a = np.matmul(u, self.w)                                   # [N, B, C]
        a = device.ir_drop(a, self.w, u, op.ir_drop, op.ir_drop_g_ratio)
        if self.noise is not None:
            for i, r in enumerate(self.read_rngs):
                if self.window is None:
                    r.standard_normal(out=self.noise[i])
                else:
                    self.noise[i] = r.standard_normal((self.window[0], self.noise.shape[2]))[self.window[1]]
        if self.ctx.jit and kernels.readout_kernel is not None:
            y = np.empty_like(a)
            step = op.adc_bound / device.levels(op.adc_bits) if op.adc_bits else 0.0
            kernels.readout_kernel(a, _NO_NOISE if self.noise is None else self.noise, float(op.out_noise), step,
                                   float(op.adc_bound), self.factor, self.bias, y)
        else:
            if self.noise is not None:
                a += op.out_noise * self.noise
            y = device.adc(a, op.adc_bits, op.adc_bound) * self.factor + op.bias
        if y.shape[2] != op.n_out:
            full = np.zeros((self.n, self.b, op.n_out))
            full[:, :, self.cols] = y
            y = full
        return {"output": y.reshape(self.batch, op.n_out)}

    def state(self):
        return {}


_NO_NOISE = np.zeros((0, 0, 0))


def _factor(sigma: float, xi: np.ndarray) -> np.ndarray:
    """1 + σ ξ, kept above MIN_FACTOR: a time constant or a gain cannot change sign."""
    return np.maximum(1.0 + sigma * xi, MIN_FACTOR)


MIN_FACTOR = 1e-3


@register_stepper(LIFCircuit)
class LIFCircuitStepper(Stepper):
    """Per instance: τ', G', θ' drawn once; then the spiking update of ops.LIFCircuit.

    State: v (after any immediate reset), z (last tick's spikes, for next_step reset),
    refrac (refractory ticks still to serve), all [N, B, n]."""

    def __init__(self, op: LIFCircuit, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.n, self.b = _groups(ctx, batch, node)
        shape = op.shape
        draws = np.stack([device.stream(ctx.seed, ctx.first_instance + i, node, 0).standard_normal((3, *shape))
                          for i in range(self.n)])
        tau = op.tau_mem * _factor(op.sigma_tau, draws[:, 0])
        self.gain = (op.gain * _factor(op.sigma_gain, draws[:, 1]))[:, None]
        self.theta = (op.v_leak + (op.v_threshold - op.v_leak) * (1.0 + op.sigma_threshold * draws[:, 2]))[:, None]
        self.a = ctx.decay(tau)[:, None]                           # τ = ∞ gives 1 under both methods
        self.rest = (1.0 - self.a) * op.v_leak
        full = (self.n, self.b, *shape)
        self.v = np.broadcast_to(op.v_init, full).copy()
        self.z = np.zeros(full, dtype=bool)
        self.refrac = np.zeros(full, dtype=np.int64)
        self.n_refrac = int(ctx.ticks(op.t_refrac, f"node '{node}': t_refrac"))
        self.delayed = op.reset_timing == "next_step"

    def step(self, inputs):
        op = self.op
        x = np.asarray(inputs["input"], dtype=np.float64).reshape(self.n, self.b, *op.shape)
        if self.ctx.jit and kernels.lif_kernel is not None:
            return {"output": self._compiled(x)}
        c = self.rest + self.gain * x
        if self.delayed and op.reset_mode == "value":
            start = np.where(self.z, op.v_reset, self.v)
            v_tilde, held = self.a * start + c, start
        elif self.delayed:
            v_tilde, held = self.a * self.v + c - self.z * op.v_subtract, self.v - self.z * op.v_subtract
        else:
            v_tilde, held = self.a * self.v + c, self.v
        if self.n_refrac:
            refractory = self.refrac > 0
            v_tilde = np.where(refractory, held, v_tilde)
            z = (v_tilde > self.theta) & ~refractory
            self.refrac = np.where(z, self.n_refrac, np.maximum(self.refrac - 1, 0))
        else:
            z = v_tilde > self.theta
        if self.delayed:
            self.v = v_tilde
        elif op.reset_mode == "value":
            self.v = np.where(z, op.v_reset, v_tilde)
        else:
            self.v = v_tilde - z * op.v_subtract
        self.z = z
        return {"output": z.astype(np.float64).reshape(self.batch, *op.shape)}

    def _compiled(self, x):
        """`step` by kernels.lif (the same operations, element by element)."""
        op, flat = self.op, (self.n, self.b, -1)
        per = lambda a: np.ascontiguousarray(np.broadcast_to(a, (self.n, 1, *op.shape)).reshape(self.n, 1, -1))  # noqa: E731
        unit = lambda a: np.broadcast_to(np.asarray(a, np.float64), op.shape).reshape(-1)  # noqa: E731
        out = np.empty(self.v.shape)
        kernels.lif_kernel(np.ascontiguousarray(x).reshape(flat), self.v.reshape(flat), self.z.reshape(flat),
                           self.refrac.reshape(flat), per(self.a), per(self.rest), per(self.gain), per(self.theta),
                           unit(op.v_reset), unit(op.v_subtract), self.n_refrac, self.delayed,
                           op.reset_mode == "value", out.reshape(flat))
        return out.reshape(self.batch, *op.shape)

    def state(self):
        return {"v": self.v.reshape(self.batch, *self.op.shape),
                "refrac": self.refrac.reshape(self.batch, *self.op.shape)}
