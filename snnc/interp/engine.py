"""The interpreter engine: runs any verified Graph tick by tick, batched.

One tick (ir_spec/SPEC.md, "Order of work in a tick"):
  1. every graph input node emits the caller's value for this tick;
  2. every delayed node (`Op.delayed`) emits its output of this tick from its state;
  3. the other nodes run in `Graph.schedule()` order; each input port receives the sum of
     its incoming edges: same-tick edges give the source's value of this tick, recurrent
     edges the source's value of the previous tick (zeros at tick 0);
  4. every delayed node absorbs the sum arriving at its ports (same rule as in 3);
  5. every graph output node records the sum arriving at its port.

Steppers never modify an array once returned (see `Stepper`), so one tick's values are
passed around and kept for the next tick by reference, without copies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from snnc.errors import SimulationError
from snnc.interp.kernel import Context, stepper_for
from snnc.ir.graph import Graph


@dataclass
class RunResult:
    """Outputs by output-node name, [T, B, *shape]; `recorded` holds the same for probed nodes."""

    outputs: dict[str, np.ndarray]
    recorded: dict[str, np.ndarray] = field(default_factory=dict)


def run(graph: Graph, inputs: Mapping[str, np.ndarray], *, record: Iterable[str] = (),
        strict: bool = False, seed: int = 0, chip_instances: int = 1) -> RunResult:
    """Run `graph` on time-major `inputs` ({input name: [T, B, *shape]}) and return every output.

    `record` names what to keep for every tick, [T, B, ...] in `RunResult.recorded` under
    the same name: a node name keeps the node's (first) output port, or the value arriving
    at an output node; ``node:var`` keeps the state variable `var` of the node's stepper
    (`Stepper.state()`, read at the end of each tick), e.g. ``lif1:v``.

    `chip_instances` N runs N chip instances of a stochastic device model side by side
    (`Context.instances`): every input is repeated N times along the batch, instance-major,
    so outputs and recordings are [T, N · B, ...] with instance i in rows i · B … i · B + B − 1.
    """
    if isinstance(chip_instances, bool) or not isinstance(chip_instances, (int, np.integer)) or chip_instances < 1:
        raise SimulationError(f"chip_instances must be an integer >= 1, got {chip_instances!r}")
    graph.verify()
    types = graph.types()
    xs = _check_inputs(graph, inputs)
    if chip_instances > 1:
        xs = {k: np.tile(v, (1, int(chip_instances)) + (1,) * (v.ndim - 2)) for k, v in xs.items()}
    T, B = next(iter(xs.values())).shape[:2] if xs else (0, 0)
    ctx = Context(dt=graph.dt, method=graph.method, strict=strict, seed=seed, instances=int(chip_instances))
    order = [n for n in graph.schedule() if n not in graph.inputs and n not in graph.outputs]
    steppers = {n: stepper_for(graph.op(n))(graph.op(n), ctx, B, n) for n in order}
    delayed = [n for n in order if graph.op(n).delayed]
    order = [n for n in order if not graph.op(n).delayed]
    fan_in = {n: _port_sources(graph, n) for n in graph.nodes}
    recurrent_srcs = {(e.src, e.src_port) for e in graph.edges if e.recurrent}
    probes = [_probe(graph, steppers, r) for r in record]

    prev = {k: np.zeros((B, *types[k].shape)) for k in recurrent_srcs}
    outs = {n: np.zeros((T, B, *graph.op(n).shape)) for n in graph.outputs}
    rec: dict[str, np.ndarray] = {}
    for t in range(T):
        now: dict[tuple[str, str], np.ndarray] = {(n, "output"): xs[n][t] for n in graph.inputs}
        try:
            for n in delayed:
                now.update(((n, port), val) for port, val in steppers[n].emit().items())
            for n in order:
                port_in = {p: _gather(srcs, now, prev) for p, srcs in fan_in[n].items()}
                for port, val in steppers[n].step(port_in).items():
                    now[(n, port)] = val
            for n in delayed:
                steppers[n].absorb({p: _gather(srcs, now, prev) for p, srcs in fan_in[n].items()})
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(f"while running node '{n}' ({graph.op(n).name}) at tick {t}")
            raise
        for n in graph.outputs:
            outs[n][t] = _gather(fan_in[n]["input"], now, prev)
        for label, read in probes:
            v = np.asarray(read(now, outs, t))
            if label not in rec:
                rec[label] = np.zeros((T, *v.shape), dtype=v.dtype)
            rec[label][t] = v
        for k in recurrent_srcs:
            prev[k] = now[k]
    return RunResult(outs, rec)


def _probe(graph: Graph, steppers, label: str):
    """(label, reader) for one `record` entry; the reader gives this tick's value."""
    node, _, var = label.partition(":")
    if node not in graph.nodes:
        raise SimulationError(f"cannot record '{label}': no node '{node}'")
    if not var:
        if node in graph.outputs:
            return label, lambda now, outs, t: outs[node][t]
        port = (node, graph.op(node).output_ports[0])
        return label, lambda now, outs, t: now[port]
    stepper = steppers.get(node)
    names = list(stepper.state()) if stepper is not None else []
    if var not in names:
        have = f"its state variables are {', '.join(names)}" if names else "it has no state variables"
        raise SimulationError(f"cannot record '{label}': node '{node}' ({graph.op(node).name}) has no "
                              f"state variable '{var}'; {have}")
    return label, lambda now, outs, t: stepper.state()[var]


def _port_sources(graph: Graph, name: str) -> dict[str, list[tuple[tuple[str, str], bool]]]:
    srcs: dict[str, list] = {p: [] for p in graph.op(name).input_ports}
    for e in graph.in_edges(name):
        srcs[e.dst_port].append(((e.src, e.src_port), e.recurrent))
    return srcs


def _gather(srcs, now, prev) -> np.ndarray:
    total = None
    for key, recurrent in srcs:
        v = prev[key] if recurrent else now[key]
        total = v if total is None else total + v
    return total


def _check_inputs(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = [n for n in graph.inputs if n not in inputs]
    extra = [n for n in inputs if n not in graph.inputs]
    if missing or extra:
        raise SimulationError(f"inputs must be exactly {list(graph.inputs)}; "
                              f"missing {missing}, unexpected {extra}")
    xs, lead = {}, None
    for n in graph.inputs:
        x = np.asarray(inputs[n])
        shape = tuple(graph.op(n).shape)
        if x.ndim != len(shape) + 2 or tuple(x.shape[2:]) != shape:
            raise SimulationError(f"input '{n}' has shape {list(x.shape)}, expected [T, B, "
                                  f"{', '.join(map(str, shape))}] (time-major)")
        if lead is not None and x.shape[:2] != lead:
            raise SimulationError(f"input '{n}' has T, B = {list(x.shape[:2])}, but another input has {list(lead)}")
        lead = x.shape[:2]
        xs[n] = x.astype(np.int64) if x.dtype.kind in "biu" else x.astype(np.float64)
    return xs
