"""`truenorth-encode`: every spiking population becomes one (virtual) `truenorth.core`, every
readout a float node on the host, and the terms between them routes with their lags.

The source graph is folded into populations (`legalize.SPEC`, `snnc.passes.populations`):
the input of population P at tick t is Σ_(S, k) A_{S→P,k} y_S[t − k] + c_P over graph inputs
and populations S at lag k (0 for a same-tick chain; recurrent edges and `snn.delay` ops
add ticks). Each population gets the neuron `neuron.plan` gives it, in integers
(`encode.encode_layer`); each term becomes the axons of its source on P's core, reached by
a route entry of lag k (`latency.balance` turns lags into delays: feedback around one core
is exact; a loop the chip cannot close in time arrives late, listed as an approximation).

Readouts (snn.i, snn.li, snn.cuba_li feeding only graph outputs) are computed by the host
from the spikes the chip sends it: one `snn.affine` per term (the term's matrix, the
readout's constant on the first) into the readout op itself, fed by a route from the
source's core (the host holds spikes that arrive before the readout's latest source). The
output then holds the readout's float values: verify compares them with the model's.

Inputs are binary spikes (host encoding `spikes`): an input element's spike makes its
axons active in the tick the host sends it. A model that takes real values (a converted
ANN with current coding, `convert_ann.declared_input`; option `input`) gets them as host
encoding `values`, coded as spikes on the host: per element and sign an `snn.if` encoder of
threshold `input_range` (the model's declared peak), whose spikes reach the chip instead
(an approximation). A CUBA population's terms are repeated on its current filter's taps
(`neuron.filter_taps`) where their sources can take the copies (`legalize.tap_source`).
Entries whose delay exceeds the scheduler go through relay chains (`relay.py`, exact).
Outputs fed by a population are its spikes (`graded` with scale 1/θ for a graded
population: each spike stands for θ).

Statistics per layer: D, inputs, axons, the weight approximation error (relative RMS and
max) and, with D chosen per layer, the error every D would have had. Approximations: a
layer whose weights the factorisation does not realise exactly (rule `core.axon_types`),
a bias the model delays (it acts from the first tick), feedback that arrives late, a
real-valued input coded as spikes.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.truenorth import neuron
from snnc.backends.truenorth.encode import EncodeOptions, choose_duplication
from snnc.backends.truenorth.latency import annotate, balance, late_approximation, late_entries, latencies
from snnc.backends.truenorth.legalize import SPEC, constant, looped, spare, tap_source, tapped
from snnc.backends.truenorth.netlist import Netlist, new_link
from snnc.backends.truenorth.relay import relay_long_delays
from snnc.interp.kernel import Context
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.ir.mapping import HostInput, HostOutput, Mapping, PartOf, Piece
from snnc.ir.snn import IF, Affine, Input, Output
from snnc.passes.approximation import Approximation
from snnc.passes.convert_ann import declared_input
from snnc.passes.populations import ALWAYS_ON, Population, Populations, populations
from snnc.passes.registry import PassResult, register_pass

WEIGHT_WHY = ("a TrueNorth neuron weighs an input by the sum of its four signed type weights over the axons "
              "that carry the input; not every weight of this layer is such a sum")
RATE_WHY = ("a TrueNorth axon carries one bit per tick: a real-valued input cannot enter the chip, and "
            "TrueNorth has no graded spikes")
DELAYED_BIAS_WHY = "a delayed constant (bias) has no TrueNorth equivalent: a neuron's leak acts from the first tick"


@register_pass("truenorth-encode", EncodeOptions)
def encode(graph: Graph, target, options: EncodeOptions) -> PassResult:
    """Populations to integer cores, readouts to host nodes, terms to routes with their lags."""
    view = populations(graph, SPEC)
    b = _Builder(graph, target, options, view)
    for name in graph.inputs:
        b.add_input(name)
    for layer in view.populations.values():
        b.add_layer(layer)
    for readout in view.readouts.values():
        b.add_readout(readout)
    for out in graph.outputs:
        b.add_output(out)
    net = b.net
    net.mapping = Mapping(inputs=b.inputs, outputs=b.outputs, parts=b.parts)
    relays = relay_long_delays(net, latencies(net, target), target)
    L = balance(net, target)
    b.approximations += [late_approximation(late) for late in late_entries(net, L)]
    annotate(net, L)
    summary = {"layers": len(b.stats), "per_layer": b.stats,
               "weight_rel_rms_max": max((s["rel_rms"] for s in b.stats.values()), default=0.0),
               "readouts": len(view.readouts), **relays}
    return PassResult(net.to_graph(), provenance=b.provenance, stats=summary, approximations=tuple(b.approximations))


class _Builder:
    """Collects the netlist, the host records, statistics and approximations."""

    def __init__(self, graph: Graph, target, options: EncodeOptions, view: Populations):
        self.graph, self.target, self.options, self.view = graph, target, options, view
        self.ctx = Context(dt=graph.dt, method=graph.method)
        self.net = Netlist({}, [], {}, {}, graph)
        self.inputs, self.outputs, self.parts = {}, {}, {}
        self.provenance: dict[str, tuple[str, ...]] = {}
        self.stats: dict[str, dict] = {}
        self.approximations: list[Approximation] = []
        self.taken = {*view.populations, *view.readouts, *graph.inputs, *graph.outputs}
        self.looped = looped(view)
        self.encoders: dict[str, tuple[str, float]] = {}        # graph input -> (its spike encoder, peak)
        self.plans = {name: neuron.plan(p.op, self.ctx, target, constant(p), tapped=tapped(p, self.looped))
                      for name, p in view.populations.items()}

    # -- sources -----------------------------------------------------------------------------------
    def add_input(self, name: str) -> None:
        node = self.graph.nodes[name]
        shape = tuple(node.op.shape)
        n = int(np.prod(shape))
        self.net.inputs[name] = Node(name, Input(shape=(n,)), node.origin)
        peak = self._rate_coded(name)
        if peak is None:
            self.inputs[name] = HostInput(shape)
            return
        self.inputs[name] = HostInput(shape, "values")
        code, spikes = self._fresh(f"{name}.code", name), self._fresh(f"{name}.spikes", name)
        self.net.host[code] = Node(code, Affine(weight=np.vstack([np.eye(n), -np.eye(n)]), bias=np.zeros(2 * n)),
                                   node.origin)
        # θ a hair below the peak: an input at the peak spikes every tick (the comparison is strict)
        self.net.host[spikes] = Node(spikes, IF(r=np.full(2 * n, 1.0 / self.graph.dt),
                                                v_threshold=np.full(2 * n, peak * (1 - 2.0 ** -20)),
                                                v_reset=np.zeros(2 * n), reset_mode="subtract"), node.origin)
        self.net.host_edges += [Edge(name, code), Edge(code, spikes)]
        self.encoders[name] = (spikes, peak)
        self.approximations.append(Approximation(
            name, node.origin, "truenorth.core.axons",
            f"the host codes input '{name}' as spikes: per element and sign an integrate-and-fire encoder of "
            f"threshold {peak:g} (its spike count over any window is the input's sum over the window, divided "
            f"by {peak:g}, within one spike)", RATE_WHY))

    def _rate_coded(self, name: str) -> float | None:
        """The peak |x| of a real-valued input the host codes as spikes, or None for binary spikes."""
        o = self.options
        real, peak = declared_input(self.graph)
        if o.input == "spikes" or (o.input == "auto" and not real):
            return None
        return float(o.input_range or peak or 1.0)

    def payload(self, src: str, n: int) -> np.ndarray:
        """What one spike of `src` (n elements) is worth to its receivers (θ for a graded population)."""
        return self.plans[src].payload if src in self.plans else np.ones(n)

    def terms(self, pop: Population, shift: int = 0, taps=None) -> dict[tuple[str, int], np.ndarray]:
        """Every (source, lag) term of a population's input, shifted by `shift` ticks and, with
        `taps` [K, n], repeated k ticks later weighted taps[k]; a rate-coded input is read from
        its encoder (each spike worth ±peak)."""
        base = {(s, shift): a for s, a in pop.inputs.items()}
        base.update({(s, k + shift): a for (s, k), a in pop.lagged.items()})
        out: dict[tuple[str, int], np.ndarray] = {}
        for (s, lag), a in base.items():
            for k, h in enumerate(taps if taps is not None and tap_source(s, self.looped) else np.ones((1, pop.size))):
                key = (s, lag + k)
                out[key] = out[key] + h[:, None] * a if key in out else h[:, None] * a
        coded = {}
        for (s, k), a in out.items():
            if s in self.encoders:
                spikes, peak = self.encoders[s]
                s, a = spikes, np.hstack([a, -a]) * peak
            coded[(s, k)] = a
        return coded

    # -- populations ---------------------------------------------------------------------------------
    def add_layer(self, layer: Population) -> None:
        plan = self.plans[layer.node]
        terms = self.terms(layer, plan.lag, plan.taps)
        delayed = sorted(k for s, k in terms if s == ALWAYS_ON)
        terms = {key: a for key, a in terms.items() if key[0] != ALWAYS_ON}
        if delayed:
            self._approximate(layer, "truenorth.core.leak", f"the bias the model delays by {delayed[0]} tick(s) "
                              f"acts from the first tick", DELAYED_BIAS_WHY)
        E = np.hstack([plan.gain[:, None] * a * self.payload(s, a.shape[1])[None, :] for (s, _), a in terms.items()]) \
            if terms else np.zeros((layer.size, 0))
        enc, errors = choose_duplication(E, plan.neurons, self.target, self.options,
                                         wide=spare(layer, self.looped))
        self.net.cores[layer.node] = Node(layer.node, enc.core, layer.origin)
        self._links(layer, terms, enc)
        stats = dict(enc.stats)
        if errors:
            stats["rel_rms_by_duplication"] = errors
        self.stats[layer.node] = stats
        self.parts[layer.node] = PartOf(layer.node, 0, layer.size)
        self._provenance(layer, layer.node)
        if not enc.exact:
            self._approximate(layer, "core.axon_types", f"weights as subset sums of four signed values per neuron, "
                              f"{enc.stats['duplication']} axon type(s) per input: relative RMS error "
                              f"{enc.stats['rel_rms']:.2%}, largest {enc.stats['rel_max']:.2%} of the layer's "
                              f"largest weight", WEIGHT_WHY)

    def _links(self, layer: Population, terms: dict, enc) -> None:
        offsets = np.cumsum([0] + [a.shape[1] for a in terms.values()])
        for i, ((src, lag), lo, hi) in enumerate(zip(terms, offsets[:-1], offsets[1:])):
            axons = np.flatnonzero((enc.axon_input >= lo) & (enc.axon_input < hi))
            if axons.size or (i == 0 and not enc.core.axons):      # an input-less core keeps one route
                self.net.links.append(new_link(src, layer.node, enc.axon_input[axons] - lo, axons, 0, hi - lo,
                                               enc.core.axons, layer.origin, lag=lag))

    def _provenance(self, pop: Population, *nodes: str) -> None:
        self.provenance[pop.node] = tuple(nodes)
        for via in (*pop.via.values(), *pop.lagged_via.values()):
            for v in via:
                self.provenance[v] = tuple(dict.fromkeys(self.provenance.get(v, ()) + (nodes[-1],)))

    def _approximate(self, pop: Population, rule: str, what: str, why: str) -> None:
        self.approximations.append(Approximation(pop.node, pop.origin, rule, what, why))

    # -- readouts on the host ----------------------------------------------------------------------
    def add_readout(self, ro: Population) -> None:
        """One snn.affine per term, fed by a route from the source's core, into the readout op."""
        made = []
        for i, ((src, lag), a) in enumerate(self.terms(ro).items()):
            via = ro.via.get(src, ()) if lag == 0 else ro.lagged_via.get((src, lag), ())
            name = self._fresh(via[-1] if via else f"{ro.node}.syn", src)
            bias = ro.const.reshape(-1) if i == 0 else np.zeros(ro.size)
            origin = self.graph.nodes[via[-1]].origin if via else ro.origin
            self.net.host[name] = Node(name, Affine(weight=a * self.payload(src, a.shape[1])[None, :], bias=bias), origin)
            n = a.shape[1]
            self.net.links.append(new_link(src, name, np.arange(n), np.arange(n), 0, n, n, origin, lag=lag))
            self.net.host_edges.append(Edge(name, ro.node))
            made.append(name)
        self.net.host[ro.node] = Node(ro.node, _flat(ro.op), ro.origin)
        self._provenance(ro, *made, ro.node)

    def _fresh(self, base: str, src: str) -> str:
        name = unique_name(base if base not in self.taken else f"{base}.{src}", self.taken)
        self.taken.add(name)
        return name

    # -- outputs -------------------------------------------------------------------------------------
    def add_output(self, out: str) -> None:
        src = self.view.outputs[out]
        node = self.graph.nodes[out]
        shape = tuple(self.view.output_shapes[out])
        size = int(np.prod(shape))
        self.net.outputs[out] = Node(out, Output(shape=(size,)), node.origin)
        piece = (Piece(out, 0, size),)
        if src in self.view.readouts:
            self.net.host_edges.append(Edge(src, out))
            self.outputs[out] = HostOutput(shape, piece, encoding="values")
            return
        self.net.links.append(new_link(src, out, np.arange(size), np.arange(size), 0, size, size, node.origin))
        payload = self.plans[src].payload
        graded = self.view.populations[src].op.graded
        self.outputs[out] = HostOutput(shape, piece, encoding="graded" if graded else "spikes",
                                       scale=tuple(float(1.0 / p) for p in payload) if graded else ())


def _flat(op):
    """A readout op with its per-neuron arrays flattened (the host node takes a flat vector)."""
    arrays = {f.name: getattr(op, f.name).reshape(-1) for f in op.field_specs()
              if f.metadata["kind"] == "array"}
    return op.replace(**arrays)
