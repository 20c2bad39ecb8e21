"""The op base class, typed field helpers and the one op registry.

An op is a frozen, keyword-only dataclass. Its fields are the symbols of its update
equation; its class variables say its name (`dialect.op`), its ports and whether it keeps
state across ticks. Everything that needs to know about ops -- printer, parser, NIR
writer, interpreter, the op table in `ir_spec/SPEC.md` -- reads this registry; nothing
else branches on op names.

Field kinds (the `kind` of a field, read from its annotation and metadata):

- ``array``: a numpy array, stored read-only with the dtype given by `array_field`
  (``float64`` or ``int64``); compared by dtype, shape and value.
- ``ints``: a tuple of Python ints (shapes, strides, kernel sizes).
- ``int``, ``float``, ``bool``: scalars.
- ``choice``: a string from a fixed set given by `choice_field`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snnc.errors import SnncError
from snnc.ir.types import TensorType

_DTYPES = {"f64": np.float64, "i64": np.int64}


class OpRuleError(SnncError):
    """An op whose fields or input types break its own rules; the graph verifier adds the node."""


def array_field(dtype: str = "f64", *, doc: str = "", default=None):
    """A numpy-array field of dtype ``f64`` or ``i64``."""
    meta = {"kind": "array", "dtype": dtype, "doc": doc}
    if default is None:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default_factory=lambda: np.asarray(default, _DTYPES[dtype]), metadata=meta)


def choice_field(*choices: str, default: str, doc: str = ""):
    """A string field restricted to `choices`."""
    return dataclasses.field(default=default, metadata={"kind": "choice", "choices": choices, "doc": doc})


def ints_field(*, doc: str = "", default: tuple[int, ...] | None = None):
    """A tuple-of-ints field (shape, stride, padding)."""
    meta = {"kind": "ints", "doc": doc}
    if default is None:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=tuple(default), metadata=meta)


def scalar_field(kind: str, *, default=dataclasses.MISSING, doc: str = ""):
    """An ``int``, ``float`` or ``bool`` field."""
    return dataclasses.field(default=default, metadata={"kind": kind, "doc": doc})


@dataclass(frozen=True, kw_only=True, eq=False)
class Op:
    """Base of every op. Subclasses are declared with `@register_op`."""

    name: ClassVar[str] = ""
    input_ports: ClassVar[tuple[str, ...]] = ("input",)
    output_ports: ClassVar[tuple[str, ...]] = ("output",)
    stateful: ClassVar[bool] = False   # keeps state across ticks
    neurons: ClassVar[bool] = False    # each output element is a neuron (counted in summaries and reports)
    # Output at tick t depends only on inputs of ticks before t (a built-in one-tick latency,
    # e.g. a Loihi synapse). Edges into such an op are not same-tick edges: they do not order
    # the tick (`Graph.schedule`), a cycle through the op needs no recurrent edge, and the
    # engine runs its stepper in two phases, `emit()` first and `absorb(inputs)` last
    # (ir_spec/SPEC.md §2, §3). Requires stateful.
    delayed: ClassVar[bool] = False

    def __post_init__(self):
        for f in dataclasses.fields(self):
            kind = f.metadata.get("kind")
            value = getattr(self, f.name)
            try:
                value = _normalise(kind, f, value)
            except (TypeError, ValueError) as exc:
                raise OpRuleError(f"{self.name}: field '{f.name}': {exc}") from None
            object.__setattr__(self, f.name, value)

    # -- the op's own rules -------------------------------------------------------------
    def verify(self) -> list[str]:
        """Return messages for every local rule the fields break (empty when valid)."""
        return []

    def infer_types(self, inputs: dict[str, TensorType]) -> dict[str, TensorType]:
        """Compute output port types from input port types; raise `OpRuleError` on mismatch."""
        raise NotImplementedError(self.name)

    def synapse_count(self, inputs: dict[str, TensorType], outputs: dict[str, TensorType]) -> int:
        """Number of synaptic connections this op makes per sample (0 for non-synaptic ops)."""
        return 0

    # -- structural helpers ---------------------------------------------------------------
    def replace(self, **changes) -> Op:
        """A copy of this op with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_specs(cls) -> tuple[dataclasses.Field, ...]:
        return dataclasses.fields(cls)

    def field_values(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __eq__(self, other) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return all(_field_equal(getattr(self, f.name), getattr(other, f.name))
                   for f in dataclasses.fields(self))

    __hash__ = None  # ops hold arrays; compare them, never hash them

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            parts.append(f"{f.name}=<{v.dtype}{list(v.shape)}>" if isinstance(v, np.ndarray) else f"{f.name}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _normalise(kind, f, value):
    if kind == "array":
        arr = np.array(value, dtype=_DTYPES[f.metadata["dtype"]], copy=True)
        if f.metadata["dtype"] == "i64" and np.asarray(value).dtype.kind == "f":
            if not np.array_equal(arr, np.asarray(value)):
                raise ValueError("expected integers, got fractional values")
        arr.setflags(write=False)
        return arr
    if kind == "ints":
        if np.ndim(value) == 0:
            raise TypeError(f"expected a tuple of ints, got {value!r}")
        return tuple(int(v) for v in value)
    if kind == "int":
        if isinstance(value, bool) or int(value) != value:
            raise TypeError(f"expected an int, got {value!r}")
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"expected a bool, got {value!r}")
        return bool(value)
    if kind == "choice":
        if value not in f.metadata["choices"]:
            raise ValueError(f"expected one of {', '.join(f.metadata['choices'])}, got {value!r}")
        return str(value)
    raise TypeError(f"field has no kind")


def _field_equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True)))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # nan equals nan, as in arrays above, so an op equals its printed-and-parsed copy
    return a == b


