"""The `loihi.*` dialect: integer compartments, synapses and delays, bit-exact to Lava.

Arithmetic constants of the dialect (the same on every Loihi-family target; each
target's data file repeats them under `formats` and a test keeps the two equal):

    STATE_BITS = 24         u and v are 24-bit signed
    DECAY_SHIFT = 12        decays are fractions of 2^12 = 4096
    U_DECAY_OFFSET = 1      the chip adds 1 to the current decay register (Lava ds_offset)
    V_DECAY_OFFSET = 0      and nothing to the voltage decay register (Lava dm_offset)
    THRESHOLD_SHIFT = 6     θ = vth_mant << 6
    ACTIVATION_SHIFT = 6    synaptic input enters u as a << 6

Values on every port are int64 arrays; a tick is one Loihi algorithmic time step.
Helpers named in the equations live in `snnc/interp/fixed.py`:
  trunc0(x · m / 2^12)  = decay_toward_zero(x, m, 12)   (product in int64, round toward 0)
  wrap_once(x)          = wrap_once_upper(x, 24):  x − 2^24 if x > 2^23;  x + 2^24 if x ≤ −2^23
  sat(x)                = saturate_symmetric(x, 24): clip to [−(2^23 − 1), 2^23 − 1]
  x · 2^e               = shift_by_exponent(x, e):  x << e for e ≥ 0, x >> −e (floor) for e < 0
"""
from __future__ import annotations

import numpy as np

from snnc.ir.op import Op, array_field, choice_field, expect_input_shape, register_op, scalar_field
from snnc.ir.types import TensorType

STATE_BITS = 24
DECAY_SHIFT = 12
U_DECAY_OFFSET = 1
V_DECAY_OFFSET = 0
THRESHOLD_SHIFT = 6
ACTIVATION_SHIFT = 6
RESET_MODES = ("zero", "subtract")


@register_op
class Cuba(Op):
    """A group of CUBA compartments (Lava PyLifModelBitAcc, plus refractory and subtract reset).

    Per tick t, per compartment, in this order (a[t] = the integer sum arriving on `input`):
      1. u[t]  = wrap_once( trunc0(u[t−1] · (4096 − (du + 1)) / 4096) + (a[t] << 6) )
      2. b     = bias_mant · 2^bias_exp          (shift_by_exponent, recomputed each tick)
      3. θ     = vth_mant << 6
      4. r     = 1 if the compartment is refractory this tick (see 8), else 0
      5. p     = θ · z[t−1] if reset_mode is subtract, else 0   (the pending subtraction)
      6. v~[t] = sat( trunc0(v[t−1] · (4096 − dv) / 4096) + u[t] + b − p )    if r = 0
         v~[t] = sat( v[t−1] − p )                                              if r = 1
      7. z[t]  = 1 if v~[t] > θ and r = 0 else 0                   (strict >)
      8. zero:     v[t] = 0 where z[t], else v~[t]                 (u is never reset)
         subtract: v[t] = v~[t]; θ is subtracted after the next tick's decay (step 5)
         A spike at t makes the ticks t+1 … t+refractory refractory: v holds (minus any
         pending subtraction), u keeps integrating, no spike.
      9. y[t]  = z[t]            graded: y[t] = z[t] · v~[t]
    u, v, z start at 0. With reset_mode zero and refractory 0 this is exactly Lava's
    PyLifModelBitAcc. reset_mode subtract expresses snnTorch's next-step subtraction
    (v~[t+1] = α v[t] + in − θ z[t], the threshold itself not decayed) exactly.
    Units: u, v, θ and b in the 24-bit state scale; a in synaptic-input units (2^6 state units).
    """

    name = "loihi.cuba"
    stateful = True
    neurons = True
    du: np.ndarray = array_field("i64", doc="current decay register: u leaks by (du + 1)/4096 per tick; "
                                            "−1 means no leak (Lava's du)")
    dv: np.ndarray = array_field("i64", doc="voltage decay register: v leaks by dv/4096 per tick")
    vth_mant: np.ndarray = array_field("i64", doc="threshold mantissa: θ = vth_mant << 6")
    bias_mant: np.ndarray = array_field("i64", doc="bias mantissa (signed)")
    bias_exp: np.ndarray = array_field("i64", doc="bias exponent: b = bias_mant · 2^bias_exp")
    refractory: np.ndarray = array_field("i64", doc="ticks after a spike during which v holds and no spike "
                                                    "occurs (0 = none; the chip's refDelay is this + 1)")
    reset_mode: str = choice_field(*RESET_MODES, default="zero",
                                   doc="zero: v ← 0 on a spike; subtract: θ taken off after the next decay")
    graded: bool = scalar_field("bool", default=False, doc="spikes carry the integer payload v~[t] instead of 1")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.du.shape

    def verify(self):
        errs = [f"{name} has shape {list(getattr(self, name).shape)}, but the compartment shape (of du) is "
                f"{list(self.shape)}" for name in ("dv", "vth_mant", "bias_mant", "bias_exp", "refractory")
                if getattr(self, name).shape != self.shape]
        if errs:
            return errs
        one = 1 << DECAY_SHIFT
        checks = (("du", self.du, -U_DECAY_OFFSET, one - U_DECAY_OFFSET),
                  ("dv", self.dv, -V_DECAY_OFFSET, one - V_DECAY_OFFSET),
                  ("vth_mant", self.vth_mant, 0, None), ("refractory", self.refractory, 0, None))
        for name, v, lo, hi in checks:
            if v.size and (v.min() < lo or (hi is not None and v.max() > hi)):
                bound = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
                errs.append(f"{name} must lie in {bound}, got [{v.min()}, {v.max()}]")
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.shape)
        return {"output": TensorType(self.shape, "int")}


