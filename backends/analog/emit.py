"""The analog emitter: a mapped `analog.*` graph to the artifact files of FORMAT.md.

Mapping and calibration are the passes' work; this module writes them down: one npz of
conductances and column registers per tile, the tile map (tiles.json: where each block of
each layer sits, what it reads and feeds, its converters, drift compensation and the
device model), the neuron circuits (neurons.json and neurons.npz, with their
parameter-DAC codes) and the host side (host.json: graph inputs and outputs, node names
and origins; host_program.snnir: the readouts the host computes from the chip's spikes).
`decode.py` reads them back into the same graph. Every file is a deterministic function
of the mapped graph alone; the manifest sections that need evaluation data are
`sections.evaluate`'s.
"""
from __future__ import annotations

import numpy as np

from snnc.artifact import json_bytes, npz_bytes
from snnc.backend import Emitted
from snnc.backends.analog.host import host_outputs_entry, program_files
from snnc.backends.analog.layout import Layout, layout, tile_map, tile_table
from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.backends.analog.sections import EmitOptions, estimate, resources
from snnc.errors import UsageError
from snnc.ir.graph import Graph
from snnc.ir.mapping import Layer, PartOf
from snnc.ir.snn import Flatten

__all__ = ["EmitOptions", "emit", "tile_map"]

DEVICE_FIELDS = ("g_max", "prog_noise", "prog_noise_g_ref", "nu_mean", "nu_std", "t0", "t_read", "read_noise",
                 "synapse_mismatch")
NEURON_ARRAYS = LIFCircuit.ARRAYS
CODED = ("v_leak", "v_init", "v_threshold", "v_reset")


def emit(graph: Graph, target, options: EmitOptions = EmitOptions()) -> Emitted:
    """The family's files and the manifest sections that need no data, from a mapped graph alone."""
    lay = layout(graph)
    check_mapping(graph, lay)
    tiles = tile_table(graph, target)
    files = {t["file"]: npz_bytes(tile_arrays(graph.op(t["node"]), target)) for t in tiles}
    files["tiles.json"] = json_bytes({"tiles": tiles, "device": device_model(graph, target),
                                      "partial_sums": target.crossbar.partial_sums,
                                      "signed_mode": target.crossbar.signed_mode,
                                      "buffers": buffer_table(graph, lay)})
    neurons, arrays = neuron_tables(graph, lay, target)
    files["neurons.json"] = json_bytes({"units": target.neuron.units, "chip_dt": graph.dt, "method": graph.method,
                                        "speedup": target.timing.speedup, "populations": neurons})
    files["neurons.npz"] = npz_bytes(arrays)
    files["host.json"] = json_bytes(host_table(graph, lay))
    files.update(program_files(graph, lay))
    sections = {"resources": resources(graph, tiles, target),
                "estimate": estimate(graph, tiles, target, options, None)}
    return Emitted(files, sections)


# -- tiles ----------------------------------------------------------------------------------------
def tile_arrays(op: Crossbar, target) -> dict[str, np.ndarray]:
    """One tile's conductance matrices and digital registers; with programmable levels also the codes."""
    arrays = {"g_pos": op.g_pos, "g_neg": op.g_neg, "w_scale": op.w_scale, "gain": op.gain, "bias": op.bias}
    levels = target.device.levels
    if levels:
        step = target.device.g_max / (levels - 1)
        arrays["code_pos"] = np.rint(op.g_pos / step).astype(np.int64)
        arrays["code_neg"] = np.rint(op.g_neg / step).astype(np.int64)
    return arrays


def _plain(v):
    return v.tolist() if isinstance(v, np.ndarray) else v


def device_model(graph: Graph, target) -> dict:
    """The device section of tiles.json: the target's device kind and the model every tile shares."""
    d = target.device
    model = None
    for name in tile_map(graph):
        op = graph.op(name)
        mine = {f: _plain(getattr(op, f)) for f in DEVICE_FIELDS}
        if model is None:
            model, first = mine, name
        elif mine != model:
            field = next(f for f in DEVICE_FIELDS if mine[f] != model[f])
            raise UsageError(f"analog emit: tiles '{first}' and '{name}' have different device models ({field}: "
                             f"{model[field]} and {mine[field]}); the files hold one device model per chip")
    return {"kind": d.kind, "unit": d.unit, "levels": d.levels, "model": model or {}}


