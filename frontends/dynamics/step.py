"""One tick of a model as a tiny dataflow over a neutral vocabulary of primitive ops.

A frontend that reads a framework's own arithmetic (ONNX nodes, a jaxpr) writes one tick of
the model as a `StepFunction`: per-tick inputs x[t], the previous tick's state values,
constants, elementwise primitives, and `LAYER` values that apply a stateless `snn.*` op
(Affine, Conv2d, AvgPool2d, Flatten, ...) to one value. Each state is a pair: the value it
holds at the start of the tick (`STATE`) and the value it holds at the end (`state_out`).
Values are batched the way the framework computes them: per-tick arrays are
[B, *shape]; a constant broadcasts against them as in numpy (a constant whose rank equals
the batched rank carries a batch axis of its own).

Nothing here knows ONNX or JAX; `snnc.frontends.dynamics.recognise` turns a StepFunction
into an snn Graph.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from snnc.ir.op import Op


class Prim(enum.Enum):
    """The neutral vocabulary. Comparisons are elementwise and give booleans (0/1 values)."""

    INPUT = "input"                  # x[t] of a per-tick model input
    STATE = "state"                  # a state's value from the previous tick
    CONST = "const"                  # a constant array
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"                      # divisor must be constant
    NEG = "neg"
    GREATER = "greater"              # a > b (strict)
    LESS = "less"                    # a < b (strict)
    GREATER_EQUAL = "greater_equal"  # non-strict: read so that the refusal can name it
    LESS_EQUAL = "less_equal"
    CAST_FLOAT = "cast_float"        # bool -> float, or float -> float
    CAST_BOOL = "cast_bool"          # x != 0
    WHERE = "where"                  # c ? a : b
    NOT = "not"
    AND = "and"
    OR = "or"
    IDENTITY = "identity"
    RELU = "relu"                    # max(x, 0): ANNs only
    LAYER = "layer"                  # a stateless snn op applied per sample


ARITY = {Prim.INPUT: 0, Prim.STATE: 0, Prim.CONST: 0, Prim.NEG: 1, Prim.NOT: 1, Prim.IDENTITY: 1,
         Prim.CAST_FLOAT: 1, Prim.CAST_BOOL: 1, Prim.RELU: 1, Prim.LAYER: 1, Prim.WHERE: 3}


@dataclass(frozen=True)
class Value:
    """One value of the dataflow: `prim` applied to the values `args` (indices)."""

    index: int
    prim: Prim
    args: tuple[int, ...] = ()
    origin: str = ""                   # where it came from in the user's model (for messages)
    name: str = ""                     # INPUT / STATE: the input or state name
    const: np.ndarray | None = None    # CONST
    op: Op | None = None               # LAYER
    shape: tuple[int, ...] | None = None   # INPUT / STATE: per-sample shape, when known


@dataclass(frozen=True)
class StatePair:
    """A state: `value_in` is its STATE value, `value_out` the value it holds after the tick."""

    name: str
    value_in: int
    value_out: int


@dataclass(frozen=True)
class StepFunction:
    """One tick of a model. `inputs`/`outputs` map names to value indices, in order."""

    values: tuple[Value, ...]
    inputs: dict[str, int]
    states: tuple[StatePair, ...]
    outputs: dict[str, int]

    def state(self, name: str) -> StatePair:
        return next(s for s in self.states if s.name == name)


@dataclass
class StepBuilder:
    """Assemble a StepFunction value by value; every method returns the new value's index."""

    _values: list[Value] = field(default_factory=list)
    _inputs: dict[str, int] = field(default_factory=dict)
    _states: dict[str, int] = field(default_factory=dict)
    _state_out: dict[str, int] = field(default_factory=dict)
    _outputs: dict[str, int] = field(default_factory=dict)

    def _add(self, **kw) -> int:
        v = Value(index=len(self._values), **kw)
        self._values.append(v)
        return v.index

    def input(self, name: str, shape: tuple[int, ...], origin: str = "") -> int:
        """x[t] of the model input `name`; `shape` is its per-sample shape (no batch, no time)."""
        if name in self._inputs:
            raise ValueError(f"input {name!r} declared twice")
        self._inputs[name] = self._add(prim=Prim.INPUT, name=name, shape=tuple(shape), origin=origin or name)
        return self._inputs[name]

    def state(self, name: str, shape: tuple[int, ...] | None = None, origin: str = "") -> int:
        """The value state `name` held at the end of the previous tick (zero before tick 0)."""
        if name in self._states:
            raise ValueError(f"state {name!r} declared twice")
        self._states[name] = self._add(prim=Prim.STATE, name=name, origin=origin or name,
                                       shape=None if shape is None else tuple(shape))
        return self._states[name]

    def state_out(self, name: str, value: int) -> None:
        """The value state `name` holds at the end of this tick."""
        self._state_out[name] = value

    def output(self, name: str, value: int) -> None:
        self._outputs[name] = value

    def const(self, array, origin: str = "") -> int:
        return self._add(prim=Prim.CONST, const=np.asarray(array, dtype=np.float64), origin=origin)

    def apply(self, prim: Prim, *args: int, origin: str = "") -> int:
        """An elementwise primitive of the vocabulary applied to `args`."""
        want = ARITY.get(prim, 2)
        if prim in (Prim.INPUT, Prim.STATE, Prim.CONST, Prim.LAYER) or len(args) != want:
            raise ValueError(f"{prim.value} takes {want} arguments through its own method")
        return self._add(prim=prim, args=tuple(args), origin=origin)

    def layer(self, op: Op, arg: int, origin: str = "") -> int:
        """A stateless snn op (Affine, Linear, Conv2d, AvgPool2d, Flatten, ...) applied per sample."""
        return self._add(prim=Prim.LAYER, args=(arg,), op=op, origin=origin)

    def matmul(self, arg: int, weight: np.ndarray, origin: str = "") -> int:
        """x @ W with a constant W [N_in, N_out]: an snn.linear of weight W.T."""
        from snnc.ir.snn import Linear
        return self.layer(Linear(weight=np.asarray(weight, dtype=np.float64).T), arg, origin)

    def value(self, index: int) -> Value:
        return self._values[index]

    def build(self, *, complete: bool = True) -> StepFunction:
        """The StepFunction; with complete=False, states without an end-of-tick value are left
        out of `states` (their STATE values still evaluate), for comparing partial ticks."""
        missing = [n for n in self._states if n not in self._state_out]
        if missing and complete:
            raise ValueError(f"states without a value at the end of the tick: {missing}")
        states = tuple(StatePair(n, self._states[n], self._state_out[n]) for n in self._states
                       if n in self._state_out)
        return StepFunction(tuple(self._values), dict(self._inputs), states, dict(self._outputs))


