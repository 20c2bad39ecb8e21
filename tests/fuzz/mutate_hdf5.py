"""Mutations of HDF5 files, NIR and netx (see `mutate.py`), made with h5py on a copy."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from tests.fuzz.seeds import SECRET, Case


# -- HDF5 (NIR, netx) --------------------------------------------------------------------------------------
def _h5_edit(case: Case, edit: Callable, what: str, invalid: str = "") -> Case:
    import h5py
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.h5"
        path.write_bytes(case.files[case.model])
        try:
            with h5py.File(path, "a") as f:
                result = edit(f)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError):
            return case                                # the edit itself failed: keep the case as is
        if result is False:
            return case
        return case.with_file(case.model, path.read_bytes(), what, invalid)


def _datasets(f) -> list:
    import h5py
    found = []
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
    return found


def _groups(f) -> list:
    import h5py
    found = ["/"]
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Group) else None)
    return found


def _param_datasets(f) -> list:
    """Float datasets that are model parameters (not types, shapes, edges or metadata)."""
    skip = ("type", "shape", "edges", "input_type", "output_type", "version", "metadata", "stride", "padding",
            "dilation", "kernel_size", "groups", "start_dim", "end_dim", "input_shape")
    return [n for n in _datasets(f) if f[n].dtype.kind == "f" and f[n].size and not set(n.split("/")) & set(skip)]


def h5_values(case: Case, rng: random.Random) -> Case:
    """A parameter's values replaced by NaN, inf, huge, negative or zero, keeping its shape."""
    value = rng.choice((np.nan, np.inf, -np.inf, 1e308, -1e12, 0.0, -1.0, 1e-320))
    box = {}

    def edit(f):
        names = _param_datasets(f)
        if not names:
            return False
        name = box["name"] = rng.choice(names)
        data = np.array(f[name][()], dtype=f[name].dtype)
        with np.errstate(over="ignore"):
            data.reshape(-1)[rng.randrange(data.size)] = value     # 1e308 overflows float32 to inf
        f[name][...] = data
        box["finite"] = bool(np.all(np.isfinite(data)))
    out = _h5_edit(case, edit, f"set a value of a parameter to {value}")
    if out is case or box.get("finite", True):
        return out
    return Case(out.kind, out.files, out.model, out.invalid or "a non-finite parameter", out.history)


def h5_replace(case: Case, rng: random.Random) -> Case:
    """A dataset replaced by one of another shape or type (string, int, 0-d, empty, 3-D)."""
    def edit(f):
        name = rng.choice(_datasets(f))
        del f[name]
        f[name] = rng.choice((np.array("text"), np.array([b"a", b"b"]), np.int64(3), np.zeros(0),
                              np.ones((2, 2, 2)), np.array([1.5]), np.array(-7), np.arange(5)))
    return _h5_edit(case, edit, "replace a dataset")


def h5_delete(case: Case, rng: random.Random) -> Case:
    def edit(f):
        name = rng.choice(_datasets(f) + _groups(f)[1:])
        del f[name]
    return _h5_edit(case, edit, "delete a key")


def h5_add(case: Case, rng: random.Random) -> Case:
    def edit(f):
        group = f[rng.choice(_groups(f))]
        key = rng.choice(("extra", "type", "nodes", "edges", "weight", "0", "99", "neuron"))
        if key in group:
            del group[key]
        if rng.random() < 0.5:
            group.create_group(key)
        else:
            group[key] = rng.choice((np.array("LIF"), np.array("NIRGraph"), np.zeros((2, 2)), np.array(b"dense")))
    return _h5_edit(case, edit, "add a key")


def h5_type(case: Case, rng: random.Random) -> Case:
    """A node's or layer's type string replaced by another known type or garbage."""
    def edit(f):
        names = [n for n in _datasets(f) if n.split("/")[-1] == "type"]
        if not names:
            return False
        name = rng.choice(names)
        new = rng.choice(("LIF", "CubaLIF", "NIRGraph", "Affine", "Conv2d", "Flatten", "Input", "Output", "IF",
                          "dense", "conv", "pool", "input", "flatten", "CUBA", "SDNN", "Identity", "", "\u00e9"))
        del f[name]
        f[name] = np.array(new.encode()) if rng.random() < 0.5 else np.array([new.encode()], dtype="S10")
    return _h5_edit(case, edit, "change a type")


