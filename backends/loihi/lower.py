"""Lowering `snn.*` to the `loihi.*` dialect, and the Loihi family's pipeline.

    discretize → prune → loihi-legalize → loihi-quantize → loihi-partition → place

`loihi-legalize` refuses, with the node, its origin and the target rule, whatever the
chip cannot compute, and rewrites exactly what it can (a value reset applied at the next
step gives the same spikes as one applied at once). `loihi-quantize` replaces every
spiking population by a `loihi.cuba` node and every chain of affine ops between two
populations by one `loihi.dense` (or `loihi.sparse`) node with integer registers.

Source-to-chip semantics (the interpreter checks them; see FORMAT.md):

- A float LIF (no synaptic current) is a CUBA compartment whose current decays fully
  every tick (du = 4095): u[t] = 2^6 · a[t], the tick's synaptic input.
- v's leak is dv = round(4096 · (1 − α(τ))) under the graph's method; input gains fold
  into the weights (LIF: (1 − α) r; IF: dt · r; CUBA LIF: (1 − α_mem) r (1 − α_syn) w_in).
- A Loihi synapse delivers one tick after the spike, so each population runs one tick
  after the populations that drive it: its latency is 1 + the largest latency among its
  sources (graph inputs have latency 0). Paths of unequal length are balanced with
  synaptic delays. Each output's latency goes into the graph's mapping record, and
  `snnc.simulate` shifts outputs back onto the source model's timeline.
- Feedback (a recurrent edge on the path between two populations, snnTorch's RLeaky and
  RSynaptic, NIR feedback) becomes an ordinary `loihi.dense`/`loihi.sparse` in the cycle,
  without a recurrent edge: the synapse's own tick is the source's one-tick delay. The
  source wants y_S[t − 1] at P's tick t, which on the chip is tick t + L_P; the chip has
  y_S[t − 1] at tick t − 1 + L_S, and a synapse with delay d delivers it at t + L_S + d,
  so d = L_P − L_S (0 for a population feeding itself). Feedback does not add to a
  population's latency. Feedback from a population of larger latency (a loop through
  another population: the chip needs more ticks than the source's one) cannot be exact
  and is refused, as are graded feedback spikes from a population not yet encoded.
- Non-spiking readouts (snn.i, snn.li, snn.cuba_li feeding only outputs) stay on the
  host as float snn.* nodes fed by the chip's spikes (one snn.affine per source): the
  chip sends spikes, the host integrates them, as nengo-loihi decodes on the host.
- Graph inputs: binary spikes stay binary (`input="spikes"`, the default: the chip
  counts any nonzero value as a spike, and `snnc.simulate` refuses non-binary input).
  Real values (`input="graded"`) enter as graded spikes with a fixed-point payload
  round(x · 2^f) of `input_bits` bits (default 8, sign included), f chosen so that
  `input_range` fills them; a target without graded spikes refuses this. (Wider payloads
  do not help: the synapse multiplies the payload by an 8-bit mantissa whose exponent
  cannot go below −7, so every payload bit past the weights' precision is lost.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snnc.backends.loihi import native, partition  # noqa: F401  (partition registers loihi-partition)
from snnc.backends.loihi.ops import Cuba, Dense, Sparse
from snnc.backends.loihi.quantize import encode_layer
from snnc.errors import ConstraintViolation, UnsupportedOpError, UsageError
from snnc.interp.kernel import Context
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.ir.mapping import HostInput, HostOutput, Layer, Mapping, Piece
from snnc.ir.snn import I, IF, LI, LIF, Affine, CubaLI, CubaLIF, Delay, Input, Output
from snnc.passes.discretize import decay_grid
from snnc.passes.populations import Population, Populations, PopulationSpec, populations
from snnc.passes.registry import PassResult, option, register_pass

PIPELINE = ("discretize", "prune", "loihi-legalize", "loihi-quantize", "loihi-partition", "place")
RESET_MODES = {"value": "zero", "subtract": "subtract"}

# Spiking populations become compartments; non-spiking readouts feeding only outputs stay on the host.
POPULATIONS = PopulationSpec(
    spiking=(LIF, IF, CubaLIF),
    readouts=(I, LI, CubaLI),
    max_entries=1 << 27,          # entries of one expanded synapse matrix (1 GiB of float64)
    chunk=512,
    feedback=True,
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


def _decay_is_one(op, ctx: Context) -> bool:
    tau = getattr(op, "tau", getattr(op, "tau_mem", None))
    return tau is None or bool(np.all(ctx.decay(tau) == 1.0))


def neuron_problems(op, target, ctx: Context) -> list[str]:
    """Every reason a spiking neuron op cannot become a CUBA compartment on `target`."""
    t, p = target, []
    if op.reset_mode == "none":
        p.append("reset_mode none (never reset) has no Loihi compartment equivalent")
    elif RESET_MODES[op.reset_mode] not in t.neurons.reset_modes:
        p.append(f"reset_mode {op.reset_mode} is not supported by target '{t.name}' "
                 f"(rule neurons.reset_modes = [{', '.join(t.neurons.reset_modes)}])")
    elif op.reset_mode == "value" and np.any(op.v_reset != 0):
        p.append(f"v_reset must be 0 (Loihi resets v to 0), got values up to {np.abs(op.v_reset).max():g}")
    elif op.reset_mode == "subtract" and op.reset_timing == "immediate" and not _decay_is_one(op, ctx):
        p.append("reset_mode subtract with reset_timing immediate decays the subtracted threshold; "
                 "Loihi subtracts it undecayed at the next tick (only next_step timing, or no leak, maps exactly)")
    if np.any(op.v_threshold < 0):
        p.append(f"v_threshold must be >= 0 (the threshold mantissa is unsigned), got {op.v_threshold.min():g}")
    ticks = int(ctx.ticks(op.t_refrac, "t_refrac"))
    if ticks not in t.formats.refractory:
        p.append(f"refractory period of {ticks} ticks is outside target '{t.name}' range "
                 f"(rule formats.refractory = {t.formats.refractory})")
    if op.graded and not t.neurons.graded_spikes:
        p.append(f"graded spikes are not supported by target '{t.name}' (rule neurons.graded_spikes = false)")
    if getattr(op, "current_timing", "same_tick") != "same_tick":
        p.append("current_timing next_tick (v integrates the previous tick's current) has no Loihi "
                 "equivalent: the compartment integrates this tick's current")
    return p


@register_pass("loihi-legalize", LegalizeOptions)
def legalize(graph: Graph, target, options: LegalizeOptions) -> Graph:
    """Refuse what the target cannot compute (naming node, origin and rule); rewrite what maps exactly."""
    if native.is_native(graph):                   # already loihi.* (a netx file): checked, not rewritten
        native.refuse(graph, target)
        return graph
    ctx = Context(dt=graph.dt, method=graph.method)
    populations(graph, POPULATIONS)               # refuses unsupported ops and structure
    problems: list[tuple[str, str]] = []
    out = graph
    for name, node in graph.nodes.items():
        if not isinstance(node.op, (LIF, IF, CubaLIF)):
            continue
        problems += [(name, msg) for msg in neuron_problems(node.op, target, ctx)]
        if node.op.reset_mode == "value" and node.op.reset_timing == "next_step":
            # identical spikes and payloads: the next tick integrates from v_reset either way
            out = out.with_op(name, node.op.replace(reset_timing="immediate"))
    if problems:
        name, msg = problems[0]
        node = graph.nodes[name]
        more = tuple(f"node '{n}' ({graph.nodes[n].op.name}): {m}" for n, m in problems[1:])
        raise UnsupportedOpError(msg, node=name, op=node.op.name, source=node.origin or None, more=more)
    return out


# -- loihi-quantize ------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantizeOptions:
    per_row_exponent: bool = option(True, "one weight exponent per output row (false: one per layer)")
    per_neuron_scale: bool = option(True, "one state scale per neuron (false: one per layer, as netx files "
                                          "need)")
    headroom: str = option("state", "what the scales guard against overflow: the reachable state, the "
                                    "largest input, or nothing", choices=("state", "input", "none"))
    synapse_format: str = option("auto", "synapse storage: the cheaper in synapse memory, or forced",
                                 choices=("auto", "dense", "sparse"))
    input: str = option("spikes", "how graph inputs enter the chip: binary spikes or graded spikes with a "
                                  "fixed-point payload", choices=("spikes", "graded"))
    input_range: float = option(1.0, "largest |x| of a graded input (fills the payload)", low=0.0,
                                low_open=True)
    input_bits: int = option(8, "graded input payload width in bits, sign included", low=2, high=32)

    def __post_init__(self):
        if self.headroom not in ("state", "input", "none"):
            raise ValueError(f"headroom must be state, input or none, got {self.headroom!r}")
        if self.synapse_format not in ("auto", "dense", "sparse"):
            raise ValueError(f"synapse_format must be auto, dense or sparse, got {self.synapse_format!r}")
        if self.input not in ("spikes", "graded"):
            raise ValueError(f"input must be spikes or graded, got {self.input!r}")
        if not self.input_range > 0:
            raise ValueError(f"input_range must be > 0, got {self.input_range}")
        if not 2 <= self.input_bits <= 32:
            raise ValueError(f"input_bits must lie in [2, 32], got {self.input_bits}")


@dataclass
class Dynamics:
    """A spiking op's per-tick behaviour in membrane units, ready for encoding."""

    gain: np.ndarray            # Δu per unit of summed input
    beta: np.ndarray            # bias per tick
    const_gain: np.ndarray      # bias per tick per unit of the affine constant
    d_u: np.ndarray             # current decay steps, 1..2^bits
    d_v: np.ndarray             # voltage decay steps


