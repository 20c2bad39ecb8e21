"""Bounded, confined reading of the containers models arrive in: HDF5, `.npz`, side files.

Two rules hold for every reader that goes through this module:

- **Read only what was named.** An HDF5 file is read only when every object in it lives in
  the file itself: external links, soft links (NIR and netx files hold none, and a soft
  link to an ancestor group loops a recursive reader), groups linked twice (a cycle),
  datasets with external raw storage and virtual datasets are refused. A side file that a
  model refers to (an ONNX tensor's external data, a `.snnir` sidecar) must be a regular
  file inside the model's folder, reached through no symbolic link (`confined_file`).
- **Bounded resources.** Sizes are checked as declared, before anything is read: every
  array of one input (an HDF5 file's datasets, an `.npz` member's header, an ONNX
  tensor's dims, a text file's array shapes) counts against one `Budget` of elements,
  and an array over `EXPANSION_FLOOR` bytes may not declare more than `max_expansion`
  bytes per byte it occupies in the file (a dataset never written, whose fill value would
  grow to gigabytes; a header that declares more than the member holds).

The limits (module constants, summarised in README's "What comes in") can be raised per load:
`snnc.load(path, max_elements=..., max_expansion=...)`, or `--load-option
max_elements=N` on the command line. Every refusal is one `MalformedInputError` line
naming the file, the place in it and the limit.
"""
from __future__ import annotations

import contextlib
import math
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from snnc.errors import MalformedInputError, UsageError

MAX_ELEMENTS = 1 << 26        # array elements one input file (with its side files) may declare in all
MAX_EXPANSION = 4096          # declared bytes per stored byte, for an array above EXPANSION_FLOOR: deflate
                              # (gzip, zip) compresses at most ~1032-fold, so past this the data is not
                              # in the file (an unwritten dataset's fill value, a header that lies)
EXPANSION_FLOOR = 1 << 20     # arrays up to 1 MiB may be stored in any form (fill values, gzip of zeros)
MAX_DEPTH = 32                # nesting of HDF5 groups (nested NIR graphs)
NPY_VERSIONS = ((1, 0), (2, 0))


