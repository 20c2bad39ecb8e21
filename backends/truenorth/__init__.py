"""The TrueNorth backend: the `truenorth.*` integer dialect, its passes, rules and emitter.

`ops.py` states the neurosynaptic core (Cassidy et al. 2013 neuron, binary crossbar, four
axon types) and the route through a core's 16-tick input scheduler; `steps.py` runs them
bit-exactly. `lower.py` holds the pipeline; `FORMAT.md` documents the artifact.
"""

from snnc.artifact import recorded_graph
from snnc.backend import Backend, register_backend
from snnc.backends.truenorth import emit, lower, ops, rules, steps, target  # noqa: F401  (ops, steps, passes register)

BACKEND = register_backend(Backend(
    family="truenorth", target_schema=target.TrueNorthTarget, pipeline=lower.pipeline, emit=emit.emit,
    decode=lambda art, t: recorded_graph(art), rules=rules.check, summary=emit.summary,
    emit_options=emit.EmitOptions, report=emit.report))
