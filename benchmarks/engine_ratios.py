"""Interpreter speed as ratios against snnTorch's float run of the same net, run beside it.

    python benchmarks/engine_ratios.py [--quick] [--baseline REV] [--threads 1]

For each net (128-256-64 and 784-1000-1000-10, 200 ticks, Bernoulli input spikes at rate
0.2, batch 1 and 64) it times, interleaved round by round in one process (best of the
rounds), snnTorch's float run (nn.Linear + snn.Leaky, no_grad) and snnc's runs of the same
net: the float IR, the bit-exact Loihi integer run and the TrueNorth integer run of the
compiled graphs (an IF net for TrueNorth, against snn.Leaky with beta = 1). A figure is
time(snnc) / time(snnTorch): below 1 is faster than snnTorch. Each case also prints its first
run (warm-up), which plans the run and analyses the graph (kept with the graph for the
next runs: a TrueNorth region's classes and stages).

The previous engine (`--baseline`, a git revision; default the last one before the fused
engine) runs the same script in a subprocess from a git worktree of that revision, with
its own snnTorch beside it; its speed-up is (its ratio) / (this ratio), so machine load
cancels. Lava's fixed-point CPU run is timed where `lava` is installed.

Then: one 784 → 1000 → 10 Loihi layer whose 1000 neurons are split into 1 … 8
core parts (every part its own blocks), time relative to one part: partitioning a
population must not slow its run. And the analog Monte Carlo over 20 chip instances of the
digits test set, against 5 float runs of the same set, with the share of its read-noise
draws (the same number of normals from numpy, which the seeded semantics fix).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NETS = {"128-256-64": (128, 256, 64), "784-1000-1000-10": (784, 1000, 1000, 10)}
BATCHES, TICKS, RATE, BETA = (1, 64), 200, 0.2, 0.875
BASELINE = "a394c48"          # the engine before it planned runs and fused partitioned layers


def weights(sizes, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((c, a)) * 2.0 / np.sqrt(a) for a, c in zip(sizes, sizes[1:])]


def snnc_graph(ws, *, beta):
    """Linear + LIF (snnTorch's Leaky: v ← β v + x − θ z[t−1], θ = 1); β = 1 gives IF neurons
    (reset to 0: the TrueNorth lowering's exact case; the timing is what is compared)."""
    import numpy as np
    from snnc.ir import GraphBuilder
    from snnc.ir.snn import IF, LIF, Linear
    dt = 1e-3
    b = GraphBuilder(dt=dt)
    prev = b.input("x", (ws[0].shape[1],))
    for k, w in enumerate(ws):
        n = w.shape[0]
        if beta == 1.0:
            neuron = IF(r=np.full(n, 1.0 / dt), v_threshold=np.ones(n), v_reset=np.zeros(n))
        else:
            tau = dt / (1.0 - beta)
            neuron = LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n), v_threshold=np.ones(n),
                         v_reset=np.zeros(n), reset_mode="subtract", reset_timing="next_step")
        prev = b.add(f"lif{k}", neuron, b.add(f"fc{k}", Linear(weight=w), prev))
    b.output("y", prev, (ws[-1].shape[0],))
    return b.build()


def snntorch_runner(ws, *, beta):
    import snntorch as snn
    import torch
    layers = []
    for w in ws:
        fc = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        fc.weight.data = torch.tensor(w, dtype=torch.float32)
        layers += [fc, snn.Leaky(beta=beta)]

    def run(x):
        mems = [l.init_leaky() if isinstance(l, snn.Leaky) else None for l in layers]
        with torch.no_grad():
            for t in range(x.shape[0]):
                h = x[t]
                for i, l in enumerate(layers):
                    if mems[i] is None:
                        h = l(h)
                    else:
                        h, mems[i] = l(h, mems[i])
    return run


