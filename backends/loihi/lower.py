"""Lowering `snn.*` to the `loihi.*` dialect, and the Loihi family's pipeline.

    discretize → prune → loihi-legalize → loihi-quantize → loihi-partition → place

`loihi-legalize` (`legalize.py`) refuses, naming the node, its origin and the target rule,
only what no compartment can compute (reset_mode none, graded spikes on a chip without
them, a negative threshold), and rewrites every other neuron into what a compartment
computes: faithfully where the chip can, approximately by a documented rule otherwise,
each approximation listed in the manifest (`snnc compile --strict` refuses them).
`loihi-quantize` (`build.py`) replaces every spiking population by a `loihi.cuba` node and
every term of its input (a source at a lag, through a chain of affine ops) by one
`loihi.dense` or `loihi.sparse` node with integer registers (`quantize.py`).

Source-to-chip semantics (the interpreter checks them; see FORMAT.md and ir_spec/SPEC.md §8,
which lists every approximation rule of the family):

- A float LIF (no synaptic current) is a CUBA compartment whose current decays fully
  every tick (du = 4095): u[t] = 2^6 · a[t], the tick's synaptic input.
- v's leak is dv = round(4096 · (1 − α(τ))) under the graph's method; input gains fold
  into the weights (LIF: (1 − α) r; IF: dt · r; CUBA LIF: (1 − α_mem) r (1 − α_syn) w_in).
- A Loihi synapse delivers one tick after the spike, so a population runs L_P ticks after
  the source model; `timing.py` picks the latencies and every synapse's delay (paths of
  unequal length, `snn.delay` ops and feedback alike: d = L_P − 1 − L_S + k for a source at
  lag k), relays delays beyond the target's range through copies of the source's spikes,
  and delivers feedback around a loop that the chip cannot close in time late, reported.
  Each output's latency goes into the graph's mapping record, and `snnc.simulate` shifts
  outputs back onto the source model's timeline.
- Constant drive (affine biases, leak levels) reaches the current through an always-on
  neuron's synapse delayed to the layer's first tick; a CUBA neuron's leak level, which
  enters the membrane, goes into the compartment bias (reported: it starts with the chip).
- On a chip that resets only to 0, a subtracting LIF or IF keeps its membrane in the
  current register: u integrates with the membrane's leak, v = u each tick crosses the
  threshold, and a synapse from the neuron to itself takes θ off at the next tick.
- Non-spiking readouts (snn.i, snn.li, snn.cuba_li feeding only outputs, any shape) stay
  on the host as float snn.* nodes fed by the chip's spikes (one snn.affine per term,
  delayed on the host to the readout's latency): the chip sends spikes, the host
  integrates them, as nengo-loihi decodes on the host.
- Graph inputs (`input`): binary spikes stay binary (the chip counts any nonzero value as
  a spike, and `snnc.simulate` refuses non-binary input). Real values — a model that takes
  them, such as a converted ANN, gets this by default — enter as graded spikes with a
  fixed-point payload round(x · 2^f) of `input_bits` bits (default 12, sign included), f
  chosen so that `input_range` fills them; on a chip without graded spikes, as the spikes
  of a host integrate-and-fire encoder of the same payload (`rate`, an approximation).
  12 bits is where the error of a converted ANN's readout is least: on the digits ReLU MLP
  and CNN of tests/matrix the RMS score error is 2.21, 1.54, 1.41, 2.35, 4.39 (MLP) and 1.56,
  1.14, 1.04, 1.05, 1.61 (CNN) for 8, 10, 12, 14, 16 bits: wider payloads meet the floor of
  the weight exponent (−7: the synapse shifts the payload times an 8-bit mantissa), and the
  weights lose the bits the payload gains.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from snnc.backends.loihi import native, partition, timing  # noqa: F401  (partition registers loihi-partition)
from snnc.backends.loihi.build import Builder
from snnc.backends.loihi.legalize import legalize_graph
from snnc.errors import UsageError
from snnc.ir.graph import Graph
from snnc.ir.snn import I, IF, LI, LIF, CubaLI, CubaLIF
from snnc.passes.approximation import Approximation
from snnc.passes.convert_ann import declared_input
from snnc.passes.options import check_fields
from snnc.passes.populations import ALWAYS_ON, PopulationSpec, populations
from snnc.passes.registry import PassResult, option, register_pass

PIPELINE = ("discretize", "prune", "loihi-legalize", "loihi-quantize", "loihi-partition", "place")

# Spiking populations become compartments; non-spiking readouts feeding only outputs stay on the host.
POPULATIONS = PopulationSpec(
    spiking=(LIF, IF, CubaLIF),
    readouts=(I, LI, CubaLI),
    max_entries=1 << 27,          # entries of one expanded synapse matrix (1 GiB of float64)
    chunk=512,
    feedback=True,
    delays=True,
    unsupported_op=("the Loihi lowering maps spiking neurons (snn.lif, snn.if, snn.cuba_lif), non-spiking "
                    "readouts (snn.i, snn.li, snn.cuba_li) and the stateless affine ops between them"),
    recurrent="recurrent edge {edge}: the Loihi lowering cannot map this feedback",
    not_affine_source="this node's output is not an affine function of the spiking populations",
    not_affine_op="this op is not affine, so it cannot become synapses",
    too_large=("expanding this op into dense synapses from '{src}' needs a {n_out} x {n_src} matrix "
               "(more than {limit} entries)"),
    output_source="a graph output must be fed directly by one neuron node (it is fed by {srcs})",
)


def pipeline(target) -> tuple[str, ...]:
    """The Loihi family's pass list (the same for every Loihi target: limits differ, not passes)."""
    return PIPELINE


