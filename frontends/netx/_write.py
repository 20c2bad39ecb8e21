"""`loihi.*` graph → netx file, for the graphs netx can express (the package doc lists them)."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from snnc.errors import UsageError
from snnc.ir.graph import Graph

from ._neurons import ENCODER_DU, NETX_BIAS_EXP, NETX_SDN_EXP

INT32_MAX = (1 << 31) - 1
CHAIN = "input -> [neuron] -> (loihi.dense | loihi.conv -> neuron)+ -> output"


def refuse(node: str, why: str) -> UsageError:
    return UsageError(f"netx cannot express node '{node}': {why}")


def write(graph: Graph, path) -> None:
    """Write `graph` as a netx HDF5 file at `path`, atomically (complete, fsynced, then renamed)."""
    layers = Planner(graph).layers()
    import h5py
    buf = io.BytesIO()
    with h5py.File(buf, "w", track_order=True) as f:
        group = f.create_group("layer", track_order=True)
        for i, data in enumerate(layers):
            _write_group(group.create_group(str(i), track_order=True), data)
    _replace(Path(path), buf.getvalue())


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_group(group, data: dict) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _write_group(group.create_group(key, track_order=True), value)
        elif isinstance(value, str):
            group.create_dataset(key, data=np.array([value.encode("ascii")], dtype="S10"), track_times=False)
        else:
            group.create_dataset(key, data=value, track_times=False)


class Planner:
    """Walks the chain from the graph input and turns each layer into the dict netx stores."""

    def __init__(self, graph: Graph):
        self.g = graph

    def layers(self) -> list[dict]:
        from snnc.backends.loihi.conv import Conv
        g = self.g
        if len(g.inputs) != 1 or len(g.outputs) != 1:
            raise UsageError(f"netx cannot express this graph: {len(g.inputs)} inputs and {len(g.outputs)} outputs, "
                             f"netx has one of each ({CHAIN})")
        node, out, shape, graded = g.inputs[0], [], None, False
        first = self.next(node)
        if self.is_neuron(self.expect(first, "neuron" if self.is_neuron(first) else "synapse")):
            after = g.op(self.next(first))
            shape = after.in_shape if isinstance(after, Conv) else g.op(node).shape
            out.append(self.input_layer(first, shape))
            node, graded = first, self.sends_graded(first)
        elif isinstance(g.op(first), Conv):
            shape = g.op(first).in_shape
            out.append({"type": "input", "shape": np.array(shape)})
        while True:
            syn = self.next(node)
            if syn == g.outputs[0]:
                return out
            neuron = self.next(self.expect(syn, "synapse"))
            shape = self.synapse_layer(syn, self.expect(neuron, "neuron"), shape, graded, out)
            node, graded = neuron, self.sends_graded(neuron)

    # -- walking ---------------------------------------------------------------------------------
    def next(self, node: str) -> str:
        outs = self.g.out_edges(node)
        if len(outs) != 1 or outs[0].recurrent:
            extra = " through a recurrent edge" if outs and outs[0].recurrent else ""
            raise refuse(node, f"feeds {len(outs)} nodes{extra}; netx layers feed exactly one next layer ({CHAIN})")
        return outs[0].dst

    def expect(self, node: str, role: str) -> str:
        """`node`, if it can be a netx layer's synapse or neuron (`role`) with one incoming edge."""
        from snnc.backends.loihi.conv import Conv
        from snnc.backends.loihi.ops import Dense
        ok = self.is_neuron(node) if role == "neuron" else isinstance(self.g.op(node), (Dense, Conv))
        if not ok:
            wanted = "loihi.cuba or loihi.sigma_delta" if role == "neuron" else "loihi.dense or loihi.conv"
            raise refuse(node, f"is {self.g.op(node).name}, expected {wanted} here ({CHAIN})")
        if len(self.g.in_edges(node)) != 1:
            raise refuse(node, f"has {len(self.g.in_edges(node))} incoming edges, netx layers have one ({CHAIN})")
        return node

    def is_neuron(self, node: str) -> bool:
        from snnc.backends.loihi.conv import SigmaDelta
        from snnc.backends.loihi.ops import Cuba
        return isinstance(self.g.op(node), (Cuba, SigmaDelta))

    def sends_graded(self, node: str) -> bool:
        return bool(getattr(self.g.op(node), "graded", True))

    # -- layers ----------------------------------------------------------------------------------
    def input_layer(self, node: str, shape) -> dict:
        from snnc.backends.loihi.ops import Cuba
        op = self.g.op(node)
        if isinstance(op, Cuba):
            if np.any(op.du != ENCODER_DU) or np.any(op.bias_mant):
                raise refuse(node, f"a neuron fed by the graph input is netx's input layer, driven through its "
                                   f"bias: it needs du = {ENCODER_DU} and no bias of its own")
            neuron = cuba_group(node, op)
        else:
            if op.mode != "delta":
                raise refuse(node, f"a sigma-delta neuron fed by the graph input is netx's SDNN input layer, "
                                   f"a Lava Delta: mode must be delta, got {op.mode}")
            neuron = sdnn_group(node, op)
        return {"type": "input", "shape": np.array(shape), "neuron": neuron}

    def synapse_layer(self, syn: str, neuron: str, shape, graded: bool, out: list) -> tuple:
        from snnc.backends.loihi.conv import Conv
        from snnc.backends.loihi.ops import Dense
        d = self.g.op(syn)
        if d.graded != graded:
            why = ("graded input to the first layer is a load option of Lava's netx (input_message_bits), not "
                   "part of the file") if self.g.in_edges(syn)[0].src in self.g.inputs else \
                  f"graded = {d.graded} but its source sends {'payloads' if graded else 'binary spikes'}"
            raise refuse(syn, why)
        if isinstance(d, Dense):
            if shape is not None and len(shape) == 3:
                out.append({"type": "flatten", "shape": np.array([int(np.prod(shape)), 1, 1])})
            layer, new_shape = dense_layer(syn, d), (d.weight.shape[0],)
        else:
            if shape is None or tuple(shape) != d.in_shape:
                raise refuse(syn, f"its in_shape {list(d.in_shape)} is not the previous layer's shape "
                                  f"{list(shape) if shape else '(flat)'}; netx hands each layer's (C, H, W) on")
            layer, new_shape = conv_layer(syn, d), d.out_shape
        out.append(neuron_part(layer, neuron, self.g.op(neuron), new_shape))
        return new_shape


