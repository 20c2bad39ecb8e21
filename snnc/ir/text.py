"""The text form of the IR (`.snnir`): printer, parser, and file I/O with an `.npz` sidecar.

The syntax is defined by the LALR grammar `ir_spec/snnir.lark` (read through the link
`snnc/ir/snnir.lark`), whose header comment shows every form. One generic syntax serves
every op: printing and parsing read only the op registry and each field's kind, so ops of
a dialect registered later print and parse with no change here.

    snnir 1 dt=0.001 method=euler
    node x = snn.input {shape = [784]}
    node fc1 = snn.affine {weight = f64[128, 784] @fc1.weight, bias = f64[128] splat 0.0} loc("layers.0")
    edge x -> fc1
    input x

The printer is deterministic and explicit: every field is printed, floats as Python's
`repr` (exact), uniform arrays as `splat`, arrays larger than `inline_limit` as `@name`
references into a sidecar when one is given. `parse_graph(print_graph(g)) == g` for a
valid graph and `print_graph(parse_graph(t)) == t` for printed text. Every problem in a
text file raises `ParseError` with one line `file:line:col: what (expected ...)`.
"""
from __future__ import annotations

import difflib
import functools
import json
import re
import zipfile
from pathlib import Path
from typing import Mapping, NoReturn

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from snnc.errors import IRVerificationError, MalformedInputError, ParseError, SnncError, UsageError
from snnc.ir.graph import FORMAT_VERSION, Edge, Graph, Node
from snnc.ir.op import all_ops
from snnc.ir.verify import NAME_PATTERN

GRAMMAR_PATH = Path(__file__).with_name("snnir.lark")
_WIDTH = 100                      # a node prints on one line when it fits in this many columns
_DTYPES = {"f64": np.dtype(np.float64), "i64": np.dtype(np.int64)}
_INT_LITERAL = re.compile(r"[+-]?[0-9]+\Z")
_I64 = np.iinfo(np.int64)


# -- public API ---------------------------------------------------------------------------------
def print_graph(graph: Graph, *, sidecar: dict | None = None, inline_limit: int = 64) -> str:
    """The text of `graph`. Arrays of more than `inline_limit` elements that are not uniform
    go into `sidecar` (name -> array) and print as `@name`; with no sidecar, all print inline."""
    return _Printer(sidecar, inline_limit).graph(graph)


def parse_graph(text: str, *, file: str | None = None, sidecar: Mapping[str, np.ndarray] | None = None,
                verify: bool = True) -> Graph:
    """The Graph that `text` describes, verified unless `verify=False`; `@name` arrays are
    read from `sidecar`. Raises `ParseError` (file:line:col) on any problem in the text."""
    return _parse(text, file, sidecar, None, verify)


def save_snnir(graph: Graph, path) -> None:
    """Write `graph` to `path` and, when some array is too large to inline, its arrays to
    `path.with_suffix('.npz')`. The same graph always gives the same bytes."""
    path = Path(path)
    if path.suffix == ".npz":
        raise UsageError(f"{path}: a .snnir file cannot end in .npz (that name is its sidecar)")
    sidecar: dict[str, np.ndarray] = {}
    text = print_graph(graph, sidecar=sidecar)
    path.write_bytes(text.encode("utf-8"))
    if sidecar:
        _write_npz(path.with_suffix(".npz"), sidecar)


