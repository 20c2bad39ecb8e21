"""`loihi-quantize`'s builder: populations to `loihi.cuba`, their terms to `loihi.dense`/`loihi.sparse`.

Every population P of the source graph becomes one compartment group; every term of its
input (`snnc.passes.populations`: a source S at lag k through a folded affine matrix)
becomes one synapse node with the delay `timing.plan` gives it, read from relay j of S
when the delay is beyond the target's range (`timing.hop`). Constant drive takes the path
that keeps its timing exact:

- through the current: an always-on compartment (`ALWAYS_ON`: zero reset, θ = 0, bias 1,
  so v~ = 1 > 0 every tick from chip tick 0) drives a synapse per population with delay
  L_P − 1 + k, so the constant reaches u from the layer's first source tick k on, as the
  model adds it (LIF and IF: the affine bias and the leak level; CUBA: the affine bias,
  which the model adds to the synaptic current). Its mantissas take exponents of their own.
- through the compartment bias: what enters the membrane directly (a CUBA neuron's leak
  level). The chip integrates it from chip tick 0, L_P ticks before the layer's first source
  tick: an approximation (`loihi.cuba.start`), also what `bias="compartment"` chooses for
  every LIF and IF constant (lava-dl netx's timing, 13-bit bias mantissas).

Host inputs: binary spikes; graded payloads round(x · 2^f); or, for real values on a chip
without graded spikes, spikes from a host integrate-and-fire encoder (`rate`: each spike is
worth 2^(payload_bits − 1 − f) of x, the first layer's weights absorb it).
"""
from __future__ import annotations

import math

import numpy as np

from snnc.backends.loihi import timing
from snnc.backends.loihi.ops import Cuba, Dense, Sparse
from snnc.backends.loihi.quantize import encode_layer
from snnc.errors import ConstraintViolation, UnsupportedOpError
from snnc.interp.kernel import Context
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.ir.mapping import HostInput, HostOutput, Layer, Mapping, Piece
from snnc.ir.snn import IF, LIF, Affine, Delay, Input, Output
from snnc.passes.approximation import Approximation
from snnc.passes.discretize import decay_grid
from snnc.passes.populations import ALWAYS_ON, Population, Populations

RESET_MODES = {"value": "zero", "subtract": "subtract"}


def _steps(alpha, target, field: str) -> tuple[np.ndarray, np.ndarray]:
    """Decay steps D for the per-tick factor α (clamped into the target's range), and D / 2^bits."""
    unity, lo, hi = decay_grid(target, field, "euler")
    d = np.clip(np.rint(unity * (1.0 - np.asarray(alpha, dtype=np.float64))), lo, hi).astype(np.int64)
    return d, d / unity                        # steps and the chip's 1 − α


class Dynamics:
    """A spiking op's per-tick behaviour in membrane units: `gain` (Δu per unit of summed input),
    `axon` (constant per tick entering with the input, per unit of the folded affine constant it
    is computed from, see `drives`), `membrane` (constant per tick into v), decay steps d_u, d_v."""

    def __init__(self, op, ctx: Context, target, in_current: bool = False):
        n = op.shape
        full = 1 << target.formats.decay_bits
        self.in_current = in_current
        self.d_u = np.full(n, full, dtype=np.int64)     # u decays fully
        self.membrane = np.zeros(n)
        self.leak = np.zeros(n)                    # constant into the current (LIF: k · v_leak)
        if isinstance(op, IF):
            self.gain, self.d_v = ctx.dt * op.r, np.zeros(n, np.int64)
        elif isinstance(op, LIF):
            self.d_v, k = _steps(ctx.decay(op.tau), target, "tau")
            self.gain, self.leak = k * op.r, k * op.v_leak
        else:
            self.d_u, ks = _steps(ctx.decay(op.tau_syn), target, "tau_syn")
            self.d_v, km = _steps(ctx.decay(op.tau_mem), target, "tau_mem")
            self.gain, self.membrane = km * op.r * ks * op.w_in, km * op.v_leak
        if in_current:                             # the membrane lives in u; v = u each tick
            f = target.formats                     # (an IF membrane leaks by the register's least)
            self.d_u = np.maximum(self.d_v, f.current_decay_range.lo + f.current_decay_offset)
            self.d_v = np.full(n, full, dtype=np.int64)