def effective_weight(node: str, weight: np.ndarray, exp: np.ndarray) -> np.ndarray:
    """w · 2^e per output row/channel, which must be an integer (netx stores exponent 0)."""
    e = exp.reshape((-1,) + (1,) * (weight.ndim - 1))
    up, down = np.minimum(np.maximum(e, 0), 32), np.minimum(np.maximum(-e, 0), 62)
    if np.any(np.abs(weight) > np.right_shift(INT32_MAX, up)):
        raise refuse(node, f"effective weights w · 2^weight_exp beyond {INT32_MAX}; Lava holds weights in int32")
    w = (weight << up) >> down
    if not np.array_equal(w << down >> up, weight):
        row = int(np.argwhere((w << down >> up) != weight)[0][0])
        raise refuse(node, f"row {row} has weight_exp {int(exp[row])} and mantissas that are not multiples of "
                           f"2^{-int(exp[row])}; netx stores integer weights at exponent 0")
    return w


def dense_layer(node: str, d) -> dict:
    weight = effective_weight(node, d.weight, d.weight_exp)
    layer = {"type": "dense", "shape": np.array([weight.shape[0]]), "inFeatures": weight.shape[1],
             "outFeatures": weight.shape[0], "weight": weight}
    if d.delay.size and np.any(d.delay):
        layer["delay"] = np.broadcast_to(d.delay, weight.shape).copy()
    return layer


