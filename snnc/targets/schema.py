"""The Target schema: frozen dataclasses read from one JSON data file per target.

Every chip limit is written once, in its target's JSON file; passes, design rules and
the verifier read it from here. The loader checks the file against these dataclasses
field by field (type, sign, unknown or missing keys) and names the file and the key
path in every error, e.g. ``loihi.json: core.neurons: expected an integer >= 1, got -3``.

Each section may carry a free-text ``source`` (where its numbers come from). A target's
``costs`` section may, instead of its own numbers, say ``"proxy": "<other target>"``
to reuse another target's table (with a ``note`` saying why); the numbers are then read
from that file, so they too are written once.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from snnc.errors import MalformedInputError


class Signed(float):
    """Schema type of a number that may be negative or zero (a plain `float` field must be >= 0).

    Device models carry fitted coefficients of either sign (polynomial terms, log slopes)."""


@dataclass(frozen=True)
class Range:
    """An inclusive integer range, written ``[lo, hi]`` in JSON."""

    lo: int
    hi: int

    def __contains__(self, value) -> bool:
        return self.lo <= value <= self.hi

    def __str__(self) -> str:
        return f"[{self.lo}, {self.hi}]"


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


@dataclass(frozen=True)
class Target:
    """One chip (family variant) as data. `family` names the backend package (`snnc.backends.<family>`)."""

    name: str
    family: str
    description: str
    chips: int
    cores_per_chip: int
    mesh: tuple[int, ...]             # tiles per chip, rows × columns
    cores_per_tile: int
    core: CoreLimits
    synapse_encoding: SynapseEncoding
    formats: NumberFormats
    neurons: NeuronFeatures
    costs: Costs
    sources: tuple[str, ...] = ()
    file: str = field(default="", compare=False)

    @property
    def total_cores(self) -> int:
        return self.chips * self.cores_per_chip

    def describe(self) -> str:
        """One line for `snnc targets`."""
        c = self.core
        return (f"{self.name:<8} {self.family:<6} {self.chips} chip × {self.cores_per_chip} cores; per core "
                f"{c.neurons} neurons, {c.input_axons} in / {c.output_axons} out axons, "
                f"{c.synapse_memory_bits} synapse bits; reset {'/'.join(self.neurons.reset_modes)}"
                f"{', graded spikes' if self.neurons.graded_spikes else ''} — {self.description}")

    def check(self) -> None:
        """Cross-field rules the types alone cannot express; raises `_Invalid(key, message)`."""
        _check_consistency(self)


# -- one schema per target family ----------------------------------------------------------------
FAMILY_SCHEMAS: dict[str, type] = {"loihi": Target}


def register_family(family: str):
    """Class decorator for a backend's own target dataclass (in `snnc.backends.<family>.target`).

    The class is a frozen dataclass with at least `name`, `family`, `description`, a
    `file` field (`field(default="", compare=False)`), `describe() -> str` (one line for
    `snnc targets`) and `check()` (cross-field rules, raising `SchemaError(key, message)`).
    """
    def deco(cls):
        FAMILY_SCHEMAS[family] = cls
        return cls
    return deco


def schema_for(family) -> type:
    """The target dataclass of `family`, importing its backend's `target` module on first use."""
    if isinstance(family, str) and family not in FAMILY_SCHEMAS:
        import importlib
        try:
            importlib.import_module(f"snnc.backends.{family}.target")
        except ModuleNotFoundError as exc:
            if not exc.name or not f"snnc.backends.{family}".startswith(exc.name):
                raise
    if family not in FAMILY_SCHEMAS:
        raise _Invalid("family", f"unknown target family {_show(family)} "
                                 f"(known: {', '.join(sorted(FAMILY_SCHEMAS))})")
    return FAMILY_SCHEMAS[family]


# -- loading ------------------------------------------------------------------------------------
class _Invalid(Exception):
    def __init__(self, key: str, message: str):
        self.key, self.message = key, message


SchemaError = _Invalid   # the name family schemas raise from their check()


