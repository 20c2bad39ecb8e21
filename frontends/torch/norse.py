"""Norse cells (1.1.0): LIFCell, LIFRecurrentCell, LIFBoxCell, LICell, LIBoxCell, IAFCell.

Norse's forward-Euler step, per tick, with k_mem = dt·τ_mem⁻¹, k_syn = dt·τ_syn⁻¹ (the
products computed by torch, as Norse does) and z = H(v − v_th), H(0) = 0:

    LIFCell     i⁺ = i + x;  v~ = v + k_mem((v_leak − v) + i⁺);  i = i⁺ − k_syn i⁺
                z;  v = z ? v_reset : v~
    LIFRecurrentCell: the same with x = W_in x_in + W_rec z[t−1]
    LIFBoxCell  v~ = v + k_mem(x + v_leak − v);  reset_value or reset_subtract
    LICell      as LIFCell without spikes; y = v
    LIBoxCell   v = v + k_mem((v_leak − v) + x);  y = v
    IAFCell     v~ = v + x;  reset to v_reset

Mapping. The current i⁺ (the input jumps in first, then the membrane integrates it, then
it decays) is snnc's CubaLIF current with current_timing same_tick: I[t] = α_syn I[t−1] +
(1 − α_syn) w_in x with α_syn = 1 − k_syn and w_in = 1/k_syn; the membrane has
α_mem = 1 − k_mem and r = 1. τ = dt_graph / k (exact for any graph dt; with the cells' own
dt it is 1/τ⁻¹). Reset is immediate (Norse resets within the tick).

Norse starts v at v_leak (IAFCell: at v_reset), snnc at 0, so spiking cells are imported
shifted by that start value u: v' = v − u, threshold v_th − u, reset value v_reset − u,
v_leak' = v_leak − u. Spikes are unchanged. A subtract reset is only shift-invariant for
u = 0, and the non-spiking cells output v itself, so those require v_leak = 0.
"""
from __future__ import annotations

import numpy as np
import torch

from norse.torch.functional.iaf import iaf_feed_forward_step
from norse.torch.functional.leaky_integrator import li_feed_forward_step
from norse.torch.functional.leaky_integrator_box import li_box_feed_forward_step
from norse.torch.functional.lif import lif_feed_forward_step, lif_step
from norse.torch.functional.lif_box import lif_box_feed_forward_step
from norse.torch.functional.reset import reset_subtract, reset_value
from norse.torch.functional.threshold import threshold
from norse.torch.module.iaf import IAFCell
from norse.torch.module.leaky_integrator import LICell
from norse.torch.module.leaky_integrator_box import LIBoxCell
from norse.torch.module.lif import LIFCell, LIFRecurrentCell
from norse.torch.module.lif_box import LIFBoxCell
from norse.torch.module.sequential import SequentialState

from snnc.ir.snn import IF, LI, LIF, CubaLI, CubaLIF, Linear

from snnc.frontends.torch.session import Converter, NeuronOutputs, Session, Value, _to_numpy, refuse

ACTIVATIONS = {LIFCell: lif_feed_forward_step, LIFRecurrentCell: lif_step, LIFBoxCell: lif_box_feed_forward_step,
               LICell: li_feed_forward_step, LIBoxCell: li_box_feed_forward_step, IAFCell: iaf_feed_forward_step}


def _kind(m) -> str:
    return f"norse.{type(m).__name__}"


def _check(m, path: str) -> None:
    if m.activation is not ACTIVATIONS[type(m)]:
        raise refuse(path, _kind(m), f"runs {getattr(m.activation, '__name__', m.activation)} (method "
                                     f"'{getattr(m.p, 'method', '')}'), not Norse's forward-Euler step")
    if hasattr(m.p, "method"):
        probe = torch.tensor([-1.0, -1e-30, 0.0, 1e-30, 1.0])
        with torch.no_grad():
            fired = threshold(probe, m.p.method, m.p.alpha)
        if not torch.equal(fired.detach().float(), torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0])):
            raise refuse(path, _kind(m), f"threshold method '{m.p.method}' does not spike as H(v − v_th)")


def _k(s: Session, m, path: str, shape, inv, what: str) -> np.ndarray:
    """Norse's per-tick coefficient dt·τ⁻¹ (its own torch product), as a float64 array."""
    k = s.per_neuron(_to_numpy(m.dt * inv), shape, path, _kind(m), f"dt·{what}")
    if np.any(k <= 0):
        raise refuse(path, _kind(m), f"dt·{what} must be > 0, got min {k.min():g}")
    return k


def _tau(s: Session, m, path: str, k: np.ndarray, what: str) -> np.ndarray:
    return s.tau_for_decay(1.0 - k, path, _kind(m), f"1 − dt·{what}")


def _param(s: Session, m, path: str, shape, name: str) -> np.ndarray:
    return s.per_neuron(getattr(m.p, name), shape, path, _kind(m), name)


def _spiking(s: Session, m, path: str, shape, start: np.ndarray, mode: str = "value") -> dict:
    th = _param(s, m, path, shape, "v_th")
    reset = _param(s, m, path, shape, "v_reset") - start
    if mode == "subtract" and np.any(start != 0):
        raise refuse(path, _kind(m), "reset_subtract with v_leak != 0: Norse starts v at v_leak, and a "
                                     "subtract reset does not survive snnc's shift to a zero start")
    return dict(v_threshold=th - start, v_reset=reset, reset_mode=mode, reset_timing="immediate")


