"""The Loihi family's target schema: what `snnc/targets/loihi*.json` must hold.

A Loihi-like chip is a mesh of neuromorphic cores (reference `loihi.md`). Besides the
shared fields (`TargetBase`: chips, cores per chip, mesh, cores per tile), a file gives:

    core.*              per-core limits: compartments, input and output axons, synapse memory bits
    synapse_encoding.*  the synapse-memory cost model (nengo-loihi's bits_per_axon)
    formats.*           integer formats of every register and the state
    neurons.*           compartment models, reset modes, graded spikes
    costs.*             energy and time per operation, for the compile report's estimate

The `source` strings say where each number comes from and which are unverified.
"""
from __future__ import annotations

from dataclasses import dataclass

from snnc.targets.schema import Range, SchemaError, TargetBase


@dataclass(frozen=True)
class CoreLimits:
    """What one core holds."""

    neurons: int                 # compartments per core
    input_axons: int             # fan-in axons (distribution lists) per core
    output_axons: int            # fan-out axon slots per core
    synapse_memory_bits: int     # synaptic memory per core, bits
    source: str = ""


@dataclass(frozen=True)
class SynapseEncoding:
    """The synapse-memory cost model (nengo-loihi `SynapseConfig.bits_per_axon`).

    One input axon with n target synapses stores them in ceil(n / group_size) groups;
    a group of g synapses costs g · (weight_bits + delay_bits if delays + tag_bits
    + index_bits if sparse) + Σ group_header_bits, rounded up to a multiple of word_bits.
    """

    group_size: int
    group_header_bits: tuple[int, ...]
    word_bits: int
    weight_bits: int
    delay_bits: int
    tag_bits: int
    index_bits: int
    source: str = ""

    def axon_bits(self, fan_out: int, *, sparse: bool = False, delays: bool = False) -> int:
        """Synapse-memory bits that one input axon driving `fan_out` synapses costs."""
        per_synapse = (self.weight_bits + self.tag_bits + (self.delay_bits if delays else 0)
                       + (self.index_bits if sparse else 0))
        header = sum(self.group_header_bits)
        total, left = 0, int(fan_out)
        while left > 0:
            g = min(left, self.group_size)
            total += -(-(g * per_synapse + header) // self.word_bits) * self.word_bits
            left -= g
        return total


@dataclass(frozen=True)
class NumberFormats:
    """Integer formats of the registers and the state (bits; ranges inclusive)."""

    weight_bits: int                  # weight mantissa magnitude bits (signed mantissas in [−2^b, 2^b − 1])
    weight_exp: Range                 # per-synapse-group weight exponent
    state_bits: int                   # u and v width (signed)
    decay_bits: int                   # du, dv registers (unsigned); unity = 2^decay_bits
    current_decay_offset: int         # added to du by the chip
    voltage_decay_offset: int         # added to dv by the chip
    threshold_mantissa_bits: int      # vth_mant, unsigned
    threshold_shift: int              # θ = vth_mant << threshold_shift
    bias_mantissa_bits: int           # bias_mant, signed (two's complement)
    bias_exp: Range
    activation_shift: int             # synaptic input enters u as a << activation_shift
    delay: Range                      # synaptic delay, extra ticks beyond the one-tick latency
    refractory: Range                 # ticks of refractory hold after a spike
    source: str = ""

    @property
    def weight_range(self) -> Range:
        return Range(-(1 << self.weight_bits), (1 << self.weight_bits) - 1)

    @property
    def threshold_mantissa_range(self) -> Range:
        return Range(0, (1 << self.threshold_mantissa_bits) - 1)

    @property
    def bias_mantissa_range(self) -> Range:
        half = 1 << (self.bias_mantissa_bits - 1)
        return Range(-half, half - 1)

    @property
    def current_decay_range(self) -> Range:
        """du register values the chip accepts."""
        return Range(0, (1 << self.decay_bits) - 1)

    @property
    def voltage_decay_range(self) -> Range:
        return Range(0, 1 << self.decay_bits)


@dataclass(frozen=True)
class NeuronFeatures:
    """Which neuron behaviours the cores support."""

    models: tuple[str, ...]           # compartment ops of the target's dialect, e.g. ("cuba",)
    reset_modes: tuple[str, ...]      # e.g. ("zero",) or ("zero", "subtract")
    graded_spikes: bool               # spikes may carry an integer payload
    graded_spike_bits: int            # payload width when graded (0 when not supported)
    source: str = ""


@dataclass(frozen=True)
class OpCost:
    """Energy and time of one operation."""

    energy_pj: float
    time_ns: float


@dataclass(frozen=True)
class Costs:
    """Energy and latency per operation, for the compile report's estimate."""

    synaptic_op: OpCost               # one synaptic spike operation (per synapse)
    neuron_update_active: OpCost      # a compartment update with activity
    neuron_update_inactive: OpCost    # a compartment update without activity
    spike_within_tile: OpCost         # a spike message delivered inside a tile
    hop_east_west: OpCost             # a spike message crossing one tile E-W
    hop_north_south: OpCost           # ... N-S
    barrier_ns: Range                 # mesh-wide barrier per tick (1 tile .. whole chip)
    source: str = ""
    proxy: str = ""                   # name of the target these numbers were taken from, if any
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class LoihiTarget(TargetBase):
    """One Loihi-family chip as data (module docstring)."""

    core: CoreLimits
    synapse_encoding: SynapseEncoding
    formats: NumberFormats
    neurons: NeuronFeatures
    costs: Costs

    def describe(self) -> str:
        """One line for `snnc targets`."""
        c = self.core
        return (f"{self.name:<8} {self.family:<6} {self.chips} chip × {self.cores_per_chip} cores; per core "
                f"{c.neurons} neurons, {c.input_axons} in / {c.output_axons} out axons, "
                f"{c.synapse_memory_bits} synapse bits; reset {'/'.join(self.neurons.reset_modes)}"
                f"{', graded spikes' if self.neurons.graded_spikes else ''} — {self.description}")

    def check(self) -> None:
        """Cross-field rules the types alone cannot express; raises `SchemaError(key, message)`."""
        super().check()
        for key in ("neurons", "input_axons", "output_axons", "synapse_memory_bits"):
            if getattr(self.core, key) < 1:
                raise SchemaError(f"core.{key}", f"expected an integer >= 1, got {getattr(self.core, key)}")
        enc = self.synapse_encoding
        if enc.group_size < 1 or enc.word_bits < 1:
            raise SchemaError("synapse_encoding.group_size" if enc.group_size < 1 else "synapse_encoding.word_bits",
                              "expected an integer >= 1")
        n = self.neurons
        if n.graded_spikes != (n.graded_spike_bits > 0):
            raise SchemaError("neurons.graded_spike_bits", f"{n.graded_spike_bits} bits does not agree with "
                                                          f"graded_spikes = {str(n.graded_spikes).lower()}")
        if not n.reset_modes:
            raise SchemaError("neurons.reset_modes", "expected at least one reset mode")
