"""The analog family's target schema: a crossbar chip, its memory device and its neuron circuits.

A target file (`snnc/targets/analog*.json`) describes one chip as data. Besides the shared
fields (`TargetBase`), whose cores are the chip's crossbar tiles (`cores_per_chip` tiles on a
`mesh`), it gives:

    crossbar    physical array size, how signed weights and partial sums are built
    device      the memory device's statistical model (normalised to g_max, formulas in
                `device.py`): programming noise polynomial, drift exponent statistics, 1/f read
                noise, programmable levels, fixed-pattern synapse mismatch
    converters  DAC and ADC resolution and range, output-referred read noise, IR drop
    neuron      the LIF circuit: its voltage units and operating points, parameter DACs,
                time-constant range, per-neuron mismatch (relative σ)
    timing      continuous-time emulation (speed-up over the model's time) or clocked ticks
    costs       energy per operation and static power, for the compile report's estimate

A new device or chip is a new data file: the passes and the interpreter read every number
from here (the mapping copies the device model into the ops, so a compiled graph runs on
its own). Each section carries a `source`; numbers that are not published figures say so.
"""
from __future__ import annotations

from dataclasses import dataclass

from snnc.targets.schema import Range, SchemaError, Signed, TargetBase

SIGNED_MODES = ("differential_pair", "split_rows")
PARTIAL_SUMS = ("digital", "membrane")
RESET_MODES = ("value", "subtract")


@dataclass(frozen=True)
class Crossbar:
    """One physical array and how many the chip has."""

    rows: int                   # word lines (inputs) per tile
    cols: int                   # bit lines (outputs) per tile
    signed_mode: str            # differential_pair: a G+/G− pair per cell; split_rows: exc and inh rows
    partial_sums: str           # digital: per-tile ADC then an adder; membrane: merged neuron circuits
    source: str = ""

    def inputs_per_tile(self) -> int:
        """Signed inputs one tile takes (split_rows spends two rows on each)."""
        return self.rows // 2 if self.signed_mode == "split_rows" else self.rows


@dataclass(frozen=True)
class Device:
    """The memory device model; conductances in `unit`, noise terms normalised to g_max (device.py)."""

    kind: str
    unit: str                          # "uS" for a conductance, "LSB" for a synapse-DAC code
    g_max: float
    levels: int                        # programmable levels per device; 0 = continuous (analog)
    prog_noise: tuple[Signed, ...]     # σ_prog = Σ_k c_k (g_T/g_max)^k, in `unit` at g_max = prog_noise_g_ref
    prog_noise_g_ref: float
    nu_mean: tuple[Signed, ...]        # [a, b, lo, hi]: μ_ν = clip(a ln(g_T/g_max) + b, lo, hi)
    nu_std: tuple[Signed, ...]         # [a, b, lo, hi]: σ_ν likewise
    t0: float                          # s, first read after programming (drift reference)
    t_read: float                      # s, read duration of the 1/f fit
    read_noise: tuple[float, ...]      # [q, e, q_max]: Q_s = min(q / (g/g_max)^e, q_max)
    synapse_mismatch: float            # relative σ of each device's gain, fixed per chip
    t_inference: float                 # s after programming that a compile assumes by default
    source: str = ""


@dataclass(frozen=True)
class Converters:
    """The array periphery (aihwkit IOParameters conventions, see device.py)."""

    dac_bits: int                      # signed input levels ±(2^(b−1) − 1); 0 = binary row pulses
    adc_bits: int                      # signed output levels ±(2^(b−1) − 1); 0 = no ADC (analog sum)
    adc_bound: float                   # ADC clipping bound, in units of g_max · x_max
    out_noise: float                   # σ of additive output noise per read, same units
    ir_drop: float                     # aihwkit ir_drop scale (0 = off)
    ir_drop_g_ratio: float             # wire conductance / g_max
    source: str = ""


@dataclass(frozen=True)
class NeuronMismatch:
    """Relative σ of the multiplicative per-neuron deviations drawn once per chip instance."""

    tau: float
    threshold: float                   # of the threshold's distance from the leak potential
    gain: float
    source: str = ""


@dataclass(frozen=True)
class NeuronCircuit:
    """The LIF circuit: the model potential v maps to v_c = v_zero + k · v (k per neuron)."""

    units: str                         # what one circuit unit is (mV, CADC LSB)
    reset_modes: tuple[str, ...]
    v_zero: float                      # circuit value of the model's 0 (rest)
    v_threshold: float                 # circuit value every threshold maps to
    v_range: Range                     # parameter DAC range, circuit units
    parameter_bits: int                # parameter DAC resolution over v_range
    tau_range: tuple[float, ...]       # [lo, hi] leaky membrane time constant, chip seconds
    tau_syn_range: tuple[float, ...]   # [lo, hi] of the synaptic-current filter, chip seconds; [] = none
                                       # (one-state circuits: the input current follows the synapses at once)
    integrators: bool                  # whether the leak can be switched off (snn.if: τ = ∞)
    refractory_max: float              # longest refractory period, chip seconds
    mismatch: NeuronMismatch
    source: str = ""


@dataclass(frozen=True)
class Timing:
    """continuous: the chip emulates the model `speedup` times faster than its own time;
    clocked: one tick runs the tiles layer after layer, `mvm_ns` each, then the neurons."""

    continuous: bool
    speedup: float
    mvm_ns: float
    neuron_ns: float
    max_delay: int                     # ticks a population's spikes can wait before they drive rows
                                       # (1: the previous tick's, for recurrent tiles; 0: none)
    source: str = ""


