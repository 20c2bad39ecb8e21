"""Bit-exact step functions of `loihi.conv` and `loihi.sigma_delta` (equations in `conv.py`).

Everything is int64 and vectorised over the batch. The convolution sums W · s tap by tap
(one einsum per kernel offset over all channel groups at once) in float64 where every
partial sum is provably below 2^53, else in int64, so results are exact integers either
way. In strict mode (`Context.strict`) a value that would wrap raises `SimulationError`
naming the node, the tick, the batch sample and the element.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.loihi.conv import CONV_ACC_BITS, SDN_STATE_BITS, Conv, SigmaDelta
from snnc.errors import SimulationError
from snnc.interp import fixed
from snnc.interp.kernel import DelayedStepper, Stepper, register_stepper

# steps.py imports this module at its end, after defining _integers (import-order safe both ways)
from snnc.backends.loihi.steps import _integers  # noqa: E402

_FLOAT64_EXACT = 1 << 53


def _wrap(stepper, x: np.ndarray, bits: int, what: str) -> np.ndarray:
    """wrap_signed(x, bits); in strict mode raise naming the first element that would wrap."""
    wrapped = fixed.wrap_signed(x, bits)
    if stepper.ctx.strict and not np.array_equal(wrapped, x):
        idx = tuple(int(i) for i in np.argwhere(wrapped != x)[0])
        raise SimulationError(f"node '{stepper.node}' ({stepper.op.name}) tick {stepper.tick}, sample {idx[0]}, "
                              f"element {idx[1]}: {what} = {int(x[idx])} wraps ({bits}-bit two's complement, "
                              f"strict mode)")
    return wrapped


def correlate(x: np.ndarray, weight: np.ndarray, op: Conv) -> np.ndarray:
    """Σ_taps W · x for x [B, C_in, H, W] (any numeric dtype) → [B, C_out, H', W'] of x's dtype."""
    batch = x.shape[0]
    c_out, cg, kh, kw = weight.shape
    g = op.groups
    (sh, sw), (ph, pw), (dh, dw) = op.stride, op.padding, op.dilation
    _, ho, wo = op.out_shape
    hp, wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))).reshape(batch, g, cg, hp, wp)
    wg = weight.reshape(g, c_out // g, cg, kh, kw).astype(x.dtype)
    out = np.zeros((batch, g, c_out // g, ho, wo), x.dtype)
    for i in range(kh):
        for j in range(kw):
            tap = wg[..., i, j]
            if not tap.any():
                continue
            patch = xp[..., i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]
            out += np.einsum("bgchw,gkc->bgkhw", patch, tap)
    return out.reshape(batch, c_out, ho, wo)


@register_stepper(Conv)
class ConvStepper(DelayedStepper):
    """A ring of arrival slots, one per delay: `absorb` adds tick t's input, convolved with the
    taps of delay δ, into slot t + 1 + δ; `emit` scales, wraps and clears the slot of tick t."""

    def __init__(self, op: Conv, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.tick = 0
        delay = np.broadcast_to(op.delay, op.weight.shape)
        self.by_delay = [(int(d), np.where(delay == d, op.weight, 0)) for d in np.unique(delay)]
        self.ring = np.zeros((int(delay.max()) + 1, batch, int(np.prod(op.out_shape))), np.int64)
        self.exp = np.repeat(op.weight_exp, op.out_shape[1] * op.out_shape[2])
        self.row_abs_sum = int(np.abs(op.weight).reshape(op.weight.shape[0], -1).sum(axis=1).max(initial=0))

    def emit(self):
        now = self.tick % len(self.ring)
        acc = self.ring[now] if not self.exp.any() else fixed.shift_by_exponent(self.ring[now], self.exp)
        out = _wrap(self, acc, CONV_ACC_BITS, "convolution sum")
        self.ring[now] = 0
        return {"output": out}

    def absorb(self, inputs):
        s = _integers(inputs["input"], self.node, self.tick) if self.op.graded else (inputs["input"] != 0)
        s = np.asarray(s).reshape(self.batch, *self.op.in_shape)
        peak = 1 if not self.op.graded else int(np.abs(s).max(initial=0))
        exact_in_float = peak * self.row_abs_sum < _FLOAT64_EXACT
        s = s.astype(np.float64 if exact_in_float else np.int64)
        if s.any():
            for d, weight in self.by_delay:
                y = correlate(s, weight, self.op).reshape(self.batch, -1)
                self.ring[(self.tick + 1 + d) % len(self.ring)] += y.astype(np.int64)
        self.tick += 1

    def state(self):
        return {"pending": self.ring.sum(axis=0)}


@register_stepper(SigmaDelta)
class SigmaDeltaStepper(Stepper):
    """Lava's fixed-point sigma-delta dynamics with every intermediate wrapped to int32."""

    def __init__(self, op: SigmaDelta, ctx, batch, node=""):
        super().__init__(op, ctx, batch, node)
        self.tick = 0
        scale = op.spike_exp + op.state_exp
        self.theta = fixed.shift_left(op.vth, scale)
        self.bias = fixed.shift_left(op.bias, scale)
        shape = (batch, *op.shape)
        self.sigma = np.zeros(shape, np.int64)
        self.act = np.zeros(shape, np.int64)
        self.residue = np.zeros(shape, np.int64)

    def w32(self, x, what: str) -> np.ndarray:
        return _wrap(self, x.reshape(self.batch, -1), SDN_STATE_BITS, what).reshape(x.shape)

    def step(self, inputs):
        a = self.w32(_integers(inputs["input"], self.node, self.tick), "input a")
        if self.op.mode == "sigma":
            self.sigma = self.w32(self.sigma + a, "sigma")
            self.tick += 1
            return {"output": self.sigma}
        if self.op.mode == "delta":
            act = self.w32(fixed.shift_left(a, self.op.spike_exp + self.op.state_exp), "scaled input")
        else:
            self.sigma = self.w32(self.sigma + a, "sigma")
            act = self.w32(self.sigma + self.bias, "sigma + bias")
            if self.op.activation == "relu":
                act = np.maximum(act, 0)
        delta = self.w32(self.w32(act - self.act, "activation change") + self.residue, "delta")
        fire = fixed.wrap_signed(np.abs(delta), SDN_STATE_BITS) >= self.theta
        sent = np.where(fire, delta, 0)
        self.residue = self.w32(delta - sent, "residue")
        self.act = act
        self.tick += 1
        return {"output": sent >> self.op.state_exp}

    def state(self):
        return {"sigma": self.sigma, "act": self.act, "residue": self.residue}
