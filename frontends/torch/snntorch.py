"""snnTorch neurons (1.0.0): Leaky, Synaptic, RLeaky, RSynaptic, Lapicque.

Discrete model (snnTorch's own forward, per tick, with z = H(mem − θ), H(0) = 0):

    Leaky      mem = β mem + x                         (then reset, see below)
    Synaptic   syn = α syn + x;  mem = β mem + syn
    RLeaky     mem = β mem + x + rec(spk[t−1])        (rec: Linear, Conv2d or V ⊙)
    RSynaptic  syn = α syn + x + rec(spk[t−1]);  mem = β mem + syn
    Lapicque   mem = (1 − ts/RC) mem + x R ts/RC

Mapping (graph dt, method euler): β = α(τ) = 1 − dt/τ, so τ = dt/(1 − β), and the input
gain (1 − β) r = 1 gives r = 1/(1 − β) (likewise τ_syn, w_in from α). β = 1 (no leak) on
Leaky/RLeaky maps to snn.if with r = 1/dt. Every parameter is read from the module
(after beta.clamp(0, 1)) at its own precision and stored as float64.

Reset, read from the forward each module really runs (its `state_function`, not only
`reset_mechanism`, which can be changed after construction without effect):

    reset_delay=True (default): the reset of tick t−1 applies while integrating tick t.
      subtract  -> reset_timing next_step, reset_mode subtract
      zero      Leaky: mem = β·0 + x -> next_step, value 0
                Synaptic, RLeaky, RSynaptic, Lapicque: the whole integrated value of the
                tick after a spike is zeroed (mem = 0, no spike) -> immediate, value 0, and
                one refractory tick (t_refrac = dt): identical spikes, the synaptic
                current keeps evolving as in snnTorch.
    reset_delay=False: snnTorch resets right after the spike by do_reset = spk/g − reset,
      where reset = H(mem[t−1] − θ) on the *already reset* membrane.
      zero      the reset membrane is 0 ≤ θ, so reset is always 0: immediate, value 0.
      subtract  when a tick ends with mem > θ after subtracting (it integrated above 2θ),
                the next tick tests mem − θ against θ; no snnc neuron does that, so it is
                refused.
      RSynaptic ignores reset_delay (its reset_delay=False block writes only local
                variables): it runs as reset_delay=True.
    none -> reset_mode none.

graded_spikes_factor g ≠ 1 adds a snn.scale(g) after the neuron (snnTorch returns g·z).
A neuron whose membrane, not spikes, the model reads (a readout `mem`) maps to snn.li /
snn.cuba_li when it does not reset.
"""
from __future__ import annotations

import numpy as np
import snntorch as snn
import torch

from snnc.ir.snn import IF, LI, LIF, Affine, Conv2d, CubaLI, CubaLIF, I, Linear, Scale

from snnc.frontends.torch.session import Converter, NeuronOutputs, Session, StateRef, Value, refuse


def _kind(m) -> str:
    return f"snntorch.{type(m).__name__}"


def _check_neuron(s: Session, m, path: str, shape) -> np.ndarray:
    """Refuse what no snnc neuron does; return the threshold θ."""
    kind = _kind(m)
    if m.inhibition:
        raise refuse(path, kind, "inhibition=True (only the largest membrane in the batch may spike) has "
                                 "no snnc equivalent")
    if m.state_quant:
        raise refuse(path, kind, "state_quant quantises the state in forward; import the float model")
    probe = torch.tensor([-1.0, -1e-30, 0.0, 1e-30, 1.0])
    with torch.no_grad():
        fired = m.spike_grad(probe)
    if not torch.equal(fired.detach().float(), torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0])):
        raise refuse(path, kind, "its spike_grad forward is not the Heaviside step H(mem − θ) (1 where > 0)")
    theta = s.per_neuron(m.threshold, shape, path, kind, "threshold")
    if np.any(theta < 0):
        raise refuse(path, kind, f"threshold < 0 (min {theta.min():g}): snnTorch's delayed reset then "
                                 f"fires on the zero initial membrane; snnc requires threshold >= 0")
    return theta


