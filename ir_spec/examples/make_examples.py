"""Write the example graphs of this folder: mlp, conv and recurrent `.snnir` (+ `mlp.npz`).

    python ir_spec/examples/make_examples.py [OUT_DIR]      (default: this folder)

The weights are random with fixed seeds, so running it again gives the same bytes; a test
(`tests/ir/test_text.py`) regenerates them and compares with the committed files.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import snnc.ir.snn as snn
from snnc.ir import Graph, GraphBuilder
from snnc.ir.text import save_snnir

DT = 1e-3
TAU = 0.02


def lif(shape, **kw) -> snn.LIF:
    """LIF neurons with unit gain per tick under euler (r = tau/dt, SPEC §4), threshold 1."""
    return snn.LIF(tau=np.full(shape, TAU), r=np.full(shape, TAU / DT), v_leak=np.zeros(shape),
                   v_threshold=np.ones(shape), v_reset=np.zeros(shape), **kw)


def mlp() -> Graph:
    """784-128-10 LIF MLP; its two weight matrices go into the sidecar `mlp.npz`."""
    rng = np.random.default_rng(0)
    b = GraphBuilder(dt=DT, metadata={"description": "784-128-10 LIF MLP, random weights (seed 0)",
                                      "generator": "ir_spec/examples/make_examples.py"})
    x = b.input("x", (784,), origin="input")
    fc1 = b.add("fc1", snn.Affine(weight=rng.normal(0, 784 ** -0.5, (128, 784)), bias=np.zeros(128)),
                x, origin="layers.0")
    lif1 = b.add("lif1", lif(128, reset_mode="subtract"), fc1, origin="layers.1")
    fc2 = b.add("fc2", snn.Affine(weight=rng.normal(0, 128 ** -0.5, (10, 128)), bias=np.zeros(10)),
                lif1, origin="layers.2")
    lif2 = b.add("lif2", lif(10, reset_mode="subtract"), fc2, origin="layers.3")
    b.output("y", lif2, (10,), origin="output")
    return b.build()


def conv() -> Graph:
    """A small conv net on 1x8x8 inputs, every array inline (weights rounded for reading)."""
    rng = np.random.default_rng(1)
    b = GraphBuilder(dt=DT, method="exact", metadata={"description": "conv2d-lif-pool-affine-cuba_lif"})
    x = b.input("x", (1, 8, 8), origin="input")
    c1 = b.add("conv1", snn.Conv2d(weight=np.round(rng.normal(0, 0.5, (4, 1, 3, 3)), 3), bias=np.zeros(4),
                                   padding=(1, 1)), x, origin="features.0")
    l1 = b.add("lif1", lif((4, 8, 8)), c1, origin="features.1")
    p1 = b.add("pool1", snn.SumPool2d(kernel_size=(2, 2), stride=(2, 2)), l1, origin="features.2")
    p2 = b.add("pool2", snn.AvgPool2d(kernel_size=(2, 2), stride=(2, 2)), p1, origin="features.3")
    f = b.add("flat", snn.Flatten(start_dim=0, end_dim=-1), p2, origin="flatten")
    fc = b.add("fc", snn.Affine(weight=np.round(rng.normal(0, 0.25, (3, 16)), 3), bias=np.full(3, 0.1)),
               f, origin="classifier.0")
    n = 3
    out = b.add("cuba", snn.CubaLIF(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, TAU), r=np.ones(n),
                                    v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                                    w_in=np.full(n, 5.0)), fc, origin="classifier.1")
    b.output("y", out, (n,), origin="output")
    return b.build()


def recurrent() -> Graph:
    """A recurrent LIF layer: the layer's spikes of tick t-1 return through `rec` (a `~>` edge)."""
    rng = np.random.default_rng(2)
    b = GraphBuilder(dt=DT, metadata={"description": "4-8 recurrent LIF layer, 3 leaky readouts"})
    x = b.input("x", (4,), origin="input")
    fc = b.add("fc", snn.Linear(weight=np.round(rng.normal(0, 0.5, (8, 4)), 3)), x, origin="rlif.fc")
    layer = b.add("rlif", lif(8, reset_timing="next_step"), fc, origin="rlif")
    rec = b.add("rec", snn.Linear(weight=np.round(rng.normal(0, 0.3, (8, 8)), 3)), layer, origin="rlif.recurrent")
    b.connect(rec, layer, recurrent=True)
    ro = b.add("readout", snn.Linear(weight=np.round(rng.normal(0, 0.5, (3, 8)), 3)), layer, origin="readout")
    li = b.add("li", snn.LI(tau=np.full(3, TAU), r=np.ones(3), v_leak=np.zeros(3)), ro, origin="readout.li")
    b.output("y", li, (3,), origin="output")
    return b.build()


EXAMPLES = {"mlp": mlp, "conv": conv, "recurrent": recurrent}


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, build in EXAMPLES.items():
        save_snnir(build(), out_dir / f"{name}.snnir")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