def load_snnir(path, *, verify: bool = True) -> Graph:
    """Read a `.snnir` file and the `.npz` sidecar of the same stem, if there is one."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise MalformedInputError(f"cannot read the file ({exc.strerror})", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise MalformedInputError(f"byte {exc.start} is not UTF-8 text (expected a UTF-8 .snnir file)",
                                  file=str(path)) from None
    npz = path.with_suffix(".npz")
    if not npz.exists():
        return _parse(text.removeprefix("\ufeff"), str(path), None, npz.name, verify)
    try:
        sidecar = np.load(npz, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise MalformedInputError(f"not a readable .npz file ({_one_line(exc)})", file=str(npz)) from None
    with sidecar:
        return _parse(text.removeprefix("\ufeff"), str(path), sidecar, npz.name, verify)


# -- printing -----------------------------------------------------------------------------------
class _Printer:
    def __init__(self, sidecar: dict | None, inline_limit: int):
        self.sidecar, self.inline_limit = sidecar, inline_limit

    def graph(self, g: Graph) -> str:
        sections = [
            [f"snnir {_word(g.version)} dt={_float(g.dt)} method={_word(g.method)}"]
            + [f"meta {_quote(str(k))} = {_quote(str(v))}" for k, v in g.metadata.items()],
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


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez's layout, with fixed timestamps so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, a in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)


# -- syntax ---------------------------------------------------------------------------------------
@functools.cache
def _lark() -> Lark:
    return Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), parser="lalr", propagate_positions=True)


_TERMINAL_WORDS = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "end of input",
                   "DTYPE": "an array type (f64[...] or i64[...])", "ARROW": "'->' or '~>'"}


def _describe_terminal(name: str) -> str:
    """How an expected terminal reads in a message: keywords and punctuation quoted."""
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    pattern = next(t.pattern for t in _lark().terminals if t.name == name)
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return "'" + pattern.value.split("(", 1)[0] + "'"       # a keyword: `node(?!...)` -> 'node'


def _expected(names) -> str:
    words = sorted({_describe_terminal(n) for n in names}, key=lambda w: (w.startswith("'"), w))
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _syntax_error(exc: UnexpectedInput, text: str, file: str | None) -> ParseError:
    """Turn a lark exception into a one-line ParseError at the offending character."""
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        line, col = (exc.token.end_line, exc.token.end_column) if exc.token.end_line else (1, 1)
        what, expected = "unexpected end of input", exc.accepts or exc.expected
    elif isinstance(exc, UnexpectedToken):
        line, col = exc.token.line, exc.token.column
        what, expected = f"unexpected {_snippet(exc.token)}", exc.accepts or exc.expected
    elif isinstance(exc, UnexpectedCharacters):
        line, col = exc.line, exc.column
        what = f"unexpected character {_snippet(exc.char)}"
        try:                                                  # the parser's state just before it
            prefix = _lark().parse_interactive(text[:exc.pos_in_stream])
            prefix.exhaust_lexer()
            expected = prefix.accepts()
        except UnexpectedInput:                               # pragma: no cover (the prefix lexed once)
            expected = exc.allowed or ()
    else:                                                     # pragma: no cover (LALR raises the two above)
        line, col, what, expected = getattr(exc, "line", 1), getattr(exc, "column", 1), "syntax error", ()
    return ParseError(f"{what} (expected {_expected(expected)})" if expected else what,
                      file=file, line=line, column=col)


def _snippet(s: str) -> str:
    s = s if len(s) <= 30 else s[:27] + "..."
    return "'" + s.encode("unicode_escape").decode("ascii") + "'"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# -- reading --------------------------------------------------------------------------------------
def _parse(text: str, file: str | None, sidecar, sidecar_name: str | None, verify: bool) -> Graph:
    """Parse and build; `sidecar_name` is the .npz file's name when it came from one (for messages)."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, file) from None
    return _Reader(file, sidecar, sidecar_name).graph(tree, verify)


def _pos(x) -> tuple[int, int]:
    return (x.line, x.column) if isinstance(x, Token) else (x.meta.line, x.meta.column)


