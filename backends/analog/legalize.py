"""`analog-legalize`: every neuron rewritten into what the chip's circuits compute, or refused.

The pass works on the source dialect: its output is still an `snn.*` graph that the float
interpreter runs, so each rewrite can be checked by running the graphs before and after
it. A rewrite is *faithful* when both graphs compute alike and *approximate* otherwise;
each approximation is an `Approximation` naming the node, the target rule and what the chip
computes instead (`--strict` refuses it with the reason the lowering used to refuse with).
Costs measured on the shipped examples are in the README's model × target table.

Faithful
- CUBA current_timing next_tick (v integrates the previous tick's current) → an `snn.delay` of
  one tick before the neuron and same_tick: the current is then the previous tick's.
- CUBA on a chip with synaptic-input circuits (`neuron.tau_syn_range` not empty, BSS-2): the
  neuron stays snn.cuba_lif and becomes an analog.synapse feeding an analog.lif.
- reset_mode none on a chip with subtract reset: the circuit subtracts 0 at a spike.
- feedback, delays and readouts are mapped by analog-tile (recurrent tiles, spike buffers,
  host readouts); a graph input is held on the host for any delay.

Approximations (rule: what the chip computes instead)
- `neuron.tau_syn_range` = [] (one-state circuits, the PCM chip): a CUBA neuron's current
  I[t] = Σ_k (1 − α) α^k w_in x[t − k] is cut to its first K ticks and scaled back to its DC
  gain, c_k = (1 − α) α^k w_in / (1 − α^K), so the circuit integrates Σ_{k<K} c_k x[t − k]:
  the crossbar filters in time, with tiles reading the input 0 … K − 1 ticks late (snn.delay
  and snn.scale nodes here). K is the fewest taps whose dropped tail α^K is at most 5 %,
  within `timing.max_delay` (option `current_taps`; 1 folds the current into the input,
  dropping its time course). Cost, as count agreement against the float model on the
  matrix's inputs: the NIR Braille-style RNN 0.83 folded → 0.95 with taps, snnTorch Synaptic
  0.90 → 0.94, Norse LIFCell 0.87 → 0.93; each tap costs a copy of the population's tiles.
- `neuron.tau_syn_range` (BSS-2): a synaptic time constant outside the range is clamped to it.
- `neuron.reset_modes` without subtract (BSS-2): reset v at once at each spike to `residue` ·
  θ (default 0); the residue above threshold is lost, so a neuron driven hard fires less.
  Resetting to the mean residue (0.18-0.44 θ on the shipped examples) brings spike counts
  closer but moves decisions more: on the shipped MLP (64 generated samples) count agreement
  0.77 → 0.93 at 0.25 θ while decision agreement falls 0.98 → 0.94, and on digits the
  accuracy drop grows 0.0022 → 0.0156; so 0 is the default.
- `neuron.integrators` = false (BSS-2): snn.if becomes a leaky LIF with the longest time
  constant the circuit has (τ = tau_range.hi in chip time), with the same input per tick.
- `neuron.tau_range`: a time constant outside the circuit's range is clamped to it, with the
  same input per tick ((1 − α) r kept).
- `neuron.refractory_max`: a longer refractory period is cut to the longest the circuit holds.
- `analog.lif.output` (graded spikes, y = z · v~): a circuit emits a pulse, not its membrane
  value, so the spike is binary and the synapses it drives are scaled by the threshold θ, the
  smallest payload (a graph output fed by the neuron gets 1 per spike).
- `timing.max_delay`: spikes older than the event path holds (BSS-2: 1 tick) travel through a
  chain of relay populations, one neuron per source neuron that fires when its input spikes
  (tiles.py): exact on an ideal chip, but each relay is a circuit with its own mismatch.
- `crossbar.bias`: a constant carried over a recurrent edge or delay reaches the model's neuron
  k ticks late (0 before); the tile's digital bias adds it from tick 0.

Refused (UnsupportedOpError naming node, origin and rule): a model in the `loihi.*` dialect (a
lava-dl netx file), a converted ANN whose input is current-coded on a chip whose rows take
binary events (`converters.dac_bits` = 0: convert it with rate coding), reset_mode none on a chip without subtract reset, a threshold <= 0,
reset or leak potentials beyond the circuit's range, feedback or a delay on a chip that holds no
spike for a tick (`timing.max_delay` = 0), feedback into a host readout and readouts of more than one dimension.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.errors import UnsupportedOpError
from snnc.interp.kernel import Context
from snnc.ir.graph import Edge, Graph
from snnc.ir.snn import I, IF, LI, LIF, CubaLI, CubaLIF, Delay, Output, Scale
from snnc.passes.approximation import Approximation
from snnc.passes.populations import ALWAYS_ON, PopulationSpec, populations, unsupported
from snnc.passes.registry import PassResult, option, register_pass
from snnc.passes.rewrite import GraphRewrite

NETX = "this model holds Loihi's own integers (a lava-dl netx file); compile it for --target loihi or loihi1"
SPIKING = (LIF, IF, CubaLIF)
TAIL = 0.05            # the share of a CUBA current's impulse response its taps may drop

# A crossbar computes y = W x: every weight a population uses is stored, a convolution as its unrolled matrix.
POPULATIONS = PopulationSpec(
    spiking=SPIKING,
    readouts=(I, LI, CubaLI),
    max_entries=1 << 26,          # one folded matrix (512 MiB of float64)
    feedback=True,
    delays=True,
    unsupported_op=("the analog lowering maps spiking neurons (snn.lif, snn.if, snn.cuba_lif), non-spiking "
                    "readouts (snn.i, snn.li, snn.cuba_li) and the stateless affine ops between them"),
    recurrent="recurrent edge {edge}: the analog lowering cannot map this feedback",
    not_affine_source="this node's output is not an affine function of the populations",
    not_affine_op="this op is not affine, so no crossbar computes it",
    too_large="folding this op into a matrix from '{src}' needs {n_out} x {n_src} entries (more than {limit})",
    output_source="a graph output must be fed directly by one spiking population or readout (it is fed by {srcs})",
)


@dataclass(frozen=True)
class LegalizeOptions:
    current_taps: int = option(0, "ticks of input a CUBA current sums on one-state circuits (0: enough that the "
                                  "decay it drops is at most 5 %, within the chip's spike buffers; 1: the current "
                                  "follows its input at once)", low=0)
    residue: float = option(0.0, "on a chip without subtract reset, what a subtract-reset neuron resets to, as a "
                                 "fraction of its threshold (the residue above threshold it would keep on average)",
                            low=0.0, high=1.0)


@register_pass("analog-legalize", LegalizeOptions)
def legalize(graph: Graph, target, options: LegalizeOptions) -> PassResult:
    """Rewrite every neuron into what the chip computes (module docstring); refuse what it cannot."""
    refuse_other_dialects(graph)
    refuse_values_on_binary_rows(graph, target)
    r = _Rewriter(graph, target, options)
    for name in graph.schedule():
        if isinstance(graph.op(name), SPIKING):
            r.neuron(name)
    out = r.graph()
    net = populations(out, POPULATIONS)
    ctx = Context(dt=out.dt, method=out.method)
    for name, pop in net.populations.items():
        problems = neuron_problems(pop.op, target, ctx)
        problems += delay_problems(pop, target, net.inputs)
        if problems:
            raise unsupported(out, name, "\n  ".join(problems))
        r.late_constants(name, pop)
        r.relays(name, pop, net)
    for name, pop in net.readouts.items():
        readout_problems(out, name, pop)
    return PassResult(out, provenance=r.provenance, approximations=tuple(r.approximations),
                      stats={"approximations": len(r.approximations)})


def refuse_other_dialects(graph: Graph) -> None:
    """A graph already in Loihi's dialect (lava-dl netx) holds that chip's integers: name the fix."""
    for name, node in graph.nodes.items():
        if node.op.name.startswith("loihi."):
            raise UnsupportedOpError(NETX, node=name, op=node.op.name, source=node.origin or None)


def refuse_values_on_binary_rows(graph: Graph, target) -> None:
    """A converted ANN with current coding feeds real values every tick; rows of binary events cannot."""
    if target.graded_inputs or graph.metadata.get("convert_ann.input_coding") != "current":
        return
    name = graph.inputs[0]
    raise UnsupportedOpError(f"this input carries real values every tick (an ANN converted with current coding); "
                             f"target '{target.name}' drives its rows with binary events (rule converters.dac_bits = "
                             f"0): convert it with rate coding (convert_ann={{'input_coding': 'rate'}})",
                             node=name, op=graph.op(name).name, source=graph.nodes[name].origin or None)


# -- what no rewrite helps ---------------------------------------------------------------------------
def neuron_problems(op, target, ctx: Context) -> list[str]:
    """Every reason a rewritten population still cannot become analog circuits on `target`."""
    n, p = target.neuron, []
    if op.reset_mode == "none" and "subtract" not in n.reset_modes:
        p.append(f"reset_mode none (never reset) is not supported by target '{target.name}': its circuits reset to "
                 f"a value (rule neuron.reset_modes = [{', '.join(n.reset_modes)}])")
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
    ctx.ticks(op.t_refrac, "t_refrac")
    return p


def delay_problems(pop, target, inputs) -> list[str]:
    """A chip that holds no spike for a tick has neither recurrent tiles nor relays."""
    if target.timing.max_delay:
        return []
    return [f"its input from '{src}' is {lag} tick(s) old; target '{target.name}' holds no spike for a later tick "
            f"(rule timing.max_delay = 0)" for (src, lag) in pop.lagged if src != ALWAYS_ON and src not in inputs]


def readout_problems(graph: Graph, name: str, pop) -> None:
    if len(pop.op.shape) != 1:
        raise unsupported(graph, name, "a host readout of more than one dimension is not supported; flatten its "
                                       "input first")
    if pop.lagged:
        src, lag = next(iter(pop.lagged))
        raise unsupported(graph, name, f"a host readout reads the chip's spikes of the same tick; its input from "
                                       f"'{src}' is {lag} tick(s) old")


# -- the rewrites ------------------------------------------------------------------------------------
class _Rewriter(GraphRewrite):
    """Collects the rewritten graph and the approximations, one neuron at a time."""

    def __init__(self, graph: Graph, target, options: LegalizeOptions):
        super().__init__(graph)
        self.target, self.options = target, options
        self.ctx = Context(dt=graph.dt, method=graph.method)

    def neuron(self, name: str) -> None:
        op = self.g.op(name)
        if isinstance(op, CubaLIF):
            op = self.current(name, op)
        op = self.reset(name, op)
        op = self.leak(name, op)
        op = self.refractory(name, op)
        if op.graded:
            op = self.graded(name, op)
        self.set_op(name, op)

    def current(self, name: str, op: CubaLIF):
        n, s = self.target.neuron, self.target.timing.speedup
        if op.current_timing == "next_tick":
            self.delay_input(name)
            op = op.replace(current_timing="same_tick")
        if not n.tau_syn_range:
            taps = self.current_taps(name, op)
            self.approximate(name, "neuron.tau_syn_range", f"the synaptic current as the sum of the input's last "
                             f"{taps} tick(s), weighted as the current's own decay and scaled to its DC gain (tiles "
                             f"reading 0..{taps - 1} ticks late); the tail of the decay beyond is lost",
                             f"snn.cuba_lif needs a synaptic-current filter; target '{self.target.name}' has one-state "
                             f"LIF circuits (rule neuron.tau_syn_range = [])")
            return LIF(tau=op.tau_mem, r=op.r, v_leak=op.v_leak, v_threshold=op.v_threshold,
                       v_reset=op.v_reset, reset_mode=op.reset_mode, reset_timing=op.reset_timing,
                       t_refrac=op.t_refrac, graded=op.graded)
        lo, hi = (t * s for t in n.tau_syn_range)
        if np.any(op.tau_syn < lo) or np.any(op.tau_syn > hi):
            self.approximate(name, "neuron.tau_syn_range", f"clamp tau_syn to [{lo:g}, {hi:g}] model seconds",
                             f"tau_syn of {op.tau_syn.min() / s:g}..{op.tau_syn.max() / s:g} chip seconds lies outside "
                             f"[{n.tau_syn_range[0]:g}, {n.tau_syn_range[1]:g}] (rule neuron.tau_syn_range)")
            op = op.replace(tau_syn=np.clip(op.tau_syn, lo, hi))
        return op

    def current_taps(self, name: str, op: CubaLIF) -> int:
        """Feed `name` the FIR Σ_k c_k x[t − k], k < K, with c_k = (1 − α) α^k w_in / (1 − α^K): the
        current's first K ticks of response, scaled to its DC gain w_in. K is the option, or the
        fewest taps whose dropped tail α^K is at most `TAIL`, within the chip's spike buffers."""
        a = np.broadcast_to(self.ctx.decay(op.tau_syn), op.shape)
        most = max(self.target.timing.max_delay, 1)
        taps = self.options.current_taps
        if taps < 1:
            worst = float(a.max())
            taps = 1 if worst <= TAIL else int(np.ceil(np.log(TAIL) / np.log(worst)))
        taps = min(taps, most)
        junction = self.add_node(f"{name}.current", Scale(scale=np.ones(op.shape)), name)
        self.edges = [Edge(e.src, junction, e.src_port, "input", e.recurrent) if e.dst == name else e
                      for e in self.edges]
        norm = op.w_in * (1.0 - a) / (1.0 - a ** taps)
        for k in range(taps):
            src = junction
            if k:
                src = self.add_node(f"{name}.current_tap{k}_delay", Delay(delay=np.full(op.shape, k * self.g.dt)),
                                    name)
                self.edges.append(Edge(junction, src))
            tap = self.add_node(f"{name}.current_tap{k}", Scale(scale=norm * a ** k), name)
            self.edges += [Edge(src, tap), Edge(tap, name)]
        return taps

    def delay_input(self, name: str) -> None:
        """Route every edge into `name` through an snn.delay of one tick."""
        op = self.g.op(name)
        d = self.add_node(f"{name}.current_delay", Delay(delay=np.full(op.shape, self.g.dt)), name)
        self.edges = [Edge(e.src, d, e.src_port, "input", e.recurrent) if e.dst == name else e for e in self.edges]
        self.edges.append(Edge(d, name))

    def reset(self, name: str, op):
        t = self.target
        if op.reset_mode == "subtract" and "subtract" not in t.neuron.reset_modes:
            self.approximate(name, "neuron.reset_modes", f"reset v to {self.options.residue:g} theta at once at each "
                             f"spike instead of subtracting the threshold (the residue above threshold is lost)",
                             f"reset_mode subtract is not supported by target '{t.name}' (rule neuron.reset_modes = "
                             f"[{', '.join(t.neuron.reset_modes)}])")
            return op.replace(reset_mode="value", reset_timing="immediate",
                              v_reset=self.options.residue * np.broadcast_to(op.v_threshold, op.shape))
        return op

    def leak(self, name: str, op):
        n, s, t = self.target.neuron, self.target.timing.speedup, self.target
        if isinstance(op, IF):
            if n.integrators:
                return op
            tau = np.full(op.shape, n.tau_range[1] * s)
            a = self.ctx.decay(tau)
            self.approximate(name, "neuron.integrators", f"leak with the longest time constant the circuit has "
                             f"(tau {tau.flat[0]:g} model seconds), taking the same input per tick",
                             f"target '{t.name}' has no leak-free circuit for snn.if (rule neuron.integrators = false)")
            return LIF(tau=tau, r=self.g.dt * op.r / (1.0 - a), v_leak=np.zeros(op.shape), v_threshold=op.v_threshold,
                       v_reset=op.v_reset, reset_mode=op.reset_mode, reset_timing=op.reset_timing,
                       t_refrac=op.t_refrac, graded=op.graded)
        field = "tau" if isinstance(op, LIF) else "tau_mem"
        tau = getattr(op, field)
        lo, hi = (x * s for x in n.tau_range)
        if np.all((tau >= lo) & (tau <= hi)):
            return op
        clamped = np.clip(tau, lo, hi)
        self.approximate(name, "neuron.tau_range", f"clamp the membrane time constant to [{lo:g}, {hi:g}] model "
                         f"seconds, taking the same input per tick",
                         f"tau of {tau.min() / s:g}..{tau.max() / s:g} chip seconds (the model's / speed-up {s:g}) "
                         f"lies outside [{n.tau_range[0]:g}, {n.tau_range[1]:g}] (rule neuron.tau_range)")
        gain = (1.0 - self.ctx.decay(tau)) / (1.0 - self.ctx.decay(clamped))
        return op.replace(**{field: clamped, "r": op.r * gain})

    def refractory(self, name: str, op):
        n, s = self.target.neuron, self.target.timing.speedup
        if op.t_refrac / s <= n.refractory_max:
            return op
        ticks = int(np.floor(n.refractory_max * s / self.g.dt + 1e-9))
        self.approximate(name, "neuron.refractory_max", f"a refractory period of {ticks} tick(s), the longest the "
                         f"circuit holds",
                         f"refractory period of {op.t_refrac / s:g} chip seconds exceeds {n.refractory_max:g} "
                         f"(rule neuron.refractory_max)")
        return op.replace(t_refrac=ticks * self.g.dt)

    def graded(self, name: str, op):
        """Binary spikes; every consumer but a graph output reads them scaled by θ."""
        self.approximate(name, "analog.lif.output", "send binary spikes and scale the synapses they drive by the "
                         "threshold (the smallest payload a graded spike carries)",
                         "graded spikes have no analog circuit here: a spike is a pulse on the next crossbar's rows")
        theta = np.broadcast_to(op.v_threshold, op.shape).copy()
        consumers = [e for e in self.edges if e.src == name and not isinstance(self.nodes[e.dst].op, Output)]
        if consumers:
            scale = self.add_node(f"{name}.payload", Scale(scale=theta), name)
            self.edges = [Edge(scale, e.dst, "output", e.dst_port, e.recurrent) if e in consumers else e
                          for e in self.edges]
            self.edges.append(Edge(name, scale))
        return op.replace(graded=False)

    def relays(self, name: str, pop, net) -> None:
        """Spikes older than the event path holds reach the population through relay populations (tiles.py)."""
        most = self.target.timing.max_delay
        for (src, lag) in pop.lagged:
            if src != ALWAYS_ON and src not in net.inputs and lag > most:
                hops = -(-lag // most) - 1
                self.approximations.append(Approximation(
                    name, pop.origin, "timing.max_delay", f"relay the spikes of '{src}' through {hops} relay "
                    f"population(s) of {net.size(src)} neurons, each firing when its input spikes, to arrive {lag} "
                    f"ticks late", f"its input from '{src}' is {lag} ticks old; target '{self.target.name}' holds "
                    f"spikes for at most {most} tick(s) (rule timing.max_delay)"))

    def late_constants(self, name: str, pop) -> None:
        """A constant that reaches the population k ticks late: the tile's bias adds it from tick 0."""
        for (src, lag), m in pop.lagged.items():
            if src == ALWAYS_ON and np.any(m != 0):
                self.approximations.append(Approximation(
                    name, pop.origin, "crossbar.bias", f"add the constant (bias) carried over a recurrent edge or "
                    f"delay from tick 0 instead of tick {lag}",
                    f"a constant (bias) delayed by {lag} tick(s) reaches this population only from tick {lag}; a "
                    f"tile's digital bias is on from tick 0"))
                return
