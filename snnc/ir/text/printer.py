"""Printing a Graph as `.snnir` text: deterministic, every field explicit, floats exact,
uniform arrays as `splat`, large arrays as `@name` references into a sidecar when one is given."""
from __future__ import annotations

import re

import numpy as np

from snnc.ir.graph import Edge, Graph, Node
from snnc.ir.verify import NAME_PATTERN

_WIDTH = 100                      # a node prints on one line when it fits in this many columns


class _Printer:
    def __init__(self, sidecar: dict | None, inline_limit: int, elide: int | None = None):
        self.sidecar, self.inline_limit, self.elide = sidecar, inline_limit, elide

    def graph(self, g: Graph) -> str:
        sections = [
            [f"snnir {_word(g.version)} dt={_float(g.dt)} method={_word(g.method)}"]
            + [f"meta {_quote(str(k))} = {_quote(str(v))}" for k, v in g.metadata.items()]
            + ([f"mapping {_quote(_json(g.mapping.to_json()))}"] if g.mapping is not None else []),
            [self.node(n) for n in g.nodes.values()],
            [_edge(e) for e in g.edges],
            [f"input {_word(n)}" for n in g.inputs] + [f"output {_word(n)}" for n in g.outputs],
        ]
        return "\n\n".join("\n".join(s) for s in sections if s) + "\n"

    def node(self, node: Node) -> str:
        op = node.op
        fields = [f"{_word(f.name)} = {self.value(node.name, f, getattr(op, f.name))}" for f in op.field_specs()]
        head = f"node {_word(node.name)} = {op.name} "
        loc = f" loc({_quote(node.origin)})" if node.origin else ""
        line = f"{head}{{{', '.join(fields)}}}{loc}"
        if len(line) <= _WIDTH or not fields:
            return line
        return head + "{\n" + ",\n".join(f"  {f}" for f in fields) + "\n}" + loc

    def value(self, node: str, field, v) -> str:
        kind = field.metadata["kind"]
        if kind == "array":
            return self.array(f"{node}.{field.name}", field.metadata["dtype"], v)
        if kind == "ints":
            return f"[{', '.join(str(int(x)) for x in v)}]"
        if kind in ("int", "float", "bool", "choice"):
            return {"int": str, "float": _float, "bool": _bool, "choice": _quote}[kind](v)
        raise TypeError(f"field '{field.name}' has kind {kind!r}, which has no text form")

    def array(self, key: str, dtype: str, a: np.ndarray) -> str:
        head = f"{dtype}[{', '.join(str(d) for d in a.shape)}]"
        scalar = _float if dtype == "f64" else str
        flat = np.ascontiguousarray(a).reshape(-1)
        if flat.size >= 2 and np.all(flat.view(np.uint64) == flat.view(np.uint64)[0]):
            return f"{head} splat {scalar(flat[0].item())}"
        if self.elide is not None and flat.size > self.elide:
            return f"{head} {elided(flat)}"
        if self.sidecar is not None and flat.size > self.inline_limit:
            return f"{head} @{_word(self.store(key, a))}"
        return f"{head} {_nested(a.tolist(), scalar)}"

    def store(self, key: str, a: np.ndarray) -> str:
        key = re.sub(r"[^A-Za-z0-9_.\-]", "_", key)
        key = key if NAME_PATTERN.match(key) else f"_{key}"
        name, k = key, 1
        while name in self.sidecar:
            k += 1
            name = f"{key}-{k}"
        self.sidecar[name] = a
        return name


def elided(flat: np.ndarray) -> str:
    """An array shown by what identifies it: `<784000 values, sha256 1f0c2a9b3d4e, min -0.0357, max 0.0357>`
    (the digest of its bytes as stored, so two prints of the same values match)."""
    import hashlib
    digest = hashlib.sha256(np.ascontiguousarray(flat).tobytes()).hexdigest()[:12]
    return f"<{flat.size} values, sha256 {digest}, min {flat.min().item():.6g}, max {flat.max().item():.6g}>"


def _json(data) -> str:
    import json
    return json.dumps(data, sort_keys=False, separators=(",", ":"), ensure_ascii=False)


def _nested(x, scalar) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_nested(v, scalar) for v in x) + "]"
    return scalar(x)


def _edge(e: Edge) -> str:
    src = _word(e.src) + ("" if e.src_port == "output" else f":{_word(e.src_port)}")
    dst = _word(e.dst) + ("" if e.dst_port == "input" else f":{_word(e.dst_port)}")
    return f"edge {src} {'~>' if e.recurrent else '->'} {dst}"


def _float(x) -> str:
    return repr(float(x))


def _bool(x) -> str:
    return "true" if x else "false"


def _word(s: str) -> str:
    return s if NAME_PATTERN.match(s) else _quote(s)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quote(s: str) -> str:
    """A JSON string literal; printable characters stay as they are, others are escaped."""
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) > 0xFFFF:
            c = ord(ch) - 0x10000
            out.append(f"\\u{0xD800 + (c >> 10):04x}\\u{0xDC00 + (c & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'

