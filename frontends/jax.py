"""JAX models: pure step functions read from their jaxpr, and NIR files from Spyx.

JAX is optional: this module imports it only inside `load`, so `import snnc` and the NIR
path below work without it (``pip install snnc[jax]``).

Step functions (`load`)
-----------------------
A JAX SNN is a pure function of one tick, ``step(params, state, x) -> (state, out)``,
that the user runs with ``jax.lax.scan`` over time. snnc traces it with `jax.make_jaxpr`
on the example arrays (nothing is executed on data), writes the jaxpr in the neutral
vocabulary of `snnc.frontends.dynamics` and lets the shared recogniser find each neuron
population, its exact reset mode and timing, and check it against the interpreter:

    g = snnc.load(step, params=params, state=state0, sample_input=x0, dt=1e-3)

- ``params``: a pytree of arrays, read as constants (weights, β, thresholds).
- ``state``: a pytree of arrays [B, *shape], the state at tick 0. snnc's state starts at
  zero (ir_spec/SPEC.md §1), so every leaf must be zero; only the shapes are read. Leaves
  are named by their pytree path (``v`` for a dict key, ``state.1`` for a tuple position);
  the new state returned by `step` must have the same structure and shapes. A stateless
  step (``state={}``) is an ANN: ``max(x, 0)`` becomes ``ann.relu``, and
  ``snnc.load(step, ..., convert_ann=True, calibration=X)`` converts it (convert-ann).
- ``sample_input``: one tick of input with a batch axis, [B, *shape] (or a pytree of such
  arrays). The step must compute batched (``x @ W`` with x [B, N_in]); for a per-sample
  step, pass ``jax.vmap(step, in_axes=(None, 0, 0))``.
- ``dt``: seconds per tick (default 1e-3). β of a leaky state becomes τ = dt/(1 − β), so
  any dt simulates the same ticks.

The step's outputs become graph outputs named ``out`` (``out.0``, ... for a tuple, the
keys for a dict); the input is ``x`` likewise. What the translation reads (everything else
is refused, naming the primitive and the line of the step that computes it):

    add, add_any, sub, mul, div (by a constant), neg        arithmetic
    gt, lt (ge, le are refused by the recogniser: spikes use a strict >)
    convert_element_type, select_n (jnp.where), and, or, not, stop_gradient, copy
    max(x, 0) (ReLU, for ANNs only), x != x / x == x (NaN tests, e.g. in jnp.heaviside)
    dot_general as x @ W with x [B, N_in] and a constant W    an snn.linear layer
        (x @ W + b with a constant bias row: an snn.affine layer)
    reshape [B, ...] -> [B, N]                               an snn.flatten layer
    jnp.heaviside(x, 0) as x > 0 (heaviside(x, 1), x >= 0, is refused: spikes are strict)
    jit, custom_jvp_call, custom_vjp_call (surrogate gradients), closed_call, remat:
        inlined; only the primal (forward) computation is read
    any primitive whose inputs are all constants: evaluated once, in JAX, at trace time

JAX computes in float32; snnc simulates in float64 with the float32 constants exactly.
The two agree spike for spike except where a float32 membrane lands within rounding of
its threshold. Measured on tests/frontends/test_jax.py's two-layer LIF network (20-32-10,
bias, 32 samples, 1000 ticks, 5 seeds: 6.72 million spike values each): reset by
subtraction, 0 differences; reset to zero, 4 differences (99.99994 %): one output neuron
whose float32 membrane landed exactly on θ = 1.0 (no spike in JAX; a hair above in
float64), then three ticks of the same neuron until a reset to zero re-aligned it.

The neuron is whatever the recogniser reads from the arithmetic (reset by subtraction or to
a value, in the spiking tick or from the previous spike, leaky or not, a synaptic current).
Not read today: a step whose spike is computed from the membrane of the tick before, before
integrating (spyx.nn's order, z = H(V − θ); V = β V + x − z θ); that neuron is snnc's
next-step subtraction followed by a one-tick delay, which `load_spyx_nir` builds for NIR
files but the recogniser does not yet emit. A step that outputs a membrane (rather than
spikes or a non-spiking integrator) is refused: graphs carry spikes between layers.

NIR files from Spyx (`load_spyx_nir`)
-------------------------------------
Spyx (JAX/Haiku) reads a NIR graph with ``spyx.nir.from_nir(graph, sample, dt)``: it folds
dt/τ (and w_in for CubaLIF) into the weights before each neuron and sets β = 1 − dt/τ,
α = 1 − dt/τ_syn. That is NIR's forward-Euler meaning, which `snnc.load(path, dt=dt)`
already gives, for LIF, LI and IF with r = 1 and CubaLIF with r = τ_mem/dt (the unit-gain
convention), v_leak = 0. What NIR cannot say is how Spyx's neurons spike (spyx.nn):

    LIF      z[t] = H(V[t−1] − θ);  V[t] = β V[t−1] + x[t] − z[t] θ
    CuBaLIF  z[t] = H(V[t−1] − θ);  I[t] = α I[t−1] + x[t];  V[t] = β V[t−1] + I[t] − z[t] θ
    LI       V[t] = β V[t−1] + x[t]
    (x[t] = the folded weights times the layer's input; H(0) = 0, a strict threshold)

A spike is emitted from the membrane of the tick before, and the threshold subtracted
from the membrane already decayed. So a Spyx neuron is snnc's reset by subtraction at the
next tick, whose spike leaves one tick later:

    snnc.load(path, dt=dt, reset_mode="subtract", reset_timing="next_step")

gives every membrane exactly, and ``load_spyx_nir(path, dt=dt)`` adds the one-tick
`snn.delay` after every spiking node, so the spikes of every layer match Spyx's too.

Known differences: spyx.nn.CuBaLIF (kmheckel/spyx, commit 00e6ba4) subtracts θ twice per
spike (once before the decay, once after: an effective reset of (1 + β)θ), which no snnc
neuron does; snnc uses the single subtraction of its LIF (and of Spyx's earlier `SC`
neuron). Spyx ignores r and
v_leak, so `load_spyx_nir` refuses a file whose values differ from the ones above
(``snnc.load`` reads such a file with NIR's meaning). Files written by
``spyx.nir.to_nir`` store Haiku's [N_in, N_out] weights and r = β; they are not in NIR's
convention and do not round-trip through Spyx's own reader either.

SNNAX (PGI15/snnax) ships no NIR reader or writer that these notes found; its neurons
(e.g. SimpleLIF: m = α m + (1 − α) x, z = H(m − θ), m −= m z) written as a step function
load with `load` above.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from snnc.errors import UnsupportedOpError, UsageError
from snnc.ir.graph import Graph

DEFAULT_DT = 1e-3


# ================================================================================================
# Step functions
# ================================================================================================
def load(fn, *, params=None, state=None, sample_input=None, dt: float = DEFAULT_DT, **unknown) -> Graph:
    """The Graph of a JAX step function ``step(params, state, x) -> (state, out)``."""
    if unknown:
        raise UsageError(f"jax frontend: unknown option(s) {', '.join(sorted(unknown))} "
                         f"(known: params, state, sample_input, dt)")
    if not callable(fn):
        raise UsageError(f"jax frontend: expected a step function step(params, state, x), got {type(fn).__name__}")
    if sample_input is None:
        raise UsageError("jax frontend: pass sample_input=, one tick of input [B, *shape], to trace the step")
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise UsageError(f"jax frontend: dt must be a positive number of seconds, got {dt!r}")
    try:
        import jax
    except ImportError:
        raise UsageError("jax frontend: JAX is not installed (pip install jax)") from None
    from snnc.frontends.dynamics import build_graph

    name = getattr(fn, "__name__", type(fn).__name__)
    state = {} if state is None else state
    _check_zero_state(jax, state)
    closed, out_shape = _trace(jax, fn, params, state, sample_input, name)
    step = _Translator(jax, f"jax step '{name}'").translate(closed, params, state, sample_input, out_shape)
    return build_graph(step, dt=float(dt), source=f"jax step '{name}'", namer=_namer,
                       metadata={"source": "jax", "model": name})


def _trace(jax, fn, params, state, x, name: str):
    try:
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(params, state, x)
    except Exception as exc:        # the user's own code failed to trace: say where
        raise UsageError(f"jax step '{name}': tracing step(params, state, sample_input) failed: "
                         f"{type(exc).__name__}: {exc}") from exc
    tree = jax.tree_util
    if not (isinstance(out_shape, (tuple, list)) and len(out_shape) == 2):
        raise UsageError(f"jax step '{name}': must return (new_state, output), got "
                         f"{tree.tree_structure(out_shape)}")
    if tree.tree_structure(out_shape[0]) != tree.tree_structure(state):
        raise UsageError(f"jax step '{name}': the new state has structure {tree.tree_structure(out_shape[0])}, "
                         f"but the state passed in has {tree.tree_structure(state)}")
    for (path, new), old in zip(tree.tree_flatten_with_path(out_shape[0])[0], tree.tree_leaves(state)):
        if tuple(new.shape) != tuple(np.shape(old)):
            raise UsageError(f"jax step '{name}': state {_leaf_name('state', path)} comes back with shape "
                             f"{list(new.shape)}, but goes in with {list(np.shape(old))}")
    return closed, out_shape


def _check_zero_state(jax, state) -> None:
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        a = np.asarray(leaf)
        if a.ndim < 1:
            raise UsageError(f"jax frontend: state {_leaf_name('state', path)} is a scalar; state leaves are "
                             f"batched arrays [B, *shape]")
        if np.any(a != 0):
            raise UsageError(f"jax frontend: state {_leaf_name('state', path)} is not zero; snnc starts every "
                             f"state at zero, so pass the zero state (only its shape is read)")


def _leaf_name(prefix: str, path) -> str:
    """A pytree leaf's name: its dict keys or attribute names (``v``, ``layer1.v``), or the
    prefix and its positions (``state``, ``out.0``)."""
    parts = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
    return ".".join(parts) if parts and not parts[0].isdigit() else ".".join([prefix, *parts])


def _namer(origin: str, kind: str) -> str:
    """Inputs, outputs and states keep their pytree names; other nodes are named by kind."""
    if " at " in origin or not origin:
        return kind
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", origin).strip("_.-") or kind


@dataclass(frozen=True)
class _Const:
    """A value known at trace time (a param, a literal, or a folded computation)."""

    value: np.ndarray


INLINE = ("jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
          "custom_vjp_call_jaxpr", "remat", "checkpoint", "custom_lin")
JAXPR_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")
CONTROL_FLOW = ("scan", "while", "cond", "fori_loop")


class _Translator:
    """Walks a jaxpr, emitting a StepFunction through a StepBuilder."""

    def __init__(self, jax, source: str):
        from snnc.frontends.dynamics import Prim, StepBuilder
        self.jax, self.source, self.Prim = jax, source, Prim
        self.b = StepBuilder()
        self.rules = _rules(Prim)
        self.where: list[str] = []      # origins of the calls being inlined, innermost last
        self.linear: dict[int, tuple] = {}   # x @ W value -> (W [N_out, N_in], x, origin), for bias fusion

    def translate(self, closed, params, state, x, out_shape):
        tree = self.jax.tree_util
        args = [_Const(np.asarray(p)) for p in tree.tree_leaves(params)]
        state_names = []
        for path, leaf in tree.tree_flatten_with_path(state)[0]:
            name = _leaf_name("state", path) or "state"
            state_names.append(name)
            args.append(self.b.state(name, tuple(np.shape(leaf)[1:]), origin=name))
        for path, leaf in tree.tree_flatten_with_path(x)[0]:
            shape = np.shape(leaf)
            if len(shape) < 1:
                raise UsageError(f"{self.source}: sample_input {_leaf_name('x', path)} is a scalar; "
                                 f"pass one tick with a batch axis, [B, *shape]")
            name = _leaf_name("x", path)
            args.append(self.b.input(name, tuple(shape[1:]), origin=name))
        results = self.run(closed.jaxpr, closed.consts, args)
        n_state = len(state_names)
        for name, ref in zip(state_names, results[:n_state]):
            self.b.state_out(name, self.index(ref))
        for (path, _), ref in zip(tree.tree_flatten_with_path(out_shape[1])[0], results[n_state:]):
            self.b.output(_leaf_name("out", path), self.index(ref))
        return self.b.build()

    # -- the walk --------------------------------------------------------------------------------
    def run(self, jaxpr, consts, args) -> list:
        env = {}
        for v, c in zip(jaxpr.constvars, consts):
            env[v] = _Const(np.asarray(c))
        for v, a in zip(jaxpr.invars, args):
            env[v] = a
        for eqn in jaxpr.eqns:
            ins = [self.read(env, v) for v in eqn.invars]
            outs = self.equation(eqn, ins)
            for v, o in zip(eqn.outvars, outs):
                if type(v).__name__ != "DropVar":
                    env[v] = o
        return [self.read(env, v) for v in jaxpr.outvars]

    def read(self, env, v):
        from jax.extend.core import Literal
        return _Const(np.asarray(v.val)) if isinstance(v, Literal) else env[v]

    def equation(self, eqn, ins) -> list:
        name, where = eqn.primitive.name, self.origin(eqn)
        constant = all(isinstance(a, _Const) for a in ins)
        if name in ("jit", "pjit") and eqn.params.get("name") == "heaviside" and not constant:
            return [_heaviside(self, ins, where)]
        if name in INLINE:
            inner = next((eqn.params[k] for k in JAXPR_PARAMS if k in eqn.params), None)
            if inner is not None:
                jaxpr, consts = (inner.jaxpr, inner.consts) if hasattr(inner, "consts") else (inner, ())
                self.where.append(where)
                try:
                    return self.run(jaxpr, consts, ins)
                finally:
                    self.where.pop()
        if constant:
            return self.fold(eqn, ins)
        if name in CONTROL_FLOW:
            raise self.refuse(f"control flow ({name}) inside the step: write one tick without loops over "
                              f"time; snnc repeats the tick", where)
        rule = self.rules.get(name)
        if rule is None:
            raise self.refuse(f"primitive '{name}' applied to per-tick values has no snnc equivalent",
                              where, supported=tuple(sorted(self.rules)))
        out = rule(self, eqn, ins, where)
        return out if isinstance(out, list) else [out]

    def fold(self, eqn, ins) -> list:
        jnp = self.jax.numpy
        out = eqn.primitive.bind(*[jnp.asarray(a.value) for a in ins], **eqn.params)
        outs = out if eqn.primitive.multiple_results else [out]
        return [_Const(np.asarray(o)) for o in outs]

    # -- emitting ----------------------------------------------------------------------------------
    def index(self, ref) -> int:
        return self.b.const(ref.value) if isinstance(ref, _Const) else ref

    def apply(self, prim, ins, where: str) -> int:
        return self.b.apply(prim, *[self.index(a) for a in ins], origin=where)

    def origin(self, eqn) -> str:
        """`prim at file:line:col (function)`; inside an inlined call without its own source
        location, the location of the call."""
        try:
            from jax._src import source_info_util
            at = source_info_util.summarize(eqn.source_info)
        except Exception:            # private API: the origin is for messages only
            at = ""
        if not at.strip() and self.where:
            return f"{eqn.primitive.name} in {self.where[-1]}"
        return f"{eqn.primitive.name} at {at or '?'}"

    def refuse(self, message: str, where: str, supported: tuple[str, ...] = ()) -> UnsupportedOpError:
        return UnsupportedOpError(message, node=where, source=self.source, supported=supported)


# -- per-primitive rules ----------------------------------------------------------------------------
def _rules(Prim) -> dict:
    def elementwise(prim):
        return lambda t, eqn, ins, where: t.apply(prim, ins, where)

    table = {name: elementwise(prim) for name, prim in (
        ("sub", Prim.SUB), ("mul", Prim.MUL), ("div", Prim.DIV),
        ("neg", Prim.NEG), ("gt", Prim.GREATER), ("lt", Prim.LESS), ("ge", Prim.GREATER_EQUAL),
        ("le", Prim.LESS_EQUAL), ("and", Prim.AND), ("or", Prim.OR), ("not", Prim.NOT),
        ("stop_gradient", Prim.IDENTITY), ("copy", Prim.IDENTITY), ("copy_p", Prim.IDENTITY))}
    table.update({"add": _add, "add_any": _add, "max": _max, "convert_element_type": _convert,
                  "select_n": _select, "ne": _self_compare, "eq": _self_compare, "dot_general": _dot,
                  "broadcast_in_dim": _broadcast, "reshape": _reshape})
    return table


def _heaviside(t, ins, where):
    """jnp.heaviside(x, h0): x > 0 for h0 = 0 (a strict threshold), x >= 0 for h0 = 1."""
    x, h0 = ins
    value = np.unique(h0.value) if isinstance(h0, _Const) else None
    if value is None or value.size != 1 or value[0] not in (0.0, 1.0):
        raise t.refuse("jnp.heaviside(x, h0) with h0 other than the constant 0 or 1: a spike is 0 or 1 "
                       "at x = 0", where)
    prim = t.Prim.GREATER if value[0] == 0.0 else t.Prim.GREATER_EQUAL
    return t.apply(t.Prim.CAST_FLOAT, [t.apply(prim, [x, _Const(np.zeros(()))], where)], where)


def _max(t, eqn, ins, where):
    a, b = ins
    if isinstance(b, _Const) and not np.any(b.value):
        return t.apply(t.Prim.RELU, [a], where)
    if isinstance(a, _Const) and not np.any(a.value):
        return t.apply(t.Prim.RELU, [b], where)
    raise t.refuse("max of per-tick values other than max(x, 0) (ReLU)", where)


def _convert(t, eqn, ins, where):
    src = np.dtype(eqn.invars[0].aval.dtype)
    dst = np.dtype(eqn.params["new_dtype"])
    if dst == np.bool_:
        return t.apply(t.Prim.CAST_BOOL, ins, where)
    if src == np.bool_:
        return t.apply(t.Prim.CAST_FLOAT, ins, where)
    if src.kind == "f" and dst.kind in "iu":
        raise t.refuse(f"a cast from {src} to {dst} rounds a real value", where)
    return t.apply(t.Prim.IDENTITY, ins, where)


def _select(t, eqn, ins, where):
    pred, *cases = ins
    if len(cases) != 2:
        raise t.refuse(f"select_n with {len(cases)} cases (snnc reads two: jnp.where)", where)
    return t.apply(t.Prim.WHERE, [pred, cases[1], cases[0]], where)


def _self_compare(t, eqn, ins, where):
    """x != x and x == x (NaN tests, as in jnp.heaviside): constants for real values."""
    a, b = eqn.invars
    if a is not b:
        raise t.refuse(f"{eqn.primitive.name} between two per-tick values (spikes compare with >)", where)
    value = 0.0 if eqn.primitive.name == "ne" else 1.0
    return _Const(np.full(eqn.outvars[0].aval.shape, value))


def _dot(t, eqn, ins, where):
    from snnc.ir.snn import Linear
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    x, w = ins
    if lb or rb or isinstance(x, _Const) or not isinstance(w, _Const):
        raise t.refuse("a matrix product other than x @ W (x per tick [B, N_in], W a constant [N_in, N_out] "
                       "or its transpose)", where)
    x_rank, weight = eqn.invars[0].aval.ndim, np.asarray(w.value, dtype=np.float64)
    if x_rank != 2 or weight.ndim != 2 or tuple(lc) != (1,) or tuple(rc) not in ((0,), (1,)):
        raise t.refuse(f"a matrix product of a rank-{x_rank} value with a rank-{weight.ndim} constant "
                       f"contracting {list(lc)} with {list(rc)}; snnc reads x [B, N_in] @ W", where)
    weight = weight.T if tuple(rc) == (0,) else weight
    out = t.b.layer(Linear(weight=weight), t.index(x), origin=where)
    t.linear[out] = (weight, t.index(x), where)
    return out


def _add(t, eqn, ins, where):
    """a + b; x @ W + b with a constant bias row becomes one snn.affine (as ONNX's Gemm does), so
    a ReLU layer reads as ann.relu of an affine layer."""
    from snnc.ir.snn import Affine
    for lin, const in (ins, ins[::-1]):
        if isinstance(lin, int) and lin in t.linear and isinstance(const, _Const):
            weight, arg, origin = t.linear[lin]
            bias = _bias_row(const.value, weight.shape[0])
            if bias is not None:
                return t.b.layer(Affine(weight=weight, bias=bias), arg, origin=origin)
    return t.apply(t.Prim.ADD, ins, where)


def _bias_row(value, n_out: int) -> np.ndarray | None:
    """`value` as one bias per output [n_out] (a scalar, a row, or equal rows of a batch), or None."""
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 2 and v.shape[0] >= 1 and np.all(v == v[:1]):
        v = v[0]
    if v.ndim > 1:
        return None
    try:
        return np.array(np.broadcast_to(v, (n_out,)))
    except ValueError:
        return None


def _broadcast(t, eqn, ins, where):
    if tuple(eqn.invars[0].aval.shape) == tuple(eqn.params["shape"]):
        return t.apply(t.Prim.IDENTITY, ins, where)
    raise t.refuse(f"broadcasting a per-tick value of shape {list(eqn.invars[0].aval.shape)} to "
                   f"{list(eqn.params['shape'])}", where)


def _reshape(t, eqn, ins, where):
    from snnc.ir.snn import Flatten
    old, new = tuple(eqn.invars[0].aval.shape), tuple(eqn.params["new_sizes"])
    if old == new:
        return t.apply(t.Prim.IDENTITY, ins, where)
    if len(new) == 2 and new[0] == old[0] and len(old) > 2:
        return t.b.layer(Flatten(start_dim=0, end_dim=-1), t.index(ins[0]), origin=where)
    raise t.refuse(f"reshape of a per-tick value from {list(old)} to {list(new)}; snnc reads flattening "
                   f"[B, ...] -> [B, N]", where)


# ================================================================================================
# NIR files from Spyx
# ================================================================================================
def load_spyx_nir(source, *, dt: float) -> Graph:
    """A NIR file (or nir.NIRGraph) simulated as Spyx's ``from_nir`` and ``spyx.nn`` neurons do."""
    from snnc.frontends import nir as fnir
    graph = fnir.load(source, dt=dt, method="euler", reset_mode="subtract", reset_timing="next_step")
    _check_spyx_parameters(graph, dt, source)
    return _delay_spikes(graph)


def _check_spyx_parameters(graph: Graph, dt: float, source) -> None:
    """Spyx ignores r and v_leak: refuse values its reader would silently drop."""
    from snnc.ir.snn import IF, LI, LIF, CubaLI, CubaLIF, I
    for name, node in graph.nodes.items():
        op = node.op
        if isinstance(op, (LIF, LI, IF)):
            want = np.ones_like(op.r)
        elif isinstance(op, (CubaLIF, CubaLI)):
            want = op.tau_mem / dt
        elif isinstance(op, I):
            raise UnsupportedOpError("Spyx's reader has no Integrator (I)", node=node.origin or name,
                                     op=op.name, source=str(source))
        else:
            continue
        if not np.allclose(op.r, want, rtol=1e-6, atol=0):
            raise UnsupportedOpError(f"r = {_summary(op.r)}, but Spyx's reader assumes r = {_summary(want)} "
                                     f"and ignores the file's value; read it with snnc.load for NIR's meaning",
                                     node=node.origin or name, op=op.name, source=str(source))
        if np.any(getattr(op, "v_leak", 0.0) != 0):
            raise UnsupportedOpError("v_leak is not 0, but Spyx's reader ignores v_leak; read it with "
                                     "snnc.load for NIR's meaning", node=node.origin or name, op=op.name,
                                     source=str(source))


def _summary(a: np.ndarray) -> str:
    lo, hi = float(np.min(a)), float(np.max(a))
    return f"{lo:g}" if lo == hi else f"[{lo:g} .. {hi:g}]"


def _delay_spikes(graph: Graph) -> Graph:
    """Insert a one-tick snn.delay after every spiking node (Spyx emits z[t] = H(V[t−1] − θ))."""
    from snnc.ir.graph import Edge, Node
    from snnc.ir.snn import IF, LIF, CubaLIF, Delay
    spiking = [n for n, node in graph.nodes.items() if isinstance(node.op, (IF, LIF, CubaLIF))]
    if not spiking:
        return graph
    nodes, edges, taken = list(graph.nodes.values()), list(graph.edges), set(graph.nodes)
    for n in spiking:
        delay = f"{n}_spike_delay"
        while delay in taken:
            delay += "_"
        taken.add(delay)
        shape = graph.op(n).shape
        nodes.append(Node(delay, Delay(delay=np.full(shape, graph.dt)), graph.nodes[n].origin))
        # a recurrent edge already delivers the previous tick's spike, which is Spyx's z[t]
        edges = [Edge(delay, e.dst, "output", e.dst_port) if e.src == n and not e.recurrent else e
                 for e in edges]
        edges.append(Edge(n, delay))
    return graph.replace(nodes=nodes, edges=edges,
                         metadata={**graph.metadata, "convention": "spyx"}).verify()
