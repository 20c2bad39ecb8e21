"""Frontends: one module per source format, each turning a model into a `snn.*` Graph.

The registry below is the one place that maps a file suffix or a live object to the
module that reads it. Each frontend module defines `load(source, **options) -> Graph`;
a module that can also write its format defines `save(graph, path, **options)`.
Modules are imported only when used, so torch or JAX are needed only for their models.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from snnc.errors import UsageError


@dataclass(frozen=True)
class Frontend:
    name: str                      # module name under snnc.frontends
    suffixes: tuple[str, ...]      # file suffixes it reads and (if it has `save`) writes
    accepts: Callable[[object], bool] | None = None   # live objects it reads
    loader: Callable[[], object] | None = None        # imports and returns the module (on first use)

    @property
    def module(self):
        return self.loader()


def _snnir():
    from snnc.frontends import snnir
    return snnir


def _nir():
    from snnc.frontends import nir
    return nir


def _onnx():
    from snnc.frontends import onnx
    return onnx


def _netx():
    from snnc.frontends import netx
    return netx


def _torch():
    from snnc.frontends import torch
    return torch


def _checkpoint():
    from snnc.frontends.torch import checkpoint
    return checkpoint


def _jax():
    from snnc.frontends import jax
    return jax


def _is_torch_module(obj) -> bool:
    torch = sys.modules.get("torch")     # a live torch module means torch is already imported
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_nir_node(obj) -> bool:
    nir = sys.modules.get("nir")         # a live NIR graph means nir is already imported
    return nir is not None and isinstance(obj, nir.NIRNode)


def _is_jax_step(obj) -> bool:
    """A plain callable (a step function), when JAX is installed. Torch modules are callable
    too: the torch frontend comes first in FRONTENDS and claims them."""
    return (callable(obj) and not isinstance(obj, type) and not _is_torch_module(obj)
            and importlib.util.find_spec("jax") is not None)


FRONTENDS: tuple[Frontend, ...] = (
    Frontend("snnir", (".snnir",), loader=_snnir),
    Frontend("nir", (".nir",), _is_nir_node, _nir),
    Frontend("onnx", (".onnx",), loader=_onnx),
    Frontend("netx", (".net",), loader=_netx),
    Frontend("torch", (), _is_torch_module, _torch),
    Frontend("torch.checkpoint", (".pt", ".pth"), loader=_checkpoint),   # a state dict plus its class (torch_class=)
    Frontend("jax", (), _is_jax_step, _jax),
)


def frontend_for(source) -> Frontend:
    """The frontend that reads `source` (a path by suffix, or a live model by type)."""
    if isinstance(source, (str, Path)):
        suffix = Path(source).suffix.lower()
        for f in FRONTENDS:
            if suffix in f.suffixes:
                return f
        known = ", ".join(s for f in FRONTENDS for s in f.suffixes)
        raise UsageError(f"{source}: unknown model format '{suffix or '(no suffix)'}' (known: {known})")
    for f in FRONTENDS:
        if f.accepts is not None and f.accepts(source):
            return f
    raise UsageError(f"cannot load a {type(source).__name__}: pass a model file path "
                     f"({', '.join(s for f in FRONTENDS for s in f.suffixes)}), a torch.nn.Module, "
                     f"a nir.NIRGraph or a JAX step function (with JAX installed)")
