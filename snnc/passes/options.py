"""Pass options: every field documented once, with its allowed values, and checked by name.

An options class is a frozen dataclass whose fields are declared with `option`:

    @dataclass(frozen=True)
    class PruneOptions:
        threshold: float = option(0.0, "drop |w| below this fraction of the layer's largest |w|",
                                  low=0.0, high=1.0)
        max_fan_in: int = option(0, "keep each neuron's largest |w| only, this many (0: no cap)",
                                 low=0)

The field's metadata holds its one-line meaning (`doc`), its allowed `choices` or its
range (`low`/`high`, inclusive unless `low_open`/`high_open`) and, for fields that are
not plain scalars, a `type_name` to show. `snnc options` lists them (`specs`), and the
pass registry checks every value a user gives (`check_value`) before the options class
sees it, so a bad `--option PASS.FIELD=VALUE` says which field, what value and what is
allowed, instead of the exception the comparison inside the class would raise.
"""
from __future__ import annotations

import dataclasses
import numbers
import typing
from dataclasses import dataclass

from snnc.errors import UsageError

SCALARS = {"float": float, "int": int, "bool": bool, "str": str}
_NO_DEFAULT = dataclasses.MISSING


def option(default=_NO_DEFAULT, doc: str = "", *, choices: tuple | None = None, low=None, high=None,
           low_open: bool = False, high_open: bool = False, type_name: str | None = None,
           **field_kwargs):
    """A dataclass field of a pass's options class, with its meaning and allowed values."""
    if not doc:
        raise TypeError("option(...) needs a one-line doc saying what the field means")
    meta = {"doc": doc, "choices": tuple(choices) if choices is not None else None, "low": low, "high": high,
            "low_open": low_open, "high_open": high_open, "type_name": type_name}
    meta.update(field_kwargs.pop("metadata", {}))
    if default is not _NO_DEFAULT:
        field_kwargs["default"] = default
    return dataclasses.field(metadata=meta, **field_kwargs)


@dataclass(frozen=True)
class OptionSpec:
    """One options field as `snnc options` shows it."""

    name: str
    type: str
    default: object
    allowed: str
    doc: str


def specs(options_cls: type) -> list[OptionSpec]:
    """The fields of `options_cls` with type, default, allowed values and meaning ("" if undocumented)."""
    hints = _hints(options_cls)
    out = []
    for f in dataclasses.fields(options_cls):
        meta = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        out.append(OptionSpec(f.name, meta.get("type_name") or _type_name(hints.get(f.name)), default,
                              allowed_text(meta), meta.get("doc", "")))
    return out


def allowed_text(meta) -> str:
    """'a | b | c', '[0, 1]', '(0, 100]', '>= 0' or '' from a field's metadata."""
    if meta.get("choices"):
        return " | ".join(str(c) for c in meta["choices"])
    low, high = meta.get("low"), meta.get("high")
    if low is not None and high is not None:
        return f"{'(' if meta.get('low_open') else '['}{_num(low)}, {_num(high)}{')' if meta.get('high_open') else ']'}"
    if low is not None:
        return f"{'>' if meta.get('low_open') else '>='} {_num(low)}"
    if high is not None:
        return f"{'<' if meta.get('high_open') else '<='} {_num(high)}"
    return ""


def check_value(where: str, f: dataclasses.Field, kind: str | None, value):
    """`value` for field `f` (of scalar `kind`, or None for any), converted to the field's type;
    raises UsageError naming `where` (PASS.FIELD), the value and what is allowed."""
    given, meta = value, f.metadata
    if kind is not None and value is not None:
        value = _convert(where, kind, value, meta)
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise UsageError(f"option {where} = {given!r}: not one of {', '.join(map(str, meta['choices']))}"
                         f"{_doc(meta)}")
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and not _in_range(value, meta):
        raise UsageError(f"option {where} = {given!r}: out of range, allowed {allowed_text(meta)}{_doc(meta)}")
    return value


def field_kinds(options_cls: type) -> dict[str, str | None]:
    """Field name -> 'float', 'int', 'bool', 'str', or None when it is not a plain scalar."""
    hints = _hints(options_cls)
    return {f.name: next((k for k, t in SCALARS.items() if hints.get(f.name) is t), None)
            for f in dataclasses.fields(options_cls)}


def check_fields(instance, owner: str | None = None) -> None:
    """Check every scalar field of an options instance (for a class's own `__post_init__`)."""
    owner = owner or type(instance).__name__
    kinds = field_kinds(type(instance))
    for f in dataclasses.fields(instance):
        check_value(f"{owner}.{f.name}", f, kinds[f.name], getattr(instance, f.name))


def _convert(where: str, kind: str, value, meta):
    wanted = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "a word"}[kind]
    allowed = allowed_text(meta)
    hint = f" ({allowed})" if allowed else ""
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, (str, numbers.Real)) and not isinstance(value, bool):
        return value if isinstance(value, str) else str(value)
    if kind == "float" and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if kind == "int" and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    raise UsageError(f"option {where} = {value!r}: expected {wanted}{hint}{_doc(meta)}")


def _in_range(x, meta) -> bool:
    low, high = meta.get("low"), meta.get("high")
    if low is not None and not (x > low if meta.get("low_open") else x >= low):
        return False
    return high is None or (x < high if meta.get("high_open") else x <= high)


def _doc(meta) -> str:
    return f" — {meta['doc']}" if meta.get("doc") else ""


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _hints(cls: type) -> dict:
    try:
        return typing.get_type_hints(cls)
    except Exception:             # an annotation naming something its module does not import
        return {}


def _type_name(hint) -> str:
    if hint is None:
        return "?"
    for name, t in SCALARS.items():
        if hint is t:
            return name
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def listing(passes) -> list[str]:
    """The lines `snnc options` prints for `passes` (registered `PassInfo`s, in order): each
    pass with its summary, then one aligned row per field: PASS.FIELD, type, default,
    allowed values, meaning."""
    rows: list[tuple[str, ...] | str] = []
    for info in passes:
        rows += ["", f"{info.name} — {info.summary}" if info.summary else info.name]
        fields = specs(info.options)
        rows += [(f"  {info.name}.{s.name}", s.type, _default_text(s.default),
                  s.allowed or ("true | false" if s.type == "bool" else "any"), s.doc)
                 for s in fields] or ["  (no options)"]
    table = [r for r in rows if isinstance(r, tuple)]
    widths = [max((len(r[i]) for r in table), default=0) for i in range(4)]
    return [r if isinstance(r, str) else "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4]
            for r in rows][1:]


def _default_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
