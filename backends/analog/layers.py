"""The source graph as a crossbar sees it: neuron populations and one matrix per source.

A crossbar computes y = W x. Every `snn.*` graph the analog lowering takes is made of
spiking populations (snn.lif, snn.if), graph inputs and outputs, and between them stateless
affine ops (linear, affine, scale, flatten, convolutions, pooling, sparse linear) that
only weigh and move values. `layers(graph)` folds the affine chain into each population:

    input of population P at tick t  =  Σ_S A_{S→P} · flat(y_S[t])  +  c_P

S runs over graph inputs and populations, A is dense [n_P, n_S] (a convolution becomes
its unrolled matrix: a crossbar stores every weight it uses), c_P is the folded bias. The
matrices come from each op's own float stepper applied to unit vectors (so every
stateless affine op the interpreter knows is covered without a case here), and a
linearity check on random vectors refuses an op that is not affine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.errors import UnsupportedOpError
from snnc.interp.kernel import Context, stepper_for
from snnc.ir.graph import Graph
from snnc.ir.snn import IF, LIF, Input, Output, Threshold

SPIKING = (LIF, IF)
LINEARITY_TOL = 1e-9
MAX_ENTRIES = 1 << 26             # one folded matrix (512 MiB of float64)


@dataclass
class Population:
    """One spiking population and everything that drives it."""

    node: str
    origin: str
    op: object
    size: int
    inputs: dict[str, np.ndarray] = field(default_factory=dict)     # source -> A [size, n_source]
    const: np.ndarray | None = None                                  # c [size]
    via: dict[str, tuple[str, ...]] = field(default_factory=dict)    # source -> affine nodes folded


@dataclass
class Layers:
    populations: dict[str, Population]          # in schedule order
    inputs: dict[str, tuple[int, ...]]          # graph input -> per-sample shape
    outputs: dict[str, str]                     # graph output -> the population feeding it


@dataclass
class _Affine:
    terms: dict[str, np.ndarray]                # source -> M [n, n_source]
    const: np.ndarray
    via: dict[str, tuple[str, ...]]


def layers(graph: Graph) -> Layers:
    """The population view of a verified `snn.*` graph; UnsupportedOpError names what does not fit."""
    values: dict[str, _Affine] = {}
    out = Layers({}, {}, {})
    types = graph.types()
    for name in graph.schedule():
        op = graph.op(name)
        if isinstance(op, Input):
            n = int(np.prod(op.shape))
            out.inputs[name] = tuple(op.shape)
            values[name] = _Affine({name: np.eye(n)}, np.zeros(n), {name: ()})
        elif isinstance(op, SPIKING):
            pop = _population(graph, name, values)
            out.populations[name] = pop
            values[name] = _Affine({name: np.eye(pop.size)}, np.zeros(pop.size), {name: ()})
        elif isinstance(op, Output):
            srcs = [e.src for e in graph.in_edges(name)]
            if len(srcs) != 1 or srcs[0] not in out.populations:
                raise unsupported(graph, name, "a graph output must be fed directly by one spiking population "
                                                f"(it is fed by {', '.join(srcs)})")
            out.outputs[name] = srcs[0]
        elif not op.stateful and not isinstance(op, Threshold):
            values[name] = _apply(graph, name, _incoming(graph, name, values), types)
        else:
            raise unsupported(graph, name, "the analog lowering maps spiking neurons (snn.lif, snn.if) and the "
                                           "stateless affine ops between them")
    return out


def _population(graph: Graph, name: str, values) -> Population:
    node = graph.nodes[name]
    size = int(np.prod(node.op.shape))
    v = _incoming(graph, name, values)
    pop = Population(name, node.origin, node.op, size, const=v.const.reshape(size))
    for src, m in v.terms.items():
        pop.inputs[src] = m.reshape(size, -1)
        pop.via[src] = v.via[src]
    return pop


def _incoming(graph: Graph, name: str, values) -> _Affine:
    total = None
    for e in graph.in_edges(name):
        if e.recurrent:
            raise unsupported(graph, name, f"recurrent edge {e}: the analog lowering maps feed-forward graphs")
        if e.src not in values:
            raise unsupported(graph, e.src, "this node's output is not an affine function of the populations")
        v = values[e.src]
        if total is None:
            total = _Affine(dict(v.terms), v.const, dict(v.via))
            continue
        for k, m in v.terms.items():
            total.terms[k] = total.terms[k] + m if k in total.terms else m
            total.via[k] = tuple(dict.fromkeys(total.via.get(k, ()) + v.via[k]))
        total.const = total.const + v.const
    if total is None:
        raise unsupported(graph, name, "this node has no input")
    return total


def _apply(graph: Graph, name: str, x: _Affine, types) -> _Affine:
    """Push the affine function `x` through the stateless op of node `name`."""
    op = graph.op(name)
    in_shape = types[next((e.src, e.src_port) for e in graph.in_edges(name))].shape
    n_in = int(np.prod(in_shape))

    def f(batch: np.ndarray) -> np.ndarray:
        stepper = stepper_for(op)(op, Context(dt=graph.dt, method=graph.method), len(batch), name)
        y = stepper.step({"input": batch.reshape(len(batch), *in_shape)})["output"]
        return np.asarray(y, dtype=np.float64).reshape(len(batch), -1)

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 1, n_in))
    lhs, rhs = f(a + b) + f(np.zeros((1, n_in))), f(a) + f(b)
    if not np.allclose(lhs, rhs, rtol=LINEARITY_TOL, atol=LINEARITY_TOL * (1 + np.abs(rhs).max(initial=0))):
        raise unsupported(graph, name, "this op is not affine, so no crossbar computes it")
    n_out = int(np.prod(types[(name, "output")].shape))
    for src, m in x.terms.items():
        if m.shape[1] * max(n_out, m.shape[0]) > MAX_ENTRIES:
            raise unsupported(graph, name, f"folding this op into a matrix from '{src}' needs {n_out} x "
                                           f"{m.shape[1]} entries (more than {MAX_ENTRIES})")
    c = f(np.zeros((1, n_in)))[0]
    terms = {src: (f(np.ascontiguousarray(m.T)) - c).T for src, m in x.terms.items()}
    return _Affine(terms, f(x.const[None, :])[0], {src: x.via[src] + (name,) for src in x.terms})


def unsupported(graph: Graph, name: str, message: str) -> UnsupportedOpError:
    node = graph.nodes[name]
    return UnsupportedOpError(message, node=name, op=node.op.name, source=node.origin or None)
