"""The digits SNN of the acceptance tests, trained here: a 64-128-10 snnTorch LIF MLP.

scikit-learn's bundled 8x8 digits, rate-coded as Bernoulli spikes over T ticks (so the same
model runs on crossbars with a DAC and on BrainScaleS-2's binary rows), reset to zero
(BSS-2 circuits reset to a potential), surrogate-gradient training on output spike counts.
Deterministic (fixed seeds, one torch thread); trained once per test session (`trained()`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

T = 25
HIDDEN = 128
BETA = 0.9
EPOCHS = 12
DT = 1e-3


def encode(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pixel intensity 0..16 -> spike probability 0..1 per tick; [T, B, 64] float."""
    return (rng.random((T, *images.shape)) < images / 16.0).astype(np.float64)


@lru_cache(maxsize=1)
def trained():
    """(graph, x_cal, x_test, y_test, float test accuracy): the imported snnc graph, a
    calibration split of the training inputs, and the rate-coded test set."""
    import snntorch as snn
    import snntorch.utils
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import snnc
    from snntorch import surrogate

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    grad = surrogate.fast_sigmoid(slope=25)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, HIDDEN),
        snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True, reset_mechanism="zero"),
        torch.nn.Linear(HIDDEN, 10),
        snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True, reset_mechanism="zero"),
    )

    def forward(x):
        snntorch.utils.reset(net)
        return torch.stack([net(x[t]) for t in range(x.shape[0])])

    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xs = torch.tensor(encode(x_tr, rng), dtype=torch.float32)
    ys = torch.tensor(y_tr)
    try:
        for _ in range(EPOCHS):
            perm = torch.randperm(len(ys))
            for i in range(0, len(perm), 64):
                idx = perm[i:i + 64]
                loss = torch.nn.functional.cross_entropy(forward(xs[:, idx]).sum(0), ys[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    graph = snnc.load(net, sample_input=torch.zeros(1, 64), dt=DT)
    x_test = encode(x_te, rng)
    x_cal = encode(x_tr[:200], rng)
    acc = float(np.mean(snnc.simulate(graph, x_test).sum(0).argmax(1) == y_te))
    return graph, x_cal, x_test, y_te, acc
