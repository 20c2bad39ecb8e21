"""The public Python API: load, simulate (compile, load_artifact and verify join as targets land).

    g = snnc.load("model.nir")                   # or an .onnx/.snnir path, or a live torch module
    y = snnc.simulate(g, x)                      # x: [T, B, *input_shape] -> [T, B, *output_shape]
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from snnc.errors import SimulationError, UsageError
from snnc.ir.graph import Graph


def load(source, **options) -> Graph:
    """Read a model into a verified `snn.*` Graph.

    `source` is a path (the suffix picks the frontend: .snnir, .nir, .onnx, .net) or a live
    model (a torch.nn.Module). `options` go to the frontend (e.g. `dt=1e-3`,
    `sample_input=...` for torch). A Graph passed in comes back unchanged.
    """
    if isinstance(source, Graph):
        if options:
            raise UsageError(f"load: options {sorted(options)} do not apply to a Graph")
        return source
    from snnc.frontends import frontend_for
    if isinstance(source, (str, Path)) and not Path(source).exists():
        raise UsageError(f"{source}: no such file")
    graph = frontend_for(source).module.load(source, **options)
    return graph.verify()


def simulate(model, x, *, record=(), strict: bool = False, seed: int = 0):
    """Run a Graph (or anything `load` accepts) on time-major input.

    `x` is one array [T, B, *input_shape] for a single-input graph, or a dict from input
    name to such arrays. Returns one array [T, B, *output_shape] for a single-output
    graph, else a dict from output name to arrays. With `record`, returns
    `(outputs, {node: [T, B, *shape]})` holding every tick of each named node's output.
    """
    from snnc.interp.engine import run
    graph = load(model)
    inputs = _name_inputs(graph, x)
    result = run(graph, inputs, record=record, strict=strict, seed=seed)
    outs = result.outputs
    out = outs[graph.outputs[0]] if len(outs) == 1 else outs
    return (out, result.recorded) if record else out


def _name_inputs(graph: Graph, x) -> dict[str, np.ndarray]:
    if isinstance(x, Mapping):
        return dict(x)
    if len(graph.inputs) != 1:
        raise SimulationError(f"the graph has {len(graph.inputs)} inputs {list(graph.inputs)}; "
                              f"pass a dict from input name to [T, B, ...] arrays")
    return {graph.inputs[0]: x}
