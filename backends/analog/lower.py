"""Lowering `snn.*` onto an analog crossbar chip, and the analog family's pipeline.

    analog-legalize → analog-tile → analog-neurons → analog-calibrate

`analog-legalize` refuses, naming node, origin and target rule, what the chip cannot run.
`analog-tile` folds each population's incoming affine ops into one matrix per source
(`snnc.passes.populations`, with this family's `POPULATIONS` spec), cuts it into
crossbar-sized blocks and maps every block to a conductance pair per weight (or two 6-bit
codes on excitatory and inhibitory rows) with its own scale per column (`scaling`: each
column's largest |w| at g_max, the full conductance range for every column; on the shipped
digits example 20 PCM chips average 0.9629 against 0.9598 with one scale per tile, the 5th
percentile 0.9552 against 0.9487); the blocks' outputs add up on
the population's input port, which is the digital partial-sum accumulation (or, with
`partial_sums: membrane`, the merged neuron circuits).
The graph after it still has `snn.lif`/`snn.if` populations, so the interpreter can check
the weight mapping on its own. `analog-neurons` turns every population into an
`analog.lif` circuit with parameters in the chip's units and time base. `analog-calibrate`
sets drift compensation and, given calibration data, fits per-column gains and
per-neuron thresholds with the interpreter as the chip in the loop (`calibrate.py`).

Mapping record (`Graph.mapping`): tile node k (in the order made) is logical core k, placed
row by row on the target's tile mesh; graph inputs pass as values (the DACs take them); each
population is one layer of latency 0 held whole by its node.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.analog import chip, device
from snnc.backends.analog.calibrate import calibrate  # noqa: F401  (registers analog-calibrate)
from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.errors import ConstraintViolation
from snnc.interp.kernel import Context
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.ir.snn import IF, LIF, Flatten, Output
from snnc.ir.mapping import HostInput, HostOutput, Layer, Mapping, PartOf, Piece, Position
from snnc.passes.populations import Populations, PopulationSpec, populations, unsupported
from snnc.passes.registry import PassResult, option, register_pass

PIPELINE = ("analog-legalize", "analog-tile", "analog-neurons", "analog-calibrate")

# A crossbar computes y = W x: every weight a population uses is stored, a convolution as its unrolled matrix.
POPULATIONS = PopulationSpec(
    spiking=(LIF, IF),
    max_entries=1 << 26,          # one folded matrix (512 MiB of float64)
    unsupported_op=("the analog lowering maps spiking neurons (snn.lif, snn.if) and the stateless affine ops "
                    "between them"),
    recurrent="recurrent edge {edge}: the analog lowering maps feed-forward graphs",
    not_affine_source="this node's output is not an affine function of the populations",
    not_affine_op="this op is not affine, so no crossbar computes it",
    too_large="folding this op into a matrix from '{src}' needs {n_out} x {n_src} entries (more than {limit})",
    output_source="a graph output must be fed directly by one spiking population (it is fed by {srcs})",
)


def pipeline(target) -> tuple[str, ...]:
    """The analog family's pass list: the same for every analog target (its data differs)."""
    return PIPELINE


# -- analog-legalize ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LegalizeOptions:
    """No options."""


def neuron_problems(op, target, ctx: Context) -> list[str]:
    """Every reason one population cannot become analog LIF circuits on `target`."""
    n, p = target.neuron, []
    if op.reset_mode not in n.reset_modes:
        p.append(f"reset_mode {op.reset_mode} is not supported by target '{target.name}' "
                 f"(rule neuron.reset_modes = [{', '.join(n.reset_modes)}])")
    if op.graded:
        p.append("graded spikes have no analog circuit here: a spike is a pulse on the next crossbar's rows")
    theta = np.reshape(op.v_threshold, -1)
    if not np.all(theta > 0):
        p.append(f"v_threshold must be > 0 (it is mapped onto the circuit's threshold), got min {theta.min():g}")
        return p
    k = (n.v_threshold - n.v_zero) / theta
    for field in ("v_reset", "v_leak"):
        if hasattr(op, field):
            v = n.v_zero + k * np.reshape(getattr(op, field), -1)
            if v.min() < n.v_range.lo or v.max() > n.v_range.hi:
                p.append(f"{field} maps to {v.min():g}..{v.max():g} {n.units}, outside the circuit's range "
                         f"(rule neuron.v_range = {n.v_range})")
    s = target.timing.speedup
    if isinstance(op, IF):
        if not n.integrators:
            p.append(f"target '{target.name}' has no leak-free circuit for snn.if (rule neuron.integrators = false)")
    else:
        tau = np.reshape(op.tau, -1) / s
        lo, hi = n.tau_range
        if tau.min() < lo or tau.max() > hi:
            p.append(f"tau of {tau.min():g}..{tau.max():g} chip seconds (the model's / speed-up {s:g}) lies "
                     f"outside [{lo:g}, {hi:g}] (rule neuron.tau_range)")
    if op.t_refrac / s > n.refractory_max:
        p.append(f"refractory period of {op.t_refrac / s:g} chip seconds exceeds {n.refractory_max:g} "
                 f"(rule neuron.refractory_max)")
    ctx.ticks(op.t_refrac, "t_refrac")
    return p


