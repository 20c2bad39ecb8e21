"""netx file → `loihi.*` graph, layer by layer (the mapping is described in the package doc)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.errors import MalformedInputError, UnsupportedOpError
from snnc.ir.graph import Graph, GraphBuilder
from snnc.ir.op import OpRuleError

from ._hdf5 import SafeFile
from ._neurons import NeuronReader

SUPPORTED_LAYERS = ("input", "flatten", "dense", "conv", "pool")
REFUSED_LAYERS = {
    "average": "a SLAYER readout that averages spike counts in floating point; Lava's netx does not load it "
               "either",
    "concat": "skip connections are not read (Lava's netx raises NotImplementedError for concat)",
    "convT": "transposed convolution is not read (Lava's netx raises NotImplementedError for convT)",
    "unpool": "unpooling is not read (Lava's netx raises NotImplementedError for unpool)",
    "dense_rec": "recurrent dense layers are not read: the netx reader this follows (lava-dl hdf5.py) has none",
    "dense_comp": "complex-valued dense layers drive resonate-and-fire neurons, which have no loihi.* op",
}


@dataclass(frozen=True)
class Flow:
    """What a layer hands to the next: the node (None before the first layer), its shape
    (C, H, W) or (N,), and whether it sends graded payloads."""

    node: str | None
    shape: tuple[int, ...]
    graded: bool


class Reader:
    def __init__(self, sf: SafeFile, *, input_message_bits: int, dt: float):
        self.sf, self.file = sf, sf.file
        self.b = GraphBuilder(dt=dt, metadata={"frontend": "netx", "netx_file": sf.name})
        self.graded_in = input_message_bits > 0
        self.neurons = NeuronReader(sf)

    def origin(self, i: int) -> str:
        return f"{self.file}:layer/{i}"

    def graph(self) -> Graph:
        flow = Flow(None, (), self.graded_in)
        for i, layer in enumerate(self.layers()):
            kind = self.sf.text(layer, "type")
            if kind in REFUSED_LAYERS:
                raise UnsupportedOpError(REFUSED_LAYERS[kind], node=f"layer/{i}", op=kind, source=self.file,
                                         supported=SUPPORTED_LAYERS)
            if kind not in SUPPORTED_LAYERS:
                raise UnsupportedOpError("this netx layer type has no loihi mapping", node=f"layer/{i}", op=kind,
                                         source=self.file, supported=SUPPORTED_LAYERS)
            flow = getattr(self, f"read_{kind}")(i, layer, flow)
        if flow.node is None:
            raise self.sf.error("layer", "the file has no layer of neurons after its input")
        self.b.output("output", flow.node, (int(np.prod(flow.shape)),), origin=self.file)
        try:
            return self.b.build()
        except OpRuleError as exc:
            raise self.sf.error("layer", str(exc)) from None

    def layers(self) -> list:
        if "layer" not in self.sf.f:
            raise self.sf.error("/", "missing key 'layer' (a netx file holds its layers in layer/0 … layer/n−1)")
        group = self.sf.group(self.sf.f, "layer")
        keys = list(group.keys())
        if not keys or sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(keys))]:
            shown = ", ".join(sorted(keys)[:10]) + (" …" if len(keys) > 10 else "")
            raise self.sf.error("layer", f"layers must be named 0 … n−1, got {shown or 'none'}")
        return [self.sf.group(group, str(i)) for i in range(len(keys))]

    # -- shapes ------------------------------------------------------------------------------------
    def shape(self, layer, i: int) -> tuple[int, ...]:
        """The layer's `shape` (C, H, W order, 1 to 3 positive numbers); its neurons count against the budget."""
        shape = self.sf.numbers(layer, "shape").reshape(-1)
        if not 1 <= shape.size <= 3 or shape.min() < 1:
            raise self.sf.error(f"layer/{i}/shape", f"expected 1 to 3 positive sizes (C, H, W), got {shape.tolist()}")
        self.sf.take(int(np.prod(shape, dtype=np.float64)), f"layer/{i}/shape", "neurons")
        return tuple(int(s) for s in shape)

    def pair(self, layer, key: str, i: int, default=None, low: int = 1) -> tuple[int, int]:
        """A (H, W) pair: a scalar or one number means both (netx expand, Lava make_tuple)."""
        if default is not None and key not in layer:
            return default
        value = self.sf.numbers(layer, key).reshape(-1)
        if value.size not in (1, 2) or value.min() < low:
            raise self.sf.error(f"layer/{i}/{key}", f"expected one or two integers >= {low} (H, W), got "
                                                     f"{value.tolist()}")
        return (int(value[0]), int(value[-1]))

    # -- layers ------------------------------------------------------------------------------------
    def read_input(self, i: int, layer, flow: Flow) -> Flow:
        if i:
            raise self.sf.error(f"layer/{i}", "an input layer must be the first layer")
        shape = self.shape(layer, i)
        if "neuron" not in layer:
            return Flow(None, shape, flow.graded)
        src = self.b.input("input", (int(np.prod(shape)),), origin=self.origin(i))
        op = self.neurons.input_neuron(layer, i, int(np.prod(shape)))
        node = self.b.add(f"layer{i}.neuron", op, src, origin=self.origin(i))
        return Flow(node, shape, self.neurons.sends_graded(op))

    def read_flatten(self, i: int, layer, flow: Flow) -> Flow:
        return Flow(flow.node, (int(np.prod(flow.shape)),) if flow.shape else (), flow.graded)

    def source(self, i: int, flow: Flow, shape: tuple[int, ...]) -> str:
        """The node feeding layer i: the previous layer, or a new graph input of `shape`."""
        if flow.node is not None:
            return flow.node
        return self.b.input("input", shape, origin=self.origin(i))

    def read_dense(self, i: int, layer, flow: Flow) -> Flow:
        from snnc.backends.loihi.ops import Dense
        where = f"layer/{i}"
        n_out = int(np.prod(self.shape(layer, i)))
        weight = self.dense_weight(layer, i, n_out)
        n_in = weight.shape[1]
        if flow.shape and int(np.prod(flow.shape)) != n_in:
            raise self.sf.error(f"{where}/weight", f"takes {n_in} inputs, but the previous layer gives "
                                                   f"{int(np.prod(flow.shape))}")
        dense = self.build(i, lambda: Dense(weight=weight, weight_exp=np.zeros(n_out, np.int64),
                                            delay=self.dense_delay(layer, i, weight.shape), graded=flow.graded))
        syn = self.b.add(f"layer{i}.synapse", dense, self.source(i, flow, (n_in,)), origin=self.origin(i))
        op = self.neurons.layer_neuron(layer, i, (n_out,), default_cuba=True)
        node = self.b.add(f"layer{i}.neuron", op, syn, origin=self.origin(i))
        return Flow(node, (n_out,), self.neurons.sends_graded(op))

    def dense_weight(self, layer, i: int, n_out: int) -> np.ndarray:
        if isinstance(layer.get("weight"), self.sf.h5py.Group) and "imag" in layer["weight"]:
            raise UnsupportedOpError(REFUSED_LAYERS["dense_comp"], node=f"layer/{i}", op="dense (weight/real, "
                                     "weight/imag)", source=self.file, supported=SUPPORTED_LAYERS)
        weight = self.sf.numbers(layer, "weight")
        if weight.ndim == 1 and weight.size % n_out == 0:
            weight = weight.reshape(n_out, -1)                 # netx: reshape(shape[0], -1)
        if weight.ndim != 2 or weight.shape[0] != n_out or weight.shape[1] == 0:
            raise self.sf.error(f"layer/{i}/weight", f"shape {list(weight.shape)} does not match {n_out} outputs "
                                                     f"(expected [{n_out}, inFeatures])")
        return weight

    def dense_delay(self, layer, i: int, shape: tuple[int, int]):
        """The layer's `delay`, floored and broadcast to [out, in] as numpy broadcasts (a 1-D delay
        is per input, [out, 1] per output); 0 without one."""
        if "delay" not in layer:
            return 0
        d = self.sf.numbers(layer, "delay", floor=True)
        if d.size and d.min() < 0:
            raise self.sf.error(f"layer/{i}/delay", f"holds the negative delay {d.min()}")
        try:
            return np.broadcast_to(d.reshape(shape) if d.size == shape[0] * shape[1] else d, shape)
        except ValueError:
            raise self.sf.error(f"layer/{i}/delay", f"shape {list(d.shape)} does not broadcast to the weights "
                                                    f"{list(shape)}") from None

    def read_conv(self, i: int, layer, flow: Flow) -> Flow:
        from snnc.backends.loihi.conv import Conv
        in_shape = self.spatial_input(i, flow, "conv")
        weight = self.sf.numbers(layer, "weight")
        if weight.ndim == 5 and weight.shape[4] == 1:
            weight = weight.reshape(weight.shape[:4])          # SLAYER's trailing time axis (netx reshape)
        if weight.ndim != 4:
            raise self.sf.error(f"layer/{i}/weight", f"expected [C_out, C_in/groups, KH, KW], got shape "
                                                     f"{list(weight.shape)}")
        groups = self.sf.numbers(layer, "groups").reshape(-1)
        if groups.size != 1:
            raise self.sf.error(f"layer/{i}/groups", f"expected one integer, got {groups.tolist()}")
        self.refuse_delay(layer, i, "conv")
        fields = dict(weight=weight, weight_exp=np.zeros(weight.shape[0], np.int64), in_shape=in_shape,
                      stride=self.pair(layer, "stride", i), padding=self.pair(layer, "padding", i, low=0),
                      dilation=self.pair(layer, "dilation", i), groups=int(groups[0]), graded=flow.graded)
        return self.spatial_layer(i, layer, flow, lambda: Conv(**fields))

    def read_pool(self, i: int, layer, flow: Flow) -> Flow:
        """SLAYER's Pool synapse (lava-dl slayer/synapse/layer.py; Lava's netx does not load pool layers):
        one [KH, KW] kernel applied to every channel, as a depthwise loihi.conv."""
        from snnc.backends.loihi.conv import conv_from_pool
        in_shape = self.spatial_input(i, flow, "pool")
        kernel = self.sf.numbers(layer, "weight")
        if kernel.ndim < 2 or kernel.size == 0 or kernel.shape[:-2] != (1,) * (kernel.ndim - 2):
            raise self.sf.error(f"layer/{i}/weight", f"expected a pooling kernel [1, 1, KH, KW], got shape "
                                                     f"{list(kernel.shape)}")
        kernel = kernel.reshape(kernel.shape[-2:])
        stride = self.pair(layer, "stride", i, default=kernel.shape)
        padding = self.pair(layer, "padding", i, default=(0, 0), low=0)
        dilation = self.pair(layer, "dilation", i, default=(1, 1))
        self.check_slayer_pool(i, in_shape, kernel.shape, stride, padding, dilation)
        self.refuse_delay(layer, i, "pool")
        return self.spatial_layer(i, layer, flow, lambda: conv_from_pool(
            in_shape, kernel, stride, padding, dilation, graded=flow.graded))

    def check_slayer_pool(self, i: int, in_shape, kernel, stride, padding, dilation) -> None:
        """SLAYER pools the channels stacked along H (after padding H and W up by H mod KH, W mod KW
        zeros); that equals per-channel pooling exactly when these hold."""
        _, h, w = in_shape
        rules = ((h % kernel[0] == 0 and w % kernel[1] == 0, f"H, W = {h}, {w} divisible by the kernel {kernel}"),
                 (padding[0] == 0, f"no padding along H (got {padding[0]})"),
                 (h % stride[0] == 0, f"H = {h} divisible by the stride along H ({stride[0]})"),
                 (dilation[0] * (kernel[0] - 1) < stride[0], "the dilated kernel along H no longer than the stride"))
        for ok, rule in rules:
            if not ok:
                raise UnsupportedOpError(f"SLAYER pools channels stacked along H; snnc reads a pool layer when that "
                                         f"equals pooling each channel, which needs {rule}", node=f"layer/{i}",
                                         op="pool", source=self.file)

    def spatial_input(self, i: int, flow: Flow, kind: str) -> tuple[int, int, int]:
        if len(flow.shape) != 3:
            what = f"a layer of shape {list(flow.shape)}" if flow.shape else "no input layer"
            raise self.sf.error(f"layer/{i}", f"a {kind} layer needs a 3-D input (C, H, W), but follows {what}")
        return flow.shape

    def refuse_delay(self, layer, i: int, kind: str) -> None:
        if "delay" in layer and self.sf.numbers(layer, "delay", floor=True).any():
            why = ("Lava's netx lists them but does not apply them (lava-dl netx hdf5.py create_conv)" if kind == "conv"
                   else "Lava's netx loads no pool layers, so nothing says how their delays act")
            raise UnsupportedOpError(f"nonzero {kind} delays are not read: {why}", node=f"layer/{i}", op=kind,
                                     source=self.file)

    def spatial_layer(self, i: int, layer, flow: Flow, make_synapse) -> Flow:
        conv = self.build(i, make_synapse)
        shape = self.shape(layer, i)
        if shape != conv.out_shape:
            raise self.sf.error(f"layer/{i}/shape", f"is {list(shape)}, but the kernel and geometry give "
                                                    f"{list(conv.out_shape)} (C, H, W)")
        n_in = int(np.prod(conv.in_shape))
        syn = self.b.add(f"layer{i}.synapse", conv, self.source(i, flow, (n_in,)), origin=self.origin(i))
        op = self.neurons.layer_neuron(layer, i, shape, default_cuba=False)
        node = self.b.add(f"layer{i}.neuron", op, syn, origin=self.origin(i))
        return Flow(node, shape, self.neurons.sends_graded(op))

    def build(self, i: int, make):
        """The op `make()` builds, with its own rules checked; a broken rule names layer i."""
        try:
            op = make()
        except OpRuleError as exc:
            raise self.sf.error(f"layer/{i}", str(exc)) from None
        errs = op.verify()
        if errs:
            raise self.sf.error(f"layer/{i}", "; ".join(errs))
        return op


def read(path, *, input_message_bits: int, dt: float, max_elements: int) -> Graph:
    with SafeFile(path, max_elements=max_elements) as sf:
        try:
            return Reader(sf, input_message_bits=input_message_bits, dt=dt).graph()
        except (OSError, RuntimeError) as exc:         # h5py I/O on a damaged file
            raise MalformedInputError(f"unreadable HDF5 data ({type(exc).__name__}: {exc})",
                                      file=str(Path(path))) from None
