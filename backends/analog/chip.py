"""Working with a lowered analog graph: read it at another time, switch its noise off, and
measure accuracy over a population of chips.

    g1d = at_time(graph, 86400.0)                       # the same chips, one day after programming
    summary = monte_carlo(g1d, x, labels, instances=20) # accuracy per chip, mean, 5th percentile

Each helper returns a new graph (ops are immutable) or plain numbers; none changes the chips
a seed draws: instance i of seed s has the same devices at every time.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.interp.engine import run
from snnc.ir.graph import Graph

NOISE_FREE_CROSSBAR = dict(out_noise=0.0, prog_noise=np.zeros(1), nu_mean=np.zeros(4), nu_std=np.zeros(4),
                           read_noise=np.zeros(3), synapse_mismatch=0.0)
NOISE_FREE_NEURON = dict(sigma_tau=0.0, sigma_gain=0.0, sigma_threshold=0.0)


def _rewrite(graph: Graph, cls, **changes) -> Graph:
    nodes = [dataclasses.replace(n, op=n.op.replace(**changes)) if isinstance(n.op, cls) else n
             for n in graph.nodes.values()]
    return graph.replace(nodes=nodes)


def at_time(graph: Graph, seconds: float) -> Graph:
    """The graph read `seconds` after programming (every crossbar's t_inference)."""
    return _rewrite(graph, Crossbar, t_inference=float(seconds))


def with_drift_compensation(graph: Graph, mode: str) -> Graph:
    """Every crossbar with drift compensation `mode` (none, global, per_column)."""
    return _rewrite(graph, Crossbar, drift_compensation=mode)


def ideal(graph: Graph) -> Graph:
    """The same mapping on an ideal chip: no device, read or mismatch noise (converters and
    parameter grids stay), so it is deterministic."""
    return _rewrite(_rewrite(graph, Crossbar, **NOISE_FREE_CROSSBAR), LIFCircuit, **NOISE_FREE_NEURON)


def classes(y: np.ndarray) -> np.ndarray:
    """Predicted class per sample of y [T, B, n]: the output with the most spikes (first on ties)."""
    return y.reshape(y.shape[0], y.shape[1], -1).sum(axis=0).argmax(axis=1)


def accuracies(graph: Graph, x: np.ndarray, labels: np.ndarray, *, instances: int = 20,
               seed: int = 0) -> np.ndarray:
    """Accuracy of each of `instances` chip instances (seed, 0 … instances−1) on x [T, B, ...],
    in one batched run."""
    labels = np.asarray(labels).reshape(-1)
    y = run(graph, {graph.inputs[0]: x}, seed=seed, chip_instances=instances).outputs[graph.outputs[0]]
    per = y.reshape(y.shape[0], instances, y.shape[1] // instances, -1)
    return np.array([float(np.mean(classes(per[:, i]) == labels)) for i in range(instances)])


def summary(acc: np.ndarray) -> dict:
    """Mean, 5th percentile (numpy's linear interpolation), min, max and σ of per-chip accuracies."""
    acc = np.asarray(acc, dtype=np.float64)
    return {"instances": int(acc.size), "mean": float(acc.mean()), "p5": float(np.percentile(acc, 5)),
            "min": float(acc.min()), "max": float(acc.max()), "std": float(acc.std())}


def monte_carlo(graph: Graph, x: np.ndarray, labels: np.ndarray, *, instances: int = 20, seed: int = 0) -> dict:
    """`summary` of the per-chip accuracies, with the list itself under "accuracy"."""
    acc = accuracies(graph, x, labels, instances=instances, seed=seed)
    return {**summary(acc), "accuracy": [float(a) for a in acc]}