def in_current(op, target) -> bool:
    """Whether a subtracting neuron keeps its membrane in the current register (the target resets to
    0 only): u integrates with the membrane's leak, v = u each tick (full decay) crosses θ, and a
    synapse from the neuron to itself of weight −θ makes the next tick's subtraction. Exact for
    LIF without refractoriness; an IF membrane leaks by the current register's least decay (1/4096
    a tick on Loihi), reported by legalize, which resets the others to 0."""
    return op.reset_mode == "subtract" and RESET_MODES["subtract"] not in target.neurons.reset_modes


class Builder:
    """Collects the lowered nodes, edges, host input/output records, statistics and approximations."""

    def __init__(self, graph: Graph, target, options, net: Populations, coding: str, input_range: float):
        self.graph, self.target, self.options, self.net = graph, target, options, net
        self.coding, self.input_range = coding, input_range
        self.ctx = Context(dt=graph.dt, method=graph.method)
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.latency: dict[str, int] = {}
        self.payload: dict[str, tuple[np.ndarray, np.ndarray]] = {}     # source -> (per-unit scale, max payload)
        self.graded: dict[str, bool] = {}
        self.provenance: dict[str, tuple[str, ...]] = {}
        self.stats: dict[str, dict] = {}
        self.inputs: dict[str, HostInput] = {}
        self.outputs: dict[str, HostOutput] = {}
        self.approximations: list[Approximation] = []
        self.chip_layers: dict[str, int] = {}       # compartments that are no source population: latency
        self.taken = set(net.populations) | set(graph.inputs) | set(graph.outputs)
        self.dyn = {name: Dynamics(p.op, self.ctx, target, in_current(p.op, target))
                    for name, p in net.populations.items()}
        self.source_of: dict[str, str] = {ALWAYS_ON: ""}                  # source key -> chip node
        self.relays: dict[tuple[str, int], str] = {}

    # -- inputs --------------------------------------------------------------------------------------
    def add_input(self, name: str) -> None:
        node = self.graph.nodes[name]
        shape = tuple(node.op.shape)
        n = int(np.prod(shape))
        self.nodes.append(Node(name, Input(shape=(n,)), node.origin))
        self.latency[name] = 0
        self.source_of[name] = name
        self.graded[name] = self.coding == "graded"
        if self.coding == "spikes":
            self.inputs[name], self.payload[name] = HostInput(shape), (np.ones(n), np.ones(n))
            return
        bits = self.options.input_bits
        frac = bits - 1 - math.ceil(math.log2(self.input_range))
        self.inputs[name] = HostInput(shape, self.coding, frac, bits)
        if self.coding == "graded":
            self.payload[name] = (np.full(n, 2.0 ** frac), np.full(n, self.input_range * 2.0 ** frac))
        else:                                      # one spike stands for 2^(bits − 1 − frac) of x
            self.payload[name] = (np.full(n, 2.0 ** (frac + 1 - bits)), np.ones(n))

    # -- the always-on source and relays ----------------------------------------------------------
    def add_always_on(self) -> None:
        """One compartment that spikes every tick from chip tick 0 (fed by a zero synapse block from
        the first graph input: the IR wants every compartment fed; the block holds no synapse)."""
        if not self.graph.inputs:
            raise UnsupportedOpError("a constant drive (bias) needs the always-on neuron, which is wired to a "
                                     "graph input; this graph has none")
        name = self._name("always_on", "")
        self.source_of[ALWAYS_ON] = name
        self._compartment(name, 1, "")
        feed = self._name(f"{name}.feed", "")
        first = self.graph.inputs[0]
        w = np.zeros((1, int(np.prod(self.graph.op(first).shape))), np.int64)
        self.nodes.append(Node(feed, Dense(weight=w, weight_exp=np.zeros(1, np.int64), graded=self.graded[first])))
        self.edges += [Edge(first, feed), Edge(feed, name)]
        self.latency[ALWAYS_ON] = 0
        self.chip_layers[name] = 0
        self.payload[ALWAYS_ON], self.graded[ALWAYS_ON] = (np.ones(1), np.ones(1)), False

    def _compartment(self, name: str, n: int, origin: str, bias: int = 1) -> None:
        """`n` compartments that fire whenever their input (or bias) is positive: no memory, θ = 0."""
        f = self.target.formats
        full = 1 << f.decay_bits
        cuba = Cuba(du=np.full(n, full - f.current_decay_offset), dv=np.full(n, full - f.voltage_decay_offset),
                    vth_mant=np.zeros(n, np.int64), bias_mant=np.full(n, bias), bias_exp=np.zeros(n, np.int64),
                    refractory=np.zeros(n, np.int64))
        self.nodes.append(Node(name, cuba, origin))

    def relay(self, src: str, j: int) -> str:
        """Relay j of source `src` (0: the source itself): copies its spikes (1 + d_max) · j ticks later."""
        if j == 0:
            return self.source_of.get(src, src)
        if (src, j) in self.relays:
            return self.relays[(src, j)]
        prev = self.relay(src, j - 1)
        n = self.net.size(src) if src != ALWAYS_ON else 1
        if self.graded.get(src, src in self.net.populations and bool(self.net.populations[src].op.graded)):
            raise ConstraintViolation(target=self.target.name, rule="formats.delay", where=f"source '{src}'",
                                      value="a delay beyond the synapse's range on graded spikes (relays carry "
                                            "binary spikes only)", limit=self.target.formats.delay.hi)
        base = "always_on" if src == ALWAYS_ON else src
        name = self._name(f"{base}.relay{j}", "")
        origin = "" if src == ALWAYS_ON else self.graph.nodes[src].origin
        self._compartment(name, n, origin, bias=0)
        syn = self._name(f"{name}.syn", "")
        self.nodes.append(Node(syn, Dense(weight=np.eye(n, dtype=np.int64), weight_exp=np.zeros(n, np.int64),
                                          delay=np.asarray(self.target.formats.delay.hi)), origin))
        self.edges += [Edge(prev, syn), Edge(syn, name)]
        self.chip_layers[name] = self.latency[src] + j * (1 + self.target.formats.delay.hi)
        self.relays[(src, j)] = name
        return name

    # -- populations ----------------------------------------------------------------------------------
    def terms(self, layer: Population) -> dict[tuple[str, int], np.ndarray]:
        """(source, lag) -> input matrix in membrane units per unit of source value, including the
        constant drive that goes through the current (`ALWAYS_ON`, lag): see the module docstring."""
        dyn = self.dyn[layer.node]
        gain = np.broadcast_to(dyn.gain, layer.op.shape).reshape(-1)
        out = {(s, 0): gain[:, None] * a for s, a in layer.inputs.items()}
        out.update({key: gain[:, None] * a for key, a in layer.lagged.items()})
        const = gain * layer.const + np.broadcast_to(dyn.leak, layer.op.shape).reshape(-1)
        if np.any(const != 0) and not self.compartment_bias(layer):
            out[(ALWAYS_ON, 0)] = const[:, None]
        if dyn.in_current:
            theta = np.broadcast_to(layer.op.v_threshold, layer.op.shape).reshape(-1)
            out[(layer.node, 1, "reset")] = -np.diag(theta)
        return out

    def compartment_bias(self, layer: Population) -> bool:
        """Whether the layer's constant drive through the current goes into the compartment bias instead."""
        return self.options.bias == "compartment" and isinstance(layer.op, (LIF, IF)) and \
            not self.dyn[layer.node].in_current

    def membrane_drive(self, layer: Population) -> np.ndarray:
        dyn = self.dyn[layer.node]
        drive = np.broadcast_to(dyn.membrane, layer.op.shape).reshape(-1).astype(np.float64)
        if self.compartment_bias(layer):
            gain = np.broadcast_to(dyn.gain, layer.op.shape).reshape(-1)
            drive = drive + gain * layer.const + np.broadcast_to(dyn.leak, layer.op.shape).reshape(-1)
        return drive

    def add_layer(self, layer: Population, terms: dict, tim: timing.Timing) -> None:
        f, dyn, op = self.target.formats, self.dyn[layer.node], layer.op
        theta = np.broadcast_to(op.v_threshold, op.shape).reshape(-1)
        beta = self.membrane_drive(layer)
        payload = {key: self._payload(layer, key[0]) for key in terms}
        if dyn.in_current:                         # it only takes back what crossed θ: no headroom needed
            payload[(layer.node, 1, "reset")] = (np.ones(layer.size), np.zeros(layer.size))
        E = {key: m / payload[key][0][None, :] for key, m in terms.items()}
        own = tuple(k for k in terms if k[0] == ALWAYS_ON or len(k) > 2)
        enc = encode_layer(E, {k: p[1] for k, p in payload.items()}, beta, theta, dyn.d_u.reshape(-1), f,
                           per_row_exponent=self.options.per_row_exponent, headroom=self.options.headroom,
                           per_neuron_scale=self.options.per_neuron_scale, d_v=dyn.d_v.reshape(-1),
                           own_exponent=own, in_current=np.full(layer.size, dyn.in_current))
        if dyn.in_current:                         # the threshold is exactly what the reset synapse takes
            key = (layer.node, 1, "reset")
            enc.vth_mant = -np.diag(enc.weights[key]) << enc.exponent(key)
        cuba = Cuba(du=dyn.d_u.reshape(-1) - f.current_decay_offset, dv=dyn.d_v.reshape(-1) - f.voltage_decay_offset,
                    vth_mant=enc.vth_mant, bias_mant=enc.bias_mant, bias_exp=enc.bias_exp,
                    refractory=np.full(layer.size, int(self.ctx.ticks(op.t_refrac, "t_refrac"))),
                    reset_mode="zero" if dyn.in_current else RESET_MODES[op.reset_mode], graded=op.graded)
        self.nodes.append(Node(layer.node, cuba, layer.origin))
        self.provenance[layer.node] = (layer.node,)
        if np.any(beta != 0):
            self._early_bias(layer)
        for key, w in enc.weights.items():
            src, lag = key[:2]
            h = timing.hop(tim.delay[(layer.node, src, lag)], f.delay.hi)
            self._synapses(layer, key, w, enc.exponent(key), h)
        self.payload[layer.node] = (enc.scale, 2.0 * enc.scale * theta) if op.graded else \
            (np.ones(layer.size), np.ones(layer.size))
        self.graded[layer.node] = op.graded
        self.stats[layer.node] = enc.stats

    def _early_bias(self, layer: Population) -> None:
        lat = self.latency[layer.node]
        self.approximations.append(Approximation(
            layer.node, layer.origin, "loihi.cuba.start",
            f"integrate the membrane's constant drive (compartment bias) from chip tick 0, {lat} tick(s) before "
            f"the layer's first input arrives",
            "a compartment bias enters the membrane from the chip's first tick; only a constant through the "
            "synaptic current (the always-on axon) can wait for the layer's first tick"))

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

    def _synapses(self, layer: Population, key: tuple, w: np.ndarray, exp: np.ndarray, h: timing.Hop) -> None:
        src, lag = key[:2]
        via = () if len(key) > 2 else layer.lagged_via.get(key, ()) if lag else layer.via.get(src, ())
        tag = key[2] if len(key) > 2 else "bias" if src == ALWAYS_ON else \
            "syn" if not lag else "rec" if lag == 1 else f"lag{lag}"
        base = via[-1] if via else f"{layer.node}.{tag}"
        name = self._name(base, "always_on" if src == ALWAYS_ON else src)
        origin = self.graph.nodes[via[-1]].origin if via else layer.origin
        graded = self.graded[src] if src in self.graded else bool(self.net.populations[src].op.graded)
        if self._sparse(w):
            rows, cols = np.nonzero(w)
            indptr = np.zeros(w.shape[0] + 1, np.int64)
            np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
            op = Sparse(indptr=indptr, indices=cols, weight=w[rows, cols], weight_exp=exp, delay=h.delay,
                        n_in=w.shape[1], graded=graded)
        else:
            op = Dense(weight=w, weight_exp=exp, delay=h.delay, graded=graded)
        self.nodes.append(Node(name, op, origin))
        self.edges += [Edge(self.relay(src, h.relay), name), Edge(name, layer.node)]
        for v in via:
            self.provenance[v] = self.provenance.get(v, ()) + (name,)

    def _name(self, base: str, src: str) -> str:
        """A fresh node name: the affine node's own (it disappears in lowering), qualified by the
        source when that name is taken (one affine node feeding several synapse nodes). Nodes the
        source graph lacks (`src` empty: the always-on neuron, relays) avoid all its names."""
        taken = self.taken if src else self.taken | set(self.graph.nodes)
        name = base if base not in taken or not src else f"{base}.{src}"
        candidate = unique_name(name, taken)
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

    # -- the host side ------------------------------------------------------------------------------
    def add_readout(self, layer: Population) -> None:
        """A non-spiking readout stays a float snn.* node on the host (flattened), fed by the chip's
        spikes through one snn.affine per term (payloads rescaled to source units; a term that
        arrives earlier than the readout's latency is delayed on the host)."""
        terms = [((s, 0), a, layer.via[s]) for s, a in layer.inputs.items()] + \
                [(key, a, layer.lagged_via[key]) for key, a in layer.lagged.items()]
        lat = max([0] + [self.latency[s] - k for (s, k), _, _ in terms])
        self.latency[layer.node] = lat
        self.nodes.append(Node(layer.node, flattened(layer.op), layer.origin))
        self.provenance[layer.node] = (layer.node,)
        for i, ((src, k), a, via) in enumerate(terms):
            name = self._name(via[-1] if via else f"{layer.node}.syn", src)
            bias = layer.const.reshape(-1) if i == 0 else np.zeros(layer.size)
            op = Affine(weight=a / self.payload[src][0][None, :], bias=bias)
            self.nodes.append(Node(name, op, self.graph.nodes[via[-1]].origin if via else layer.origin))
            self.edges.append(Edge(src, name))
            last = name
            if lat + k > self.latency[src]:
                last = self._name(f"{name}.delay", src)
                delay = np.full(layer.size, (lat + k - self.latency[src]) * self.graph.dt)
                self.nodes.append(Node(last, Delay(delay=delay), layer.origin))
                self.edges.append(Edge(name, last))
            self.edges.append(Edge(last, layer.node))
            for v in via:
                self.provenance[v] = self.provenance.get(v, ()) + (name,)

    def add_output(self, name: str) -> None:
        node = self.graph.nodes[name]
        src = self.net.outputs[name]
        shape = tuple(self.net.output_shapes[name])
        if src in self.net.readouts:
            size = self.net.readouts[src].size
            self.nodes.append(Node(name, Output(shape=(size,)), node.origin))
            self.edges.append(Edge(src, name))
            self.outputs[name] = HostOutput(shape, (Piece(name, 0, size),), self.latency[src], "values")
            return
        size = self.net.populations[src].size
        self.nodes.append(Node(name, Output(shape=(size,)), node.origin))
        self.edges.append(Edge(src, name))
        graded = self.graded[src]
        self.outputs[name] = HostOutput(shape, (Piece(name, 0, size),), self.latency[src],
                                        "graded" if graded else "spikes",
                                        tuple(float(x) for x in self.payload[src][0]) if graded else ())

    def mapping(self) -> Mapping:
        layers = {n: Layer(self.latency[n], self.graded[n]) for n in self.net.populations}
        layers.update({n: Layer(lat, False) for n, lat in self.chip_layers.items()})
        return Mapping(inputs=self.inputs, outputs=self.outputs, layers=layers)


def flattened(op):
    """A neuron op of any shape as the same op over its flattened neurons (elementwise, so exact)."""
    shape = op.shape
    if len(shape) == 1:
        return op
    return op.replace(**{k: v.reshape(-1) for k, v in op.field_values().items()
                         if isinstance(v, np.ndarray) and v.shape == shape})
