"""Train the shipped example: a spiking MLP (64-128-10, snnTorch Leaky) on scikit-learn digits.

    python examples/digits/train.py

Writes, next to this script:
  digits.snnir / digits.npz   the trained network in snnc's text IR (imported from snnTorch)
  test_x.npy                  rate-coded test inputs, [T, B, 64] binary spikes (time-major)
  test_y.npy                  the test labels, [B]
and prints the network's test accuracy in snnTorch and in snnc's float interpreter.
Deterministic: fixed seeds, single-threaded torch.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
T = 25            # ticks per sample
HIDDEN = 128
BETA = 0.9
DT = 1e-3         # seconds per tick given to snnc (snnTorch itself has no time unit)


def encode(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli rate code: pixel intensity 0..16 -> spike probability 0..1 per tick; [T, B, 64]."""
    p = images / 16.0
    return (rng.random((T, *p.shape)) < p).astype(np.float32)


def build_net():
    import snntorch as snn
    import torch
    from snntorch import surrogate

    grad = surrogate.fast_sigmoid(slope=25)
    return torch.nn.Sequential(
        torch.nn.Linear(64, HIDDEN),
        snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True),
        torch.nn.Linear(HIDDEN, 10),
        snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True, output=False),
    )


def run_torch(net, x) -> "torch.Tensor":
    import snntorch.utils
    import torch

    snntorch.utils.reset(net)
    return torch.stack([net(x[t]) for t in range(x.shape[0])])


def main() -> None:
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import snnc
    from snnc.ir.text import save_snnir

    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    digits = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(digits.data, digits.target, test_size=0.25,
                                              random_state=0, stratify=digits.target)
    net = build_net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xs_tr = torch.tensor(encode(x_tr, rng))
    ys_tr = torch.tensor(y_tr)
    for epoch in range(30):
        perm = torch.randperm(len(y_tr))
        for i in range(0, len(perm), 64):
            idx = perm[i:i + 64]
            counts = run_torch(net, xs_tr[:, idx]).sum(0)
            loss = loss_fn(counts, ys_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    x_test = encode(x_te, rng)
    with torch.no_grad():
        out = run_torch(net, torch.tensor(x_test)).numpy()
    acc_torch = float((out.sum(0).argmax(1) == y_te).mean())

    graph = snnc.load(net, sample_input=torch.tensor(x_test[0]), dt=DT)
    y = snnc.simulate(graph, x_test)
    acc_snnc = float((y.sum(0).argmax(1) == y_te).mean())
    agree = float((y == out).mean())

    save_snnir(graph, HERE / "digits.snnir")
    np.save(HERE / "test_x.npy", x_test.astype(np.uint8))
    np.save(HERE / "test_y.npy", y_te.astype(np.int64))
    print(f"test accuracy: snnTorch {acc_torch:.4f}, snnc float interpreter {acc_snnc:.4f}; "
          f"output spike agreement {agree:.6f} over {out.size} values")


if __name__ == "__main__":
    main()