def _cuba(s: Session, m, path: str, shape, v_leak: np.ndarray) -> dict:
    k_syn = _k(s, m, path, shape, m.p.tau_syn_inv, "tau_syn_inv")
    k_mem = _k(s, m, path, shape, m.p.tau_mem_inv, "tau_mem_inv")
    return dict(tau_syn=_tau(s, m, path, k_syn, "tau_syn_inv"), tau_mem=_tau(s, m, path, k_mem, "tau_mem_inv"),
                r=np.ones(shape), v_leak=v_leak, w_in=1.0 / k_syn, current_timing="same_tick")


def lif_cell(s: Session, m, path: str, x: Value):
    _check(m, path)
    shape = x.shape
    start = _param(s, m, path, shape, "v_leak")
    op = CubaLIF(**_cuba(s, m, path, shape, np.zeros(shape)), **_spiking(s, m, path, shape, start))
    return NeuronOutputs(s.add_neuron(path, _kind(m), op, x), ("spikes", "state"))


def lif_recurrent_cell(s: Session, m, path: str, x: Value):
    _check(m, path)
    w = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
    hidden = (int(m.hidden_size),)
    win = s.add(f"{path}.input_weights", Linear(weight=w(m.input_weights)), x, path)
    start = _param(s, m, path, hidden, "v_leak")
    op = CubaLIF(**_cuba(s, m, path, hidden, np.zeros(hidden)), **_spiking(s, m, path, hidden, start))
    neuron = s.add_neuron(path, _kind(m), op, Value((win,), hidden))
    rec = s.add(f"{path}.recurrent_weights", Linear(weight=w(m.recurrent_weights)), None, path)
    s.feed(Value((neuron.spike_node,), hidden), rec, recurrent=True)
    s.feed(Value((rec,), hidden), neuron.node)
    return NeuronOutputs(neuron, ("spikes", "state"))


def lif_box_cell(s: Session, m, path: str, x: Value):
    _check(m, path)
    shape = x.shape
    modes = {reset_value: "value", reset_subtract: "subtract"}
    mode = modes.get(getattr(m.p, "reset_method", reset_value))
    if mode is None:
        raise refuse(path, _kind(m), "reset_method must be norse's reset_value or reset_subtract")
    start = _param(s, m, path, shape, "v_leak")
    k = _k(s, m, path, shape, m.p.tau_mem_inv, "tau_mem_inv")
    op = LIF(tau=_tau(s, m, path, k, "tau_mem_inv"), r=np.ones(shape), v_leak=np.zeros(shape),
             **_spiking(s, m, path, shape, start, mode))
    return NeuronOutputs(s.add_neuron(path, _kind(m), op, x), ("spikes", "state"))


def _zero_leak(s: Session, m, path: str, shape) -> np.ndarray:
    v_leak = _param(s, m, path, shape, "v_leak")
    if np.any(v_leak != 0):
        raise refuse(path, _kind(m), "v_leak != 0: Norse starts this integrator at v_leak and outputs v, "
                                     "snnc's starts at 0")
    return v_leak


def li_cell(s: Session, m, path: str, x: Value):
    _check(m, path)
    op = CubaLI(**_cuba(s, m, path, x.shape, _zero_leak(s, m, path, x.shape)))
    return _integrator(s, m, path, x, op)


def li_box_cell(s: Session, m, path: str, x: Value):
    _check(m, path)
    k = _k(s, m, path, x.shape, m.p.tau_mem_inv, "tau_mem_inv")
    op = LI(tau=_tau(s, m, path, k, "tau_mem_inv"), r=np.ones(x.shape), v_leak=_zero_leak(s, m, path, x.shape))
    return _integrator(s, m, path, x, op)


def _integrator(s: Session, m, path: str, x: Value, op):
    """A non-spiking cell: its first result is v, which is the op's output."""
    neuron = s.add_neuron(path, _kind(m), op, x)
    neuron.membrane_op = op
    return NeuronOutputs(neuron, ("spikes", "state"))


def iaf_cell(s: Session, m, path: str, x: Value):
    _check(m, path)
    shape = x.shape
    start = _param(s, m, path, shape, "v_reset")
    op = IF(r=np.full(shape, 1.0 / s.dt), **_spiking(s, m, path, shape, start))
    return NeuronOutputs(s.add_neuron(path, _kind(m), op, x), ("spikes", "state"))


def _dt(m) -> float:
    return float(m.dt)


CONVERTERS = {
    LIFCell: Converter(lif_cell, stateful=True, time_step=_dt),
    LIFRecurrentCell: Converter(lif_recurrent_cell, stateful=True, time_step=_dt,
                                input_shape=lambda m: (int(m.input_size),)),
    LIFBoxCell: Converter(lif_box_cell, stateful=True, time_step=_dt),
    LICell: Converter(li_cell, stateful=True, time_step=_dt),
    LIBoxCell: Converter(li_box_cell, stateful=True, time_step=_dt),
    IAFCell: Converter(iaf_cell, stateful=True, time_step=_dt),
}


def trace_sequential_state(tracer, m: SequentialState, args, kwargs):
    """SequentialState.forward, written for fx: each child on the previous output; stateful
    children get state None (snnc neurons keep their own state) and return (output, state)."""
    x = args[0] if args else kwargs["input_tensor"]
    states, hidden = [], []
    for index, child in enumerate(m):
        if m.stateful_layers[index]:
            out = tracer.call_module(child, child.forward, (x, None), {})
            x = out[0]
            states.append(out[1])
        else:
            x = tracer.call_module(child, child.forward, (x,), {})
            states.append(None)
        hidden.append(x)
    return (hidden if m.return_hidden else x), states


INLINE = {SequentialState: trace_sequential_state}
