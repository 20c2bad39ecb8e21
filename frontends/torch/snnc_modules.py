"""snnc's own torch modules (`snnc.torch`): each maps 1:1 to the op whose equations it runs."""
from __future__ import annotations

import snnc.torch as st
from snnc.ir.snn import IF, LIF, CubaLIF

from snnc.frontends.torch.session import Converter, Session, StateRef, Value, refuse

OPS = {st.LIF: LIF, st.IF: IF, st.CubaLIF: CubaLIF}


def convert(s: Session, m, path: str, x: Value):
    kind = f"snnc.torch.{type(m).__name__}"
    if tuple(x.shape) != m.shape:
        raise refuse(path, kind, f"built for shape {list(m.shape)}, but its input has shape {list(x.shape)}")
    op_cls = OPS[type(m)]
    fields = {f.name for f in op_cls.field_specs()}
    params = {n: t.detach().cpu().double().numpy() for n, t in [*m.named_parameters(recurse=False),
                                                                 *m.named_buffers(recurse=False)] if n in fields}
    extra = {n: getattr(m, n) for n in ("reset_mode", "reset_timing", "t_refrac", "graded", "current_timing")
             if n in fields}
    neuron = s.add_neuron(path, kind, op_cls(**params, **extra), x)
    return StateRef(neuron, "spikes")


def _time(m) -> float:
    return m.dt


CONVERTERS = {cls: Converter(convert, stateful=True, input_shape=lambda m: m.shape, time_step=_time,
                             method=lambda m: m.method, fixes_time=True) for cls in OPS}
