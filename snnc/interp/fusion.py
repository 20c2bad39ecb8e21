"""Groups: several nodes stepped as one, with exactly the arithmetic of their own steppers.

The engine runs a graph as a list of groups. By default every node is a group of its own
(`NodeGroup`, a thin adapter around its `Stepper`). A backend may register a *fuser* for
an op class (`register_fuser`): given nodes of that class that the engine may step
together, it returns groups that step them at once (one batched matmul over all the
synapse blocks of a layer, one vectorised update over all the core parts of a layer, ...).
A fuser must give bit for bit the outputs of the nodes' own steppers; the test suite
checks every fuser against the unfused run (`run(..., fuse=False)`).

Which nodes a fuser is offered (the engine decides; fusers only choose among them):
  * delayed ops (`Op.delayed`): every node of the class, since all of them emit before
    anything else runs and absorb after everything else;
  * other ops: the nodes of the class at one depth of the same-tick graph (longest path
    from its sources). No same-tick path joins two nodes of one depth, so running them
    as one step, after every shallower node, keeps the order of work of SPEC §3.

A group reads *input ports* of its members (`Group.inputs`: the engine delivers the sum of
every edge into that port, as for a single node) and writes *outputs* (`Group.outputs`):
  * `Value(member, port)`: a member's own output, which the engine routes as usual;
  * `Into(consumer, port, members)`: the sum of the edges from `members` (outputs on port
    "output") into `consumer.port`. The engine then adds this one value instead of those
    edges' values, so a group of synapse blocks can hand each neuron group its summed input.
Every edge leaving a member for a node outside the group must be covered by a `Value` of its
source or an `Into` of its destination (the engine checks this); edges between members are
the group's own business.

A *region fuser* (`register_region_fuser`) is offered every node of its op classes, at every
depth, and may return groups whose members span depths (a whole mapped network stepped as
one). Such a group must be convex in the same-tick graph: no same-tick path leaves it and
comes back (`convex_pieces` cuts a node set into such pieces). The engine then runs each
group once per tick, after every group it reads from in that tick.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from snnc.interp.kernel import Stepper


@dataclass(frozen=True)
class Value:
    """The output `port` of group member `member`."""

    member: str
    port: str = "output"


@dataclass(frozen=True)
class Into:
    """The sum of the edges from `members` into `consumer.port` (consumer not in the group)."""

    consumer: str
    port: str
    members: tuple[str, ...]


class Group:
    """Nodes stepped as one. Subclasses set `members`, `inputs`, `outputs` and `delayed`.

    Immediate groups implement `step(xs) -> ys`; delayed groups `emit() -> ys` (before any
    other group of the tick runs) and `absorb(xs)` (after all of them). `xs` holds one array
    per entry of `inputs` (None where nothing arrives), `ys` one per entry of `outputs`.
    Like a Stepper, a group never modifies an array it received or returned.
    """

    members: tuple[str, ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()
    outputs: tuple[Value | Into, ...] = ()
    delayed: bool = False

    def step(self, xs: list) -> list:
        raise NotImplementedError

    def emit(self) -> list:
        raise NotImplementedError

    def absorb(self, xs: list) -> None:
        raise NotImplementedError

    def state(self, member: str) -> dict[str, np.ndarray]:
        """The state variables of one member, as its own stepper would name and shape them."""
        return {}

    def describe(self) -> str:
        """Where an error happened, for the note the engine adds to it."""
        first = self.members[0]
        return f"node '{first}'" if len(self.members) == 1 else \
            f"the group of {len(self.members)} nodes '{first}', ..."


class MembersGroup(Group):
    """A group that reads every member's "input" port and gives every member's "output"."""

    def __init__(self, names, ctx, batch):
        self.members, self.ctx, self.batch = tuple(names), ctx, batch
        self.inputs = tuple((n, "input") for n in names)
        self.outputs = tuple(Value(n) for n in names)


class NodeGroup(Group):
    """One node run by its own Stepper."""

    def __init__(self, name: str, op, stepper: Stepper):
        self.members = (name,)
        self.stepper = stepper
        self.delayed = op.delayed
        self.inputs = tuple((name, p) for p in op.input_ports)
        self.outputs = tuple(Value(name, p) for p in op.output_ports)
        self.ports = {p: i for i, p in enumerate(op.input_ports)}
        self.out_ports = op.output_ports

    def _named(self, xs: list) -> dict:
        return {p: xs[i] for p, i in self.ports.items()}

    def step(self, xs):
        ys = self.stepper.step(self._named(xs))
        return [ys[p] for p in self.out_ports]

    def emit(self):
        ys = self.stepper.emit()
        return [ys[p] for p in self.out_ports]

    def absorb(self, xs):
        self.stepper.absorb(self._named(xs))

    def state(self, member):
        return self.stepper.state()

    def describe(self):
        return f"node '{self.members[0]}' ({self.stepper.op.name})"


#: A fuser: (graph, node names offered, context, batch, probed node names) -> groups.
#: Nodes it leaves out of every group run on their own. It must not group a node in
#: `probed` unless the group gives that node's output as a `Value`.
Fuser = Callable[..., list[Group]]
FUSERS: dict[type, Fuser] = {}


def register_fuser(op_cls: type):
    """Decorator: the function fuses nodes whose op is `op_cls`."""
    def deco(fn: Fuser) -> Fuser:
        if op_cls in FUSERS:
            raise TypeError(f"a fuser for {op_cls.name} is registered twice")
        FUSERS[op_cls] = fn
        return fn
    return deco


#: Region fusers: (op classes offered, fuser), in registration order. Nodes a region fuser
#: leaves out of its groups are offered to the per-depth fusers.
REGION_FUSERS: list[tuple[tuple[type, ...], Fuser]] = []


def register_region_fuser(*op_classes: type):
    """Decorator: the function fuses nodes of `op_classes` into groups that may span depths."""
    def deco(fn: Fuser) -> Fuser:
        if any(set(op_classes) & set(classes) for classes, _ in REGION_FUSERS):
            raise TypeError(f"a region fuser for {', '.join(c.name for c in op_classes)} is registered twice")
        REGION_FUSERS.append((tuple(op_classes), fn))
        return fn
    return deco


def convex_pieces(graph, names) -> list[frozenset[str]]:
    """`names` cut into pieces, each convex in the same-tick graph (no same-tick path from a
    piece through a node outside it back into it), so that each can run as one step. A weakly
    connected part with an outside node X on such a path is cut into the members not reachable
    from X (convex) and the rest (cut again); then parts whose union stays convex are joined."""
    todo, done = [frozenset(names)], []
    while todo:
        for part in _components(graph, todo.pop()):
            between = _between(graph, part)
            if not between:
                done.append(part)
                continue
            below = _reached(graph, between, forward=True, through=True) & part
            done.extend(_components(graph, part - below))
            todo.append(frozenset(below))
    joined: list[frozenset[str]] = []
    for part in sorted(done, key=min):
        k = next((k for k, p in enumerate(joined) if not _between(graph, p | part)), None)
        if k is None:
            joined.append(part)
        else:
            joined[k] = joined[k] | part
    return joined


def _between(graph, part) -> set[str]:
    """Outside nodes on a same-tick path from `part` back into it."""
    return _reached(graph, part, forward=True) & _reached(graph, part, forward=False)


def _components(graph, names: frozenset[str]) -> list[frozenset[str]]:
    """Weakly connected components of `names` over the edges between them."""
    seen, parts = set(), []
    for start in sorted(names):
        if start in seen:
            continue
        stack, part = [start], {start}
        while stack:
            n = stack.pop()
            for other in [e.dst for e in graph.out_edges(n)] + [e.src for e in graph.in_edges(n)]:
                if other in names and other not in part:
                    part.add(other)
                    stack.append(other)
        seen |= part
        parts.append(frozenset(part))
    return parts


def _reached(graph, start, *, forward: bool, through: bool = False) -> set[str]:
    """Nodes outside `start` (with `through`: any node) reached from it by same-tick edges."""
    step = (lambda n: [e.dst for e in graph.out_edges(n) if not graph.deferred(e)]) if forward else \
        (lambda n: [e.src for e in graph.in_edges(n) if not graph.deferred(e)])
    stack, seen = list(start), set(start)
    while stack:
        for m in step(stack.pop()):
            if m not in seen:
                seen.add(m)
                stack.append(m)
    return seen if through else seen - set(start)


def exact_matmul_dtype(bound: int):
    """The float dtype whose matmul sums integers of magnitude up to `bound` exactly
    (float32 below 2^24, float64 below 2^53), or int64 when neither does."""
    if bound < 1 << 24:
        return np.float32
    if bound < 1 << 53:
        return np.float64
    return np.int64