def _verify_weight_exp(weight_exp: np.ndarray, n_out: int) -> list[str]:
    if weight_exp.shape != (n_out,):
        return [f"weight_exp must have one exponent per output row, shape [{n_out}], "
                f"got {list(weight_exp.shape)}"]
    return []


def _verify_delay(delay: np.ndarray, shapes: tuple[tuple[int, ...], ...]) -> list[str]:
    errs = []
    if delay.shape not in shapes:
        errs.append(f"delay must be a scalar or have shape {list(shapes[-1])}, got {list(delay.shape)}")
    elif delay.size and delay.min() < 0:
        errs.append(f"delay must be >= 0 ticks, got min {delay.min()}")
    return errs


_SYNAPSE_TIMING = """
    The op is delayed (`Op.delayed`): y[t] depends only on inputs before t, so an edge
    into it does not order the tick and a cycle through it needs no recurrent edge (the
    synapse's own tick is the feedback delay, as on the chip; ir_spec/SPEC.md §2, §3).
    Input s[t] is spikes (binary: any nonzero value counts as 1, as Lava with
    num_message_bits = 0) or, with graded, integer payloads used as they are.
    A spike at tick t reaches the output at tick t + 1 + d (d = delay of the synapse;
    delay 0 is Lava's one-tick synaptic latency). Everything arriving at tick t is summed
    first, then scaled by the row's exponent with floor for negative exponents (Lava's
    order: sum, then shift):
        y_i[t] = (Σ_{j, d : t−1−d ≥ 0} W[i, j] · s_j[t − 1 − d_ij]) · 2^weight_exp[i]
    so y[0] = 0. Units: y in synaptic-input units (loihi.cuba shifts it by 6).
"""


@register_op
class Dense(Op):
    __doc__ = ("Dense synapses with integer weight mantissas (Lava PyDenseModelBitAcc / DelayDense).\n\n"
               "    weight is [N_out, N_in]; input [N_in], output [N_out]. One exponent per output\n"
               "    row (its synapse group); Lava's Dense is the case of equal exponents and delay 0.\n"
               + _SYNAPSE_TIMING)
    name = "loihi.dense"
    stateful = True
    delayed = True
    weight: np.ndarray = array_field("i64", doc="W, weight mantissas [N_out, N_in]")
    weight_exp: np.ndarray = array_field("i64", doc="exponent per output row, [N_out]")
    delay: np.ndarray = array_field("i64", default=0, doc="extra ticks per synapse: scalar or [N_out, N_in]")
    graded: bool = scalar_field("bool", default=False, doc="inputs are integer payloads, not binary spikes")

    def verify(self):
        if self.weight.ndim != 2:
            return [f"weight must be 2-D [N_out, N_in], got shape {list(self.weight.shape)}"]
        return (_verify_weight_exp(self.weight_exp, self.weight.shape[0])
                + _verify_delay(self.delay, ((), self.weight.shape)))

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.weight.shape[1:])
        return {"output": TensorType(self.weight.shape[:1], "int")}

    def synapse_count(self, inputs, outputs):
        return int(np.count_nonzero(self.weight))

    def inputs_used(self) -> np.ndarray:
        """The input elements with a nonzero weight (the ones whose spikes reach this node's core)."""
        return np.flatnonzero(np.any(self.weight != 0, axis=0))


