"""Writers of netx files in lava-dl's layout, for the netx tests: each layer group is written
with the keys, shapes and dtypes SLAYER's `export_hdf5` gives it (lava-dl
src/lava/lib/dl/slayer/block/base.py): `type` as a (1,) 'S10' array, `shape` in C, H, W
order, conv weights [C_out, C_in/groups, KH, KW], stride/padding/dilation as (H, W),
neuron parameters under `neuron/`."""
from __future__ import annotations

import h5py
import numpy as np


def cuba(v_th: int, i_decay: int = 4096, v_decay: int = 0, ref_delay: int = 1, graded: bool = False) -> dict:
    return {"type": "CUBA", "iDecay": i_decay, "vDecay": v_decay, "vThMant": v_th, "refDelay": ref_delay,
            "gradedSpike": graded}


def sdnn(v_th: int, sigma_output: bool = False) -> dict:
    group = {"type": "SDNN", "vThMant": v_th}
    if sigma_output:
        group["sigma_output"] = True
    return group


def input_layer(shape, neuron=None, weight=None, bias=None) -> dict:
    layer = {"type": "input", "shape": np.array(shape)}
    if neuron is not None:
        layer["neuron"] = neuron
    if weight is not None:
        layer["weight"] = np.array([weight], np.float32)
        layer["bias"] = np.array([bias], np.float32)
    return layer


def flatten_layer(n: int) -> dict:
    return {"type": "flatten", "shape": np.array([n, 1, 1])}


def dense_layer(weight, neuron, bias=None, delay=None) -> dict:
    layer = {"type": "dense", "shape": np.array([weight.shape[0]]), "inFeatures": weight.shape[1],
             "outFeatures": weight.shape[0], "weight": np.asarray(weight, np.float32), "neuron": neuron}
    if bias is not None:
        layer["bias"] = np.asarray(bias, np.float32)
    if delay is not None:
        layer["delay"] = np.asarray(delay, np.float32)
    return layer


def conv_layer(weight, out_shape, neuron, *, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
               bias=None) -> dict:
    layer = {"type": "conv", "shape": np.array(out_shape), "inChannels": weight.shape[1] * groups,
             "outChannels": weight.shape[0], "kernelSize": np.array(weight.shape[2:]), "stride": np.array(stride),
             "padding": np.array(padding), "dilation": np.array(dilation), "groups": groups,
             "weight": np.asarray(weight, np.float32), "neuron": neuron}
    if bias is not None:
        layer["bias"] = np.asarray(bias, np.float32)
    return layer


def pool_layer(kernel, out_shape, neuron, *, stride=None) -> dict:
    kernel = np.asarray(kernel)
    return {"type": "pool", "shape": np.array(out_shape), "kernelSize": np.array(kernel.shape),
            "stride": np.array(stride if stride is not None else kernel.shape), "padding": np.array([0, 0]),
            "dilation": np.array([1, 1]), "weight": kernel.reshape(1, 1, *kernel.shape).astype(np.float32),
            "neuron": neuron}


def write(path, layers: list[dict]) -> None:
    with h5py.File(path, "w") as f:
        group = f.create_group("layer")
        for i, layer in enumerate(layers):
            _put(group.create_group(str(i)), layer)


def _put(group, data: dict) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _put(group.create_group(key), value)
        elif isinstance(value, str):
            group.create_dataset(key, (1,), "S10", [value.encode("ascii")])
        else:
            group.create_dataset(key, data=value)


# -- checks shared by the netx tests ---------------------------------------------------------------
def assert_round_trip(tmp_path, x) -> None:
    """`tmp_path/a.net` loaded, saved as b.net and loaded again gives equal ops that run bit-identically on
    x, and saving that again gives the same bytes."""
    from snnc.frontends.netx import load, save_netx
    from snnc.interp.engine import run
    g = load(tmp_path / "a.net")
    save_netx(g, tmp_path / "b.net")
    g2 = load(tmp_path / "b.net")
    assert list(g2.nodes) == list(g.nodes) and all(g2.op(n) == g.op(n) for n in g.nodes)
    assert np.array_equal(run(g, {"input": x}).outputs["output"], run(g2, {"input": x}).outputs["output"])
    save_netx(g2, tmp_path / "c.net")
    assert (tmp_path / "b.net").read_bytes() == (tmp_path / "c.net").read_bytes()


def assert_same_ticks(name: str, got: np.ndarray, expect: np.ndarray, activity=(0.05, 0.9)) -> None:
    """[T, n] outputs equal tick for tick, with enough (and not too much) activity to prove something."""
    active = float(np.mean(got != 0))
    assert activity[0] < active < activity[1], f"{name}: activity {active:.2f} proves little"
    if not np.array_equal(got, expect):
        tick = int(np.argwhere((got != expect).any(axis=1))[0][0])
        raise AssertionError(f"{name}: first difference at tick {tick}: {got[tick]} != {expect[tick]}")
