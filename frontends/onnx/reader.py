"""Reading an ONNX file: parse, check, infer shapes; every failure is one MalformedInputError line."""
from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from snnc.errors import MalformedInputError


def read_model(path) -> onnx.ModelProto:
    """The checked model with inferred shapes, or MalformedInputError naming the file."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MalformedInputError(f"cannot read the file ({exc.strerror})", file=name) from None
    if not data:
        raise MalformedInputError("the file is empty; expected an ONNX model", file=name)
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError):
        raise MalformedInputError("not a readable ONNX model: the protobuf data is truncated or corrupt",
                                  file=name) from None
    if model.ir_version == 0 or not model.HasField("graph"):
        raise MalformedInputError("not an ONNX model: it has no IR version or no graph (truncated, or "
                                  "another format?)", file=name)
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        try:
            onnx.load_external_data_for_model(model, str(Path(path).parent))
        except (OSError, ValueError) as exc:
            raise MalformedInputError(f"cannot read the model's external data ({exc})", file=name) from None
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MalformedInputError(f"invalid ONNX model: {first}", file=name) from None
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:           # shape inference is an aid: the frontend infers what it needs itself
        return model


def value_shapes(graph: onnx.GraphProto) -> dict[str, tuple]:
    """Known shapes of the graph's values: dims are ints, or None where symbolic."""
    shapes = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        t = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and t.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    for init in graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def graph_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    """Real inputs (old exporters also list initializers as inputs)."""
    inits = {i.name for i in graph.initializer}
    return [i for i in graph.input if i.name not in inits]
