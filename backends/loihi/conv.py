"""Weight-shared convolution synapses and sigma-delta neurons of the `loihi.*` dialect.

Both follow Lava's fixed-point process models (lava-nc/lava, read at the commits named in
each docstring); their step functions are in `conv_steps.py`. Values on every port are
int64 arrays, one tick is one Loihi algorithmic time step, as in `ops.py`.

Layout of a convolution's flat input and output vectors: C × H × W in C order, i.e. the
element (c, h, w) sits at index c·H·W + h·W + w. This is the order lava-dl's netx flattens
a conv block's output in before a dense layer (`out.transpose([2, 1, 0]).flatten()` of
Lava's (x, y, z) = (W, H, C) port) and the order of the C, H, W shapes netx files store.
"""
from __future__ import annotations

import numpy as np

from snnc.ir.op import Op, OpRuleError, array_field, choice_field, expect_input_shape, ints_field, register_op, \
    scalar_field
from snnc.ir.types import TensorType

CONV_ACC_BITS = 24        # Lava PyConvModelFixed: a_out = signed_clamp(conv, bits=24), a two's-complement wrap
SDN_STATE_BITS = 32       # Lava's sigma-delta models hold every state and port value as numpy int32
SDN_MODES = ("sigma_delta", "delta", "sigma")
SDN_ACTIVATIONS = ("relu", "unit")
SDN_EXP_MAX = 7           # spike_exp, state_exp: 3-bit Vars (LavaPyType precision=3)