def conv_layer(node: str, c) -> dict:
    if c.delay.size and np.any(c.delay):
        raise refuse(node, "nonzero delays: Lava's netx does not apply conv delays")
    weight = effective_weight(node, c.weight, c.weight_exp)
    return {"type": "conv", "shape": np.array(c.out_shape), "inChannels": c.in_shape[0],
            "outChannels": weight.shape[0], "kernelSize": np.array(weight.shape[2:]), "stride": np.array(c.stride),
            "padding": np.array(c.padding), "dilation": np.array(c.dilation), "groups": c.groups, "weight": weight}


def neuron_part(layer: dict, node: str, op, shape: tuple) -> dict:
    from snnc.backends.loihi.ops import Cuba
    if isinstance(op, Cuba):
        bias = cuba_bias(node, op)
        layer["neuron"] = cuba_group(node, op)
    else:
        if op.mode == "delta":
            raise refuse(node, "mode delta is netx's SDNN input layer; after a synapse netx builds SigmaDelta "
                               "or Sigma neurons")
        bias = op.bias
        layer["neuron"] = sdnn_group(node, op)
    if np.any(bias):
        layer["bias"] = layer_bias(bias, shape)
    return layer


def layer_bias(bias: np.ndarray, shape: tuple) -> np.ndarray:
    """One value per neuron of a dense layer; per channel [C] when uniform in each channel of a
    3-D layer, else per neuron in Lava's (W, H, C) order (netx's two ways for 3-D blocks)."""
    if len(shape) != 3:
        return bias
    chw = bias.reshape(shape)
    if np.all(chw == chw[:, :1, :1]):
        return chw[:, 0, 0].copy()
    return chw.transpose(2, 1, 0).copy()


def uniform(op, name: str, node: str) -> int:
    values = np.unique(getattr(op, name))
    if len(values) != 1:
        raise refuse(node, f"{name} differs between neurons ({values.min()} … {values.max()}); Lava's netx "
                           f"neurons take one value per layer")
    return int(values[0])


def cuba_bias(node: str, c) -> np.ndarray:
    if np.any(np.abs(c.bias_mant) > np.right_shift(INT32_MAX, np.clip(c.bias_exp, 0, 32))):
        raise refuse(node, f"bias_mant · 2^bias_exp beyond {INT32_MAX}; Lava holds biases in int32")
    bias = np.where(c.bias_exp >= 0, c.bias_mant << np.clip(c.bias_exp, 0, 32),
                    c.bias_mant >> np.clip(-c.bias_exp, 0, 62))
    if np.any(bias % (1 << NETX_BIAS_EXP)):
        i = int(np.argwhere(bias % (1 << NETX_BIAS_EXP))[0][0])
        raise refuse(node, f"neuron {i} has bias {int(bias[i])}, not a multiple of 2^{NETX_BIAS_EXP} (netx stores "
                           f"bias_mant with bias_exp = {NETX_BIAS_EXP})")
    return bias >> NETX_BIAS_EXP


def cuba_group(node: str, c) -> dict:
    if c.reset_mode != "zero":
        raise refuse(node, f"reset_mode {c.reset_mode}; netx CUBA neurons reset to zero")
    return {"type": "CUBA", "iDecay": uniform(c, "du", node) + 1, "vDecay": uniform(c, "dv", node),
            "vThMant": uniform(c, "vth_mant", node), "refDelay": uniform(c, "refractory", node) + 1,
            "gradedSpike": bool(c.graded)}


def sdnn_group(node: str, s) -> dict:
    if (s.spike_exp, s.state_exp) != (NETX_SDN_EXP, NETX_SDN_EXP):
        raise refuse(node, f"spike_exp, state_exp = {s.spike_exp}, {s.state_exp}; netx fixes both at {NETX_SDN_EXP}")
    if s.mode == "sigma_delta" and s.activation != "relu":
        raise refuse(node, f"activation {s.activation}; netx's SigmaDelta neurons use ReLU")
    group = {"type": "SDNN", "vThMant": uniform(s, "vth", node) if s.mode != "sigma" else 0}
    if s.mode == "sigma":
        group["sigma_output"] = True
    return group
