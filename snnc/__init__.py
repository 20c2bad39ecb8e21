"""snnc: a compiler for spiking neural networks."""
__version__ = "0.1.0"

from snnc.api import compile, load, load_artifact, simulate, verify  # noqa: E402
from snnc.artifact import Artifact  # noqa: E402

__all__ = ["Artifact", "compile", "load", "load_artifact", "simulate", "verify", "__version__"]
