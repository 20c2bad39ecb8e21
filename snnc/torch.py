"""Torch modules that compute snnc's own neuron equations, to train against snnc semantics.

`LIF`, `CubaLIF` and `IF` run one tick per call, exactly as the float interpreter runs the
ops `snn.lif`, `snn.cuba_lif` and `snn.if` (see their docstrings in `snnc.ir.snn.neuron`:
discretisation, reset mode and timing, refractory period, graded spikes), in the same
order of operations: in float64 with method 'euler' a model gives the interpreter's
spikes and membranes bit for bit ('exact' differs only by the rounding of torch's exp).
Spikes are Heaviside in the forward pass and have a fast-sigmoid surrogate gradient
(Zenke & Ganguli's SuperSpike): dz/du = 1 / (slope·|u| + 1)², u = v~ − v_threshold.

State lives in the module (like snnTorch's `init_hidden=True`): call `reset_state()` (or
`reset_states(model)`) before each new sequence. `snnc.load(model)` maps each module to
its op 1:1. This module needs torch; `import snnc` does not import it.

    net = torch.nn.Sequential(torch.nn.Linear(100, 50), snnc.torch.LIF(50, tau=0.02))
    for t in range(T):
        y = net(x[t])
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from snnc.errors import UsageError
from snnc.ir.snn.neuron import CURRENT_TIMINGS, RESET_MODES, RESET_TIMINGS

__all__ = ["LIF", "CubaLIF", "IF", "spike", "reset_states"]


class _FastSigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, slope):
        ctx.save_for_backward(u)
        ctx.slope = slope
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad / (ctx.slope * u.abs() + 1.0) ** 2, None


def spike(u: torch.Tensor, slope: float = 25.0) -> torch.Tensor:
    """H(u) (1 where u > 0) forward, fast-sigmoid surrogate gradient backward."""
    return _FastSigmoidSpike.apply(u, slope)


def reset_states(model: nn.Module) -> None:
    """Clear the state of every snnc neuron module inside `model`."""
    for m in model.modules():
        if isinstance(m, _Spiking):
            m.reset_state()


def _choice(value: str, choices, what: str) -> str:
    if value not in choices:
        raise UsageError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value


class _Spiking(nn.Module):
    """Spike, reset and refractory logic shared by IF, LIF and CubaLIF (snnc's SPIKING_DOC)."""

    float_fields: tuple[str, ...] = ()

    def __init__(self, shape, *, v_threshold=1.0, v_reset=0.0, reset_mode="value", reset_timing="immediate",
                 t_refrac=0.0, graded=False, dt=1e-3, method="euler", slope=25.0, learn=(), **fields):
        super().__init__()
        self.shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
        if not (dt > 0 and math.isfinite(dt)):
            raise UsageError(f"dt must be a positive number of seconds, got {dt!r}")
        self.dt, self.method = float(dt), _choice(method, ("euler", "exact"), "method")
        self.reset_mode = _choice(reset_mode, RESET_MODES, "reset_mode")
        self.reset_timing = _choice(reset_timing, RESET_TIMINGS, "reset_timing")
        if t_refrac < 0:
            raise UsageError(f"t_refrac must be >= 0 seconds, got {t_refrac!r}")
        self.t_refrac, self.graded, self.slope = float(t_refrac), bool(graded), float(slope)
        self.n_refrac = int(round(self.t_refrac / self.dt))
        fields.update(v_threshold=v_threshold, v_reset=v_reset)
        unknown = set(learn) - set(fields)
        if unknown:
            raise UsageError(f"learn names unknown parameters {sorted(unknown)}; choose from {sorted(fields)}")
        for name, value in fields.items():
            t = torch.as_tensor(value, dtype=torch.get_default_dtype()).expand(self.shape).clone()
            if name in learn:
                self.register_parameter(name, nn.Parameter(t))
            else:
                self.register_buffer(name, t)
        self.state: dict[str, torch.Tensor] | None = None

    def reset_state(self) -> None:
        self.state = None

    def decay(self, tau: torch.Tensor) -> torch.Tensor:
        """α(τ): 1 − dt/τ (euler) or exp(−dt/τ) (exact)."""
        return 1.0 - self.dt / tau if self.method == "euler" else torch.exp(-self.dt / tau)

    def drive(self, x: torch.Tensor, state: dict) -> tuple:
        """(a, c) of v~ = a · v_from + c; advances any synaptic state in `state`."""
        raise NotImplementedError

    def initial_state(self, x: torch.Tensor) -> dict:
        zeros = torch.zeros_like(x)
        return {"v": zeros, "z": zeros, "refrac": torch.zeros(x.shape, dtype=torch.int64, device=x.device)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.shape:
            raise UsageError(f"{type(self).__name__} expects input [B, {', '.join(map(str, self.shape))}], "
                             f"got {list(x.shape)}")
        if self.state is None or self.state["v"].shape != x.shape:
            self.state = self.initial_state(x)
        st = self.state
        a, c = self.drive(x, st)
        v_tilde, held = self._integrate(a, c, st)
        if self.n_refrac:
            refractory = st["refrac"] > 0
            v_tilde = torch.where(refractory, held, v_tilde)
            z = spike(v_tilde - self.v_threshold, self.slope) * (~refractory).to(x.dtype)
            st["refrac"] = torch.where(z.detach() > 0, self.n_refrac, torch.clamp(st["refrac"] - 1, min=0))
        else:
            z = spike(v_tilde - self.v_threshold, self.slope)
        zd = z.detach()
        if self.reset_timing == "next_step" or self.reset_mode == "none":
            st["v"] = v_tilde
        elif self.reset_mode == "value":
            st["v"] = torch.where(zd > 0, self.v_reset.to(x.dtype), v_tilde)
        else:
            st["v"] = v_tilde - zd * self.v_threshold
        st["z"] = zd
        return z * v_tilde if self.graded else z

    def _integrate(self, a, c, st):
        v, z = st["v"], st["z"]
        if self.reset_timing != "next_step" or self.reset_mode == "none":
            return a * v + c, v
        if self.reset_mode == "value":
            start = torch.where(z > 0, self.v_reset.to(v.dtype), v)
            return a * start + c, start
        return a * v + c - z * self.v_threshold, v - z * self.v_threshold

    def extra_repr(self) -> str:
        return (f"shape={list(self.shape)}, reset_mode={self.reset_mode}, reset_timing={self.reset_timing}, "
                f"t_refrac={self.t_refrac:g}, graded={self.graded}, dt={self.dt:g}, method={self.method}")


class LIF(_Spiking):
    """snn.lif: v~[t] = α(τ) v[t−1] + (1 − α(τ))(v_leak + r x[t]), then spike and reset.

    Parameters are scalars or tensors broadcast to `shape`; `learn` names those to train
    (tau, r, v_leak, v_threshold, v_reset); the others are buffers.
    """

    def __init__(self, shape, tau, *, r=1.0, v_leak=0.0, **kwargs):
        super().__init__(shape, tau=tau, r=r, v_leak=v_leak, **kwargs)

    def drive(self, x, st):
        a = self.decay(self.tau)
        return a, (1.0 - a) * (self.v_leak + self.r * x)


class IF(_Spiking):
    """snn.if: v~[t] = v[t−1] + dt · r · x[t], then spike and reset. r defaults to 1/dt (unit gain)."""

    def __init__(self, shape, *, r=None, dt=1e-3, **kwargs):
        super().__init__(shape, r=1.0 / dt if r is None else r, dt=dt, **kwargs)

    def drive(self, x, st):
        return 1.0, (self.dt * self.r) * x


class CubaLIF(_Spiking):
    """snn.cuba_lif: I[t] = α(τ_syn) I[t−1] + (1 − α(τ_syn)) w_in x[t];
    v~[t] = α(τ_mem) v[t−1] + (1 − α(τ_mem))(v_leak + r Ĩ) with Ĩ = I[t] (current_timing
    same_tick) or I[t−1] (next_tick), then spike and reset."""

    def __init__(self, shape, tau_syn, tau_mem, *, r=1.0, v_leak=0.0, w_in=1.0, current_timing="same_tick",
                 **kwargs):
        super().__init__(shape, tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, w_in=w_in, **kwargs)
        self.current_timing = _choice(current_timing, CURRENT_TIMINGS, "current_timing")

    def initial_state(self, x):
        return {**super().initial_state(x), "i": torch.zeros_like(x)}

    def drive(self, x, st):
        a_syn = self.decay(self.tau_syn)
        previous = st["i"]
        st["i"] = a_syn * previous + ((1.0 - a_syn) * self.w_in) * x
        current = st["i"] if self.current_timing == "same_tick" else previous
        a = self.decay(self.tau_mem)
        return a, (1.0 - a) * (self.v_leak + self.r * current)
