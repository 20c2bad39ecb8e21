"""The TrueNorth backend: the `truenorth.*` integer dialect, its passes, rules and emitter.

`ops.py` states the neurosynaptic core (Cassidy et al. 2013 neuron, binary crossbar, four
axon types) and the route through a core's 16-tick input scheduler; `steps.py` runs them
bit-exactly. `lower.py` holds the pipeline; `emit.py` writes the artifact that `FORMAT.md`
documents and `decode.py` reads it back: what `snnc simulate` and `snnc verify` run.
"""

from snnc.backend import Backend, register_backend
from snnc.backends.truenorth import decode, emit, lower, ops, rules, steps, target  # noqa: F401  (ops, steps, passes)

BACKEND = register_backend(Backend(
    family="truenorth", target_schema=target.TrueNorthTarget, pipeline=lower.pipeline, emit=emit.emit,
    decode=decode.decode, rules=rules.check, summary=emit.summary,
    emit_options=emit.EmitOptions, report=emit.report))
