"""The source graph seen as layers: spiking populations and the affine maps between them.

Loihi computes with two things: compartments (one per neuron) and synapses between them.
Every `snn.*` graph the Loihi lowering accepts has that shape: spiking neuron nodes, graph
inputs and outputs, and between them stateless affine ops (linear, affine, scale, flatten,
convolutions, pooling) that only move and weigh values. Non-spiking readouts (snn.i,
snn.li, snn.cuba_li) that feed only graph outputs are allowed too: the chip sends the
spikes that drive them, and the host integrates them in float. `layers(graph)` folds each chain
of affine ops into one matrix per (source, destination) pair:

    input to neuron population P at tick t  =  Σ_S A_{S→P} · y_S[t]  +  c_P

where S runs over graph inputs and neuron populations. The matrices come from running each
op's own float step function on unit vectors, so any stateless affine op the interpreter
knows is supported without a case here; a linearity check on random vectors refuses an op
that is not affine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.errors import UnsupportedOpError
from snnc.interp.kernel import Context, stepper_for
from snnc.ir.graph import Graph
from snnc.ir.snn import I, LI, CubaLI, CubaLIF, IF, Input, LIF, Output, Threshold

SPIKING = (LIF, IF, CubaLIF)
READOUTS = (I, LI, CubaLI)      # non-spiking: computed by the host from the chip's spikes
LINEARITY_TOL = 1e-9
MAX_EXPANDED = 1 << 27          # entries of one expanded synapse matrix (1 GiB of float64)
CHUNK = 512                     # unit vectors fed through an op at once


@dataclass
class Layer:
    """One neuron population and everything that drives it."""

    node: str
    origin: str
    op: object
    size: int
    inputs: dict[str, np.ndarray] = field(default_factory=dict)   # source -> A [size, n_source]
    const: np.ndarray | None = None                                # c [size]
    via: dict[str, tuple[str, ...]] = field(default_factory=dict)  # source -> affine nodes used


@dataclass
class Network:
    layers: dict[str, Layer]              # by neuron node, in schedule order
    readouts: dict[str, Layer]            # non-spiking readouts (host side), by node
    inputs: dict[str, tuple[int, ...]]    # graph input -> shape
    outputs: dict[str, str]               # graph output -> the neuron node feeding it
    output_shapes: dict[str, tuple[int, ...]]

    def size(self, source: str) -> int:
        if source in self.layers:
            return self.layers[source].size
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
    """An affine function of the sources: Σ_S M_S y_S + c, flattened to [n, ...]."""

    terms: dict[str, np.ndarray | Identity]
    const: np.ndarray
    via: dict[str, tuple[str, ...]]


def is_affine_op(op) -> bool:
    """Stateless ops other than the boundary ops and the Heaviside threshold are treated as affine
    (and checked numerically when used)."""
    return not op.stateful and not isinstance(op, (Input, Output, Threshold))


def layers(graph: Graph) -> Network:
    """The layer view of a verified `snn.*` graph; raises UnsupportedOpError for anything else."""
    values: dict[str, _Value] = {}
    net = Network({}, {}, {}, {}, {})
    types = graph.types()
    for name in graph.schedule():
        node = graph.nodes[name]
        op = node.op
        if isinstance(op, Input):
            net.inputs[name] = tuple(op.shape)
            n = int(np.prod(op.shape))
            values[name] = _Value({name: Identity(n)}, np.zeros(n), {name: ()})
        elif isinstance(op, SPIKING):
            layer = _layer(graph, name, values)
            net.layers[name] = layer
            values[name] = _Value({name: Identity(layer.size)}, np.zeros(layer.size), {name: ()})
        elif isinstance(op, READOUTS):
            net.readouts[name] = _layer(graph, name, values)
        elif isinstance(op, Output):
            src = _output_source(graph, name, values, net)
            net.outputs[name] = src
            net.output_shapes[name] = tuple(op.shape)
        elif is_affine_op(op):
            values[name] = _apply(graph, name, _incoming(graph, name, values), types)
        else:
            raise _unsupported(graph, name, "the Loihi lowering maps spiking neurons (snn.lif, snn.if, "
                                            "snn.cuba_lif), non-spiking readouts (snn.i, snn.li, snn.cuba_li) "
                                            "and the stateless affine ops between them")
    return net


def _layer(graph: Graph, name: str, values) -> Layer:
    node = graph.nodes[name]
    size = int(np.prod(node.op.shape))
    v = _incoming(graph, name, values)
    layer = Layer(name, node.origin, node.op, size, const=v.const.reshape(size))
    for src, m in v.terms.items():
        layer.inputs[src] = dense(m).reshape(size, -1)
        layer.via[src] = v.via[src]
    return layer


def _output_source(graph: Graph, name: str, values, net: Network) -> str:
    srcs = [e.src for e in graph.in_edges(name)]
    if len(srcs) == 1 and (srcs[0] in net.layers or srcs[0] in net.readouts):
        return srcs[0]
    raise _unsupported(graph, name, "a graph output must be fed directly by one neuron node "
                                    f"(it is fed by {', '.join(srcs)})")


def _incoming(graph: Graph, name: str, values) -> _Value:
    total: _Value | None = None
    for e in graph.in_edges(name):
        if e.recurrent:
            raise _unsupported(graph, name, f"recurrent edge {e}: the Loihi lowering supports "
                                            "feed-forward graphs only")
        if e.src not in values:
            if isinstance(graph.op(e.src), READOUTS):
                raise _unsupported(graph, e.src, "a non-spiking readout is computed on the host and may "
                                                 "feed only graph outputs")
            raise _unsupported(graph, e.src, "this node's output is not an affine function of the "
                                             "spiking populations")
        total = values[e.src] if total is None else _add(total, values[e.src])
    return total


def _add(a: _Value, b: _Value) -> _Value:
    terms = dict(a.terms)
    via = dict(a.via)
    for k, m in b.terms.items():
        terms[k] = dense(terms[k]) + dense(m) if k in terms else m
        via[k] = tuple(dict.fromkeys(via.get(k, ()) + b.via[k]))
    return _Value(terms, a.const + b.const, via)


def _apply(graph: Graph, name: str, x: _Value, types) -> _Value:
    """Push the affine function `x` through the stateless op of node `name`."""
    op = graph.op(name)
    in_shape = types[next((e.src, e.src_port) for e in graph.in_edges(name))].shape

    def f(batch: np.ndarray) -> np.ndarray:
        stepper = stepper_for(op)(op, Context(dt=graph.dt, method=graph.method), len(batch), name)
        y = stepper.step({"input": batch.reshape(len(batch), *in_shape)})["output"]
        return np.asarray(y, dtype=np.float64).reshape(len(batch), -1)

    _check_affine(graph, name, f, int(np.prod(in_shape)))
    n_out = int(np.prod(types[(name, "output")].shape))
    for src, m in x.terms.items():
        if m.shape[1] * max(n_out, m.shape[0]) > MAX_EXPANDED:
            raise _unsupported(graph, name, f"expanding this op into dense synapses from '{src}' needs a "
                                            f"{n_out} x {m.shape[1]} matrix (more than {MAX_EXPANDED} entries)")
    c = f(np.zeros((1, int(np.prod(in_shape)))))[0]
    terms = {src: _push(f, m, c) for src, m in x.terms.items()}
    const = f(x.const[None, :])[0]
    via = {src: x.via[src] + (name,) for src in x.terms}
    return _Value(terms, const, via)


def _push(f, m, c: np.ndarray) -> np.ndarray:
    """L · M for the op f(x) = L x + c and M [n_in, n_src], feeding M's columns in chunks."""
    n_src = m.shape[1]
    out = np.zeros((len(c), n_src))
    for a in range(0, n_src, CHUNK):
        b = min(a + CHUNK, n_src)
        cols = m.rows(a, b) if isinstance(m, Identity) else np.ascontiguousarray(m[:, a:b].T)
        out[:, a:b] = (f(cols) - c).T
    return out


def _check_affine(graph: Graph, name: str, f, n: int) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 1, n))
    lhs = f(a + b) + f(np.zeros((1, n)))
    rhs = f(a) + f(b)
    if not np.allclose(lhs, rhs, rtol=LINEARITY_TOL, atol=LINEARITY_TOL * (1 + np.abs(rhs).max(initial=0))):
        raise _unsupported(graph, name, "this op is not affine, so it cannot become synapses")


def _unsupported(graph: Graph, name: str, message: str) -> UnsupportedOpError:
    node = graph.nodes[name]
    return UnsupportedOpError(message, node=name, op=node.op.name, source=node.origin or None)