def _reset(s: Session, m, path: str) -> tuple[str, str, float]:
    """(reset_mode, reset_timing, t_refrac) of the forward this module really runs."""
    kind = _kind(m)
    base = m.state_function.__func__.__name__          # _base_sub / _base_zero / _base_int
    mechanism = {"_base_sub": "subtract", "_base_zero": "zero", "_base_int": "none"}[base]
    if int(m.reset_mechanism_val) != {"subtract": 0, "zero": 1, "none": 2}[mechanism]:
        raise refuse(path, kind, f"reset_mechanism was changed to '{m.reset_mechanism}' after construction, "
                                 f"but forward still integrates with the '{mechanism}' rule; rebuild the module")
    delayed = getattr(m, "reset_delay", True) or isinstance(m, snn.RSynaptic)
    if mechanism == "none":
        return "none", "immediate", 0.0
    if mechanism == "subtract":
        if delayed:
            return "subtract", "next_step", 0.0
        raise refuse(path, kind, "reset_mechanism='subtract' with reset_delay=False: after a tick whose reset "
                                 "leaves the membrane above threshold, snnTorch 1.0.0 tests mem − θ > θ on the "
                                 "next tick (do_reset = spk − reset), which no snnc neuron expresses; use "
                                 "reset_delay=True or reset_mechanism='zero'")
    if not delayed:
        return "value", "immediate", 0.0
    if type(m) is snn.Leaky:
        return "value", "next_step", 0.0
    return "value", "immediate", s.dt


def _membrane(s: Session, m, path: str, shape, theta):
    """The spiking op kwargs shared by all (theta, reset) and the refusal for a membrane readout."""
    mode, timing, refrac = _reset(s, m, path)
    spiking = dict(v_threshold=theta, v_reset=np.zeros(shape), reset_mode=mode, reset_timing=timing,
                   t_refrac=refrac)
    refusal = "" if mode == "none" else (f"the model reads its membrane as a value, but it resets "
                                         f"(reset_mechanism='{m.reset_mechanism}'); only a neuron without "
                                         f"reset outputs its membrane in snnc")
    return spiking, refusal


def _graded(s: Session, m, path: str, shape) -> np.ndarray:
    return s.per_neuron(m.graded_spikes_factor, shape, path, _kind(m), "graded_spikes_factor")


def _leaky_ops(s: Session, m, path: str, shape):
    """(spiking op, membrane op, refusal) for mem = β mem + x."""
    kind = _kind(m)
    theta = _check_neuron(s, m, path, shape)
    beta = s.per_neuron(m.beta.clamp(0, 1), shape, path, kind, "beta")
    spiking, refusal = _membrane(s, m, path, shape, theta)
    if np.all(beta == 1.0):
        gain = np.full(shape, 1.0 / s.dt)
        return IF(r=gain, **spiking), (I(r=gain) if not refusal else None), refusal
    tau = s.tau_for_decay(beta, path, kind, "beta")
    r = 1.0 / (1.0 - beta)
    zero = np.zeros(shape)
    return (LIF(tau=tau, r=r, v_leak=zero, **spiking),
            LI(tau=tau, r=r, v_leak=zero) if not refusal else None, refusal)


def _synaptic_ops(s: Session, m, path: str, shape):
    """(spiking op, membrane op, refusal) for syn = α syn + x; mem = β mem + syn (same tick)."""
    kind = _kind(m)
    theta = _check_neuron(s, m, path, shape)
    alpha = s.per_neuron(m.alpha.clamp(0, 1), shape, path, kind, "alpha")
    beta = s.per_neuron(m.beta.clamp(0, 1), shape, path, kind, "beta")
    spiking, refusal = _membrane(s, m, path, shape, theta)
    cuba = dict(tau_syn=s.tau_for_decay(alpha, path, kind, "alpha"), tau_mem=s.tau_for_decay(beta, path, kind, "beta"),
                r=1.0 / (1.0 - beta), v_leak=np.zeros(shape), w_in=1.0 / (1.0 - alpha),
                current_timing="same_tick")
    return CubaLIF(**cuba, **spiking), (CubaLI(**cuba) if not refusal else None), refusal


