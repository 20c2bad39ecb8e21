"""`truenorth-encode`: every spiking population becomes one (virtual) `truenorth.core`.

Each population P of `snn.if` neurons, with everything that drives it folded into one
matrix per source (`snnc.passes.populations`, with the Loihi lowering's spec), becomes a core
whose integer run is P's: the core may still exceed the chip's 256 × 256 (the later passes
split it), but its arithmetic is final. Per neuron j, in membrane units per tick
(IF: v~[t] = v[t−1] + dt·r·(Σ_S A_S y_S[t] + c)):

    E_j    = dt·r_j · [A_S1 | A_S2 | ...]_j     weights per input spike
    b_j    = dt·r_j · c_j                        bias per tick (the affine constant)

Weights: E is factorised (`factorize.py`) with D axons per input; then every neuron gets
an integer scale k_j, the largest that keeps its four weights, its leak, its threshold and
its reset value within the target's ranges, and

    s_j^g = round(k_j · s_j^g(float))   (then each synapse picks the closest integer subset sum)
    leak  = round(k_j · b_j)             (bias as leak, σ_λ = sign; deterministic, ε = 0)
    α_j   = floor(k_j θ_j) + 1           (V ≥ α  ⇔  V > k_j θ_j, the source's strict >)
            max(1, round(k_j θ_j))       for linear reset, whose subtraction of α sets the rate
    γ_j   = 0 normal (R = round(k_j · v_reset)), 1 linear (subtract), 2 none — from reset_mode
    κ_j = 1, β_j = the deepest floor the formats allow (the source's v is unbounded below)

Duplication D (option `duplication`, 0 = per layer): the most precise D, the smallest of
equally precise ones (an exactly representable layer uses the fewest axons). When its
inputs do not fit one core's axons (D · inputs > core.axons), the most precise D that fits
is taken instead if its relative RMS weight error is at most `max_error`; otherwise the
precise one stays and `truenorth-split-fan-in` splits the fan-in.

Routes: a graph input reaches its axons with delay 0 (active in the tick the host sends
it); a population's spikes with the smallest delay, then `latency.balance` aligns paths.
Statistics per layer: D, inputs, axons, the weight approximation error (relative RMS and
max) and, with D chosen per layer, the error every D would have had.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.loihi.lower import POPULATIONS
from snnc.backends.truenorth import factorize as fz
from snnc.backends.truenorth.cores import make_core
from snnc.backends.truenorth.latency import annotate, balance
from snnc.backends.truenorth.netlist import Netlist, new_link
from snnc.backends.truenorth.ops import RESET_LINEAR, RESET_NONE, RESET_NORMAL
from snnc.ir.graph import Graph, Node
from snnc.ir.snn import Input, Output
from snnc.ir.mapping import HostInput, HostOutput, Mapping, PartOf, Piece
from snnc.passes.populations import Population, populations
from snnc.passes.registry import PassResult, option, register_pass

GAMMA = {"value": RESET_NORMAL, "subtract": RESET_LINEAR, "none": RESET_NONE}


@dataclass(frozen=True)
class EncodeOptions:
    """`duplication`: axons per input, 1..4, or 0 to choose per layer; `max_error`: the largest
    relative RMS weight error accepted to avoid splitting a layer's fan-in (duplication 0)."""

    duplication: int = option(0, "axons per input, 1..4, or 0 to choose per layer", choices=(0, 1, 2, 3, 4))
    max_error: float = option(0.25, "largest relative RMS weight error accepted to avoid splitting a layer's "
                                    "fan-in (duplication 0)", low=0.0)

    def __post_init__(self):
        if self.duplication not in (0, 1, 2, 3, 4):
            raise ValueError(f"duplication must be 0 (per layer) or 1..4 axons per input, got {self.duplication}")
        if not self.max_error >= 0:
            raise ValueError(f"max_error must be >= 0, got {self.max_error}")


@dataclass
class Encoded:
    """One layer in integers: its core (all inputs' axons), the input each axon carries, stats."""

    core: object
    axon_input: np.ndarray        # [A] column of E each axon carries
    approx: np.ndarray            # W̃ [n, m], the weights the core realises (membrane units)
    stats: dict


def _scale(s, bias, theta, v_reset, f) -> np.ndarray:
    """k_j: the largest factor that keeps weights, leak, threshold and reset value in range."""
    w_max = min(-f.weight.lo, f.weight.hi)
    limits = [(np.abs(s).max(axis=1), w_max), (np.abs(bias), min(-f.leak.lo, f.leak.hi)),
              (theta, f.alpha.hi - 1), (np.abs(v_reset), min(-f.reset_value.lo, f.reset_value.hi))]
    k = np.full(len(theta), np.inf)
    for value, cap in limits:
        with np.errstate(divide="ignore"):
            k = np.minimum(k, np.where(value > 0, cap / np.where(value > 0, value, 1.0), np.inf))
    return np.where(np.isfinite(k), k, 1.0)


