"""Which framework wrote a NIR file, read from what the file shows, and what that implies.

NIR stores no dt and no reset rule; each exporter leaves fingerprints instead. A
fingerprint is a small function over the file's nodes that returns a `Provenance` (the
framework, the evidence, and the semantics its own simulator gives the file) or None.
They are tried in order; the first that matches wins. snnc-written files carry their
semantics in metadata and are never fingerprinted.

| framework | evidence in the file | implied |
|---|---|---|
| snnTorch (`snntorch.export_to_nir`, 1.0) | every neuron a LIF or CubaLIF with r = τ_mem/dt and w_in = τ_syn/dt at dt = 1e-4 s, v_leak = 0, v_reset = 0 | dt = 1e-4, euler; snnTorch's default reset (`reset_mechanism="subtract"`, `reset_delay=True`): subtract, next_step |
| sinabs (`sinabs.to_nir`) | a SumPool2d, or a Flatten whose stored input type is [0, 0, 0, 0]; every neuron an IF, LIF or LI with r = 1, v_leak = 0 | dt = 1 (sinabs counts time in ticks: IF v += x, LIF α = exp(−1/τ)), exact; MembraneSubtract: subtract, immediate; Flatten dims as torch's, counting the batch axis (sinabs writes `nn.Flatten`'s own) |
| Norse (`norse.torch.to_nir`) | every neuron has r = 1 and time constants below 1e-4 s (Norse writes τ = dt/τ_inv), and a CubaLIF (LIFCell) with w_in = 1 is among them | Norse resets as NIR means (to v_reset, immediately): nothing changes |
| Spyx (`spyx.nir.to_nir`) | Haiku layer keys (`linear`, `LIF_1`, ...) and r = β = 1 − dt/τ on every leaky neuron | announced only: such files hold Haiku's [N_in, N_out] weights and r = β, which no NIR reader reads back (`snnc.frontends.jax.load_spyx_nir` reads NIR files for Spyx's neurons) |

Everything a framework cannot show (snnTorch's `reset_mechanism="zero"`, sinabs's
MultiSpike) is said in the announcement, with the option that overrides it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import nir
import numpy as np

SNNTORCH_DT = 1e-4       # snntorch/export_nir.py writes every neuron at this dt
_RTOL = 1e-5             # exporters compute in float32


@dataclass(frozen=True)
class Provenance:
    framework: str
    evidence: str
    dt: float | None = None                       # the dt its simulator uses, when the file implies one
    method: str | None = None
    neuron_fields: tuple[tuple[str, str], ...] = ()   # op field -> value for every neuron that has it
    rule: str = ""          # the framework's reset rule, in its own words
    override: str = ""      # what the file cannot show, and the option that says it
    dt_words: str = ""      # why `dt`
    flatten_dims: str | None = None               # how its Flatten dims count, when not per sample


def detect(nodes: list) -> Provenance | None:
    """The first fingerprint that matches `nodes` (NIR node objects with their keys), or None."""
    for fingerprint in FINGERPRINTS:
        found = fingerprint(nodes)
        if found is not None:
            return found
    return None


def _neurons(nodes) -> list:
    return [(k, n) for k, n in nodes if isinstance(n, (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI, nir.I))]


def _all(value, want) -> bool:
    a = np.asarray(value, dtype=np.float64)
    b = np.asarray(want, dtype=np.float64)
    with np.errstate(all="ignore"):
        return bool(a.size and np.all(np.isfinite(a)) and np.allclose(a, b, rtol=_RTOL, atol=0))


def _zero(value) -> bool:
    return bool(np.all(np.asarray(value, dtype=np.float64) == 0))


def _snntorch(nodes) -> Provenance | None:
    neurons = _neurons(nodes)
    if not neurons:
        return None
    for _, n in neurons:
        if isinstance(n, nir.LIF):
            ok = _all(n.r, np.asarray(n.tau, np.float64) / SNNTORCH_DT)
        elif isinstance(n, nir.CubaLIF):
            ok = (_all(n.r, np.asarray(n.tau_mem, np.float64) / SNNTORCH_DT)
                  and _all(n.w_in, np.asarray(n.tau_syn, np.float64) / SNNTORCH_DT))
        else:
            return None
        if not (ok and _zero(n.v_leak) and _zero(n.v_reset)):
            return None
    return Provenance(
        "snnTorch", f"LIF/CubaLIF neurons with r = tau/dt at dt = {SNNTORCH_DT:g} s and v_leak = v_reset = 0, "
                    f"as snntorch.export_to_nir writes them",
        dt=SNNTORCH_DT, method="euler", dt_words="snnTorch's export dt",
        neuron_fields=(("reset_mode", "subtract"), ("reset_timing", "next_step")),
        rule="snnTorch's default reset (reset_mechanism='subtract', reset_delay=True)",
        override="for reset_mechanism='zero' pass --reset-mode value (with reset_delay=False also "
                 "--reset-timing immediate)")


def _sinabs(nodes) -> Provenance | None:
    neurons = _neurons(nodes)
    pooled = any(isinstance(n, nir.SumPool2d) for _, n in nodes)
    zero_flatten = any(isinstance(n, nir.Flatten) and _stored_zero_shape(n) for _, n in nodes)
    if not neurons or not (pooled or zero_flatten):
        return None
    for _, n in neurons:
        if not isinstance(n, (nir.IF, nir.LIF, nir.LI)) or not _all(n.r, 1.0):
            return None
        if not _zero(getattr(n, "v_leak", 0.0)):
            return None
    shown = "a SumPool2d" if pooled else "a Flatten with stored input type [0, 0, 0, 0]"
    return Provenance(
        "sinabs", f"{shown}, IF/LIF/LI neurons with r = 1 and v_leak = 0, as sinabs.to_nir writes them",
        dt=1.0, method="exact", dt_words="sinabs counts time in ticks", flatten_dims="batch",
        neuron_fields=(("reset_mode", "subtract"), ("reset_timing", "immediate")),
        rule="sinabs's MembraneSubtract reset with one spike per tick (SingleSpike; sinabs's default "
             "MultiSpike, several spikes per tick, has no snnc equivalent) and torch's Flatten dims, which "
             "count the batch axis",
        override="for another reset pass --reset-mode and --reset-timing, for per-sample Flatten dims "
                 "--load-option flatten_dims=sample")


def _stored_zero_shape(node) -> bool:
    shape = (node.input_type or {}).get("input") if isinstance(node.input_type, dict) else None
    a = np.asarray(shape) if shape is not None else np.zeros(0)
    return a.size > 0 and a.dtype.kind in "iuf" and bool(np.all(a == 0))


NORSE_TAU = 1e-4        # norse.torch.to_nir writes τ = dt/τ_inv (dt · τ): below this for any usual dt and τ


def _norse(nodes) -> Provenance | None:
    neurons = _neurons(nodes)
    if not neurons or not all(_all(n.r, 1.0) for _, n in neurons if hasattr(n, "r")):
        return None
    if not any(isinstance(n, nir.CubaLIF) and _all(n.w_in, 1.0) for _, n in neurons):
        return None
    taus = [np.asarray(getattr(n, f), np.float64) for _, n in neurons for f in ("tau", "tau_mem", "tau_syn")
            if hasattr(n, f)]
    if not taus or not all(t.size and np.all(t > 0) and np.all(t < NORSE_TAU) for t in taus):
        return None
    return Provenance(
        "Norse", f"neurons with r = 1 and time constants below {NORSE_TAU:g} s (Norse writes dt/tau_inv), a "
                 f"CubaLIF with w_in = 1 (a LIFCell) among them, as norse.torch.to_nir writes them",
        rule="Norse resets as NIR means (to v_reset, immediately); its time constants are read as written, "
             "as Norse's own from_nir reads them",
        override="pass --reset-mode/--reset-timing for another rule")


_HAIKU_KEY = re.compile(r"(linear|LIF|CuBaLIF|IF|LI|conv2_d)(_\d+)?\Z")


def _spyx(nodes) -> Provenance | None:
    leaky = [(k, n) for k, n in _neurons(nodes) if isinstance(n, (nir.LIF, nir.LI, nir.CubaLIF))]
    keys = [k for k, n in nodes if not isinstance(n, (nir.Input, nir.Output))]
    if not leaky or not all(_HAIKU_KEY.match(k.rsplit(".", 1)[-1]) for k in keys):
        return None
    dts = []
    for _, n in leaky:
        tau = np.asarray(n.tau_mem if isinstance(n, nir.CubaLIF) else n.tau, np.float64)
        r = np.asarray(n.r, np.float64)
        with np.errstate(all="ignore"):
            dts.append(np.broadcast_to(tau * (1 - r), np.broadcast_shapes(tau.shape, r.shape)).ravel())
    dt = np.concatenate(dts)
    if not (dt.size and np.all(np.isfinite(dt)) and np.all(dt > 0) and np.allclose(dt, dt[0], rtol=1e-4)):
        return None
    return Provenance(
        "Spyx", f"Haiku layer keys and r = beta = 1 - dt/tau (dt = {float(dt[0]):.6g} s) on every leaky "
                f"neuron, as spyx.nir.to_nir writes them",
        rule="NIR's meaning (spyx.nir.to_nir stores Haiku's [N_in, N_out] weights and r = beta, which no "
             "NIR reader reads back)",
        override="snnc.frontends.jax.load_spyx_nir reads a NIR file as Spyx's neurons run it")


FINGERPRINTS: tuple[Callable[[list], Provenance | None], ...] = (_snntorch, _sinabs, _norse, _spyx)


# -- what was assumed, said once ---------------------------------------------------------------------
_RESET_FIELDS = ("reset_mode", "reset_timing")


def announce_guesses(where: str, found: Provenance | None, graph, *, dt_given: bool, dt_words: str,
                     overridden: set[str]) -> None:
    """Announce (`snnc.errors.announce`) each value the file did not say, once: dt and method,
    and the neurons' reset rule; `overridden` holds the op fields the caller set."""
    from snnc.errors import announce
    if not dt_given:
        announce(f"{where}: NIR stores no dt; assuming dt = {graph.dt:g} s ({dt_words}) and method "
                 f"{graph.method} (pass --dt, or load(..., dt=...), to override)")
    spiking = any(hasattr(n.op, "reset_mode") for n in graph.nodes.values())
    unsaid = [f for f in _RESET_FIELDS if f not in overridden]
    if found is not None:
        applied = [f"{k}={v}" for k, v in found.neuron_fields if k in unsaid] if spiking else []
        if applied:
            rule = (f"; assuming {found.rule}: {', '.join(applied)}; {found.override}, or load(..., "
                    f"reset_mode=..., reset_timing=...)")
        else:
            rule = f"; {found.rule}; {found.override}" if spiking and unsaid else ""
        announce(f"{where}: written by {found.framework} ({found.evidence}){rule}")
    elif spiking and unsaid:
        announce(f"{where}: the file does not show which framework wrote it; assuming NIR's reset rule: "
                 f"reset_mode=value (to v_reset), reset_timing=immediate (pass --reset-mode/--reset-timing, "
                 f"or load(..., reset_mode=..., reset_timing=...), to override)")


def dt_source(found: Provenance | None, inferred: float | None) -> tuple[float | None, str, str]:
    """(dt, or None for the default; the metadata `dt_source` value; the words of the announcement)."""
    if found is not None and found.dt is not None:
        return found.dt, f"{found.framework}: {found.dt_words}", found.dt_words
    if inferred is not None:
        return inferred, "inferred from r = tau/dt", "inferred from r = tau/dt on every leaky neuron"
    return None, "default (NIR stores no dt)", "snnc's default"
