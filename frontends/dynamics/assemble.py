"""From a recognised tick to an snn Graph: nodes for inputs, layers and populations, and
edges from every value's decomposition into a sum of signals.

A signal is something a node emits: a model input, a layer's output, a population's spike
(this tick, or the previous tick through a recurrent edge), a leaky integrator's membrane.
Every value consumed by a layer, a neuron or a model output must be Σ κ_s · s over
signals; a gain κ ≠ 1 becomes an `snn.scale` node on that edge. A neuron's input port
sums its edges, so of its drive Σ g_X X the op takes one reference gain g_ref into its
own `r` (or `w_in`) and each edge carries g_X / g_ref.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from snnc.frontends.dynamics.check import validate
from snnc.frontends.dynamics.poly import Context, Poly, evaluate
from snnc.frontends.dynamics.recognise import Population, Tick, find_populations, live_vars
from snnc.frontends.dynamics.step import StepFunction, infer_shapes
from snnc.ir.graph import Graph, GraphBuilder, unique_name
from snnc.ir.snn import IF, LI, LIF, CubaLI, CubaLIF, I, Output, Scale, Threshold

Namer = Callable[[str, str], str]


@dataclass(frozen=True)
class Signal:
    node: str
    recurrent: bool
    factor: np.ndarray        # the variable equals factor · (the node's output)
    shape: tuple[int, ...]


def evaluate_tick(step: StepFunction, ctx: Context) -> Tick:
    """The step evaluated symbolically, with its state-out and output polynomials."""
    polys = evaluate(step, ctx)
    return Tick(ctx, {s.name: polys[s.value_out] for s in step.states},
                {n: polys[i] for n, i in step.outputs.items()},
                {s.name: step.values[s.value_out].origin for s in step.states})


def build_graph(step: StepFunction, *, dt: float, source: str = "",
                metadata: Mapping[str, str] | None = None, namer: Namer | None = None) -> Graph:
    """Recognise every population in `step` and return the verified snn Graph.

    `source` names the model in messages; `namer(origin, kind)` gives a node's base name
    (default: the origin with characters the IR cannot spell replaced by '_').
    Raises UnsupportedOpError naming the user's node for anything snnc cannot represent.
    """
    ctx = Context(source)
    tick = evaluate_tick(step, ctx)
    shapes = infer_shapes(step)
    state_shapes = {s.name: shapes[s.value_in] or shapes[s.value_out] for s in step.states}
    atom_shapes = {j: shapes[a.index] for j, a in enumerate(ctx.atoms)}
    pops = find_populations(tick, state_shapes, atom_shapes)
    return _Assembler(step, tick, pops, shapes, dt, namer or default_namer, metadata or {}).build()


def default_namer(origin: str, kind: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", origin).lstrip("_.-")
    return name or kind


def per_sample(array, shape: tuple[int, ...], ctx: Context, origin: str, what: str) -> np.ndarray:
    """A coefficient broadcast to the per-sample `shape` (dropping a uniform batch axis)."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == len(shape) + 1:
        if not np.all(a == a[:1]):
            raise ctx.refuse(f"{what} differs between the samples of a batch", origin)
        a = a[0]
    try:
        return np.array(np.broadcast_to(a, shape), dtype=np.float64)
    except ValueError:
        raise ctx.refuse(f"{what} of shape {list(a.shape)} does not fit the neuron shape {list(shape)}",
                         origin) from None


