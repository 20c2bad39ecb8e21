"""The interpreter: runs any Graph tick by tick, batched (float semantics for `snn.*`,
bit-exact semantics for each target dialect)."""
from snnc.interp.engine import RunResult, run

__all__ = ["RunResult", "run"]
