"""Discovery of backend families: each package under `snnc.backends` contributes modules
by convention (`ops` registers its dialect's ops, `steps` its step functions, `target`
its target schema); this imports the ones that exist."""
from __future__ import annotations

import importlib
import pkgutil


def import_backend_modules(submodule: str) -> None:
    """Import `snnc.backends.<family>.<submodule>` for every backend family that has one."""
    try:
        import snnc.backends as backends
    except ImportError:
        return
    for mod in pkgutil.iter_modules(backends.__path__):
        if not mod.ispkg:
            continue
        name = f"snnc.backends.{mod.name}.{submodule}"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
