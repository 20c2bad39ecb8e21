"""The benchmark networks of `partition.py` and `place.py`, built directly in the loihi dialect.

Each net is the graph `loihi-quantize` hands to `loihi-partition`: `loihi.cuba` populations,
`loihi.dense`/`loihi.sparse` synapses with random nonzero 8-bit weights, a host input and an
output, and the mapping record the lowering writes (host input shape, layer latencies). It is
built here rather than lowered from a float model so that the big nets take seconds, not
the minutes the lowering's dense expansion costs them today; the partitioner sees exactly
what it sees in a compile.

    mlp          784-2000-2000-10, dense
    conv         28² → 16@24² (5×5) → 32@10² (5×5, stride 2) → 10, sparse (the conv's synapses)
    recurrent    a population fed by 100 inputs (5 %) and by itself at connection probability p
    sheet        neurons on an H×W sheet, each fed by its own input pixel and by neurons at
                 distance d with probability p0 · exp(−d² / 2σ²) (cortical models are built so)
"""
from __future__ import annotations

import numpy as np

from snnc.backends.loihi.ops import Cuba, Dense, Sparse
from snnc.ir.graph import Edge, Graph, Node
from snnc.ir.mapping import HostInput, HostOutput, Layer, Mapping, Piece
from snnc.ir.snn import Input, Output


def cuba(n: int) -> Cuba:
    z = np.zeros(n, np.int64)
    return Cuba(du=np.full(n, 4095, np.int64), dv=np.full(n, 256, np.int64), vth_mant=np.full(n, 100, np.int64),
                bias_mant=z, bias_exp=z, refractory=z)


def weights(rng, n: int) -> np.ndarray:
    w = rng.integers(-120, 121, n)
    return np.where(w == 0, 1, w).astype(np.int64)


def sparse(rng, rows: np.ndarray, cols: np.ndarray, n_out: int, n_in: int) -> Sparse:
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_out))]).astype(np.int64)
    return Sparse(indptr=indptr, indices=cols.astype(np.int64), weight=weights(rng, len(rows)),
                  weight_exp=np.zeros(n_out, np.int64), n_in=n_in)


def dense(rng, n_out: int, n_in: int) -> Dense:
    return Dense(weight=weights(rng, n_out * n_in).reshape(n_out, n_in), weight_exp=np.zeros(n_out, np.int64))


class Net:
    """A loihi-dialect graph under construction: `pop` adds a population fed by synapse ops."""

    def __init__(self, in_shape: tuple[int, ...]):
        self.nodes = [Node("x", Input(shape=(int(np.prod(in_shape)),)))]
        self.edges: list[Edge] = []
        self.in_shape = in_shape
        self.layers: dict[str, Layer] = {}
        self.depth = {"x": 0}

    def pop(self, name: str, n: int, feeds: list[tuple[str, object]], shape=()) -> str:
        self.nodes.append(Node(name, cuba(n)))
        self.depth[name] = 1 + max(self.depth.get(s, 0) for s, _ in feeds if s != name)
        for i, (src, op) in enumerate(feeds):
            syn = f"{name}.syn{i}"
            self.nodes.append(Node(syn, op))
            self.edges += [Edge(src, syn), Edge(syn, name)]
        self.layers[name] = Layer(self.depth[name], shape=tuple(shape))
        return name

    def build(self, out: str) -> Graph:
        n = self.nodes[[x.name for x in self.nodes].index(out)].op.shape[0]
        nodes = self.nodes + [Node("y", Output(shape=(n,)))]
        m = Mapping(inputs={"x": HostInput(self.in_shape)},
                    outputs={"y": HostOutput((n,), (Piece("y", 0, n),), self.depth[out])}, layers=self.layers)
        return Graph(nodes, self.edges + [Edge(out, "y")], inputs=["x"], outputs=["y"], dt=1e-3, mapping=m)


