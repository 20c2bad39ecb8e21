"""Single-step graphs: one tick, with the state as extra graph inputs and outputs.

    (x, v, i) -> (z, v_out, i_out)        e.g. Norse's LIFCell exported for one step

A state input is paired with the output that holds its next value: by name first (`v` with
`v_out`, `v_next`, `v_new`, `next_v`, `new_v`; `state_in_k` with `state_out_k`; `prev` with
`next`), else by order: the first input is the data, the remaining inputs pair with the
last outputs, in order. `state={"v": "v_out"}` overrides the pairing. Inputs left unpaired
are per-tick inputs, outputs left unpaired are per-tick outputs. States start at zero.
A graph with one input and no state is stateless: an ANN, or spiking layers without memory.
"""
from __future__ import annotations

from typing import Mapping

from snnc.errors import UsageError
from snnc.frontends.dynamics import StepBuilder, StepFunction
from snnc.frontends.onnx.common import GraphInfo
from snnc.frontends.onnx.translate import Translator


def read(info: GraphInfo, state: Mapping[str, str] | None = None,
         outputs: tuple[str, ...] | None = None) -> StepFunction:
    ins = [i.name for i in info.inputs()]
    outs = [o.name for o in info.graph.output]
    pairs = dict(state) if state is not None else pair_states(info, ins, outs)
    for s, o in pairs.items():
        if s not in ins or o not in outs:
            raise UsageError(f"{info.source}: state pair {s!r} -> {o!r}: inputs are {ins}, outputs are {outs}")
    b = StepBuilder()
    tr = Translator(b, info.consts, info.source, info.uses)
    for name in ins:
        shape = info.per_sample(name, 1)
        tr.bind(name, b.state(name, shape, origin=name) if name in pairs else b.input(name, shape, origin=name))
    for node in info.live:
        tr.translate(node)
    for s, o in pairs.items():
        b.state_out(s, tr.value(o))
    for o in outs:
        if o not in pairs.values() and (outputs is None or o in outputs):
            b.output(o, tr.value(o))
    return b.build()


def pair_states(info: GraphInfo, ins: list[str], outs: list[str]) -> dict[str, str]:
    """{state input: output holding its next value}, by name, else by order."""
    pairs = {}
    for s in ins:
        for o in _names_for_next(s):
            if o in outs and o not in pairs.values():
                pairs[s] = o
                break
    if pairs or len(ins) < 2 or len(outs) < 2:
        return pairs
    k = min(len(ins) - 1, len(outs) - 1)
    by_order = dict(zip(ins[len(ins) - k:], outs[len(outs) - k:]))
    if all(info.shape(s) == info.shape(o) for s, o in by_order.items()):
        return by_order
    return {}


def _names_for_next(s: str) -> list[str]:
    names = [f"{s}{suffix}" for suffix in ("_out", "_next", "_new", "'")]
    names += [f"next_{s}", f"new_{s}"]
    for a, b in (("_in", "_out"), ("in_", "out_"), ("prev", "next"), ("old", "new")):
        if a in s:
            names.append(s.replace(a, b))
    return names
