"""The models of the model × target matrix: the shipped examples and the models users bring.

Each `Case` builds, for one target, the model as a user hands it to snnc (a file, a live
torch module, a `nir.NIRGraph`, or for a converted ANN the graph convert-ann made with the
input coding that target takes), the inputs `snnc verify --input` gets ([T, B, *shape],
binary spikes unless the model says otherwise) and, for a trained model, the labels. Random
weights are seeded; every array is small, so each cell compiles and verifies in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
T, B = 30, 64
EPOCHS = 8                  # enough for about 95 % on the digits test set, in a few seconds


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable                       # target name -> (model, inputs, labels or None)
    needs: tuple[str, ...] = ()           # optional frameworks (the test skips without them)
    trained: bool = False                 # labels given: verify checks the accuracy drop
    slow: bool = False                    # tens of seconds a cell: run with -m slow
    note: str = ""
    load: dict = field(default_factory=dict)   # snnc.load options the model needs (e.g. a NIR file's dt)


def spikes(shape, p, seed, ticks=T):
    """Bernoulli spikes [ticks, B, *shape] whose rates form a pattern per sample, as an image's
    pixels do: each element's rate is drawn once per sample from U(0, 2p), mean p."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.0, 2.0 * p, (B, *shape))
    return (rng.random((ticks, B, *shape)) < rates).astype(np.float64)


# -- the shipped examples -----------------------------------------------------------------------------
def digits(target):
    d = ROOT / "examples" / "digits"
    return d / "digits.snnir", np.load(d / "test_x.npy").astype(np.float64), np.load(d / "test_y.npy")


def spec_example(name, shape, p, ticks=T):
    return lambda target: (ROOT / "ir_spec" / "examples" / f"{name}.snnir", spikes(shape, p, 1, ticks), None)


# -- snnTorch and Norse ----------------------------------------------------------------------------------
def _linears(sizes, gain, seed, bias=True):
    import torch
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(a, b, bias=bias) for a, b in zip(sizes, sizes[1:])]
    with torch.no_grad():
        for fc in layers:
            fc.weight.mul_(gain)
    return layers


def snntorch_net(neuron: str, reset: str = "subtract", gain: float = 2.0):
    def build(target):
        import snntorch as snn
        import torch
        make = {"Leaky": lambda n: snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism=reset),
                "Synaptic": lambda n: snn.Synaptic(alpha=0.8, beta=0.9, init_hidden=True, reset_mechanism=reset),
                "RLeaky": lambda n: snn.RLeaky(beta=0.9, linear_features=n, init_hidden=True, reset_mechanism=reset),
                "RSynaptic": lambda n: snn.RSynaptic(alpha=0.8, beta=0.9, linear_features=n, init_hidden=True,
                                                     reset_mechanism=reset)}[neuron]
        fc1, fc2 = _linears([16, 32, 5], gain, seed=1)
        model = torch.nn.Sequential(fc1, make(32), fc2, make(5)).double()
        return model, spikes((16,), 0.3, seed=2), None
    return build


def norse_net(target):
    import torch
    from norse.torch.module.lif import LIFCell
    from norse.torch.module.sequential import SequentialState
    fc1, fc2 = _linears([16, 32, 5], 4.0, seed=3)
    return SequentialState(fc1, LIFCell(dt=1e-3), fc2, LIFCell(dt=1e-3)).double(), spikes((16,), 0.3, seed=4), None


def snntorch_conv(target):
    """A conv net as snnTorch users write it; the torch frontend needs one tick of input for its shape."""
    import snntorch as snn
    import torch

    import snnc
    torch.manual_seed(5)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), snn.Leaky(beta=0.9, init_hidden=True),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 5),
        snn.Leaky(beta=0.9, init_hidden=True)).double()
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[4].weight.mul_(3.0)
    return snnc.load(model, sample_input=torch.zeros(1, 1, 8, 8)), spikes((1, 8, 8), 0.3, seed=6), None


# -- converted ANNs (trained on scikit-learn's digits) ---------------------------------------------------
@lru_cache(maxsize=None)
def _digits_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.2, random_state=0, stratify=y)


@lru_cache(maxsize=None)
def _trained(kind: str):
    """The ANN as snnc's graph (affine/conv layers and ann.relu), trained briefly with torch."""
    import torch
    X_tr, _, y_tr, _ = _digits_data()
    torch.manual_seed(0)
    if kind == "mlp":
        net = torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.ReLU(), torch.nn.Linear(48, 10))
        x = torch.tensor(X_tr, dtype=torch.float32)
    else:
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                                  torch.nn.Flatten(), torch.nn.Linear(64, 10))
        x = torch.tensor(X_tr.reshape(-1, 1, 8, 8), dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    yt = torch.tensor(y_tr)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)               # tiny batches: threads only contend for the cores
    try:
        for _ in range(EPOCHS):
            for i in range(0, len(x), 64):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(x[i:i + 64]), yt[i:i + 64]).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return _ann_graph(net.eval(), kind)


