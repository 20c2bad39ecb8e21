"""ONNX files that reach outside their folder, declare unbounded sizes, or are not what snnc
reads (foreign domains, unknown opsets, no outputs, bad casts, strings, NaN): one line each."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from snnc.errors import MalformedInputError, UnsupportedOpError, UsageError
from snnc.frontends import onnx as fonnx
from snnc.safeio import MAX_ELEMENTS

WEIGHT = np.arange(12, dtype=np.float32).reshape(3, 4) / 10


def model(nodes=None, inits=None, *, outputs=True, opset=17, in_shape=(1, 4)):
    """x [1, 4] -> Gemm (fc) -> Relu (act) -> y [1, 3]: an ANN the frontend reads."""
    inits = [nh.from_array(WEIGHT, "W"), nh.from_array(np.zeros(3, np.float32), "B")] if inits is None else inits
    nodes = nodes or [h.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc", transB=1),
                      h.make_node("Relu", ["h"], ["y"], name="act")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, list(in_shape))],
                         [h.make_tensor_value_info("y", T.FLOAT, [1, 3])] if outputs else [], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])


def tensor(name, dims, **data) -> onnx.TensorProto:
    """A float tensor whose data need not fit its dims (onnx.helper checks that; a file need not)."""
    t = onnx.TensorProto(name=name, data_type=T.FLOAT, dims=dims)
    for field, values in data.items():
        getattr(t, field).extend(values)
    return t


def saved(tmp_path, m, name="m.onnx"):
    path = tmp_path / name
    onnx.save(m, path)
    return path


def error(tmp_path, m, kind=MalformedInputError, **options) -> tuple[str, str]:
    path = saved(tmp_path, m)
    with pytest.raises(kind) as err:
        fonnx.load(path, **options)
    return str(err.value), str(path)


def test_the_seed_model_loads(tmp_path):
    g = fonnx.load(saved(tmp_path, model()))
    np.testing.assert_allclose(g.op("affine").weight, WEIGHT, rtol=1e-7)


# -- external data --------------------------------------------------------------------------------------
def external(tmp_path, location: str, *, offset=0, length=None, data=WEIGHT.tobytes()):
    """The seed model with W stored externally at `location` (relative to the model's folder)."""
    m = model()
    w = m.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = T.EXTERNAL
    entries = {"location": location, "offset": str(offset), **({"length": str(length)} if length is not None else {})}
    for k, v in entries.items():
        w.external_data.add(key=k, value=v)
    return m


def test_external_data_in_the_models_folder_is_read(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"pad!" + WEIGHT.tobytes())
    g = fonnx.load(saved(tmp_path, external(tmp_path, "w.bin", offset=4, length=48)))
    np.testing.assert_allclose(g.op("affine").weight, WEIGHT, rtol=1e-7)


def test_external_data_outside_the_folder_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(WEIGHT.tobytes())
    sub = tmp_path / "model"
    sub.mkdir()
    m = external(tmp_path, "../secret.bin")
    path = saved(sub, m)
    with pytest.raises(MalformedInputError) as err:
        fonnx.load(path)
    assert str(err.value) == (f"{path}:initializer 'W' external data: refers to '../secret.bin', outside the "
                              f"model's folder (expected a file name relative to {sub})")
    m = external(tmp_path, str(tmp_path / "secret.bin"))
    with pytest.raises(MalformedInputError, match=r"refers to '/.*secret.bin', outside the model's folder"):
        fonnx.load(saved(sub, m))


def test_external_data_through_a_symlink_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(WEIGHT.tobytes())
    sub = tmp_path / "model"
    sub.mkdir()
    (sub / "w.bin").symlink_to(tmp_path / "secret.bin")
    msg, path = error(sub, external(tmp_path, "w.bin"))
    assert msg == (f"{path}:initializer 'W' external data: refers to 'w.bin' through a symbolic link "
                   f"({sub / 'w.bin'}); snnc reads side files only as regular files in the model's folder")


def test_external_data_past_the_end_of_its_file_is_refused(tmp_path):
    (tmp_path / "w.bin").write_bytes(WEIGHT.tobytes())
    msg, path = error(tmp_path, external(tmp_path, "w.bin", offset=8))
    assert msg == (f"{path}:initializer 'W': external data of 48 bytes at offset 8 in 'w.bin' (48 bytes): its dims "
                   f"[3, 4] need 48 bytes within the file")
    msg, _ = error(tmp_path, external(tmp_path, "w.bin", length=40))
    assert "external data of 40 bytes at offset 0" in msg


# -- what snnc reads ---------------------------------------------------------------------------------------
def test_unknown_opset_is_refused(tmp_path):
    msg, path = error(tmp_path, model(opset=99))
    assert msg == (f"{path}: opset 99 of the default domain is not one this onnx knows "
                   f"(expected 1 to {onnx.defs.onnx_opset_version()})")


def test_graph_without_outputs_is_refused(tmp_path):
    msg, path = error(tmp_path, model(outputs=False))
    assert msg == f"{path}: the graph has no outputs (expected at least one graph output)"


def test_op_of_a_foreign_domain_is_not_taken_as_the_standard_op(tmp_path):
    m = model()
    m.graph.node[0].domain = "com.example"
    m.opset_import.append(h.make_opsetid("com.example", 1))
    msg, path = error(tmp_path, m, UnsupportedOpError)
    assert msg == (f"{path}, node 'fc', op 'Gemm': an op of domain 'com.example', not a standard ONNX op (snnc "
                   f"reads the default domain only)")


def test_cast_to_an_unknown_type_names_the_node(tmp_path):
    m = model(nodes=[h.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc", transB=1),
                     h.make_node("Cast", ["h"], ["y"], name="to_nothing", to=-1)])
    msg, path = error(tmp_path, m, UnsupportedOpError)
    assert msg == (f"{path}, node 'to_nothing', op 'Cast': to=-1 is not an ONNX data type (expected a "
                   f"TensorProto.DataType value)")


def test_string_and_missized_initializers_are_refused(tmp_path):
    strings = h.make_tensor("labels", T.STRING, [1], [b"cat"])
    msg, path = error(tmp_path, model(inits=[nh.from_array(WEIGHT, "W"), nh.from_array(np.zeros(3, np.float32), "B"),
                                             strings]))
    assert msg == f"{path}:initializer 'labels': holds STRING values (expected a numeric or bool tensor)"
    short = tensor("B", [3], float_data=[0.0, 1.0])
    msg, path = error(tmp_path, model(inits=[nh.from_array(WEIGHT, "W"), short]))
    assert msg == f"{path}:initializer 'B': holds 2 values, but its dims [3] need 3"
    raw = nh.from_array(np.zeros(3, np.float32), "B")
    raw.raw_data = raw.raw_data[:8]
    msg, path = error(tmp_path, model(inits=[nh.from_array(WEIGHT, "W"), raw]))
    assert msg == f"{path}:initializer 'B': holds 8 bytes of data, but its dims [3] need 12"


def test_declared_sizes_are_bounded(tmp_path):
    msg, path = error(tmp_path, model(in_shape=(1, 10**12)))
    assert msg == (f"{path}:value 'x': shape [1, 1000000000000] declares 1000000000000 elements per value, over the "
                   f"limit of {MAX_ELEMENTS} (raise it with the load option max_elements=N)")
    huge = tensor("W", [3, 10**10])
    msg, path = error(tmp_path, model(inits=[huge, nh.from_array(np.zeros(3, np.float32), "B")]))
    assert msg == (f"{path}:initializer 'W': shape [3, 10000000000] declares 30000000000 elements, 30000000000 in "
                   f"all, over the limit of {MAX_ELEMENTS} per input (raise it with the load option max_elements=N)")


@pytest.mark.parametrize("op, inputs, size", [
    ("ConstantOfShape", [np.array([3, 4], np.int64)], 12),
    ("Expand", [np.ones((1, 4), np.float32), np.array([5, 4], np.int64)], 20),
    ("Tile", [np.ones((2, 2), np.float32), np.array([3, 4], np.int64)], 48),
    ("Range", [np.array(0.0, np.float32), np.array(30.0, np.float32), np.array(2.0, np.float32)], 15),
])
def test_a_constant_computed_past_the_limit_is_refused_before_it_is_computed(op, inputs, size):
    from snnc.frontends.onnx.consts import Constants
    names = [f"in{i}" for i in range(len(inputs))]
    graph = h.make_graph([], "g", [], [], [nh.from_array(a, n) for a, n in zip(inputs, names)])
    node = h.make_node(op, names, ["out"], name="grow")
    assert Constants(graph, {}, source="m.onnx", max_elements=size).fold(node)
    with pytest.raises(MalformedInputError) as err:
        Constants(graph, {}, source="m.onnx", max_elements=size - 1).fold(node)
    assert str(err.value) == (f"m.onnx: node 'grow' ({op}) would compute a constant of {size} elements, over the "
                              f"limit of {size - 1} (raise it with the load option max_elements=N)")


def test_nan_weight_is_refused_by_node_and_field(tmp_path):
    w = WEIGHT.copy()
    w[1, 2] = np.nan
    msg, path = error(tmp_path, model(inits=[nh.from_array(w, "W"), nh.from_array(np.zeros(3, np.float32), "B")]))
    assert msg == f"{path}:node 'affine' (from 'fc'): field 'weight' holds NaN at [1, 2] (expected finite numbers)"


def test_unknown_and_bad_options_are_usage_errors(tmp_path):
    path = saved(tmp_path, model())
    with pytest.raises(UsageError, match=r"unknown ONNX load option\(s\) reset_mode \(known: dt, state, outputs, "
                                         r"max_elements, max_expansion\)$"):
        fonnx.load(path, reset_mode="value")
    with pytest.raises(UsageError, match=r"outputs must be a list of output names, got 3$"):
        fonnx.load(path, outputs=3)
    with pytest.raises(UsageError, match=r"max_elements must be a whole number >= 1, got -1$"):
        fonnx.load(path, max_elements=-1)
