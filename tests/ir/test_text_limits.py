"""The text reader is bounded: array rank, declared elements (inline, splat and sidecar), node
count, JSON nesting; a sidecar is a regular file beside the text; a model file's parameters
are finite. Each refusal is one ParseError (file:line:col) or MalformedInputError line."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from snnc.errors import MalformedInputError, ParseError, UsageError
from snnc.frontends import snnir as fsnnir
from snnc.ir import GraphBuilder, snn
from snnc.ir.text import MAX_NODES, load_snnir, parse_graph, save_snnir
from snnc.ir.text.parser import MAX_RANK
from snnc.safeio import MAX_ELEMENTS
from tests.ir.test_text import BASE, at

HEAD = "snnir 1 dt=0.001 method=euler\n"


def parse_error(text: str, **kw) -> str:
    with pytest.raises(ParseError) as err:
        parse_graph(text, file="m.snnir", **kw)
    return str(err.value)


def test_deep_array_nesting_is_a_parse_error_not_a_recursion_error():
    depth = 5000
    text = HEAD + "node s = snn.scale {scale = f64[" + ", ".join(["1"] * depth) + "] " + "[" * depth + "1" \
        + "]" * depth + "}\n"
    assert parse_error(text) == f"m.snnir:2:32: array has {depth} dimensions (expected at most {MAX_RANK})"


def test_deep_list_nesting_in_a_field_is_a_parse_error():
    text = HEAD + "node x = snn.input {shape = " + "[" * 5000 + "]" * 5000 + "}\n"
    assert parse_error(text) == "m.snnir:2:30: an entry of snn.input field 'shape' is a list (expected an integer)"


def test_deep_json_in_the_mapping_statement_is_a_parse_error():
    nested = "[" * 100_000 + "]" * 100_000
    text = BASE + 'mapping "' + nested + '"\n'
    assert parse_error(text) == (f"{at(text, chr(34) + '[')}: mapping: the JSON nests too deeply (expected the "
                                 f"mapping record's few levels)")


def test_declared_elements_are_bounded_before_allocation():
    text = BASE.replace("tau = f64[2] splat 0.02", "tau = f64[100000000] splat 0.02")
    assert parse_error(text) == (f"{at(text, '[100000000]')}: shape [100000000] declares 100000000 elements, "
                                 f"100000008 in all, over the limit of {MAX_ELEMENTS} per input (raise it with the "
                                 f"load option max_elements=N)")
    text = BASE.replace("v_leak = f64[2] splat 0.0", "v_leak = f64[2] [0.0, 0.0]")    # 18 elements in all
    last = at(text, "[2] splat 0.0,\n  reset_mode")                                  # v_reset's shape
    assert parse_error(text, max_elements=17) == (f"{last}: shape [2] declares 2 elements, 18 in all, over the "
                                                  f"limit of 17 per input (raise it with the load option "
                                                  f"max_elements=N)")
    assert parse_graph(text, max_elements=18).op("lif").v_leak.shape == (2,)


def test_a_text_with_too_many_nodes_is_refused_before_it_is_parsed(tmp_path):
    """20,000 node statements: refused by counting, before the parser sees the text, so the
    malformed tail after the limit is never reached."""
    lines = [HEAD.rstrip(), "node x = snn.input {shape = [2]}"]
    lines += [f"node s{i} = snn.scale {{scale = f64[2] [1.0, 2.0]}}" for i in range(20_000)]
    lines += ["this is not snnir"]
    (tmp_path / "chain.snnir").write_text("\n".join(lines) + "\n")
    with pytest.raises(ParseError) as err:
        load_snnir(tmp_path / "chain.snnir")
    assert str(err.value) == (f"{tmp_path / 'chain.snnir'}:{MAX_NODES + 2}:1: more than {MAX_NODES} nodes (raise "
                              f"the limit with the load option max_nodes=N)")
    small = "\n".join(lines[:7] + lines[-1:]) + "\n"                     # 6 nodes, then the same tail
    (tmp_path / "small.snnir").write_text(small)
    with pytest.raises(ParseError, match=r":7:1: more than 5 nodes"):
        load_snnir(tmp_path / "small.snnir", max_nodes=5)
    with pytest.raises(ParseError, match=r":8:1: unexpected 'this'"):
        load_snnir(tmp_path / "small.snnir", max_nodes=6)


SIDECAR_TEXT = BASE.replace("f64[2, 3] [[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]]", "f64[2, 3] @fc.weight")
REF = at(SIDECAR_TEXT, "fc.weight").removeprefix("m.snnir")        # ':line:col' of the reference


def sidecar_model(tmp_path):
    """BASE with fc.weight in the sidecar m.npz."""
    (tmp_path / "m.snnir").write_text(SIDECAR_TEXT)
    return tmp_path / "m.snnir"


def write_npz(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def npy(array=None, *, header=None) -> bytes:
    buf = io.BytesIO()
    if header is None:
        np.lib.format.write_array(buf, array, allow_pickle=True)
    else:
        np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def test_sidecar_arrays_are_read_and_checked_from_their_header(tmp_path):
    path = sidecar_model(tmp_path)
    write_npz(tmp_path / "m.npz", {"fc.weight.npy": npy(np.arange(6.0).reshape(2, 3))})
    assert load_snnir(path).op("fc").weight.tolist() == [[0, 1, 2], [3, 4, 5]]
    write_npz(tmp_path / "m.npz", {"fc.weight.npy": npy(header={"descr": "<f8", "fortran_order": False,
                                                                "shape": (10**9, 3)})})
    with pytest.raises(ParseError) as err:
        load_snnir(path)
    assert str(err.value) == (f"{path}{REF}: m.npz array 'fc.weight' is f64[1000000000, 3] (expected f64[2, 3] as "
                              f"declared)")


def test_sidecar_budget_and_pickles(tmp_path):
    path = sidecar_model(tmp_path)
    write_npz(tmp_path / "m.npz", {"fc.weight.npy": npy(np.arange(6.0).reshape(2, 3))})
    with pytest.raises(ParseError) as err:
        load_snnir(path, max_elements=5)
    assert str(err.value) == (f"{path}{REF}: {tmp_path / 'm.npz'}:array 'fc.weight': shape [2, 3] declares 6 "
                              f"elements, 6 in all, over the limit of 5 per input (raise it with the load option "
                              f"max_elements=N)")
    write_npz(tmp_path / "m.npz", {"fc.weight.npy": npy(np.array([[{}] * 3] * 2, dtype=object))})
    with pytest.raises(ParseError) as err:
        load_snnir(path)
    assert str(err.value) == (f"{path}{REF}: {tmp_path / 'm.npz'}: array 'fc.weight' holds Python objects (dtype "
                              f"object); snnc never unpickles (expected numbers)")


def test_a_symlinked_sidecar_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_npz(outside / "w.npz", {"fc.weight.npy": npy(np.arange(6.0).reshape(2, 3))})
    model = tmp_path / "model"
    model.mkdir()
    path = sidecar_model(model)
    (model / "m.npz").symlink_to(outside / "w.npz")
    with pytest.raises(MalformedInputError) as err:
        load_snnir(path)
    assert str(err.value) == (f"{path}:its sidecar: refers to 'm.npz' through a symbolic link ({model / 'm.npz'}); "
                              f"snnc reads side files only as regular files in the model's folder")


def test_a_model_file_must_hold_finite_parameters(tmp_path):
    text = BASE.replace("bias = f64[2] [0.25, -0.75]", "bias = f64[2] [0.25, nan]")
    (tmp_path / "m.snnir").write_text(text)
    assert np.isnan(load_snnir(tmp_path / "m.snnir").op("fc").bias[1])     # the IR's own text keeps any value
    with pytest.raises(MalformedInputError) as err:
        fsnnir.load(tmp_path / "m.snnir")
    assert str(err.value) == (f"{tmp_path / 'm.snnir'}:node 'fc' (from 'layers.0'): field 'bias' holds NaN at [1] "
                              f"(expected finite numbers)")


def test_snnir_load_options(tmp_path):
    (tmp_path / "m.snnir").write_text(BASE)
    g = fsnnir.load(tmp_path / "m.snnir", max_nodes=4, max_elements=100)
    assert len(g.nodes) == 4
    with pytest.raises(ParseError, match=r"more than 3 nodes"):
        fsnnir.load(tmp_path / "m.snnir", max_nodes=3)
    with pytest.raises(UsageError) as err:
        fsnnir.load(tmp_path / "m.snnir", dt=1e-3)
    assert str(err.value) == (f"{tmp_path / 'm.snnir'}: .snnir files take only the load options max_elements, "
                              f"max_expansion, max_nodes (got dt)")
    with pytest.raises(UsageError, match=r"max_nodes must be a whole number >= 1, got 0$"):
        fsnnir.load(tmp_path / "m.snnir", max_nodes=0)


def test_saved_sidecars_round_trip_through_the_bounded_reader(tmp_path):
    b = GraphBuilder(dt=1e-3)
    x = b.input("x", (150,))
    w = np.arange(300.0).reshape(2, 150) / 7
    b.output("y", b.add("fc", snn.Linear(weight=w), x), (2,))
    g = b.build()
    save_snnir(g, tmp_path / "g.snnir")
    assert (tmp_path / "g.npz").exists()
    assert load_snnir(tmp_path / "g.snnir") == g
    with pytest.raises(ParseError, match="over the limit of 299 per input"):
        load_snnir(tmp_path / "g.snnir", max_elements=299)
