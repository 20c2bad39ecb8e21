"""The `analog.*` dialect: crossbar tiles of memory devices and LIF neuron circuits.

An analog op is a seeded statistical model of one chip instance, not exact arithmetic.
Per-chip draws (programming noise, drift exponents, mismatch) come from the stream of
(seed, instance, node) (`device.stream`), so instance i of seed s is the same chip in
every run; per-read draws come from a second stream of the same key. With every noise
term zero both ops are deterministic, and analog.lif is then exactly snn.lif in circuit
units. Formulas and sources: `device.py`; semantics of the fields: the docstrings below.
"""
from __future__ import annotations

import numpy as np

from snnc.ir.op import Op, array_field, choice_field, expect_input_shape, register_op, scalar_field
from snnc.ir.snn.neuron import RESET_TIMING_DOC, RESET_TIMINGS
from snnc.ir.types import TensorType

DRIFT_COMPENSATIONS = ("none", "global", "per_column")
RESET_MODES = ("value", "subtract")


@register_op
class Crossbar(Op):
    """One crossbar tile: a block of a layer's weights as conductance pairs, with its DAC and ADC.

    The tile holds rows j = 0 … R−1 (inputs row_offset + j of an n_in-vector) and columns
    i = 0 … C−1 (outputs col_offset + i of an n_out-vector); every other output is 0, so the
    tiles of one layer add up, on the port they feed, to the layer's output (the digital
    partial-sum accumulation). Conductances are in the device's unit (µS, or LSB of a synapse
    DAC); the fitted terms take the normalised ĝ = g / g_max.

    Once per chip instance, for every device (each of g_pos, g_neg), target g_T:
        g_P = max(g_T + σ_prog(ĝ_T) ξ₁, 0)                           programming noise
        ν   = |μ_ν(ĝ_T) + σ_ν(ĝ_T) ξ₂|                               drift exponent
        g_D = g_P · ((t + t0)/t0)^(−ν)          t = t_inference      drift
        g   = max(g_D + |g_D| σ_1/f(ĝ_P, t) ξ₃, 0)                   accumulated 1/f read noise
        g   ← max(g · (1 + synapse_mismatch ξ₄), 0)                  fixed-pattern gain
        W   = (g⁺ − g⁻) / g_max,   W₀ = (g_P⁺ − g_P⁻) / g_max        [C, R], normalised
        c_i = 1 (none) | Σ|W₀| / Σ|W| over the tile (global) | over column i (per_column)
    σ_prog(ĝ) = max(Σ_k prog_noise[k] ĝ^k, 0) · g_max / prog_noise_g_ref;
    μ_ν, σ_ν = clip(a ln ĝ + b, lo, hi) from nu_mean, nu_std = [a, b, lo, hi];
    σ_1/f = min(q / ĝ_P^e, q_max) · sqrt(ln((t + t0 + t_read) / (2 t_read))), read_noise = [q, e, q_max];
    ξ ~ N(0, 1) (device.py gives each formula with its source).
    Every tick, for the input x [n_in]:
        u_j = DAC(x[row_offset + j] / x_max)            dac_bits = 0: u_j = 1 if x ≠ 0 else 0
        a   = W u,  then IR drop (ir_drop > 0), then a_i += out_noise · ξ_i (fresh each read)
        q   = ADC(a)                                    clip ±adc_bound, adc_bits levels; 0 = none
        y[col_offset + i] = q_i · c_i · gain_i · g_max · x_max / w_scale_i + bias_i
    With every noise term zero, y = ((g_pos − g_neg) / w_scale) x up to the DAC and ADC
    rounding: w_scale is the conductance per unit weight the mapping chose. Units: y in the
    source model's synaptic-input units.
    """

    name = "analog.crossbar"
    g_pos: np.ndarray = array_field(doc="target conductance of the positive device, [C, R]")
    g_neg: np.ndarray = array_field(doc="target conductance of the negative device, [C, R]")
    row_offset: int = scalar_field("int", doc="first input row of the tile in the n_in-vector")
    n_in: int = scalar_field("int", doc="length of the input vector")
    col_offset: int = scalar_field("int", doc="first output column of the tile in the n_out-vector")
    n_out: int = scalar_field("int", doc="length of the output vector")
    w_scale: np.ndarray = array_field(doc="conductance per unit weight, per column [C]")
    gain: np.ndarray = array_field(doc="digital gain per column after the ADC (calibration), [C]")
    bias: np.ndarray = array_field(doc="digital bias per column, model units, [C]")
    x_max: float = scalar_field("float", default=1.0, doc="input value at full DAC scale")
    dac_bits: int = scalar_field("int", default=0, doc="signed DAC bits (0: binary pulses)")
    adc_bits: int = scalar_field("int", default=0, doc="signed ADC bits (0: no ADC)")
    adc_bound: float = scalar_field("float", default=0.0, doc="ADC clipping bound, units of g_max · x_max")
    out_noise: float = scalar_field("float", default=0.0, doc="σ of output noise per read, units of g_max · x_max")
    ir_drop: float = scalar_field("float", default=0.0, doc="IR-drop scale (0: off)")
    ir_drop_g_ratio: float = scalar_field("float", default=5.7143e5, doc="wire conductance / g_max")
    drift_compensation: str = choice_field(*DRIFT_COMPENSATIONS, default="none",
                                           doc="digital drift compensation c: none, global, per_column")
    g_max: float = scalar_field("float", doc="largest conductance, device units")
    prog_noise: np.ndarray = array_field(default=[0.0], doc="σ_prog polynomial coefficients c_k (device units "
                                                            "at g_max = prog_noise_g_ref)")
    prog_noise_g_ref: float = scalar_field("float", default=1.0, doc="g_max the σ_prog fit was made at")
    nu_mean: np.ndarray = array_field(default=[0.0, 0.0, 0.0, 0.0], doc="[a, b, lo, hi] of μ_ν")
    nu_std: np.ndarray = array_field(default=[0.0, 0.0, 0.0, 0.0], doc="[a, b, lo, hi] of σ_ν")
    t0: float = scalar_field("float", default=20.0, doc="drift reference time, s")
    t_read: float = scalar_field("float", default=2.5e-7, doc="read time of the 1/f fit, s")
    read_noise: np.ndarray = array_field(default=[0.0, 0.0, 0.0], doc="[q, e, q_max] of Q_s")
    synapse_mismatch: float = scalar_field("float", default=0.0, doc="relative σ of each device's gain")
    t_inference: float = scalar_field("float", default=0.0, doc="seconds since programming")

    @property
    def shape(self) -> tuple[int, int]:
        """(C, R): columns and rows of the tile."""
        return self.g_pos.shape

    def verify(self):
        if self.g_pos.ndim != 2 or self.g_neg.shape != self.g_pos.shape:
            return [f"g_pos and g_neg must be 2-D [C, R] of one shape, got {list(self.g_pos.shape)} and "
                    f"{list(self.g_neg.shape)}"]
        C, R = self.shape
        errs = [f"{f} has shape {list(getattr(self, f).shape)}, expected [{C}]"
                for f in ("w_scale", "gain", "bias") if getattr(self, f).shape != (C,)]
        if not 0 <= self.row_offset <= self.n_in - R:
            errs.append(f"rows {self.row_offset}..{self.row_offset + R - 1} do not lie in the input of {self.n_in}")
        if not 0 <= self.col_offset <= self.n_out - C:
            errs.append(f"columns {self.col_offset}..{self.col_offset + C - 1} do not lie in the output of "
                        f"{self.n_out}")
        if (self.g_pos.size and (min(self.g_pos.min(), self.g_neg.min()) < 0
                                 or max(self.g_pos.max(), self.g_neg.max()) > self.g_max)):
            errs.append(f"conductances must lie in [0, g_max = {self.g_max:g}]")
        if not np.all(self.w_scale > 0):
            errs.append("w_scale must be > 0")
        if not self.x_max > 0 or not self.g_max > 0:
            errs.append("x_max and g_max must be > 0")
        if self.adc_bits and not self.adc_bound > 0:
            errs.append("an ADC needs adc_bound > 0")
        if self.nu_mean.shape != (4,) or self.nu_std.shape != (4,) or self.read_noise.shape != (3,):
            errs.append("nu_mean and nu_std need 4 numbers, read_noise 3")
        if min(self.t0, self.t_read, self.t_inference, self.out_noise, self.synapse_mismatch, self.ir_drop) < 0:
            errs.append("times, noise scales and ir_drop must be >= 0")
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, (self.n_in,))
        return {"output": TensorType((self.n_out,))}

    def synapse_count(self, inputs, outputs):
        return int(np.count_nonzero(self.g_pos != self.g_neg))


