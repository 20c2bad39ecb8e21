"""Passes: plain functions `(graph, target, options) -> Graph | PassResult` in one registry,
run in a target's pipeline by the pass manager (`snnc.passes.manager`)."""
from snnc.passes.registry import (PASSES, NoOptions, PassInfo, PassResult, all_passes, get_pass,
                                  register_pass)

__all__ = ["PASSES", "NoOptions", "PassInfo", "PassResult", "all_passes", "get_pass", "register_pass"]