def conv_output_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """floor((n + 2p − d(k − 1) − 1) / s) + 1 (Lava conv utils.output_shape, PyTorch conv2d)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@register_op
class Conv(Op):
    """2-D convolution synapses with shared integer kernels (Lava Conv, PyConvModelFixed).

    weight W is [C_out, C_in/groups, KH, KW]; input s is the flat [C_in·H·W] vector of
    `in_shape` = (C_in, H, W); output y is the flat [C_out·H'·W'] vector of `out_shape`
    (element (c, h, w) at c·H·W + h·W + w, see the module doc). Output channel k belongs
    to group g = k // (C_out/groups) and reads input channels g·C_in/groups + c',
    c' < C_in/groups. With (sH, sW) = stride, (pH, pW) = padding, (dH, dW) = dilation:
        H' = floor((H + 2pH − dH(KH − 1) − 1)/sH) + 1, and W' likewise.
    Input s[t] is spikes (binary: any nonzero value counts as 1) or, with graded, integer
    payloads. A spike at tick t reaches the output at tick t + 1 + d (d = delay of the
    kernel tap; delay 0 is Lava's one-tick synaptic latency). Everything arriving at tick t
    is summed, scaled by the output channel's exponent (floor for negative exponents), then
    wrapped to 24-bit two's complement as Lava's fixed-point Conv does:
        acc_{k,h,w}[t] = Σ_{c', i, j : t−1−d ≥ 0} W[k, c', i, j] · s_{g·C_in/groups + c', h·sH + i·dH − pH,
                                                                   w·sW + j·dW − pW}[t − 1 − d_{k,c',i,j}]
        y_{k,h,w}[t] = wrap_signed(acc_{k,h,w}[t] · 2^weight_exp[k], 24)
    where inputs outside 0 ≤ row < H, 0 ≤ column < W are 0 (zero padding) and y[0] = 0.
    This is cross-correlation, as PyTorch's conv2d and SLAYER's Conv synapse compute it:
    lava-dl's netx flips a file's kernel spatially before Lava's Conv, whose scipy
    convolve2d flips it back (lava-dl netx hdf5.py create_conv; lava-nc/lava proc/conv/utils.py
    conv_scipy at bec5ea88, models.py PyConvModelFixed at 96db6ee2). Lava's Conv has no
    exponent; weight_exp = 0 is it.
    Sum pooling is this op with groups = C_in = C_out and one equal value in every tap.
    The op is delayed (`Op.delayed`), like loihi.dense (ir_spec/SPEC.md §2, §3).
    Units: y in synaptic-input units (loihi.cuba shifts it by 6).
    """

    name = "loihi.conv"
    stateful = True
    delayed = True
    weight: np.ndarray = array_field("i64", doc="W, kernel mantissas [C_out, C_in/groups, KH, KW]")
    weight_exp: np.ndarray = array_field("i64", doc="exponent per output channel, [C_out]")
    in_shape: tuple[int, ...] = ints_field(doc="(C_in, H, W) of the flat input vector")
    stride: tuple[int, ...] = ints_field(default=(1, 1), doc="(sH, sW)")
    padding: tuple[int, ...] = ints_field(default=(0, 0), doc="(pH, pW), zeros on both sides")
    dilation: tuple[int, ...] = ints_field(default=(1, 1), doc="(dH, dW)")
    groups: int = scalar_field("int", default=1, doc="blocked channel groups")
    delay: np.ndarray = array_field("i64", default=0, doc="extra ticks: scalar, or one per kernel tap "
                                                          "[C_out, C_in/groups, KH, KW]")
    graded: bool = scalar_field("bool", default=False, doc="inputs are integer payloads, not binary spikes")

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(C_out, H', W')."""
        _, h, w = self.in_shape
        kh, kw = self.weight.shape[2:]
        return (self.weight.shape[0],
                conv_output_size(h, kh, self.stride[0], self.padding[0], self.dilation[0]),
                conv_output_size(w, kw, self.stride[1], self.padding[1], self.dilation[1]))

    def verify(self):
        if self.weight.ndim != 4:
            return [f"weight must be 4-D [C_out, C_in/groups, KH, KW], got shape {list(self.weight.shape)}"]
        errs = _check_geometry(self)
        if errs:
            return errs
        if any(n < 1 for n in self.out_shape[1:]):
            errs.append(f"input {list(self.in_shape)} is smaller than the dilated kernel "
                        f"{list(self.weight.shape[2:])} (output {list(self.out_shape)})")
        if self.weight_exp.shape != (self.weight.shape[0],):
            errs.append(f"weight_exp must have one exponent per output channel, shape [{self.weight.shape[0]}], "
                        f"got {list(self.weight_exp.shape)}")
        if self.delay.shape not in ((), self.weight.shape):
            errs.append(f"delay must be a scalar or have the kernel's shape {list(self.weight.shape)}, "
                        f"got {list(self.delay.shape)}")
        elif self.delay.size and self.delay.min() < 0:
            errs.append(f"delay must be >= 0 ticks, got min {self.delay.min()}")
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, (int(np.prod(self.in_shape)),))
        return {"output": TensorType((int(np.prod(self.out_shape)),), "int")}

    def synapse_count(self, inputs, outputs):
        """(input, output) pairs joined by a nonzero kernel tap (padding taps join none)."""
        nonzero = np.count_nonzero(self.weight, axis=(0, 1))           # [KH, KW]
        rows = _valid_positions(self.in_shape[1], self.out_shape[1], self.weight.shape[2], 0, self)
        cols = _valid_positions(self.in_shape[2], self.out_shape[2], self.weight.shape[3], 1, self)
        return int((nonzero * rows[:, None] * cols[None, :]).sum())

    def connections(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every synapse as flat (output index, input index, weight, delay) arrays, nonzero weights only.

        The same connectivity as a `loihi.sparse` matrix, for mapping onto cores; the
        sparse op does not wrap its sum at 24 bits, so the two agree while |acc| < 2^23.
        """
        c_out, cg, kh, kw = self.weight.shape
        c_in, h, w = self.in_shape
        _, ho, wo = self.out_shape
        k, c, i, j, y, x = np.ix_(*(np.arange(n) for n in (c_out, cg, kh, kw, ho, wo)))
        iy = y * self.stride[0] + i * self.dilation[0] - self.padding[0]
        ix = x * self.stride[1] + j * self.dilation[1] - self.padding[1]
        shape = (c_out, cg, kh, kw, ho, wo)
        valid = np.broadcast_to((iy >= 0) & (iy < h) & (ix >= 0) & (ix < w), shape)
        weight = np.broadcast_to(self.weight[:, :, :, :, None, None], shape)
        keep = valid & (weight != 0)
        channel = (k // (c_out // self.groups)) * cg + c
        src = np.broadcast_to(channel * h * w + iy * w + ix, shape)[keep]
        dst = np.broadcast_to(k * ho * wo + y * wo + x, shape)[keep]
        delay = np.broadcast_to(self.delay[..., None, None] if self.delay.ndim else self.delay, shape)[keep]
        return dst, src, weight[keep], delay


def _check_geometry(op: Conv) -> list[str]:
    errs = []
    for name, n, lo in (("in_shape", 3, 1), ("stride", 2, 1), ("padding", 2, 0), ("dilation", 2, 1)):
        value = getattr(op, name)
        if len(value) != n or min(value) < lo:
            errs.append(f"{name} must be {n} integers >= {lo}, got {list(value)}")
    if errs:
        return errs
    c_out, cg = op.weight.shape[:2]
    if op.groups < 1 or op.in_shape[0] % op.groups or c_out % op.groups:
        return [f"groups = {op.groups} must divide C_in = {op.in_shape[0]} and C_out = {c_out}"]
    if cg != op.in_shape[0] // op.groups:
        errs.append(f"weight has {cg} input channels per group, expected C_in/groups = "
                    f"{op.in_shape[0] // op.groups}")
    if 0 in op.weight.shape:
        errs.append(f"weight has an empty dimension: shape {list(op.weight.shape)}")
    return errs


def _valid_positions(n_in: int, n_out: int, k: int, axis: int, op: Conv) -> np.ndarray:
    """For each kernel offset along `axis`, how many output positions read a real (unpadded) input."""
    pos = np.arange(n_out)[None, :] * op.stride[axis] + np.arange(k)[:, None] * op.dilation[axis] - op.padding[axis]
    return ((pos >= 0) & (pos < n_in)).sum(axis=1)


@register_op
class SigmaDelta(Op):
    """Sigma-delta neurons with graded output (Lava Sigma, Delta, SigmaDelta fixed-point models).

    Per tick t, per neuron, with a[t] the integer sum arriving on `input` and
    θ = vth · 2^(spike_exp + state_exp), b = bias · 2^(spike_exp + state_exp).
    Every value is held in int32 as Lava's models hold it: w32(x) wraps x to 32-bit two's
    complement (numpy int32 arithmetic), applied to a[t] on arrival and after each step.
      mode sigma_delta (Lava PySigmaDeltaModelFixed, cum_error off):
        σ[t] = w32(σ[t−1] + a[t])
        α[t] = w32(σ[t] + b), then max(α[t], 0) with activation relu
        δ[t] = w32(w32(α[t] − α[t−1]) + r[t−1])
        ŝ[t] = δ[t] if w32(|δ[t]|) ≥ θ else 0        (≥, as the model code; |·| of −2^31 stays −2^31)
        r[t] = w32(δ[t] − ŝ[t])
        y[t] = ŝ[t] >> state_exp                       (arithmetic shift, floor)
      mode delta (Lava PyDeltaModelFixed, netx's SDNN input layer): as sigma_delta, but
        α[t] = w32(a[t] << (spike_exp + state_exp)), with no σ, bias or activation.
      mode sigma (Lava PySigmaModelFixed, netx's `sigma_output` layer): σ[t] = w32(σ[t−1] + a[t]);
        y[t] = σ[t].
    σ, α, r start at 0. `bias` is 0 in modes delta and sigma and `vth` is 0 in mode sigma
    (those models have none). y is a graded payload in spike units of 2^spike_exp; a
    synapse fed by it must be graded. Sources: lava-nc/lava src/lava/proc/sdn/models.py and
    process.py (6dd7e3b5, f44df1df): of the two fixed-point SigmaDelta models there, Lava's
    run configurations pick the first one defined, PySigmaDeltaModelFixed (residue form).
    """

    name = "loihi.sigma_delta"
    stateful = True
    neurons = True
    vth: np.ndarray = array_field("i64", doc="threshold mantissa: θ = vth · 2^(spike_exp + state_exp)")
    bias: np.ndarray = array_field("i64", doc="bias mantissa: b = bias · 2^(spike_exp + state_exp)")
    spike_exp: int = scalar_field("int", default=6, doc="exponent of the spike payload (netx: 6)")
    state_exp: int = scalar_field("int", default=6, doc="exponent of the state scale (netx: 6)")
    mode: str = choice_field(*SDN_MODES, default="sigma_delta", doc="which Lava process: SigmaDelta, Delta "
                                                                     "or Sigma")
    activation: str = choice_field(*SDN_ACTIVATIONS, default="relu", doc="f in mode sigma_delta: ReLU or identity")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.vth.shape

    def verify(self):
        if self.bias.shape != self.shape:
            return [f"bias has shape {list(self.bias.shape)}, but the neuron shape (of vth) is {list(self.shape)}"]
        errs = [f"{name} must lie in [0, {SDN_EXP_MAX}], got {getattr(self, name)}"
                for name in ("spike_exp", "state_exp") if not 0 <= getattr(self, name) <= SDN_EXP_MAX]
        if errs:
            return errs
        scale = 1 << (self.spike_exp + self.state_exp)
        limit = 1 << (SDN_STATE_BITS - 1)
        if self.vth.size and (self.vth.min() < 0 or self.vth.max() * scale >= limit):
            errs.append(f"vth must lie in [0, 2^31 / 2^{self.spike_exp + self.state_exp}), "
                        f"got [{self.vth.min()}, {self.vth.max()}]")
        if self.bias.size and (self.bias.min() * scale < -limit or self.bias.max() * scale >= limit):
            errs.append(f"bias · 2^{self.spike_exp + self.state_exp} must fit in int32, "
                        f"got [{self.bias.min()}, {self.bias.max()}]")
        unused = (("bias", self.bias) if self.mode != "sigma_delta" else None,
                  ("vth", self.vth) if self.mode == "sigma" else None)
        errs += [f"{name} must be 0 in mode {self.mode} (the Lava model has none)"
                 for name, v in filter(None, unused) if v.any()]
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.shape)
        return {"output": TensorType(self.shape, "int")}


def conv_from_pool(in_shape: tuple[int, int, int], kernel: np.ndarray, stride, padding=(0, 0),
                   dilation=(1, 1), **fields) -> Conv:
    """Sum pooling over every channel of `in_shape` with the [KH, KW] tap values `kernel`, as a Conv."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise OpRuleError(f"a pooling kernel is [KH, KW], got shape {list(kernel.shape)}")
    c = in_shape[0]
    weight = np.broadcast_to(kernel, (c, 1, *kernel.shape))
    return Conv(weight=weight, weight_exp=np.zeros(c, np.int64), in_shape=in_shape, stride=stride,
                padding=padding, dilation=dilation, groups=c, **fields)
