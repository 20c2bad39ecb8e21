"""Float interpreter throughput on a 784-1024-1024-10 LIF network, as synaptic events per second.

Each figure is a ratio against a baseline run beside it in the same process: a plain numpy
loop of the same equations (y = W s; v~ = α v + (1 − α)(v_leak + r y); z = v~ > θ;
v = z ? v_reset : v~) written straight in this script. Both runs see the same input
spikes and must produce the same output spikes; a synaptic event is one presynaptic spike
delivered over one stored synapse (a spike of input j counts the nonzero weights in
column j).

Variants: dense Linear layers, and SparseLinear layers at 10% density (the interpreter's
scipy CSR product where scipy is installed, and its numpy fallback). The sparse
network's baselines are the plain numpy loop over the equivalent dense matrices and,
where scipy is installed, the same loop with scipy CSR products.

    python benchmarks/interp_float.py [--ticks 100] [--batch 16] [--repeat 3] [--threads 1]

Runs are interleaved round by round and the best of each kept. On a shared machine,
multithreaded BLAS makes the dense figures swing by several times from run to run;
`--threads 1` gives steady ratios.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import snnc.interp.snn.synapse as synapse
from snnc.interp import run
from snnc.ir import GraphBuilder
from snnc.ir.snn import LIF, Linear, SparseLinear

SIZES = (784, 1024, 1024, 10)
DT, TAU, THETA = 1e-3, 5e-3, 1.0
GAIN, BIAS = 0.5, 0.05


def make_weights(density: float, seed: int = 0) -> list[np.ndarray]:
    """Dense [N_out, N_in] weights, zero outside a random mask of the given density."""
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        # input current of std ~GAIN per tick when about 10% of the sources spike
        w = rng.normal(BIAS, 1.0, size=(n_out, n_in)) * GAIN / np.sqrt(density * n_in * 0.1)
        if density < 1.0:
            w *= rng.random((n_out, n_in)) < density
        layers.append(w)
    return layers


def to_csr(w: np.ndarray) -> SparseLinear:
    rows, cols = np.nonzero(w)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=w.shape[0]))])
    return SparseLinear(indptr=indptr, indices=cols, data=w[rows, cols], bias=np.zeros(w.shape[0]),
                        n_in=w.shape[1])


def lif(n: int) -> LIF:
    return LIF(tau=np.full(n, TAU), r=np.full(n, TAU / DT), v_leak=np.zeros(n),
               v_threshold=np.full(n, THETA), v_reset=np.zeros(n))


def build(weights: list[np.ndarray], sparse: bool):
    b = GraphBuilder(dt=DT)
    prev = b.input("x", (SIZES[0],))
    for k, w in enumerate(weights):
        syn = b.add(f"fc{k}", to_csr(w) if sparse else Linear(weight=w), prev)
        prev = b.add(f"lif{k}", lif(w.shape[0]), syn)
    b.output("y", prev, (SIZES[-1],))
    return b.build()


def baseline(weights: list[np.ndarray], x: np.ndarray, product: str):
    """The same network in a plain numpy loop; returns the spikes of every layer [T, B, N]."""
    a = 1.0 - DT / TAU
    one_minus_a, r = 1.0 - a, TAU / DT
    if product == "scipy":
        from scipy.sparse import csr_matrix
        mats = [csr_matrix(w) for w in weights]
        matmul = [lambda s, m=m: np.asarray(m @ s.T).T for m in mats]
    else:
        w_t = [np.ascontiguousarray(w.T) for w in weights]
        matmul = [lambda s, wt=wt: s @ wt for wt in w_t]
    T, B = x.shape[:2]
    v = [np.zeros((B, w.shape[0])) for w in weights]
    spikes = [np.zeros((T, B, w.shape[0])) for w in weights]
    for t in range(T):
        s = x[t]
        for k in range(len(weights)):
            v_tilde = a * v[k] + one_minus_a * (0.0 + r * matmul[k](s))
            z = v_tilde > THETA
            v[k] = np.where(z, 0.0, v_tilde)
            s = z.astype(np.float64)
            spikes[k][t] = s
    return spikes


def synaptic_events(weights: list[np.ndarray], x: np.ndarray, spikes: list[np.ndarray]) -> int:
    """Σ over layers of presynaptic spikes × stored synapses of the spiking source."""
    pre = [x] + spikes[:-1]
    return int(sum(p.sum(axis=(0, 1)) @ (w != 0).sum(axis=0) for p, w in zip(pre, weights)))


def interp_spikes(graph, x):
    res = run(graph, {"x": x}, record=["lif0", "lif1", "lif2"])
    return [res.recorded[f"lif{k}"] for k in range(3)]


def measure(name, graph, weights, x, baselines, repeat):
    """Best-of-`repeat` times of the interpreter and each baseline, interleaved round by
    round so that load from other processes falls on all of them alike."""
    runs = {"interpreter": lambda: interp_spikes(graph, x)}
    runs.update({label: (lambda p=product: baseline(weights, x, p)) for label, product in baselines})
    best, spikes = {k: float("inf") for k in runs}, {}
    for _ in range(repeat):
        for label, fn in runs.items():
            t0 = time.perf_counter()
            spikes[label] = fn()
            best[label] = min(best[label], time.perf_counter() - t0)
    sp = spikes["interpreter"]
    events = synaptic_events(weights, x, sp)
    rates = [f"{s.mean():.3f}" for s in sp]
    print(f"\n{name}: {events:,} synaptic events, firing rates per layer {', '.join(rates)}")
    t_int = best["interpreter"]
    print(f"  {'interpreter':<30} {t_int:8.3f} s  {events / t_int:14,.0f} events/s")
    for label, _ in baselines:
        same = all(np.array_equal(a, b) for a, b in zip(sp, spikes[label]))
        print(f"  {label:<30} {best[label]:8.3f} s  {events / best[label]:14,.0f} events/s   "
              f"interpreter/baseline throughput = {best[label] / t_int:.3f}"
              f"{'' if same else '   (spike trains differ!)'}")
    return t_int


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rate", type=float, default=0.1, help="input spike probability per tick")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None,
                    help="limit BLAS threads (needs threadpoolctl) for steadier figures on a busy machine")
    args = ap.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=args.threads):
            return _bench(args)
    return _bench(args)


def _bench(args):
    rng = np.random.default_rng(1)
    x = (rng.random((args.ticks, args.batch, SIZES[0])) < args.rate).astype(np.float64)
    print(f"784-1024-1024-10 LIF, T = {args.ticks}, B = {args.batch}, input rate {args.rate}, "
          f"best of {args.repeat}" + (f", {args.threads} BLAS thread(s)" if args.threads else ""))
    try:
        import scipy  # noqa: F401
        have_scipy = True
    except ImportError:
        have_scipy = False

    dense = make_weights(1.0)
    t_dense = measure("dense Linear", build(dense, sparse=False), dense, x,
                      [("numpy loop (dense)", "dense")], args.repeat)
    sparse = make_weights(0.1)
    graph = build(sparse, sparse=True)
    sparse_baselines = [("numpy loop (dense equivalent)", "dense")] + \
        ([("numpy loop + scipy CSR", "scipy")] if have_scipy else [])
    t_sparse = measure("SparseLinear, 10% density" + (" (scipy CSR)" if have_scipy else " (numpy)"),
                       graph, sparse, x, sparse_baselines, args.repeat)
    if have_scipy:
        original = synapse._scipy_csr
        synapse._scipy_csr = lambda op: None            # force the numpy fallback for this run
        try:
            measure("SparseLinear, 10% density (numpy fallback)", graph, sparse, x, sparse_baselines[:1],
                    args.repeat)
        finally:
            synapse._scipy_csr = original
    print(f"\ninterpreter wall time, sparse / dense: {t_sparse / t_dense:.3f}")


if __name__ == "__main__":
    main()