class _Assembler:
    def __init__(self, step, tick: Tick, pops: list[Population], shapes, dt, namer: Namer, metadata):
        self.step, self.tick, self.ctx, self.pops = step, tick, tick.ctx, pops
        self.shapes, self.dt, self.namer = shapes, dt, namer
        self.b = GraphBuilder(dt=dt, method="euler", metadata=dict(metadata))
        self.signals: dict[tuple, Signal] = {}
        self.pop_node: dict[int, str] = {}
        self.layer_node: dict[int, str] = {}
        self.taken: set[str] = set()

    def _unique(self, base: str) -> str:
        name = unique_name(base, self.taken)
        self.taken.add(name)
        return name

    def build(self) -> Graph:
        for name, idx in self.step.inputs.items():
            node = self.b.input(self._unique(default_namer(name, "input")), self.shapes[idx], origin=name)
            self.signals[("in", name)] = Signal(node, False, np.asarray(1.0), self.shapes[idx])
        layers, _, _ = live_vars(self.tick)
        order = sorted([(self.ctx.layers[j].index, "layer", j) for j in layers] +
                       [(self._pop_index(p), "pop", p.index) for p in self.pops])
        for _, kind, key in order:                       # names first: edges may point forward
            self._name(kind, key)
        for _, kind, key in order:
            if kind == "layer":
                app = self.ctx.layers[key]
                self.b.add(self.layer_node[key], app.op, origin=app.origin)
            else:
                self._add_population(self.pops[key])
        for _, kind, key in order:
            if kind == "layer":
                self._connect(self.ctx.layers[key].arg, self.layer_node[key], self.ctx.layers[key].origin)
        for name, idx in self.step.outputs.items():
            shape = self.shapes[idx]
            node = self.b.add(self._unique(default_namer(name, "output")), Output(shape=shape or ()), origin=name)
            self._connect(self.tick.outputs[name], node, name)
        return self.b.build()

    # -- names and signals ------------------------------------------------------------------
    def _pop_index(self, pop: Population) -> int:
        if pop.atom is not None:
            return self.ctx.atoms[pop.atom].index
        return self.step.state(pop.membrane).value_out

    def _name(self, kind: str, key: int) -> None:
        if kind == "layer":
            app = self.ctx.layers[key]
            node = self._unique(self.namer(app.origin, app.op.name.split(".")[-1]))
            self.layer_node[key] = node
            shape = self.shapes[app.index]
            self.signals[("layer", key)] = Signal(node, False, np.asarray(1.0), shape)
            return
        pop = self.pops[key]
        label = {"spiking": "cuba_lif" if pop.current else "lif", "leaky": "cuba_li" if pop.current else "li",
                 "threshold": "threshold"}[pop.kind]
        node = self._unique(self.namer(pop.origin, label))
        self.pop_node[key] = node
        one = np.asarray(1.0)
        if pop.atom is not None:
            self.signals[("atom", pop.atom)] = Signal(node, False, one, pop.shape)
        for name, kappa in pop.spike_states.items():
            self.signals[("state", name)] = Signal(node, True, kappa, pop.shape)
        for a in pop.prev_atoms:
            self.signals[("atom", a)] = Signal(node, True, one, pop.shape)

    def _terms(self, p: Poly, origin: str) -> list[tuple[Signal, np.ndarray]]:
        """`p` as [(signal, κ)]: Σ κ · (the signal's node output)."""
        terms = []
        for pop in self.pops:
            m = ("state", pop.membrane)
            if pop.kind != "leaky" or (m,) not in p.terms:
                continue
            w = pop.membrane_out
            kappa = p.terms[(m,)] / w.coeff((m,))
            p = p - w.scale(kappa)
            terms.append((Signal(self.pop_node[pop.index], False, np.asarray(1.0), pop.shape), kappa))
        for mono, coef in p.terms.items():
            if len(mono) == 1 and mono[0] in self.signals:
                sig = self.signals[mono[0]]
                terms.append((sig, coef * sig.factor))
                continue
            owner = next((q for q in self.pops for v in mono if v[0] == "state" and v[1] in q.states), None)
            if mono == ():
                raise self.ctx.refuse(f"the value {p!r} adds a constant to its inputs; snnc layers take "
                                      f"sums of inputs and spikes", origin)
            if owner is not None:
                raise self.ctx.refuse(f"reads the state of neuron '{self.pop_node[owner.index]}' "
                                      f"({owner.origin}), not its spikes; snnc graphs carry spikes between "
                                      f"layers", origin)
            raise self.ctx.refuse(f"the value {p!r} is not a sum of inputs, layer outputs and spikes", origin)
        return terms

    def _connect(self, p: Poly, dst: str, origin: str, gains: Mapping | None = None) -> None:
        merged: dict[tuple[str, bool], tuple[Signal, np.ndarray]] = {}
        for sig, kappa in self._terms(p, origin):
            key = (sig.node, sig.recurrent)
            prev = merged.get(key)
            merged[key] = (sig, kappa if prev is None else prev[1] + kappa)
        for sig, kappa in merged.values():
            self._edge(sig, dst, kappa, origin)

    def _edge(self, sig: Signal, dst: str, kappa: np.ndarray, origin: str) -> None:
        kappa = per_sample(kappa, sig.shape or (), self.ctx, origin, "an input gain")
        if np.all(kappa == 1.0):
            self.b.connect(sig.node, dst, recurrent=sig.recurrent)
            return
        scale = self.b.add(self._unique(f"{dst}_scale"), Scale(scale=kappa), origin=origin)
        self.b.connect(sig.node, scale, recurrent=sig.recurrent)
        self.b.connect(scale, dst)

    # -- populations --------------------------------------------------------------------------
    def _add_population(self, pop: Population) -> None:
        node, shape = self.pop_node[pop.index], pop.shape
        drive = self._terms(pop.drive, pop.origin)
        gains = [per_sample(k, shape, self.ctx, pop.origin, "an input gain") for _, k in drive]
        g_ref = np.ones(shape)
        for g in reversed(gains):
            g_ref = np.where(g != 0, g, g_ref)
        op = self._op(pop, g_ref)
        self.b.add(node, op, origin=pop.origin)
        rel = {}
        for (sig, _), g in zip(drive, gains):
            self._edge(sig, node, g / g_ref, pop.origin)
        for mono, coef in pop.drive.terms.items():
            rel[mono[0]] = per_sample(coef, shape, self.ctx, pop.origin, "an input gain") / g_ref
        validate(self.tick, pop, op, rel, self.dt, self._amplitude(pop, g_ref))

    def _amplitude(self, pop: Population, g_ref: np.ndarray) -> np.ndarray:
        """The input (per element, signed) that holds the membrane near its threshold."""
        theta = self._ps(pop, pop.theta if pop.theta is not None else 1.0, "threshold")
        theta = np.where(np.abs(theta) < 1e-3, 1e-3, theta)
        leak = 1.0 - self._ps(pop, pop.beta if pop.beta is not None else 0.0, "decay")
        if pop.alpha is not None:
            leak = leak * (1.0 - self._ps(pop, pop.alpha, "decay"))
        return theta * np.clip(np.abs(leak), 0.05, 1.0) / np.where(g_ref == 0, 1.0, g_ref)

    def _ps(self, pop: Population, value, what: str) -> np.ndarray:
        return per_sample(value, pop.shape, self.ctx, pop.origin, what)

    def _op(self, pop: Population, g_ref: np.ndarray):
        ps = lambda v, what: self._ps(pop, v, what)          # noqa: E731
        dt = self.dt
        if pop.kind == "threshold":
            if np.any(g_ref <= 0):
                raise self.ctx.refuse("a threshold on a negatively weighted input", pop.origin)
            return Threshold(threshold=-ps(pop.c, "threshold") / g_ref)
        beta, c = ps(pop.beta, "decay β"), ps(pop.c, "constant drive")
        leaky = self._decay_range(pop, beta, "membrane")
        spiking = dict(v_threshold=ps(pop.theta, "threshold"),
                       v_reset=ps(pop.v_reset if pop.v_reset is not None else 0.0, "reset value"),
                       reset_mode=pop.reset_mode, reset_timing=pop.reset_timing,
                       t_refrac=pop.refractory_ticks * dt) if pop.kind == "spiking" else {}
        if pop.current is not None:
            alpha = ps(pop.alpha, "current decay α")
            if not leaky or not self._decay_range(pop, alpha, "synaptic current"):
                raise self.ctx.refuse("a synaptic current with a non-leaky membrane or current", pop.origin)
            h = ps(pop.h, "current gain")
            common = dict(tau_syn=dt / (1 - alpha), tau_mem=dt / (1 - beta), r=h / (1 - beta),
                          v_leak=c / (1 - beta), w_in=g_ref / (1 - alpha), current_timing=pop.current_timing)
            return CubaLIF(**common, **spiking) if pop.kind == "spiking" else CubaLI(**common)
        if leaky:
            common = dict(tau=dt / (1 - beta), r=g_ref / (1 - beta), v_leak=c / (1 - beta))
            return LIF(**common, **spiking) if pop.kind == "spiking" else LI(**common)
        if np.any(c != 0):
            raise self.ctx.refuse("a non-leaky integrator (β = 1) with a constant drive", pop.origin)
        return IF(r=g_ref / dt, **spiking) if pop.kind == "spiking" else I(r=g_ref / dt)

    def _decay_range(self, pop: Population, decay: np.ndarray, what: str) -> bool:
        """True for a leak (every decay in [0, 1)), False for none (all exactly 1)."""
        if np.all(decay == 1.0):
            return False
        if np.all((decay >= 0) & (decay < 1)):
            return True
        raise self.ctx.refuse(f"the {what} decays by factors in [{decay.min():g}, {decay.max():g}]; snnc needs "
                              f"0 <= β < 1 for every neuron (or β = 1 for all: no leak)", pop.origin)

