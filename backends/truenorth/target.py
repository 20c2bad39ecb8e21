"""The TrueNorth family's target schema: what `snnc/targets/truenorth.json` must hold.

A TrueNorth-like chip is a mesh of identical neurosynaptic cores (reference
`truenorth_analog.md` §A1–A2, §A6). Each limit below is read from the data file, once:

    core.axons                   input lines (crossbar rows) per core
    core.neurons                 neurons (crossbar columns) per core
    core.axon_types              types an axon row may carry; also the number of signed
                                 weights each neuron stores (one per type)
    core.destinations_per_neuron (core, axon, delay) targets one neuron may send to
    core.scheduler_ticks         depth of a core's input scheduler (delays are < this)
    formats.*                    integer ranges of the neuron registers
    neurons.reset_modes          the reset modes γ the cores implement
    timing.tick_s                wall time of one tick
    energy.*                     energy per synaptic event and per spike, for the estimate

The `source` strings say where each number comes from and which are unverified.
"""
from __future__ import annotations

from dataclasses import dataclass

from snnc.targets.schema import Range, SchemaError, TargetBase

RESET_MODES = ("normal", "linear", "none")     # γ = 0, 1, 2 (Cassidy et al. 2013)


@dataclass(frozen=True)
class CoreLimits:
    axons: int
    neurons: int
    axon_types: int
    destinations_per_neuron: int
    scheduler_ticks: int
    source: str = ""


@dataclass(frozen=True)
class Formats:
    weight: Range                 # signed weight s_j^G = σ · S (sign + 8-bit magnitude)
    leak: Range                   # signed leak σ_λ · λ per tick
    alpha: Range                  # positive threshold α
    beta: Range                   # negative threshold β
    reset_value: Range            # signed reset potential R
    membrane_bits: int            # V saturates to [−2^(b−1), 2^(b−1) − 1]
    prn_bits: int                 # width of the per-core pseudo-random numbers ρ
    threshold_mask_bits: Range    # TM: threshold noise η = ρ AND (2^TM − 1)
    delay: Range                  # ticks from a spike to its delivery at the destination axon
    source: str = ""

    @property
    def membrane_range(self) -> Range:
        half = 1 << (self.membrane_bits - 1)
        return Range(-half, half - 1)


@dataclass(frozen=True)
class NeuronFeatures:
    reset_modes: tuple[str, ...]
    stochastic: bool              # stochastic synapses, leak and threshold exist
    source: str = ""


@dataclass(frozen=True)
class Timing:
    tick_s: float
    source: str = ""


@dataclass(frozen=True)
class Energy:
    synaptic_event_pj: float      # one active axon reaching one connected neuron
    spike_pj: float               # one neuron firing and its packet delivered to a core
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class TrueNorthTarget(TargetBase):
    """A TrueNorth-like chip: `chips` × `cores_per_chip` cores on a `mesh` of one core per tile."""

    core: CoreLimits
    formats: Formats
    neurons: NeuronFeatures
    timing: Timing
    energy: Energy

    def describe(self) -> str:
        c = self.core
        return (f"{self.name:<8} {self.family:<6} {self.chips} chip × {self.cores_per_chip} cores; per core "
                f"{c.axons} axons × {c.neurons} neurons, binary crossbar, {c.axon_types} axon types, "
                f"{c.destinations_per_neuron} destination per neuron, delay {self.formats.delay}; "
                f"reset {'/'.join(self.neurons.reset_modes)} — {self.description}")

    def check(self) -> None:
        """Cross-field rules; raises `SchemaError(key, message)`."""
        super().check()
        for key in ("axons", "neurons", "axon_types", "destinations_per_neuron", "scheduler_ticks"):
            if getattr(self.core, key) < 1:
                raise SchemaError(f"core.{key}", f"expected an integer >= 1, got {getattr(self.core, key)}")
        f = self.formats
        if f.delay.lo < 1 or f.delay.hi >= self.core.scheduler_ticks:
            raise SchemaError("formats.delay", f"{f.delay} must lie within [1, {self.core.scheduler_ticks - 1}] "
                                               f"(a scheduler of {self.core.scheduler_ticks} ticks)")
        if f.threshold_mask_bits.lo < 0 or f.threshold_mask_bits.hi > f.prn_bits:
            raise SchemaError("formats.threshold_mask_bits", f"{f.threshold_mask_bits} must lie within "
                                                             f"[0, {f.prn_bits}] (prn_bits)")
        if not 2 <= f.membrane_bits <= 62:
            raise SchemaError("formats.membrane_bits", f"expected 2..62 bits, got {f.membrane_bits}")
        if f.alpha.lo < 0 or f.beta.lo < 0:
            raise SchemaError("formats.alpha" if f.alpha.lo < 0 else "formats.beta", "thresholds are unsigned")
        unknown = sorted(set(self.neurons.reset_modes) - set(RESET_MODES))
        if unknown or not self.neurons.reset_modes:
            raise SchemaError("neurons.reset_modes", f"expected a non-empty subset of {', '.join(RESET_MODES)}, "
                                                     f"got {list(self.neurons.reset_modes)}")
