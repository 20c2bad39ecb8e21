"""Mutation is the test of the decoder and of verify: a wrong emitter that writes one conductance,
one neuron threshold or one tile's source or rows differently (and a manifest whose digests match,
as that emitter would write) must make `snnc verify DIR --model M --input X` exit 1, naming the
tick, the layer and neuron and the tiles of the first divergence from the compiler's lowering,
which is where the mutated files and the lowering really first differ."""
from __future__ import annotations

import re

import numpy as np
import pytest

import snnc
from snnc.artifact import run_mapped
from snnc.cli import main
from snnc.ir.graph import GraphBuilder
from snnc.ir.snn import LIF, Linear
from snnc.ir.text import save_snnir
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.artifact_edit import edit_arrays, edit_json

LINE = re.compile(r"chip vs compiler: DIFFERS in \d+ value\(s\) over 30 ticks x 6 samples; first at tick (\d+), "
                  r"layer (\w+), neuron (\d+) \((cores? [\d, ]+), node (\w+) index (\d+)\), sample (\d+)")


def lif(n):
    return LIF(tau=np.full(n, 0.01), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.ones(n),
               v_reset=np.zeros(n))


def net():
    """x[300] -> lif1[40] (inputs 256.. unused: one tile of rows [0, 256)) -> lif2[40] -> lif3[5]."""
    rng = np.random.default_rng(5)
    w1 = rng.normal(0, 0.15, (40, 300))
    w1[:, 256:] = 0.0
    b = GraphBuilder(dt=1e-3)
    b.input("x", (300,))
    b.add("fc1", Linear(weight=w1), "x")
    b.add("lif1", lif(40), "fc1")
    b.add("fc2", Linear(weight=rng.normal(0, 0.4, (40, 40))), "lif1")
    b.add("lif2", lif(40), "fc2")
    b.add("fc3", Linear(weight=rng.normal(0, 0.4, (5, 40))), "lif2")
    b.add("lif3", lif(5), "fc3")
    b.output("y", "lif3", (5,))
    return b.build()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("mutations")
    g = net()
    save_snnir(g, root / "m.snnir")
    x = (np.random.default_rng(6).random((30, 6, 300)) < 0.3).astype(float)
    np.save(root / "x.npy", x)
    art = snnc.compile(g, "analog")
    return root, g, x, art


def conductance(a):                      # tile 1 (lif2 from lif1): one device of column 7, row 3
    g = a["g_pos"].copy()
    g[7, 3] = 25.0 if g[7, 3] < 12.5 else 0.5
    a["g_pos"] = g


def threshold(a):                        # lif2 neuron 11: 40 mV (40 parameter-DAC steps) lower
    for key, step in (("lif2.v_threshold", 40.0), ("lif2.v_threshold_code", 40)):
        v = a[key].copy()
        v[11] -= step
        a[key] = v


def rows(doc):                           # tile 0 reads inputs 44..299 instead of 0..255
    doc["tiles"][0]["rows"] = [44, 300]


def source(doc):                         # tile 1 reads lif1's neighbour layer: the input x, rows 0..39
    doc["tiles"][1]["source"] = "x"


MUTATIONS = {"conductance": ("tiles/tile_0001.npz", conductance, "lif2", 7, [1]),
             "threshold": ("neurons.npz", threshold, "lif2", 11, [1]),
             "rows": ("tiles.json", rows, "lif1", None, [0]),
             "source": ("tiles.json", source, "lif2", None, [1])}


@pytest.mark.parametrize("kind", sorted(MUTATIONS))
def test_verify_names_tick_neuron_and_tile_of_a_mutated_file(setup, kind, capsys):
    root, g, x, art = setup
    name, change, layer, neuron, cores = MUTATIONS[kind]
    bad = (edit_arrays if name.endswith(".npz") else edit_json)(art, name, change)
    path = bad.save(root / kind)
    code = main(["verify", str(path), "--model", str(root / "m.snnir"), "--input", str(root / "x.npy"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "within every limit" in out                      # a consistent artifact: only the runs tell
    found = LINE.search(out)
    assert found, out
    tick, got_layer, got_neuron, where, node, index, sample = found.groups()
    assert (got_layer, node, index) == (layer, layer, got_neuron)
    if neuron is not None:
        assert int(got_neuron) == neuron
    assert where == ("core " if len(cores) == 1 else "cores ") + ", ".join(map(str, cores))
    first = first_difference(run_pipeline(g, get_target("analog")).graph, snnc.load_artifact(path).graph, x)
    assert first == (int(tick), int(sample), layer, int(got_neuron))


def first_difference(compiled, decoded, x):
    """(tick, sample, layer, neuron) of the first spike where the two chips differ, instance 0 of seed 0."""
    _, want = run_mapped(compiled, {"x": x}, raw=True, layers=True)
    _, got = run_mapped(decoded, {"x": x}, raw=True, layers=True)
    hits = []
    for layer in sorted(want):
        diff = np.argwhere(want[layer] != got[layer])
        if diff.size:
            t, b, n = diff[0]
            hits.append((int(t), int(b), layer, int(n)))
    return min(hits, key=lambda h: (h[0], h[1])) if hits else None


def test_the_untouched_artifact_verifies(setup, capsys):
    root, g, x, art = setup
    path = art.save(root / "ok")
    main(["verify", str(path), "--model", str(root / "m.snnir"), "--input", str(root / "x.npy"), "--quiet"])
    out = capsys.readouterr().out
    assert "chip vs compiler: identical over 30 ticks x 6 samples (every layer and output)" in out, out