def build(cls, data, key: str = ""):
    """Build dataclass `cls` from parsed JSON `data`; raises `_Invalid(key, message)`."""
    if not isinstance(data, dict):
        raise _Invalid(key or "(top level)", f"expected an object, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "file"}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise _Invalid(_join(key, unknown[0]), f"unknown key (known: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        sub = _join(key, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _Invalid(sub, "missing")
            continue
        values[name] = _convert(hints[name], data[name], sub)
    return cls(**values)


def _convert(hint, value, key):
    if dataclasses.is_dataclass(hint):
        if hint is Range:
            return _range(value, key)
        return build(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise _Invalid(key, f"expected true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Invalid(key, f"expected an integer >= 0, got {_show(value)}")
        return value
    if hint is Signed:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _Invalid(key, f"expected a number, got {_show(value)}")
        return float(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise _Invalid(key, f"expected a number >= 0, got {_show(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _Invalid(key, f"expected a string, got {_show(value)}")
        return value
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise _Invalid(key, f"expected a list, got {_show(value)}")
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    raise TypeError(f"schema type {hint!r} at {key} has no JSON form")  # a bug in this file, not in the data


def _range(value, key) -> Range:
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in value)):
        raise _Invalid(key, f"expected [lo, hi] integers, got {_show(value)}")
    if value[0] > value[1]:
        raise _Invalid(key, f"expected lo <= hi, got {value}")
    return Range(value[0], value[1])


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _show(value) -> str:
    import json
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def target_from_json(data, file: str, resolve_proxy=None):
    """Build and check a Target from parsed JSON; errors name `file` and the key path.

    `resolve_proxy(name) -> Target` supplies the target a ``costs.proxy`` refers to.
    """
    try:
        costs = data.get("costs") if isinstance(data, dict) else None
        if isinstance(costs, dict) and "proxy" in costs and resolve_proxy is not None:
            data = dict(data, costs=_proxied_costs(costs, resolve_proxy))
        cls = schema_for(data.get("family") if isinstance(data, dict) else None)
        target = build(cls, data)
        target.check()
    except _Invalid as exc:
        raise MalformedInputError(exc.message, file=file, where=exc.key) from None
    return dataclasses.replace(target, file=file)


def _proxied_costs(costs: dict, resolve_proxy) -> dict:
    extra = sorted(set(costs) - {"proxy", "note", "source"})
    if extra:
        raise _Invalid(f"costs.{extra[0]}", "a proxied cost table takes only proxy, note and source")
    name = costs["proxy"]
    if not isinstance(name, str):
        raise _Invalid("costs.proxy", f"expected a target name, got {_show(name)}")
    base = resolve_proxy(name)
    merged = dataclasses.asdict(base.costs)
    merged["barrier_ns"] = [base.costs.barrier_ns.lo, base.costs.barrier_ns.hi]
    merged.update(proxy=name, note=costs.get("note", ""), source=costs.get("source", base.costs.source))
    return merged


def _check_consistency(t: Target) -> None:
    if len(t.mesh) != 2 or 0 in t.mesh:
        raise _Invalid("mesh", f"expected [rows, columns] of tiles, both >= 1, got {list(t.mesh)}")
    positions = t.mesh[0] * t.mesh[1] * t.cores_per_tile
    if t.cores_per_chip > positions:
        raise _Invalid("cores_per_chip", f"{t.cores_per_chip} cores do not fit a {t.mesh[0]}×{t.mesh[1]} "
                                         f"tile mesh of {t.cores_per_tile} cores each ({positions} positions)")
    for key in ("chips", "cores_per_chip", "cores_per_tile"):
        if getattr(t, key) < 1:
            raise _Invalid(key, f"expected an integer >= 1, got {getattr(t, key)}")
    for key in ("neurons", "input_axons", "output_axons", "synapse_memory_bits"):
        if getattr(t.core, key) < 1:
            raise _Invalid(f"core.{key}", f"expected an integer >= 1, got {getattr(t.core, key)}")
    enc = t.synapse_encoding
    if enc.group_size < 1 or enc.word_bits < 1:
        raise _Invalid("synapse_encoding.group_size" if enc.group_size < 1 else "synapse_encoding.word_bits",
                       "expected an integer >= 1")
    if t.neurons.graded_spikes != (t.neurons.graded_spike_bits > 0):
        raise _Invalid("neurons.graded_spike_bits", f"{t.neurons.graded_spike_bits} bits does not agree with "
                                                    f"graded_spikes = {str(t.neurons.graded_spikes).lower()}")
    if not t.neurons.reset_modes:
        raise _Invalid("neurons.reset_modes", "expected at least one reset mode")

