"""Bounded, confined reading (snnc.safeio): HDF5 probes, .npz headers, side files, finite values.

Every hostile file is built in tmp_path; "outside" files are other files in tmp_path, whose
bytes must never come back.
"""
from __future__ import annotations

import io
import os
import zipfile

import h5py
import numpy as np
import pytest

from snnc.errors import MalformedInputError, UsageError
from snnc.ir import GraphBuilder, snn
from snnc.safeio import (EXPANSION_FLOOR, MAX_DEPTH, MAX_ELEMENTS, MAX_EXPANSION, Budget, Limits, NpzArchive, check_finite,
                         confined_file, open_hdf5, read_npz)

SECRET = b"outside-the-model: 0123456789abcdef" * 4


def secret_file(tmp_path):
    p = tmp_path / "outside.bin"
    p.write_bytes(SECRET)
    return p


def opened(path, **kw):
    with open_hdf5(path, **kw) as f:
        return sorted(f.keys())


# -- HDF5: read only what was named -------------------------------------------------------------------
def test_plain_hdf5_file_opens(tmp_path):
    with h5py.File(tmp_path / "ok.h5", "w") as f:
        f.create_group("g").create_dataset("w", data=np.arange(6.0).reshape(2, 3))
    assert opened(tmp_path / "ok.h5") == ["g"]


def test_external_storage_is_refused(tmp_path):
    outside = secret_file(tmp_path)
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_group("g").create_dataset("w", shape=(4,), dtype="f8", external=[(str(outside), 0, 32)])
    with pytest.raises(MalformedInputError) as err:
        opened(tmp_path / "m.h5")
    assert str(err.value) == (f"{tmp_path / 'm.h5'}:/g/w: a dataset stored in the external file '{outside}'; "
                              f"snnc reads only the file it was given")


def test_external_link_is_refused(tmp_path):
    outside = tmp_path / "other.h5"
    with h5py.File(outside, "w") as f:
        f["x"] = np.frombuffer(SECRET, np.uint8)
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_group("g")["w"] = h5py.ExternalLink(str(outside), "/x")
    with pytest.raises(MalformedInputError) as err:
        opened(tmp_path / "m.h5")
    assert str(err.value) == (f"{tmp_path / 'm.h5'}:/g/w: an external link to '/x' in '{outside}'; "
                              f"snnc reads only the file it was given")