@register_op
class Sparse(Op):
    __doc__ = ("Sparse synapses in CSR form (Lava Sparse / DelaySparse), for pruned connectivity.\n\n"
               "    Row i (output i) holds weights weight[indptr[i]:indptr[i+1]] from inputs\n"
               "    indices[indptr[i]:indptr[i+1]]; repeated columns add up. Input [n_in],\n"
               "    output [N_out = len(indptr) − 1]; W below is this matrix.\n"
               + _SYNAPSE_TIMING)
    name = "loihi.sparse"
    stateful = True
    delayed = True
    indptr: np.ndarray = array_field("i64", doc="row pointers, [N_out + 1]")
    indices: np.ndarray = array_field("i64", doc="input column of each stored synapse, [nnz]")
    weight: np.ndarray = array_field("i64", doc="weight mantissa of each stored synapse, [nnz]")
    weight_exp: np.ndarray = array_field("i64", doc="exponent per output row, [N_out]")
    delay: np.ndarray = array_field("i64", default=0, doc="extra ticks per synapse: scalar or [nnz]")
    n_in: int = scalar_field("int", doc="number of inputs")
    graded: bool = scalar_field("bool", default=False, doc="inputs are integer payloads, not binary spikes")

    @property
    def n_out(self) -> int:
        return len(self.indptr) - 1

    def verify(self):
        if self.indptr.ndim != 1 or len(self.indptr) < 1 or self.indptr[0] != 0:
            return ["indptr must be 1-D and start at 0"]
        errs = []
        if np.any(np.diff(self.indptr) < 0):
            errs.append("indptr must be non-decreasing")
        if self.indptr[-1] != len(self.indices) or len(self.indices) != len(self.weight):
            errs.append(f"indptr ends at {self.indptr[-1]} but there are {len(self.indices)} indices "
                        f"and {len(self.weight)} weights")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= self.n_in):
            errs.append(f"column indices must lie in [0, {self.n_in})")
        return (errs + _verify_weight_exp(self.weight_exp, self.n_out)
                + _verify_delay(self.delay, ((), self.weight.shape)))

    def infer_types(self, inputs):
        expect_input_shape(inputs, (self.n_in,))
        return {"output": TensorType((self.n_out,), "int")}

    def synapse_count(self, inputs, outputs):
        return int(np.count_nonzero(self.weight))

    def inputs_used(self) -> np.ndarray:
        """The input elements with a nonzero weight (the ones whose spikes reach this node's core)."""
        return np.unique(self.indices[self.weight != 0])

    def rows(self) -> np.ndarray:
        """The output row of each stored synapse, [nnz]."""
        return np.repeat(np.arange(self.n_out), np.diff(self.indptr))

    def to_dense(self) -> np.ndarray:
        """The equivalent weight-mantissa matrix [N_out, n_in] (int64)."""
        w = np.zeros((self.n_out, self.n_in), dtype=np.int64)
        np.add.at(w, (self.rows(), self.indices), self.weight)
        return w


@register_op
class AxonDelay(Op):
    """Axonal delay of integer spikes:  y[t] = x[t − delay]  (per element, whole ticks); y[t] = 0 for t < delay.

    On the chip this is no separate unit: the mapper folds it into the synaptic delay of
    every synapse the delayed axon drives (so the target's delay range bounds it, added
    to those synapses' own delays). Shape: input and output have the shape of `delay`.
    """

    name = "loihi.axon_delay"
    stateful = True
    delay: np.ndarray = array_field("i64", doc="delay per element, ticks (>= 0)")

    def verify(self):
        return [f"delay must be >= 0 ticks, got min {self.delay.min()}"] \
            if self.delay.size and self.delay.min() < 0 else []

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.delay.shape)
        return {"output": TensorType(self.delay.shape, "int")}


from snnc.backends.loihi import conv  # noqa: F401,E402  (loihi.conv, loihi.sigma_delta)
