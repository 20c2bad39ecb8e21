"""Acceptance: a spiking MLP for scikit-learn's digits, compiled for truenorth, classifies within
2 percentage points of the float model. The network is a ReLU MLP trained here (64-64-10)
and converted by `convert-ann` (rate-coded input spikes, spike-count readout: what a chip
with binary axons receives and sends)."""
import numpy as np
import pytest

import snnc
from snnc.ir.ann import ReLU
from snnc.ir.graph import GraphBuilder
from snnc.ir.snn import Affine
from snnc.passes.convert_ann import classify, encode

TICKS = 64


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    d = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(d.data / 16.0, d.target, test_size=0.25, random_state=0,
                                              stratify=d.target)
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=400, random_state=0).fit(x_tr, y_tr)
    b = GraphBuilder()
    x = b.input("x", (64,), origin="input")
    h = b.add("fc1", Affine(weight=clf.coefs_[0].T, bias=clf.intercepts_[0]), x, origin="fc1")
    r = b.add("relu1", ReLU(), h, origin="relu1")
    o = b.add("fc2", Affine(weight=clf.coefs_[1].T, bias=clf.intercepts_[1]), r, origin="fc2")
    b.output("y", o, (10,))
    snn = snnc.load(b.build(), convert_ann={"input_coding": "rate", "readout": "spikes"}, calibration=x_tr)
    return snn, encode(snn, x_te, TICKS, seed=0), y_te


def test_digits_on_truenorth_within_two_points_of_float(digits, capsys):
    snn, x, labels = digits
    art = snnc.compile(snn, "truenorth")
    acc_float = float(np.mean(classify(snn, snnc.simulate(snn, x)) == labels))
    acc_chip = float(np.mean(classify(snn, snnc.simulate(art, x)) == labels))
    m = art.manifest["mapping"]
    with capsys.disabled():
        print(f"\ndigits {TICKS} ticks: float {acc_float:.4f}, truenorth {acc_chip:.4f}; {m['cores']} cores, "
              f"{m['splitter_cores']} splitter cores, {m['neuron_copies']} neuron copies, "
              f"{m['fan_in_splits']} fan-in splits; weight error per layer "
              + ", ".join(f"{k}: D={v['duplication']} rel RMS {v['rel_rms']:.4f} max {v['rel_max']:.4f}"
                          for k, v in m["weight_error"].items()))
    assert acc_float > 0.9
    assert abs(acc_float - acc_chip) <= 0.02
    assert snnc.verify(art).ok