def h5_outside(case: Case, rng: random.Random) -> Case:
    """A dataset replaced by an external link, a soft link, external storage or a virtual dataset
    whose data is outside the file."""
    import h5py
    how = rng.choice(("external-link", "soft-link", "external-storage", "virtual", "hard-cycle"))
    outside = "../outside"          # relative to the file (links, virtual sources) or the working directory

    def edit(f):
        names = _param_datasets(f) or _datasets(f)
        name = rng.choice(names)
        shape, dtype = f[name].shape, f[name].dtype
        del f[name]
        if how == "external-link":
            f[name] = h5py.ExternalLink(outside + "/other.h5", "/x")
        elif how == "soft-link":
            f[name] = h5py.SoftLink("/" + name.rsplit("/", 1)[0] if "/" in name else "/")
        elif how == "external-storage":
            f.create_dataset(name, shape=shape or (1,), dtype=dtype if dtype.kind in "fi" else "<f8",
                             external=[(outside + "/secret.bin", 0, 1024)])
        elif how == "virtual":
            layout = h5py.VirtualLayout(shape=shape or (1,), dtype="<f8")
            layout[...] = h5py.VirtualSource(outside + "/other.h5", "x", shape=shape or (1,))
            f.create_virtual_dataset(name, layout)
        else:
            parent = name.rsplit("/", 1)[0] if "/" in name else "/"
            f[name] = f[parent] if parent != "/" else f
    out = _h5_edit(case, edit, f"{how} out of the file", f"an HDF5 {how}")
    if out is case:
        return case
    out = out.with_file("../outside/secret.bin", SECRET, "outside file")
    return out.with_file("../outside/other.h5", _other_h5(), "outside HDF5 file")


def _other_h5() -> bytes:
    import h5py
    with tempfile.TemporaryDirectory() as tmp:
        with h5py.File(Path(tmp) / "o.h5", "w") as f:
            f["x"] = np.frombuffer(SECRET[:1024], "<f8")
        return (Path(tmp) / "o.h5").read_bytes()


def h5_huge(case: Case, rng: random.Random) -> Case:
    """A parameter declared [16, 1e9] or [16, 4e6] (never written): refused before it is read."""
    shape = rng.choice(((16, 10**9), (16, 4_000_000), (10**12,)))

    def edit(f):
        names = _param_datasets(f) or _datasets(f)
        name = rng.choice(names)
        del f[name]
        f.create_dataset(name, shape=shape, dtype="<f8")
    return _h5_edit(case, edit, f"declare a {list(shape)} dataset", "a declared size past the limits")


def h5_deep(case: Case, rng: random.Random) -> Case:
    """Groups nested deep inside the part of the file the reader walks (NIR's 'node' tree, netx's
    'layer' group): a NIR reader walks every group there (netx reads named layers only)."""
    def edit(f):
        top = "node/nodes" if "node/nodes" in f else ("layer" if "layer" in f else "")
        f.create_group("/".join([top] * bool(top) + ["g"] * rng.choice((40, 2000))))
    return _h5_edit(case, edit, "nest groups deep", "groups nested past the limit" if case.kind == "nir" else "")


def h5_text(case: Case, rng: random.Random) -> Case:
    """A string dataset (a type, metadata JSON, an edge list) replaced by other text: JSON of the
    wrong shape or nested deep, unknown names, empty, not UTF-8."""
    def edit(f):
        names = [n for n in _datasets(f) if f[n].dtype.kind in "OS"]
        if not names:
            return False
        name = rng.choice(names)
        new = rng.choice(('{"a": 1}', "[1, 2", "[[\"x\", \"output\", \"y\", \"input\", true]]", "null", "[]",
                          "[" * 50_000 + "]" * 50_000, "nonsense", "", "\u00e9\u0000", "1e999", '"2"'))
        del f[name]
        f[name] = np.array(new.encode("utf-8", errors="replace"))
    return _h5_edit(case, edit, "replace a string")


def h5_edges(case: Case, rng: random.Random) -> Case:
    """NIR edges changed: to a node that does not exist, a self-loop, a same-tick cycle, a duplicate."""
    def edit(f):
        names = [n for n in _datasets(f) if n.endswith("edges") and f[n].ndim == 2]
        if not names:
            return False
        name = rng.choice(names)
        rows = [[v.decode() if isinstance(v, bytes) else str(v) for v in row] for row in f[name][()]]
        nodes = sorted({v for row in rows for v in row})
        how = rng.choice(("dangling", "self", "cycle", "duplicate", "empty"))
        if how == "dangling":
            rows.append([rng.choice(nodes), "no_such_node"])
        elif how == "self":
            n = rng.choice(nodes)
            rows.append([n, n])
        elif how == "cycle":
            rows.append(rows[-1][::-1])
        elif how == "duplicate":
            rows.append(rows[0])
        else:
            rows = []
        del f[name]
        f[name] = np.array(rows, dtype=object).reshape(-1, 2) if rows else np.zeros((0, 2), dtype="S1")
    return _h5_edit(case, edit, "change the edges")


HDF5 = (h5_values, h5_replace, h5_delete, h5_add, h5_type, h5_outside, h5_huge, h5_deep, h5_text)
NIR_ONLY = (h5_edges,)
