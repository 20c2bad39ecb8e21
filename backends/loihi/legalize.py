"""`loihi-legalize`: every spiking neuron rewritten into what a Loihi compartment computes.

The pass works on the source dialect: its output is still an `snn.*` graph that the float
interpreter runs, so each rewrite is checked by running the graphs before and after it.
A rewrite is *faithful* when the two graphs spike alike (exactly, in real arithmetic) and
*approximate* otherwise; each approximation is returned as an `Approximation` naming the
node, the target rule and what the chip computes instead (`--strict` refuses it with the
message the lowering used to refuse with).

Faithful rewrites
- value reset at the next step → at once (the next tick integrates from v_reset either way).
- subtract reset applied at once on a leaky LIF, v ← v − θ, decays the subtracted threshold
  (α θ leaves by the next tick); the chip subtracts θ undecayed at the next tick. The
  neuron becomes next-step subtracting plus a synapse from itself of weight θ/r (input
  gain (1 − α) r: it adds back (1 − α) θ at the next tick), so v~[t+1] = α v~[t] + in − α θ z[t]
  as before. During a refractory tick both hold v − θ and integrate nothing.
- current_timing next_tick (v integrates the previous tick's current) → an `snn.delay` of
  one tick before the neuron and same_tick: the current is the previous tick's by induction.

Approximations (rule, what the chip computes instead)
- subtract reset on a zero-reset chip (`neurons.reset_modes`) for an IF neuron: its membrane
  goes into the current register as a LIF's does, where it leaks by the register's least
  decay (1/4096 a tick on Loihi: the register cannot hold a current without leak).
- subtract reset on a zero-reset chip (`neurons.reset_modes`) for a CUBA neuron (its current
  register holds the synaptic current) or one with a refractory period: reset to 0 at once;
  the residue v~ − θ above threshold is lost at each spike, so a neuron driven hard fires less.
- subtract reset at once on a leaky CUBA neuron (`loihi.cuba.reset`): the threshold is
  subtracted undecayed at the next tick (its own-synapse correction would pass through
  the synaptic current and be filtered), so (1 − α) θ more is taken per spike.
- value reset to v_reset ≠ 0 (`loihi.cuba.reset`: the chip resets to 0): the membrane is
  shifted by v_reset (θ − v_reset, v_leak − v_reset), exact from each neuron's first spike;
  before it, the neuron starts from v_reset instead of 0.
- a refractory period beyond the chip's counter (`formats.refractory`): the longest the
  chip holds.

Refused (UnsupportedOpError naming node, origin and rule): reset_mode none, graded spikes
on a chip without them, a negative threshold, and a graded neuron with v_reset ≠ 0.
"""
from __future__ import annotations

import numpy as np

from snnc.errors import UnsupportedOpError
from snnc.interp.kernel import Context
from snnc.ir.graph import Edge, Graph
from snnc.ir.snn import IF, LIF, CubaLIF, Delay, Scale
from snnc.passes.rewrite import GraphRewrite

RESET_MODES = {"value": "zero", "subtract": "subtract"}
SPIKING = (LIF, IF, CubaLIF)


def decay_is_one(op, ctx: Context) -> bool:
    tau = getattr(op, "tau", getattr(op, "tau_mem", None))
    return tau is None or bool(np.all(ctx.decay(tau) == 1.0))


def neuron_problems(op, target) -> list[str]:
    """Every reason a spiking neuron op cannot be computed on `target` at all."""
    p = []
    if op.reset_mode == "none":
        p.append("reset_mode none (never reset) has no Loihi compartment equivalent")
    if np.any(op.v_threshold < 0):
        p.append(f"v_threshold must be >= 0 (the threshold mantissa is unsigned), got {op.v_threshold.min():g}")
    if op.graded and not target.neurons.graded_spikes:
        p.append(f"graded spikes are not supported by target '{target.name}' (rule neurons.graded_spikes = false)")
    if op.reset_mode == "value" and np.any(op.v_reset != 0):
        if op.graded:
            p.append("a graded neuron with v_reset != 0 cannot be shifted to the chip's reset to 0 (its payload "
                     "v~ would shift too)")
        elif np.any(op.v_threshold - op.v_reset < 0):
            p.append(f"v_threshold - v_reset must be >= 0 to shift the membrane to the chip's reset to 0, got "
                     f"{(op.v_threshold - op.v_reset).min():g}")
    return p


