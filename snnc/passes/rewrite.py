"""A graph rewritten node by node, with the approximations the rewrite makes.

Target legalize passes walk the neurons of a source graph and replace each by what their
chip computes: a changed op, extra nodes wired around it (a synapse from the neuron to
itself, a delay before it), and, where the chip cannot compute the model exactly, an
`Approximation` saying so. `GraphRewrite` holds that state so each pass writes only its
rules; the result is still a graph of the source dialect that the float interpreter runs.
"""
from __future__ import annotations

from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.passes.approximation import Approximation


class GraphRewrite:
    """The graph being rewritten: ops by node, edges, names in use, approximations, provenance."""

    def __init__(self, graph: Graph):
        self.g = graph
        self.nodes: dict[str, Node] = dict(graph.nodes)
        self.edges: list[Edge] = list(graph.edges)
        self.taken = set(graph.nodes)
        self.approximations: list[Approximation] = []
        self.provenance: dict[str, tuple[str, ...]] = {}

    def approximate(self, name: str, rule: str, what: str, why: str) -> None:
        """Record that node `name` is computed approximately (see `Approximation`)."""
        self.approximations.append(Approximation(name, self.g.nodes[name].origin, rule, what, why))

    def set_op(self, name: str, op) -> None:
        self.nodes[name] = Node(name, op, self.g.nodes[name].origin)

    def add_node(self, base: str, op, owner: str) -> str:
        """A new node (named after `base`, with the origin of `owner`) that carries part of `owner`'s work."""
        name = unique_name(base, self.taken)
        self.taken.add(name)
        self.nodes[name] = Node(name, op, self.g.nodes[owner].origin)
        self.provenance[owner] = self.provenance.get(owner, (owner,)) + (name,)
        return name

    def graph(self) -> Graph:
        return self.g.replace(nodes=list(self.nodes.values()), edges=self.edges)
