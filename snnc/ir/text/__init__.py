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

This package holds the public API and file I/O; `printer` writes the text and `parser`
reads it (grammar loading, syntax errors, and the reader that builds the Graph).
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from snnc.errors import MalformedInputError, UsageError
from snnc.ir.graph import Graph
from snnc.ir.text.parser import GRAMMAR_PATH, _lark, _one_line, _parse  # noqa: F401 (_lark: re-exported)
from snnc.ir.text.printer import _Printer
from snnc.safeio import Limits, NpzArchive, confined_file

MAX_NODES = 10_000        # nodes a .snnir file may declare (load option max_nodes)

__all__ = ["GRAMMAR_PATH", "load_snnir", "parse_graph", "print_graph", "save_snnir"]


# -- public API ---------------------------------------------------------------------------------
def print_graph(graph: Graph, *, sidecar: dict | None = None, inline_limit: int = 64,
                elide: int | None = None) -> str:
    """The text of `graph`. Arrays of more than `inline_limit` elements that are not uniform
    go into `sidecar` (name -> array) and print as `@name`; with no sidecar, all print inline.
    With `elide`, arrays of more than `elide` elements that are not uniform print as a summary
    `<n values, sha256 <12 hex>, min m, max M>` instead: text for reading, not for parsing."""
    return _Printer(sidecar, inline_limit, elide).graph(graph)


def parse_graph(text: str, *, file: str | None = None, sidecar: Mapping[str, np.ndarray] | None = None,
                verify: bool = True, max_elements: int | None = None) -> Graph:
    """The Graph that `text` describes, verified unless `verify=False`; `@name` arrays are
    read from `sidecar`. Raises `ParseError` (file:line:col) on any problem in the text.
    Inline and splat arrays may declare `max_elements` elements in all (default
    `snnc.safeio.MAX_ELEMENTS`)."""
    budget = Limits.from_options(max_elements, who="parse_graph").budget()
    return _parse(text, file, sidecar, None, verify, budget)


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


def load_snnir(path, *, verify: bool = True, max_elements: int | None = None, max_expansion: float | None = None,
               max_nodes: int | None = None) -> Graph:
    """Read a `.snnir` file and the `.npz` sidecar of the same stem, if there is one.

    Bounded (see `snnc.safeio`): at most `max_nodes` nodes (default `MAX_NODES`), and
    `max_elements` array elements in the text and its sidecar together; a sidecar must be a
    regular file beside the text (no symbolic link), and each of its arrays is checked
    against its header before it is read."""
    path = Path(path)
    limits = Limits.from_options(max_elements, max_expansion, who=str(path))
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
        raise UsageError(f"{path}: max_nodes must be a whole number >= 1, got {max_nodes!r}")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise MalformedInputError(f"cannot read the file ({exc.strerror})", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise MalformedInputError(f"byte {exc.start} is not UTF-8 text (expected a UTF-8 .snnir file)",
                                  file=str(path)) from None
    text, budget, nodes = text.removeprefix("\ufeff"), limits.budget(), max_nodes or MAX_NODES
    npz = path.with_suffix(".npz")
    if not npz.exists() and not npz.is_symlink():
        return _parse(text, str(path), None, npz.name, verify, budget, nodes)
    confined_file(path.parent, npz.name, file=str(path), where="its sidecar")
    with NpzArchive(npz, file=str(npz), budget=budget) as sidecar:
        return _parse(text, str(path), sidecar, npz.name, verify, budget, nodes)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez's layout, with fixed timestamps so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, a in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