# -- loihi-legalize ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LegalizeOptions:
    """No options."""


@register_pass("loihi-legalize", LegalizeOptions)
def legalize(graph: Graph, target, options: LegalizeOptions) -> PassResult:
    """Rewrite every neuron into what a compartment computes: faithfully, or approximately and reported."""
    if native.is_native(graph):                   # already loihi.* (a netx file): checked, not rewritten
        native.refuse(graph, target)
        return graph
    populations(graph, POPULATIONS)               # refuses unsupported ops and structure
    out, approximations, provenance = legalize_graph(graph, target)
    return PassResult(out, provenance=provenance, approximations=tuple(approximations),
                      stats={"approximations": len(approximations)})


# -- loihi-quantize ------------------------------------------------------------------------------
INPUTS = ("auto", "spikes", "graded", "rate")


@dataclass(frozen=True)
class QuantizeOptions:
    per_row_exponent: bool = option(True, "one weight exponent per output row (false: one per layer)")
    per_neuron_scale: bool = option(True, "one state scale per neuron (false: one per layer, as netx files "
                                          "need)")
    headroom: str = option("state", "what the scales guard against overflow: the reachable state, the "
                                    "largest input, or nothing", choices=("state", "input", "none"))
    synapse_format: str = option("auto", "synapse storage: the cheaper in synapse memory, or forced",
                                 choices=("auto", "dense", "sparse"))
    input: str = option("auto", "how graph inputs enter the chip: binary spikes, graded spikes with a "
                                "fixed-point payload, or spikes from a host integrate-and-fire encoder of real "
                                "values (rate); auto: spikes, unless the model takes real values (a converted "
                                "ANN), then graded where the target has graded spikes, else rate",
                        choices=INPUTS)
    input_range: float = option(0.0, "largest |x| of a real-valued input (fills the payload); 0: the model's "
                                     "own (a converted ANN's calibration peak), else 1", low=0.0)
    input_bits: int = option(12, "real-valued input payload width in bits, sign included", low=2, high=32)
    bias: str = option("axon", "constant drive of LIF and IF neurons: through an always-on axon into the "
                               "current, exact from the layer's first tick (axon), or the compartment bias, "
                               "13-bit but integrating from chip tick 0 (compartment, as netx files hold it)",
                       choices=("axon", "compartment"))

    def __post_init__(self):
        check_fields(self)


