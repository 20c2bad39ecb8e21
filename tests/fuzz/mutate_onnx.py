"""Mutations of ONNX protobufs (see `mutate.py`)."""
from __future__ import annotations

import random
from dataclasses import replace
from typing import Callable

import numpy as np

from tests.fuzz.seeds import SECRET, Case


# -- ONNX ---------------------------------------------------------------------------------------------------
def _onnx_edit(case: Case, edit: Callable, what: str, invalid: str = "") -> Case:
    import onnx
    try:
        model = onnx.load_model_from_string(case.files[case.model])
    except Exception:  # noqa: BLE001 -- an earlier mutation broke the protobuf
        return case
    if edit(model) is False:
        return case
    return case.with_file(case.model, model.SerializeToString(), what, invalid)


def _used_weights(model) -> list:
    """Float initializers that a Gemm, MatMul or Conv takes as its weight."""
    used = {n.input[1] for n in model.graph.node if n.op_type in ("Gemm", "MatMul", "Conv") and len(n.input) > 1}
    return [t for t in model.graph.initializer if t.name in used and t.data_type == 1]


def onnx_op(case: Case, rng: random.Random) -> Case:
    def edit(m):
        node = rng.choice(list(m.graph.node))
        node.op_type = rng.choice(("Add", "Mul", "Gemm", "Relu", "Sigmoid", "Loop", "Scan", "MaxPool", "Cast",
                                   "Where", "Nonsense", "", "Conv", "Reshape"))
    return _onnx_edit(case, edit, "change an op")


def onnx_domain(case: Case, rng: random.Random) -> Case:
    def edit(m):
        node = rng.choice(list(m.graph.node))
        node.domain = rng.choice(("com.example", "ai.onnx.ml", "custom"))
        m.opset_import.add(domain=node.domain, version=1)
    return _onnx_edit(case, edit, "move an op to a foreign domain", "an op of a foreign domain")


OPSET_REASON = "an opset no onnx knows"


def onnx_opset(case: Case, rng: random.Random) -> Case:
    """The default domain's opset set to another version; a known one undoes an earlier unknown one."""
    version = rng.choice((99, 0, -1, 1, 7, 10**6))

    def edit(m):
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = version
    out = _onnx_edit(case, edit, f"opset {version}")
    if out is case:
        return case
    earlier = "" if case.invalid == OPSET_REASON else case.invalid
    return replace(out, invalid=earlier or (OPSET_REASON if version not in (1, 7) else ""))


def onnx_outputs(case: Case, rng: random.Random) -> Case:
    """The graph's outputs removed (a graph must have one), or the first renamed to a value no node makes."""
    remove = rng.random() < 0.6

    def edit(m):
        if remove:
            del m.graph.output[:]
        else:
            m.graph.output[0].name = "no_such_value"
    return _onnx_edit(case, edit, "remove or rename the outputs",
                      "a graph without outputs" if remove else "an output no node computes")


def onnx_cast(case: Case, rng: random.Random) -> Case:
    import onnx
    to = rng.choice((-1, 0, 8, 999, 14, 7))

    def edit(m):
        out = m.graph.output[0].name
        m.graph.node[-1].output[0] = out + "_pre"
        m.graph.node.append(onnx.helper.make_node("Cast", [out + "_pre"], [out], name="added_cast", to=to))
    return _onnx_edit(case, edit, f"cast the output to {to}")