@register_op
class LIFCircuit(Op):
    """A population of LIF neuron circuits, in circuit units (volts of the chip, or its ADC's LSB).

    Once per chip instance, per neuron (ξ ~ N(0, 1), from the node's stream):
        τ' = tau_mem (1 + sigma_tau ξ₁),  G' = gain (1 + sigma_gain ξ₂),
        θ' = v_leak + (v_threshold − v_leak)(1 + sigma_threshold ξ₃)
    Every tick, with α = α(τ') under the graph's dt and method (α = 1 for τ = ∞):
        v~[t] = α v_from + (1 − α) v_leak + G' x[t]
    where v_from is v[t−1], or v_reset after a spike under next_step value timing; next_step
    subtract timing takes v_subtract off v~. Spiking as snn.lif (ir_spec/SPEC.md §5) with θ':
        z[t] = 1 if v~[t] > θ' and the neuron is not refractory
        immediate timing: value: v[t] = z ? v_reset : v~;  subtract: v[t] = v~ − z · v_subtract
        y[t] = z[t];  v starts at v_init
    Refractory: round(t_refrac / dt) ticks neither integrate nor spike. The mapping writes
    v_c = v_init + k v (k per neuron) for the model's v, so with every sigma zero the
    spikes are those of the source snn.lif / snn.if, up to float rounding at the threshold.
    """

    name = "analog.lif"
    stateful = True
    neurons = True
    tau_mem: np.ndarray = array_field(doc="membrane time constant in chip seconds (inf: no leak)")
    gain: np.ndarray = array_field(doc="circuit units per unit synaptic input, per tick")
    v_leak: np.ndarray = array_field(doc="leak reversal potential, circuit units")
    v_init: np.ndarray = array_field(doc="membrane at the start, circuit units")
    v_threshold: np.ndarray = array_field(doc="firing threshold, circuit units")
    v_reset: np.ndarray = array_field(doc="reset potential (reset_mode value), circuit units")
    v_subtract: np.ndarray = array_field(doc="taken off v at a spike (reset_mode subtract), circuit units")
    reset_mode: str = choice_field(*RESET_MODES, default="value", doc="value: v ← v_reset; subtract: v ← v − v_subtract")
    reset_timing: str = choice_field(*RESET_TIMINGS, default="immediate", doc=RESET_TIMING_DOC)
    t_refrac: float = scalar_field("float", default=0.0, doc="refractory period, chip seconds")
    sigma_tau: float = scalar_field("float", default=0.0, doc="relative σ of τ per neuron and chip")
    sigma_gain: float = scalar_field("float", default=0.0, doc="relative σ of the input gain")
    sigma_threshold: float = scalar_field("float", default=0.0, doc="relative σ of v_threshold − v_leak")

    ARRAYS = ("tau_mem", "gain", "v_leak", "v_init", "v_threshold", "v_reset", "v_subtract")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.v_threshold.shape

    def verify(self):
        errs = [f"{f} has shape {list(getattr(self, f).shape)}, but the neuron shape is {list(self.shape)}"
                for f in self.ARRAYS if getattr(self, f).shape != self.shape]
        if errs:
            return errs
        if not np.all(self.tau_mem > 0):
            errs.append(f"tau_mem must be > 0 seconds, got min {np.min(self.tau_mem, initial=np.inf):g}")
        if not self.t_refrac >= 0:
            errs.append(f"t_refrac must be >= 0 seconds, got {self.t_refrac:g}")
        if min(self.sigma_tau, self.sigma_gain, self.sigma_threshold) < 0:
            errs.append("mismatch sigmas must be >= 0")
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.shape)
        return {"output": TensorType(self.shape)}