def input_coding(graph: Graph, target, options: QuantizeOptions) -> tuple[str, float, list[Approximation]]:
    """(how inputs enter the chip, the range of a real-valued input, approximations)."""
    real, peak = declared_input(graph)
    coding = options.input
    if coding == "auto":
        coding = "spikes" if not real else "graded" if target.neurons.graded_spikes else "rate"
    if coding == "graded" and not target.neurons.graded_spikes:
        raise UsageError(f"target '{target.name}' has no graded spikes (neurons.graded_spikes = false): "
                         f"real-valued inputs cannot enter the chip; use input='rate' (spikes from a host "
                         f"encoder) or input='spikes' with binary spike input")
    rng = options.input_range or peak or 1.0
    if coding == "graded" and options.input_bits > target.neurons.graded_spike_bits:
        raise UsageError(f"input_bits = {options.input_bits} exceeds target '{target.name}' graded spike payload "
                         f"(neurons.graded_spike_bits = {target.neurons.graded_spike_bits})")
    approximations = []
    if coding == "rate":
        worth = 2.0 ** math.ceil(math.log2(rng))
        approximations = [Approximation(
            name, graph.nodes[name].origin, "neurons.graded_spikes",
            f"present real values as spikes of a host integrate-and-fire encoder (each spike stands for {worth:g} "
            f"of x, at most one a tick; negative values send none)",
            f"target '{target.name}' has no graded spikes (neurons.graded_spikes = false): real-valued inputs "
            f"cannot enter the chip") for name in graph.inputs]
    return coding, rng, approximations


@register_pass("loihi-quantize", QuantizeOptions, reports_progress=True)
def quantize(graph: Graph, target, options: QuantizeOptions, progress=lambda msg: None) -> PassResult:
    """Lower every population to loihi.cuba and every synapse chain to loihi.dense/sparse, in integers."""
    if native.is_native(graph):
        return native.lower(graph, target)
    net = populations(graph, POPULATIONS)
    coding, rng, approximations = input_coding(graph, target, options)
    b = Builder(graph, target, options, net, coding, rng)
    b.approximations += approximations
    for name in graph.inputs:
        b.add_input(name)
    terms = {p: b.terms(layer) for p, layer in net.populations.items()}
    if any(k[0] == ALWAYS_ON for t in terms.values() for k in t):
        b.add_always_on()
    tim = timing.plan(list(net.populations), {p: [k[:2] for k in t] for p, t in terms.items()},
                      {**{n: 0 for n in graph.inputs}, ALWAYS_ON: 0})
    b.latency.update(tim.latency)
    b.approximations += _late_feedback(net, tim)
    for layer in net.populations.values():
        b.add_layer(layer, terms[layer.node], tim)
        progress(f"{layer.node}: {layer.size} neurons, weight error {b.stats[layer.node]['weight_rel_rms']:.2%} "
                 f"(relative RMS)")
    for layer in net.readouts.values():
        b.add_readout(layer)
    for name in graph.outputs:
        b.add_output(name)
    lowered = Graph(b.nodes, b.edges, inputs=graph.inputs, outputs=graph.outputs, dt=graph.dt,
                    method=graph.method, version=graph.version, metadata=dict(graph.metadata), mapping=b.mapping())
    stats = {"layers": len(net.populations), "per_layer": b.stats, "input": coding,
             "latency": {n: b.latency[n] for n in net.populations}, "relays": len(b.relays),
             "weight_rel_rms_max": max((s["weight_rel_rms"] for s in b.stats.values()), default=0.0)}
    return PassResult(lowered, provenance=b.provenance, stats=stats, approximations=tuple(b.approximations))


def _late_feedback(net, tim: timing.Timing) -> list[Approximation]:
    out = []
    for (p, src, lag), late in tim.late.items():
        layer = net.populations[p]
        lat_s, lat_p = tim.latency[src], tim.latency[p]
        out.append(Approximation(
            p, layer.origin, "loihi.synapse.tick",
            f"deliver the feedback from '{src}' {late} tick(s) late (the loop passes more synapses, one tick each, "
            f"than the model's {lag}-tick delay)",
            f"feedback from '{src}' (chip latency {lat_s}) into '{p}' (chip latency {lat_p}) takes "
            f"{lat_s - lat_p + 1} ticks on the chip, but the source model delays it by {lag} tick(s) (a loop "
            f"through more than one population)"))
    return out
