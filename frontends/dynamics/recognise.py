"""The dynamics recogniser: from one tick's polynomials to neuron populations.

Given a StepFunction evaluated symbolically (`poly.evaluate`), each population of neurons
is found from what every framework's per-tick arithmetic has in common:

1. A comparison z = [p > 0] is a spike when some state's end-of-tick value, with z set to
   0, differs from p by a constant: that state is the membrane m, the constant is the
   threshold θ, and V = p + θ is the integrated membrane v~[t]. A comparison that reads
   no state is a stateless `snn.threshold`; one that reads only the previous membrane,
   [c(m − θ) > 0], is the previous spike (step 2); any other is refused.
2. Other states of the population are rewritten in the membrane's terms: a state whose
   value is κ·z holds the previous spike (z[t−1] = Z); a state whose value is a·m' + b is
   an affine copy of the membrane; a comparison on the previous membrane, [c(m − θ) > 0]
   with c > 0, is also Z. A state that decays on its own, is driven by inputs and feeds V
   is a synaptic current q.
3. The reset is read off the two places a reset can sit:
       m' = V + z·D        immediate:  D = −θ (subtract) or D = v_r − V (to value v_r)
       V  = V0 + Z·V1      next step:  V1 = −θ (subtract), V1 = β(v_r − m) (integrate
                           from v_r), or V1 = −V0 (the tick after a spike is zeroed:
                           immediate reset to 0 plus one refractory tick)
4. V0 = β m + Σ g_X X + c (+ h·q' for a current q' = α q + Σ g_X X) gives the op:
   β = 1 → IF (r = g/dt), 0 ≤ β < 1 → LIF with τ = dt/(1 − β), r = g/(1 − β),
   v_leak = c/(1 − β), so that α(τ) = β and the input gain (1 − α) r is exactly g.
   A current adds τ_syn = dt/(1 − α) and w_in = g/(1 − α), and `current_timing` is
   same_tick when V reads q' (snnTorch Synaptic, Norse LIFCell), next_tick when it
   reads q.
5. States no comparison claims are leaky integrators (LI, CubaLI, I) when their value is
   β m + Σ g_X X + c.

The drive Σ g_X X is kept as a polynomial over signals (inputs, layer outputs, spikes of
other populations, previous spikes); `assemble` turns it into edges. Every population is
then run against the interpreter's own step (`check.py`) before it is accepted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.frontends.dynamics.poly import Context, Poly, close

Var = tuple


@dataclass
class Population:
    """One neuron population (or one stateless threshold) found in a tick."""

    index: int
    kind: str                          # "spiking", "leaky" (LI/CubaLI/I) or "threshold"
    origin: str                        # the node that computes its spike (or its membrane)
    shape: tuple[int, ...]
    membrane: str | None = None        # state name of the membrane
    atom: int | None = None            # fresh comparison (spiking, threshold)
    current: str | None = None         # state name of the synaptic current
    beta: np.ndarray | None = None
    alpha: np.ndarray | None = None
    h: np.ndarray | None = None        # gain of the current into V
    c: np.ndarray | None = None        # constant drive into V
    theta: np.ndarray | None = None
    drive: Poly = field(default_factory=Poly)   # Σ g_X X: into V, or into q' with a current
    reset_mode: str = "none"
    reset_timing: str = "immediate"
    v_reset: np.ndarray | None = None
    refractory_ticks: int = 0
    current_timing: str = "same_tick"
    spike_states: dict[str, np.ndarray] = field(default_factory=dict)   # state -> κ (holds κ·z)
    prev_atoms: set[int] = field(default_factory=set)
    states: set[str] = field(default_factory=set)                       # every state it owns
    membrane_out: Poly | None = None   # the membrane's end-of-tick value (leaky populations)
    q_out: Poly | None = None          # the current's end-of-tick value

    @property
    def zvar(self) -> Var:
        return ("zprev", self.index)


@dataclass
class Tick:
    """A tick evaluated symbolically: state-out and output polynomials, and the context."""

    ctx: Context
    state_out: dict[str, Poly]
    outputs: dict[str, Poly]
    state_origin: dict[str, str]       # state -> the node that computes its end-of-tick value


def live_vars(tick: Tick) -> tuple[set[int], set[int], set[str]]:
    """(layer ids, atom ids, state names) that the tick's outputs depend on, through any
    number of ticks (a state is live when a live value reads it)."""
    layers, atoms, states = set(), set(), set()
    todo = list(tick.outputs.values())
    while todo:
        p = todo.pop()
        for kind, key in p.variables():
            if kind == "layer" and key not in layers:
                layers.add(key)
                todo.append(tick.ctx.layers[key].arg)
            elif kind == "atom" and key not in atoms:
                atoms.add(key)
                todo.append(tick.ctx.atoms[key].poly)
            elif kind == "state" and key not in states and key in tick.state_out:
                states.add(key)
                todo.append(tick.state_out[key])
    return layers, atoms, states


def find_populations(tick: Tick, shapes: dict[str, tuple[int, ...] | None],
                     atom_shapes: dict[int, tuple[int, ...] | None]) -> list[Population]:
    """Every population in the tick; raises UnsupportedOpError for what no snnc neuron does.
    `shapes` gives each state's per-sample shape, `atom_shapes` each comparison's."""
    ctx = tick.ctx
    _, live_atoms, live_states = live_vars(tick)
    live = Tick(ctx, {k: v for k, v in tick.state_out.items() if k in live_states}, tick.outputs,
                tick.state_origin)
    pops: list[Population] = []
    claimed: set[str] = set()
    explained: set[int] = set()
    for a in sorted(live_atoms):
        if a in explained:
            continue
        pop = _spiking(tick, a, claimed, len(pops), shapes, atom_shapes)
        if pop is not None:
            claimed |= pop.states
            explained |= {a} | pop.prev_atoms
            pops.append(pop)
    for a in sorted(live_atoms - explained):
        atom = ctx.atoms[a]
        raise ctx.refuse(f"the comparison {atom.poly!r} > 0 is neither a spike (no state holds the membrane it "
                         f"compares) nor a test of a previous spike", atom.origin)
    for name in live.state_out:
        if name not in claimed:
            pop = _leaky(live, name, claimed, len(pops), shapes)
            if pop is not None:
                claimed |= pop.states
                pops.append(pop)
    for name in live.state_out:
        if name not in claimed:
            raise ctx.refuse(f"state '{name}' is updated as {tick.state_out[name]!r}, which follows no neuron "
                             f"model snnc knows (LIF, IF, LI, I, CubaLIF, CubaLI)", tick.state_origin[name])
    return pops


def _is_fresh(ctx: Context, atom: int) -> bool:
    """Whether comparison `atom` depends on this tick's inputs (not only on previous state)."""
    for kind, key in ctx.atoms[atom].poly.variables():
        if kind in ("in", "layer") or (kind == "atom" and _is_fresh(ctx, key)):
            return True
    return False


