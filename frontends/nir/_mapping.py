"""The one table between `snn.*` ops and NIR node types, and the metadata codec.

Each `NodeMap` says which NIR class an op becomes and how its fields convert. By default a
field converts to the NIR field of the same name (NIR's and snnc's symbols agree:
`tau`, `r`, `v_threshold`, `weight`, ...); fields NIR has no slot for (`reset_mode`,
`reset_timing`, `t_refrac`, `graded`, `current_timing`, a sparse matrix's CSR arrays)
are the op's *extras* and travel in the NIR node's metadata as ``snnc.<field>``.
Nothing here branches on op names: the table is keyed by op class and checked against
the op registry by the tests.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Callable

import nir
import numpy as np

from snnc.errors import SnncError
from snnc.ir import snn
from snnc.ir.op import Op

# -- metadata keys (flat, strings and numbers, plus int/float arrays for sparse matrices:
#    what nir.write stores as plain HDF5 datasets and nir.read gives back) --------------------
PREFIX = "snnc."
NODE_OP = "snnc.op"            # the snnc op name, e.g. "snn.sparse_linear"
NODE_ORIGIN = "snnc.origin"    # the node's origin string
FORMAT = "snnc.format"         # graph-level marker: this file was written by snnc
FORMAT_VERSION = "1"
GRAPH_KEYS = ("dt", "method", "ir_version", "nodes", "inputs", "outputs", "edges", "metadata")

# The NIR node types snnc reads (18 primitives and the NIRGraph container).
SUPPORTED = ("Affine", "AvgPool2d", "Conv1d", "Conv2d", "CubaLI", "CubaLIF", "Delay", "Flatten",
             "I", "IF", "Input", "LI", "LIF", "Linear", "NIRGraph", "Output", "Scale",
             "SumPool2d", "Threshold")


class NodeProblem(Exception):
    """Raised by a converter; the reader adds the node key, its type and the file."""

    def __init__(self, message: str, *, unsupported: bool = True):
        super().__init__(message)
        self.unsupported = unsupported


@dataclass(frozen=True)
class ImportContext:
    """What a NIR-to-snnc converter may read besides the node itself."""

    in_shape: tuple[int, ...] | None     # shape arriving at the node, when known
    extras: dict                          # decoded snnc.<field> metadata (snnc-written files)
    snnc: bool                            # the file was written by snnc
    options: dict                         # load options that affect conversion


@dataclass(frozen=True)
class NodeMap:
    op: type[Op]
    nir_type: str
    to_nir: Callable[[Op, tuple[int, ...] | None], dict] | None = None   # None: same-name fields
    from_nir: Callable[[object, ImportContext], dict] | None = None       # None: same-name fields
    elementwise: bool = False     # params have the value's shape: scalars broadcast to it
    written: tuple[str, ...] = ()  # op fields a custom `to_nir` puts in NIR fields

    @property
    def nir_class(self) -> type:
        return getattr(nir, self.nir_type)

    def nir_fields(self) -> tuple[str, ...]:
        skip = {"input_type", "output_type", "metadata"}
        return tuple(f.name for f in dataclasses.fields(self.nir_class) if f.name not in skip)

    def shared_fields(self) -> tuple[str, ...]:
        """Op fields that have a NIR field of the same name."""
        nir_names = set(self.nir_fields())
        return tuple(f.name for f in self.op.field_specs() if f.name in nir_names)

    def extra_fields(self) -> tuple[dataclasses.Field, ...]:
        """Op fields NIR cannot hold: they go to node metadata."""
        written = set(self.shared_fields() if self.to_nir is None else self.written)
        return tuple(f for f in self.op.field_specs() if f.name not in written)

    def op_to_nir(self, op: Op, in_shape) -> dict:
        if self.to_nir is not None:
            return self.to_nir(op, in_shape)
        return {name: getattr(op, name) for name in self.shared_fields()}

    def nir_to_fields(self, node, ctx: ImportContext) -> dict:
        if self.from_nir is not None:
            return self.from_nir(node, ctx)
        values = {name: getattr(node, name) for name in self.shared_fields()}
        return _broadcast(values, ctx.in_shape) if self.elementwise else values


def _broadcast(values: dict, in_shape) -> dict:
    """Broadcast per-neuron parameters to one shape: the incoming value's, if they all fit
    it (NIR files often hold scalars), else their common shape."""
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
    shapes = [a.shape for a in arrays.values()]
    target = None
    if in_shape is not None:
        try:
            if np.broadcast_shapes(*shapes, tuple(in_shape)) == tuple(in_shape):
                target = tuple(in_shape)
        except ValueError:
            pass
    if target is None:
        try:
            target = np.broadcast_shapes(*shapes)
        except ValueError:
            return arrays          # the op's own verify names the mismatching field
    return {k: np.broadcast_to(a, target).copy() for k, a in arrays.items()}


# -- custom converters ---------------------------------------------------------------------------
def _ints(value, rank: int, what: str) -> tuple[int, ...]:
    """NIR stores strides and sizes as ints, pairs or arrays: make a `rank`-tuple."""
    a = np.atleast_1d(np.asarray(value)).ravel()
    if a.size == 1:
        a = np.repeat(a, rank)
    if a.size != rank or not np.all(np.equal(np.mod(a, 1), 0)):
        raise NodeProblem(f"{what} {np.asarray(value).tolist()} is not {rank} integer(s)", unsupported=False)
    return tuple(int(x) for x in a)


def _conv_padding(node, rank: int, kernel, stride, dilation) -> tuple[int, ...]:
    pad = node.padding
    if isinstance(pad, bytes):
        pad = pad.decode()
    if not isinstance(pad, str):
        return _ints(pad, rank, "padding")
    if pad == "valid":
        return (0,) * rank
    if pad != "same":
        raise NodeProblem(f"padding '{pad}' is not 'same', 'valid' or integers", unsupported=False)
    if any(s != 1 for s in stride):
        raise NodeProblem(f"padding 'same' with stride {list(stride)}: snnc pads explicitly and "
                          f"'same' is defined for stride 1 only")
    total = [d * (k - 1) for d, k in zip(dilation, kernel)]
    if any(t % 2 for t in total):
        raise NodeProblem(f"padding 'same' with kernel {list(kernel)} and dilation {list(dilation)} needs "
                          f"uneven padding {[(t // 2, t - t // 2) for t in total]}; snnc pads both sides equally")
    return tuple(t // 2 for t in total)


def _conv_from_nir(rank: int):
    def convert(node, ctx: ImportContext) -> dict:
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != rank + 2:
            raise NodeProblem(f"weight has shape {list(weight.shape)}; a Conv{rank}d weight is "
                              f"[C_out, C_in/groups{', k' * rank}]", unsupported=False)
        stride = _ints(node.stride, rank, "stride")
        dilation = _ints(node.dilation, rank, "dilation")
        padding = _conv_padding(node, rank, weight.shape[2:], stride, dilation)
        bias = np.zeros(weight.shape[0]) if node.bias is None else node.bias
        return dict(weight=weight, bias=bias, stride=stride, padding=padding, dilation=dilation,
                    groups=int(node.groups))
    return convert


def _conv_to_nir(rank: int):
    def convert(op, in_shape) -> dict:
        spatial = None if in_shape is None else tuple(in_shape[1:])
        if rank == 1:
            return dict(input_shape=None if spatial is None else spatial[0], weight=op.weight,
                        stride=op.stride[0], padding=op.padding[0], dilation=op.dilation[0],
                        groups=op.groups, bias=op.bias)
        return dict(input_shape=spatial, weight=op.weight, stride=op.stride, padding=op.padding,
                    dilation=op.dilation, groups=op.groups, bias=op.bias)
    return convert


_CONV_FIELDS = ("weight", "bias", "stride", "padding", "dilation", "groups")
_POOL_FIELDS = ("kernel_size", "stride", "padding")


def _pool_from_nir(node, ctx) -> dict:
    return {k: _ints(getattr(node, k), 2, k) for k in _POOL_FIELDS}


def _pool_to_nir(op, in_shape) -> dict:
    return {k: np.asarray(getattr(op, k), dtype=np.int64) for k in _POOL_FIELDS}


def _dense_from_nir(with_bias: bool):
    def convert(node, ctx) -> dict:
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != 2:
            raise NodeProblem(f"weight has shape {list(weight.shape)}; snnc supports 2-D weights "
                              f"[N_out, N_in], not batched ones")
        return dict(weight=weight, bias=node.bias) if with_bias else dict(weight=weight)
    return convert


def _sparse_to_nir(op, in_shape) -> dict:
    return dict(weight=op.to_dense(), bias=op.bias)


def _sparse_from_nir(node, ctx) -> dict:
    """A dense NIR Affine that snnc wrote from a SparseLinear: take the CSR arrays from the
    metadata when they still describe the stored weight, else rebuild CSR from the weight."""
    dense = _dense_from_nir(True)(node, ctx)
    weight, bias = dense["weight"], dense["bias"]
    x = ctx.extras
    if all(k in x for k in ("indptr", "indices", "data", "n_in")):
        try:
            op = snn.SparseLinear(indptr=x["indptr"], indices=x["indices"], data=x["data"],
                                  bias=bias, n_in=x["n_in"])
            if not op.verify() and op.to_dense().shape == weight.shape and np.array_equal(op.to_dense(), weight):
                return op.field_values()
        except (SnncError, TypeError, ValueError):   # edited metadata: fall back to the weight
            pass
    rows, cols = np.nonzero(weight)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=weight.shape[0]))])
    return dict(indptr=indptr, indices=cols, data=weight[rows, cols], bias=bias, n_in=weight.shape[1])


def _flatten_from_nir(node, ctx) -> dict:
    dims = [int(node.start_dim), int(node.end_dim)]
    if ctx.options.get("flatten_dims") == "batch":      # torch-style dims that count a batch axis
        if dims[0] == 0:
            raise NodeProblem("start_dim 0 flattens the batch axis (flatten_dims='batch')")
        dims = [d - 1 if d > 0 else d for d in dims]
    return dict(start_dim=dims[0], end_dim=dims[1])


def _flatten_to_nir(op, in_shape) -> dict:
    return dict(input_type={"input": None if in_shape is None else np.asarray(in_shape, dtype=np.int64)},
                start_dim=op.start_dim, end_dim=op.end_dim)


def _io_from_nir(attr: str, key: str):
    def convert(node, ctx) -> dict:
        if key == "output" and ctx.in_shape is not None and not ctx.snnc:
            return dict(shape=ctx.in_shape)       # NIR re-derives an Output's type from its input
        shape = getattr(node, attr)[key]
        if shape is None:
            raise NodeProblem(f"{attr} is not defined", unsupported=False)
        return dict(shape=tuple(int(s) for s in np.asarray(shape).ravel()))
    return convert


def _io_to_nir(attr: str):
    def convert(op, in_shape) -> dict:
        return {attr: np.asarray(op.shape, dtype=np.int64)}
    return convert


MAPS: tuple[NodeMap, ...] = (
    NodeMap(snn.Input, "Input", _io_to_nir("input_type"), _io_from_nir("input_type", "input"),
            written=("shape",)),
    NodeMap(snn.Output, "Output", _io_to_nir("output_type"), _io_from_nir("output_type", "output"),
            written=("shape",)),
    NodeMap(snn.Affine, "Affine", None, _dense_from_nir(True)),
    NodeMap(snn.Linear, "Linear", None, _dense_from_nir(False)),
    NodeMap(snn.SparseLinear, "Affine", _sparse_to_nir, _sparse_from_nir, written=("bias",)),
    NodeMap(snn.Scale, "Scale", elementwise=True),
    NodeMap(snn.Conv1d, "Conv1d", _conv_to_nir(1), _conv_from_nir(1), written=_CONV_FIELDS),
    NodeMap(snn.Conv2d, "Conv2d", _conv_to_nir(2), _conv_from_nir(2), written=_CONV_FIELDS),
    NodeMap(snn.SumPool2d, "SumPool2d", _pool_to_nir, _pool_from_nir, written=_POOL_FIELDS),
    NodeMap(snn.AvgPool2d, "AvgPool2d", _pool_to_nir, _pool_from_nir, written=_POOL_FIELDS),
    NodeMap(snn.Flatten, "Flatten", _flatten_to_nir, _flatten_from_nir, written=("start_dim", "end_dim")),
    NodeMap(snn.Delay, "Delay", elementwise=True),
    NodeMap(snn.Threshold, "Threshold", elementwise=True),
    NodeMap(snn.I, "I", elementwise=True),
    NodeMap(snn.LI, "LI", elementwise=True),
    NodeMap(snn.IF, "IF", elementwise=True),
    NodeMap(snn.LIF, "LIF", elementwise=True),
    NodeMap(snn.CubaLI, "CubaLI", elementwise=True),
    NodeMap(snn.CubaLIF, "CubaLIF", elementwise=True),
)

BY_OP: dict[type[Op], NodeMap] = {m.op: m for m in MAPS}
# NIR type -> the maps that may produce it; the first is what a plain NIR file means.
BY_NIR_TYPE: dict[str, tuple[NodeMap, ...]] = {}
for _m in MAPS:
    BY_NIR_TYPE[_m.nir_type] = BY_NIR_TYPE.get(_m.nir_type, ()) + (_m,)


# -- metadata codec --------------------------------------------------------------------------------
def encode_field(field: dataclasses.Field, value):
    """An op field as a value nir.write stores and nir.read returns unchanged in meaning."""
    kind = field.metadata["kind"]
    if kind == "array":
        return np.asarray(value)
    if kind == "ints":
        return np.asarray(value, dtype=np.int64)
    if kind == "bool":
        return int(value)
    if kind in ("int", "float"):
        return value
    return str(value)      # choice


def decode_field(field: dataclasses.Field, value):
    kind = field.metadata["kind"]
    if kind == "array":
        return np.asarray(value)
    if kind == "ints":
        return tuple(int(v) for v in np.atleast_1d(np.asarray(value)).ravel())
    if kind == "bool":
        return bool(int(value))
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return value.decode() if isinstance(value, bytes) else str(value)


def encode_graph_meta(graph) -> dict:
    """Graph-level metadata: the marker, dt, method, IR version, node, input and output order, every
    edge with its recurrent flag (NIR edges are unique (src, dst) pairs), and the graph's
    own string metadata. Lists and dicts are JSON strings."""
    return {
        FORMAT: FORMAT_VERSION,
        PREFIX + "dt": float(graph.dt),
        PREFIX + "method": graph.method,
        PREFIX + "ir_version": graph.version,
        PREFIX + "nodes": json.dumps(list(graph.nodes)),
        PREFIX + "inputs": json.dumps(list(graph.inputs)),
        PREFIX + "outputs": json.dumps(list(graph.outputs)),
        PREFIX + "edges": json.dumps([[e.src, e.src_port, e.dst, e.dst_port, e.recurrent] for e in graph.edges]),
        PREFIX + "metadata": json.dumps(dict(graph.metadata)),
    }


def decode_graph_meta(meta: dict) -> dict | None:
    """The snnc graph attributes of a snnc-written file, or None for any other NIR file.
    Raises ValueError when the marker is there but an entry is unreadable."""
    if str(_text(meta.get(FORMAT, ""))) != FORMAT_VERSION:
        return None
    out = {}
    for key in GRAPH_KEYS:
        if PREFIX + key in meta:
            out[key] = meta[PREFIX + key]
    if "dt" in out:
        out["dt"] = float(out["dt"])
    for key in ("method", "ir_version"):
        if key in out:
            out[key] = _text(out[key])
    for key in ("nodes", "inputs", "outputs", "edges", "metadata"):
        if key in out:
            out[key] = json.loads(_text(out[key]))
    return out


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
