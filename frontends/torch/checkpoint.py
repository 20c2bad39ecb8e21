"""A PyTorch model saved as a state dict (`torch.save(model.state_dict(), "model.pt")`) plus its class.

    snnc.load("model.pt", torch_class="mypackage.models:Net", torch_args={"num_steps": 25},
              sample_input=x)                     # CLI: --torch-class, --torch-args, --sample-shape

A state dict holds tensors only; the class builds the module they fill. The class is named
as `package.module:ClassName` (imported as Python would, with the current directory on the
path) or `path/to/file.py:ClassName`; `torch_args` are its constructor's arguments, a JSON
object (keywords) or array (positional), or the same as a dict or list. The file is read
with `torch.load(weights_only=True)`, which refuses to unpickle anything but tensors and
plain containers, so the file itself never runs code: only the class the user names does.
The module is then read by the torch frontend (`snnc.frontends.torch.load`).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Mapping

from snnc.errors import MalformedInputError, UsageError


def load(source, *, torch_class: str | None = None, torch_args=None, sample_shape=None, **options):
    """The Graph of the module `torch_class(*torch_args)` filled from the state dict at `source`;
    `sample_shape` (a tuple) stands for `sample_input=torch.zeros(sample_shape)`; other
    options go to the torch frontend."""
    import torch

    from snnc.frontends.torch import load as load_module
    if not torch_class:
        raise UsageError(f"{source}: a .pt file holds weights only; name the model's class with "
                         f"torch_class='package.module:ClassName' (CLI: --torch-class)")
    module = build(torch_class, torch_args, source)
    fill(module, source)
    if sample_shape is not None:
        options["sample_input"] = torch.zeros(tuple(int(d) for d in sample_shape))
    return load_module(module, **options)


def build(torch_class: str, torch_args, where) -> "torch.nn.Module":
    """An instance of the class named `package.module:ClassName` or `file.py:ClassName`."""
    import torch
    cls = _class(torch_class, where)
    args, kwargs = _arguments(torch_args, torch_class)
    try:
        module = cls(*args, **kwargs)
    except Exception as exc:   # the user's constructor: any failure is a usage problem to report
        raise UsageError(f"{torch_class}({_shown(args, kwargs)}) failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"{torch_class} built a {type(module).__name__}, not a torch.nn.Module")
    return module


def fill(module, source) -> None:
    """Load the state dict at `source` into `module` (every key must match), safely."""
    import torch
    path = Path(source)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        text = " ".join(str(exc).split())[:300]
        raise MalformedInputError(f"not a state dict torch.load(weights_only=True) can read "
                                  f"(save model.state_dict(), not the model object): {type(exc).__name__}: {text}",
                                  file=str(path)) from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]                     # a training checkpoint {"state_dict": ..., ...}
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MalformedInputError(f"holds a {type(state).__name__}, not a state dict of tensors "
                                  f"(save it with torch.save(model.state_dict(), path))", file=str(path))
    problems = _misfits(state, module.state_dict())
    if problems:
        raise MalformedInputError(f"does not fit {type(module).__name__}: {'; '.join(problems)}", file=str(path))
    module.load_state_dict(state)
    module.eval()


def _misfits(state: Mapping, own: Mapping) -> list[str]:
    """Keys the model lacks or the file lacks, and tensors whose shapes differ."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    sizes = [f"{k} is {list(state[k].shape)} in the file, {list(own[k].shape)} in the model"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    return (([f"missing {', '.join(missing)}"] if missing else []) +
            ([f"unexpected {', '.join(unexpected)}"] if unexpected else []) + sizes)


def _class(spec: str, where):
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise UsageError(f"torch class {spec!r}: expected 'package.module:ClassName' or 'path/file.py:ClassName'")
    if target.endswith(".py"):
        module = _from_file(Path(target), spec)
    else:
        sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise UsageError(f"torch class {spec!r}: cannot import {target} ({exc})") from None
        finally:
            sys.path.remove(str(Path.cwd()))
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        raise UsageError(f"torch class {spec!r}: {target} defines no class {name}")
    return cls


def _from_file(path: Path, spec: str):
    if not path.is_file():
        raise UsageError(f"torch class {spec!r}: {path}: no such file")
    mod_spec = importlib.util.spec_from_file_location(f"snnc_user_model_{path.stem}", path)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:   # the user's module: report where it failed
        raise UsageError(f"torch class {spec!r}: running {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def _arguments(value, spec: str) -> tuple[list, dict]:
    if value is None:
        return [], {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise UsageError(f"constructor arguments for {spec}: not JSON ({exc}): {value!r}") from None
    if isinstance(value, Mapping):
        return [], dict(value)
    if isinstance(value, (list, tuple)):
        return list(value), {}
    raise UsageError(f"constructor arguments for {spec}: expected a JSON object (keywords) or array "
                     f"(positional), got {type(value).__name__}")


def _shown(args, kwargs) -> str:
    return ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