def _zero(p: Poly, atom: int) -> Poly:
    return p.substitute({("atom", atom): Poly()})


def _spiking(tick: Tick, a: int, claimed: set[str], index: int, shapes, atom_shapes) -> Population | None:
    ctx = tick.ctx
    atom = ctx.atoms[a]
    p = atom.poly
    cands = []
    for name, out in tick.state_out.items():
        if name in claimed:
            continue
        diff = _zero(out, a) - p
        if diff.is_const:
            decays_itself = (("state", name),) in p.terms
            cands.append((0 if decays_itself else 1, name, diff.constant()))
    if not cands:
        if any(k == "state" for k, _ in p.variables()):
            return None               # a test of a previous spike, or unexplained (reported by the caller)
        return Population(index, "threshold", atom.origin, atom_shapes[a] or (), atom=a,
                          drive=p - Poly.const(p.constant()), c=p.constant())
    cands.sort(key=lambda c: c[0])
    _, m, theta = cands[0]
    pop = Population(index, "spiking", atom.origin, shapes[m] or atom_shapes[a] or (),
                     membrane=m, atom=a, theta=theta, states={m})
    _claim_related(tick, pop, claimed, p)
    table = _canonical_table(tick, pop)
    v_tilde = p.substitute(table) + Poly.const(theta)
    m_out = tick.state_out[m].substitute(table)
    _read_reset(ctx, pop, v_tilde, m_out)
    return pop