# -- neurons --------------------------------------------------------------------------------------
def parameter_codes(v: np.ndarray, target) -> np.ndarray:
    """Parameter-DAC codes of potentials on the grid (device.parameter_grid)."""
    n = target.neuron
    step = (n.v_range.hi - n.v_range.lo) / ((1 << n.parameter_bits) - 1)
    return np.rint((np.asarray(v) - n.v_range.lo) / step).astype(np.int64)


def neuron_tables(graph: Graph, lay: Layout, target) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The populations of neurons.json (in node order) and the arrays of neurons.npz."""
    pops, arrays = [], {}
    for name in lay.populations:
        op = graph.op(name)
        for f in NEURON_ARRAYS:
            arrays[f"{name}.{f}"] = getattr(op, f)
        for f in CODED:
            arrays[f"{name}.{f}_code"] = parameter_codes(getattr(op, f), target)
        pops.append({"name": name, "neurons": int(op.shape[0]), "origin": graph.nodes[name].origin,
                     "reset_mode": op.reset_mode, "reset_timing": op.reset_timing, "t_refrac": op.t_refrac,
                     "mismatch": {"tau": op.sigma_tau, "gain": op.sigma_gain, "threshold": op.sigma_threshold},
                     "arrays": [f"{name}.{f}" for f in NEURON_ARRAYS], "synapse": None})
        syn = lay.synapse.get(name)
        if syn is not None:
            arrays[f"{name}.tau_syn"] = graph.op(syn).tau_syn
            pops[-1]["synapse"] = {"name": syn, "origin": graph.nodes[syn].origin,
                                   "sigma_tau": graph.op(syn).sigma_tau, "tau_syn": f"{name}.tau_syn"}
    return pops, arrays


def buffer_table(graph: Graph, lay: Layout) -> list[dict]:
    """The spike buffers of tiles.json, in node order: node, origin, the source they hold and for how long."""
    return [{"node": name, "origin": graph.nodes[name].origin, "source": src, "ticks": ticks}
            for name, (src, ticks) in lay.buffers.items()]


# -- the host side --------------------------------------------------------------------------------
def check_mapping(graph: Graph, lay: Layout) -> None:
    """The mapping record holds nothing the files do not: every population is one layer of latency 0
    held whole by its node, and every placed core holds a tile."""
    m = graph.mapping
    want_parts = {p: PartOf(p, 0, int(graph.op(p).shape[0])) for p in lay.populations}
    want_layers = {p: Layer() for p in lay.populations}
    if dict(m.parts) != want_parts or dict(m.layers) != want_layers or m.roles or m.latency:
        raise UsageError("analog emit: the mapping record is not the analog lowering's (every population one layer "
                         "of latency 0 held whole by its node, no roles or node latencies)")
    unused = sorted(set(m.place) - set(m.cores.values()))
    if unused:
        raise UsageError(f"analog emit: mapping.place positions core {unused[0]}, which holds no tile")


def host_table(graph: Graph, lay: Layout) -> dict:
    """host.json: the graph inputs (with their flatten nodes) and outputs, and the graph's metadata."""
    m = graph.mapping
    inputs = []
    for name in graph.inputs:
        entry = m.inputs.get(name)
        if entry is None or entry.encoding != "values" or tuple(entry.shape) != tuple(graph.op(name).shape):
            raise UsageError(f"analog emit: graph input '{name}' is not passed to the DACs as values of its own "
                             f"shape (mapping.inputs: {entry})")
        flat = lay.flatten.get(name)
        if flat is not None and graph.op(flat) != Flatten():
            raise UsageError(f"analog emit: node '{flat}' does not flatten '{name}' whole")
        inputs.append({"name": name, "shape": list(entry.shape), "origin": graph.nodes[name].origin,
                       "flatten": None if flat is None else {"name": flat, "origin": graph.nodes[flat].origin}})
    outputs = [host_outputs_entry(graph, lay, name) for name in graph.outputs]
    return {"ir_version": graph.version, "metadata": dict(graph.metadata), "inputs": inputs, "outputs": outputs}
