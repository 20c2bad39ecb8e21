"""snnc: a compiler for spiking neural networks."""
__version__ = "0.1.0"

# The module snnc.verify is imported first so that the function below, not the module, is what
# `snnc.verify` names afterwards (importing a submodule binds its name on the package once).
import snnc.verify as _verify_module  # noqa: E402,F401
from snnc.api import compile, convert, load, load_artifact, simulate, verify  # noqa: E402
from snnc.artifact import Artifact  # noqa: E402

__all__ = ["Artifact", "compile", "convert", "load", "load_artifact", "simulate", "verify", "__version__"]
