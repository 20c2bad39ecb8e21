"""Symbolic evaluation of a StepFunction: every value as a polynomial in named variables.

Variables (`Var` = (kind, key)):

    ("in", name)      x[t] of a per-tick input
    ("state", name)   a state's value from the previous tick
    ("layer", j)      the output of the j-th distinct layer application (op, input polynomial)
    ("atom", j)       the j-th distinct comparison [p_j > 0], a 0/1 variable
    ("zprev", n)      the previous tick's spike of population n (introduced by the recogniser)

Coefficients are float64 arrays that broadcast against batched values [B, *shape]. 0/1
variables are idempotent (a·a = a), so Where(c, a, b) = c·a + (1 − c)·b and the reset
products of every framework stay polynomials. Layer applications and comparisons are
hash-consed in one `Context`, so two ticks evaluated in the same context give equal
variables for equal computations, which is how unrolled copies are compared.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from snnc.errors import UnsupportedOpError
from snnc.frontends.dynamics.step import Prim, StepFunction
from snnc.ir.op import Op

Var = tuple
Mono = tuple
BOOLEAN_KINDS = ("atom", "zprev")


def _mono_mul(a: Mono, b: Mono) -> Mono:
    merged = sorted(a + b)
    out: list = []
    for v in merged:
        if v[0] in BOOLEAN_KINDS and out and out[-1] == v:
            continue                           # z · z = z for 0/1 variables
        out.append(v)
    return tuple(out)


class Poly:
    """An immutable polynomial: monomial (sorted tuple of Vars) -> coefficient array."""

    __slots__ = ("terms",)

    def __init__(self, terms: Mapping[Mono, np.ndarray] | None = None):
        clean = {}
        for mono, coef in (terms or {}).items():
            coef = np.asarray(coef, dtype=np.float64)
            if np.any(coef != 0):
                clean[mono] = coef
        self.terms = clean

    @staticmethod
    def const(value) -> Poly:
        return Poly({(): np.asarray(value, dtype=np.float64)})

    @staticmethod
    def var(v: Var) -> Poly:
        return Poly({(v,): np.asarray(1.0)})

    # -- algebra --------------------------------------------------------------------------
    def __add__(self, other: Poly) -> Poly:
        terms = dict(self.terms)
        for mono, coef in other.terms.items():
            terms[mono] = terms[mono] + coef if mono in terms else coef
        return Poly(terms)

    def __neg__(self) -> Poly:
        return Poly({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: Poly) -> Poly:
        return self + (-other)

    def __mul__(self, other: Poly) -> Poly:
        terms: dict[Mono, np.ndarray] = {}
        for ma, ca in self.terms.items():
            for mb, cb in other.terms.items():
                m = _mono_mul(ma, mb)
                terms[m] = terms[m] + ca * cb if m in terms else ca * cb
        return Poly(terms)

    def scale(self, factor) -> Poly:
        factor = np.asarray(factor, dtype=np.float64)
        return Poly({m: c * factor for m, c in self.terms.items()})

    # -- inspection -----------------------------------------------------------------------
    @property
    def is_const(self) -> bool:
        return all(m == () for m in self.terms)

    def constant(self) -> np.ndarray:
        return self.terms.get((), np.asarray(0.0))

    def coeff(self, mono: Mono) -> np.ndarray:
        return self.terms.get(tuple(mono), np.asarray(0.0))

    def variables(self) -> set:
        return {v for m in self.terms for v in m}

    @property
    def is_boolean(self) -> bool:
        """Every variable is a 0/1 variable (a comparison, a previous spike)."""
        return all(v[0] in BOOLEAN_KINDS for v in self.variables())

    def key(self) -> tuple:
        """A hashable key: equal for polynomials with bit-identical coefficients."""
        return tuple(sorted((m, c.shape, c.tobytes()) for m, c in self.terms.items()))

    def split(self, v: Var) -> tuple[Poly, Poly]:
        """(P0, P1) with P = P0 + v · P1, for a variable v of degree <= 1 in P."""
        p0, p1 = {}, {}
        for m, c in self.terms.items():
            if v in m:
                rest = list(m)
                rest.remove(v)
                if v in rest:
                    raise ValueError(f"{v} has degree > 1")
                p1[tuple(rest)] = c
            else:
                p0[m] = c
        return Poly(p0), Poly(p1)

    def substitute(self, table: Mapping[Var, Poly]) -> Poly:
        """Replace variables by polynomials."""
        out = Poly()
        for m, c in self.terms.items():
            term = Poly.const(c)
            for v in m:
                term = term * (table[v] if v in table else Poly.var(v))
            out = out + term
        return out

    def evaluate(self, values: Mapping[Var, np.ndarray]) -> np.ndarray:
        """The numeric value, given every variable's value."""
        total = np.asarray(0.0)
        for m, c in self.terms.items():
            term = c
            for v in m:
                term = term * values[v]
            total = total + term
        return total

    def __repr__(self) -> str:
        def fmt(c):
            return f"{float(c):g}" if c.size == 1 else f"<{list(c.shape)}>"
        parts = [fmt(c) + "".join(f"·{k}{key}" for k, key in m) for m, c in self.terms.items()]
        return " + ".join(parts) or "0"