def _lapicque_ops(s: Session, m, path: str, shape):
    """mem = (1 − ts/(RC)) mem + x·R·(1/(RC))·ts, with the coefficients computed as snnTorch does."""
    kind = _kind(m)
    theta = _check_neuron(s, m, path, shape)
    with torch.no_grad():
        decay = 1 - (m.time_step / (m.R * m.C))
        gain = m.R * (1 / (m.R * m.C)) * m.time_step
    decay = s.per_neuron(decay, shape, path, kind, "1 − time_step/(R·C)")
    gain = s.per_neuron(gain, shape, path, kind, "R·time_step/(R·C)")
    spiking, refusal = _membrane(s, m, path, shape, theta)
    tau = s.tau_for_decay(decay, path, kind, "1 − time_step/(R·C)")
    r = gain / (1.0 - decay)
    zero = np.zeros(shape)
    return LIF(tau=tau, r=r, v_leak=zero, **spiking), (LI(tau=tau, r=r, v_leak=zero) if not refusal else None), refusal


def _single(s: Session, m, path: str, x: Value, ops, states: tuple[str, ...]):
    spiking, membrane, refusal = ops
    neuron = s.add_neuron(path, _kind(m), spiking, x, membrane_op=membrane, membrane_refusal=refusal,
                          gain=_graded(s, m, path, x.shape))
    return _result(m, neuron, states)


def _result(m, neuron, states: tuple[str, ...]):
    """init_hidden without output returns the spike tensor itself; otherwise (spk, *states)."""
    if m.init_hidden and not m.output:
        return StateRef(neuron, "spikes")
    return NeuronOutputs(neuron, ("spikes", *states))


def leaky(s, m, path, x):
    return _single(s, m, path, x, _leaky_ops(s, m, path, x.shape), ("mem",))


def synaptic(s, m, path, x):
    return _single(s, m, path, x, _synaptic_ops(s, m, path, x.shape), ("syn", "mem"))


def lapicque(s, m, path, x):
    return _single(s, m, path, x, _lapicque_ops(s, m, path, x.shape), ("mem",))


def _recurrent(s: Session, m, path: str, x: Value, ops, states):
    spiking, _, _ = ops
    neuron = s.add_neuron(path, _kind(m), spiking, x, membrane_refusal="the model reads the membrane of a "
                          "recurrent neuron; its recurrence needs the spikes", gain=_graded(s, m, path, x.shape))
    rec = m.recurrent
    w = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
    if isinstance(rec, torch.nn.Linear):
        op = Affine(weight=w(rec.weight), bias=w(rec.bias)) if rec.bias is not None else Linear(weight=w(rec.weight))
    elif isinstance(rec, torch.nn.Conv2d):
        bias = w(rec.bias) if rec.bias is not None else np.zeros(rec.out_channels)
        op = Conv2d(weight=w(rec.weight), bias=bias, stride=rec.stride, padding=rec.padding,
                    dilation=rec.dilation, groups=rec.groups)
    else:                                            # RecurrentOneToOne: spk ⊙ V
        op = Scale(scale=s.per_neuron(rec.V, x.shape, path, _kind(m), "V"))
    name = s.add(f"{path}.recurrent", op, None, f"{path}.recurrent")
    spikes = Value((neuron.spike_node,), x.shape)
    s.feed(spikes, name, recurrent=True)             # rec(spk[t−1]); rec's bias enters from tick 0
    s.feed(Value((name,), x.shape), neuron.node)
    return _result(m, neuron, states)


def rleaky(s, m, path, x):
    return _recurrent(s, m, path, x, _leaky_ops(s, m, path, x.shape), ("mem",))


def rsynaptic(s, m, path, x):
    return _recurrent(s, m, path, x, _synaptic_ops(s, m, path, x.shape), ("syn", "mem"))


CONVERTERS = {
    snn.Leaky: Converter(leaky, stateful=True),
    snn.Synaptic: Converter(synaptic, stateful=True),
    snn.RLeaky: Converter(rleaky, stateful=True),
    snn.RSynaptic: Converter(rsynaptic, stateful=True),
    snn.Lapicque: Converter(lapicque, stateful=True),
}