def _steps(alpha, target, field: str) -> tuple[np.ndarray, np.ndarray]:
    """Decay steps D for the per-tick factor α (clamped into the target's range), and D / 2^bits."""
    unity, lo, hi = decay_grid(target, field, "euler")
    d = np.clip(np.rint(unity * (1.0 - np.asarray(alpha, dtype=np.float64))), lo, hi).astype(np.int64)
    return d, d / unity                        # steps and the chip's 1 − α


def dynamics(op, ctx: Context, target) -> Dynamics:
    n = op.shape
    no_current = np.full(n, 1 << target.formats.decay_bits, dtype=np.int64)     # u decays fully
    if isinstance(op, IF):
        return Dynamics(ctx.dt * op.r, np.zeros(n), ctx.dt * op.r, no_current, np.zeros(n, np.int64))
    if isinstance(op, LIF):
        d_v, k = _steps(ctx.decay(op.tau), target, "tau")
        return Dynamics(k * op.r, k * op.v_leak, k * op.r, no_current, d_v)
    d_u, ks = _steps(ctx.decay(op.tau_syn), target, "tau_syn")
    d_v, km = _steps(ctx.decay(op.tau_mem), target, "tau_mem")
    return Dynamics(km * op.r * ks * op.w_in, km * op.v_leak, np.full(n, np.nan), d_u, d_v)


