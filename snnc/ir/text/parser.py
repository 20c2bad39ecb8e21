"""Reading `.snnir` text: the lark grammar, syntax errors as one-line `ParseError`s, and the
reader that builds a Graph from the parse tree, checking each value against its field's kind."""
from __future__ import annotations

import difflib
import functools
import json
import re
import zipfile
from pathlib import Path
from typing import NoReturn

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from snnc.errors import IRVerificationError, MalformedInputError, ParseError, SnncError
from snnc.ir.graph import FORMAT_VERSION, Edge, Graph, Node
from snnc.ir.op import all_ops
from snnc.ir.text.printer import _quote
from snnc.safeio import Budget, NpzArchive

GRAMMAR_PATH = Path(__file__).parent.with_name("snnir.lark")   # snnc/ir/snnir.lark, a link into ir_spec/
_DTYPES = {"f64": np.dtype(np.float64), "i64": np.dtype(np.int64)}
_INT_LITERAL = re.compile(r"[+-]?[0-9]+\Z")
_I64 = np.iinfo(np.int64)
MAX_RANK = 32               # dimensions of an array in the text (numpy allows 64)


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
def _parse(text: str, file: str | None, sidecar, sidecar_name: str | None, verify: bool,
           budget: Budget | None = None, max_nodes: int | None = None) -> Graph:
    """Parse and build; `sidecar_name` is the .npz file's name when it came from one (for messages).
    Array shapes count against `budget` before anything is allocated; with `max_nodes`, a text
    declaring more nodes is refused before it is parsed."""
    if max_nodes is not None:
        _count_nodes(text, file, max_nodes)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, file) from None
    return _Reader(file, sidecar, sidecar_name, budget or Budget()).graph(tree, verify)


_NODE_STATEMENT = re.compile(r"(?m)^[ \t\f\r]*node(?![\w.\-])")


def _count_nodes(text: str, file: str | None, max_nodes: int) -> None:
    """Refuse, before parsing, a text with more `node` statements than `max_nodes` (a node
    statement starts a line; one that does not is counted by the parser's own rules)."""
    for k, match in enumerate(_NODE_STATEMENT.finditer(text), start=1):
        if k > max_nodes:
            line = text.count("\n", 0, match.start()) + 1
            raise ParseError(f"more than {max_nodes} nodes (raise the limit with the load option max_nodes=N)",
                             file=file, line=line, column=match.end() - match.start() - 3)


def _pos(x) -> tuple[int, int]:
    return (x.line, x.column) if isinstance(x, Token) else (x.meta.line, x.meta.column)


class _Reader:
    """Builds a Graph from a parse tree, checking each value against its field's kind."""

    def __init__(self, file: str | None, sidecar, sidecar_name: str | None, budget: Budget):
        self.file, self.sidecar, self.sidecar_name, self.budget = file, sidecar, sidecar_name, budget
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
        parts = {"node": [], "edge": [], "input": [], "output": [], "meta": {}, "mapping": []}
        for st in statements:
            getattr(self, st.data)(st, parts[st.data])
        graph = Graph(parts["node"], parts["edge"], inputs=parts["input"], outputs=parts["output"],
                      metadata=parts["meta"], mapping=(parts["mapping"] or [None])[0], **attributes)
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

    def mapping(self, tree: Tree, found: list) -> None:
        from snnc.ir.mapping import Mapping
        (tok,) = tree.children
        if found:
            self.fail(tok, "the mapping statement is given twice")
        try:
            found.append(Mapping.from_json(json.loads(self.string(tok))))
        except json.JSONDecodeError as exc:
            self.fail(tok, f"mapping: not valid JSON ({exc.msg})")
        except RecursionError:
            self.fail(tok, "mapping: the JSON nests too deeply (expected the mapping record's few levels)")
        except MalformedInputError as exc:
            self.fail(tok, str(exc))

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
        if len(shape_tree.children) > MAX_RANK:
            self.fail(shape_tree, f"array has {len(shape_tree.children)} dimensions (expected at most {MAX_RANK})")
        shape = tuple(self.integer(t, "an array dimension") for t in shape_tree.children)
        for t, d in zip(shape_tree.children, shape):
            if d < 0:
                self.fail(t, f"array dimension {d} is negative (expected a size >= 0)")
        if data.data == "ref":
            return self.sidecar_array(data.children[0], dtype, shape)
        try:
            self.budget.take(shape, file=None, where=None)
        except MalformedInputError as exc:
            self.fail(shape_tree, str(exc))
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
            if isinstance(self.sidecar, NpzArchive):        # a file: its header is checked first
                self._check_sidecar_header(name_tree, key, label, dtype, shape)
            a = np.asarray(self.sidecar[key])
        except ParseError:
            raise
        except MalformedInputError as exc:
            self.fail(name_tree, str(exc))
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            self.fail(name_tree, f"{label} array '{key}' cannot be read ({_one_line(exc)})")
        want = _DTYPES[dtype]
        if a.dtype.kind != want.kind or a.dtype.itemsize != want.itemsize or a.shape != shape:
            self.fail(name_tree, f"{label} array '{key}' is {_dtype_text(a.dtype)}{list(a.shape)} "
                                 f"(expected {dtype}{list(shape)} as declared)")
        return a.astype(want, copy=True)

    def _check_sidecar_header(self, name_tree, key: str, label: str, dtype: str, shape: tuple) -> None:
        """A file sidecar's array must declare the dtype and shape the text does, before it is read."""
        got_shape, got = self.sidecar.header(key)
        want = _DTYPES[dtype]
        if got.kind != want.kind or got.itemsize != want.itemsize or got_shape != shape:
            self.fail(name_tree, f"{label} array '{key}' is {_dtype_text(got)}{list(got_shape)} "
                                 f"(expected {dtype}{list(shape)} as declared)")


def _dtype_text(dtype: np.dtype) -> str:
    return dtype.kind + str(8 * dtype.itemsize)


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
