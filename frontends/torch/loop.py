"""A forward that loops over time (the snnTorch tutorials' form), read as its one-tick body.

    def forward(self, x):                          # x: [T, B, *shape], or a static [B, *shape]
        mem1 = self.lif1.init_leaky()
        spk2_rec = []
        for step in range(num_steps):
            cur1 = self.fc1(x[step])               # or self.fc1(x): the same input every tick
            spk1, mem1 = self.lif1(cur1, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk2_rec.append(spk2)
        return torch.stack(spk2_rec, dim=0)

torch.fx traces such a forward unrolled (`range(num_steps)` or `range(x.shape[0])`, with
the sample input's shape): every neuron module is called once per tick, the state one
call returns goes into the module's next call, and each output is a stack of per-tick
values. `reroll` takes tick k to be the k-th element of every returned stack and what it
is computed from, cut at the state arguments of neuron calls, and checks before it accepts:

- every tick computes what tick 0 computes: the same modules and functions in the same
  order, tick k reading x[k] (or the whole static x);
- each neuron's state argument is its own previous call's state (tick 0: its initial
  value, which must be zero, as snnc neurons start) and nothing else crosses ticks;
- each neuron module runs once per tick.

Tick 0, with the state arguments dropped (snnc neurons keep their own state), is then an
ordinary one-tick forward for `tracing.Walk`. What it changes is announced: a static
input becomes a per-tick input repeated on every tick; a resetting neuron's membrane
returned beside its spikes is not an output.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.fx as fx

from snnc.errors import UsageError, announce

from snnc.frontends.torch.session import refuse


@dataclass
class Rerolled:
    """The one-tick graph and what the loop told about its inputs and outputs."""

    graph: fx.Graph
    ticks: int
    time_indexed: set[str] = field(default_factory=set)   # placeholders read as x[k]
    static: set[str] = field(default_factory=set)         # placeholders read whole on every tick
    outputs: int = 1                                      # stacks the forward returns
    state_outputs: list[int] = field(default_factory=list)  # those that stack a neuron's state


def loops_over_time(graph: fx.Graph) -> bool:
    """Whether `graph` is an unrolled loop over time: it returns a stack of per-tick values."""
    return any(_is_stack(n) for n in _output_refs(graph))


def reroll(graph: fx.Graph, stateful: set[str], root: torch.nn.Module, model: str) -> Rerolled:
    """Tick 0 of the unrolled `graph` as a one-tick fx graph (see the module docstring);
    `stateful`: the qualified names of neuron modules; `root`: the traced module (constants)."""
    stacks = _stacks(graph, model)
    ticks = len(stacks[0].args[0])
    order = _call_order(graph, stateful)
    bodies = [_Tick(k, order, stateful, model).collect([s.args[0][k] for s in stacks]) for k in range(ticks)]
    first = _signature(graph, bodies[0])
    for body in bodies[1:]:
        _same_as_first(first, graph, bodies[0], body, model)
    for body in bodies:
        _check_states(body, order, root, model)
    return _emit(bodies[0], stacks, ticks, graph, model)


def _output_refs(graph: fx.Graph) -> list:
    out = next(n for n in graph.nodes if n.op == "output")
    refs = out.args[0]
    return list(refs) if isinstance(refs, (tuple, list)) else [refs]


def _is_stack(node) -> bool:
    if not (isinstance(node, fx.Node) and node.op == "call_function" and node.target is torch.stack):
        return False
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    return dim == 0 and isinstance(node.args[0], (list, tuple)) and len(node.args[0]) > 0


def _stacks(graph: fx.Graph, model: str) -> list[fx.Node]:
    refs = _output_refs(graph)
    bad = [r for r in refs if not _is_stack(r)]
    if bad:
        raise UsageError(f"{model}.forward loops over time but returns {_describe(bad[0])}; snnc reads such a "
                         f"forward when every output is torch.stack(<one value per tick>, dim=0)")
    lengths = sorted({len(r.args[0]) for r in refs})
    if len(lengths) > 1:
        raise UsageError(f"{model}.forward returns stacks of {' and '.join(map(str, lengths))} ticks; every "
                         f"output must hold one value per tick of the same loop")
    return refs


def _describe(ref) -> str:
    if isinstance(ref, fx.Node):
        return f"'{ref.name}' ({ref.op} {getattr(ref.target, '__name__', ref.target)})"
    return repr(ref)


def _call_order(graph: fx.Graph, stateful: set[str]) -> dict[fx.Node, int]:
    """Each neuron call -> how many calls of the same module came before it (its tick)."""
    seen: dict[str, int] = {}
    order = {}
    for n in graph.nodes:
        if n.op == "call_module" and n.target in stateful:
            order[n] = seen.get(n.target, 0)
            seen[n.target] = order[n] + 1
    return order


def _data_and_state(node: fx.Node) -> tuple[object, list]:
    """A neuron call's input (first argument) and its state arguments (the rest)."""
    if node.args:
        return node.args[0], list(node.args[1:]) + list(node.kwargs.values())
    values = list(node.kwargs.values())
    return (values[0] if values else None), values[1:]