def conv_pairs(c_in, h_in, c_out, k, stride) -> tuple[np.ndarray, np.ndarray, int]:
    """(output row, input column, output side) of every synapse of a valid k×k convolution."""
    h_out = (h_in - k) // stride + 1
    co, ho, wo, ci, i, j = np.meshgrid(np.arange(c_out), np.arange(h_out), np.arange(h_out), np.arange(c_in),
                                       np.arange(k), np.arange(k), indexing="ij")
    rows = (co * h_out + ho) * h_out + wo
    cols = (ci * h_in + ho * stride + i) * h_in + wo * stride + j
    return rows.ravel(), cols.ravel(), h_out


def mlp(sizes=(784, 2000, 2000, 10), seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    net = Net((sizes[0],))
    prev = "x"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        prev = net.pop(f"lif{i}", b, [(prev, dense(rng, b, a))])
    return net.build(prev)


def conv(seed: int = 0, side: int = 28, c1: int = 16, c2: int = 32, classes: int = 10) -> Graph:
    rng = np.random.default_rng(seed)
    net = Net((1, side, side))
    r, c, h1 = conv_pairs(1, side, c1, 5, 1)
    net.pop("conv1", c1 * h1 * h1, [("x", sparse(rng, r, c, c1 * h1 * h1, side * side))])
    r, c, h2 = conv_pairs(c1, h1, c2, 5, 2)
    net.pop("conv2", c2 * h2 * h2, [("conv1", sparse(rng, r, c, c2 * h2 * h2, c1 * h1 * h1))])
    net.pop("fc", classes, [("conv2", dense(rng, classes, c2 * h2 * h2))])
    return net.build("fc")


def random_pairs(rng, n_out: int, n_in: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Each (row, column) independently with probability p (by per-row binomial counts)."""
    counts = rng.binomial(n_in, p, n_out)
    rows = np.repeat(np.arange(n_out), counts)
    cols = np.concatenate([rng.choice(n_in, k, replace=False) for k in counts] + [np.zeros(0, np.int64)])
    return rows, cols.astype(np.int64)


def recurrent(n: int = 10_000, p: float = 0.01, seed: int = 0, inputs: int = 100) -> Graph:
    rng = np.random.default_rng(seed)
    net = Net((inputs,))
    ri, ci = random_pairs(rng, n, inputs, 0.05)
    rr, cr = random_pairs(rng, n, n, p)
    net.pop("rec", n, [("x", sparse(rng, ri, ci, n, inputs)), ("rec", sparse(rng, rr, cr, n, n))])
    return net.build("rec")


def sheet(side: int = 100, fan: float = 100.0, sigma: float = 4.0, seed: int = 0, shape: bool = False) -> Graph:
    """A side×side sheet; each neuron's expected fan-in from the sheet is `fan`, its
    connection probability falling as a Gaussian of distance (σ in grid units)."""
    rng = np.random.default_rng(seed)
    n = side * side
    net = Net((side, side))
    reach = int(np.ceil(3 * sigma))
    dy, dx = np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1), indexing="ij")
    g = np.exp(-(dy ** 2 + dx ** 2) / (2 * sigma ** 2))
    g[reach, reach] = 0.0
    prob = np.minimum(1.0, fan * g / g.sum())
    y, x = np.divmod(np.arange(n), side)
    rows, cols = [], []
    for (a, b), q in np.ndenumerate(prob):
        hit = rng.random(n) < q
        sy, sx = y + a - reach, x + b - reach
        ok = hit & (sy >= 0) & (sy < side) & (sx >= 0) & (sx < side)
        rows.append(np.flatnonzero(ok))
        cols.append((sy * side + sx)[ok])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    eye = np.arange(n)
    net.pop("sheet", n, [("x", sparse(rng, eye, eye, n, n)), ("sheet", sparse(rng, rows, cols, n, n))],
            shape=(side, side) if shape else ())
    return net.build("sheet")