def best_of(fns, rounds, first=None):
    """Seconds of each of `fns`: best of `rounds` interleaved rounds (after one warm-up each, whose
    seconds go to `first` when given: a first run also plans and analyses the graph)."""
    best = [float("inf")] * len(fns)
    for fn in fns:
        t0 = time.perf_counter()
        fn()
        if first is not None:
            first.append(time.perf_counter() - t0)
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def measure(quick: bool, skip_slow: set) -> dict:
    """{"net/B/target": [t_snnc, t_snntorch]} for every case this engine runs in reasonable time."""
    import numpy as np
    import torch

    import snnc
    from snnc.interp.engine import run
    out = {}
    for name, sizes in NETS.items():
        ws = weights(sizes)
        graphs = {"float": snnc_graph(ws, beta=BETA)}
        graphs["loihi"] = snnc.compile(graphs["float"], "loihi").graph
        graphs["truenorth"] = snnc.compile(snnc_graph(ws, beta=1.0), "truenorth").graph
        for batch in BATCHES:
            x = (np.random.default_rng(1).random((TICKS, batch, sizes[0])) < RATE)
            xt = torch.from_numpy(x.astype(np.float32))
            for target, g in graphs.items():
                key = f"{name}/{batch}/{target}"
                if key in skip_slow:
                    continue
                xs = {g.inputs[0]: x.astype(np.int64 if target != "float" else np.float64)}
                ref = snntorch_runner(ws, beta=1.0 if target == "truenorth" else BETA)
                first = []
                t_snnc, t_torch = best_of([lambda: run(g, xs), lambda: ref(xt)], 1 if quick else 3, first)
                out[key] = [t_snnc, t_torch]
                print(f"  {key}: snnc {t_snnc:.3f} s (first run {first[0]:.3f} s), snnTorch {t_torch:.3f} s",
                      file=sys.stderr, flush=True)
    return out