class _Tick:
    """The nodes one tick computes, found backwards from its output values."""

    def __init__(self, k: int, order: dict, stateful: set[str], model: str):
        self.k, self.order, self.stateful, self.model = k, order, stateful, model
        self.nodes: set[fx.Node] = set()
        self.states: list[tuple[fx.Node, object]] = []     # (neuron call, state argument)
        self.time_indexed: set[str] = set()
        self.static: set[str] = set()
        self.elements: list[fx.Node] = []
        self.calls: set[fx.Node] = set()                  # the neuron calls of this tick

    def collect(self, elements) -> "_Tick":
        self.elements = list(elements)
        stack = [e for e in self.elements if isinstance(e, fx.Node)]
        while stack:
            node = stack.pop()
            if node in self.nodes:
                continue
            self.nodes.add(node)
            stack.extend(self._inputs(node))
        self.calls = {n for n in self.nodes if n in self.order}
        return self

    def _inputs(self, node: fx.Node) -> list[fx.Node]:
        if node.op == "placeholder":
            self.static.add(str(node.target).lstrip("*"))
            return []
        index = _time_index(node)
        if index is not None:
            name = str(node.args[0].target).lstrip("*")
            if index != self.k:
                raise UsageError(f"{self.model}.forward: tick {self.k} reads {name}[{index}]; snnc reads a loop "
                                 f"whose tick k reads {name}[k]")
            self.time_indexed.add(name)
            return []
        if node in self.order:
            if self.order[node] != self.k:
                raise refuse(str(node.target), "torch.nn.Module", f"tick {self.k} uses this neuron's call of tick "
                             f"{self.order[node]} outside its state argument: a value of another tick reaches "
                             f"this one, which a per-tick graph cannot express (feed spikes back through a "
                             f"recurrent neuron such as snntorch.RLeaky)")
            data, states = _data_and_state(node)
            self.states += [(node, s) for s in states]
            return _nodes_in(data)
        return _nodes_in((node.args, node.kwargs))


def _time_index(node: fx.Node) -> int | None:
    """k for `x[k]` on a forward argument x, else None."""
    if node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[0], fx.Node) \
            and node.args[0].op == "placeholder" and isinstance(node.args[1], int):
        return node.args[1]
    return None


def _nodes_in(arg) -> list[fx.Node]:
    out: list[fx.Node] = []
    fx.node.map_arg(arg, out.append)
    return out


def _signature(graph: fx.Graph, body: _Tick) -> list[tuple]:
    """What the tick computes, in graph order, each node reference as its position in the tick."""
    nodes = [n for n in graph.nodes if n in body.nodes]
    pos = {n: i for i, n in enumerate(nodes)}

    def ref(n: fx.Node):
        return ("node", pos[n]) if n in pos else ("outside", n.name)
    sig = []
    for n in nodes:
        if _time_index(n) is not None:
            sig.append(("input", str(n.args[0].target)))
            continue
        args, kwargs = (_data_and_state(n)[0], None) if n in body.calls else (n.args, n.kwargs)
        sig.append((n.op, n.target, fx.node.map_arg(args, ref), fx.node.map_arg(kwargs, ref)))
    sig.append(("output", tuple(ref(e) if isinstance(e, fx.Node) else e for e in body.elements)))
    return sig


def _same_as_first(want: list[tuple], graph: fx.Graph, first: _Tick, body: _Tick, model: str) -> None:
    got = _signature(graph, body)
    if want != got:
        i = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        what = got[i] if i < len(got) else "(nothing)"
        raise UsageError(f"{model}.forward: tick {body.k} does not compute what tick 0 computes (step {i + 1} of "
                         f"the tick: {_step(what)} where tick 0 has {_step(want[i]) if i < len(want) else 'nothing'}); "
                         f"snnc reads a loop whose every tick runs the same modules in the same order")
    if (first.time_indexed, first.static) != (body.time_indexed, body.static):
        raise UsageError(f"{model}.forward: tick {body.k} reads its inputs differently from tick 0")