class _Rewriter(GraphRewrite):
    """The neurons of one graph, rewritten one at a time."""

    def __init__(self, graph: Graph, target):
        super().__init__(graph)
        self.target = target
        self.ctx = Context(dt=graph.dt, method=graph.method)

    # -- the rules, in the order they apply ------------------------------------------------------
    def neuron(self, name: str) -> None:
        op = self.g.op(name)
        op = self.reset(name, op)
        op = self.refractory(name, op)
        self.set_op(name, op)
        if isinstance(op, CubaLIF) and op.current_timing == "next_tick":
            self.delay_current(name, op)

    def reset(self, name: str, op):
        t = self.target
        if op.reset_mode == "subtract" and RESET_MODES["subtract"] not in t.neurons.reset_modes:
            why = (f"reset_mode subtract is not supported by target '{t.name}' (rule neurons.reset_modes = "
                   f"[{', '.join(t.neurons.reset_modes)}])")
            if not isinstance(op, (LIF, IF)) or self.ctx.ticks(op.t_refrac, "t_refrac") != 0:
                self.approximate(name, "neurons.reset_modes", "reset v to 0 at each spike instead of subtracting "
                                 "the threshold (the residue above threshold is lost; the membrane can live in "
                                 "the current register only for LIF and IF neurons without refractoriness)", why)
                return op.replace(reset_mode="value", reset_timing="immediate", v_reset=np.zeros_like(op.v_reset))
            f = t.formats
            least = f.current_decay_range.lo + f.current_decay_offset
            if decay_is_one(op, self.ctx) and least > 0:
                self.approximate(name, "neurons.reset_modes", f"keep the membrane in the current register to "
                                 f"subtract the threshold, where it leaks by {least}/{1 << f.decay_bits} a tick "
                                 f"(the model's neuron does not leak)", why)
        if op.reset_mode == "subtract" and op.reset_timing == "immediate" and not decay_is_one(op, self.ctx):
            if isinstance(op, CubaLIF):
                self.approximate(name, "loihi.cuba.reset", "subtract the threshold undecayed at the next tick "
                                 "(the model decays it with the membrane: (1 - alpha) theta more per spike)",
                                 "reset_mode subtract with reset_timing immediate decays the subtracted threshold; "
                                 "Loihi subtracts it undecayed at the next tick (only next_step timing, or no "
                                 "leak, maps exactly)")
                return op.replace(reset_timing="next_step")
            self.self_synapse(name, op)
            return op.replace(reset_timing="next_step")
        if op.reset_mode == "value" and np.any(op.v_reset != 0):
            self.approximate(name, "loihi.cuba.reset", "shift the membrane by v_reset (threshold and leak level "
                             "minus v_reset, reset to 0): exact from each neuron's first spike, before which it "
                             "starts from v_reset instead of 0",
                             f"v_reset must be 0 (Loihi resets v to 0), got values up to {np.abs(op.v_reset).max():g}")
            shifted = {"v_threshold": op.v_threshold - op.v_reset, "v_reset": np.zeros_like(op.v_reset)}
            if hasattr(op, "v_leak"):
                shifted["v_leak"] = op.v_leak - op.v_reset
            op = op.replace(**shifted)
        if op.reset_mode == "value" and op.reset_timing == "next_step":
            return op.replace(reset_timing="immediate")
        return op

    def self_synapse(self, name: str, op) -> None:
        """Weight θ/r from the neuron's spikes to its own input, one tick later: adds (1 − α) θ back."""
        back = self.add_node(f"{name}.reset", Scale(scale=op.v_threshold / op.r), name)
        self.edges += [Edge(name, back, recurrent=True), Edge(back, name)]

    def refractory(self, name: str, op):
        rng = self.target.formats.refractory
        ticks = int(self.ctx.ticks(op.t_refrac, "t_refrac"))
        if ticks in rng:
            return op
        held = min(max(ticks, rng.lo), rng.hi)
        self.approximate(name, "formats.refractory", f"hold the neuron for {held} ticks after a spike instead "
                         f"of {ticks}", f"refractory period of {ticks} ticks is outside target "
                         f"'{self.target.name}' range (rule formats.refractory = {rng})")
        return op.replace(t_refrac=held * self.g.dt)

    def delay_current(self, name: str, op) -> None:
        """next_tick current → an snn.delay of one tick on the neuron's input, and same_tick."""
        delay = self.add_node(f"{name}.current", Delay(delay=np.full(op.shape, self.g.dt)), name)
        self.edges = [Edge(e.src, delay, e.src_port, "input", e.recurrent) if e.dst == name else e
                      for e in self.edges] + [Edge(delay, name)]
        self.set_op(name, op.replace(current_timing="same_tick"))


def legalize_graph(graph: Graph, target) -> tuple[Graph, list, dict[str, tuple[str, ...]]]:
    """Refuse what the target cannot compute at all; rewrite the rest (module docstring)."""
    problems = [(name, m) for name, node in graph.nodes.items() if isinstance(node.op, SPIKING)
                for m in neuron_problems(node.op, target)]
    if problems:
        name, msg = problems[0]
        node = graph.nodes[name]
        more = tuple(f"node '{n}' ({graph.nodes[n].op.name}): {m}" for n, m in problems[1:])
        raise UnsupportedOpError(msg, node=name, op=node.op.name, source=node.origin or None, more=more)
    r = _Rewriter(graph, target)
    for name, node in graph.nodes.items():
        if isinstance(node.op, SPIKING):
            r.neuron(name)
    return r.graph(), r.approximations, r.provenance
