"""What converters share while one torch model becomes a Graph: the values flowing between
modules, the neurons met so far, and the nodes and edges being assembled.

A torch value is a `Value`: the IR nodes whose outputs add up to it (a residual `x + y`
is two terms, because edges into one port add up) and its per-sample shape. A neuron
module's call yields a `Neuron`; its spikes and its state are read lazily, so that the
importer knows at the end which of them the model really used (a membrane read as a
value turns a non-resetting neuron into a leaky integrator, see `Neuron.membrane`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from snnc.errors import UnsupportedOpError
from snnc.ir.graph import Edge, Graph, Node
from snnc.ir.op import Op
from snnc.ir.snn import Output, Scale

SOURCE = "torch"


def refuse(path: str, kind: str, message: str, supported: tuple[str, ...] = ()) -> UnsupportedOpError:
    """The error for a module (`path`, of type `kind`) that snnc cannot map exactly."""
    return UnsupportedOpError(message, node=path or "<model>", op=kind, source=SOURCE, supported=supported)


@dataclass(frozen=True)
class Converter:
    """How one torch module type becomes IR: `convert(session, module, path, x)` adds nodes and
    returns what the module returns: a `Value`, a neuron's spikes as `StateRef(neuron,
    "spikes")` (read lazily), or `NeuronOutputs` for a module returning (spikes, *state).

    `stateful` modules keep state across ticks and may be called once per forward;
    `input_shape(module)` gives the per-sample input shape when the module fixes it (lets
    `load` work without a sample input); `time_step(module)` and `method(module)` are the dt
    and integration method the module itself fixes (snnc's own modules) or suggests (Norse);
    `passes_through` modules return their input unchanged (Identity, Dropout).
    """

    convert: Callable
    stateful: bool = False
    input_shape: Callable | None = None
    time_step: Callable | None = None
    method: Callable | None = None
    fixes_time: bool = False
    passes_through: bool = False


@dataclass(frozen=True)
class Value:
    """A tensor of the model: the sum of the outputs of `terms`, per-sample shape `shape`."""

    terms: tuple[str, ...]
    shape: tuple[int, ...]


@dataclass
class Neuron:
    """One call of a neuron module and how the model uses its results.

    `op` is the spiking op. `membrane_op` (a non-spiking op with the same membrane
    equation) replaces it when the model reads only the membrane, never the spikes;
    `membrane_refusal` says why that is impossible when `membrane_op` is None.
    """

    path: str
    kind: str
    node: str
    shape: tuple[int, ...]
    op: Op
    membrane_op: Op | None = None
    membrane_refusal: str = ""
    spike_node: str = ""            # the graded-spike Scale node, or `node`
    spikes_used: bool = False
    membrane_used: bool = False

    def spikes(self) -> Value:
        self.spikes_used = True
        return Value((self.spike_node or self.node,), self.shape)

    def membrane(self) -> Value:
        self.membrane_used = True
        return Value((self.node,), self.shape)


@dataclass(frozen=True)
class NeuronOutputs:
    """The tuple a neuron module returns: spikes first, then the named state elements."""

    neuron: Neuron
    elements: tuple[str, ...]       # e.g. ("spikes", "mem") or ("spikes", "syn", "mem")


@dataclass(frozen=True)
class StateRef:
    """A state element of a neuron (`mem`, `syn`, Norse's state tuple or one of its fields)."""

    neuron: Neuron
    name: str


@dataclass
class Session:
    """The graph under construction, with the time step every converter discretises for."""

    dt: float
    method: str
    nodes: dict[str, list] = field(default_factory=dict)      # name -> [op, origin]
    edges: list[Edge] = field(default_factory=list)
    neurons: list[Neuron] = field(default_factory=list)

    # -- nodes and edges ------------------------------------------------------------------
    def unique(self, base: str) -> str:
        name, k = base, 0
        while name in self.nodes:
            k += 1
            name = f"{base}_{k}"
        return name

    def add(self, base: str, op: Op, source: Value | None, origin: str) -> str:
        """Add a node named after `base`, fed on the same tick by `source`; returns its name."""
        name = self.unique(base)
        self.nodes[name] = [op, origin]
        if source is not None:
            self.feed(source, name)
        return name

    def feed(self, value: Value, dst: str, *, recurrent: bool = False) -> None:
        for term in value.terms:
            self.edges.append(Edge(term, dst, recurrent=recurrent))

    def add_neuron(self, path: str, kind: str, op: Op, x: Value, *, membrane_op: Op | None = None,
                   membrane_refusal: str = "", gain: np.ndarray | None = None) -> Neuron:
        """Add a neuron node fed by `x`; graded spikes (`gain` != 1) go through a Scale node."""
        shape = tuple(x.shape)
        name = self.add(path, op, x, path)
        neuron = Neuron(path, kind, name, shape, op, membrane_op, membrane_refusal, name)
        if gain is not None and not np.all(gain == 1.0):
            neuron.spike_node = self.add(f"{path}.graded", Scale(scale=gain), Value((name,), shape), path)
        self.neurons.append(neuron)
        return neuron

    # -- parameters ------------------------------------------------------------------------
    def per_neuron(self, value, shape: tuple[int, ...], path: str, kind: str, what: str) -> np.ndarray:
        """A scalar or tensor parameter as a float64 array of the neuron shape (torch broadcasting;
        leading size-1 axes beyond the per-sample rank stand for the batch axis)."""
        arr = np.asarray(_to_numpy(value), dtype=np.float64)
        while arr.ndim > len(shape) and arr.shape[0] == 1:
            arr = arr[0]
        try:
            return np.array(np.broadcast_to(arr, shape))
        except ValueError:
            raise refuse(path, kind, f"{what} has shape {list(arr.shape)}, which does not broadcast to "
                                     f"the neuron shape {list(shape)}") from None

    def tau_for_decay(self, decay: np.ndarray, path: str, kind: str, what: str) -> np.ndarray:
        """The time constant τ whose per-tick decay α(τ) is `decay` under the graph's method:
        euler τ = dt/(1 − α), exact τ = −dt/ln α. α must lie in [0, 1) (euler) or (0, 1) (exact)."""
        if np.any(decay >= 1.0):
            raise refuse(path, kind, f"{what} = 1 (no leak) cannot be written as a time constant; "
                                     f"got max {np.max(decay):.9g}")
        if self.method == "exact":
            if np.any(decay <= 0.0):
                raise refuse(path, kind, f"{what} <= 0 has no time constant under method 'exact'; "
                                         f"load with method='euler'")
            return -self.dt / np.log(decay)
        return self.dt / (1.0 - decay)

    # -- the result ------------------------------------------------------------------------
    def finish_neurons(self) -> None:
        """Give each neuron whose membrane (not spikes) the model reads its membrane op."""
        for n in self.neurons:
            if not n.membrane_used:
                continue
            if n.spikes_used:
                raise refuse(n.path, n.kind, "the model reads both the spikes and the membrane of this "
                                             "neuron as values; snnc neurons output one of them")
            if n.membrane_op is None:
                raise refuse(n.path, n.kind, n.membrane_refusal or "the model reads its membrane as a value, "
                             "but the neuron resets; snnc outputs a resetting neuron's spikes only")
            self.nodes[n.node][0] = n.membrane_op
            if n.spike_node != n.node:
                del self.nodes[n.spike_node]
                self.edges = [e for e in self.edges if n.spike_node not in (e.src, e.dst)]

    def graph(self, inputs: list[str], outputs: list[tuple[str, Value, str]], metadata: dict) -> Graph:
        """The verified Graph, with one Output node per (name, value, origin) in `outputs`."""
        names = [self.add(base, Output(shape=value.shape), value, origin) for base, value, origin in outputs]
        nodes = [Node(name, op, origin) for name, (op, origin) in self.nodes.items()]
        return Graph(nodes, self.edges, inputs=inputs, outputs=names, dt=self.dt, method=self.method,
                     metadata=metadata).verify()


def _to_numpy(value):
    """A torch tensor (detached, on the CPU), number or array as a numpy array of its own values."""
    if hasattr(value, "detach"):
        return value.detach().cpu().double().numpy()
    return np.asarray(value)
