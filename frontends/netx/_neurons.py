"""A netx layer's `neuron` group (and its `bias`) → loihi.cuba or loihi.sigma_delta.

Mapping as lava-dl's netx (`Network.get_neuron_params`, `AbstractBlock._neuron`):
  CUBA / LOIHI → Lava LIF:  du = iDecay − 1, dv = vDecay, vth = vThMant, bias_mant = the
                 layer's bias, bias_exp = 6; refDelay → refractory = refDelay − 1 (the
                 chip's counter; Lava's LIF ignores refDelay), gradedSpike → graded.
  SDNN         → Lava Delta (input layer), Sigma (a group holding `sigma_output`) or
                 SigmaDelta (others), with vth = vThMant, bias = the layer's bias,
                 spike_exp = state_exp = 6, ReLU activation.
Neuron parameters are per layer (Lava takes scalars); a dense layer may also give one value
per neuron. The bias is a scalar, one value per neuron of a dense layer or, for a
3-D layer, one value per channel [C] or per neuron in Lava's (W, H, C) order, as netx broadcasts it.
"""
from __future__ import annotations

import numpy as np

from snnc.errors import UnsupportedOpError

NETX_BIAS_EXP = 6
NETX_SDN_EXP = 6
CUBA_TYPES = ("CUBA", "LOIHI")
NEURON_TYPES = CUBA_TYPES + ("SDNN",)
# lava-dl netx hdf5.py, Network.create_dense: a dense layer without a neuron group gets
# {'iDecay': 0, 'vDecay': 4096, 'vThMant': 1 << 18 - 1}; Python reads 1 << 18 - 1 as 1 << 17.
DEFAULT_CUBA = {"type": "CUBA", "iDecay": 0, "vDecay": 4096, "vThMant": 1 << 17, "refDelay": 1, "gradedSpike": 0}
# The input layer's CUBA neuron is driven through its bias (netx leaves its synaptic input
# unconnected, so its current u stays 0). snnc feeds the graph input x[t] to u instead,
# with the current decaying fully every tick (du + 1 = 4096): u[t] = 64·x[t], exactly the
# bias_mant · 2^6 = x[t] · 2^6 Lava adds to v.
ENCODER_DU = 4095


class NeuronReader:
    def __init__(self, sf):
        self.sf = sf

    # -- what a layer's neurons are ----------------------------------------------------------------
    def params(self, layer, i: int, *, default_cuba: bool) -> dict:
        """Layer i's neuron parameters by key (netx's default CUBA for a dense layer without any)."""
        if "neuron" not in layer and default_cuba:
            return dict(DEFAULT_CUBA)
        group = self.sf.group(layer, "neuron")
        kind = self.sf.text(group, "type")
        if kind not in NEURON_TYPES:
            raise UnsupportedOpError("this netx neuron type has no loihi.* op", node=f"layer/{i}/neuron", op=kind,
                                     source=self.sf.file, supported=NEURON_TYPES)
        wanted = ("iDecay", "vDecay", "vThMant") if kind in CUBA_TYPES else ("vThMant",)
        values = {"type": kind, "sigma_output": "sigma_output" in group}
        for key in wanted:
            values[key] = self.sf.numbers(group, key)
        for key, default in (("refDelay", 1), ("gradedSpike", 0)):
            values[key] = self.sf.numbers(group, key) if kind in CUBA_TYPES and key in group else default
        return values

    def input_neuron(self, layer, i: int, n: int):
        """The encoding neuron of an input layer (its `weight`/`bias` are the data loader's
        transform in netx, not part of the network, and are not read)."""
        p = self.params(layer, i, default_cuba=False)
        where = f"layer/{i}/neuron"
        if p["type"] == "SDNN":
            return self.sdnn("delta", p, np.zeros(n, np.int64), n, where)
        return self.cuba(p, np.zeros(n, np.int64), n, where, du=np.full(n, ENCODER_DU, np.int64))

    def layer_neuron(self, layer, i: int, shape: tuple[int, ...], *, default_cuba: bool):
        p = self.params(layer, i, default_cuba=default_cuba)
        n = int(np.prod(shape))
        where = f"layer/{i}/neuron"
        bias = self.bias(layer, i, shape)
        if p["type"] == "SDNN":
            mode = "sigma" if p["sigma_output"] else "sigma_delta"
            if mode == "sigma" and bias.any():
                raise self.sf.error(f"layer/{i}/bias", "a sigma_output layer takes no bias (Lava's Sigma "
                                                       "process has none)")
            return self.sdnn(mode, p, bias, n, where)
        return self.cuba(p, bias, n, where, per_neuron=len(shape) == 1)

    @staticmethod
    def sends_graded(op) -> bool:
        return bool(getattr(op, "graded", True))      # sigma-delta neurons always send payloads

    # -- ops ---------------------------------------------------------------------------------------
    def cuba(self, p: dict, bias: np.ndarray, n: int, where: str, *, du=None, per_neuron: bool = True):
        from snnc.backends.loihi.ops import Cuba

        def values(key):
            return self.broadcast(p[key], n, f"{where}/{key}", per_neuron)
        op = Cuba(du=values("iDecay") - 1 if du is None else du, dv=values("vDecay"), vth_mant=values("vThMant"),
                  bias_mant=bias, bias_exp=np.full(n, NETX_BIAS_EXP, np.int64),
                  refractory=values("refDelay") - 1, graded=bool(np.any(p["gradedSpike"])))
        return self.checked(op, where)

    def sdnn(self, mode: str, p: dict, bias: np.ndarray, n: int, where: str):
        from snnc.backends.loihi.conv import SigmaDelta
        vth = np.zeros(n, np.int64) if mode == "sigma" else self.broadcast(p["vThMant"], n, f"{where}/vThMant",
                                                                           False)
        op = SigmaDelta(vth=vth, bias=bias, spike_exp=NETX_SDN_EXP, state_exp=NETX_SDN_EXP, mode=mode)
        return self.checked(op, where)

    def checked(self, op, where: str):
        errs = op.verify()
        if errs:
            raise self.sf.error(where, "; ".join(errs))
        return op

    def broadcast(self, value, n: int, where: str, per_neuron: bool) -> np.ndarray:
        """A scalar (or one-element) parameter, or with `per_neuron` one value per neuron."""
        value = np.asarray(value, np.int64).reshape(-1)
        if value.size == 1 or (per_neuron and value.size == n):
            return np.broadcast_to(value, (n,)).copy()
        expected = f"1 or {n} values" if per_neuron else "one value (netx neurons take one per layer)"
        raise self.sf.error(where, f"holds {value.size} values, expected {expected}")

    def bias(self, layer, i: int, shape: tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        if "bias" not in layer:
            return np.zeros(n, np.int64)
        b = self.sf.numbers(layer, "bias")
        if b.size == 1 or (len(shape) == 1 and b.size == n):
            return np.broadcast_to(b.reshape(-1), (n,)).copy()
        if len(shape) == 3 and b.shape == (shape[0],):
            return np.repeat(b, shape[1] * shape[2])                     # one value per channel
        if len(shape) == 3 and b.shape == shape[::-1]:
            return b.transpose(2, 1, 0).reshape(-1)                      # Lava's (W, H, C) → C·H·W
        raise self.sf.error(f"layer/{i}/bias", f"shape {list(b.shape)} does not broadcast to the layer "
                                               f"{list(shape)} (scalar, one per neuron, or one per channel)")