def encode_layer(E: np.ndarray, bias, theta, v_reset, reset_mode: str, D: int, target) -> Encoded:
    f = target.formats
    n, m = E.shape
    fitted = fz.fit(E, D)
    k = _scale(fitted.s, bias, theta, v_reset, f)
    S = np.clip(np.rint(k[:, None] * fitted.s), f.weight.lo, f.weight.hi).astype(np.int64)
    C = fz.choices(E * k[:, None], S.astype(np.float64), D, fitted.subset)           # [n, m, 4]
    approx = np.einsum("jig,jg->ji", C, S) / k[:, None]
    pairs = np.argwhere(C.any(axis=0))                                              # (input, type) with synapses
    crossbar = C[:, pairs[:, 0], pairs[:, 1]].T.astype(np.int64)                      # [A, n]
    gamma = GAMMA[reset_mode]
    alpha = np.floor(k * theta) + 1 if gamma != RESET_LINEAR else np.maximum(1, np.rint(k * theta))
    beta = min(f.beta.hi, -f.membrane_range.lo)
    core = make_core(crossbar, pairs[:, 1], S, leak=np.clip(np.rint(k * bias), f.leak.lo, f.leak.hi),
                     alpha=np.clip(alpha, f.alpha.lo, f.alpha.hi), beta=beta, reset_mode=gamma, saturate=1,
                     reset_value=np.rint(k * v_reset) if gamma == RESET_NORMAL else 0,
                     membrane_bits=f.membrane_bits)
    err = fz.relative_error(E, approx)
    stats = {"duplication": D, "inputs": int(m), "axons": int(len(pairs)), **err,
             "scale": [float(k.min(initial=np.inf)), float(k.max(initial=0.0))] if n else [],
             "leak_rel_error_max": _leak_error(k, bias, core.leak)}
    return Encoded(core, pairs[:, 0], approx, stats)


def _leak_error(k, bias, leak) -> float:
    scale = np.maximum(np.abs(bias), 1e-300)
    return float(np.max(np.where(bias != 0, np.abs(leak / k - bias) / scale, 0.0), initial=0.0))


def choose_duplication(E, bias, theta, v_reset, reset_mode, target, options: EncodeOptions) -> tuple[Encoded, dict]:
    """The encoding with the duplication the options ask for (see the module docstring)."""
    if options.duplication:
        return encode_layer(E, bias, theta, v_reset, reset_mode, options.duplication, target), {}
    inputs = int(np.count_nonzero(np.any(E != 0, axis=0)))
    tried = {D: encode_layer(E, bias, theta, v_reset, reset_mode, D, target) for D in (1, 2, 3, 4)}
    errors = {str(D): enc.stats["rel_rms"] for D, enc in tried.items()}
    rank = {D: (round(enc.stats["rel_rms"], 12), D) for D, enc in tried.items()}
    best = min(tried, key=rank.__getitem__)                          # most precise, then fewest axons
    fitting = [D for D in tried if D * inputs <= target.core.axons]
    if fitting and best not in fitting:
        nearest = min(fitting, key=rank.__getitem__)
        if tried[nearest].stats["rel_rms"] <= options.max_error:
            best = nearest
    return tried[best], errors


@register_pass("truenorth-encode", EncodeOptions)
def encode(graph: Graph, target, options: EncodeOptions) -> PassResult:
    """Each spiking population to one integer core: weights factorised, leak, thresholds, reset encoded."""
    net_view = populations(graph, POPULATIONS)
    net = Netlist({}, [], {}, {}, graph)
    for name in graph.inputs:
        node = graph.nodes[name]
        net.inputs[name] = Node(name, Input(shape=(int(np.prod(node.op.shape)),)), node.origin)
    stats, parts, provenance = {}, {}, {}
    for layer in net_view.populations.values():
        stats[layer.node] = _add_layer(net, net_view, layer, graph.dt, target, options)
        parts[layer.node] = PartOf(layer.node, 0, layer.size)
        provenance[layer.node] = (layer.node,)
        for via in layer.via.values():
            for v in via:
                provenance[v] = provenance.get(v, ()) + (layer.node,)
    inputs = {n: HostInput(tuple(shape)) for n, shape in net_view.inputs.items()}
    outputs = {}
    for out in graph.outputs:
        src = net_view.outputs[out]
        size = net_view.populations[src].size
        net.outputs[out] = Node(out, Output(shape=(size,)), graph.nodes[out].origin)
        net.links.append(new_link(src, out, np.arange(size), np.arange(size), 0, size, size, graph.nodes[out].origin))
        outputs[out] = HostOutput(tuple(net_view.output_shapes[out]), (Piece(out, 0, size),))
    net.mapping = Mapping(inputs=inputs, outputs=outputs, parts=parts)
    annotate(net, balance(net, target))
    summary = {"layers": len(stats), "per_layer": stats,
               "weight_rel_rms_max": max((s["rel_rms"] for s in stats.values()), default=0.0)}
    return PassResult(net.to_graph(), provenance=provenance, stats=summary)


def _add_layer(net: Netlist, view, layer: Population, dt: float, target, options: EncodeOptions) -> dict:
    op = layer.op
    n = layer.size
    gain = np.broadcast_to(dt * op.r, op.shape).reshape(-1)
    sources = list(layer.inputs)
    E = np.hstack([gain[:, None] * layer.inputs[s] for s in sources]) if sources else np.zeros((n, 0))
    bias = gain * layer.const.reshape(-1)
    theta = np.broadcast_to(op.v_threshold, op.shape).reshape(-1).astype(np.float64)
    v_reset = np.broadcast_to(op.v_reset, op.shape).reshape(-1).astype(np.float64)
    enc, errors = choose_duplication(E, bias, theta, v_reset, op.reset_mode, target, options)
    net.cores[layer.node] = Node(layer.node, enc.core, layer.origin)
    offsets = np.cumsum([0] + [view.size(s) for s in sources])
    for s, lo, hi in zip(sources, offsets[:-1], offsets[1:]):
        axons = np.flatnonzero((enc.axon_input >= lo) & (enc.axon_input < hi))
        if axons.size or (s == sources[0] and not enc.core.axons):      # an input-less core keeps one route
            delay = 0 if s in net.inputs else target.formats.delay.lo
            net.links.append(new_link(s, layer.node, enc.axon_input[axons] - lo, axons, delay, hi - lo,
                                      enc.core.axons, layer.origin))
    stats = dict(enc.stats)
    if errors:
        stats["rel_rms_by_duplication"] = errors
    return stats