def previous_engine(rev: str, args) -> dict:
    """Run `measure` with the snnc of git revision `rev` (a temporary worktree) in a subprocess."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "snnc-base"
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), rev], check=True,
                       capture_output=True)
        try:
            for sub in ("backends", "frontends"):             # the installed package maps these into snnc/
                (tree / "snnc" / sub).symlink_to(tree / sub)
            env = dict(os.environ, PYTHONPATH=str(tree))
            cmd = [sys.executable, str(Path(__file__).resolve()), "--measure-only", "--threads", str(args.threads)]
            cmd += ["--quick"] if args.quick else []
            if rev == BASELINE:
                cmd += ["--skip", "784-1000-1000-10/64/truenorth"]   # tens of minutes with that engine
            res = subprocess.run(cmd, env=env, cwd=tmp, check=True, capture_output=True, text=True)
            return json.loads(res.stdout)
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], capture_output=True)


def partition_table(quick: bool) -> list[tuple[int, float]]:
    """Time of one layer split into 1, 2, 4, 8 core parts, relative to one part (B = 16)."""
    import numpy as np

    from snnc.backends.loihi.ops import Cuba, Dense
    from snnc.interp.engine import run
    from snnc.ir import GraphBuilder
    rng = np.random.default_rng(0)
    w1, w2 = rng.integers(-128, 128, (1000, 784)), rng.integers(-128, 128, (10, 1000))
    x = {"x": (rng.random((TICKS, 16, 784)) < RATE).astype(np.int64)}

    def cuba(n):
        full = lambda v: np.full(n, v, np.int64)  # noqa: E731
        return Cuba(du=full(400), dv=full(300), vth_mant=full(3000), bias_mant=full(0), bias_exp=full(0),
                    refractory=full(0))

    def layer(parts):
        b = GraphBuilder()
        b.input("x", (784,))
        b.add("out", cuba(10))
        for p, idx in enumerate(np.array_split(np.arange(1000), parts)):
            b.add(f"h{p}", cuba(len(idx)))
            b.connect(b.add(f"x.to.h{p}", Dense(weight=w1[idx], weight_exp=np.full(len(idx), -1)), "x"), f"h{p}")
            b.connect(b.add(f"h{p}.to.out", Dense(weight=w2[:, idx], weight_exp=np.zeros(10, np.int64)), f"h{p}"),
                      "out")
        b.output("y", "out", (10,))
        return b.build()
    graphs = {p: layer(p) for p in (1, 2, 4, 8)}
    times = best_of([lambda g=g: run(g, x) for g in graphs.values()], 3)
    return [(p, t / times[0]) for p, t in zip(graphs, times)]


def monte_carlo_ratio(quick: bool) -> tuple[float, float]:
    """(time(analog run of the digits test set over 20 chip instances) / time(5 float runs of it),
    time(drawing that run's read noise alone, the same normals from numpy) / time(5 float runs))."""
    import numpy as np

    import snnc
    from snnc.backends.analog.ops import Crossbar
    from snnc.interp.engine import run
    root = Path(__file__).resolve().parent.parent / "examples" / "digits"
    g = snnc.load(root / "digits.snnir")
    chip = snnc.compile(g, "analog").graph
    x = np.load(root / "test_x.npy").astype(np.float64)
    noisy = [chip.op(n).shape[0] for n in chip.nodes if isinstance(chip.op(n), Crossbar) and chip.op(n).out_noise]

    def noise():                      # what the crossbars draw: [B, C] per instance, tile and tick
        rng, out = np.random.default_rng(0), [np.empty((x.shape[1], c)) for c in noisy]
        for _ in range(20 * x.shape[0]):
            for o in out:
                rng.standard_normal(out=o)
    t_chip, t_float, t_noise = best_of([lambda: run(chip, {chip.inputs[0]: x}, chip_instances=20),
                                        lambda: [run(g, {g.inputs[0]: x}) for _ in range(5)], noise],
                                       1 if quick else 2)
    return t_chip / t_float, t_noise / t_float


def lava_note() -> str:
    try:
        import lava  # noqa: F401
    except ImportError:
        return "Lava is not installed here (lava-nc supports Python < 3.11): no Lava column."
    return "Lava is installed, but its fixed-point run is not wired into this benchmark yet."


def report(new: dict, old: dict | None) -> None:
    print(f"time(snnc) / time(snnTorch float), {TICKS} ticks, input rate {RATE}; below 1 = faster than snnTorch")
    print("| net | B | float | loihi (bit-exact) | truenorth (bit-exact) | previous engine: loihi | truenorth |")
    print("|---|---|---|---|---|---|---|")
    for name in NETS:
        for batch in BATCHES:
            cells = []
            for target in ("float", "loihi", "truenorth"):
                t = new.get(f"{name}/{batch}/{target}")
                cells.append(f"{t[0] / t[1]:.2f}" if t else "–")
            for target in ("loihi", "truenorth"):
                o = (old or {}).get(f"{name}/{batch}/{target}")
                cells.append(f"{o[0] / o[1]:.2f}" if o else "not run")
            print(f"| {name} | {batch} | " + " | ".join(cells) + " |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one round per figure")
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    ap.add_argument("--baseline", default=BASELINE, help=f"git revision of the previous engine (default {BASELINE})")
    ap.add_argument("--no-baseline", action="store_true", help="do not run the previous engine")
    ap.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--skip", action="append", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch
    torch.set_num_threads(args.threads)
    if args.measure_only:
        print(json.dumps(measure(args.quick, set(args.skip))))
        return
    new = measure(args.quick, set())
    old = None if args.no_baseline else previous_engine(args.baseline, args)
    report(new, old)
    print("\nOne Loihi layer (784 → 1000 → 10, B = 16) split into core parts, time relative to 1 part:")
    print(" | ".join(f"{p} part(s): {r:.2f}" for p, r in partition_table(args.quick)))
    chip, noise = monte_carlo_ratio(args.quick)
    print(f"Analog Monte Carlo, digits test set: 20 chip instances / 5 float runs = {chip:.2f} "
          f"(its read-noise draws alone: {noise:.2f})")
    print(lava_note())


if __name__ == "__main__":
    main()