class _Reader:
    """Builds a Graph from a parse tree, checking each value against its field's kind."""

    def __init__(self, file: str | None, sidecar, sidecar_name: str | None):
        self.file, self.sidecar, self.sidecar_name = file, sidecar, sidecar_name
        self.ops = all_ops()
        self.decls: dict[str, Tree] = {}       # node name -> its `node` statement

    def fail(self, where, message: str) -> NoReturn:
        line, col = _pos(where)
        raise ParseError(message, file=self.file, line=line, column=col)

    def graph(self, tree: Tree, verify: bool) -> Graph:
        header, *statements = tree.children
        attributes = self.header(header)
        for st in statements:
            if st.data == "node":
                name = self.word(st.children[0])
                if name in self.decls:
                    self.fail(st.children[0], f"node '{name}' is declared twice "
                                              f"(first on line {self.decls[name].meta.line})")
                self.decls[name] = st
        parts = {"node": [], "edge": [], "input": [], "output": [], "meta": {}}
        for st in statements:
            getattr(self, st.data)(st, parts[st.data])
        graph = Graph(parts["node"], parts["edge"], inputs=parts["input"], outputs=parts["output"],
                      metadata=parts["meta"], **attributes)
        if verify:
            try:
                graph.verify()
            except IRVerificationError as exc:
                self.fail(self.decls.get(exc.diagnostics[0].node, header), str(exc))
        return graph

    # statements
    def header(self, tree: Tree) -> dict:
        version, dt, method = tree.children
        if self.word(version) != FORMAT_VERSION:
            self.fail(version, f"unsupported format version '{self.word(version)}' (expected {FORMAT_VERSION})")
        return dict(version=self.word(version), dt=float(dt), method=self.word(method))

    def meta(self, tree: Tree, table: dict) -> None:
        key_tok, value_tok = tree.children
        key = self.string(key_tok)
        if key in table:
            self.fail(key_tok, f"metadata key {key_tok} is given twice")
        table[key] = self.string(value_tok)

    def node(self, tree: Tree, nodes: list) -> None:
        name_tree, op_tok, *rest = tree.children
        origin = self.string(rest.pop().children[0]) if rest and rest[-1].data == "loc" else ""
        if op_tok not in self.ops:
            self.fail(op_tok, f"unknown op '{op_tok}' (expected one of: {', '.join(sorted(self.ops))})")
        cls = self.ops[op_tok]
        specs = {f.name: f for f in cls.field_specs()}
        values = {}
        for field in rest:
            key_tree, value = field.children
            key = self.word(key_tree)
            if key not in specs:
                self.fail(key_tree, f"{cls.name} has no field '{key}' (expected one of: {', '.join(specs)})")
            if key in values:
                self.fail(key_tree, f"field '{key}' is given twice")
            values[key] = self.field(cls.name, specs[key], value)
        missing = [n for n in specs if n not in values]
        if missing:
            self.fail(op_tok, f"{cls.name} field '{missing[0]}' is missing "
                              f"(expected {_kind_text(specs[missing[0]])}; every field is written out)")
        try:
            op = cls(**values)
        except SnncError as exc:
            self.fail(op_tok, _one_line(exc))
        nodes.append(Node(self.word(name_tree), op, origin))

    def edge(self, tree: Tree, edges: list) -> None:
        src, arrow, dst = tree.children
        (s, sp), (d, dp) = self.endpoint(src, "output"), self.endpoint(dst, "input")
        edges.append(Edge(s, d, sp, dp, recurrent=arrow == "~>"))

    def endpoint(self, tree: Tree, side: str) -> tuple[str, str]:
        name = self.node_ref(tree.children[0])
        if len(tree.children) == 1:
            return name, side
        port = self.word(tree.children[1])
        op = self.decls[name].children[1]
        cls = self.ops.get(op)               # an unknown op is reported at its node
        ports = getattr(cls, f"{side}_ports", ())
        if cls is not None and port not in ports:
            self.fail(tree.children[1], f"{op} node '{name}' has no {side} port '{port}' "
                                        f"(expected {' or '.join(ports) or f'no {side} port'})")
        return name, port

    def input(self, tree: Tree, names: list) -> None:
        names.append(self.node_ref(tree.children[0]))

    output = input

    def node_ref(self, tree: Tree) -> str:
        name = self.word(tree)
        if name not in self.decls:
            close = difflib.get_close_matches(name, list(self.decls), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.fail(tree, f"no node named '{name}' (expected a declared node{hint})")
        return name

    # tokens
    def word(self, tree: Tree) -> str:
        tok = tree.children[0]
        return self.string(tok) if tok.type == "STRING" else str(tok)

    def string(self, tok: Token) -> str:
        try:
            return json.loads(tok, strict=False)
        except json.JSONDecodeError as exc:
            raise ParseError("invalid escape in string (expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                             file=self.file, line=tok.line, column=tok.column + exc.pos) from None

    def integer(self, tok: Token, what: str) -> int:
        if not _INT_LITERAL.match(tok):
            self.fail(tok, f"{what} is {tok} (expected an integer)")
        value = int(tok)
        if not _I64.min <= value <= _I64.max:
            self.fail(tok, f"{what} is {tok} (expected an integer within int64)")
        return value

    # field values, by kind
    def field(self, op: str, spec, tree: Tree):
        kind, what = spec.metadata["kind"], f"{op} field '{spec.name}'"
        want = {"number": ("int", "float"), "string": ("choice",), "true": ("bool",), "false": ("bool",),
                "list": ("ints",), "array": ("array",)}[tree.data]
        if kind not in want:
            self.fail(tree, f"{what} is {_describe(tree)} (expected {_kind_text(spec)})")
        if kind == "array":
            return self.array(tree, spec.metadata["dtype"], what)
        if kind == "ints":
            for v in tree.children:
                if v.data != "number":
                    self.fail(v, f"an entry of {what} is {_describe(v)} (expected an integer)")
            return tuple(self.integer(v.children[0], f"an entry of {what}") for v in tree.children)
        if kind == "int":
            return self.integer(tree.children[0], what)
        if kind == "float":
            return float(tree.children[0])
        if kind == "bool":
            return tree.data == "true"
        value, choices = self.string(tree.children[0]), spec.metadata["choices"]
        if value not in choices:
            self.fail(tree, f"{what} is {_describe(tree)} (expected one of {', '.join(map(_quote, choices))})")
        return value

    def array(self, tree: Tree, dtype: str, what: str) -> np.ndarray:
        dtype_tok, shape_tree, data = tree.children
        if dtype_tok != dtype:
            self.fail(dtype_tok, f"{what} is an {dtype_tok} array (expected an {dtype} array)")
        shape = tuple(self.integer(t, "an array dimension") for t in shape_tree.children)
        for t, d in zip(shape_tree.children, shape):
            if d < 0:
                self.fail(t, f"array dimension {d} is negative (expected a size >= 0)")
        if data.data == "ref":
            return self.sidecar_array(data.children[0], dtype, shape)
        try:
            if data.data == "splat":
                return np.full(shape, self.scalar(data.children[0], dtype), dtype=_DTYPES[dtype])
            leaves: list[Token] = []
            self.leaves(data, shape, (), leaves)
            return np.array([self.scalar(t, dtype) for t in leaves], dtype=_DTYPES[dtype]).reshape(shape)
        except (MemoryError, ValueError):
            self.fail(shape_tree, f"array shape {list(shape)} is too large to hold in memory")

    def scalar(self, tok: Token, dtype: str):
        return float(tok) if dtype == "f64" else self.integer(tok, "an i64 array element")

    def leaves(self, tree: Tree, shape: tuple, index: tuple, out: list) -> None:
        """Collect the number tokens of nested-list data, checking it has exactly `shape`."""
        at = "array data" + "".join(f"[{i}]" for i in index)
        depth = len(index)
        if depth == len(shape):
            if tree.data != "number":
                self.fail(tree, f"{at} is {_describe(tree)} (expected a number for shape {list(shape)})")
            out.append(tree.children[0])
            return
        if tree.data != "list":
            self.fail(tree, f"{at} is {_describe(tree)} "
                            f"(expected a list of {_entries(shape[depth])} for shape {list(shape)})")
        if len(tree.children) != shape[depth]:
            self.fail(tree, f"{at} has {_entries(len(tree.children))} (expected {shape[depth]} for shape {list(shape)})")
        for i, child in enumerate(tree.children):
            self.leaves(child, shape, index + (i,), out)

    def sidecar_array(self, name_tree: Tree, dtype: str, shape: tuple) -> np.ndarray:
        key, label = self.word(name_tree), self.sidecar_name or "the sidecar"
        if self.sidecar is None:
            why = f"{self.sidecar_name} does not exist" if self.sidecar_name else "none was given"
            self.fail(name_tree, f"array '@{key}' needs a sidecar .npz, but {why} (expected an .npz holding '{key}')")
        if key not in self.sidecar:
            have = ", ".join(sorted(self.sidecar)[:8]) + (", ..." if len(self.sidecar) > 8 else "")
            self.fail(name_tree, f"{label} has no array '{key}' (expected one of: {have or 'none, it is empty'})")
        try:
            a = np.asarray(self.sidecar[key])
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            self.fail(name_tree, f"{label} array '{key}' cannot be read ({_one_line(exc)})")
        want = _DTYPES[dtype]
        if a.dtype.kind != want.kind or a.dtype.itemsize != want.itemsize or a.shape != shape:
            got = {"f": "f", "i": "i", "u": "u"}.get(a.dtype.kind, a.dtype.kind) + str(8 * a.dtype.itemsize)
            self.fail(name_tree, f"{label} array '{key}' is {got}{list(a.shape)} "
                                 f"(expected {dtype}{list(shape)} as declared)")
        return a.astype(want, copy=True)


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def _describe(tree: Tree) -> str:
    if tree.data == "number":
        return f"the number {tree.children[0]}"
    if tree.data == "string":
        tok = tree.children[0]
        return f"the string {tok if len(tok) <= 32 else tok[:28] + '...' + tok[-1]}"
    if tree.data in ("true", "false"):
        return f"the bool {tree.data}"
    if tree.data == "array":
        return f"an {tree.children[0]} array"
    return "a list"


def _kind_text(spec) -> str:
    kind = spec.metadata["kind"]
    if kind == "array":
        dt = spec.metadata["dtype"]
        return f"an {dt} array: {dt}[dims] then [...], splat V or @name"
    if kind == "choice":
        return f"one of {', '.join(map(_quote, spec.metadata['choices']))}"
    return {"ints": "a list of integers such as [1, 2]", "int": "an integer", "float": "a number",
            "bool": "true or false"}[kind]
