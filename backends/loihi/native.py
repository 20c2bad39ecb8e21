"""Graphs already in the `loihi.*` dialect (lava-dl netx files): lowering passes them through.

A netx file holds the chip's own integers, so `loihi-legalize` only checks them against the
target (neuron models, reset modes, graded spikes, every register's format) and
`loihi-quantize` changes nothing but what the cores cannot hold as the file states it:

- a `loihi.conv` becomes the `loihi.sparse` of its synapses (`Conv.connections`), same name
  and origin. The two agree bit for bit while a convolution's sum stays within Lava's 24-bit
  accumulator (the conv wraps beyond it, the sparse synapses do not); a strict run raises
  on the neuron's overflow either way.

The model *is* the chip's timeline here (its synapses already take their tick), so every
layer and output has latency 0; a graph input feeding a synapse carries spikes (graded
payloads when the synapse is graded), and a graph input driving a neuron directly (netx's
encoding input neuron) carries the integer values the host writes into it each tick.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.loihi.conv import Conv, SigmaDelta
from snnc.backends.loihi.ops import Cuba, Dense, Sparse
from snnc.errors import UnsupportedOpError
from snnc.ir.graph import Graph, Node
from snnc.ir.mapping import HostInput, HostOutput, Layer, Mapping, Piece
from snnc.ir.snn import Input, Output
from snnc.passes.registry import PassResult

COMPARTMENTS = (Cuba, SigmaDelta)
NATIVE = (Input, Output, Cuba, SigmaDelta, Dense, Sparse, Conv)


def is_native(graph: Graph) -> bool:
    """Whether `graph` is already in the loihi dialect (neurons and synapses are loihi.* ops)."""
    ops = [n.op for n in graph.nodes.values()]
    return any(isinstance(op, COMPARTMENTS) for op in ops) and all(isinstance(op, NATIVE) for op in ops)


def problems(graph: Graph, target) -> list[tuple[str, str]]:
    """(node, reason) for everything of a native graph that `target` cannot hold as it is."""
    out = []
    f, n = target.formats, target.neurons
    for name, node in graph.nodes.items():
        op = node.op
        if isinstance(op, SigmaDelta) and "sigma_delta" not in n.models:
            out.append((name, f"sigma-delta neurons are not supported by target '{target.name}' "
                              f"(rule neurons.models = [{', '.join(n.models)}])"))
        if isinstance(op, Cuba):
            if op.reset_mode not in n.reset_modes:
                out.append((name, f"reset_mode {op.reset_mode} is not supported by target '{target.name}' "
                                  f"(rule neurons.reset_modes = [{', '.join(n.reset_modes)}])"))
            if op.graded and not n.graded_spikes:
                out.append((name, f"graded spikes are not supported by target '{target.name}' "
                                  f"(rule neurons.graded_spikes = false)"))
            out += [(name, m) for m in _registers(op, f)]
        if isinstance(op, (Dense, Sparse, Conv)):
            out += [(name, m) for m in _synapses(op, f)]
    return out


def _registers(op: Cuba, f) -> list[str]:
    checks = (("vth_mant", f.threshold_mantissa_range, "formats.threshold_mantissa_bits"),
              ("bias_mant", f.bias_mantissa_range, "formats.bias_mantissa_bits"),
              ("bias_exp", f.bias_exp, "formats.bias_exp"), ("refractory", f.refractory, "formats.refractory"))
    return [f"{key} spans [{getattr(op, key).min()}, {getattr(op, key).max()}], outside {rng} (rule {rule})"
            for key, rng, rule in checks
            if getattr(op, key).size and (getattr(op, key).min() < rng.lo or getattr(op, key).max() > rng.hi)]


def _synapses(op, f) -> list[str]:
    out = []
    w = op.weight
    if w.size and (w.min() < f.weight_range.lo or w.max() > f.weight_range.hi):
        out.append(f"weights span [{w.min()}, {w.max()}], outside the {f.weight_bits}-bit mantissa range "
                   f"{f.weight_range} (rule formats.weight_bits)")
    delay = np.asarray(op.delay)
    if delay.size and delay.max() > f.delay.hi:
        out.append(f"a synaptic delay of {delay.max()} ticks exceeds {f.delay.hi} (rule formats.delay)")
    return out


def refuse(graph: Graph, target) -> None:
    """Raise naming node, origin and rule when a native graph does not fit the target as it is."""
    found = problems(graph, target)
    if found:
        name, message = found[0]
        node = graph.nodes[name]
        raise UnsupportedOpError(message, node=name, op=node.op.name, source=node.origin or None,
                                 more=[m for _, m in found[1:]])


def lower(graph: Graph, target) -> PassResult:
    """The native graph with its convolutions as sparse synapses and its mapping record."""
    refuse(graph, target)
    nodes = [Node(name, _sparse(node.op), node.origin) if isinstance(node.op, Conv) else node
             for name, node in graph.nodes.items()]
    out = graph.replace(nodes=nodes)
    return PassResult(out.replace(mapping=mapping(out)),
                      stats={"native": True, "layers": sum(isinstance(n.op, COMPARTMENTS) for n in nodes)})


def _sparse(op: Conv) -> Sparse:
    dst, src, weight, delay = op.connections()
    n_out, n_in = int(np.prod(op.out_shape)), int(np.prod(op.in_shape))
    order = np.lexsort((src, dst))
    dst, src, weight, delay = dst[order], src[order], weight[order], delay[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(dst, minlength=n_out))])
    exp = np.repeat(op.weight_exp, n_out // op.weight.shape[0])
    return Sparse(indptr=indptr, indices=src, weight=weight, weight_exp=exp,
                  delay=delay if np.asarray(op.delay).ndim else int(op.delay), n_in=n_in, graded=op.graded)


def mapping(graph: Graph) -> Mapping:
    """Inputs as the host feeds them, outputs read whole, every population at latency 0."""
    inputs = {}
    for name in graph.inputs:
        users = [graph.op(e.dst) for e in graph.out_edges(name)]
        n = graph.op(name).shape
        if any(isinstance(u, COMPARTMENTS) for u in users):
            inputs[name] = HostInput(tuple(n), "values")
        elif any(getattr(u, "graded", False) for u in users):
            inputs[name] = HostInput(tuple(n), "graded", 0, 32)
        else:
            inputs[name] = HostInput(tuple(n))
    outputs = {}
    for name in graph.outputs:
        src = graph.op(graph.in_edges(name)[0].src)
        size = graph.op(name).shape[0]
        graded = isinstance(src, SigmaDelta) or getattr(src, "graded", False)
        outputs[name] = HostOutput((size,), (Piece(name, 0, size),), 0, "graded" if graded else "spikes",
                                   (1.0,) * size if graded else ())
    layers = {n: Layer(0, isinstance(node.op, SigmaDelta) or bool(getattr(node.op, "graded", False)))
              for n, node in graph.nodes.items() if isinstance(node.op, COMPARTMENTS)}
    return Mapping(inputs=inputs, outputs=outputs, layers=layers)