def close(a: Poly, b: Poly, rtol: float = 1e-6, ctx: Context | None = None) -> bool:
    """Equal up to float rounding: same monomials, coefficients within rtol of their scale.
    With `ctx`, comparisons and layer applications that are themselves equal up to rounding
    (e.g. one folded by the exporter with a batch axis) count as the same variable."""
    if ctx is not None:
        a, b = ctx.canonical(a), ctx.canonical(b)
    for m in set(a.terms) | set(b.terms):
        ca, cb = np.broadcast_arrays(a.coeff(m), b.coeff(m))
        scale = max(float(np.max(np.abs(ca), initial=0)), float(np.max(np.abs(cb), initial=0)), 1e-30)
        if np.max(np.abs(ca - cb), initial=0) > rtol * scale:
            return False
    return True


@dataclass(frozen=True)
class Atom:
    """A comparison [poly > 0]; `origin` is the first node that computed it."""

    poly: Poly
    origin: str
    index: int          # the value that first computed it


@dataclass(frozen=True)
class LayerApp:
    """op(arg): a stateless snn op applied to the value `arg`; `origin` is its first node."""

    op: Op
    arg: Poly
    origin: str
    index: int          # the value that first computed it


@dataclass
class Context:
    """Comparisons and layer applications seen so far (shared by every tick evaluated in it)."""

    source: str = ""
    atoms: list[Atom] = field(default_factory=list)
    layers: list[LayerApp] = field(default_factory=list)
    _atom_keys: dict = field(default_factory=dict)
    _layer_keys: dict = field(default_factory=dict)
    _ops: list[Op] = field(default_factory=list)
    _reps: dict = field(default_factory=dict)

    def atom(self, poly: Poly, origin: str, index: int) -> Poly:
        key = poly.key()
        if key not in self._atom_keys:
            self._atom_keys[key] = len(self.atoms)
            self.atoms.append(Atom(poly, origin, index))
        return Poly.var(("atom", self._atom_keys[key]))

    def layer(self, op: Op, arg: Poly, origin: str, index: int) -> Poly:
        slot = next((i for i, o in enumerate(self._ops) if type(o) is type(op) and o == op), None)
        if slot is None:
            slot = len(self._ops)
            self._ops.append(op)
        key = (slot, arg.key())
        if key not in self._layer_keys:
            self._layer_keys[key] = len(self.layers)
            self.layers.append(LayerApp(op, arg, origin, index))
        return Poly.var(("layer", self._layer_keys[key]))

    def canonical(self, p: Poly) -> Poly:
        """`p` with every comparison and layer application replaced by the first one equal to it."""
        terms: dict[Mono, np.ndarray] = {}
        for mono, coef in p.terms.items():
            m = _mono_mul((), tuple(sorted(self._representative(v) for v in mono)))
            terms[m] = terms[m] + coef if m in terms else coef
        return Poly(terms)

    def _representative(self, v: Var) -> Var:
        kind, key = v
        if kind not in ("atom", "layer"):
            return v
        cache = self._reps.setdefault(kind, {})
        if key not in cache:
            cache[key] = key
            for other in range(key):
                if self._representative((kind, other))[1] == other and self._equal(kind, other, key):
                    cache[key] = other
                    break
        return (kind, cache[key])

    def _equal(self, kind: str, i: int, j: int) -> bool:
        if kind == "atom":
            return close(self.atoms[i].poly, self.atoms[j].poly, ctx=self)
        a, b = self.layers[i], self.layers[j]
        return type(a.op) is type(b.op) and a.op == b.op and close(a.arg, b.arg, ctx=self)

    def refuse(self, message: str, origin: str) -> UnsupportedOpError:
        return UnsupportedOpError(message, node=origin or None, source=self.source or None)


def evaluate(step: StepFunction, ctx: Context, states: Mapping[str, Poly] | None = None,
             inputs: Mapping[str, Poly] | None = None) -> list[Poly]:
    """Every value of `step` as a Poly. States default to ("state", name) variables and
    inputs to ("in", name); pass `states` to evaluate from given state values (e.g. zeros)."""
    vals: list[Poly] = []
    for v in step.values:
        if v.prim is Prim.INPUT:
            p = inputs[v.name] if inputs and v.name in inputs else Poly.var(("in", v.name))
        elif v.prim is Prim.STATE:
            p = states[v.name] if states is not None and v.name in states else Poly.var(("state", v.name))
        elif v.prim is Prim.CONST:
            p = Poly.const(v.const)
        else:
            p = _apply(v, [vals[a] for a in v.args], ctx)
        vals.append(p)
    return vals