@dataclass(frozen=True)
class Costs:
    """Energy model of one inference (emit.py): static power × time + Σ operations × energy."""

    static_mw: float
    row_drive_pj: float                # one input row driven in one read
    column_read_pj: float              # one column sensed (and converted) in one read
    partial_sum_pj: float              # one digital partial-sum addition
    neuron_update_pj: float            # one neuron circuit for one tick
    spike_pj: float                    # one spike routed to the next layer's rows
    source: str = ""
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class AnalogTarget(TargetBase):
    """An analog crossbar chip: `chips` × `cores_per_chip` crossbar tiles on a `mesh`."""

    crossbar: Crossbar
    device: Device
    converters: Converters
    neuron: NeuronCircuit
    timing: Timing
    costs: Costs

    @property
    def total_tiles(self) -> int:
        return self.total_cores

    @property
    def graded_inputs(self) -> bool:
        """Whether a graph input may carry real values: the rows' DACs take levels (else binary events)."""
        return self.converters.dac_bits > 0

    def describe(self) -> str:
        x, d = self.crossbar, self.device
        weights = f"{d.levels}-level" if d.levels else "analog"
        c = self.converters
        dac = f"{c.dac_bits}-bit DAC" if c.dac_bits else "binary row pulses"
        adc = f"{c.adc_bits}-bit ADC" if c.adc_bits else "no ADC"
        return (f"{self.name:<8} {self.family:<6} {self.chips} chip × {self.cores_per_chip} tiles of {x.rows}×{x.cols} "
                f"({x.signed_mode.replace('_', ' ')}), {weights} {d.kind} weights, g_max {d.g_max:g} {d.unit}; "
                f"{dac}, {adc} — {self.description}")

    def check(self) -> None:
        super().check()
        _check(self)


def _check(t: AnalogTarget) -> None:
    x, d, c, n = t.crossbar, t.device, t.converters, t.neuron
    for key, value in (("crossbar.rows", x.rows), ("crossbar.cols", x.cols),
                       ("neuron.parameter_bits", n.parameter_bits)):
        if value < 1:
            raise SchemaError(key, f"expected an integer >= 1, got {value}")
    if x.signed_mode not in SIGNED_MODES:
        raise SchemaError("crossbar.signed_mode", f"expected one of {', '.join(SIGNED_MODES)}, got {x.signed_mode!r}")
    if x.partial_sums not in PARTIAL_SUMS:
        raise SchemaError("crossbar.partial_sums", f"expected one of {', '.join(PARTIAL_SUMS)}, got {x.partial_sums!r}")
    if x.signed_mode == "split_rows" and x.rows < 2:
        raise SchemaError("crossbar.rows", "split_rows needs at least 2 rows (one excitatory, one inhibitory)")
    if not d.g_max > 0:
        raise SchemaError("device.g_max", f"expected a number > 0, got {d.g_max}")
    if d.levels == 1:
        raise SchemaError("device.levels", "expected 0 (continuous) or at least 2 levels, got 1")
    for key, value, size in (("device.nu_mean", d.nu_mean, 4), ("device.nu_std", d.nu_std, 4),
                             ("device.read_noise", d.read_noise, 3)):
        if len(value) != size:
            raise SchemaError(key, f"expected {size} numbers, got {len(value)}")
    if not d.prog_noise:
        raise SchemaError("device.prog_noise", "expected at least one coefficient (write [0] for none)")
    if c.adc_bits and not c.adc_bound > 0:
        raise SchemaError("converters.adc_bound", f"an ADC of {c.adc_bits} bits needs a bound > 0")
    for key, bits in (("converters.dac_bits", c.dac_bits), ("converters.adc_bits", c.adc_bits)):
        if bits == 1 or bits > 24:
            raise SchemaError(key, f"expected 0 or 2..24 bits, got {bits}")
    unknown = [m for m in n.reset_modes if m not in RESET_MODES]
    if not n.reset_modes or unknown:
        raise SchemaError("neuron.reset_modes", f"expected some of {', '.join(RESET_MODES)}, got {list(n.reset_modes)}")
    if not n.v_range.lo <= n.v_zero < n.v_threshold <= n.v_range.hi:
        raise SchemaError("neuron.v_threshold", f"expected v_range.lo <= v_zero < v_threshold <= v_range.hi, got "
                                                f"{n.v_range.lo} <= {n.v_zero} < {n.v_threshold} <= {n.v_range.hi}")
    if len(n.tau_range) != 2 or not 0 < n.tau_range[0] <= n.tau_range[1]:
        raise SchemaError("neuron.tau_range", f"expected [lo, hi] with 0 < lo <= hi, got {list(n.tau_range)}")
    if n.tau_syn_range and (len(n.tau_syn_range) != 2 or not 0 < n.tau_syn_range[0] <= n.tau_syn_range[1]):
        raise SchemaError("neuron.tau_syn_range", f"expected [] (no synaptic filter) or [lo, hi] with 0 < lo <= hi, "
                                                  f"got {list(n.tau_syn_range)}")
    if not t.timing.speedup > 0:
        raise SchemaError("timing.speedup", f"expected a number > 0, got {t.timing.speedup}")
