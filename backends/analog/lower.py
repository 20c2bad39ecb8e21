"""Lowering `snn.*` onto an analog crossbar chip, and the analog family's pipeline.

    analog-legalize → analog-tile → analog-neurons → analog-calibrate

`analog-legalize` (legalize.py) rewrites every neuron into what the chip's circuits compute,
reporting each approximation (a CUBA current folded into the input on one-state circuits,
subtract reset on a chip that resets to a value, ...), and refuses, naming node, origin and
target rule, what no rewrite helps. `analog-tile` (tiles.py) folds each population's incoming
affine ops into one matrix per source and age (`snnc.passes.populations`, with the family's
`POPULATIONS` spec), cuts it into crossbar-sized blocks and maps every block to a conductance
pair per weight (or two 6-bit codes on excitatory and inhibitory rows) with its own scale
per column (`scaling`: each column's largest |w| at g_max, the full conductance range for
every column; on the shipped digits example 20 PCM chips average 0.9629 against 0.9598 with
one scale per tile, the 5th percentile 0.9552 against 0.9487); the blocks' outputs add up on
the population's input port, which is the digital partial-sum accumulation (or, with
`partial_sums: membrane`, the merged neuron circuits). Feedback and delays become tiles
reading a population's spikes of earlier ticks (a recurrent tile reads the previous tick's;
older ones wait in an `analog.buffer`); non-spiking readouts stay on the host as float
`snn.*` nodes fed by the chip's spikes. The graph after it still has `snn.lif`/`snn.if`/
`snn.cuba_lif` populations, so the interpreter can check the weight mapping on its own.
`analog-neurons` turns every population into an `analog.lif` circuit (a CUBA one into an
`analog.synapse` feeding it) with parameters in the chip's units and time base, and
rescales the host readouts' time constants to that time base. `analog-calibrate` sets drift
compensation and, given calibration data, fits per-column gains and per-neuron thresholds
with the interpreter as the chip in the loop (`calibrate.py`); it also reports what the
converters and parameter DACs cost (`inherent.py`).

Mapping record (`Graph.mapping`): tile node k (in the order made) is logical core k, placed
row by row on the target's tile mesh; graph inputs pass as values (the DACs take them); each
population is one layer of latency 0 held whole by its node; an output fed by a host readout
is read as values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.analog import chip, device
from snnc.backends.analog.calibrate import calibrate  # noqa: F401  (registers analog-calibrate)
from snnc.backends.analog.host import host_output
from snnc.backends.analog.inherent import parameter_rounding
from snnc.backends.analog.legalize import POPULATIONS, legalize  # noqa: F401  (registers analog-legalize)
from snnc.backends.analog.ops import LIFCircuit, SynapseCircuit
from snnc.backends.analog.tiles import TileBuilder
from snnc.errors import ConstraintViolation
from snnc.interp.kernel import Context
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.ir.snn import I, IF, LI, LIF, CubaLI, CubaLIF
from snnc.ir.mapping import HostInput, HostOutput, Layer, Mapping, PartOf, Position
from snnc.passes.populations import Populations, populations
from snnc.passes.registry import PassResult, option, register_pass

PIPELINE = ("analog-legalize", "analog-tile", "analog-neurons", "analog-calibrate")


def pipeline(target) -> tuple[str, ...]:
    """The analog family's pass list: the same for every analog target (its data differs)."""
    return PIPELINE


