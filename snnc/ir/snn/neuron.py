"""Neuron ops: integrators, leaky integrators and spiking neurons.

Parameters are per-neuron arrays of one shape, the neuron shape, which is also the input
and output shape (as NIR). Time constants are in seconds; the graph's `dt` and
`method` make them discrete (see `ir_spec/SPEC.md`, "Discretisation"):

    euler:  α(τ) = 1 − dt/τ          exact:  α(τ) = exp(−dt/τ)

and an input x[t] enters a leaky state with weight (1 − α), so a state s with
τ ds/dt = −s + u becomes s[t] = α s[t−1] + (1 − α) u[t] under both methods.

Spiking ops add the fields NIR lacks (`reset_mode`, `reset_timing`, `t_refrac`,
`graded`); their defaults give NIR's meaning (reset to `v_reset`, immediately).
"""
from __future__ import annotations

import numpy as np

from snnc.ir.op import Op, array_field, choice_field, expect_input_shape, register_op, scalar_field
from snnc.ir.types import TensorType

RESET_MODES = ("value", "subtract", "none")
RESET_TIMINGS = ("immediate", "next_step")
CURRENT_TIMINGS = ("same_tick", "next_tick")


class _Neuron(Op):
    """Shared rules: all per-neuron arrays have the neuron shape; time constants are > 0."""

    stateful = True
    neurons = True
    shape_field = ""          # the field whose shape is the neuron shape
    time_constants: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return getattr(self, self.shape_field).shape

    def verify(self):
        errs = []
        for f in self.field_specs():
            v = getattr(self, f.name)
            if f.metadata["kind"] == "array" and v.shape != self.shape:
                errs.append(f"{f.name} has shape {list(v.shape)}, but the neuron shape is {list(self.shape)}")
        for name in self.time_constants:
            v = getattr(self, name)
            if v.shape == self.shape and not np.all(v > 0):   # also refuses nan
                errs.append(f"{name} must be > 0 seconds, got min {np.min(v):g}")
        if not getattr(self, "t_refrac", 0.0) >= 0:         # also refuses nan
            errs.append(f"t_refrac must be >= 0 seconds, got {self.t_refrac:g}")
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.shape)
        return {"output": TensorType(self.shape)}


RESET_MODE_DOC = "value: v ← v_reset; subtract: v ← v − v_threshold; none: no reset"
RESET_TIMING_DOC = ("immediate: reset within the spiking tick; "
                    "next_step: at the start of the next tick (snnTorch's default)")


SPIKING_DOC = """
    Spiking, per tick t, given the integrated membrane v~[t] (whose equation is above):

        next_step timing first applies the previous tick's reset while integrating:
            value:    v~ is integrated from  (z[t−1] ? v_reset : v[t−1])
            subtract: v~[t] = (integration from v[t−1]) − z[t−1] · v_threshold
        z[t] = 1 if v~[t] > v_threshold and the neuron is not refractory, else 0
        immediate timing then resets within the tick:
            value: v[t] = z ? v_reset : v~;  subtract: v[t] = v~ − z · v_threshold
        (next_step timing keeps v[t] = v~[t]; reset_mode none never resets)
        y[t] = z[t]            (graded: y[t] = z[t] · v~[t])

    Refractory: after a spike, the next n = round(t_refrac/dt) ticks neither integrate
    nor spike; v holds its (reset) value; synaptic current keeps evolving.
"""


@register_op
class I(_Neuron):  # noqa: E742  (NIR's name)
    """Integrator:  dv/dt = r · x.   Discrete (both methods): v[t] = v[t−1] + dt · r · x[t];  y[t] = v[t].

    Units: r in 1/s per unit input; v starts at 0.
    """

    name = "snn.i"
    shape_field = "r"
    r: np.ndarray = array_field(doc="input gain r")


@register_op
class LI(_Neuron):
    """Leaky integrator:  τ dv/dt = (v_leak − v) + r · x.

    Discrete:  v[t] = α(τ) · v[t−1] + (1 − α(τ)) · (v_leak + r · x[t]);  y[t] = v[t];  v starts at 0.
    """

    name = "snn.li"
    shape_field = "tau"
    time_constants = ("tau",)
    tau: np.ndarray = array_field(doc="membrane time constant τ, seconds")
    r: np.ndarray = array_field(doc="input resistance r")
    v_leak: np.ndarray = array_field(doc="resting potential v_leak")


@register_op
class IF(_Neuron):
    """Integrate-and-fire:  dv/dt = r · x, spike when v > v_threshold.

    Discrete (both methods):  v~[t] = v[t−1] + dt · r · x[t];  v starts at 0.
    """

    __doc__ = __doc__ + SPIKING_DOC
    name = "snn.if"
    shape_field = "v_threshold"
    r: np.ndarray = array_field(doc="input gain r")
    v_threshold: np.ndarray = array_field(doc="firing threshold")
    v_reset: np.ndarray = array_field(doc="reset value (reset_mode value)")
    reset_mode: str = choice_field(*RESET_MODES, default="value", doc=RESET_MODE_DOC)
    reset_timing: str = choice_field(*RESET_TIMINGS, default="immediate", doc=RESET_TIMING_DOC)
    t_refrac: float = scalar_field("float", default=0.0, doc="refractory period, seconds")
    graded: bool = scalar_field("bool", default=False, doc="spikes carry v~ instead of 1")


