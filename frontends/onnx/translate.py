"""ONNX nodes of one tick -> the neutral primitives of `snnc.frontends.dynamics`.

Elementwise ops map one to one onto primitives; Gemm, MatMul, Conv, AveragePool,
GlobalAveragePool, Flatten and (flattening) Reshape become LAYER values carrying the
equivalent stateless snn op; a BatchNormalization right after a Conv or Gemm is folded
into its weights (else it is a per-channel multiply and add). A node whose inputs are all
constant never gets here: `Constants.fold` evaluates it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx.helper import get_attribute_value

from snnc.errors import UnsupportedOpError
from snnc.frontends.dynamics import Prim, StepBuilder
from snnc.frontends.onnx.consts import Constants
from snnc.ir.snn import Affine, AvgPool2d, Conv1d, Conv2d, Flatten, Linear

FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
               onnx.TensorProto.BFLOAT16)

# ops that only shape the time axis or carry loops; they are read by the form readers
STRUCTURAL = ("Constant", "Gather", "Unsqueeze", "Concat", "Split", "Squeeze", "Loop", "Scan",
              "SequenceEmpty", "SequenceInsert", "SequenceConstruct", "ConcatFromSequence", "Shape")


class Translator:
    """Writes the ONNX nodes of one tick into a StepBuilder, value by value."""

    def __init__(self, builder: StepBuilder, consts: Constants, source: str, uses: dict[str, int]):
        self.b, self.consts, self.source, self.uses = builder, consts, source, uses
        self.env: dict[str, int] = {}
        self.layer_of: dict[str, tuple[object, int]] = {}    # ONNX name -> (snn op, its argument)
        self._const_values: dict[str, int] = {}

    def bind(self, name: str, index: int) -> None:
        self.env[name] = index

    def has(self, name: str) -> bool:
        return name in self.env or name in self.consts

    def value(self, name: str) -> int:
        """The step value of ONNX value `name` (constants become CONST values)."""
        if name in self.env:
            return self.env[name]
        if name not in self._const_values:
            self._const_values[name] = self.b.const(self.consts.get(name), origin=name)
        return self._const_values[name]

    def translate(self, node: onnx.NodeProto) -> None:
        if self.consts.fold(node):
            return
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            raise unsupported(node, self.source)
        try:
            handler(self, node)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            # a constant or attribute of a shape or type the op does not take (the checker knows
            # only declared types): name the node rather than fail inside numpy
            raise self.refuse(node, f"its constants or attributes do not fit this op ({type(exc).__name__}: "
                                    f"{' '.join(str(exc).split())[:120]})") from None

    def refuse(self, node: onnx.NodeProto, message: str) -> UnsupportedOpError:
        return UnsupportedOpError(message, node=origin(node), op=node.op_type, source=self.source)

    def const_input(self, node: onnx.NodeProto, i: int, what: str) -> np.ndarray | None:
        if len(node.input) <= i or not node.input[i]:
            return None
        value = self.consts.get(node.input[i])
        if value is None:
            raise self.refuse(node, f"its {what} (input {i}) must be a constant")
        return np.asarray(value, dtype=np.float64)

    def emit(self, node: onnx.NodeProto, index: int) -> None:
        self.env[node.output[0]] = index


def origin(node: onnx.NodeProto) -> str:
    """How messages name an ONNX node: its name, or its first output when it has none."""
    return node.name or node.output[0]


def supported_ops() -> tuple[str, ...]:
    return tuple(sorted(set(HANDLERS) | set(STRUCTURAL)))


# Ops that users reach for and that have a known replacement: said instead of the op list.
HINTS = {op: "max pooling has no spiking equivalent in snnc (convert-ann turns ReLU networks with average "
             "pooling into spiking ones): use average pooling (torch.nn.AvgPool2d) and retrain"
         for op in ("MaxPool", "GlobalMaxPool")}


def unsupported(node: onnx.NodeProto, source: str) -> UnsupportedOpError:
    if node.op_type in HINTS:
        return UnsupportedOpError(HINTS[node.op_type], node=origin(node), op=node.op_type, source=source)
    return UnsupportedOpError("snnc has no mapping for this ONNX op", node=origin(node),
                              op=node.op_type, source=source, supported=supported_ops())


def attrs(node: onnx.NodeProto) -> dict:
    return {a.name: get_attribute_value(a) for a in node.attribute}


# -- elementwise -----------------------------------------------------------------------------------
def _elementwise(prim: Prim) -> Callable:
    def handler(tr: Translator, node: onnx.NodeProto) -> None:
        args = [tr.value(n) for n in node.input]
        tr.emit(node, tr.b.apply(prim, *args, origin=origin(node)))
    return handler


def _cast(tr: Translator, node) -> None:
    to = attrs(node).get("to")
    if to not in onnx.TensorProto.DataType.values():
        raise tr.refuse(node, f"to={to} is not an ONNX data type (expected a TensorProto.DataType value)")
    if to in FLOAT_TYPES:
        prim = Prim.CAST_FLOAT
    elif to == onnx.TensorProto.BOOL:
        prim = Prim.CAST_BOOL
    else:
        raise tr.refuse(node, f"a cast of a per-tick value to {onnx.TensorProto.DataType.Name(to)}; snnc "
                              f"computes in floating point")
    tr.emit(node, tr.b.apply(prim, tr.value(node.input[0]), origin=origin(node)))


def _dropout(tr: Translator, node) -> None:
    if len(node.output) > 1 and node.output[1] and tr.uses.get(node.output[1]):
        raise tr.refuse(node, "its mask output is used")
    tr.emit(node, tr.b.apply(Prim.IDENTITY, tr.value(node.input[0]), origin=origin(node)))


def _clip(tr: Translator, node) -> None:
    lo, hi = tr.const_input(node, 1, "minimum"), tr.const_input(node, 2, "maximum")
    a = attrs(node)
    lo = lo if lo is not None else a.get("min")
    hi = hi if hi is not None else a.get("max")
    if lo is not None and np.all(np.asarray(lo) == 0) and (hi is None or np.all(np.isinf(hi))):
        tr.emit(node, tr.b.apply(Prim.RELU, tr.value(node.input[0]), origin=origin(node)))
        return
    raise tr.refuse(node, "clipping a per-tick value (a bounded or quantised state) has no snnc equivalent")


# -- layers ------------------------------------------------------------------------------------------
def _layer(tr: Translator, node, op) -> None:
    arg = tr.value(node.input[0])
    tr.layer_of[node.output[0]] = (op, arg)
    tr.emit(node, tr.b.layer(op, arg, origin=origin(node)))


def _gemm(tr: Translator, node) -> None:
    a = attrs(node)
    if a.get("transA", 0):
        raise tr.refuse(node, "transA=1 (the per-tick value must be the left operand, untransposed)")
    w = tr.const_input(node, 1, "weight")
    if w.ndim != 2:
        raise tr.refuse(node, f"a weight of rank {w.ndim}; Gemm takes a 2-D B")
    w = a.get("alpha", 1.0) * (w if a.get("transB", 0) else w.T)
    c = tr.const_input(node, 2, "bias")
    if c is None:
        _layer(tr, node, Linear(weight=w))
        return
    try:
        bias = np.broadcast_to(a.get("beta", 1.0) * c, (1, w.shape[0]))[0]
    except ValueError:
        raise tr.refuse(node, f"its bias of shape {list(c.shape)} does not broadcast to the {w.shape[0]} "
                              f"outputs") from None
    _layer(tr, node, Affine(weight=w, bias=bias))


def _matmul(tr: Translator, node) -> None:
    w = tr.const_input(node, 1, "right operand (the weight)")
    if w.ndim != 2:
        raise tr.refuse(node, f"a weight of rank {w.ndim}; snnc reads x @ W with a 2-D W")
    _layer(tr, node, Linear(weight=w.T))


def _pads(tr, node, a, rank: int) -> tuple[int, ...]:
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "VALID":
        return (0,) * rank
    if auto != "NOTSET":
        raise tr.refuse(node, f"auto_pad={auto}; export with explicit pads")
    pads = tuple(a.get("pads", (0,) * (2 * rank)))
    if pads[:rank] != pads[rank:]:
        raise tr.refuse(node, f"asymmetric padding {list(pads)}; snnc pads both sides equally")
    return pads[:rank]


def _conv(tr: Translator, node) -> None:
    a = attrs(node)
    w = tr.const_input(node, 1, "weight")
    rank = w.ndim - 2
    if rank not in (1, 2):
        raise tr.refuse(node, f"a {rank}-D convolution; snnc has 1-D and 2-D convolutions")
    b = tr.const_input(node, 2, "bias")
    fields = dict(weight=w, bias=np.zeros(w.shape[0]) if b is None else b, stride=tuple(a.get("strides", (1,) * rank)),
                  padding=_pads(tr, node, a, rank), dilation=tuple(a.get("dilations", (1,) * rank)),
                  groups=a.get("group", 1))
    _layer(tr, node, (Conv1d if rank == 1 else Conv2d)(**fields))


def _avgpool(tr: Translator, node) -> None:
    a = attrs(node)
    k = tuple(a["kernel_shape"])
    if len(k) != 2:
        raise tr.refuse(node, f"{len(k)}-D pooling; snnc pools 2-D inputs")
    if a.get("ceil_mode", 0):
        raise tr.refuse(node, "ceil_mode=1; snnc pools with floor")
    pads = _pads(tr, node, a, 2)
    if any(pads) and not a.get("count_include_pad", 0):
        raise tr.refuse(node, "count_include_pad=0 with padding; snnc's average counts padded zeros")
    _layer(tr, node, AvgPool2d(kernel_size=k, stride=tuple(a.get("strides", (1, 1))), padding=pads))


def _global_avgpool(tr: Translator, node) -> None:
    shape = tr.consts.shapes.get(node.input[0])
    if shape is None or len(shape) != 4 or None in shape[2:]:
        raise tr.refuse(node, "its input's spatial size is unknown (export with static shapes)")
    k = tuple(shape[2:])
    _layer(tr, node, AvgPool2d(kernel_size=k, stride=k))


def _flatten(tr: Translator, node) -> None:
    if attrs(node).get("axis", 1) != 1:
        raise tr.refuse(node, "axis != 1 (it must keep the batch axis and flatten the rest)")
    _layer(tr, node, Flatten(start_dim=0, end_dim=-1))


def _reshape(tr: Translator, node) -> None:
    target = tr.const_input(node, 1, "shape")
    if target is None or target.ndim != 1:
        raise tr.refuse(node, "its shape input is not a 1-D constant")
    shape = tr.consts.shapes.get(node.input[0])
    per_sample = shape[1:] if shape and None not in shape[1:] else None
    target = [int(t) for t in target]
    if per_sample is not None and target[1:] == list(per_sample) and target[0] in (-1, 0, shape[0] or -2):
        tr.emit(node, tr.b.apply(Prim.IDENTITY, tr.value(node.input[0]), origin=origin(node)))
    elif len(target) == 2 and (target[1] == -1 or per_sample is not None and target[1] == int(np.prod(per_sample))):
        _flatten(tr, node)
    else:
        raise tr.refuse(node, f"reshape to {target}; snnc reshapes only by flattening each sample")


def _batchnorm(tr: Translator, node) -> None:
    a = attrs(node)
    gamma, beta, mean, var = (tr.const_input(node, i, w) for i, w in
                              enumerate(("scale", "bias", "mean", "variance"), start=1))
    s = gamma / np.sqrt(var + a.get("epsilon", 1e-5))
    t = beta - mean * s
    src = node.input[0]
    if src in tr.layer_of and tr.uses.get(src) == 1 and isinstance(tr.layer_of[src][0], (Conv1d, Conv2d, Affine, Linear)):
        op, arg = tr.layer_of[src]
        w = op.weight * s.reshape((-1,) + (1,) * (op.weight.ndim - 1))
        bias = (getattr(op, "bias", np.zeros(w.shape[0]))) * s + t
        folded = Affine(weight=w, bias=bias) if isinstance(op, Linear) else op.replace(weight=w, bias=bias)
        tr.layer_of[node.output[0]] = (folded, arg)
        tr.emit(node, tr.b.layer(folded, arg, origin=origin(node)))
        return
    shape = tr.consts.shapes.get(src)
    rank = len(shape) - 1 if shape else 3
    per_channel = (-1,) + (1,) * (rank - 1)
    x = tr.value(src)
    y = tr.b.apply(Prim.MUL, x, tr.b.const(s.reshape(per_channel), origin=origin(node)), origin=origin(node))
    tr.emit(node, tr.b.apply(Prim.ADD, y, tr.b.const(t.reshape(per_channel), origin=origin(node)), origin=origin(node)))


HANDLERS: dict[str, Callable[[Translator, onnx.NodeProto], None]] = {
    "Add": _elementwise(Prim.ADD), "Sub": _elementwise(Prim.SUB), "Mul": _elementwise(Prim.MUL),
    "Div": _elementwise(Prim.DIV), "Neg": _elementwise(Prim.NEG), "Greater": _elementwise(Prim.GREATER),
    "Less": _elementwise(Prim.LESS), "GreaterOrEqual": _elementwise(Prim.GREATER_EQUAL),
    "LessOrEqual": _elementwise(Prim.LESS_EQUAL), "Where": _elementwise(Prim.WHERE),
    "Not": _elementwise(Prim.NOT), "And": _elementwise(Prim.AND), "Or": _elementwise(Prim.OR),
    "Identity": _elementwise(Prim.IDENTITY), "Relu": _elementwise(Prim.RELU), "Cast": _cast,
    "Dropout": _dropout, "Clip": _clip, "Gemm": _gemm, "MatMul": _matmul, "Conv": _conv,
    "AveragePool": _avgpool, "GlobalAveragePool": _global_avgpool, "Flatten": _flatten,
    "Reshape": _reshape, "BatchNormalization": _batchnorm,
}