def _step(entry) -> str:
    if not isinstance(entry, tuple) or len(entry) < 2:
        return str(entry)
    kind, target = entry[0], entry[1]
    return f"{kind} {getattr(target, '__name__', target)}"


def _check_states(body: _Tick, order: dict, root: torch.nn.Module, model: str) -> None:
    """Each state argument is the same module's previous call (or, at tick 0, a zero start)."""
    for call, state in body.states:
        path = str(call.target)
        source = state.args[0] if isinstance(state, fx.Node) and state.op == "call_function" \
            and state.target is operator.getitem else state
        if body.k > 0:
            if not (isinstance(source, fx.Node) and source in order and source.target == call.target
                    and order[source] == body.k - 1):
                raise refuse(path, "neuron", f"at tick {body.k} its state argument is '{_name(state)}', not "
                             f"the state its own call returned at tick {body.k - 1}; snnc neurons carry their "
                             f"state from tick to tick")
        elif not _is_zero_start(state, root):
            raise refuse(path, "neuron", f"it starts from '{_name(state)}', which is not zero; snnc neurons start "
                         f"from zero state (reset it with init_leaky() / reset_mem(), or a zero tensor)")


def _name(ref) -> str:
    return ref.name if isinstance(ref, fx.Node) else repr(ref)


def _is_zero_start(state, root: torch.nn.Module) -> bool:
    if state is None:
        return True
    if isinstance(state, (int, float)):
        return state == 0
    if isinstance(state, torch.Tensor):
        return not bool(state.detach().ne(0).any())
    if isinstance(state, fx.Node) and state.op == "get_attr":
        value = root
        for part in str(state.target).split("."):
            value = getattr(value, part, None)
        return isinstance(value, torch.Tensor) and not bool(value.detach().ne(0).any())
    return False


def _emit(body: _Tick, stacks: list[fx.Node], ticks: int, graph: fx.Graph, model: str) -> Rerolled:
    """Tick 0 as its own fx graph: x[0] becomes the argument x, neuron calls lose their state."""
    new = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    placeholders = {}
    for n in graph.nodes:
        if n.op == "placeholder":
            name = str(n.target).lstrip("*")
            if name in body.time_indexed or name in body.static:
                placeholders[name] = env[n] = new.placeholder(name)
    mixed = body.time_indexed & body.static
    if mixed:
        raise UsageError(f"{model}.forward reads '{sorted(mixed)[0]}' both as a whole and one tick at a time "
                         f"({sorted(mixed)[0]}[step]); snnc needs one of the two")
    for n in graph.nodes:
        if n not in body.nodes or n.op == "placeholder":
            continue
        if _time_index(n) is not None:
            env[n] = placeholders[str(n.args[0].target).lstrip("*")]
        elif n in body.calls:
            data, _ = _data_and_state(n)
            env[n] = new.call_module(n.target, (fx.node.map_arg(data, env.__getitem__),))
        else:
            env[n] = new.node_copy(n, env.__getitem__)
    outs = [env[s.args[0][0]] for s in stacks]
    new.output(outs[0] if len(outs) == 1 else tuple(outs))
    states = [i for i, s in enumerate(stacks) if _is_state_element(s.args[0][0], body)]
    return Rerolled(new, ticks, set(body.time_indexed), set(body.static), len(stacks), states)


def _is_state_element(node, body: _Tick) -> bool:
    """Whether a returned value is element i >= 1 of a neuron's (spikes, *state) tuple."""
    return (isinstance(node, fx.Node) and node.op == "call_function" and node.target is operator.getitem
            and node.args[0] in body.calls and isinstance(node.args[1], int) and node.args[1] >= 1)


def announce_reading(r: Rerolled, model: str, outputs: int) -> None:
    """Say what reading the loop as one tick changed; `outputs`: how many the graph kept."""
    for name in sorted(r.static):
        announce(f"{model}.forward feeds the same input '{name}' to each of its {r.ticks} ticks; the graph takes "
                 f"one tick of '{name}', so present it on every tick (simulate and verify with --ticks "
                 f"{r.ticks}, or repeat it along a leading time axis)")
    if outputs < r.outputs:
        listed = ", ".join(str(i + 1) for i in r.state_outputs)
        announce(f"{model}.forward also returns a neuron's state stacked over ticks (returned value {listed} of "
                 f"{r.outputs}); the graph outputs the spikes only, as a resetting snnc neuron outputs no membrane")