@register_op
class LIF(_Neuron):
    """Leaky integrate-and-fire:  τ dv/dt = (v_leak − v) + r · x, spike when v > v_threshold.

    Discrete:  v~[t] = α(τ) · v[t−1] + (1 − α(τ)) · (v_leak + r · x[t]);  v starts at 0.
    """

    __doc__ = __doc__ + SPIKING_DOC
    name = "snn.lif"
    shape_field = "v_threshold"
    time_constants = ("tau",)
    tau: np.ndarray = array_field(doc="membrane time constant τ, seconds")
    r: np.ndarray = array_field(doc="input resistance r")
    v_leak: np.ndarray = array_field(doc="resting potential v_leak")
    v_threshold: np.ndarray = array_field(doc="firing threshold")
    v_reset: np.ndarray = array_field(doc="reset value (reset_mode value)")
    reset_mode: str = choice_field(*RESET_MODES, default="value", doc=RESET_MODE_DOC)
    reset_timing: str = choice_field(*RESET_TIMINGS, default="immediate", doc=RESET_TIMING_DOC)
    t_refrac: float = scalar_field("float", default=0.0, doc="refractory period, seconds")
    graded: bool = scalar_field("bool", default=False, doc="spikes carry v~ instead of 1")


_CUBA_DOC = """
    Current-based synapse then membrane:
        τ_syn dI/dt = −I + w_in · x,   τ_mem dv/dt = (v_leak − v) + r · I
    Discrete:
        I[t] = α(τ_syn) · I[t−1] + (1 − α(τ_syn)) · w_in · x[t]
        v~[t] = α(τ_mem) · v[t−1] + (1 − α(τ_mem)) · (v_leak + r · Ĩ)
    with Ĩ = I[t] for current_timing same_tick (snnTorch Synaptic, Norse LIFCell) and
    Ĩ = I[t−1] for next_tick (NIR's forward-Euler reference). I and v start at 0.
"""


@register_op
class CubaLI(_Neuron):
    __doc__ = "Current-based leaky integrator; y[t] = v[t] = v~[t].\n" + _CUBA_DOC
    name = "snn.cuba_li"
    shape_field = "v_leak"
    time_constants = ("tau_syn", "tau_mem")
    tau_syn: np.ndarray = array_field(doc="synaptic time constant, seconds")
    tau_mem: np.ndarray = array_field(doc="membrane time constant, seconds")
    r: np.ndarray = array_field(doc="input resistance r")
    v_leak: np.ndarray = array_field(doc="resting potential v_leak")
    w_in: np.ndarray = array_field(doc="input weight into the current")
    current_timing: str = choice_field(*CURRENT_TIMINGS, default="same_tick",
                                       doc="whether v integrates this tick's current or the previous one")


@register_op
class CubaLIF(_Neuron):
    __doc__ = "Current-based leaky integrate-and-fire.\n" + _CUBA_DOC + SPIKING_DOC
    name = "snn.cuba_lif"
    shape_field = "v_threshold"
    time_constants = ("tau_syn", "tau_mem")
    tau_syn: np.ndarray = array_field(doc="synaptic time constant, seconds")
    tau_mem: np.ndarray = array_field(doc="membrane time constant, seconds")
    r: np.ndarray = array_field(doc="input resistance r")
    v_leak: np.ndarray = array_field(doc="resting potential v_leak")
    v_threshold: np.ndarray = array_field(doc="firing threshold")
    v_reset: np.ndarray = array_field(doc="reset value (reset_mode value)")
    w_in: np.ndarray = array_field(doc="input weight into the current")
    current_timing: str = choice_field(*CURRENT_TIMINGS, default="same_tick",
                                       doc="whether v integrates this tick's current or the previous one")
    reset_mode: str = choice_field(*RESET_MODES, default="value", doc=RESET_MODE_DOC)
    reset_timing: str = choice_field(*RESET_TIMINGS, default="immediate", doc=RESET_TIMING_DOC)
    t_refrac: float = scalar_field("float", default=0.0, doc="refractory period, seconds")
    graded: bool = scalar_field("bool", default=False, doc="spikes carry v~ instead of 1")


@register_op
class Threshold(Op):
    """Heaviside spike generator: y[t] = 1 if x[t] > threshold else 0 (strict >, stateless)."""

    name = "snn.threshold"
    threshold: np.ndarray = array_field(doc="θ, per element")

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.threshold.shape)
        return {"output": TensorType(self.threshold.shape)}
