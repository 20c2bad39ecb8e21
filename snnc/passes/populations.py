"""The source graph seen as neuron populations and the affine maps between them.

A neuromorphic chip computes with two things: neurons and weighted connections between
them. Every `snn.*` graph a lowering takes has that shape: neuron population nodes, graph
inputs and outputs, and between them stateless affine ops (linear, affine, scale, flatten,
convolutions, pooling, sparse linear) that only move and weigh values. `populations(graph,
spec)` folds each chain of affine ops into one matrix per (source, destination) pair:

    input of population P at tick t  =  Σ_S A_{S→P} · flat(y_S[t])  +  c_P

S runs over graph inputs and spiking populations, A is dense [n_P, n_S] (a convolution
becomes its unrolled matrix), c_P is the folded bias. A lowering that maps feedback
(`PopulationSpec.feedback`) also takes recurrent edges: a chain that passes one recurrent
edge adds a feedback term  Σ_S F_{S→P} · flat(y_S[t − 1])  (`Population.feedback`), e.g.
snnTorch's RLeaky, {lif ~> w_rec -> lif}. The recurrent edge may leave a spiking
population, a graph input or an affine op computed earlier or later in the tick (a later
one is folded on demand: {lif -> w_rec ~> lif}); a chain through two recurrent edges, a
constant carried over a recurrent edge (0 at tick 0, c after) and feedback into a host
readout are refused. A lowering that maps delays (`PopulationSpec.delays`) takes all of
these as lagged terms  Σ_(S, k) M_{S→P,k} · flat(y_S[t − k])  (`Population.lagged`, every
k >= 1): `snn.delay` ops add their ticks per element, each recurrent edge one, and a
constant that is delayed rides on the always-on source `ALWAYS_ON` (1 at every tick
t >= 0, so its term at lag k is c from tick k on). The matrices come from running each
op's own float stepper on unit vectors, so every stateless affine op the interpreter knows
is covered without a case here; a linearity check on random vectors refuses an op that is
not affine.

What differs between targets is data, held in a `PopulationSpec`: which neuron ops are
spiking populations, which non-spiking ops are host-side readouts (they may feed only
graph outputs: the chip sends the spikes that drive them, the host integrates them), the
largest matrix one op may expand to, and the wording of each refusal.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.errors import UnsupportedOpError
from snnc.interp.kernel import Context, stepper_for
from snnc.ir.graph import Graph
from snnc.ir.snn import Delay, Input, Output, Threshold

LINEARITY_TOL = 1e-9
ALWAYS_ON = "<always-on>"     # the source that is 1 at every tick t >= 0: it carries a delayed constant


@dataclass(frozen=True, kw_only=True)
class PopulationSpec:
    """What one lowering takes as populations, how large a folded matrix may grow, and how it
    words its refusals. Message templates are `str.format` strings with the fields named below."""

    spiking: tuple[type, ...]           # neuron ops that become populations on the chip
    readouts: tuple[type, ...] = ()     # non-spiking neuron ops computed on the host from the chip's spikes
    max_entries: int                    # entries of one expanded matrix
    chunk: int | None = None            # unit vectors fed through an op at once (None: all at once)
    unsupported_op: str                 # a node that is neither a population, readout, boundary nor affine op
    recurrent: str                      # {edge}
    not_affine_source: str              # a node fed by something that is not an affine function of sources
    not_affine_op: str                  # an op failing the linearity check
    too_large: str                      # {src}, {n_out}, {n_src}, {limit}
    output_source: str                  # {srcs}: an output not fed directly by one population or readout
    readout_feeds: str = ("a non-spiking readout is computed on the host and may feed only graph "
                          "outputs")
    feedback: bool = False              # recurrent edges become feedback terms (else `recurrent` refuses them)
    delays: bool = False                # snn.delay ops, several recurrent edges on a path and constants carried
                                        # over them become lagged terms (else they are refused)


@dataclass
class Population:
    """One neuron population and everything that drives it."""

    node: str
    origin: str
    op: object
    size: int
    inputs: dict[str, np.ndarray] = field(default_factory=dict)   # source -> A [size, n_source]
    const: np.ndarray | None = None                                # c [size]
    via: dict[str, tuple[str, ...]] = field(default_factory=dict)  # source -> affine nodes folded
    feedback: dict[str, np.ndarray] = field(default_factory=dict)  # source -> F [size, n_source], y_S[t − 1]
    feedback_via: dict[str, tuple[str, ...]] = field(default_factory=dict)  # source -> affine nodes folded
    lagged: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)   # (S, k >= 1) -> M, y_S[t − k]
    lagged_via: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Populations:
    populations: dict[str, Population]    # spiking populations, by node, in schedule order
    readouts: dict[str, Population]       # non-spiking readouts (host side), by node
    inputs: dict[str, tuple[int, ...]]    # graph input -> per-sample shape
    outputs: dict[str, str]               # graph output -> the neuron node feeding it
    output_shapes: dict[str, tuple[int, ...]]

    def size(self, source: str) -> int:
        if source in self.populations:
            return self.populations[source].size
        return int(np.prod(self.inputs[source]))


@dataclass(frozen=True)
class Identity:
    """The n x n identity matrix, kept implicit (a population's own output before any op)."""

    n: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows a..b−1 of the identity (the unit vectors fed through an op)."""
        out = np.zeros((b - a, self.n))
        out[np.arange(b - a), np.arange(a, b)] = 1.0
        return out


def dense(m) -> np.ndarray:
    return np.eye(m.n) if isinstance(m, Identity) else m


@dataclass
class _Value:
    """An affine function of the sources: Σ_(S, k) M_(S, k) y_S[t − k] + c, flattened to [n, ...];
    terms and via are keyed by (source, lag k in ticks)."""

    terms: dict[tuple[str, int], np.ndarray | Identity]
    const: np.ndarray
    via: dict[tuple[str, int], tuple[str, ...]]


def _identity(name: str, n: int) -> _Value:
    return _Value({(name, 0): Identity(n)}, np.zeros(n), {(name, 0): ()})


def is_affine_op(op) -> bool:
    """Stateless ops other than the boundary ops and the Heaviside threshold are treated as affine
    (and checked numerically when used)."""
    return not op.stateful and not isinstance(op, (Input, Output, Threshold))


def populations(graph: Graph, spec: PopulationSpec) -> Populations:
    """The population view of a verified `snn.*` graph; UnsupportedOpError names what does not fit."""
    fold = _Folder(graph, spec)
    net = Populations({}, {}, {}, {}, {})
    for name in graph.schedule():
        op = graph.op(name)
        if isinstance(op, Input):
            net.inputs[name] = tuple(op.shape)
            fold.value(name)
        elif isinstance(op, spec.spiking):
            net.populations[name] = fold.population(name)
            fold.value(name)
        elif isinstance(op, spec.readouts):
            pop = fold.population(name)
            if pop.feedback and not spec.delays:
                raise unsupported(graph, name, "a non-spiking readout is computed on the host from the chip's "
                                               "spikes; it cannot take feedback through a recurrent edge")
            if any(src == ALWAYS_ON for src, _ in pop.lagged):
                raise unsupported(graph, name, "a non-spiking readout is computed on the host; a delayed "
                                               "constant (bias) into it is not supported")
            net.readouts[name] = pop
        elif isinstance(op, Output):
            srcs = [e.src for e in graph.in_edges(name)]
            if len(srcs) != 1 or not (srcs[0] in net.populations or srcs[0] in net.readouts):
                raise unsupported(graph, name, spec.output_source.format(srcs=", ".join(srcs)))
            net.outputs[name] = srcs[0]
            net.output_shapes[name] = tuple(op.shape)
        elif is_affine_op(op) or spec.delays and isinstance(op, Delay):
            fold.value(name)
        else:
            raise unsupported(graph, name, spec.unsupported_op)
    return net


class _Folder:
    """The affine value of every node, computed in schedule order or, for the source of a
    recurrent edge computed later in the tick, on demand (memoised: a population's value is
    its own output whenever it is asked for)."""

    def __init__(self, graph: Graph, spec: PopulationSpec):
        self.g, self.spec = graph, spec
        self.values: dict[str, _Value] = {}
        self.types = graph.types()
        self.pending: set[str] = set()

    def value(self, name: str) -> _Value:
        if name in self.values:
            return self.values[name]
        op = self.g.op(name)
        if isinstance(op, (Input, *self.spec.spiking)):
            v = _identity(name, int(np.prod(op.shape)))
        elif isinstance(op, self.spec.readouts):
            raise unsupported(self.g, name, self.spec.readout_feeds)
        elif is_affine_op(op) or self.spec.delays and isinstance(op, Delay):
            if name in self.pending:
                raise unsupported(self.g, name, "this op feeds itself through a recurrent edge with no neuron "
                                                "in the loop (an infinite filter, not a synapse)")
            self.pending.add(name)
            x = self.incoming(name)
            v = _delayed(self.g, name, x, self.spec) if isinstance(op, Delay) else \
                _apply(self.g, name, x, self.types, self.spec)
            self.pending.discard(name)
        else:
            raise unsupported(self.g, name, self.spec.not_affine_source)
        self.values[name] = v
        return v

    def incoming(self, name: str) -> _Value:
        total: _Value | None = None
        for e in self.g.in_edges(name):
            if e.recurrent:
                if not self.spec.feedback:
                    raise unsupported(self.g, name, self.spec.recurrent.format(edge=e))
                value = self.previous(name, e)
            else:
                value = self.value(e.src)
            total = value if total is None else _add(total, value)
        if total is None:
            raise unsupported(self.g, name, "this node has no input")
        return total

    def previous(self, name: str, e) -> _Value:
        """The value a recurrent edge delivers: its source's value one tick earlier."""
        v = self.value(e.src)
        if np.any(v.const != 0):
            if not self.spec.delays:
                raise unsupported(self.g, name, f"recurrent edge {e} carries a constant (bias), which it delivers "
                                                f"as 0 at tick 0 and in full afterwards; no neuron bias does that "
                                                f"(put the recurrent edge before the op that adds the bias)")
            v = _lag_constant(v)
        return _shift(v, 1)

    def population(self, name: str) -> Population:
        node = self.g.nodes[name]
        size = int(np.prod(node.op.shape))
        v = self.incoming(name)
        pop = Population(name, node.origin, node.op, size, const=v.const.reshape(size))
        for (src, lag), m in v.terms.items():
            if lag > 1 and not self.spec.delays:
                raise unsupported(self.g, name, f"its input from '{src}' passes {lag} recurrent edges (a delay of "
                                                f"{lag} ticks); only one recurrent edge per path is supported")
            if lag:
                pop.lagged[(src, lag)] = dense(m).reshape(size, -1)
                pop.lagged_via[(src, lag)] = v.via[(src, lag)]
            if lag == 1 and src != ALWAYS_ON:
                pop.feedback[src], pop.feedback_via[src] = pop.lagged[(src, lag)], v.via[(src, lag)]
            elif not lag:
                pop.inputs[src], pop.via[src] = dense(m).reshape(size, -1), v.via[(src, lag)]
        return pop


def _lag_constant(v: _Value) -> _Value:
    """`v` with its constant carried by the always-on source (so that delaying it delays the constant)."""
    terms, via = dict(v.terms), dict(v.via)
    terms[(ALWAYS_ON, 0)] = v.const.reshape(-1, 1)
    via[(ALWAYS_ON, 0)] = ()
    return _Value(terms, np.zeros_like(v.const), via)


def _shift(v: _Value, k: int) -> _Value:
    return _Value({(s, lag + k): m for (s, lag), m in v.terms.items()}, v.const,
                  {(s, lag + k): via for (s, lag), via in v.via.items()})


def _delayed(graph: Graph, name: str, x: _Value, spec: PopulationSpec) -> _Value:
    """Push `x` through an snn.delay: each element's terms move to a lag larger by its delay in ticks."""
    op = graph.op(name)
    ticks = Context(dt=graph.dt, method=graph.method).ticks(op.delay, "delay").reshape(-1)
    if np.any(x.const != 0):
        x = _lag_constant(x)
    if ticks.size and np.all(ticks == ticks[0]):                 # one delay for all: no matrix to split
        return _via(_fold_constant(_shift(x, int(ticks[0]))), name)
    out = _Value({}, np.zeros_like(x.const), {})
    for n in np.unique(ticks):
        mask = (ticks == n).astype(np.float64)[:, None]
        part = _Value({k: dense(m) * mask for k, m in x.terms.items()}, x.const * mask[:, 0], dict(x.via))
        out = _add(out, _shift(part, int(n)))
    return _via(_fold_constant(out), name)


def _via(v: _Value, name: str) -> _Value:
    return _Value(v.terms, v.const, {k: via + (name,) for k, via in v.via.items()})


def _fold_constant(v: _Value) -> _Value:
    """An always-on term at lag 0 is a plain constant again."""
    m = v.terms.get((ALWAYS_ON, 0))
    if m is None:
        return v
    terms = {k: t for k, t in v.terms.items() if k != (ALWAYS_ON, 0)}
    via = {k: t for k, t in v.via.items() if k != (ALWAYS_ON, 0)}
    return _Value(terms, v.const + dense(m)[:, 0], via)


def _add(a: _Value, b: _Value) -> _Value:
    terms = dict(a.terms)
    via = dict(a.via)
    for k, m in b.terms.items():
        terms[k] = dense(terms[k]) + dense(m) if k in terms else m
        via[k] = tuple(dict.fromkeys(via.get(k, ()) + b.via[k]))
    return _Value(terms, a.const + b.const, via)


def _apply(graph: Graph, name: str, x: _Value, types, spec: PopulationSpec) -> _Value:
    """Push the affine function `x` through the stateless op of node `name`."""
    op = graph.op(name)
    in_shape = types[next((e.src, e.src_port) for e in graph.in_edges(name))].shape
    n_in = int(np.prod(in_shape))

    def f(batch: np.ndarray) -> np.ndarray:
        stepper = stepper_for(op)(op, Context(dt=graph.dt, method=graph.method), len(batch), name)
        y = stepper.step({"input": batch.reshape(len(batch), *in_shape)})["output"]
        return np.asarray(y, dtype=np.float64).reshape(len(batch), -1)

    _check_affine(graph, name, f, n_in, spec)
    n_out = int(np.prod(types[(name, "output")].shape))
    for (src, _), m in x.terms.items():
        if m.shape[1] * max(n_out, m.shape[0]) > spec.max_entries:
            raise unsupported(graph, name, spec.too_large.format(src=src, n_out=n_out, n_src=m.shape[1],
                                                                 limit=spec.max_entries))
    c = f(np.zeros((1, n_in)))[0]
    terms = {src: _push(f, m, c, spec.chunk) for src, m in x.terms.items()}
    const = f(x.const[None, :])[0]
    via = {src: x.via[src] + (name,) for src in x.terms}
    return _Value(terms, const, via)


def _columns(m, a: int, b: int) -> np.ndarray:
    """Columns a..b−1 of M as rows: the vectors fed through an op."""
    return m.rows(a, b) if isinstance(m, Identity) else np.ascontiguousarray(m[:, a:b].T)


def _push(f, m, c: np.ndarray, chunk: int | None) -> np.ndarray:
    """L · M for the op f(x) = L x + c and M [n_in, n_src], feeding M's columns in chunks
    (or all at once when `chunk` is None)."""
    n_src = m.shape[1]
    if chunk is None:
        return (f(_columns(m, 0, n_src)) - c).T
    out = np.zeros((len(c), n_src))
    for a in range(0, n_src, chunk):
        b = min(a + chunk, n_src)
        out[:, a:b] = (f(_columns(m, a, b)) - c).T
    return out


def _check_affine(graph: Graph, name: str, f, n: int, spec: PopulationSpec) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 1, n))
    lhs = f(a + b) + f(np.zeros((1, n)))
    rhs = f(a) + f(b)
    if not np.allclose(lhs, rhs, rtol=LINEARITY_TOL, atol=LINEARITY_TOL * (1 + np.abs(rhs).max(initial=0))):
        raise unsupported(graph, name, spec.not_affine_op)


def unsupported(graph: Graph, name: str, message: str) -> UnsupportedOpError:
    """The refusal of node `name`, naming its op and its origin in the user's model."""
    node = graph.nodes[name]
    return UnsupportedOpError(message, node=name, op=node.op.name, source=node.origin or None)