# -- analog-tile -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TileOptions:
    scaling: str = option("column", "conductance scale: one abs-max per column, or one per tile",
                          choices=("column", "tile"))
    t_inference: float = option(-1.0, "seconds after programming the model reads at (< 0: the target's)")
    input_range: float = option(-1.0, "largest |x| of a graph input, mapped to full DAC scale (< 0: a converted "
                                      "ANN's calibration peak, else 1)")
    ir_drop: float = option(-1.0, "IR-drop scale (< 0: the target's)")
    noise: bool = option(True, "device and read noise (false: every noise term zero, an ideal chip)")

    def __post_init__(self):
        if self.scaling not in ("tile", "column"):
            raise ValueError(f"scaling must be tile or column, got {self.scaling!r}")
        if self.input_range == 0:
            raise ValueError(f"input_range must be > 0 (or < 0 for the default), got {self.input_range}")


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
    """Cut every population's weights into crossbar blocks and map each to conductances with its own scale;
    keep the readouts on the host (tiles.py)."""
    net = populations(graph, POPULATIONS)
    fields = device_fields(target, options)

    def mapped(w):
        scale = block_scale(w, target.device.g_max, options.scaling)
        return (*conductance_pair(w, scale, target), scale)
    b = TileBuilder(graph, target, options, net, fields, mapped)
    for name in graph.inputs:
        b.add_input(name, input_range(graph, options))
    for pop in list(net.populations.values()):       # relays join net.populations as they are made
        b.add_population(pop)
    for pop in net.readouts.values():
        b.add_readout(pop)
    for name in graph.outputs:
        b.add_output(name)
    if len(b.tiles) > target.total_tiles:
        raise ConstraintViolation(target=target.name, rule="cores_per_chip", where="graph",
                                  value=f"{len(b.tiles)} tiles", limit=f"{target.total_tiles} ({target.chips} "
                                                                       f"chip(s) x {target.cores_per_chip})")
    out = Graph(b.nodes, b.edges, inputs=graph.inputs, outputs=graph.outputs, dt=graph.dt, method=graph.method,
                version=graph.version, metadata=dict(graph.metadata), mapping=_mapping(graph, net, b.tiles, target))
    place, placed = _placement(out, target)
    out = out.replace(mapping=out.mapping.replace(place=place))
    stats = {"tiles": len(b.tiles), "tiles_available": target.total_tiles, "placement": placed,
             "per_population": b.stats,
             "weight_rel_rms_max": max((s["weight_rel_rms"] for s in b.stats.values()), default=0.0),
             "buffers": len(b.buffers), "host_readouts": len(net.readouts)}
    return PassResult(out, provenance=b.provenance, stats=stats)


def input_range(graph: Graph, options: TileOptions) -> float:
    """The largest |x| the DACs take at full scale: the option, else a converted ANN's calibration peak, else 1."""
    if options.input_range > 0:
        return options.input_range
    peak = graph.metadata.get("convert_ann.input_peak")
    return float(peak) if peak is not None and float(peak) > 0 else 1.0


def host_outputs(graph: Graph, net: Populations) -> dict[str, HostOutput]:
    """Each graph output: its population's spikes, or its host readout's values, whole and without latency."""
    out = {}
    for o in graph.outputs:
        src = net.outputs[o]
        readout = src in net.readouts
        n = (net.readouts if readout else net.populations)[src].size
        out[o] = host_output(net.output_shapes[o], o, n, readout)
    return out


def _placement(graph: Graph, target) -> tuple[dict[int, Position], dict]:
    """Tiles onto the chips' tile meshes. A tile's columns reach every tile that reads its
    population (spikes at 0.1 per tick, as `place` assumes); recursive bisection and local
    search (`snnc.passes.place.arrange`) place them, kept when they beat the row-by-row fill,
    so a net spread over several chips keeps the tiles that talk on one chip."""
    from snnc.passes.place import PlaceOptions, arrange, element_rates, messages
    n = len(graph.mapping.cores)
    W = messages(graph, n, element_rates(graph, PlaceOptions()))
    return arrange(W, target, [graph.mapping.place[k] for k in range(n)])


