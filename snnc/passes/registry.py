"""The one pass registry.

A pass is a plain function `(graph, target, options) -> Graph` registered under a
kebab-case name with a frozen options dataclass. It never mutates its input. A pass that
splits or merges nodes, or that has statistics worth reporting, returns a `PassResult`
instead of a bare Graph: the new graph, the provenance map (old node -> the new nodes that
now carry its work) and a JSON-serialisable statistics dict.

Options classes declare each field with `option(default, doc, choices=... | low=, high=)`
(`snnc.passes.options`): the one place that says what a field means and what values it
takes; `snnc options` lists them and `PassInfo.check` refuses a bad value by `PASS.FIELD`.

Passes that may run long declare `reports_progress=True`; the pass manager then calls
them with a keyword `progress`, a callable taking one short status string.

Target-independent passes live in `snnc.passes`; a backend's passes live in its package
(`snnc.backends.loihi.lower`) and are registered here when that module is imported.
Backend pass names start with the family name (`loihi-quantize`), so one registry serves
every target without collisions.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from snnc.errors import UsageError
from snnc.ir.graph import Graph
from snnc.passes.options import check_value, field_kinds, option  # noqa: F401 (option: re-exported)

PASS_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")

Provenance = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class NoOptions:
    """Options of a pass that takes none."""


@dataclass(frozen=True)
class PassResult:
    """What a pass may return instead of a bare Graph.

    `provenance` maps a node of the input graph to the nodes of the output graph that carry
    its work; nodes it does not mention are kept under their own name (or were removed
    when the name is gone). `stats` is JSON-serialisable and goes into the compile report.
    `approximations` lists what the pass could not make exact (`snnc.passes.approximation`).
    """

    graph: Graph
    provenance: Provenance = field(default_factory=dict)
    stats: Mapping[str, object] = field(default_factory=dict)
    approximations: tuple = ()


@dataclass(frozen=True)
class PassInfo:
    """A registered pass: its name, function, options class and one-line summary."""

    name: str
    fn: Callable
    options: type
    summary: str
    reports_progress: bool = False

    def make_options(self, value=None):
        """An options instance from None (defaults), an instance, or a mapping of field values."""
        if value is None:
            return self.options()
        if isinstance(value, self.options):
            self.check({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
            return value
        if isinstance(value, Mapping):
            try:
                return self.options(**self.check(value))
            except (TypeError, ValueError) as exc:
                raise UsageError(f"pass '{self.name}': {exc}") from None
        raise UsageError(f"pass '{self.name}': options must be a {self.options.__name__} or a dict, "
                         f"got {type(value).__name__}")

    def check(self, values: Mapping[str, object]) -> dict[str, object]:
        """`values` (field -> value) checked against the options class's fields, converted to
        their types; a UsageError names `PASS.FIELD`, the value and what is allowed."""
        fields = {f.name: f for f in dataclasses.fields(self.options)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise UsageError(f"pass '{self.name}' has no option(s) {', '.join(unknown)} "
                             f"(options: {', '.join(sorted(fields)) or 'none'}; see `snnc options`)")
        kinds = field_kinds(self.options)
        return {k: check_value(f"{self.name}.{k}", fields[k], kinds[k], v) for k, v in values.items()}

    def __call__(self, graph: Graph, target, options=None, progress=None) -> PassResult:
        opts = self.make_options(options)
        kwargs = {"progress": progress or (lambda msg: None)} if self.reports_progress else {}
        out = self.fn(graph, target, opts, **kwargs)
        if isinstance(out, Graph):
            return PassResult(out)
        if isinstance(out, PassResult):
            return out
        raise TypeError(f"pass '{self.name}' returned {type(out).__name__}, expected Graph or PassResult")


_PASSES: dict[str, PassInfo] = {}
PASSES: Mapping[str, PassInfo] = MappingProxyType(_PASSES)


def register_pass(name: str, options: type = NoOptions, *, reports_progress: bool = False):
    """Function decorator: enter `fn(graph, target, options)` in the registry as `name`."""
    if not PASS_NAME.match(name):
        raise TypeError(f"pass name {name!r} is not kebab-case")
    if not (dataclasses.is_dataclass(options) and options.__dataclass_params__.frozen):
        raise TypeError(f"pass {name}: options must be a frozen dataclass")

    def deco(fn: Callable) -> Callable:
        if name in _PASSES:
            raise TypeError(f"pass {name} registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _PASSES[name] = PassInfo(name, fn, options, summary, reports_progress)
        return fn
    return deco


def get_pass(name: str) -> PassInfo:
    """The registered pass `name`. Generic passes and the backend its name starts with
    (`loihi-quantize` → `snnc.backends.loihi`) are loaded first, so one backend's import
    problems never stand in the way of another's passes; all backends only if still unknown."""
    import snnc.passes.generic  # noqa: F401  (registration)
    from snnc.backend import family_names
    family = name.split("-")[0]
    if name not in _PASSES and family in family_names():
        _load_backend(family)
    if name not in _PASSES:
        load_passes()
    try:
        return _PASSES[name]
    except KeyError:
        raise UsageError(f"unknown pass '{name}' (known: {', '.join(sorted(_PASSES))})") from None


def all_passes() -> Mapping[str, PassInfo]:
    load_passes()
    return PASSES


def load_passes() -> None:
    """Import the generic passes and every backend's lowering module so their passes register."""
    import snnc.passes.generic  # noqa: F401  (registration)
    from snnc.backend import load_backends
    load_backends()


def _load_backend(family: str) -> None:
    """Import one family (its package registers its passes)."""
    from snnc.backend import backend
    backend(family)