def _ann_graph(net, kind):
    import torch
    from snnc.ir import GraphBuilder
    from snnc.ir.ann import ReLU
    from snnc.ir.snn import Affine, AvgPool2d, Conv2d, Flatten
    b = GraphBuilder(dt=1e-3)
    prev = b.input("x", (64,) if kind == "mlp" else (1, 8, 8), origin="input")
    for i, m in enumerate(net):
        w = m.weight.detach().double().numpy() if hasattr(m, "weight") else None
        op = (Affine(weight=w, bias=m.bias.detach().double().numpy()) if isinstance(m, torch.nn.Linear) else
              Conv2d(weight=w, bias=m.bias.detach().double().numpy(), padding=(1, 1))
              if isinstance(m, torch.nn.Conv2d) else ReLU() if isinstance(m, torch.nn.ReLU) else
              AvgPool2d(kernel_size=(2, 2), stride=(2, 2)) if isinstance(m, torch.nn.AvgPool2d) else Flatten())
        prev = b.add(f"l{i}", op, prev, origin=str(i))
    b.output("y", prev, (10,))
    return b.build()


def converted(kind: str):
    def build(target):
        import snnc
        from snnc.passes.convert_ann import encode
        from snnc.targets import get_target
        X_tr, X_te, _, y_te = _digits_data()
        shape = (-1, 64) if kind == "mlp" else (-1, 1, 8, 8)
        coding = "current" if getattr(get_target(target), "graded_inputs", True) else "rate"
        g = snnc.load(_trained(kind), convert_ann={"input_coding": coding}, calibration=X_tr.reshape(shape))
        return g, encode(g, X_te[:200].reshape(shape), 32, seed=0), y_te[:200]
    return build


# -- NIR ---------------------------------------------------------------------------------------------------
def nir_braille(target):
    """The NIR paper's Braille RNN shape: Affine → CubaLIF with a recurrent Affine → Affine → CubaLIF
    (the network of the Loihi Braille work), 12 input channels, 7 classes, built with `nir`."""
    import nir
    rng = np.random.default_rng(8)

    def cuba(n, tau_syn, tau_mem):
        return nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.ones(n),
                           v_leak=np.zeros(n), v_threshold=np.ones(n), w_in=np.full(n, 1.0))
    nodes = {"input": nir.Input(input_type={"input": np.array([12])}),
             "fc1": nir.Affine(weight=rng.normal(0, 6.0, (24, 12)), bias=rng.normal(0, 0.5, 24)),
             "lif1": cuba(24, 5e-3, 10e-3),
             "rec": nir.Affine(weight=rng.normal(0, 2.0, (24, 24)), bias=np.zeros(24)),
             "fc2": nir.Affine(weight=rng.normal(0, 6.0, (7, 24)), bias=np.zeros(7)),
             "lif2": cuba(7, 5e-3, 10e-3),
             "output": nir.Output(output_type={"output": np.array([7])})}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "rec"), ("rec", "lif1"), ("lif1", "fc2"),
             ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges), spikes((12,), 0.3, seed=9), None


MODELS = (
    Case("digits.snnir (shipped, snnTorch Leaky subtract)", digits, trained=True),
    Case("ir_spec mlp.snnir", spec_example("mlp", (784,), 0.2, ticks=60), slow=True,
         note="random weights whose two strongest classes often lie close: 60 ticks let counts settle"),
    Case("ir_spec conv.snnir", spec_example("conv", (1, 8, 8), 0.3, ticks=60),
         note="its CUBA output spikes about once in 40 ticks: 60 ticks give most samples a decision"),
    Case("ir_spec recurrent.snnir", spec_example("recurrent", (4,), 0.5)),
    Case("snnTorch Leaky, subtract reset", snntorch_net("Leaky", "subtract"), needs=("torch", "snntorch")),
    Case("snnTorch Leaky, zero reset", snntorch_net("Leaky", "zero"), needs=("torch", "snntorch")),
    Case("snnTorch Synaptic", snntorch_net("Synaptic", gain=0.8), needs=("torch", "snntorch")),
    Case("snnTorch RLeaky", snntorch_net("RLeaky"), needs=("torch", "snntorch")),
    Case("snnTorch RSynaptic", snntorch_net("RSynaptic", gain=0.8), needs=("torch", "snntorch")),
    Case("Norse Linear(bias) + LIFCell", norse_net, needs=("torch", "norse")),
    Case("snnTorch conv + avg pooling", snntorch_conv, needs=("torch", "snntorch")),
    Case("converted ReLU MLP", converted("mlp"), needs=("torch", "sklearn"), trained=True),
    Case("converted ReLU CNN", converted("cnn"), needs=("torch", "sklearn"), trained=True),
    Case("NIR Braille-style RNN (nir package)", nir_braille, needs=("nir",), load={"dt": 1e-3}),
)