def per_sample_shape(array_shape: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """The per-sample shape of a constant broadcast against batched values of per-sample
    rank `rank`: a constant of rank `rank + 1` carries a batch axis, which is dropped."""
    return tuple(array_shape[1:]) if len(array_shape) == rank + 1 else tuple(array_shape)


def infer_shapes(step: StepFunction) -> dict[int, tuple[int, ...] | None]:
    """Per-sample shape of every value (None where nothing fixes it).

    Elementwise values broadcast their non-constant arguments, then constants; a state takes
    the shape of its value at the end of the tick, so the rules are iterated to a fixpoint.
    """
    from snnc.ir.types import TensorType

    shapes: dict[int, tuple[int, ...] | None] = {v.index: v.shape for v in step.values}
    outs = {s.value_in: s.value_out for s in step.states}
    for _ in range(len(step.states) + 2):
        changed = False
        for v in step.values:
            new = shapes[v.index]
            if v.prim is Prim.STATE and new is None:
                new = shapes[outs[v.index]]
            elif v.prim is Prim.LAYER:
                arg = shapes[v.args[0]]
                if arg is not None:
                    try:
                        new = v.op.infer_types({"input": TensorType(arg)})["output"].shape
                    except Exception:     # reported with the node when the graph is verified
                        new = None
            elif v.prim not in (Prim.INPUT, Prim.STATE, Prim.CONST):
                new = _broadcast(step, shapes, v.args)
            if new != shapes[v.index]:
                shapes[v.index], changed = new, True
        if not changed:
            break
    return shapes


def _broadcast(step: StepFunction, shapes, args) -> tuple[int, ...] | None:
    known = [shapes[a] for a in args if step.values[a].prim is not Prim.CONST and shapes[a] is not None]
    if not known:
        return None
    rank = max(len(s) for s in known)
    consts = [per_sample_shape(step.values[a].const.shape, rank) for a in args
              if step.values[a].prim is Prim.CONST]
    try:
        return tuple(np.broadcast_shapes(*known, *consts))
    except ValueError:
        return None
