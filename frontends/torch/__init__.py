"""PyTorch models as `snn.*` graphs: snnTorch and Norse neurons, torch.nn layers, snnc's own
modules (`snnc.torch`), wired by any forward that torch.fx can trace.

The model's `forward` is read as ONE TICK: it takes one time step of input, [B, *shape],
and the graph's interpreter repeats it for every tick, each neuron keeping its state
from the previous tick (starting at zero), which is what a loop over time around the
model computes. Each library's file states its discrete equations and how they map
(`snntorch.py`, `norse.py`, `nn.py`, `snnc_modules.py`); node origins are module paths.

Converters for snnTorch, Norse and snnc.torch are loaded only when that library has
already been imported (a model built from it implies it), so loading a plain torch
model never imports them.
"""
from __future__ import annotations

import importlib
import sys

from snnc.errors import UsageError
from snnc.ir.graph import Graph

_LIBRARIES = (("snntorch", "snntorch"), ("norse", "norse"), ("snnc.torch", "snnc_modules"))


def converters() -> tuple[dict, dict]:
    """(module type -> Converter, module type -> inline tracing rule) for every library
    currently imported."""
    from snnc.frontends.torch import nn
    table, inline = dict(nn.CONVERTERS), {}
    for library, ours in _LIBRARIES:
        if library in sys.modules:
            module = importlib.import_module(f"snnc.frontends.torch.{ours}")
            table.update(module.CONVERTERS)
            inline.update(getattr(module, "INLINE", {}))
    return table, inline


def load(module, *, sample_input=None, dt: float | None = None, method: str | None = None,
         **options) -> Graph:
    """The Graph computing `module` tick by tick, with the framework's own discrete semantics.

    sample_input: one tick of input, a tensor [B, *shape] (or a tuple/list by forward
        argument, or a dict by argument name); only its shape is read, the model never runs.
        It may be left out when the first layer fixes the shape (Linear, a recurrent cell).
    dt: the graph's time step in seconds. Default: the dt of snnc.torch modules, else
        the dt of Norse cells, else 1e-3. snnTorch's β are per tick, so any dt is exact.
    method: 'euler' (default) or 'exact'; snnc.torch modules fix it.
    """
    if options:
        raise UsageError(f"torch frontend: unknown option(s) {', '.join(sorted(options))} "
                         f"(known: sample_input, dt, method)")
    import torch

    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"torch frontend: expected a torch.nn.Module, got {type(module).__name__}")
    from snnc.frontends.torch.session import Session
    from snnc.frontends.torch.tracing import Root, Walk, trace

    table, inline = converters()
    metadata = {"source": "torch", "model": type(module).__name__}
    dt, method = _time_base(module, table, dt, method)
    if type(module) in table or type(module) in inline:      # fx traces the root's own forward
        module = Root(module)
    fx_graph = trace(module, table, inline)
    placeholders = [str(n.target).lstrip("*") for n in fx_graph.nodes if n.op == "placeholder"]
    shapes = _sample_shapes(sample_input, placeholders)
    return Walk(Session(dt, method), table, module, shapes).run(fx_graph, metadata)


def _time_base(model, table, dt, method) -> tuple[float, str]:
    fixed, suggested = {}, set()
    for path, m in model.named_modules():
        conv = table.get(type(m))
        if conv is None or conv.time_step is None:
            continue
        if conv.fixes_time:
            fixed[path] = (float(conv.time_step(m)), conv.method(m))
        else:
            suggested.add(float(conv.time_step(m)))
    if len({v for v in fixed.values()}) > 1:
        listed = ", ".join(f"'{p}' dt={d:g} {mth}" for p, (d, mth) in fixed.items())
        raise UsageError(f"snnc.torch modules disagree on dt or method ({listed}); a graph has one of each")
    if fixed:
        path, (fdt, fmethod) = next(iter(fixed.items()))
        if dt is not None and float(dt) != fdt or method is not None and method != fmethod:
            raise UsageError(f"load(dt={dt}, method={method}) contradicts snnc.torch module '{path}' "
                             f"(dt={fdt:g}, method={fmethod}), whose equations fix both")
        return fdt, fmethod
    if method is not None and method not in ("euler", "exact"):
        raise UsageError(f"method must be 'euler' or 'exact', got {method!r}")
    if dt is None:
        dt = suggested.pop() if len(suggested) == 1 else 1e-3
    return float(dt), method or "euler"


def _sample_shapes(sample, placeholders: list[str]) -> dict[str, tuple[int, ...]]:
    if sample is None:
        return {}
    if isinstance(sample, dict):
        pairs = list(sample.items())
    elif isinstance(sample, (tuple, list)):
        pairs = list(zip(placeholders, sample))
    else:
        pairs = [(placeholders[0], sample)] if placeholders else []
    shapes = {}
    for name, t in pairs:
        if t is None:
            continue
        shape = tuple(getattr(t, "shape", ()))
        if len(shape) < 1:
            raise UsageError(f"sample_input for '{name}' must be a tensor [B, *shape] (one tick, batched), "
                             f"got {type(t).__name__} of shape {list(shape)}")
        shapes[name] = tuple(int(s) for s in shape[1:])
    return shapes