@register_pass("loihi-quantize", QuantizeOptions, reports_progress=True)
def quantize(graph: Graph, target, options: QuantizeOptions, progress=lambda msg: None) -> PassResult:
    """Lower every population to loihi.cuba and every synapse chain to loihi.dense/sparse, in integers."""
    if native.is_native(graph):
        return native.lower(graph, target)
    net = populations(graph, POPULATIONS)
    ctx = Context(dt=graph.dt, method=graph.method)
    if options.input == "graded" and not target.neurons.graded_spikes:
        raise UsageError(f"target '{target.name}' has no graded spikes (neurons.graded_spikes = false): "
                         f"real-valued inputs cannot enter the chip; use input='spikes' with binary spike input")
    b = _Builder(graph, target, options, net)
    for name in graph.inputs:
        b.add_input(name)
    for layer in net.populations.values():      # feedback may come from a later population: latencies first
        b.latency[layer.node] = 1 + max((b.latency[s] for s in layer.inputs), default=0)
    for layer in net.populations.values():
        b.add_layer(layer, dynamics(layer.op, ctx, target))
        progress(f"{layer.node}: {layer.size} neurons, weight error {b.stats[layer.node]['weight_rel_rms']:.2%} "
                 f"(relative RMS)")
    for layer in net.readouts.values():
        b.add_readout(layer)
    for name in graph.outputs:
        b.add_output(name)
    lowered = Graph(b.nodes, b.edges, inputs=graph.inputs, outputs=graph.outputs, dt=graph.dt,
                    method=graph.method, version=graph.version, metadata=dict(graph.metadata))
    layers = {n: Layer(b.latency[n], b.graded[n]) for n in net.populations}
    lowered = lowered.replace(mapping=Mapping(inputs=b.inputs, outputs=b.outputs, layers=layers))
    stats = {"layers": len(net.populations), "per_layer": b.stats,
             "latency": {n: b.latency[n] for n in net.populations},
             "weight_rel_rms_max": max((s["weight_rel_rms"] for s in b.stats.values()), default=0.0)}
    return PassResult(lowered, provenance=b.provenance, stats=stats)


