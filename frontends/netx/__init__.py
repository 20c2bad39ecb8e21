"""lava-dl netx HDF5 (`.net`) ⇄ a `loihi.*` graph, integers intact.

Reading (`load`) follows lava-dl's netx loader (`lava.lib.dl.netx.hdf5.Network`, its
blocks and `utils.NetDict`; lava-nc/lava-dl src/lava/lib/dl/netx, read at 4919a66a) and
the Lava process models it builds (lava-nc/lava src/lava/proc/{lif,dense,conv,sdn}). The
file's layers `layer/0 … layer/n−1` become a chain of target-dialect ops:

    input    → graph input `input`, flat [C·H·W] (element (c, h, w) at c·H·W + h·W + w, the
               order netx flattens in); with a `neuron` group, also `layer0.neuron`:
                 CUBA: a loihi.cuba driven through its bias, as netx builds it (the Input
                       block leaves the neuron's synaptic input unconnected): x[t] is the
                       neurons' bias_mant at tick t (bias_exp 6). snnc feeds x[t] into u with
                       du = 4095, which adds exactly x[t]·2^6 to v (exact for |x| < 2^15, the
                       int16 range Lava holds bias_mant in). The layer's `weight`/`bias` are
                       the data loader's transform in netx, not part of the network: not read.
                 SDNN: a loihi.sigma_delta in mode delta (Lava Delta) taking x[t] directly.
    flatten  → nothing (values are flat already)
    dense    → `layer<i>.synapse` loihi.dense → `layer<i>.neuron`
    conv     → `layer<i>.synapse` loihi.conv (kernel [C_out, C_in/groups, KH, KW] as stored,
               stride/padding/dilation as (H, W), groups) → `layer<i>.neuron`
    pool     → `layer<i>.synapse` loihi.conv with groups = C and the stored [KH, KW] kernel
               in every channel → `layer<i>.neuron`. Lava's netx does not load pool layers;
               snnc reads them as SLAYER's Pool synapse computes (lava-dl
               slayer/synapse/layer.py), where that equals pooling each channel (see
               `_read.Reader.check_slayer_pool`).
    neurons  → CUBA/LOIHI → loihi.cuba, SDNN → loihi.sigma_delta (`_neurons` has the mapping);
               the last layer's neurons feed graph output `output`.

A dense layer's weights are the file's integers with exponent 0: for weights in
[−256, 255], netx's `optimize_weight_bits` plus Lava's Dense clip/truncate/shift give
exactly Σ w for every tick's input (the one exception: an all-negative matrix holding
−256, which Lava clips to −255). Its `delay` (floored, as netx does) broadcasts to
[out, in] as numpy broadcasts (a 1-D delay is per input, [out, 1] per output). Conv
weights go to Lava's Conv unchanged (netx does not optimise them); a nonzero conv or pool
delay is refused (netx lists it but does not apply it). Values must be integers within
int32 (delays may be fractional: floored); `input_message_bits` > 0 makes the first
synapse take graded input, as the option of the same name of netx's Network.

Refused with the layer and the reason: average, concat, convT, unpool, dense_rec,
dense_comp layers and RF neurons (no loihi.* op; netx itself refuses the first four).

Safety: the file is opened through `_hdf5.SafeFile`, which refuses external links, soft
links, external storage, virtual datasets and non-standard filters before reading
anything, and checks every dataset's dtype and declared size against one budget per file
(`max_elements`, default `MAX_ELEMENTS`; neurons a layer declares count too) before reading it.

Writing (`save`, `save_netx`): the inverse, for the chains netx can express —
input → [encoding neuron] → (loihi.dense | loihi.conv → loihi.cuba | loihi.sigma_delta)+ →
output, with a flatten layer written between a 3-D layer and a dense one; zero reset, one
value of du/dv/vth_mant/refractory (or vth) per layer, effective weights w · 2^weight_exp
that are integers, CUBA biases that are multiples of 2^6, sigma-delta exponents of 6.
Anything else is refused with the node and the reason. Pools are written as the depthwise
conv they were read as, which netx loads.
"""
from __future__ import annotations

from snnc.ir.graph import Graph

from ._hdf5 import MAX_ELEMENTS, MAX_OBJECTS
from ._read import SUPPORTED_LAYERS, read
from ._write import write

__all__ = ["load", "save", "save_netx", "MAX_ELEMENTS", "MAX_OBJECTS", "SUPPORTED_LAYERS"]


def load(path, *, input_message_bits: int = 0, dt: float = 1e-3, max_elements: int = MAX_ELEMENTS) -> Graph:
    """Read a netx HDF5 file into a `loihi.*` graph (see the module doc for what is read).

    `input_message_bits` > 0 makes the first layer take graded input, as the option of the
    same name does for Lava's `netx.hdf5.Network`. `max_elements` bounds the array elements
    the file may make snnc hold: every dataset read and every layer's neurons count.
    """
    from snnc.errors import UsageError
    if isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 1:
        raise UsageError(f"netx.load: max_elements must be a positive integer, got {max_elements!r}")
    return read(path, input_message_bits=input_message_bits, dt=dt, max_elements=max_elements)


def save(graph: Graph, path, **options) -> None:
    """The frontend-registry name of `save_netx`."""
    save_netx(graph, path, **options)


def save_netx(graph: Graph, path) -> None:
    """Write a `loihi.*` chain as a netx HDF5 file (see the module doc).

    Raises `UsageError` naming the node and the reason when netx cannot express the graph.
    The file is byte-identical for equal graphs (no timestamps are stored).
    """
    write(graph, path)