@register_pass("analog-legalize", LegalizeOptions)
def legalize(graph: Graph, target, options: LegalizeOptions) -> Graph:
    """Refuse what the chip cannot run, naming node, origin and the target rule."""
    ctx = Context(dt=graph.dt, method=graph.method)
    net = populations(graph, POPULATIONS)
    for name, pop in net.populations.items():
        problems = neuron_problems(pop.op, target, ctx)
        if problems:
            raise unsupported(graph, name, "\n  ".join(problems))
    return graph


# -- analog-tile -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TileOptions:
    scaling: str = option("column", "conductance scale: one abs-max per column, or one per tile",
                          choices=("column", "tile"))
    t_inference: float = option(-1.0, "seconds after programming the model reads at (< 0: the target's)")
    input_range: float = option(1.0, "largest |x| of a graph input, mapped to full DAC scale", low=0.0,
                                low_open=True)
    ir_drop: float = option(-1.0, "IR-drop scale (< 0: the target's)")
    noise: bool = option(True, "device and read noise (false: every noise term zero, an ideal chip)")

    def __post_init__(self):
        if self.scaling not in ("tile", "column"):
            raise ValueError(f"scaling must be tile or column, got {self.scaling!r}")
        if not self.input_range > 0:
            raise ValueError(f"input_range must be > 0, got {self.input_range}")


def device_fields(target, options: TileOptions) -> dict:
    """The crossbar op's device and periphery fields, copied from the target's data."""
    d, c = target.device, target.converters
    t = d.t_inference if options.t_inference < 0 else options.t_inference
    fields = dict(dac_bits=c.dac_bits, adc_bits=c.adc_bits, adc_bound=c.adc_bound, out_noise=c.out_noise,
                  ir_drop=c.ir_drop if options.ir_drop < 0 else options.ir_drop, ir_drop_g_ratio=c.ir_drop_g_ratio,
                  g_max=d.g_max, prog_noise=np.array(d.prog_noise), prog_noise_g_ref=d.prog_noise_g_ref,
                  nu_mean=np.array(d.nu_mean), nu_std=np.array(d.nu_std), t0=d.t0, t_read=d.t_read,
                  read_noise=np.array(d.read_noise), synapse_mismatch=d.synapse_mismatch, t_inference=t)
    if not options.noise:
        fields.update(chip.NOISE_FREE_CROSSBAR)
    return fields


def conductance_pair(w: np.ndarray, scale: np.ndarray, target) -> tuple[np.ndarray, np.ndarray]:
    """(G+, G−) of a weight block [C, R] at `scale` conductance per unit weight (per column):
    G± = clip(±scale · w, 0, g_max), on the device's programmable levels (aihwkit
    SinglePairConductanceConverter; hxtorch's exc/inh split of clip(round(scale · w), ±63))."""
    d = target.device
    s = scale[:, None]
    g_pos = device.quantise_levels(np.clip(s * w, 0.0, d.g_max), d.g_max, d.levels)
    g_neg = device.quantise_levels(np.clip(-s * w, 0.0, d.g_max), d.g_max, d.levels)
    return g_pos, g_neg


def block_scale(w: np.ndarray, g_max: float, scaling: str) -> np.ndarray:
    """Conductance per unit weight, per column [C]: the block's (or column's) largest |w| maps to g_max."""
    peak = np.abs(w).max(axis=1) if scaling == "column" else np.full(w.shape[0], np.abs(w).max(initial=0.0))
    return np.where(peak > 0, g_max / np.where(peak > 0, peak, 1.0), 1.0)


@register_pass("analog-tile", TileOptions)
def tile(graph: Graph, target, options: TileOptions) -> PassResult:
    """Cut every population's weights into crossbar blocks and map each to conductances with its own scale."""
    net = populations(graph, POPULATIONS)
    b = _TileBuilder(graph, target, options, net)
    for name in graph.inputs:
        b.add_input(name)
    for pop in net.populations.values():
        b.add_population(pop)
    for name in graph.outputs:
        src = net.outputs[name]
        b.nodes.append(Node(name, Output(shape=(net.populations[src].size,)), graph.nodes[name].origin))
        b.edges.append(Edge(src, name))
    if len(b.tiles) > target.total_tiles:
        raise ConstraintViolation(target=target.name, rule="cores_per_chip", where="graph",
                                  value=f"{len(b.tiles)} tiles", limit=f"{target.total_tiles} ({target.chips} "
                                                                       f"chip(s) x {target.cores_per_chip})")
    out = Graph(b.nodes, b.edges, inputs=graph.inputs, outputs=graph.outputs, dt=graph.dt, method=graph.method,
                version=graph.version, metadata=dict(graph.metadata), mapping=_mapping(graph, net, b.tiles, target))
    stats = {"tiles": len(b.tiles), "tiles_available": target.total_tiles, "per_population": b.stats,
             "weight_rel_rms_max": max((s["weight_rel_rms"] for s in b.stats.values()), default=0.0)}
    return PassResult(out, provenance=b.provenance, stats=stats)