def _mapping(graph: Graph, net: Populations, tiles: list[str], target) -> Mapping:
    """The mapping record: inputs pass as values, every population is one layer of latency 0 held
    whole by its node, and tile k (in the order made) is logical core k, first placed row by row
    (`_placement` then moves them where messages travel less)."""
    rows, cols = target.mesh
    place = {}
    for k in range(len(tiles)):
        chip, index = divmod(k, target.cores_per_chip)
        place[k] = Position(chip, index // cols, index % cols)
    outputs = host_outputs(graph, net)
    return Mapping(inputs={n: HostInput(tuple(graph.op(n).shape), "values") for n in graph.inputs},
                   outputs=outputs, layers={p: Layer() for p in net.populations},
                   parts={p: PartOf(p, 0, pop.size) for p, pop in net.populations.items()},
                   cores={t: k for k, t in enumerate(tiles)}, place=place)


# -- analog-neurons ------------------------------------------------------------------------------
@dataclass(frozen=True)
class NeuronOptions:
    mismatch: bool = option(True, "per-neuron fixed-pattern mismatch of the circuits (false: an ideal chip)")
    rounding_tolerance: float = option(0.02, "largest move of a potential onto the parameter DAC's grid, as a "
                                             "fraction of the threshold's distance from rest, not reported as an "
                                             "approximation", low=0.0)


def parameter_grid(v: np.ndarray, target) -> np.ndarray:
    """A potential on the target's parameter DAC grid (2^parameter_bits levels over v_range)."""
    n = target.neuron
    return device.parameter_grid(v, n.v_range.lo, n.v_range.hi, n.parameter_bits)


def circuit(op, dt: float, method: str, target, mismatch: bool) -> tuple[LIFCircuit, SynapseCircuit | None, dict]:
    """The analog.lif for a flat snn.lif / snn.if / snn.cuba_lif (with, for the CUBA one, the
    analog.synapse feeding it), and its statistics.

    v_c = v_zero + k v with k = (θ_c − v_zero) / θ per neuron; time constants and the
    refractory period divided by the speed-up (the graph's dt is divided likewise, so α is
    unchanged). Gains: LIF (1 − α) k r, IF dt k r, CUBA LIF (1 − α_mem) k r w_in on the
    synapse circuit's unit-gain current. Potentials are set on the parameter DAC's grid;
    v_subtract (a charge packet) is not, and reset_mode none subtracts 0."""
    n, s = target.neuron, target.timing.speedup
    theta = op.v_threshold
    k = (n.v_threshold - n.v_zero) / theta
    ctx = Context(dt=dt, method=method)
    synapse = None
    if isinstance(op, IF):
        gain, v_leak, tau = dt * k * op.r, np.full(theta.shape, n.v_zero), np.full(theta.shape, np.inf)
    else:
        tau_m = op.tau if isinstance(op, LIF) else op.tau_mem
        gain, v_leak, tau = (1.0 - ctx.decay(tau_m)) * k * op.r, n.v_zero + k * op.v_leak, tau_m / s
    if isinstance(op, CubaLIF):
        gain = gain * op.w_in
        synapse = SynapseCircuit(tau_syn=op.tau_syn / s, sigma_tau=n.mismatch.tau if mismatch else 0.0)
    grid = {"v_leak": v_leak, "v_init": np.full(theta.shape, n.v_zero), "v_threshold": n.v_zero + k * theta,
            "v_reset": n.v_zero + k * op.v_reset}
    on_grid = {f: parameter_grid(v, target) for f, v in grid.items()}
    m = n.mismatch
    lif = LIFCircuit(tau_mem=tau, gain=gain, **on_grid, v_subtract=np.zeros_like(theta) if op.reset_mode == "none" else k * theta,
                     reset_mode="subtract" if op.reset_mode == "none" else op.reset_mode,
                     reset_timing=op.reset_timing, t_refrac=op.t_refrac / s,
                     sigma_tau=m.tau if mismatch else 0.0, sigma_gain=m.gain if mismatch else 0.0,
                     sigma_threshold=m.threshold if mismatch else 0.0)
    v_init, v_th = on_grid["v_init"], on_grid["v_threshold"]
    rounding = {f: float(np.abs(on_grid[f] - v).max(initial=0.0) / np.min(k * theta)) for f, v in grid.items()}
    stats = {"threshold_rel_error_max": float(np.abs((v_th - v_init) / (k * theta) - 1.0).max(initial=0.0)),
             "rounding": rounding, "k": [float(k.min()), float(k.max())]}
    return lif, synapse, stats


def host_time(op, s: float):
    """A host readout in the chip's time base (dt divided by the speed-up `s`), computing the same."""
    if isinstance(op, I):
        return op.replace(r=op.r * s)
    if isinstance(op, LI):
        return op.replace(tau=op.tau / s)
    return op.replace(tau_syn=op.tau_syn / s, tau_mem=op.tau_mem / s)


@register_pass("analog-neurons", NeuronOptions)
def neurons(graph: Graph, target, options: NeuronOptions) -> PassResult:
    """Replace every population by analog circuits in the chip's units and time base (a CUBA one by a
    synapse circuit feeding a LIF circuit), and put the host readouts in that time base."""
    s = target.timing.speedup
    nodes, edges, stats, provenance = [], list(graph.edges), {}, {}
    taken = set(graph.nodes)
    for name, node in graph.nodes.items():
        if isinstance(node.op, (LIF, IF, CubaLIF)):
            lif, synapse, stats[name] = circuit(node.op, graph.dt, graph.method, target, options.mismatch)
            if synapse is not None:
                syn = unique_name(f"{name}.synapse", taken)
                taken.add(syn)
                nodes.append(Node(syn, synapse, node.origin))
                edges = [Edge(e.src, syn, e.src_port, e.dst_port, e.recurrent) if e.dst == name else e for e in edges]
                edges.append(Edge(syn, name))
                provenance[name] = (syn, name)
            node = Node(name, lif, node.origin)
        elif isinstance(node.op, (I, LI, CubaLI)):
            node = Node(name, host_time(node.op, s), node.origin)
        nodes.append(node)
    out = graph.replace(nodes=nodes, edges=edges, dt=graph.dt / s)
    return PassResult(out, provenance=provenance, stats={"populations": len(stats), "speedup": s,
                                                         "chip_dt": graph.dt / s, "per_population": stats},
                      approximations=tuple(parameter_rounding(out, stats, options.rounding_tolerance)))