def _apply(v, args: list[Poly], ctx: Context) -> Poly:
    prim, origin = v.prim, v.origin
    if prim in (Prim.IDENTITY, Prim.CAST_FLOAT):
        return args[0]
    if prim is Prim.ADD:
        return args[0] + args[1]
    if prim is Prim.SUB:
        return args[0] - args[1]
    if prim is Prim.NEG:
        return -args[0]
    if prim is Prim.MUL:
        return args[0] * args[1]
    if prim is Prim.DIV:
        if not args[1].is_const or np.any(args[1].constant() == 0):
            raise ctx.refuse("division by a value that is not a non-zero constant", origin)
        return args[0].scale(1.0 / args[1].constant())
    if prim in (Prim.GREATER, Prim.LESS):
        a, b = args if prim is Prim.GREATER else args[::-1]
        return _compare(a - b, ctx, origin, v.index)
    if prim in (Prim.GREATER_EQUAL, Prim.LESS_EQUAL):
        a, b = args if prim is Prim.GREATER_EQUAL else args[::-1]
        d = a - b
        if d.is_const:
            return Poly.const((d.constant() >= 0).astype(np.float64))
        raise ctx.refuse("a non-strict comparison (>=, <=) used as a threshold: snnc neurons spike "
                         "when v > θ (strict)", origin)
    if prim is Prim.CAST_BOOL:
        return _truth(args[0], ctx, origin)
    if prim is Prim.NOT:
        return Poly.const(1.0) - _truth(args[0], ctx, origin)
    if prim is Prim.AND:
        return _truth(args[0], ctx, origin) * _truth(args[1], ctx, origin)
    if prim is Prim.OR:
        a, b = _truth(args[0], ctx, origin), _truth(args[1], ctx, origin)
        return a + b - a * b
    if prim is Prim.WHERE:
        c = _truth(args[0], ctx, origin)
        return c * args[1] + (Poly.const(1.0) - c) * args[2]
    if prim is Prim.RELU:
        if args[0].is_const:
            return Poly.const(np.maximum(args[0].constant(), 0.0))
        from snnc.ir.ann import ReLU      # an ANN: ann.relu, for the convert-ann pass to replace
        return ctx.layer(ReLU(), args[0], origin, v.index)
    if prim is Prim.LAYER:
        if args[0].is_const:
            return Poly.const(_layer_of_constant(v.op, args[0].constant(), ctx, origin))
        return ctx.layer(v.op, args[0], origin, v.index)
    raise ctx.refuse(f"primitive {prim.value} is not implemented", origin)


def _layer_of_constant(op: Op, c: np.ndarray, ctx: Context, origin: str) -> np.ndarray:
    """A layer applied to a constant (e.g. a recurrent weight to the zero initial spikes)."""
    from snnc.ir.snn import Affine, Conv1d, Conv2d, Linear
    bias = getattr(op, "bias", None)
    if isinstance(op, (Affine, Linear)):
        c = np.full(op.weight.shape[1], float(c)) if c.ndim == 0 else c
        return c @ op.weight.T + (0.0 if bias is None else bias)
    if not np.any(c):
        if isinstance(op, (Conv1d, Conv2d)):
            return bias.reshape((-1,) + (1,) * (op.weight.ndim - 2))
        return np.zeros(())          # pooling, flattening, scaling of zeros
    raise ctx.refuse(f"{op.name} applied to a non-zero constant: fold it in the exporter", origin)


def _compare(d: Poly, ctx: Context, origin: str, index: int) -> Poly:
    """[d > 0] as a 0/1 polynomial."""
    if d.is_const:
        return Poly.const((d.constant() > 0).astype(np.float64))
    boolean = d.variables()
    if d.is_boolean and len(boolean) == 1:        # a test on a spike: c0 + c1·z > 0
        (z,) = boolean
        c0, c1 = d.constant(), d.coeff((z,))
        on, off = (c0 + c1 > 0).astype(np.float64), (c0 > 0).astype(np.float64)
        return Poly.var(z).scale(on - off) + Poly.const(off)
    return ctx.atom(d, origin, index)


def _truth(p: Poly, ctx: Context, origin: str) -> Poly:
    """p as a 0/1 value: a boolean polynomial stays itself, a constant becomes (p != 0)."""
    if p.is_const:
        return Poly.const((p.constant() != 0).astype(np.float64))
    boolean = p.variables()
    if p.is_boolean and len(boolean) == 1:        # c0 + c1·z: true where it is non-zero
        (z,) = boolean
        c0, c1 = p.constant(), p.coeff((z,))
        on, off = (c0 + c1 != 0).astype(np.float64), (c0 != 0).astype(np.float64)
        return Poly.var(z).scale(on - off) + Poly.const(off)
    if p.is_boolean:
        return p
    raise ctx.refuse("a real value used as a condition (only comparisons and spikes are)", origin)
