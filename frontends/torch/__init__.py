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

import sys

from snnc.errors import UsageError, announce
from snnc.ir.graph import Graph

def _snntorch():
    from snnc.frontends.torch import snntorch
    return snntorch


def _norse():
    from snnc.frontends.torch import norse
    return norse


def _snnc_modules():
    from snnc.frontends.torch import snnc_modules
    return snnc_modules


# library -> our converters for it, loaded only when the library is in use
_LIBRARIES = (("snntorch", _snntorch), ("norse", _norse), ("snnc.torch", _snnc_modules))


def converters() -> tuple[dict, dict]:
    """(module type -> Converter, module type -> inline tracing rule) for every library
    currently imported."""
    from snnc.frontends.torch import nn
    table, inline = dict(nn.CONVERTERS), {}
    for library, ours in _LIBRARIES:
        if library in sys.modules:
            module = ours()
            table.update(module.CONVERTERS)
            inline.update(getattr(module, "INLINE", {}))
    return table, inline


def load(module, *, sample_input=None, dt: float | None = None, method: str | None = None,
         **options) -> Graph:
    """The Graph computing `module` tick by tick, with the framework's own discrete semantics.

    sample_input: one tick of input, a tensor [B, *shape] (or a tuple/list by forward
        argument, or a dict by argument name); only its shape is read, the model never runs.
        It may be left out when the first layer fixes the shape (Linear, a recurrent cell).
        For a forward that loops over time (`loop.py`), the whole input it takes: [T, B,
        *shape] when it reads x[step], [B, *shape] when it reads the same x every tick.
    dt: the graph's time step in seconds. Default: the dt of snnc.torch modules, else
        the dt of Norse cells, else 1e-3 (announced). snnTorch's β are per tick, so any dt
        is exact.
    method: 'euler' (default) or 'exact'; snnc.torch modules fix it.
    """
    if options:
        raise UsageError(f"torch frontend: unknown option(s) {', '.join(sorted(options))} "
                         f"(known: sample_input, dt, method)")
    import torch

    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"torch frontend: expected a torch.nn.Module, got {type(module).__name__}")
    from snnc.frontends.torch import loop
    from snnc.frontends.torch.session import Session
    from snnc.frontends.torch.tracing import Root, Walk, trace

    table, inline = converters()
    name = type(module).__name__
    metadata = {"source": "torch", "model": name}
    dt, method = _time_base(module, table, dt, method)
    if type(module) in table or type(module) in inline:      # fx traces the root's own forward
        module = Root(module)
    samples = _sample_shapes(sample_input, _argument_names(module))
    fx_graph = trace(module, table, inline, samples)
    stateful = {path for path, m in module.named_modules() if getattr(table.get(type(m)), "stateful", False)}
    rerolled = None
    if loop.loops_over_time(fx_graph):
        rerolled = loop.reroll(fx_graph, stateful, module, name)
        fx_graph = rerolled.graph
    shapes = {k: v[2 if rerolled and k in rerolled.time_indexed else 1:] for k, v in samples.items()}
    graph = Walk(Session(dt, method), table, module, shapes).run(fx_graph, metadata)
    if rerolled is not None:
        loop.announce_reading(rerolled, name, len(graph.outputs))
    return graph


def _argument_names(module) -> list[str]:
    """The names of `module.forward`'s arguments, in order (fx's placeholders)."""
    import inspect
    params = inspect.signature(module.forward).parameters.values()
    return [p.name for p in params if p.kind not in (p.VAR_KEYWORD,)]


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
    if dt is None and len(suggested) == 1:
        dt = suggested.pop()
    elif dt is None and suggested:
        dt = 1e-3
        announce(f"{type(model).__name__}: its Norse cells disagree on dt ({', '.join(f'{d:g}' for d in sorted(suggested))} "
                 f"s); assuming dt = 0.001 s (pass load(..., dt=...))")
    elif dt is None:
        dt = 1e-3
        if any(getattr(table.get(type(m)), "stateful", False) for m in model.modules()):
            announce(f"{type(model).__name__}: no dt in the model; assuming dt = 0.001 s (the time constants are "
                     f"τ = dt/(1 − β), spikes do not depend on it; pass load(..., dt=...) or --dt)")
    return float(dt), method or "euler"


def _sample_shapes(sample, names: list[str]) -> dict[str, tuple[int, ...]]:
    """Forward argument name -> the whole shape of its sample (batch axis included)."""
    if sample is None:
        return {}
    if isinstance(sample, dict):
        pairs = list(sample.items())
    elif isinstance(sample, (tuple, list)):
        pairs = list(zip(names, sample))
    else:
        pairs = [(names[0], sample)] if names else []
    shapes = {}
    for name, t in pairs:
        if t is None:
            continue
        shape = tuple(getattr(t, "shape", ()))
        if len(shape) < 1:
            raise UsageError(f"sample_input for '{name}' must be a tensor [B, *shape] (one tick, batched), "
                             f"got {type(t).__name__} of shape {list(shape)}")
        shapes[name] = tuple(int(s) for s in shape)
    return shapes
