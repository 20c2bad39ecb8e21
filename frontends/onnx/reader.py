"""Reading an ONNX file: parse, check, infer shapes; every failure is one error line.

Before anything is computed from the model, `read_model` checks what the file declares:
opsets (the default domain's version must be one the installed onnx knows), that every
node is a standard op (default domain), that the graph has outputs, that every tensor is
numeric with as many values as its dims say, and that every declared size fits the
`snnc.safeio` element budget. External tensor data is read only from regular files in the
model's folder, reached through no symbolic link, at an offset and length within them.
"""
from __future__ import annotations

import math
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from snnc.errors import MalformedInputError, UnsupportedOpError
from snnc.safeio import Budget, Limits, confined_file

STANDARD_DOMAINS = ("", "ai.onnx")
T = onnx.TensorProto
# tensor element types snnc reads, with their size in bytes
NUMERIC_TYPES = {T.FLOAT: 4, T.DOUBLE: 8, T.FLOAT16: 2, T.BFLOAT16: 2, T.INT8: 1, T.INT16: 2, T.INT32: 4,
                 T.INT64: 8, T.UINT8: 1, T.UINT16: 2, T.UINT32: 4, T.UINT64: 8, T.BOOL: 1}
_TYPED_FIELDS = ("float_data", "int32_data", "int64_data", "uint64_data", "double_data")


def read_model(path, limits: Limits | None = None) -> onnx.ModelProto:
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
    check_declarations(model, name, Path(path).parent, (limits or Limits()).budget())
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MalformedInputError(f"invalid ONNX model: {first}", file=name) from None
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:           # shape inference is an aid: the frontend infers what it needs itself
        return model
    _check_value_dims(inferred.graph, name, limits or Limits())
    return inferred


def check_declarations(model: onnx.ModelProto, name: str, folder: Path, budget: Budget) -> None:
    """Opsets, domains, outputs, tensors and declared shapes (see the module docstring)."""
    _check_opsets(model, name)
    if not model.graph.output:
        raise MalformedInputError("the graph has no outputs (expected at least one graph output)", file=name)
    for graph in _graphs(model.graph):
        for node in graph.node:
            if node.domain not in STANDARD_DOMAINS:
                raise UnsupportedOpError(f"an op of domain '{node.domain}', not a standard ONNX op (snnc reads "
                                         f"the default domain only)", node=node.name or node.output[0]
                                         if node.output else None, op=node.op_type, source=name)
    for where, tensor in _tensors(model.graph):
        _check_tensor(tensor, where, name, folder, budget)
    _check_value_dims(model.graph, name, budget.limits)


def _check_opsets(model: onnx.ModelProto, name: str) -> None:
    newest = onnx.defs.onnx_opset_version()
    versions = [o.version for o in model.opset_import if o.domain in STANDARD_DOMAINS]
    if not versions:
        raise MalformedInputError("the model imports no opset of the default ONNX domain", file=name)
    for v in versions:
        if not 1 <= v <= newest:
            raise MalformedInputError(f"opset {v} of the default domain is not one this onnx knows "
                                      f"(expected 1 to {newest})", file=name)


def _graphs(graph: onnx.GraphProto):
    """The graph and every subgraph in node attributes, without recursion."""
    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g.node:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    stack.append(a.g)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    stack.extend(a.graphs)


def _tensors(graph: onnx.GraphProto):
    """(where, tensor) for every initializer and attribute tensor of every graph."""
    for g in _graphs(graph):
        for t in g.initializer:
            yield f"initializer '{t.name}'", t
        for s in g.sparse_initializer:
            yield f"sparse initializer '{s.values.name}'", s.values
            yield f"sparse initializer '{s.values.name}' indices", s.indices
        for node in g.node:
            for a in node.attribute:
                label = f"node '{node.name or (node.output[0] if node.output else node.op_type)}' attribute '{a.name}'"
                if a.type == onnx.AttributeProto.TENSOR:
                    yield label, a.t
                elif a.type == onnx.AttributeProto.TENSORS:
                    yield from ((label, t) for t in a.tensors)


def _check_tensor(t: onnx.TensorProto, where: str, name: str, folder: Path, budget: Budget) -> None:
    if t.data_type not in NUMERIC_TYPES:
        kind = T.DataType.Name(t.data_type) if t.data_type in T.DataType.values() else str(t.data_type)
        raise MalformedInputError(f"holds {kind} values (expected a numeric or bool tensor)", file=name,
                                  where=where)
    n = budget.take(t.dims, file=name, where=where)
    size = NUMERIC_TYPES[t.data_type]
    if t.data_location == T.EXTERNAL:
        _read_external(t, n * size, where, name, folder)
    if t.HasField("raw_data") or t.data_location == T.EXTERNAL:
        if len(t.raw_data) != n * size:
            raise MalformedInputError(f"holds {len(t.raw_data)} bytes of data, but its dims {list(t.dims)} "
                                      f"need {n * size}", file=name, where=where)
        return
    held = sum(len(getattr(t, f)) for f in _TYPED_FIELDS)
    if held != n:
        raise MalformedInputError(f"holds {held} values, but its dims {list(t.dims)} need {n}", file=name,
                                  where=where)


def _read_external(t: onnx.TensorProto, nbytes: int, where: str, name: str, folder: Path) -> None:
    """Move a tensor's external data into raw_data, from a confined file at a checked place."""
    entries = {e.key: e.value for e in t.external_data}
    path = confined_file(folder, entries.get("location", ""), file=name, where=f"{where} external data")
    try:
        offset = int(entries.get("offset", "0"))
        length = int(entries.get("length", str(nbytes)))
    except ValueError:
        raise MalformedInputError(f"external data offset '{entries.get('offset')}' or length "
                                  f"'{entries.get('length')}' is not an integer", file=name, where=where) from None
    available = path.stat().st_size
    if offset < 0 or length != nbytes or offset + length > available:
        raise MalformedInputError(f"external data of {length} bytes at offset {offset} in "
                                  f"'{entries['location']}' ({available} bytes): its dims {list(t.dims)} need "
                                  f"{nbytes} bytes within the file", file=name, where=where)
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    del t.external_data[:]
    t.data_location = T.DEFAULT
    t.raw_data = data


def _check_value_dims(graph: onnx.GraphProto, name: str, limits: Limits) -> None:
    """Refuse a declared value shape (graph input, output, value_info) past the element limit."""
    for g in _graphs(graph):
        for vi in list(g.input) + list(g.output) + list(g.value_info):
            if not (vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")):
                continue
            dims = [d.dim_value if d.HasField("dim_value") else "?" for d in vi.type.tensor_type.shape.dim]
            known = [d for d in dims if d != "?"]
            text = "[" + ", ".join(map(str, dims)) + "]"
            if any(d < 0 for d in known):
                raise MalformedInputError(f"shape {text} has a negative size", file=name, where=f"value '{vi.name}'")
            if math.prod(known) > limits.max_elements:
                raise MalformedInputError(f"shape {text} declares {math.prod(known)} elements per value, over the "
                                          f"limit of {limits.max_elements} (raise it with the load option "
                                          f"max_elements=N)", file=name, where=f"value '{vi.name}'")


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

