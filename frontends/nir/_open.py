"""Opening a NIR source: a live NIRGraph as is; a file opened once, checked by `snnc.safeio`
(no links or storage outside it, declared sizes within the limits), then read with nir's own
reader functions (`hdf2dict`, `dict2NIRNode`) on that open file."""
from __future__ import annotations

import os

import h5py
import nir

from snnc.errors import MalformedInputError, UnsupportedOpError, UsageError
from snnc.safeio import Limits, open_hdf5

from ._mapping import SUPPORTED, decode_graph_meta

LIVE = "<NIRGraph>"      # stands for the file name when a live NIR object is loaded


def open_source(source, limits: Limits) -> tuple[nir.NIRGraph, str | None]:
    """The NIRGraph in `source` (a path or a live NIR object) and the file name, if any.

    A file is opened once, checked by `snnc.safeio` (no links or storage outside it, declared
    sizes within `limits`) and then read with nir's own reader functions on that open file."""
    if isinstance(source, nir.NIRGraph):
        return source, None
    if isinstance(source, nir.NIRNode):     # a lone node: wrap it between an Input and an Output
        try:
            return nir.NIRGraph.from_list(source, type_check=True), None
        except Exception as exc:  # noqa: BLE001 -- nir raises bare ValueError/AssertionError
            raise MalformedInputError(f"cannot wrap a lone {type(source).__name__} into a graph: "
                                      f"{_one_line(exc)}", file=LIVE) from None
    if not isinstance(source, (str, os.PathLike)):
        raise UsageError(f"nir.load: cannot read a {type(source).__name__}; pass a .nir path or a nir.NIRGraph")
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise MalformedInputError("cannot read NIR file: no such file", file=path)
    if not h5py.is_hdf5(path):
        raise MalformedInputError("not a NIR file: NIR files are HDF5 and this one is not", file=path)
    with open_hdf5(path, file=path, limits=limits) as f:
        if not isinstance(f.get("node"), h5py.Group):
            raise MalformedInputError("not a NIR file: it has no 'node' group", file=path)
        try:
            tree = nir.serialization.hdf2dict(f["node"])
        except Exception as exc:  # noqa: BLE001 -- h5py raises assorted errors on damaged files
            raise MalformedInputError(f"cannot read NIR file: {_one_line(exc)}", file=path) from None
    return _build(tree, path), path


def _build(tree: dict, path: str) -> nir.NIRGraph:
    """The NIRGraph of a file's node tree: as written when snnc wrote it, else with NIR's type
    checking (which adds Input/Output at loose ends), else (legacy files) unchecked."""
    if "type_check" in tree:
        raise MalformedInputError("the top-level graph has a 'type_check' entry, which nir's reader refuses",
                                  file=path)
    try:
        unchecked = nir.dict2NIRNode({**_copy_tree(tree), "type_check": False})
    except Exception as exc:  # noqa: BLE001 -- nir's reader raises assorted exceptions
        _find_unknown(tree, (), path)
        raise MalformedInputError(f"the nir package cannot read it: {type(exc).__name__}: "
                                  f"{_one_line(exc)}".rstrip(": "), file=path) from None
    if not isinstance(unchecked, nir.NIRGraph):
        raise MalformedInputError(f"the top-level node is a {type(unchecked).__name__}; a NIR file holds a "
                                  f"NIRGraph", file=path)
    if snnc_meta(unchecked, path) is not None:
        return unchecked                # snnc wrote it: its own types and nodes, exactly
    try:
        return nir.dict2NIRNode({**_copy_tree(tree), "type_check": True})
    except Exception:  # noqa: BLE001 -- legacy file that only loads unchecked
        return unchecked


def _copy_tree(tree):
    """A fresh copy of the dicts of a node tree (nir's readers may consume them); arrays are shared."""
    return {k: _copy_tree(v) for k, v in tree.items()} if isinstance(tree, dict) else tree


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _find_unknown(tree, path: tuple[str, ...], file: str) -> None:
    kind = tree.get("type") if isinstance(tree, dict) else None
    key = ".".join(path) or "(top level)"
    if not isinstance(kind, str):
        raise MalformedInputError(f"node '{key}' has no type", file=file)
    if kind not in SUPPORTED:
        raise unsupported("snnc has no mapping for this NIR node type", key, kind, file)
    if kind == "NIRGraph":
        nodes = tree.get("nodes")
        for k, sub in (nodes.items() if isinstance(nodes, dict) else ()):
            _find_unknown(sub, path + (k,), file)
    elif not path:
        raise MalformedInputError(f"the top-level node is a {kind}; a NIR file holds a NIRGraph", file=file)


def unsupported(message: str, key: str, kind: str, file: str | None) -> UnsupportedOpError:
    return UnsupportedOpError(message, node=key, op=kind, source=file, supported=SUPPORTED)


def snnc_meta(graph: nir.NIRGraph, file: str | None) -> dict | None:
    try:
        return decode_graph_meta(graph.metadata or {})
    except (ValueError, TypeError) as exc:
        raise MalformedInputError(f"unreadable snnc metadata: {exc}", file=file or LIVE) from None