def test_soft_link_is_refused(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        g = f.create_group("g")
        g["loop"] = h5py.SoftLink("/g")            # a recursive reader would never end
    with pytest.raises(MalformedInputError) as err:
        opened(tmp_path / "m.h5")
    assert str(err.value) == (f"{tmp_path / 'm.h5'}:/g/loop: a soft link to '/g'; snnc reads objects stored "
                              f"under their own name only")


def test_hard_link_cycle_is_refused(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        g = f.create_group("g")
        g["again"] = g                              # a hard link to its own group
    with pytest.raises(MalformedInputError) as err:
        opened(tmp_path / "m.h5")
    assert str(err.value) == (f"{tmp_path / 'm.h5'}:/g/again: this object is linked twice (a cycle or a "
                              f"shared object); snnc reads trees")


def test_virtual_dataset_is_refused(tmp_path):
    outside = tmp_path / "source.h5"
    with h5py.File(outside, "w") as f:
        f["x"] = np.arange(4.0)
    layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(outside), "x", shape=(4,))
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_virtual_dataset("v", layout)
    with pytest.raises(MalformedInputError) as err:
        opened(tmp_path / "m.h5")
    assert str(err.value) == (f"{tmp_path / 'm.h5'}:/v: a virtual dataset (its data lives in other files); "
                              f"snnc reads only the file it was given")


def test_deep_group_nesting_is_refused(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_group("/".join(["g"] * (MAX_DEPTH + 2)))
    with pytest.raises(MalformedInputError, match=rf"groups nest more than {MAX_DEPTH} deep$"):
        opened(tmp_path / "m.h5")


# -- HDF5: bounded ----------------------------------------------------------------------------------
def test_declared_elements_count_against_the_limit(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_dataset("a", data=np.zeros(300))
        f.create_dataset("b", data=np.zeros((2, 400)))
    assert opened(tmp_path / "m.h5", limits=Limits(max_elements=1100)) == ["a", "b"]
    with pytest.raises(MalformedInputError) as err:
        opened(tmp_path / "m.h5", limits=Limits(max_elements=1099))
    assert str(err.value) == (f"{tmp_path / 'm.h5'}:/b: shape [2, 400] declares 800 elements, 1100 in all, over "
                              f"the limit of 1099 per input (raise it with the load option max_elements=N)")


def test_a_huge_unwritten_dataset_is_refused_before_it_is_read(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_dataset("w", shape=(16, 4_000_000), dtype="f8")       # 512 MB of fill value, 0 bytes stored
        f.create_dataset("huge", shape=(16, 1_000_000_000), dtype="f8")
    assert os.path.getsize(tmp_path / "m.h5") < 10_000
    with pytest.raises(MalformedInputError) as err:
        opened(tmp_path / "m.h5")
    assert str(err.value) == (f"{tmp_path / 'm.h5'}:/huge: shape [16, 1000000000] declares 16000000000 elements, "
                              f"16000000000 in all, over the limit of {MAX_ELEMENTS} per input (raise it with the "
                              f"load option max_elements=N)")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        del f["huge"]
    with pytest.raises(MalformedInputError) as err:
        opened(tmp_path / "m.h5")
    assert str(err.value) == (f"{tmp_path / 'm.h5'}:/w: declares 512000000 bytes but stores 0: more than "
                              f"{MAX_EXPANSION} declared bytes per stored byte (raise it with the load option "
                              f"max_expansion=X)")


def test_gzip_zeros_pass_but_unwritten_chunks_are_an_expansion(tmp_path):
    """Deflate compresses at most ~1032-fold, within MAX_EXPANSION; a chunked dataset whose
    chunks were never written stores nothing at all."""
    n = EXPANSION_FLOOR // 8 * 4
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_dataset("z", data=np.zeros(n), compression="gzip", chunks=(n // 4,))
    assert opened(tmp_path / "m.h5") == ["z"]
    with h5py.File(tmp_path / "m.h5", "a") as f:
        f.create_dataset("unwritten", shape=(n,), dtype="f8", compression="gzip", chunks=(n // 4,))
    with pytest.raises(MalformedInputError) as err:
        opened(tmp_path / "m.h5")
    assert str(err.value) == (f"{tmp_path / 'm.h5'}:/unwritten: declares 4194304 bytes but stores 0: more than "
                              f"{MAX_EXPANSION} declared bytes per stored byte (raise it with the load option "
                              f"max_expansion=X)")
    assert opened(tmp_path / "m.h5", limits=Limits(max_expansion=1e12)) == ["unwritten", "z"]


def test_limit_options_are_checked():
    assert Limits.from_options(10, 2.5) == Limits(max_elements=10, max_expansion=2.5)
    assert Limits.from_options() == Limits()
    for bad in (0, -5, 1.5, "7", True, float("nan")):
        with pytest.raises(UsageError, match=rf"^x: max_elements must be a whole number >= 1, got {bad!r}$"):
            Limits.from_options(max_elements=bad, who="x")
    with pytest.raises(UsageError, match=r"^x: max_expansion must be a number >= 1, got 0.5$"):
        Limits.from_options(max_expansion=0.5, who="x")


# -- .npz -------------------------------------------------------------------------------------------
def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_npz_reads_every_array():
    got = read_npz(npz_bytes(a=np.arange(3), b=np.eye(2)), file="t.npz")
    assert sorted(got) == ["a", "b"] and np.array_equal(got["b"], np.eye(2))


def test_npz_budget_is_checked_from_the_header_before_reading():
    data = npz_bytes(a=np.zeros(70), b=np.zeros((5, 7)))
    with pytest.raises(MalformedInputError) as err:
        read_npz(data, file="t.npz", limits=Limits(max_elements=100))
    assert str(err.value) == ("t.npz:array 'b': shape [5, 7] declares 35 elements, 105 in all, over the limit "
                              "of 100 per input (raise it with the load option max_elements=N)")


def test_npz_header_that_lies_about_its_size_is_refused():
    """A header declaring a [1e9] array over 8 stored bytes: refused from the header alone."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.npy", header.getvalue() + b"\0" * 8)
    with pytest.raises(MalformedInputError) as err:
        read_npz(buf.getvalue(), file="t.npz")
    assert str(err.value) == (f"t.npz:array 'big': shape [1000000000] declares 1000000000 elements, 1000000000 "
                              f"in all, over the limit of {MAX_ELEMENTS} per input (raise it with the load option "
                              f"max_elements=N)")
    stored = zipfile.ZipFile(io.BytesIO(buf.getvalue())).getinfo("big.npy").compress_size
    with pytest.raises(MalformedInputError) as err:
        read_npz(buf.getvalue(), file="t.npz", limits=Limits(max_elements=10**10))
    assert str(err.value) == (f"t.npz:array 'big': declares 8000000000 bytes but stores {stored}: more than "
                              f"{MAX_EXPANSION} declared bytes per stored byte (raise it with the load option "
                              f"max_expansion=X)")
    with pytest.raises(MalformedInputError) as err:
        read_npz(buf.getvalue(), file="t.npz", limits=Limits(max_elements=10**10, max_expansion=1e12))
    assert str(err.value) == ("t.npz: array 'big' is truncated: its header declares 8000000000 bytes of data, "
                              "the member holds 8")


def test_npz_deflated_zeros_are_counted_by_elements():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("z.npy", "w") as f:
            np.lib.format.write_array(f, np.zeros(1 << 19))         # 4 MiB that deflate ~1000-fold
    assert read_npz(buf.getvalue(), file="t.npz")["z"].shape == (1 << 19,)
    with pytest.raises(MalformedInputError, match=r"^t.npz:array 'z': shape \[524288\] declares 524288 elements"):
        read_npz(buf.getvalue(), file="t.npz", limits=Limits(max_elements=1 << 18))


def test_npz_pickled_objects_are_refused():
    data = npz_bytes(o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(MalformedInputError) as err:
        read_npz(data, file="t.npz")
    assert str(err.value) == "t.npz: array 'o' holds Python objects (dtype object); snnc never unpickles " \
                             "(expected numbers)"


def test_npz_not_a_zip_and_truncated_member():
    with pytest.raises(MalformedInputError, match=r"^t.npz: not a readable .npz archive \("):
        read_npz(b"PK\x03\x04 nonsense", file="t.npz")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10,)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("short.npy", header.getvalue() + b"\0" * 16)
    with pytest.raises(MalformedInputError) as err:
        read_npz(buf.getvalue(), file="t.npz")
    assert str(err.value) == "t.npz: array 'short' is truncated: its header declares 80 bytes of data, the " \
                             "member holds 16"


def test_npz_archive_shares_one_budget_and_reads_lazily():
    budget = Budget(Limits(max_elements=10))
    with NpzArchive(npz_bytes(a=np.zeros(6), b=np.zeros(6)), file="t.npz", budget=budget) as z:
        assert z.header("b") == ((6,), np.dtype("<f8")) and budget.used == 0
        z["a"]
        with pytest.raises(MalformedInputError, match="12 in all, over the limit of 10"):
            z["b"]


# -- side files ---------------------------------------------------------------------------------------
def test_confined_file_accepts_a_regular_file_in_the_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "w.bin").write_bytes(b"1234")
    assert confined_file(tmp_path, "sub/w.bin", file="m", where="t") == tmp_path / "sub" / "w.bin"


@pytest.mark.parametrize("name, why", [
    ("../outside.bin", "outside the model's folder"),
    ("/abs/outside.bin", "outside the model's folder"),
    ("", "outside the model's folder"),
])
def test_confined_file_refuses_escapes(tmp_path, name, why):
    model = tmp_path / "model"
    model.mkdir()
    secret_file(tmp_path)
    with pytest.raises(MalformedInputError) as err:
        confined_file(model, name, file="m.onnx", where="initializer 'w'")
    assert str(err.value) == (f"m.onnx:initializer 'w': refers to '{name}', {why} (expected a file name "
                              f"relative to {model})")


def test_confined_file_refuses_symlinks_and_non_files(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "link.bin").symlink_to(secret_file(tmp_path))
    (model / "dir").mkdir()
    (model / "dirlink").symlink_to(tmp_path)
    with pytest.raises(MalformedInputError) as err:
        confined_file(model, "link.bin", file="m", where="w")
    assert str(err.value) == (f"m:w: refers to 'link.bin' through a symbolic link ({model / 'link.bin'}); snnc "
                              f"reads side files only as regular files in the model's folder")
    with pytest.raises(MalformedInputError, match=r"through a symbolic link \(.*dirlink\)"):
        confined_file(model, "dirlink/outside.bin", file="m", where="w")
    with pytest.raises(MalformedInputError, match=r"^m:w: refers to 'dir', which is not a regular file$"):
        confined_file(model, "dir", file="m", where="w")
    with pytest.raises(MalformedInputError, match=r"^m:w: refers to 'gone.bin', which cannot be read \("):
        confined_file(model, "gone.bin", file="m", where="w")


# -- finite values ------------------------------------------------------------------------------------
def lif_graph(**fields):
    values = dict(tau=np.full(3, 0.02), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3),
                  v_reset=np.zeros(3))
    values.update(fields)
    b = GraphBuilder(dt=1e-3)
    x = b.input("x", (3,))
    b.output("y", b.add("lif", snn.LIF(**values), x, origin="net.lif"), (3,))
    return b.build()


@pytest.mark.parametrize("field, value, shown", [
    ("v_reset", np.array([0.0, 0.0, np.nan]), "NaN at [2]"),
    ("v_threshold", np.array([1.0, np.inf, 1.0]), "inf at [1]"),
    ("r", np.array([-np.inf, 1.0, 1.0]), "-inf at [0]"),
])
def test_check_finite_names_node_field_and_place(field, value, shown):
    with pytest.raises(MalformedInputError) as err:
        check_finite(lif_graph(**{field: value}), file="m.snnir")
    assert str(err.value) == (f"m.snnir:node 'lif' (from 'net.lif'): field '{field}' holds {shown} "
                              f"(expected finite numbers)")
    check_finite(lif_graph(), file="m.snnir")