def _mapping(graph: Graph, net: Populations, tiles: list[str], target) -> Mapping:
    """The mapping record: inputs pass as values, every population is one layer of latency 0 held
    whole by its node, and tile k (in the order made) is logical core k, placed row by row."""
    rows, cols = target.mesh
    place = {}
    for k in range(len(tiles)):
        chip, index = divmod(k, target.cores_per_chip)
        place[k] = Position(chip, index // cols, index % cols)
    outputs = {o: HostOutput(tuple(net.output_shapes[o]), (Piece(o, 0, net.populations[net.outputs[o]].size),))
               for o in graph.outputs}
    return Mapping(inputs={n: HostInput(tuple(graph.op(n).shape), "values") for n in graph.inputs},
                   outputs=outputs, layers={p: Layer() for p in net.populations},
                   parts={p: PartOf(p, 0, pop.size) for p, pop in net.populations.items()},
                   cores={t: k for k, t in enumerate(tiles)}, place=place)


class _TileBuilder:
    def __init__(self, graph: Graph, target, options: TileOptions, net: Populations):
        self.graph, self.target, self.options, self.net = graph, target, options, net
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.tiles: list[str] = []
        self.stats: dict[str, dict] = {}
        self.provenance: dict[str, tuple[str, ...]] = {}
        self.feed: dict[str, str] = {}                 # source -> the node carrying its flat vector
        self.x_max: dict[str, float] = {}
        self.taken = set(graph.nodes)
        self.fields = device_fields(target, options)

    def fresh(self, name: str) -> str:
        candidate = unique_name(name, self.taken)
        self.taken.add(candidate)
        return candidate

    def add_input(self, name: str) -> None:
        node = self.graph.nodes[name]
        self.nodes.append(node)
        self.feed[name], self.x_max[name] = name, self.options.input_range
        if len(node.op.shape) > 1:
            flat = self.fresh(f"{name}.flat")
            self.nodes.append(Node(flat, Flatten(), node.origin))
            self.edges.append(Edge(name, flat))
            self.feed[name] = flat

    def add_population(self, pop) -> None:
        flat = {f: np.reshape(v, -1) for f, v in pop.op.field_values().items() if isinstance(v, np.ndarray)}
        self.feed[pop.node], self.x_max[pop.node] = pop.node, 1.0
        self.provenance[pop.node] = (pop.node,)
        err_num = err_den = 0.0
        count = 0
        bias_left = pop.const.copy()
        for src, a in pop.inputs.items():
            base = pop.via[src][-1] if pop.via[src] else f"{pop.node}.syn"
            base = f"{base}.{src}" if len(pop.inputs) > 1 else base
            for (r0, r1), (c0, c1) in self._blocks(a):
                w = a[c0:c1, r0:r1]
                bias = bias_left[c0:c1].copy()
                bias_left[c0:c1] = 0.0
                name, op = self._add_tile(pop, src, base, w, bias, (r0, r1), (c0, c1), a.shape)
                for v in pop.via[src]:
                    self.provenance[v] = self.provenance.get(v, ()) + (name,)
                w_back = (op.g_pos - op.g_neg) / op.w_scale[:, None]
                err_num += float(((w_back - w) ** 2).sum())
                err_den += float((w ** 2).sum())
                count += 1
        C = self.target.crossbar.cols
        for c0 in range(0, pop.size, C):           # a bias on columns no weight reaches, or no weight at all
            c1 = min(c0 + C, pop.size)
            if np.any(bias_left[c0:c1] != 0) or not count:
                src = next(iter(pop.inputs))
                self._add_tile(pop, src, f"{pop.node}.bias", np.zeros((c1 - c0, 1)), bias_left[c0:c1], (0, 1),
                               (c0, c1), (pop.size, self.net_size(src)))
                count += 1
        self.nodes.append(Node(pop.node, pop.op.replace(**flat), pop.origin))
        self.stats[pop.node] = {"tiles": count, "weight_rel_rms": (err_num / err_den) ** 0.5 if err_den else 0.0}

    def net_size(self, src: str) -> int:
        return self.net.populations[src].size if src in self.net.populations else int(np.prod(self.net.inputs[src]))

    def _blocks(self, a: np.ndarray):
        """Crossbar-sized blocks of `a` [n_out, n_in] with a nonzero weight, row blocks within column blocks."""
        R, C = self.target.crossbar.inputs_per_tile(), self.target.crossbar.cols
        n_out, n_in = a.shape
        for c0 in range(0, n_out, C):
            for r0 in range(0, n_in, R):
                c1, r1 = min(c0 + C, n_out), min(r0 + R, n_in)
                if np.any(a[c0:c1, r0:r1] != 0):
                    yield (r0, r1), (c0, c1)

    def _add_tile(self, pop, src, base, w, bias, rows, cols, full_shape) -> tuple[str, Crossbar]:
        scale = block_scale(w, self.target.device.g_max, self.options.scaling)
        g_pos, g_neg = conductance_pair(w, scale, self.target)
        name = self.fresh(f"{base}.tile{rows[0]}_{cols[0]}")
        op = Crossbar(g_pos=g_pos, g_neg=g_neg, row_offset=rows[0], n_in=full_shape[1], col_offset=cols[0],
                      n_out=full_shape[0], w_scale=scale, gain=np.ones(len(scale)), bias=bias,
                      x_max=self.x_max[src], **self.fields)
        origin = self.graph.nodes[pop.via[src][-1]].origin if pop.via.get(src) else pop.origin
        self.nodes.append(Node(name, op, origin))
        self.edges += [Edge(self.feed[src], name), Edge(name, pop.node)]
        self.tiles.append(name)
        return name, op


# -- analog-neurons ------------------------------------------------------------------------------
@dataclass(frozen=True)
class NeuronOptions:
    mismatch: bool = option(True, "per-neuron fixed-pattern mismatch of the circuits (false: an ideal chip)")


def parameter_grid(v: np.ndarray, target) -> np.ndarray:
    """A potential on the target's parameter DAC grid (2^parameter_bits levels over v_range)."""
    n = target.neuron
    return device.parameter_grid(v, n.v_range.lo, n.v_range.hi, n.parameter_bits)


def circuit(op, dt: float, method: str, target, mismatch: bool) -> tuple[LIFCircuit, dict]:
    """The analog.lif for a flat snn.lif / snn.if, and its statistics.

    v_c = v_zero + k v with k = (θ_c − v_zero) / θ per neuron; time constants and the
    refractory period divided by the speed-up (the graph's dt is divided likewise, so α is
    unchanged). Gains: LIF (1 − α) k r, IF dt k r. Potentials are set on the parameter
    DAC's grid; v_subtract (a charge packet) is not."""
    n = target.neuron
    theta = op.v_threshold
    k = (n.v_threshold - n.v_zero) / theta
    ctx = Context(dt=dt, method=method)
    if isinstance(op, LIF):
        a = ctx.decay(op.tau)
        gain, v_leak, tau = (1.0 - a) * k * op.r, n.v_zero + k * op.v_leak, op.tau / target.timing.speedup
    else:
        gain, v_leak, tau = dt * k * op.r, np.full(theta.shape, n.v_zero), np.full(theta.shape, np.inf)
    v_init, v_th = parameter_grid(np.full(theta.shape, n.v_zero), target), parameter_grid(n.v_zero + k * theta, target)
    m = n.mismatch
    lif = LIFCircuit(tau_mem=tau, gain=gain, v_leak=parameter_grid(v_leak, target), v_init=v_init,
                     v_threshold=v_th, v_reset=parameter_grid(n.v_zero + k * op.v_reset, target),
                     v_subtract=k * theta, reset_mode=op.reset_mode, reset_timing=op.reset_timing,
                     t_refrac=op.t_refrac / target.timing.speedup,
                     sigma_tau=m.tau if mismatch else 0.0, sigma_gain=m.gain if mismatch else 0.0,
                     sigma_threshold=m.threshold if mismatch else 0.0)
    stats = {"threshold_rel_error_max": float(np.abs((v_th - v_init) / (k * theta) - 1.0).max(initial=0.0)),
             "k": [float(k.min()), float(k.max())]}
    return lif, stats


@register_pass("analog-neurons", NeuronOptions)
def neurons(graph: Graph, target, options: NeuronOptions) -> PassResult:
    """Replace every population by analog LIF circuits in the chip's units and time base."""
    s = target.timing.speedup
    nodes, stats = [], {}
    for name, node in graph.nodes.items():
        if isinstance(node.op, (LIF, IF)):
            lif, stats[name] = circuit(node.op, graph.dt, graph.method, target, options.mismatch)
            node = Node(name, lif, node.origin)
        nodes.append(node)
    out = graph.replace(nodes=nodes, dt=graph.dt / s)
    return PassResult(out, stats={"populations": len(stats), "speedup": s, "chip_dt": graph.dt / s,
                                  "per_population": stats})