def onnx_tensor(case: Case, rng: random.Random) -> Case:
    """An initializer made a string tensor, a NaN, huge dims, missized data, or external data."""
    import onnx
    how = rng.choice(("string", "nan", "dims", "short", "external-outside", "external-inside", "external-link"))
    box = {"invalid": ""}

    def edit(m):
        weights = _used_weights(m) or list(m.graph.initializer)
        if not weights:
            return False
        t = rng.choice(weights)
        used = t in _used_weights(m)
        if how == "string":
            t.data_type, t.raw_data = onnx.TensorProto.STRING, b""
            del t.string_data[:]
            t.string_data.extend([b"x"] * int(np.prod(t.dims)))
            box["invalid"] = "a string weight" if used else ""
        elif how == "nan":
            a = onnx.numpy_helper.to_array(t).copy()
            a.reshape(-1)[0] = np.nan
            t.CopyFrom(onnx.numpy_helper.from_array(a, t.name))
            box["invalid"] = "a NaN weight" if used else ""
        elif how == "dims":
            t.dims[0] = rng.choice((10**12, -3, 0, 10**8))
        elif how == "short":
            t.raw_data = t.raw_data[: len(t.raw_data) // 2]
        else:
            data = t.raw_data
            t.ClearField("raw_data")
            t.data_location = onnx.TensorProto.EXTERNAL
            location = {"external-outside": "../outside/secret.bin", "external-inside": "w.bin",
                        "external-link": "link.bin"}[how]
            t.external_data.add(key="location", value=location)
            box["data"] = data
            box["invalid"] = "external data outside the model's folder" if how != "external-inside" else ""
    out = _onnx_edit(case, edit, f"initializer: {how}")
    if out is case:
        return case
    out = Case(out.kind, out.files, out.model, out.invalid or box["invalid"], out.history)
    if how == "external-inside":
        out = out.with_file("w.bin", box["data"], "external data file")
    elif how == "external-link":
        out = out.with_file("../outside/secret.bin", box["data"], "outside data")
        out = out.with_file("link.bin", b"@symlink:../outside/secret.bin", "a symlink out")
    elif how == "external-outside":
        out = out.with_file("../outside/secret.bin", box["data"] + SECRET, "outside data")
    return out


def onnx_dims(case: Case, rng: random.Random) -> Case:
    huge = rng.choice((10**12, 10**9, -5, 0))

    def edit(m):
        vi = rng.choice(list(m.graph.input) + list(m.graph.output))
        dims = vi.type.tensor_type.shape.dim
        if not dims:
            return False
        rng.choice(list(dims)).dim_value = huge
    return _onnx_edit(case, edit, f"declare a dimension of {huge}",
                      "a declared size past the limits" if huge > 10**8 else "a negative dimension" if huge < 0 else "")


def onnx_rewire(case: Case, rng: random.Random) -> Case:
    def edit(m):
        how = rng.choice(("delete", "dangle", "shuffle", "self"))
        nodes = list(m.graph.node)
        if how == "delete":
            m.graph.node.remove(rng.choice(nodes))
        elif how == "dangle":
            node = rng.choice(nodes)
            if not node.input:
                return False
            node.input[rng.randrange(len(node.input))] = "nowhere"
        elif how == "shuffle":
            rng.shuffle(nodes)
            del m.graph.node[:]
            m.graph.node.extend(nodes)
        else:
            node = rng.choice(nodes)
            if node.input:
                node.input[0] = node.output[0]
    return _onnx_edit(case, edit, "rewire the graph")


def onnx_attr(case: Case, rng: random.Random) -> Case:
    """An attribute given another value: huge, negative, NaN, another type."""
    import onnx

    def edit(m):
        nodes = [n for n in m.graph.node if n.attribute]
        if not nodes:
            return False
        node = rng.choice(nodes)
        a = rng.choice(list(node.attribute))
        if a.type == onnx.AttributeProto.INT:
            a.i = rng.choice((-1, 0, 2, 10**12, -(2**62)))
        elif a.type == onnx.AttributeProto.FLOAT:
            a.f = rng.choice((float("nan"), float("inf"), 0.0, -1.0, 1e30))
        elif a.type == onnx.AttributeProto.INTS:
            del a.ints[:]
            a.ints.extend(rng.choice(([], [0], [-1, -1], [10**9, 1], [1, 1, 1, 1, 1, 1, 1, 1])))
        elif a.type == onnx.AttributeProto.TENSOR:
            a.t.dims[:] = [rng.choice((0, 2, 10**10))]
        else:
            return False
    return _onnx_edit(case, edit, "change an attribute")


ONNX = (onnx_op, onnx_domain, onnx_opset, onnx_outputs, onnx_cast, onnx_tensor, onnx_dims, onnx_rewire, onnx_attr)
