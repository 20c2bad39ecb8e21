"""An HDF5 file read the cautious way: only the named file, only within a budget.

`SafeFile` opens a regular file, then walks every link in it once before anything is read
and refuses (with `MalformedInputError` naming the file and the HDF5 path):
  - external links and soft links (a hard link is the only kind followed),
  - datasets whose data lives in other files (external storage) or is assembled from
    other datasets (virtual datasets),
  - datasets stored through an HDF5 filter other than the standard ones (a filter that is
    not built in would make HDF5 load a plugin library),
  - more than `MAX_OBJECTS` links in all.
Reading a dataset (`numbers`, `text`) checks its dtype and declared shape first and takes
its element count from one budget per file (`max_elements`), so no declared size, however
large, is allocated before it is checked. Every h5py failure becomes a one-line error.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from snnc.errors import MalformedInputError

MAX_ELEMENTS = 1 << 26        # array elements one file may make snnc hold (datasets read + neurons)
MAX_OBJECTS = 100_000         # links walked in one file
MAX_TEXT_BYTES = 256          # a layer or neuron type name
INT32 = (-(1 << 31), (1 << 31) - 1)
STANDARD_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset",
                    32000: "lzf"}


class SafeFile:
    """A read-only HDF5 file whose every link and dataset storage was checked on opening."""

    def __init__(self, path, *, max_elements: int = MAX_ELEMENTS):
        import h5py
        self.h5py = h5py
        self.file = str(path)
        self.budget = max_elements
        if not os.path.isfile(path):
            raise MalformedInputError("no such file (or not a regular file)", file=self.file)
        try:
            self.f = h5py.File(path, "r")
        except OSError as exc:
            raise MalformedInputError(f"not a readable HDF5 file ({_first_line(exc)})", file=self.file) from None
        try:
            self._walk()
        except BaseException:
            self.f.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    @property
    def name(self) -> str:
        return Path(self.file).name

    def error(self, where: str, message: str) -> MalformedInputError:
        return MalformedInputError(message, file=self.file, where=where or "/")

    # -- the walk ---------------------------------------------------------------------------------
    def _walk(self) -> None:
        seen, stack, count = set(), [self.f], 0
        while stack:
            group = stack.pop()
            for key in self._keys(group):
                count += 1
                path = f"{group.name.rstrip('/')}/{key}"
                if count > MAX_OBJECTS:
                    raise self.error(path, f"more than {MAX_OBJECTS} HDF5 objects; a netx file holds far fewer")
                obj = self._follow(group, key, path)
                if isinstance(obj, self.h5py.Dataset):
                    self._check_storage(obj, path)
                elif isinstance(obj, self.h5py.Group):
                    addr = self._address(obj, path)
                    if addr not in seen:
                        seen.add(addr)
                        stack.append(obj)

    def _keys(self, group):
        """The link names of `group`, one at a time (h5py reads them by index, lazily)."""
        names = iter(group)
        while True:
            try:
                yield next(names)
            except StopIteration:
                return
            except (OSError, RuntimeError, KeyError, ValueError) as exc:
                raise self.error(group.name, f"unreadable HDF5 group ({_first_line(exc)})") from None

    def _follow(self, group, key: str, path: str):
        h5py = self.h5py
        try:
            link = group.get(key, getlink=True)
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise self.error(path, f"unreadable HDF5 link ({_first_line(exc)})") from None
        if isinstance(link, h5py.ExternalLink):
            raise self.error(path, f"is an HDF5 external link to {link.filename}:{link.path}; snnc reads only "
                                   f"the file it is given")
        if isinstance(link, h5py.SoftLink):
            raise self.error(path, f"is an HDF5 soft link to {link.path}; netx files hold plain groups and "
                                   f"datasets only")
        if not isinstance(link, h5py.HardLink):
            raise self.error(path, f"is an HDF5 link of unsupported kind {type(link).__name__}")
        try:
            return group[key]
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise self.error(path, f"unreadable HDF5 object ({_first_line(exc)})") from None

    def _address(self, group, path: str):
        try:
            info = self.h5py.h5o.get_info(group.id)
        except (OSError, RuntimeError, ValueError) as exc:
            raise self.error(path, f"unreadable HDF5 group ({_first_line(exc)})") from None
        return getattr(info, "token", None) or info.addr

    def _check_storage(self, ds, path: str) -> None:
        try:
            external, virtual = ds.external, ds.is_virtual
            plist = ds.id.get_create_plist()
            filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            raise self.error(path, f"unreadable HDF5 dataset ({_first_line(exc)})") from None
        if external:
            raise self.error(path, f"stores its data in external file {external[0][0]}; snnc reads only the "
                                   f"file it is given")
        if virtual:
            raise self.error(path, "is an HDF5 virtual dataset (its data lives in other datasets or files); "
                                   "snnc reads only plain datasets")
        unknown = [code for code in filters if code not in STANDARD_FILTERS]
        if unknown:
            raise self.error(path, f"is stored through HDF5 filter {unknown[0]}, not one of the standard ones "
                                   f"({', '.join(STANDARD_FILTERS.values())})")

    # -- navigation -------------------------------------------------------------------------------
    def group(self, parent, key: str):
        """The subgroup `key` of `parent`; a dataset or nothing there is an error."""
        where = f"{parent.name.rstrip('/')}/{key}".lstrip("/")
        if key not in parent:
            raise self.error(parent.name.lstrip("/"), f"missing key '{key}'")
        obj = parent[key]
        if not isinstance(obj, self.h5py.Group):
            raise self.error(where, f"expected an HDF5 group here, found a {type(obj).__name__.lower()}")
        return obj

    def dataset(self, group, key: str):
        where = group.name.lstrip("/")
        if key not in group:
            raise self.error(where, f"missing key '{key}'")
        obj = group[key]
        if not isinstance(obj, self.h5py.Dataset):
            raise self.error(f"{where}/{key}", f"expected a dataset here, found a {type(obj).__name__.lower()}")
        return obj

    # -- reading ----------------------------------------------------------------------------------
    def take(self, n: int, where: str, what: str = "elements") -> None:
        """Spend `n` elements of the file's budget, or raise naming `where` and the limit."""
        if n > self.budget:
            raise self.error(where, f"{n} {what} exceed what is left of the limit on array elements read from "
                                    f"one file ({self.budget} left; raise it with max_elements=)")
        self.budget -= n

    def numbers(self, group, key: str, *, floor: bool = False) -> np.ndarray:
        """An integer array from dataset `key`: numeric dtype, declared size within the budget,
        finite, integral (or floored, with `floor`) and within int32, as Lava holds it."""
        ds = self.dataset(group, key)
        where = f"{group.name.lstrip('/')}/{key}"
        dtype = self._dtype(ds, where)
        if dtype.kind not in "biuf" or dtype.itemsize > 8:
            raise self.error(where, f"expected integers, got HDF5 data of type {dtype}")
        self.take(int(np.prod(ds.shape, dtype=np.float64)) if ds.shape is not None else 0, where)
        try:
            value = np.asarray(ds[()] if ds.shape is not None else np.zeros(0))
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            raise self.error(where, f"unreadable dataset ({_first_line(exc)})") from None
        return self._integers(value, where, floor)

    def _dtype(self, ds, where: str):
        try:
            return ds.dtype
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            raise self.error(where, f"unreadable HDF5 datatype ({_first_line(exc)})") from None

    def _integers(self, value: np.ndarray, where: str, floor: bool) -> np.ndarray:
        if value.dtype.kind == "f":
            if not np.all(np.isfinite(value)):
                bad = value.reshape(-1)[~np.isfinite(value.reshape(-1))][0]
                raise self.error(where, f"holds the non-finite value {bad}; expected integers")
            rounded = np.floor(value)
            if not floor and not np.array_equal(rounded, value):
                bad = value.reshape(-1)[(rounded != value).reshape(-1)][0]
                raise self.error(where, f"holds the fractional value {bad}; Lava takes integers here")
            value = rounded
        lo, hi = INT32
        if value.size and (value.min() < lo or value.max() > hi):
            bad = value.min() if value.min() < lo else value.max()
            raise self.error(where, f"holds {bad:g}, outside [{lo}, {hi}] (Lava holds it in int32)")
        return value.astype(np.int64)

    def text(self, group, key: str) -> str:
        """A short ASCII string from dataset `key` (netx reads the first element of an array)."""
        ds = self.dataset(group, key)
        where = f"{group.name.lstrip('/')}/{key}"
        dtype = self._dtype(ds, where)
        is_str = self.h5py.check_string_dtype(dtype) is not None
        if not is_str or dtype.itemsize > MAX_TEXT_BYTES or (ds.shape is not None and ds.size > 16):
            raise self.error(where, f"expected a short ASCII string, got HDF5 data of type {dtype}, "
                                    f"shape {list(ds.shape or ())}")
        try:
            raw = ds[()]
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            raise self.error(where, f"unreadable dataset ({_first_line(exc)})") from None
        item = np.asarray(raw).reshape(-1)[0] if np.size(raw) else b""
        if isinstance(item, bytes):
            try:
                item = item.decode("ascii")
            except UnicodeDecodeError:
                raise self.error(where, "expected an ASCII string") from None
        if len(item) > MAX_TEXT_BYTES:
            raise self.error(where, f"string of {len(item)} characters; a type name has at most {MAX_TEXT_BYTES}")
        return str(item)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
