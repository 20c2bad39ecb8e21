"""Accept a recognised neuron only if it reproduces the exported arithmetic.

The population's own state updates (the polynomials of the exported tick, evaluated
numerically from zero state) and the interpreter's step function for the op built from
them are run side by side on random drives, in float64. Spikes must agree on every tick
and sample; a leaky integrator's membrane within 1e-9 of its scale. Both sides start from
zero state, so this also checks the exporter's initial state against snnc's (e.g. a
snnTorch delayed reset with a negative threshold fires at tick 0; snnc's cannot).
"""
from __future__ import annotations

import numpy as np

from snnc.frontends.dynamics.poly import Context, Poly
from snnc.frontends.dynamics.recognise import Population, Tick
from snnc.ir.op import Op

TICKS = 48
# drives as (mean, spread) in units of the drive that holds the membrane at its threshold:
# near threshold, well above and below it, and around zero
LEVELS = ((1.0, 2.0), (1.0, 6.0), (0.0, 3.0), (0.0, 20.0))


def validate(tick: Tick, pop: Population, op: Op, gains: dict[tuple, np.ndarray], dt: float,
             amplitude: np.ndarray) -> None:
    """Raise UnsupportedOpError unless `op` fed Σ gains[X]·X reproduces `pop`'s updates.

    `gains` maps each drive variable X (as it appears in the exported polynomials) to its
    per-sample gain into the op's input port; `amplitude` is the drive (per element) that
    holds the membrane at its threshold.
    """
    from snnc.interp.kernel import Context as RunContext, stepper_for

    ctx = tick.ctx
    updates = {name: tick.state_out[name] for name in pop.states}
    atoms = sorted(({pop.atom} if pop.atom is not None else set()) | pop.prev_atoms)
    batch = _batch(ctx, updates, atoms, len(pop.shape))
    rng = np.random.default_rng(0)
    for center, spread in LEVELS:
        stepper = stepper_for(op)(op, RunContext(dt=dt, method="euler"), batch, pop.origin)
        state = {("state", n): np.zeros((batch, *pop.shape)) for n in pop.states}
        for t in range(TICKS):
            values = dict(state)
            for x in gains:
                noise = rng.uniform(-1.0, 1.0, (batch, *pop.shape))
                values[x] = (center + spread * noise) * amplitude / len(gains)
            for a in atoms:
                values[("atom", a)] = (ctx.atoms[a].poly.evaluate(values) > 0).astype(np.float64)
            x_in = sum(g * values[x] for x, g in gains.items())
            got = stepper.step({"input": np.broadcast_to(x_in, (batch, *pop.shape))})["output"]
            want = _observed(pop, updates, values)
            if not _agree(pop, got, want):
                raise ctx.refuse(_mismatch(pop, op, t, got, want), pop.origin)
            for n, p in updates.items():
                state[("state", n)] = np.broadcast_to(p.evaluate(values), (batch, *pop.shape))


def _observed(pop: Population, updates: dict[str, Poly], values) -> np.ndarray:
    if pop.atom is not None:
        return values[("atom", pop.atom)]
    return updates[pop.membrane].evaluate(values)


def _agree(pop: Population, got: np.ndarray, want: np.ndarray) -> bool:
    got, want = np.broadcast_arrays(got, want)
    if pop.atom is not None:
        return bool(np.array_equal(got != 0, want != 0))
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1.0)
    return bool(np.max(np.abs(got - want), initial=0.0) <= 1e-9 * scale)


def _mismatch(pop, op, t, got, want) -> str:
    what = f"{op.name}" + (f" (reset {op.reset_mode}, {op.reset_timing})" if hasattr(op, "reset_mode") else "")
    diff = int(np.sum(np.broadcast_arrays(got, want)[0] != np.broadcast_arrays(got, want)[1]))
    return (f"the update reads as {what}, but that neuron differs from the exported arithmetic at tick {t} "
            f"({diff} values differ); snnc cannot represent this neuron exactly")


def _batch(ctx: Context, updates: dict[str, Poly], atoms: list[int], rank: int) -> int:
    """A batch size that every coefficient's own batch axis (if any) broadcasts against."""
    sizes = {1}
    polys = list(updates.values()) + [ctx.atoms[a].poly for a in atoms]
    for p in polys:
        for c in p.terms.values():
            if c.ndim == rank + 1:
                sizes.add(c.shape[0])
    big = max(sizes)
    return big if big > 1 else 4