@dataclass(frozen=True)
class Limits:
    """How much one input may declare; see the module docstring."""

    max_elements: int = MAX_ELEMENTS
    max_expansion: float = MAX_EXPANSION

    @classmethod
    def from_options(cls, max_elements=None, max_expansion=None, *, who: str = "load") -> Limits:
        """Limits from load options (None: the default), checked as a user's options are."""
        values = {}
        for name, value in (("max_elements", max_elements), ("max_expansion", max_expansion)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 1 or (name == "max_elements" and int(value) != value):
                raise UsageError(f"{who}: {name} must be a {'whole ' if name == 'max_elements' else ''}"
                                 f"number >= 1, got {value!r}")
            values[name] = int(value) if name == "max_elements" else float(value)
        return cls(**values)

    def budget(self) -> Budget:
        return Budget(self)


@dataclass
class Budget:
    """The elements one input has declared so far, against its `Limits`."""

    limits: Limits = field(default_factory=Limits)
    used: int = 0

    def take(self, shape, *, file: str | None, where: str) -> int:
        """Count an array of `shape` (declared, not yet read); refuse it past the limit."""
        dims = [int(d) for d in shape]
        if any(d < 0 for d in dims):
            raise MalformedInputError(f"negative dimension in shape {dims}", file=file, where=where)
        n = math.prod(dims)
        if self.used + n > self.limits.max_elements:
            raise MalformedInputError(
                f"shape {dims} declares {n} elements, {self.used + n} in all, over the limit of "
                f"{self.limits.max_elements} per input (raise it with the load option max_elements=N)",
                file=file, where=where)
        self.used += n
        return n

    def check_expansion(self, declared: int, stored: int, *, file: str | None, where: str) -> None:
        """Refuse an array that declares far more bytes than it occupies in the file."""
        if declared > EXPANSION_FLOOR and declared > self.limits.max_expansion * max(stored, 1):
            raise MalformedInputError(
                f"declares {declared} bytes but stores {stored}: more than {self.limits.max_expansion:g} "
                f"declared bytes per stored byte (raise it with the load option max_expansion=X)",
                file=file, where=where)


# -- side files ----------------------------------------------------------------------------------
def confined_file(folder: Path, name: str, *, file: str, where: str) -> Path:
    """`folder/name` when it is a regular file inside `folder` reached through no symbolic link;
    else MalformedInputError naming the model `file` and the place (`where`) that refers to it."""
    rel = Path(name)
    if not name or rel.is_absolute() or ".." in rel.parts or rel.drive:
        raise MalformedInputError(f"refers to '{name}', outside the model's folder (expected a file name "
                                  f"relative to {folder})", file=file, where=where)
    path = folder
    for part in rel.parts:
        path = path / part
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise MalformedInputError(f"refers to '{name}', which cannot be read ({exc.strerror})",
                                      file=file, where=where) from None
        if stat.S_ISLNK(st.st_mode):
            raise MalformedInputError(f"refers to '{name}' through a symbolic link ({path}); snnc reads "
                                      f"side files only as regular files in the model's folder",
                                      file=file, where=where)
    if not stat.S_ISREG(st.st_mode):
        raise MalformedInputError(f"refers to '{name}', which is not a regular file", file=file, where=where)
    return path


# -- .npz archives -------------------------------------------------------------------------------
class NpzArchive:
    """The arrays of an `.npz` archive (bytes or a path), read one at a time after their
    header: no pickled objects, shapes counted against the `Budget` before any data is read."""

    def __init__(self, source, *, file: str, budget: Budget | None = None):
        self.file, self.budget = file, budget or Budget()
        try:
            self._zip = zipfile.ZipFile(_as_stream(source))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise MalformedInputError(f"not a readable .npz archive ({_one_line(exc)})", file=file) from None
        self._members = {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i for i in infos}

    @property
    def files(self) -> list[str]:
        return list(self._members)

    def __contains__(self, key) -> bool:
        return key in self._members

    def __iter__(self):
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """The member's declared (shape, dtype), read from its .npy header alone."""
        info = self._members[key]
        try:
            with self._zip.open(info) as fp:
                return _npy_header(fp, self.file, key)[:2]
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as exc:
            raise MalformedInputError(f"array '{key}' cannot be read ({_one_line(exc)})", file=self.file) from None

    def __getitem__(self, key: str) -> np.ndarray:
        info = self._members[key]
        try:
            with self._zip.open(info) as fp:
                shape, dtype, header_end = _npy_header(fp, self.file, key)
                self.budget.take(shape, file=self.file, where=f"array '{key}'")
                declared = math.prod(shape) * dtype.itemsize
                self.budget.check_expansion(declared, info.compress_size, file=self.file, where=f"array '{key}'")
                if info.file_size < header_end + declared:
                    raise MalformedInputError(f"array '{key}' is truncated: its header declares {declared} bytes "
                                              f"of data, the member holds {max(info.file_size - header_end, 0)}",
                                              file=self.file)
            with self._zip.open(info) as fp:
                return np.lib.format.read_array(fp, allow_pickle=False)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as exc:
            raise MalformedInputError(f"array '{key}' cannot be read ({_one_line(exc)})", file=self.file) from None


def read_npz(source, *, file: str, limits: Limits | None = None) -> dict[str, np.ndarray]:
    """Every array of an `.npz` archive (bytes or a path), each checked before it is read."""
    with NpzArchive(source, file=file, budget=(limits or Limits()).budget()) as z:
        return {key: z[key] for key in z.files}


def _npy_header(fp, file: str, key: str) -> tuple[tuple[int, ...], np.dtype, int]:
    version = np.lib.format.read_magic(fp)
    if version not in NPY_VERSIONS:
        raise MalformedInputError(f"array '{key}' is in .npy format {version[0]}.{version[1]} "
                                  f"(expected 1.0 or 2.0)", file=file)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = reader(fp)
    if dtype.hasobject:
        raise MalformedInputError(f"array '{key}' holds Python objects (dtype {dtype}); snnc never unpickles "
                                  f"(expected numbers)", file=file)
    return tuple(shape), dtype, fp.tell()


def _as_stream(source):
    if isinstance(source, (bytes, bytearray, memoryview)):
        import io
        return io.BytesIO(bytes(source))
    return os.fspath(source)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# -- HDF5 ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def open_hdf5(path, *, file: str | None = None, limits: Limits | None = None,
              budget: Budget | None = None) -> Iterator:
    """An open, read-only `h5py.File` whose every object has passed `check_hdf5`."""
    import h5py
    name = file or os.fspath(path)
    try:
        f = h5py.File(os.fspath(path), "r")
    except (OSError, ValueError) as exc:
        raise MalformedInputError(f"not a readable HDF5 file ({_one_line(exc)})", file=name) from None
    with f:
        check_hdf5(f, file=name, budget=budget or (limits or Limits()).budget())
        yield f


