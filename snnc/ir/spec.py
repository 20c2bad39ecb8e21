"""Generate the op reference of `ir_spec/SPEC.md` from the op registry.

    python -m snnc.ir.spec            # rewrite the generated section of ir_spec/SPEC.md
    python -m snnc.ir.spec --check    # exit 1 if SPEC.md is out of date (the test suite does this)

The section between the BEGIN/END markers is owned by this generator; the prose around
it is written by hand.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

from snnc.ir.op import all_ops

BEGIN = "<!-- BEGIN GENERATED OP REFERENCE: python -m snnc.ir.spec -->"
END = "<!-- END GENERATED OP REFERENCE -->"
SPEC_PATH = Path(__file__).resolve().parents[2] / "ir_spec" / "SPEC.md"


def _kind(f) -> str:
    m = f.metadata
    if m["kind"] == "array":
        return f"array {m['dtype']}"
    if m["kind"] == "choice":
        return " \\| ".join(f"`{c}`" for c in m["choices"])
    return m["kind"]


def _default(f) -> str:
    import dataclasses
    if f.default is not dataclasses.MISSING:
        return f"`{f.default!r}`"
    if f.default_factory is not dataclasses.MISSING:
        return f"`{f.default_factory().tolist()!r}`"
    return "required"


def op_reference() -> str:
    """The generated Markdown: an index table, then one section per op."""
    ops = sorted(all_ops().values(), key=lambda c: c.name)
    out = ["| op | class | inputs | outputs | stateful |", "|---|---|---|---|---|"]
    for c in ops:
        out.append(f"| [`{c.name}`](#{c.name.replace('.', '')}) | `{c.__name__}` | "
                   f"{', '.join(c.input_ports) or '—'} | {', '.join(c.output_ports) or '—'} | "
                   f"{'yes' if c.stateful else 'no'} |")
    for c in ops:
        out += ["", f"### `{c.name}`", "", "```", inspect.cleandoc(c.__doc__ or "(undocumented)"), "```", "",
                "| field | kind | default | meaning |", "|---|---|---|---|"]
        for f in c.field_specs():
            out.append(f"| `{f.name}` | {_kind(f)} | {_default(f)} | {f.metadata.get('doc', '')} |")
    return "\n".join(out) + "\n"


def render(spec_text: str) -> str:
    """`spec_text` with its generated section replaced by the current registry's reference."""
    try:
        head, rest = spec_text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"{SPEC_PATH}: the markers {BEGIN!r} and {END!r} are missing") from None
    return f"{head}{BEGIN}\n{op_reference()}{END}{tail}"


def main(argv: list[str]) -> int:
    text = SPEC_PATH.read_text(encoding="utf-8")
    new = render(text)
    if "--check" in argv:
        if new != text:
            print(f"{SPEC_PATH} is out of date: run python -m snnc.ir.spec", file=sys.stderr)
            return 1
        return 0
    SPEC_PATH.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
