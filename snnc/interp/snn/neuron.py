"""Neuron steppers: the discrete equations of `snnc.ir.snn.neuron`, evaluated in float64.

Every membrane update has the form v~[t] = a · v_from + c[t]:

    I        a = 1          c = dt · r · x
    LI, LIF  a = α(τ)       c = (1 − α(τ)) · (v_leak + r · x)
    IF       a = 1          c = dt · r · x
    CubaLI(F) a = α(τ_mem)  c = (1 − α(τ_mem)) · (v_leak + r · Ĩ)

so the spiking ops share one spike/reset/refractory step (`_SpikingStepper`) and differ
only in `drive`, which returns (a, c) and advances any synaptic current. The arithmetic is
written in the docstrings' order of operations. Steppers never modify an array after
returning it (new arrays every tick), so the engine may keep references to outputs.
"""
from __future__ import annotations

import numpy as np

from snnc.interp.kernel import Stepper, register_stepper
from snnc.ir.snn import IF, LI, LIF, CubaLI, CubaLIF, I, Threshold


@register_stepper(Threshold)
class ThresholdStepper(Stepper):
    """y = 1 if x > θ else 0 (strict)."""

    def step(self, inputs):
        return {"output": (inputs["input"] > self.op.threshold).astype(np.float64)}


class _CubaCurrent:
    """The current-based synapse: I[t] = α_syn I[t−1] + (1 − α_syn) · w_in · x[t]; returns Ĩ."""

    def __init__(self, op, ctx, batch):
        a_syn = ctx.decay(op.tau_syn)
        self.a_syn, self.gain = a_syn, (1.0 - a_syn) * op.w_in
        self.same_tick = op.current_timing == "same_tick"
        self.i = np.zeros((batch, *op.shape))

    def advance(self, x: np.ndarray) -> np.ndarray:
        """Advance I by one tick; return I[t] (same_tick) or I[t−1] (next_tick)."""
        previous = self.i
        self.i = self.a_syn * previous + self.gain * x
        return self.i if self.same_tick else previous


# -- non-spiking integrators --------------------------------------------------------------------
@register_stepper(I)
class IStepper(Stepper):
    """v[t] = v[t−1] + dt · r · x[t];  y = v."""

    def __init__(self, op: I, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.gain = ctx.dt * op.r
        self.v = np.zeros((batch, *op.shape))

    def step(self, inputs):
        self.v = self.v + self.gain * inputs["input"]
        return {"output": self.v}

    def state(self):
        return {"v": self.v}


@register_stepper(LI)
class LIStepper(Stepper):
    """v[t] = α v[t−1] + (1 − α)(v_leak + r x[t]);  y = v."""

    def __init__(self, op: LI, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.a = ctx.decay(op.tau)
        self.one_minus_a = 1.0 - self.a
        self.v = np.zeros((batch, *op.shape))

    def step(self, inputs):
        drive = self.one_minus_a * (self.op.v_leak + self.op.r * inputs["input"])
        self.v = self.a * self.v + drive
        return {"output": self.v}

    def state(self):
        return {"v": self.v}


@register_stepper(CubaLI)
class CubaLIStepper(Stepper):
    """I as `_CubaCurrent`;  v[t] = α_mem v[t−1] + (1 − α_mem)(v_leak + r Ĩ);  y = v."""

    def __init__(self, op: CubaLI, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.current = _CubaCurrent(op, ctx, batch)
        self.a = ctx.decay(op.tau_mem)
        self.one_minus_a = 1.0 - self.a
        self.v = np.zeros((batch, *op.shape))

    def step(self, inputs):
        i = self.current.advance(inputs["input"])
        self.v = self.a * self.v + self.one_minus_a * (self.op.v_leak + self.op.r * i)
        return {"output": self.v}

    def state(self):
        return {"v": self.v, "i": self.current.i}


# -- spiking neurons ----------------------------------------------------------------------------
class _SpikingStepper(Stepper):
    """Spike, reset and refractory logic shared by IF, LIF and CubaLIF (SPIKING_DOC).

    State: v (v[t], after any immediate reset), z (last tick's spikes, for next_step
    reset), refrac (refractory ticks still to serve). A refractory tick neither integrates
    nor spikes and holds v at its reset value; under next_step timing the pending reset of
    the spike just before is applied on the first refractory tick, so it happens exactly once.
    """

    def __init__(self, op, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        shape = (batch, *op.shape)
        self.v = np.zeros(shape)
        self.z = np.zeros(shape, dtype=bool)
        self.refrac = np.zeros(shape, dtype=np.int64)
        self.n_refrac = int(ctx.ticks(op.t_refrac, f"node '{node}': t_refrac"))
        self.delayed_reset = op.reset_timing == "next_step" and op.reset_mode != "none"

    def drive(self, x: np.ndarray):
        """(a, c) of v~ = a · v_from + c for this tick; advances synaptic state."""
        raise NotImplementedError

    def step(self, inputs):
        op = self.op
        a, c = self.drive(inputs["input"])
        v_tilde, held = self._integrate(a, c)
        if self.n_refrac:
            refractory = self.refrac > 0
            v_tilde = np.where(refractory, held, v_tilde)
            z = (v_tilde > op.v_threshold) & ~refractory
            self.refrac = np.where(z, self.n_refrac, np.maximum(self.refrac - 1, 0))
        else:
            z = v_tilde > op.v_threshold
        if self.delayed_reset or op.reset_mode == "none":
            self.v = v_tilde
        elif op.reset_mode == "value":
            self.v = np.where(z, op.v_reset, v_tilde)
        else:
            self.v = v_tilde - z * op.v_threshold
        self.z = z
        return {"output": z * v_tilde if op.graded else z.astype(np.float64)}

    def _integrate(self, a, c):
        """v~[t] before spiking, and the value a refractory neuron holds this tick."""
        op, v, z = self.op, self.v, self.z
        if not self.delayed_reset:
            return a * v + c, v
        if op.reset_mode == "value":
            start = np.where(z, op.v_reset, v)
            return a * start + c, start
        return a * v + c - z * op.v_threshold, v - z * op.v_threshold

    def state(self):
        return {"v": self.v, "z": self.z.astype(np.float64), "refrac": self.refrac}


@register_stepper(IF)
class IFStepper(_SpikingStepper):
    """v~[t] = v[t−1] + dt · r · x[t], then spike/reset."""

    def __init__(self, op: IF, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.gain = ctx.dt * op.r

    def drive(self, x):
        return 1.0, self.gain * x


@register_stepper(LIF)
class LIFStepper(_SpikingStepper):
    """v~[t] = α v[t−1] + (1 − α)(v_leak + r x[t]), then spike/reset."""

    def __init__(self, op: LIF, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.a = ctx.decay(op.tau)
        self.one_minus_a = 1.0 - self.a

    def drive(self, x):
        return self.a, self.one_minus_a * (self.op.v_leak + self.op.r * x)


@register_stepper(CubaLIF)
class CubaLIFStepper(_SpikingStepper):
    """I as `_CubaCurrent` (evolving even while refractory);
    v~[t] = α_mem v[t−1] + (1 − α_mem)(v_leak + r Ĩ), then spike/reset."""

    def __init__(self, op: CubaLIF, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.current = _CubaCurrent(op, ctx, batch)
        self.a = ctx.decay(op.tau_mem)
        self.one_minus_a = 1.0 - self.a

    def drive(self, x):
        i = self.current.advance(x)
        return self.a, self.one_minus_a * (self.op.v_leak + self.op.r * i)

    def state(self):
        return {**super().state(), "i": self.current.i}