def check_hdf5(f, *, file: str, budget: Budget) -> None:
    """Walk every link of an open HDF5 file (iteratively) and refuse what reads outside it or
    declares more than the budget allows (see the module docstring)."""
    import h5py
    seen: set = set()
    stack = [(f, "", 0)]
    while stack:
        group, prefix, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedInputError(f"groups nest more than {MAX_DEPTH} deep", file=file, where=prefix or "/")
        try:
            names = list(group.keys())
        except (OSError, RuntimeError, KeyError) as exc:
            raise MalformedInputError(f"the group cannot be listed ({_one_line(exc)})", file=file,
                                      where=prefix or "/") from None
        for name in names:
            path = f"{prefix}/{name}"
            try:
                obj = _follow(group, name, path, file)
                address = h5py.h5o.get_info(obj.id).addr
                if address in seen:
                    raise MalformedInputError("this object is linked twice (a cycle or a shared object); "
                                              "snnc reads trees", file=file, where=path)
                seen.add(address)
                if isinstance(obj, h5py.Group):
                    stack.append((obj, path, depth + 1))
                elif isinstance(obj, h5py.Dataset):
                    _check_dataset(obj, path, file, budget)
            except MalformedInputError:
                raise
            except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:   # a damaged file
                raise MalformedInputError(f"a damaged HDF5 object ({_one_line(exc)})", file=file,
                                          where=path) from None


def _follow(group, name: str, path: str, file: str):
    """The object a hard link names; refuse soft, external and user-defined links."""
    import h5py
    kind = group.id.links.get_info(name.encode()).type
    if kind == h5py.h5l.TYPE_EXTERNAL:
        target, inner = group.id.links.get_val(name.encode())
        raise MalformedInputError(f"an external link to '{inner.decode(errors='replace')}' in "
                                  f"'{target.decode(errors='replace')}'; snnc reads only the file it was given",
                                  file=file, where=path)
    if kind == h5py.h5l.TYPE_SOFT:
        target = group.id.links.get_val(name.encode())
        raise MalformedInputError(f"a soft link to '{target.decode(errors='replace')}'; snnc reads objects "
                                  f"stored under their own name only", file=file, where=path)
    if kind != h5py.h5l.TYPE_HARD:
        raise MalformedInputError(f"a user-defined link (type {kind}); snnc reads only the file it was given",
                                  file=file, where=path)
    return group[name]


def _check_dataset(ds, path: str, file: str, budget: Budget) -> None:
    import h5py
    plist = ds.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise MalformedInputError("a virtual dataset (its data lives in other files); snnc reads only the file "
                                  "it was given", file=file, where=path)
    if plist.get_external_count():
        target = plist.get_external(0)[0].decode(errors="replace")
        raise MalformedInputError(f"a dataset stored in the external file '{target}'; snnc reads only the file "
                                  f"it was given", file=file, where=path)
    shape = ds.shape or ()
    n = budget.take(shape, file=file, where=path)
    budget.check_expansion(n * ds.dtype.itemsize, ds.id.get_storage_size(), file=file, where=path)


# -- values --------------------------------------------------------------------------------------
def check_finite(graph, *, file: str | None) -> None:
    """Refuse a NaN or infinite parameter in any node of a graph read from `file`, naming the
    node, its origin and the field. A field whose documentation gives infinity a meaning
    (``inf: no leak``) may hold +inf."""
    for name, node in graph.nodes.items():
        for spec in node.op.field_specs():
            kind = spec.metadata.get("kind")
            if kind not in ("array", "float"):
                continue
            value = np.asarray(getattr(node.op, spec.name))
            if value.dtype.kind != "f":
                continue
            bad = ~np.isfinite(value)
            if "inf:" in spec.metadata.get("doc", ""):
                bad &= ~np.isposinf(value)
            if bad.any():
                at = np.argwhere(bad)[0] if value.ndim else ()
                what = "NaN" if np.isnan(value[tuple(at)]) else f"{float(value[tuple(at)])}"
                place = f" at {list(map(int, at))}" if value.ndim else ""
                origin = f" (from '{node.origin}')" if node.origin and node.origin != name else ""
                raise MalformedInputError(f"field '{spec.name}' holds {what}{place} (expected finite numbers)",
                                          file=file, where=f"node '{name}'{origin}")