@register_op
class SynapseCircuit(Op):
    """The synaptic-input circuit of a population: a current that low-passes what its tiles deliver.

    Once per chip instance, per neuron (ξ ~ N(0, 1), from the node's stream):
        τ' = tau_syn (1 + sigma_tau ξ)
    Every tick, with α = α(τ') under the graph's dt and method:
        I[t] = α I[t−1] + (1 − α) x[t];   y[t] = I[t];   I starts at 0
    Unit DC gain: the analog.lif it feeds carries the input gain. With sigma_tau zero this is
    the current of snn.cuba_lif / snn.cuba_li (same_tick) in the chip's time base.
    """

    name = "analog.synapse"
    stateful = True
    tau_syn: np.ndarray = array_field(doc="synaptic time constant in chip seconds, per neuron")
    sigma_tau: float = scalar_field("float", default=0.0, doc="relative σ of τ_syn per neuron and chip")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tau_syn.shape

    def verify(self):
        errs = []
        if self.tau_syn.ndim != 1:
            errs.append(f"tau_syn must be 1-D [neurons], got shape {list(self.tau_syn.shape)}")
        if not np.all(self.tau_syn > 0) or not np.all(np.isfinite(self.tau_syn)):
            errs.append("tau_syn must be finite and > 0 seconds")
        if not self.sigma_tau >= 0:
            errs.append(f"sigma_tau must be >= 0, got {self.sigma_tau:g}")
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, self.shape)
        return {"output": TensorType(self.shape)}


@register_op
class SpikeBuffer(Op):
    """The digital event path holding a population's spikes (or the host holding an input) for
    `ticks` ticks before they drive a tile's rows:  y[t] = x[t − ticks], 0 for t < ticks.

    A tile that reads spikes k >= 2 ticks old reads a buffer of k − 1 ticks over a recurrent
    edge (which adds the last tick); k = 1 is the recurrent edge alone."""

    name = "analog.buffer"
    stateful = True
    ticks: int = scalar_field("int", doc="ticks the values wait, >= 1")

    def verify(self):
        return [] if self.ticks >= 1 else [f"ticks must be >= 1, got {self.ticks}"]

    def infer_types(self, inputs):
        return {"output": inputs["input"]}
