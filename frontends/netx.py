"""lava-dl netx HDF5 (`.net`) ⇄ a `loihi.*` graph, integers intact.

Reading (`load`): the file's layers become a chain of target-dialect ops:

    input layer (optional)  →  graph input `input`, shape [prod(shape)] (C, H, W flattened in order)
    flatten                 →  nothing (values are flat vectors already)
    dense                   →  `layer<i>.synapse` loihi.dense  →  `layer<i>.neuron` loihi.cuba
                               (after the last layer: graph output `output`)

and the parameters map as Lava's netx loader maps them (`Network.get_neuron_params`):

    weight [out, in]  → weight, weight_exp = 0     (see below)
    delay             → delay, broadcast to [out, in] as numpy broadcasts (a 1-D delay is
                        per input, [out, 1] per output), floored
    iDecay            → du = iDecay − 1            (the chip adds the 1 back)
    vDecay            → dv
    vThMant           → vth_mant
    bias (layer)      → bias_mant, bias_exp = 6    (netx stores bias at weight scale)
    refDelay          → refractory = refDelay − 1  (Loihi's counter; Lava's LIF ignores it)
    gradedSpike       → graded (and the next dense takes graded input)

A dense layer without a `neuron` group gets netx's default (iDecay 0, vDecay 4096,
vThMant `1 << 18 - 1`, which Python reads as 1 << 17). Weights are kept as the file's
integers with exponent 0: for weights in [−256, 255], netx's `optimize_weight_bits`
plus Lava's Dense clip/truncate/shift give exactly Σ w for every tick's input (the one
exception: an all-negative matrix holding −256, which Lava clips to −255), so
`weight_exp = 0` is the same arithmetic; how to split weights into 8-bit mantissas and
exponents for a chip is the target's rules' business, not the reader's.

Writing (`save`): the inverse, for graphs netx can express: input → (loihi.dense →
loihi.cuba)+ → output, zero reset, one value of du/dv/vth_mant/refractory per layer (Lava
neurons take scalars), effective weights w · 2^weight_exp that are integers, biases that
are multiples of 2^6. Anything else is refused with the node and the reason.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from snnc.errors import MalformedInputError, UnsupportedOpError, UsageError
from snnc.ir.graph import Graph, GraphBuilder

SUPPORTED_LAYERS = ("input", "flatten", "dense")
NETX_BIAS_EXP = 6
# lava-dl netx hdf5.py, Network.create_dense: {'vThMant': 1 << 18 - 1}, i.e. 1 << 17.
DEFAULT_NEURON = {"type": "CUBA", "iDecay": 0, "vDecay": 4096, "vThMant": 1 << 17, "refDelay": 1,
                  "gradedSpike": False}
CUBA_TYPES = ("CUBA", "LOIHI")


def load(path, *, input_message_bits: int = 0, dt: float = 1e-3) -> Graph:
    """Read a netx HDF5 file into a `loihi.*` graph.

    `input_message_bits` > 0 makes the first dense layer take graded input, as the option
    of the same name does for Lava's `netx.hdf5.Network`.
    """
    import h5py
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise MalformedInputError(f"not a readable HDF5 file ({exc})", file=str(path)) from None
    with f:
        return _Reader(f, str(path), input_message_bits, dt).graph()


class _Reader:
    def __init__(self, f, file: str, input_message_bits: int, dt: float):
        self.f, self.file, self.dt = f, file, dt
        self.graded_in = input_message_bits > 0

    def error(self, where: str, message: str) -> MalformedInputError:
        return MalformedInputError(message, file=self.file, where=where)

    def get(self, group, key: str):
        if key not in group:
            raise self.error(group.name.lstrip("/"), f"missing key '{key}'")
        return group[key][()]

    def layers(self):
        if "layer" not in self.f:
            raise self.error("/", "missing key 'layer' (a netx file holds its layers in layer/0 … layer/n−1)")
        group = self.f["layer"]
        ids = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
        if not ids or ids != [str(i) for i in range(len(ids))]:
            raise self.error("layer", f"layers must be named 0 … n−1, got {', '.join(ids) or 'none'}")
        return [group[i] for i in ids]

    def graph(self) -> Graph:
        b = GraphBuilder(dt=self.dt, metadata={"frontend": "netx", "netx_file": Path(self.file).name})
        src, size, graded = None, None, self.graded_in
        for i, layer in enumerate(self.layers()):
            kind = _text(self.get(layer, "type"))
            where = f"layer/{i}"
            origin = f"{self.file}:{where}"
            if kind == "input":
                if "neuron" in layer:
                    raise UnsupportedOpError("an input layer with an encoding neuron (Lava drives it through its "
                                             "bias) is not supported; start the file at the first dense layer",
                                             node=where, op="input", source=self.file)
                size = int(np.prod(self.ints(layer, "shape")))
                src = b.input("input", (size,), origin=origin)
            elif kind == "flatten":
                continue
            elif kind == "dense":
                src, size, graded = self.dense(b, layer, i, src, size, graded, origin)
            else:
                raise UnsupportedOpError("this netx layer type has no loihi mapping", node=where, op=kind,
                                         source=self.file, supported=SUPPORTED_LAYERS)
        if src is None or src == "input":
            raise self.error("layer", "the file has no dense layer")
        b.output("output", src, (size,), origin=self.file)
        return b.build()

    def ints(self, group, key: str, *, floor: bool = False) -> np.ndarray:
        value = np.asarray(self.get(group, key))
        if value.dtype.kind not in "biuf":
            raise self.error(f"{group.name.lstrip('/')}/{key}", f"expected numbers, got {value.dtype}")
        if value.dtype.kind == "f":
            if not np.all(np.isfinite(value)):
                raise self.error(f"{group.name.lstrip('/')}/{key}", "expected finite numbers")
            value = np.floor(value) if floor else np.trunc(value)     # netx: delays floored, .astype(int) else
        return value.astype(np.int64)

    def dense(self, b, layer, i, src, size, graded, origin):
        from snnc.backends.loihi.ops import Dense
        where = f"layer/{i}"
        n_out = int(np.prod(self.ints(layer, "shape")))
        weight = self.ints(layer, "weight")
        if weight.ndim == 1:
            if n_out == 0 or weight.size % n_out:
                raise self.error(f"{where}/weight", f"{weight.size} weights do not fill {n_out} output rows")
            weight = weight.reshape(n_out, -1)
        if weight.ndim != 2 or weight.shape[0] != n_out:
            raise self.error(f"{where}/weight", f"shape {list(weight.shape)} does not match {n_out} outputs "
                                                f"(expected [{n_out}, inFeatures])")
        n_in = weight.shape[1]
        if src is None:
            src, size = b.input("input", (n_in,), origin=f"{self.file}:{where}"), n_in
        if n_in != size:
            raise self.error(f"{where}/weight", f"takes {n_in} inputs, but the previous layer gives {size}")
        delay = 0
        if "delay" in layer:
            d = self.ints(layer, "delay", floor=True)
            try:
                delay = np.broadcast_to(d.reshape(n_out, n_in) if d.size == weight.size else d, weight.shape)
            except ValueError:
                raise self.error(f"{where}/delay", f"shape {list(d.shape)} does not broadcast to the weights "
                                                   f"{list(weight.shape)}") from None
        syn = b.add(f"layer{i}.synapse", Dense(weight=weight, weight_exp=np.zeros(n_out, np.int64),
                                               delay=delay, graded=graded), src, origin=origin)
        cuba = self.neuron(layer, where, n_out)
        return b.add(f"layer{i}.neuron", cuba, syn, origin=origin), n_out, cuba.graded

    def neuron(self, layer, where: str, n: int):
        from snnc.backends.loihi.ops import Cuba
        group = layer["neuron"] if "neuron" in layer else None
        params = {}
        for key in ("type", "iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike"):
            if group is None:
                params[key] = DEFAULT_NEURON[key]
            elif key == "gradedSpike" and key not in group:
                params[key] = False
            elif key == "type":
                params[key] = _text(self.get(group, key))
            else:
                params[key] = self.ints(group, key)
        if params["type"] not in CUBA_TYPES:
            raise UnsupportedOpError("only CUBA neurons map to loihi.cuba", node=f"{where}/neuron",
                                     op=params["type"], source=self.file, supported=CUBA_TYPES)
        bias = self.ints(layer, "bias") if "bias" in layer else 0

        def per_neuron(value, key):
            try:
                return np.broadcast_to(np.asarray(value, np.int64).reshape(-1) if np.size(value) == n
                                       else np.asarray(value, np.int64), (n,))
            except ValueError:
                raise self.error(f"{where}/{key}", f"shape {list(np.shape(value))} does not broadcast to "
                                                   f"{n} neurons") from None

        op = Cuba(du=per_neuron(params["iDecay"], "neuron/iDecay") - 1,
                  dv=per_neuron(params["vDecay"], "neuron/vDecay"),
                  vth_mant=per_neuron(params["vThMant"], "neuron/vThMant"),
                  bias_mant=per_neuron(bias, "bias"),
                  bias_exp=np.full(n, NETX_BIAS_EXP, np.int64),
                  refractory=per_neuron(params["refDelay"], "neuron/refDelay") - 1,
                  graded=bool(np.any(params["gradedSpike"])))
        errs = op.verify()
        if errs:
            raise self.error(f"{where}/neuron", "; ".join(errs))
        return op


def _text(value) -> str:
    value = np.asarray(value)
    item = value.reshape(-1)[0] if value.size else b""
    return item.decode("ascii") if isinstance(item, bytes) else str(item)


# -- writing ----------------------------------------------------------------------------------
def save(graph: Graph, path, **options) -> None:
    """The frontend-registry name of `save_netx`."""
    save_netx(graph, path, **options)


def save_netx(graph: Graph, path) -> None:
    """Write a `loihi.*` dense feed-forward CUBA chain as a netx HDF5 file (see the module doc).

    Raises `UsageError` naming the node and the reason when netx cannot express the graph.
    The file is byte-identical for equal graphs (no timestamps are stored).
    """
    chain = _chain(graph)
    for (_, before), (syn, _) in zip(chain, chain[1:]):
        if graph.op(syn).graded != graph.op(before).graded:
            raise UsageError(f"netx cannot express node '{syn}': graded = {graph.op(syn).graded} but its source "
                             f"'{before}' has graded = {graph.op(before).graded} (netx sets both from gradedSpike)")
    layers = [_layer_data(graph, syn, neu) for syn, neu in chain]
    import h5py
    with h5py.File(path, "w", track_order=True) as f:
        group = f.create_group("layer", track_order=True)
        for i, data in enumerate(layers):
            _write_group(group.create_group(str(i), track_order=True), data)


def _write_group(group, data: dict) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _write_group(group.create_group(key, track_order=True), value)
        elif isinstance(value, str):
            group.create_dataset(key, data=np.array([value.encode("ascii")], dtype="S10"), track_times=False)
        else:
            group.create_dataset(key, data=value, track_times=False)


def _chain(graph: Graph) -> list[tuple[str, str]]:
    from snnc.backends.loihi.ops import Cuba, Dense

    def refuse(node, why):
        return UsageError(f"netx cannot express this graph: node '{node}': {why} (netx holds a chain "
                          f"input -> (loihi.dense -> loihi.cuba)+ -> output)")

    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise refuse("graph", f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs, netx has one of each")
    pairs, node, want = [], graph.inputs[0], Dense
    while True:
        outs = graph.out_edges(node)
        if len(outs) != 1 or outs[0].recurrent:
            raise refuse(node, f"feeds {len(outs)} nodes{' through a recurrent edge' if outs and outs[0].recurrent else ''}"
                               f", netx layers feed exactly one next layer")
        nxt = outs[0].dst
        if nxt == graph.outputs[0] and want is Dense and pairs:
            return pairs
        if len(graph.in_edges(nxt)) != 1:
            raise refuse(nxt, f"has {len(graph.in_edges(nxt))} incoming edges, netx layers have one")
        if not isinstance(graph.op(nxt), want):
            raise refuse(nxt, f"is {graph.op(nxt).name}, expected {want.name} here")
        if want is Dense:
            pairs.append((nxt, None))
        else:
            pairs[-1] = (pairs[-1][0], nxt)
        node, want = nxt, (Cuba if want is Dense else Dense)


def _uniform(op, name: str, node: str) -> int:
    values = np.unique(getattr(op, name))
    if len(values) != 1:
        raise UsageError(f"netx cannot express node '{node}': {name} differs between neurons "
                         f"({values.min()} … {values.max()}); Lava's netx neurons take one value per layer")
    return int(values[0])


def _layer_data(graph: Graph, syn: str, neu: str) -> dict:
    d, c = graph.op(syn), graph.op(neu)
    if d.graded and graph.in_edges(syn)[0].src in graph.inputs:
        raise UsageError(f"netx cannot express node '{syn}': graded input to the first layer is a load option "
                         f"of Lava's netx (input_message_bits), not part of the file")
    if c.reset_mode != "zero":
        raise UsageError(f"netx cannot express node '{neu}': reset_mode {c.reset_mode}; netx CUBA neurons "
                         f"reset to zero")
    exp = d.weight_exp[:, None]
    weight = np.where(exp >= 0, d.weight << np.maximum(exp, 0), d.weight >> np.maximum(-exp, 0))
    if np.any(exp < 0) and not np.array_equal(weight << np.maximum(-exp, 0), d.weight):
        row = int(np.argwhere((weight << np.maximum(-exp, 0)) != d.weight)[0][0])
        raise UsageError(f"netx cannot express node '{syn}': row {row} has weight_exp {int(d.weight_exp[row])} "
                         f"and mantissas that are not multiples of 2^{-int(d.weight_exp[row])}; netx stores "
                         f"integer weights at exponent 0")
    bias = np.where(c.bias_exp >= 0, c.bias_mant << np.maximum(c.bias_exp, 0),
                    c.bias_mant >> np.maximum(-c.bias_exp, 0))
    if np.any(bias % (1 << NETX_BIAS_EXP)):
        i = int(np.argwhere(bias % (1 << NETX_BIAS_EXP))[0][0])
        raise UsageError(f"netx cannot express node '{neu}': neuron {i} has bias {int(bias[i])}, not a multiple "
                         f"of 2^{NETX_BIAS_EXP} (netx stores bias_mant with bias_exp = {NETX_BIAS_EXP})")
    layer = {"type": "dense", "shape": np.array([weight.shape[0]]), "inFeatures": weight.shape[1],
             "outFeatures": weight.shape[0], "weight": weight}
    if d.delay.size and np.any(d.delay):
        layer["delay"] = np.broadcast_to(d.delay, weight.shape).copy()
    if np.any(bias):
        layer["bias"] = bias >> NETX_BIAS_EXP
    layer["neuron"] = {"type": "CUBA", "iDecay": _uniform(c, "du", neu) + 1, "vDecay": _uniform(c, "dv", neu),
                       "vThMant": _uniform(c, "vth_mant", neu), "refDelay": _uniform(c, "refractory", neu) + 1,
                       "gradedSpike": bool(c.graded)}
    return layer
