"""Acceptance: an SNN trained here on scikit-learn's digits compiles to `loihi` and classifies within
0.5 percentage points of its float accuracy.

The network is snnTorch's default LIF (v ← β v + W s − θ z[t−1], subtractive reset at the next
step, threshold 1), 64 → 64 → 10, trained for a few seconds with a fast-sigmoid surrogate
gradient on Bernoulli spike trains of the pixel intensities; the class is the output with the
most spikes over 16 ticks. The float model is the snn.* graph of the trained weights; the chip
run is the artifact's integer run (`snnc.simulate` shifts it back by the two ticks of latency).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

import snnc  # noqa: E402
from snnc.ir import GraphBuilder  # noqa: E402
from snnc.ir.snn import Linear  # noqa: E402
from tests.netbuild import lif  # noqa: E402

T, BETA, HIDDEN, N_TRAIN, EPOCHS = 16, 0.875, 64, 1200, 25


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).float()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + 10 * x.abs()) ** 2


def _forward(weights, s):
    """Spike counts of the last layer; the same equations as the graph built below."""
    v = [None] * len(weights)
    z = [None] * len(weights)
    count = 0
    for t in range(s.shape[0]):
        h = s[t]
        for i, w in enumerate(weights):
            cur = h @ w.T
            if v[i] is None:
                v[i], z[i] = torch.zeros_like(cur), torch.zeros_like(cur)
            v[i] = BETA * v[i] + cur - z[i]
            z[i] = _Spike.apply(v[i] - 1.0)
            h = z[i]
        count = count + h
    return count


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    X, y = datasets.load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    X, y = X[order] / 16.0, y[order]
    s = (rng.random((T, len(X), 64)) < X[None]).astype(np.float32)
    w = [torch.nn.Parameter(torch.randn(HIDDEN, 64) * 0.3), torch.nn.Parameter(torch.randn(10, HIDDEN) * 0.3)]
    opt = torch.optim.Adam(w, lr=0.01)
    S, Y = torch.tensor(s), torch.tensor(y)
    for _ in range(EPOCHS):
        for b in range(0, N_TRAIN, 100):
            loss = torch.nn.functional.cross_entropy(_forward(w, S[:, b:b + 100]), Y[b:b + 100])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return [p.detach().numpy().astype(np.float64) for p in w], s[:, N_TRAIN:].astype(np.float64), y[N_TRAIN:]


def _graph(weights):
    b = GraphBuilder(dt=1e-3)
    prev = b.input("x", (64,))
    for i, w in enumerate(weights):
        fc = b.add(f"fc{i + 1}", Linear(weight=w), prev, origin=f"fc{i + 1}")
        prev = b.add(f"lif{i + 1}", lif(w.shape[0], beta=BETA, reset_mode="subtract", reset_timing="next_step"),
                     fc, origin=f"lif{i + 1}")
    b.output("y", prev, (10,))
    return b.build()


def test_digits_snn_on_loihi_within_half_a_point_of_float(trained):
    weights, x, labels = trained
    g = _graph(weights)
    with torch.no_grad():
        torch_counts = _forward([torch.tensor(w, dtype=torch.float32) for w in weights],
                                torch.tensor(x, dtype=torch.float32)).numpy()
    float_counts = snnc.simulate(g, x).sum(axis=0)
    assert np.mean(torch_counts.argmax(1) == float_counts.argmax(1)) > 0.99     # the graph is the trained net
    art = snnc.compile(g, "loihi")
    report = snnc.verify(art, model=g, inputs=x, labels=labels)
    acc = report.comparison.accuracy
    errors = next(p for p in art.manifest["passes"] if p["name"] == "loihi-quantize")["stats"]["per_layer"]
    print(f"\ndigits: float {acc['float']:.4f}, loihi {acc['chip']:.4f}; weight error (relative RMS) "
          + ", ".join(f"{k} {v['weight_rel_rms']:.4f}" for k, v in errors.items()))
    assert acc["float"] > 0.9
    assert abs(acc["float"] - acc["chip"]) <= 0.005
    assert report.ok