def _claim_related(tick: Tick, pop: Population, claimed: set[str], p: Poly) -> None:
    """Spike copies, affine copies of the membrane and a synaptic current of `pop`."""
    m_out = tick.state_out[pop.membrane]
    z = ("atom", pop.atom)
    for name, out in tick.state_out.items():
        if name in claimed or name in pop.states:
            continue
        if set(out.terms) == {(z,)}:
            pop.spike_states[name] = out.terms[(z,)]
            pop.states.add(name)
        elif _affine_in(out, m_out) is not None:
            pop.states.add(name)
    for name, out in tick.state_out.items():
        if name in claimed or name in pop.states or pop.current is not None:
            continue
        s = ("state", name)
        state_vars = {v for v in out.variables() if v[0] in ("state", "atom", "zprev")}
        if s in p.variables() and state_vars == {s}:
            pop.current, pop.q_out = name, out
            pop.states.add(name)


def _affine_in(out: Poly, ref: Poly) -> tuple[np.ndarray, np.ndarray] | None:
    """(a, b) with out = a·ref + b, or None."""
    monos = [mono for mono in ref.terms if mono != ()]
    if not monos or monos[0] not in out.terms:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        a = out.terms[monos[0]] / ref.terms[monos[0]]
    if not np.all(np.isfinite(a)):
        return None
    rest = out - ref.scale(a)
    return (a, rest.constant()) if rest.is_const and close(out, ref.scale(a) + Poly.const(rest.constant())) else None


def _canonical_table(tick: Tick, pop: Population) -> dict:
    """Substitutions that rewrite the population's other states and previous comparisons
    in terms of the membrane m, the current q and the previous spike Z."""
    ctx = tick.ctx
    m_out = tick.state_out[pop.membrane]
    zp = Poly.var(pop.zvar)
    table = {}
    for name in pop.states - {pop.membrane, pop.current}:
        if name in pop.spike_states:
            table[("state", name)] = zp.scale(pop.spike_states[name])
        else:
            a, b = _affine_in(tick.state_out[name], m_out)
            table[("state", name)] = Poly.var(("state", pop.membrane)).scale(a) + Poly.const(b)
    want = Poly.var(("state", pop.membrane)) - Poly.const(pop.theta)
    for key, atom in enumerate(ctx.atoms):
        if key == pop.atom or _is_fresh(ctx, key):
            continue
        d = atom.poly.substitute(table)
        owns = {v[1] for v in d.variables() if v[0] == "state"}
        if pop.membrane not in owns:
            continue
        c = d.coeff((("state", pop.membrane),))
        if owns == {pop.membrane} and np.all(c > 0) and close(d, want.scale(c)):
            table[("atom", key)] = zp
            pop.prev_atoms.add(key)
    return table


