"""torch.nn layers: projections, convolutions, pooling, flattening and pass-throughs.

Each maps to the snn op with PyTorch's own conventions (cross-correlation, OIHW weights,
zero padding, floor output sizes), so the weights are copied unchanged (as float64).
Dropout is the identity, as in evaluation mode.
"""
from __future__ import annotations

import numpy as np
import torch.nn as nn

from snnc.ir.snn import Affine, AvgPool2d, Conv1d, Conv2d, Linear, SumPool2d
from snnc.ir.types import TensorType

from snnc.frontends.torch.session import Converter, Session, Value, refuse
from snnc.frontends.torch.tracing import _qualname, flatten_op


def _array(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _node(s: Session, path: str, op, x: Value) -> Value:
    try:
        out = op.infer_types({"input": TensorType(x.shape)})["output"].shape
    except Exception as exc:
        raise refuse(path, op.name, f"cannot take an input of shape {list(x.shape)}: {exc}") from None
    return Value((s.add(path, op, x, path),), tuple(out))


def linear(s: Session, m: nn.Linear, path: str, x: Value) -> Value:
    if x.shape != (m.in_features,):
        raise refuse(path, _qualname(type(m)), f"input has per-sample shape {list(x.shape)}; snnc applies "
                                               f"Linear to vectors [{m.in_features}] (flatten first)")
    w = _array(m.weight)
    op = Linear(weight=w) if m.bias is None else Affine(weight=w, bias=_array(m.bias))
    return _node(s, path, op, x)


def _conv_padding(m, path: str) -> tuple[int, ...]:
    if m.padding_mode != "zeros":
        raise refuse(path, _qualname(type(m)), f"padding_mode='{m.padding_mode}'; snnc pads with zeros only")
    if m.padding == "valid":
        return (0,) * len(m.kernel_size)
    if m.padding == "same":
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        if any(t % 2 for t in total):
            raise refuse(path, _qualname(type(m)), "padding='same' with an even receptive field pads "
                                                   "asymmetrically; snnc pads symmetrically")
        return tuple(t // 2 for t in total)
    return tuple(m.padding)


def conv(s: Session, m, path: str, x: Value) -> Value:
    cls = Conv1d if isinstance(m, nn.Conv1d) else Conv2d
    w = _array(m.weight)
    bias = _array(m.bias) if m.bias is not None else np.zeros(w.shape[0])
    op = cls(weight=w, bias=bias, stride=m.stride, padding=_conv_padding(m, path),
             dilation=m.dilation, groups=m.groups)
    return _node(s, path, op, x)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def avg_pool2d(s: Session, m: nn.AvgPool2d, path: str, x: Value) -> Value:
    kind = _qualname(type(m))
    if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
        raise refuse(path, kind, "snnc's AvgPool2d is floor mode, counts padded zeros and divides by the "
                                 "window size (ceil_mode=False, count_include_pad=True, divisor_override=None)")
    k = _pair(m.kernel_size)
    op = AvgPool2d(kernel_size=k, stride=_pair(m.stride if m.stride is not None else k), padding=_pair(m.padding))
    return _node(s, path, op, x)


def lp_pool2d(s: Session, m: nn.LPPool2d, path: str, x: Value) -> Value:
    if float(m.norm_type) != 1.0 or m.ceil_mode:
        raise refuse(path, _qualname(type(m)), f"only LPPool2d(norm_type=1, ceil_mode=False) is a sum pool; "
                                               f"got norm_type={m.norm_type}, ceil_mode={m.ceil_mode}")
    k = _pair(m.kernel_size)
    op = SumPool2d(kernel_size=k, stride=_pair(m.stride if m.stride is not None else k))
    return _node(s, path, op, x)


def flatten(s: Session, m: nn.Flatten, path: str, x: Value) -> Value:
    return _node(s, path, flatten_op(m.start_dim, m.end_dim, len(x.shape), path, _qualname(type(m))), x)


def identity(s: Session, m, path: str, x: Value) -> Value:
    return x


CONVERTERS = {
    nn.Linear: Converter(linear, input_shape=lambda m: (m.in_features,)),
    nn.Conv1d: Converter(conv),
    nn.Conv2d: Converter(conv),
    nn.AvgPool2d: Converter(avg_pool2d),
    nn.LPPool2d: Converter(lp_pool2d),
    nn.Flatten: Converter(flatten),
    nn.Identity: Converter(identity, passes_through=True),
    nn.Dropout: Converter(identity, passes_through=True),
    nn.Dropout1d: Converter(identity, passes_through=True),
    nn.Dropout2d: Converter(identity, passes_through=True),
    nn.Dropout3d: Converter(identity, passes_through=True),
    nn.AlphaDropout: Converter(identity, passes_through=True),
}
