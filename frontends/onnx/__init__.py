"""ONNX frontend: spiking networks exported with `torch.onnx.export` (or written by hand).

ONNX has no spiking ops, so the neuron is read from the arithmetic the exporter wrote
(Mul by β, Add, Sub of the reset, Greater, Cast, Where, ...). Four forms are recognised:

  unrolled     a Python time loop traced by the legacy (dynamo=False) or the dynamo
               exporter: every tick is a copy of the same nodes, fed by Gather(x, t). The
               copies are re-rolled into one tick (see `unrolled.py`), after checking that
               every tick computes the same thing as tick 1 and that tick 0, whose
               constants the exporter folded, equals tick 1 started from zero state.
  loop / scan  a Loop (torch.jit.script, legacy exporter) or Scan (torch's scan higher-order
               op, dynamo exporter) over time: the body is the tick, the loop-carried
               values are the state (see `loops.py`).
  single step  state as extra graph inputs and outputs, paired by name or order (see
               `stateful.py`), e.g. Norse's LIFCell exported for one step.
  stateless    one input, no state: layers and stateless thresholds run every tick. An
               ordinary ANN imports as itself: Gemm/MatMul/Conv/BatchNorm (folded)/
               AveragePool/Flatten as snn ops and each ReLU as `ann.relu`, which the
               convert-ann pass turns into spiking neurons (`snnc.load(path,
               convert_ann=True, calibration=...)`); MaxPool is refused with a hint.

Each form becomes a `StepFunction` over the neutral primitives of
`snnc.frontends.dynamics`, whose recogniser finds the neurons (LIF, IF, LI, I, CubaLIF,
CubaLI, Threshold) with their exact reset mode and timing and checks each one against the
interpreter. Options: `dt` (seconds per tick; ONNX stores none: β becomes τ = dt/(1 − β)),
`state` ({state input: output} for single-step graphs), `outputs` (names of the ONNX
outputs to keep; e.g. drop a recorded membrane, which a spiking layer cannot output).

Assumptions, each checked where it can be: per-tick values are [batch, ...] (the first axis
is the batch; time-major inputs are [time, batch, ...]); states start at zero (unrolled:
tick 0 is compared with the template run from zero state; loops: the initial values must
fold to zeros; single step: the graph is run from zero state); computations on shapes
only (Shape, ConstantOfShape, ...) fold with symbolic sizes taken as 1, which is exact for
what exporters use them for: zero initial states, trip counts and flattening.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

from snnc.errors import UsageError, announce
from snnc.frontends.dynamics import build_graph
from snnc.frontends.onnx import loops, stateful, unrolled
from snnc.frontends.onnx.common import GraphInfo, make_namer
from snnc.frontends.onnx.reader import read_model
from snnc.frontends.onnx.translate import supported_ops
from snnc.ir.graph import Graph
from snnc.safeio import Limits, check_finite

__all__ = ["load", "supported_ops"]


def load(source, *, dt: float | None = None, state: Mapping[str, str] | None = None,
         outputs: tuple[str, ...] | list[str] | None = None, max_elements: int | None = None,
         max_expansion: float | None = None, **unknown) -> Graph:
    """Read an ONNX file into a verified snn Graph (see the module docstring for the forms).

    `max_elements` and `max_expansion` raise the `snnc.safeio` limits on what the file declares."""
    if unknown:
        raise UsageError(f"{source}: unknown ONNX load option(s) {', '.join(sorted(unknown))} (known: dt, "
                         f"state, outputs, max_elements, max_expansion)")
    dt_given, dt = dt is not None, 1e-3 if dt is None else dt
    if isinstance(dt, bool) or not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise UsageError(f"{source}: dt must be a positive number of seconds, got {dt!r}")
    if state is not None and not (isinstance(state, Mapping) and all(isinstance(k, str) and isinstance(v, str)
                                                                     for k, v in state.items())):
        raise UsageError(f"{source}: state must map state input names to output names, got {state!r}")
    if outputs is not None and not (isinstance(outputs, (list, tuple)) and all(isinstance(o, str) for o in outputs)):
        raise UsageError(f"{source}: outputs must be a list of output names, got {outputs!r}")
    name = str(source)
    limits = Limits.from_options(max_elements, max_expansion, who=name)
    model = read_model(source, limits)
    info = GraphInfo.read(model.graph, name, max_elements=limits.max_elements)
    info.check_ops()
    outputs = tuple(outputs) if outputs is not None else None
    if outputs is not None:
        known = [o.name for o in model.graph.output]
        unknown = [o for o in outputs if o not in known]
        if unknown:
            raise UsageError(f"{name}: outputs {unknown} are not outputs of the model (it has {known})")
    form, strip = _form(info), ""
    if form in ("loop", "scan"):
        step = loops.read(info, outputs)
    elif form == "unrolled":
        step, start = unrolled.read(info, outputs)
        strip = f"_{start}"
    else:
        step = stateful.read(info, state, outputs)
        form = "single-step" if step.states else "stateless"
    if state is not None and form != "single-step":
        raise UsageError(f"{name}: the state option is for single-step graphs; this model is {form}")
    meta = {"source": Path(name).name, "frontend": "onnx", "onnx.form": form,
            "onnx.producer": f"{model.producer_name} {model.producer_version}".strip(),
            "onnx.opset": str(max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                                  default=0))}
    graph = build_graph(step, dt=float(dt), source=name, metadata=meta, namer=make_namer(strip))
    if not dt_given and form != "stateless":
        announce(f"{Path(name).name}: ONNX stores no dt; assuming dt = 0.001 s (it sets the time constants, not "
                 f"the spikes, which the graph computes per tick); pass --dt or load(..., dt=...)")
    check_finite(graph, file=name)
    return graph


def _form(info: GraphInfo) -> str:
    kinds = {n.op_type for n in info.live}
    if "Loop" in kinds:
        return "loop"
    if "Scan" in kinds:
        return "scan"
    if unrolled.find_anchors(info):
        return "unrolled"
    return "single-step"
