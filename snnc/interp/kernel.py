"""The step-function registry: one `Stepper` class per op class, for every dialect.

A Stepper is built once per run for one node (`Stepper(op, ctx, batch)`), owns that node's
state for the whole run, and advances it one tick per `step` call. Inputs and outputs are
dicts from port name to arrays of shape [B, *port_shape]. Backends register steppers for
their own ops with the same decorator; the engine never branches on op types.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.errors import SimulationError
from snnc.ir.op import Op

METHODS = ("euler", "exact")


@dataclass(frozen=True)
class Context:
    """What every stepper may read: the graph's time step and method, and run options.

    `strict` makes integer steppers raise on overflow instead of wrapping or saturating;
    `seed` seeds every stochastic stepper (each derives its own stream from it and its node).
    `instances` is the number of chip instances run at once: the batch then holds that many
    groups of equal size, instance-major (sample b of instance i at row i · B + b), and a
    stepper that models per-chip variation draws it once per group (instance i of seed s
    is the same chip in every run). Deterministic steppers ignore it.

    A run may hold a slice of a larger one (`snnc.interp.parallel` splits the batch and the
    chip instances over workers): `first_instance` numbers the instances held, and the
    samples of each instance are rows `batch_start` … `batch_start + B − 1` of `batch_total`.
    A stepper whose draws depend on the batch draws for `batch_total` rows and keeps its own,
    so every sample sees the same numbers however the run is split.
    `jit` lets fused steppers use compiled kernels where installed (`snnc.interp.jit`).
    """

    dt: float
    method: str = "euler"
    strict: bool = False
    seed: int = 0
    instances: int = 1
    first_instance: int = 0
    batch_start: int = 0
    batch_total: int | None = None
    jit: bool = True

    def whole_rows(self, batch: int) -> tuple[int, np.ndarray | None]:
        """(rows of the whole run, this run's rows among them) for a stepper whose random draws
        span the batch: it draws for every row of the whole run, instance-major, and keeps
        these. The second item is None when this run is the whole run."""
        per = batch // max(self.instances, 1)
        total = per if self.batch_total is None else self.batch_total
        if total == per and self.batch_start == 0:
            return batch, None
        rows = (np.arange(self.instances)[:, None] * total + self.batch_start + np.arange(per)).reshape(-1)
        return self.instances * total, rows

    def decay(self, tau: np.ndarray) -> np.ndarray:
        """α(τ): 1 − dt/τ for euler, exp(−dt/τ) for exact (ir_spec/SPEC.md, Discretisation)."""
        tau = np.asarray(tau, dtype=np.float64)
        if self.method == "euler":
            return 1.0 - self.dt / tau
        if self.method == "exact":
            return np.exp(-self.dt / tau)
        raise SimulationError(f"unknown integration method {self.method!r} (expected one of {', '.join(METHODS)})")

    def ticks(self, seconds, what: str) -> np.ndarray:
        """Convert a duration to whole ticks; raise if it is not a whole number of ticks."""
        seconds = np.asarray(seconds, dtype=np.float64)
        n = seconds / self.dt
        r = np.rint(n)
        off = np.abs(n - r) > 1e-9 * np.maximum(1.0, np.abs(n))
        if np.any(off):
            bad = float(seconds[off].flat[0]) if seconds.ndim else float(seconds)
            raise SimulationError(f"{what} of {bad:g} s is not a whole number of ticks at dt = {self.dt:g} s "
                                  f"({bad / self.dt:g} ticks)")
        return r.astype(np.int64)


class Stepper:
    """One node's state and its per-tick update. Subclasses register with `register_stepper`.

    `step` must neither modify the arrays it receives nor modify an array after returning
    it: the engine hands one node's output to many consumers and keeps it for the next
    tick's recurrent edges. Build new arrays (or copy out of internal buffers) instead.
    """

    def __init__(self, op: Op, ctx: Context, batch: int, node: str = ""):
        self.op, self.ctx, self.batch, self.node = op, ctx, batch, node

    def step(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    # A delayed op (`Op.delayed`: its output at tick t depends only on inputs before t) is
    # run by the engine in two phases per tick instead of `step`: `emit()` before any other
    # node runs, giving the outputs of tick t from state alone, then `absorb(inputs)` after
    # every other node has run, taking the inputs of tick t. `step(inputs)` of such a
    # stepper is `emit()` followed by `absorb(inputs)` (see `DelayedStepper`).
    def emit(self) -> dict[str, np.ndarray]:
        raise NotImplementedError(f"{type(self).__name__} is not the stepper of a delayed op")

    def absorb(self, inputs: dict[str, np.ndarray]) -> None:
        raise NotImplementedError(f"{type(self).__name__} is not the stepper of a delayed op")

    def state(self) -> dict[str, np.ndarray]:
        """The current state variables by name (for probes and divergence reports)."""
        return {}


class DelayedStepper(Stepper):
    """Base of the steppers of delayed ops: subclasses implement `emit` and `absorb`."""

    def step(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.emit()
        self.absorb(inputs)
        return out


STEPPERS: dict[type[Op], type[Stepper]] = {}


def register_stepper(op_cls: type[Op]):
    """Class decorator: the decorated Stepper runs every node whose op is `op_cls`."""
    def deco(cls: type[Stepper]) -> type[Stepper]:
        if op_cls in STEPPERS:
            raise TypeError(f"a stepper for {op_cls.name} is registered twice")
        STEPPERS[op_cls] = cls
        return cls
    return deco


def stepper_for(op: Op) -> type[Stepper]:
    """The registered Stepper class for `op`, after loading every dialect's steppers."""
    _load_steppers()
    try:
        return STEPPERS[type(op)]
    except KeyError:
        raise SimulationError(f"the interpreter has no step function for op {op.name}") from None


def _load_steppers() -> None:
    import snnc.interp.ann  # noqa: F401  (ANN activations)
    import snnc.interp.snn  # noqa: F401  (the source dialect's steppers)
    from snnc.backend import load_backends
    load_backends()                                     # each family registers its step functions
