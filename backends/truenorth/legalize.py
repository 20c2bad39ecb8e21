"""`truenorth-legalize`: what TrueNorth neurons cannot compute is refused, what they approximate is listed.

The lowering takes spiking populations (snn.if, snn.lif, snn.cuba_lif), non-spiking
readouts the host computes from the chip's spikes (snn.i, snn.li, snn.cuba_li, feeding only
graph outputs), feedback through recurrent edges, `snn.delay` ops and the stateless affine
ops between them (`SPEC`, folded by `snnc.passes.populations`). Each population's neuron
model is `neuron.plan`'s; its approximations are returned here as `Approximation` records
(`snnc compile --strict` refuses the first, with the message the lowering used to refuse
with), so that they are known before any weight is encoded. The one faithful rewrite: an
snn.if reset at the next step is reset at once (without decay, resetting now or while
integrating the next tick gives the same spikes).

Refused (UnsupportedOpError naming node, origin and rule): a model already in the Loihi
dialect (a lava-dl netx file), ops outside the list above, a negative threshold, a
refractory period, a reset mode the target lacks with no substitute, a readout fed
directly by a graph input.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from snnc.backends.truenorth import neuron
from snnc.errors import UnsupportedOpError
from snnc.interp.kernel import Context
from snnc.ir.graph import Graph
from snnc.ir.snn import CubaLI, CubaLIF, I, IF, LI, LIF
from snnc.passes.approximation import Approximation
from snnc.passes.populations import ALWAYS_ON, Population, Populations, PopulationSpec, populations
from snnc.passes.registry import PassResult, register_pass

NETX = ("this model holds Loihi's own integers (a lava-dl netx file); compile it for --target loihi or loihi1")

SPEC = PopulationSpec(
    spiking=(IF, LIF, CubaLIF),
    readouts=(I, LI, CubaLI),
    max_entries=1 << 27,          # entries of one expanded matrix (1 GiB of float64)
    chunk=512,
    feedback=True,
    delays=True,
    unsupported_op=("this op has no TrueNorth equivalent: the lowering maps spiking neurons (snn.if, snn.lif, "
                    "snn.cuba_lif), readouts the host computes from their spikes (snn.i, snn.li, snn.cuba_li), "
                    "delays and the stateless affine ops between them"),
    recurrent="recurrent edge {edge}: the TrueNorth lowering cannot map this feedback",
    not_affine_source="this node's output is not an affine function of the spiking populations",
    not_affine_op="this op is not affine, so it cannot become synapses",
    too_large=("expanding this op into synapses from '{src}' needs a {n_out} x {n_src} matrix "
               "(more than {limit} entries)"),
    output_source="a graph output must be fed directly by one neuron node (it is fed by {srcs})",
)


@dataclass(frozen=True)
class LegalizeOptions:
    """No options."""


def _refuse_native(graph: Graph) -> None:
    """A graph of another chip's dialect (a netx file holds loihi.* ops) is refused in one line."""
    for name, node in graph.nodes.items():
        if node.op.name.startswith("loihi."):
            raise UnsupportedOpError(NETX, node=name, op=node.op.name, source=node.origin or None)


def constant(pop: Population) -> np.ndarray:
    """A population's affine constant per neuron (flat), with the constants the model delays (they
    act from the first tick on the chip)."""
    const = pop.const.reshape(-1).astype(np.float64)
    return const + sum((a[:, 0] for (s, _), a in pop.lagged.items() if s == ALWAYS_ON), np.zeros(pop.size))


def looped(view: Populations) -> set[str]:
    """The populations on a loop of terms (feedback): partition keeps each on one core."""
    g = nx.DiGraph()
    for name, pop in view.populations.items():
        g.add_edges_from((s, name) for s in (*pop.inputs, *(s for s, _ in pop.lagged)) if s in view.populations)
    return {n for scc in nx.strongly_connected_components(g) for n in scc if len(scc) > 1 or g.has_edge(n, n)}


def spare(pop: Population, loops: set[str]) -> bool:
    """Whether a population's inputs may take more axons and their sources more copies: neither it
    nor a source of it is on a loop (whose neurons stay on one core, with no room for copies)."""
    return pop.node not in loops and not {*pop.inputs, *(s for s, _ in pop.lagged)} & loops


def tap_source(src: str, loops: set[str]) -> bool:
    """Whether an input term from `src` may be repeated on filter taps: a graph input (the host
    drives any number of axons) or a population on no loop (its copies may leave its core)."""
    return src != ALWAYS_ON and src not in loops


def tapped(pop: Population, loops: set[str]) -> bool:
    return any(tap_source(s, loops) for s in (*pop.inputs, *(s for s, _ in pop.lagged)))


def population_rules(graph: Graph, target) -> tuple[list[tuple[str, str]], list[Approximation]]:
    """(refusals as (node, message), approximations) of every population of a graph."""
    ctx = Context(dt=graph.dt, method=graph.method)
    view = populations(graph, SPEC)
    refusals, approximations = [], []
    loops = looped(view)
    for name, pop in view.populations.items():
        problems = neuron.problems(pop.op, target, ctx)
        refusals += [(name, m) for m in problems]
        if problems:
            continue
        for r in neuron.plan(pop.op, ctx, target, constant(pop), tapped=tapped(pop, loops)).rules:
            approximations.append(Approximation(name, pop.origin, r.rule, r.what, r.why))
    for name, ro in view.readouts.items():
        fed = [s for s in ro.inputs if s in view.inputs] + [s for s, _ in ro.lagged if s in view.inputs]
        if fed:
            refusals.append((name, f"this readout is fed directly by graph input '{fed[0]}': the host computes "
                                   f"readouts from the chip's spikes, and nothing of this path is on the chip"))
    return refusals, approximations


@register_pass("truenorth-legalize", LegalizeOptions)
def legalize(graph: Graph, target, options: LegalizeOptions) -> PassResult:
    """Refuse what TrueNorth neurons cannot compute; list what they approximate; normalise IF reset timing."""
    _refuse_native(graph)
    refusals, approximations = population_rules(graph, target)
    if refusals:
        name, msg = refusals[0]
        node = graph.nodes[name]
        more = tuple(f"node '{n}' ({graph.nodes[n].op.name}): {m}" for n, m in refusals[1:])
        raise UnsupportedOpError(msg, node=name, op=node.op.name, source=node.origin or None, more=more)
    out = graph
    for name, node in graph.nodes.items():
        if isinstance(node.op, IF) and node.op.reset_timing == "next_step":
            out = out.with_op(name, node.op.replace(reset_timing="immediate"))
    return PassResult(out, approximations=tuple(approximations))
