"""The Loihi backend: the `loihi.*` integer dialect and its bit-exact step functions.

The dialect follows Lava's bit-accurate process models (`PyLifModelBitAcc`,
`PyDenseModelBitAcc`, `PyDelayDenseModelBitAcc`) tick for tick; `ops.py` states every
equation and `steps.py` implements them. The ops carry the chip's own integer registers
(du, dv, vth_mant, bias_mant, bias_exp, weight mantissas, weight_exp, delays); which
values a chip accepts is a question for its Target (`snnc/targets/*.json`), not for the
ops, so one dialect serves every Loihi-family target.
"""

from snnc.backend import Backend, register_backend
from snnc.backends.loihi import decode, emit, lower, ops, rules, steps, target  # noqa: F401  (ops, steps, passes)

BACKEND = register_backend(Backend(
    family="loihi", target_schema=target.LoihiTarget, pipeline=lower.pipeline, emit=emit.emit,
    decode=decode.decode, rules=rules.check, summary=emit.summary, emit_options=emit.EmitOptions))