class _Builder:
    """Collects the lowered nodes, edges, host input/output records and statistics."""

    def __init__(self, graph: Graph, target, options: QuantizeOptions, net: Populations):
        self.graph, self.target, self.options, self.net = graph, target, options, net
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.latency: dict[str, int] = {}
        self.payload: dict[str, tuple[np.ndarray, np.ndarray]] = {}     # source -> (per-unit scale, max payload)
        self.graded: dict[str, bool] = {}
        self.provenance: dict[str, tuple[str, ...]] = {}
        self.stats: dict[str, dict] = {}
        self.inputs: dict[str, HostInput] = {}
        self.outputs: dict[str, HostOutput] = {}
        self.taken = set(net.populations) | set(graph.inputs) | set(graph.outputs)

    def add_input(self, name: str) -> None:
        node = self.graph.nodes[name]
        shape = tuple(node.op.shape)
        n = int(np.prod(shape))
        self.nodes.append(Node(name, Input(shape=(n,)), node.origin))
        self.latency[name] = 0
        entry = HostInput(shape, self.options.input)
        if self.options.input == "graded":
            bits = self.options.input_bits
            if bits > self.target.neurons.graded_spike_bits:
                raise UsageError(f"input_bits = {bits} exceeds target '{self.target.name}' graded spike payload "
                                 f"(neurons.graded_spike_bits = {self.target.neurons.graded_spike_bits})")
            frac = bits - 1 - math.ceil(math.log2(self.options.input_range))
            entry = HostInput(shape, "graded", frac, bits)
            self.payload[name] = (np.full(n, 2.0 ** frac), np.full(n, self.options.input_range * 2.0 ** frac))
        else:
            self.payload[name] = (np.ones(n), np.ones(n))
        self.graded[name] = self.options.input == "graded"
        self.inputs[name] = entry

    def add_layer(self, layer: Population, dyn: Dynamics) -> None:
        f = self.target.formats
        if np.any(layer.const != 0) and np.any(np.isnan(dyn.const_gain)):
            raise UnsupportedOpError("an affine bias into a CUBA neuron's synaptic current has no exact "
                                     "Loihi equivalent (the chip's bias enters the membrane)",
                                     node=layer.node, op=layer.op.name, source=layer.origin or None)
        op = layer.op
        theta = np.broadcast_to(op.v_threshold, op.shape).reshape(-1)
        beta = (dyn.beta + np.nan_to_num(dyn.const_gain) * layer.const.reshape(op.shape)).reshape(-1)
        gain = np.broadcast_to(dyn.gain, op.shape).reshape(-1)
        terms = {(s, 0): a for s, a in layer.inputs.items()} | {(s, 1): a for s, a in layer.feedback.items()}
        payload = {key: self._payload(layer, key[0]) for key in terms}
        E = {key: gain[:, None] * a / payload[key][0][None, :] for key, a in terms.items()}
        pmax = {key: payload[key][1] for key in terms}
        enc = encode_layer(E, pmax, beta, theta, dyn.d_u.reshape(-1), f,
                           per_row_exponent=self.options.per_row_exponent, headroom=self.options.headroom,
                           per_neuron_scale=self.options.per_neuron_scale, d_v=dyn.d_v.reshape(-1))
        lat = self.latency[layer.node]
        ctx = Context(dt=self.graph.dt, method=self.graph.method)
        cuba = Cuba(du=dyn.d_u.reshape(-1) - f.current_decay_offset, dv=dyn.d_v.reshape(-1) - f.voltage_decay_offset,
                    vth_mant=enc.vth_mant, bias_mant=enc.bias_mant, bias_exp=enc.bias_exp,
                    refractory=np.full(layer.size, int(ctx.ticks(op.t_refrac, "t_refrac"))),
                    reset_mode=RESET_MODES[op.reset_mode], graded=op.graded)
        self.nodes.append(Node(layer.node, cuba, layer.origin))
        self.provenance[layer.node] = (layer.node,)
        for (src, lag), w in enc.weights.items():
            if lag and self.latency[src] > lat:
                raise UnsupportedOpError(
                    f"feedback from '{src}' (chip latency {self.latency[src]}) into '{layer.node}' (chip latency "
                    f"{lat}) takes {self.latency[src] - lat + 1} ticks on the chip, but the source model's "
                    f"recurrent edge delays it by 1 tick (a loop through more than one population)",
                    node=layer.node, op=layer.op.name, source=layer.origin or None)
            # source tick t is chip tick t + L; a synapse with delay d delivers y_S[t] at chip tick
            # t + L_S + 1 + d, and the layer reads y_S[t − lag] at chip tick t + L_P: d = L_P − L_S − 1 + lag
            self._add_synapses(layer, src, w, enc.weight_exp, lat - 1 - self.latency[src] + lag, lag)
        self.payload[layer.node] = (enc.scale, 2.0 * enc.scale * theta) if op.graded else \
            (np.ones(layer.size), np.ones(layer.size))
        self.graded[layer.node] = op.graded
        self.stats[layer.node] = enc.stats

    def _payload(self, layer: Population, src: str) -> tuple[np.ndarray, np.ndarray]:
        """(per-unit scale, max payload) of a source; feedback may come from a population not yet encoded."""
        if src in self.payload:
            return self.payload[src]
        pop = self.net.populations[src]
        if pop.op.graded:
            raise UnsupportedOpError(f"graded feedback from '{src}', whose payload scale is chosen only when it "
                                     f"is encoded (after this layer), is not supported",
                                     node=layer.node, op=layer.op.name, source=layer.origin or None)
        return np.ones(pop.size), np.ones(pop.size)

    def _add_synapses(self, layer: Population, src: str, w: np.ndarray, exp: np.ndarray, delay: int,
                      lag: int = 0) -> None:
        f = self.target.formats
        if delay not in f.delay:
            what = "a feedback delay" if lag else "a path-balancing delay"
            raise ConstraintViolation(target=self.target.name, rule="formats.delay", where=f"node '{layer.node}'",
                                      value=f"{what} of {delay} ticks", limit=f.delay.hi)
        via = (layer.feedback_via if lag else layer.via)[src]
        name = self._name(via[-1] if via else f"{layer.node}.{'rec' if lag else 'syn'}", src)
        origin = self.graph.nodes[via[-1]].origin if via else layer.origin
        graded = self.graded[src] if src in self.graded else bool(self.net.populations[src].op.graded)
        if self._sparse(w):
            rows, cols = np.nonzero(w)
            indptr = np.zeros(w.shape[0] + 1, np.int64)
            np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
            op = Sparse(indptr=indptr, indices=cols, weight=w[rows, cols], weight_exp=exp, delay=delay,
                        n_in=w.shape[1], graded=graded)
        else:
            op = Dense(weight=w, weight_exp=exp, delay=delay, graded=graded)
        self.nodes.append(Node(name, op, origin))
        self.edges += [Edge(src, name), Edge(name, layer.node)]
        for v in via:
            self.provenance[v] = self.provenance.get(v, ()) + (name,)

    def _name(self, base: str, src: str) -> str:
        """A fresh node name: the affine node's own (it disappears in lowering), qualified by the
        source when that name is taken (one affine node feeding several synapse nodes)."""
        name = base if base not in self.taken else f"{base}.{src}"
        candidate = unique_name(name, self.taken)
        self.taken.add(candidate)
        return candidate

    def _sparse(self, w: np.ndarray) -> bool:
        fmt = self.options.synapse_format
        if fmt != "auto":
            return fmt == "sparse"
        enc = self.target.synapse_encoding
        nnz_col = np.count_nonzero(w, axis=0)
        dense = np.count_nonzero(nnz_col) * enc.axon_bits(w.shape[0])
        sparse = sum(enc.axon_bits(int(k), sparse=True) for k in nnz_col if k)
        return sparse < dense

    def add_readout(self, layer: Population) -> None:
        """A non-spiking readout stays a float snn.* node on the host, fed by the chip's spikes
        through one snn.affine per source (payloads rescaled to source units; sources that
        arrive earlier are delayed on the host so all reach it at the readout's latency)."""
        if len(layer.op.shape) != 1:
            raise UnsupportedOpError("a readout of more than one dimension is not supported yet; flatten "
                                     "its input first", node=layer.node, op=layer.op.name, source=layer.origin or None)
        lat = max((self.latency[s] for s in layer.inputs), default=0)
        self.latency[layer.node] = lat
        self.nodes.append(Node(layer.node, layer.op, layer.origin))
        self.provenance[layer.node] = (layer.node,)
        for k, (src, a) in enumerate(layer.inputs.items()):
            via = layer.via[src]
            name = self._name(via[-1] if via else f"{layer.node}.syn", src)
            bias = layer.const.reshape(-1) if k == 0 else np.zeros(layer.size)
            op = Affine(weight=a / self.payload[src][0][None, :], bias=bias)
            self.nodes.append(Node(name, op, self.graph.nodes[via[-1]].origin if via else layer.origin))
            self.edges.append(Edge(src, name))
            last = name
            if lat > self.latency[src]:
                last = self._name(f"{name}.delay", src)
                delay = np.full(layer.size, (lat - self.latency[src]) * self.graph.dt)
                self.nodes.append(Node(last, Delay(delay=delay), layer.origin))
                self.edges.append(Edge(name, last))
            self.edges.append(Edge(last, layer.node))
            for v in via:
                self.provenance[v] = self.provenance.get(v, ()) + (name,)

    def add_output(self, name: str) -> None:
        node = self.graph.nodes[name]
        src = self.net.outputs[name]
        if src in self.net.readouts:
            self.nodes.append(node)
            self.edges.append(Edge(src, name))
            self.outputs[name] = HostOutput(tuple(self.net.output_shapes[name]),
                                            (Piece(name, 0, self.net.readouts[src].size),),
                                            self.latency[src], "values")
            return
        size = self.net.populations[src].size
        self.nodes.append(Node(name, Output(shape=(size,)), node.origin))
        self.edges.append(Edge(src, name))
        graded = self.graded[src]
        self.outputs[name] = HostOutput(tuple(self.net.output_shapes[name]), (Piece(name, 0, size),),
                                        self.latency[src], "graded" if graded else "spikes",
                                        tuple(float(x) for x in self.payload[src][0]) if graded else ())
