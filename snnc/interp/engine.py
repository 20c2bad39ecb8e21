"""The interpreter engine: runs any verified Graph tick by tick, batched.

One tick (ir_spec/SPEC.md, "Order of work in a tick"):
  1. every graph input node emits the caller's value for this tick;
  2. every delayed node (`Op.delayed`) emits its output of this tick from its state;
  3. the other nodes run in `Graph.schedule()` order; each input port receives the sum of
     its incoming edges: same-tick edges give the source's value of this tick, recurrent
     edges the source's value of the previous tick (zeros at tick 0);
  4. every delayed node absorbs the sum arriving at its ports (same rule as in 3);
  5. every graph output node records the sum arriving at its port.

The work of a run is planned once (`snnc.interp.plan`): nodes are stepped in groups (a
backend's fuser may step many nodes as one, bit-exactly; `fuse=False` steps every node on
its own), every value lives in a numbered slot and every port's sum is a precomputed list
of slots, so a tick is a short loop over groups. Steppers never modify an array once
returned (see `Stepper`), so one tick's values are passed around and kept for the next
tick by reference, without copies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from snnc.errors import SimulationError
from snnc.interp.kernel import Context
from snnc.interp.plan import Plan, build_plan
from snnc.ir.graph import Graph


@dataclass
class RunResult:
    """Outputs by output-node name, [T, B, *shape]; `recorded` holds the same for probed nodes."""

    outputs: dict[str, np.ndarray]
    recorded: dict[str, np.ndarray] = field(default_factory=dict)


def run(graph: Graph, inputs: Mapping[str, np.ndarray], *, record: Iterable[str] = (),
        strict: bool = False, seed: int = 0, chip_instances: int = 1, fuse: bool = True, jit: bool = True,
        first_instance: int = 0, batch_window: tuple[int, int] | None = None) -> RunResult:
    """Run `graph` on time-major `inputs` ({input name: [T, B, *shape]}) and return every output.

    `record` names what to keep for every tick, [T, B, ...] in `RunResult.recorded` under
    the same name: a node name keeps the node's (first) output port, or the value arriving
    at an output node; ``node:var`` keeps the state variable `var` of the node's stepper
    (`Stepper.state()`, read at the end of each tick), e.g. ``lif1:v``.

    `chip_instances` N runs N chip instances of a stochastic device model side by side
    (`Context.instances`): every input is repeated N times along the batch, instance-major,
    so outputs and recordings are [T, N · B, ...] with instance i in rows i · B … i · B + B − 1.
    `first_instance` k numbers them k … k + N − 1 (chip instance k of a seed is the same
    chip whichever run holds it). `batch_window` (start, total) says that the B samples
    are rows start … start + B − 1 of a batch of `total` (`Context.batch_start`), so a
    stepper whose random draws span the batch draws as in the whole run (`snnc.interp.parallel`).

    `fuse=False` steps every node with its own stepper (the reference for the fused groups);
    `jit=False` keeps fused groups on numpy where numba is installed (same results).
    """
    if isinstance(chip_instances, bool) or not isinstance(chip_instances, (int, np.integer)) or chip_instances < 1:
        raise SimulationError(f"chip_instances must be an integer >= 1, got {chip_instances!r}")
    graph.verify()
    xs = _check_inputs(graph, inputs)
    T, per = next(iter(xs.values())).shape[:2] if xs else (0, 0)
    B = per * int(chip_instances)                  # every input repeated per instance, tick by tick
    start, total = _window(batch_window, per)
    ctx = Context(dt=graph.dt, method=graph.method, strict=strict, seed=seed, instances=int(chip_instances),
                  first_instance=int(first_instance), batch_start=start, batch_total=total, jit=jit)
    plan = build_plan(graph, ctx, B, record=tuple(record), fuse=fuse)
    return _run_plan(plan, graph, xs, T, B, int(chip_instances))


def _window(batch_window, per_instance: int) -> tuple[int, int]:
    if batch_window is None:
        return 0, per_instance
    start, total = (int(v) for v in batch_window)
    if start < 0 or start + per_instance > total:
        raise SimulationError(f"batch_window {list(batch_window)} does not hold {per_instance} samples from row "
                              f"{start} (need 0 <= start and start + B <= total)")
    return start, total


def _run_plan(plan: Plan, graph: Graph, xs: dict[str, np.ndarray], T: int, B: int, copies: int) -> RunResult:
    outs = {n: np.zeros((T, B, *graph.op(n).shape)) for n in graph.outputs}
    out_fetch = [(outs[n], f) for n, f in plan.output_fetch.items()]
    inputs = [(slot, xs[n], (copies,) + (1,) * (xs[n].ndim - 2)) for n, slot in plan.input_slots.items()]
    rec: dict[str, np.ndarray] = {}
    prev = plan.initial_prev()
    for t in range(T):
        now = [None] * plan.n_slots
        for slot, x, reps in inputs:
            now[slot] = x[t] if copies == 1 else np.tile(x[t], reps)
        group = None
        try:
            for group, slots in plan.delayed:
                for s, v in zip(slots, group.emit()):
                    now[s] = v
            for group, fetch, slots in plan.immediate:
                for s, v in zip(slots, group.step([f(now, prev) for f in fetch])):
                    now[s] = v
            for group, fetch in plan.absorbing:
                group.absorb([f(now, prev) for f in fetch])
        except Exception as exc:
            if hasattr(exc, "add_note") and group is not None:
                exc.add_note(f"while running {group.describe()} at tick {t}")
            raise
        for arr, f in out_fetch:
            arr[t] = f(now, prev)
        for label, read in plan.probes:
            v = np.asarray(read(now, outs, t))
            if label not in rec:
                rec[label] = np.zeros((T, *v.shape), dtype=v.dtype)
            rec[label][t] = v
        prev = now
    return RunResult(outs, rec)


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