def _read_reset(ctx: Context, pop: Population, v_tilde: Poly, m_out: Poly) -> None:
    """Fill the reset, decay, current and drive of a spiking population from V and m'."""
    z, zv, m = ("atom", pop.atom), pop.zvar, ("state", pop.membrane)
    theta = Poly.const(pop.theta)
    rest, d1 = (m_out - v_tilde).split(z)
    if rest.terms:
        raise ctx.refuse(f"the membrane's new value {m_out!r} is not its integrated value {v_tilde!r} "
                         f"plus a reset on the spike", pop.origin)
    v0, v1 = v_tilde.split(zv)
    beta = v0.coeff((m,))
    if d1.terms and v1.terms:
        raise ctx.refuse("the membrane is reset both in the spiking tick and in the next one", pop.origin)
    if d1.terms:
        pop.reset_timing = "immediate"
        if close(d1, -theta):
            pop.reset_mode = "subtract"
        elif (d1 + v_tilde).is_const:
            pop.reset_mode, pop.v_reset = "value", (d1 + v_tilde).constant()
        else:
            raise ctx.refuse(f"the reset on a spike adds {d1!r} to the membrane; snnc resets to a value "
                             f"or subtracts the threshold", pop.origin)
    elif v1.terms:
        if close(v1, -theta):
            pop.reset_mode, pop.reset_timing = "subtract", "next_step"
        elif close(v1 + v0, Poly()):
            pop.reset_mode, pop.reset_timing = "value", "immediate"
            pop.v_reset, pop.refractory_ticks = np.zeros_like(pop.theta), 1
        elif (v1 + Poly.var(m).scale(beta)).is_const and np.all(beta != 0):
            pop.reset_mode, pop.reset_timing = "value", "next_step"
            pop.v_reset = (v1 + Poly.var(m).scale(beta)).constant() / beta
        else:
            raise ctx.refuse(f"the previous spike changes the membrane by {v1!r}; snnc resets to a value "
                             f"or subtracts the threshold", pop.origin)
    _read_drive(ctx, pop, v0, m, {m, zv})


def _read_drive(ctx: Context, pop: Population, v0: Poly, m: Var, own: set) -> None:
    """Split V0 = β m + h·q' + c + drive (or h·q) into the population's parameters."""
    pop.beta = v0.coeff((m,))
    pop.c = v0.constant()
    rest = v0 - Poly.var(m).scale(pop.beta) - Poly.const(pop.c)
    if pop.current is None:
        pop.drive = rest
    else:
        q = ("state", pop.current)
        q_out = pop.q_out
        pop.alpha = q_out.coeff((q,))
        if np.any(q_out.constant() != 0):
            raise ctx.refuse(f"the synaptic current has a constant offset ({q_out!r})", pop.origin)
        if np.any(pop.alpha == 0):
            raise ctx.refuse(f"the synaptic current does not decay into itself ({q_out!r})", pop.origin)
        inputs = q_out - Poly.var(q).scale(pop.alpha)
        k = rest.coeff((q,))
        direct = rest - Poly.var(q).scale(k)
        h = k / pop.alpha
        if close(direct, inputs.scale(h)):
            pop.current_timing, pop.h = "same_tick", h
        elif not direct.terms:
            pop.current_timing, pop.h = "next_tick", k
        else:
            raise ctx.refuse(f"the membrane takes input both through the current and directly ({direct!r})",
                             pop.origin)
        pop.drive = inputs
    bad = {v for v in pop.drive.variables() if v in own or v[0] == "state" and v[1] in pop.states}
    if bad:
        raise ctx.refuse(f"the membrane update {v0!r} is not β·m + input + constant", pop.origin)


def _leaky(tick: Tick, name: str, claimed: set[str], index: int, shapes) -> Population | None:
    """A leaky integrator whose membrane is state `name`, or None if `name` is a current."""
    out = tick.state_out[name]
    m = ("state", name)
    others = {v[1] for v in out.variables() if v[0] == "state"} - {name}
    for other in list(tick.state_out):
        if other != name and other not in claimed and m in tick.state_out[other].variables():
            if {v[1] for v in out.variables() if v[0] == "state"} <= {name}:
                return None           # `name` feeds another state: it is that one's current
    pop = Population(index, "leaky", tick.state_origin[name], shapes[name] or (), membrane=name,
                     states={name}, membrane_out=out)
    if len(others) > 1 or (others and others & claimed):
        raise tick.ctx.refuse(f"state '{name}' is updated from several states ({sorted(others)})",
                              tick.state_origin[name])
    if others:
        (q,) = others
        pop.current, pop.q_out = q, tick.state_out[q]
        pop.states.add(q)
    _read_drive(tick.ctx, pop, out, m, {m})
    return pop
