"""Approximations: where a lowering cannot make the chip compute exactly what the model does.

A lowering is faithful (exact, or exact up to the chip's number formats) where the chip can
express a construct; where it cannot, it approximates by a documented rule and says so with
an `Approximation` in its `PassResult`. The pass manager collects them, compile lists them in
the manifest (`approximations`) and prints them, and `snnc verify` measures what they cost.
With `strict=True` (`snnc compile --strict`) the manager refuses the first one instead, with
the message the lowering would have refused with: `why`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class Approximation:
    """One construct the chip computes only approximately.

    `node` and `origin` say where (the lowered node and where it came from in the user's
    model); `rule` the target rule that forces it (e.g. `neurons.reset_modes`); `what` what
    the chip computes instead; `why` why the exact form is not possible (the refusal message
    under --strict); `effect` what it was measured to cost, when calibration data was given.
    """

    node: str
    origin: str
    rule: str
    what: str
    why: str
    effect: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f"node '{self.node}'" + (f" ({self.origin})" if self.origin else "")
        return f"{where}: {self.what} (rule {self.rule}: {self.why})"

    def to_json(self) -> dict:
        d = asdict(self)
        d["effect"] = dict(self.effect)
        return d
