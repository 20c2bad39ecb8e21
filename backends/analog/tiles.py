"""The nodes `analog-tile` makes: crossbar tiles per population and source, spike buffers, and
the host readouts (lower.py says what each computes).

For every population P and every term of its input (`snnc.passes.populations`),

    input of P at tick t = Σ_(S, k) A_(S→P, k) · flat(y_S[t − k]) + c_P

the matrix A is cut into crossbar blocks, each an `analog.crossbar` reading S (a graph
input through its flatten node, or a population) k ticks late: k = 0 over a same-tick edge,
k = 1 over a recurrent edge (the population's previous-tick spikes, e.g. its own: a
recurrent tile), k >= 2 over a recurrent edge from an `analog.buffer` of k − 1 ticks that
holds S (one buffer per source and age, shared by the tiles reading it). The constant c_P,
and any constant that the source model delivers k ticks late, is the blocks' digital bias.

A population's spikes wait in the event path at most `timing.max_delay` ticks. An older
term (k > max_delay) reads a relay chain instead: relay populations R_1 … R_m of S, each a
neuron per neuron of S that fires exactly when its input spikes (a value reset to 0 and an
input of twice its threshold per spike, with no memory left after a spike), R_j reading
R_(j−1) max_delay ticks late, so R_m carries S m · max_delay ticks late and the term's tiles
read it k − m · max_delay ticks late. Relays are shared by every term that needs them and
made before the population that first does (legalize.py reports them as approximations).
A graph input is held on the host for any number of ticks.

A non-spiking readout (snn.i, snn.li, snn.cuba_li feeding graph outputs) is computed on
the host from the chip's spikes of the same tick: one float `snn.affine` per source (its
folded matrix and, on the first, the folded constant), then the readout op itself.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.analog.ops import Crossbar, SpikeBuffer
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.interp.kernel import Context
from snnc.ir.snn import IF, LIF, Affine, Flatten, Output
from snnc.passes.populations import ALWAYS_ON, Population, Populations


class TileBuilder:
    """Collects the mapped graph's nodes and edges in the order FORMAT.md gives them."""

    def __init__(self, graph: Graph, target, options, net: Populations, fields: dict,
                 conductances):
        self.graph, self.target, self.options, self.net = graph, target, options, net
        self.fields, self.conductances = fields, conductances
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.tiles: list[str] = []
        self.stats: dict[str, dict] = {}
        self.provenance: dict[str, tuple[str, ...]] = {}
        self.feed: dict[str, str] = {}                 # source -> the node carrying its flat vector
        self.buffers: dict[tuple[str, int], str] = {}  # (source, ticks) -> its analog.buffer node
        self.relays: dict[str, list[str]] = {}         # source -> its relay populations R_1, R_2, ...
        self.x_max: dict[str, float] = {}
        self.taken = set(graph.nodes)

    def fresh(self, name: str) -> str:
        candidate = unique_name(name, self.taken)
        self.taken.add(candidate)
        return candidate

    def add_input(self, name: str, x_max: float) -> None:
        node = self.graph.nodes[name]
        self.nodes.append(node)
        self.feed[name], self.x_max[name] = name, x_max
        if len(node.op.shape) > 1:
            flat = self.fresh(f"{name}.flat")
            self.nodes.append(Node(flat, Flatten(), node.origin))
            self.edges.append(Edge(name, flat))
            self.feed[name] = flat

    def add_output(self, name: str) -> None:
        src = self.net.outputs[name]
        pop = self.net.populations.get(src) or self.net.readouts[src]
        self.nodes.append(Node(name, Output(shape=(pop.size,)), self.graph.nodes[name].origin))
        self.edges.append(Edge(src, name))

    # -- populations ------------------------------------------------------------------------------
    def add_population(self, pop: Population) -> None:
        terms = [(src, 0, a, pop.via[src]) for src, a in pop.inputs.items()]
        terms += [(*self.relayed(src, lag), m, pop.lagged_via[(src, lag)])
                  for (src, lag), m in pop.lagged.items() if src != ALWAYS_ON]
        self.add_neurons(pop, terms)

    def add_neurons(self, pop: Population, terms) -> None:
        """The tiles of every term (source, lag, matrix, folded ops) of `pop`, then its neuron node."""
        flat = {f: np.reshape(v, -1) for f, v in pop.op.field_values().items() if isinstance(v, np.ndarray)}
        self.feed[pop.node], self.x_max[pop.node] = pop.node, 1.0
        self.provenance[pop.node] = self.provenance.get(pop.node, ()) + (pop.node,)
        bias_left = pop.const + sum((m[:, 0] for (src, _), m in pop.lagged.items() if src == ALWAYS_ON),
                                    np.zeros(pop.size))
        err_num = err_den = 0.0
        count = 0
        for src, lag, a, via in terms:
            base = via[-1] if via else f"{pop.node}.syn"
            base = f"{base}.{src}" if len(terms) > 1 else base
            base = f"{base}.lag{lag}" if lag else base
            for (r0, r1), (c0, c1) in self._blocks(a):
                w = a[c0:c1, r0:r1]
                bias = bias_left[c0:c1].copy()
                bias_left[c0:c1] = 0.0
                name, op = self._add_tile(pop, src, lag, via, base, w, bias, (r0, r1), (c0, c1), a.shape)
                for v in via:
                    self.provenance[v] = self.provenance.get(v, ()) + (name,)
                w_back = (op.g_pos - op.g_neg) / op.w_scale[:, None]
                err_num += float(((w_back - w) ** 2).sum())
                err_den += float((w ** 2).sum())
                count += 1
        count += self._bias_tiles(pop, terms, bias_left, count)
        self.nodes.append(Node(pop.node, pop.op.replace(**flat), pop.origin))
        self.stats[pop.node] = {"tiles": count, "weight_rel_rms": (err_num / err_den) ** 0.5 if err_den else 0.0}

    def _bias_tiles(self, pop: Population, terms, bias_left: np.ndarray, count: int) -> int:
        """One-row tiles of zero conductances for a bias on columns no block reaches (or no block at all)."""
        C, made = self.target.crossbar.cols, 0
        src, lag, _, via = terms[0]
        for c0 in range(0, pop.size, C):
            c1 = min(c0 + C, pop.size)
            if np.any(bias_left[c0:c1] != 0) or not count + made:
                self._add_tile(pop, src, lag, via, f"{pop.node}.bias", np.zeros((c1 - c0, 1)), bias_left[c0:c1],
                               (0, 1), (c0, c1), (pop.size, self.net.size(src)))
                made += 1
        return made

    def _blocks(self, a: np.ndarray):
        """Crossbar-sized blocks of `a` [n_out, n_in] with a nonzero weight, row blocks within column blocks."""
        R, C = self.target.crossbar.inputs_per_tile(), self.target.crossbar.cols
        n_out, n_in = a.shape
        for c0 in range(0, n_out, C):
            for r0 in range(0, n_in, R):
                c1, r1 = min(c0 + C, n_out), min(r0 + R, n_in)
                if np.any(a[c0:c1, r0:r1] != 0):
                    yield (r0, r1), (c0, c1)

    def relayed(self, src: str, lag: int) -> tuple[str, int]:
        """(what a term reading `src` `lag` ticks late reads, and how late): `src` itself within the
        event path's reach (or any graph input), else the last relay it needs (module docstring)."""
        most = self.target.timing.max_delay
        if lag <= most or src in self.net.inputs:
            return src, lag
        hops = -(-lag // most) - 1
        chain = self.relays.setdefault(src, [])
        while len(chain) < hops:
            chain.append(self._relay(src, chain[-1] if chain else src, len(chain) + 1))
        return chain[hops - 1], lag - hops * most

    def _relay(self, src: str, prev: str, j: int) -> str:
        """Relay population j of `src`: reads `prev` max_delay ticks late, fires when it spikes."""
        n, name = self.net.size(src), self.fresh(f"{src}.relay{j}")
        origin = self.graph.nodes[src].origin
        pop = Population(name, origin, relay_neurons(n, self.graph, self.target), n, const=np.zeros(n))
        self.net.populations[name] = pop          # a population of the chip: the mapping record holds it
        self.add_neurons(pop, [(prev, self.target.timing.max_delay, np.eye(n), ())])
        return name

    def reader(self, src: str, lag: int) -> tuple[str, bool]:
        """The node a tile reading `src` `lag` ticks late reads, and whether over a recurrent edge."""
        feed = self.feed.get(src, src)             # a population not made yet carries its own spikes
        if lag <= 1:
            return feed, lag == 1
        key = (src, lag - 1)
        if key not in self.buffers:
            name = self.fresh(f"{src}.buffer{lag - 1}")
            self.nodes.append(Node(name, SpikeBuffer(ticks=lag - 1), self.graph.nodes[src].origin))
            self.edges.append(Edge(feed, name))
            self.buffers[key] = name
        return self.buffers[key], True

    def _add_tile(self, pop, src, lag, via, base, w, bias, rows, cols, full_shape) -> tuple[str, Crossbar]:
        g_pos, g_neg, scale = self.conductances(w)
        reads, recurrent = self.reader(src, lag)
        name = self.fresh(f"{base}.tile{rows[0]}_{cols[0]}")
        op = Crossbar(g_pos=g_pos, g_neg=g_neg, row_offset=rows[0], n_in=full_shape[1], col_offset=cols[0],
                      n_out=full_shape[0], w_scale=scale, gain=np.ones(len(scale)), bias=bias,
                      x_max=self.x_max.get(src, 1.0), **self.fields)
        origin = self.graph.nodes[via[-1]].origin if via else pop.origin
        self.nodes.append(Node(name, op, origin))
        self.edges += [Edge(reads, name, recurrent=recurrent), Edge(name, pop.node)]
        self.tiles.append(name)
        return name, op

    # -- host readouts ----------------------------------------------------------------------------
    def add_readout(self, pop: Population) -> None:
        """The readout on the host: one snn.affine per source (the first adds the constant), then the op."""
        self.provenance[pop.node] = (pop.node,)
        for k, (src, a) in enumerate(pop.inputs.items()):
            via = pop.via[src]
            base = via[-1] if via else f"{pop.node}.syn"
            name = self.fresh(f"{base}.{src}.host" if len(pop.inputs) > 1 else f"{base}.host")
            bias = pop.const if k == 0 else np.zeros(pop.size)
            origin = self.graph.nodes[via[-1]].origin if via else pop.origin
            self.nodes.append(Node(name, Affine(weight=a, bias=bias), origin))
            self.edges += [Edge(self.feed[src], name), Edge(name, pop.node)]
            for v in via:
                self.provenance[v] = self.provenance.get(v, ()) + (name,)
        flat = {f: np.reshape(v, -1) for f, v in pop.op.field_values().items() if isinstance(v, np.ndarray)}
        self.nodes.append(Node(pop.node, pop.op.replace(**flat), pop.origin))


def relay_neurons(n: int, graph: Graph, target):
    """n neurons that fire exactly when their input spikes: threshold 1, an input of 2 per spike,
    value reset to 0 at once; leak-free where the circuit can be, else the shortest time constant."""
    if target.neuron.integrators:
        return IF(r=np.full(n, 2.0 / graph.dt), v_threshold=np.ones(n), v_reset=np.zeros(n))
    tau = np.full(n, target.neuron.tau_range[0] * target.timing.speedup)
    a = Context(dt=graph.dt, method=graph.method).decay(tau)
    return LIF(tau=tau, r=2.0 / (1.0 - a), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