# -- the registry -----------------------------------------------------------------------------
OPS: dict[str, type[Op]] = {}


def register_op(cls: type[Op]) -> type[Op]:
    """Class decorator: make `cls` a frozen keyword-only dataclass and enter it in `OPS`."""
    if not cls.__dict__.get("name") or "." not in cls.name:
        raise TypeError(f"{cls.__qualname__} needs a dialect-qualified `name`")
    if cls.name in OPS:
        raise TypeError(f"op {cls.name} registered twice")
    if cls.delayed and not cls.stateful:
        raise TypeError(f"{cls.name}: a delayed op keeps its input for a later tick, so it must be stateful")
    cls = dataclass(frozen=True, kw_only=True, eq=False, repr=False)(cls)
    for f in dataclasses.fields(cls):
        if "kind" not in f.metadata:
            raise TypeError(f"{cls.name}.{f.name}: declare fields with array_field/choice_field/...")
    OPS[cls.name] = cls
    return cls


def op_class(name: str) -> type[Op]:
    """Look up a registered op by its qualified name; raises `KeyError` naming the known ones."""
    _load_dialects()
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(name) from None


def all_ops() -> dict[str, type[Op]]:
    """Every registered op, after every installed dialect has been imported."""
    _load_dialects()
    return dict(OPS)


def _load_dialects() -> None:
    """Import every dialect so its ops register (the snn dialect and each backend's)."""
    import snnc.ir.ann  # noqa: F401  (ANN activations, for conversion)
    import snnc.ir.snn  # noqa: F401  (the source dialect)
    from snnc.backend import load_backends
    load_backends()                                     # each family registers its dialect


def expect_input_shape(inputs: dict[str, TensorType], shape: tuple[int, ...], port: str = "input") -> None:
    """Raise `OpRuleError` unless the value on `port` has exactly `shape`."""
    got = inputs[port].shape
    if tuple(got) != tuple(shape):
        raise OpRuleError(f"{port} has shape {list(got)}, expected {list(shape)}")
