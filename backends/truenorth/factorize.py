"""Weight factorisation: a real matrix as binary crossbar × per-neuron axon-type weights.

A TrueNorth neuron j weighs axon i by c_ij · s_j^{G_i}: one binary synapse, and one of four
signed weights chosen by the *axon's* type. To give a neuron more than four values per
input, an input is delivered on D axons of D different types (duplication); neuron j then
weighs input i by any subset sum of its D type weights:

    W_ji ≈ Σ_{g ∈ T_i} c_jig · s_j^g,     T_i ⊆ {0, 1, 2, 3}, |T_i| = D,   c_jig ∈ {0, 1}

D trades fan-in for precision: a core's 256 axons carry 256 / D inputs, and a neuron has
2^D levels per input (D = 4 with s_j = q_j · (1, 2, 4, −8) is a 4-bit two's-complement
weight, Diehl et al. 2016's 16 levels; D = 1 is Esser et al.'s one value per type). Where a
layer has few inputs, D = 4k delivers each input on k axons of every type: a neuron weighs
it by Σ_g n_g s_j^g with n_g ∈ {0 … k} axons of type g, (k + 1)^4 levels (k = 2: 81;
s_j = q_j · (1, b, b², −b³), b = k + 1, is a base-b weight with a negative top digit).

`fit(W, D)` finds T (per input) and s (per neuron) by alternating minimisation of the
squared error, as k-means does: with s fixed, each input takes the type subset, and each
(neuron, input) the sub-subset, closest to its weights; with the choices fixed, each
neuron's four weights are the least-squares solution. It starts from the binary-expansion
weights above (BASE) and stops when no choice (type set or level) changes. `choices` then
picks the integer sub-subsets once the weights are integers.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, product

import numpy as np

TYPES = 4
MAX_ROUNDS = 25
# Starting per-neuron weights (times q_j = max_i |W_ji| / DIVISOR[D]) and the subset every input starts on.
BASE = {1: (-2.0, -1.0, 1.0, 2.0), 2: (1.0, -1.0, 2.0, -2.0), 3: (1.0, 2.0, -4.0, 4.0), 4: (1.0, 2.0, 4.0, -8.0)}
DIVISOR = {1: 2.0, 2: 2.0, 3: 4.0, 4: 8.0}


def copies(D: int) -> int:
    """k: the axons of each type an input gets at duplication D = 4k (1 for D <= 4)."""
    return D // TYPES if D > TYPES else 1


def subsets(D: int) -> list[tuple[int, ...]]:
    """The type multisets T an input on D axons may use (each of size D; for D = 4k, the one
    holding every type k times)."""
    if D > TYPES:
        return [tuple(g for g in range(TYPES) for _ in range(copies(D)))]
    return list(combinations(range(TYPES), D))


def selector(T: tuple[int, ...]) -> np.ndarray:
    """[levels, 4]: row l counts the axons of each type of the l-th sub-multiset of T (for a set,
    row l marks the types of l's bits)."""
    if len(set(T)) < len(T):
        counts = [T.count(g) for g in range(TYPES)]
        return np.array(list(product(*(range(c + 1) for c in counts))), dtype=np.float64)
    rows = np.zeros((1 << len(T), TYPES))
    for l in range(1 << len(T)):
        for b, g in enumerate(T):
            if l >> b & 1:
                rows[l, g] = 1.0
    return rows


@dataclass
class Fit:
    """Type sets per input (as indices into `subsets(D)`) and weights per neuron [n, 4] (float)."""

    D: int
    subset: np.ndarray       # [m] index into subsets(D)
    s: np.ndarray            # [n, 4]
    rounds: int


def _best_levels(W: np.ndarray, s: np.ndarray, T: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """For every (j, i): the squared error of the closest sub-subset sum of T, and its index."""
    levels = s @ selector(T).T                                   # [n, 2^D]
    err = (W[:, :, None] - levels[:, None, :]) ** 2              # [n, m, 2^D]
    return err.min(axis=2), err.argmin(axis=2)


def choices(W: np.ndarray, s: np.ndarray, D: int, subset: np.ndarray) -> np.ndarray:
    """C [n, m, 4]: the binary synapses c_jig of the closest sub-subset sums for fixed s and T."""
    n, m = W.shape
    C = np.zeros((n, m, TYPES))
    for t, T in enumerate(subsets(D)):
        cols = np.flatnonzero(subset == t)
        if cols.size:
            _, idx = _best_levels(W[:, cols], s, T)
            C[:, cols, :] = selector(T)[idx]
    return C


def _refit(W: np.ndarray, C: np.ndarray, s_old: np.ndarray) -> np.ndarray:
    """Per neuron, the least-squares weights for fixed synapses (a small ridge keeps unused types)."""
    G = np.einsum("jig,jih->jgh", C, C)
    r = np.einsum("ji,jig->jg", W, C)
    lam = 1e-9 * (1.0 + np.trace(G, axis1=1, axis2=2))
    return np.linalg.solve(G + lam[:, None, None] * np.eye(TYPES), (r + lam[:, None] * s_old)[..., None])[..., 0]


def fit(W: np.ndarray, D: int) -> Fit:
    """Alternating least squares for duplication D (1..4, or 4k); W is [n, m] (neurons × inputs). It
    stops when no choice changes."""
    W = np.asarray(W, dtype=np.float64)
    n, m = W.shape
    s = start(W, D)
    options = subsets(D)
    subset, chosen = np.full(m, -1), None
    for rounds in range(1, MAX_ROUNDS + 1):
        costs = np.stack([_best_levels(W, s, T)[0].sum(axis=0) for T in options])    # [#T, m]
        subset = costs.argmin(axis=0)
        C = choices(W, s, D, subset)
        if chosen is not None and np.array_equal(C, chosen):
            break
        chosen = C
        s = _refit(W, C, s)
    return Fit(D, subset, s, rounds)


def start(W: np.ndarray, D: int) -> np.ndarray:
    """The starting weights [n, 4]: BASE[D] for D <= 4, else base-(k + 1) digits, scaled per neuron."""
    peak = np.abs(W).max(axis=1, initial=0.0)
    if D <= TYPES:
        return (peak / DIVISOR[D])[:, None] * np.array(BASE[D])[None, :]
    k = copies(D)
    b = k + 1.0
    return (peak / (k * b ** 3))[:, None] * np.array([1.0, b, b * b, -b ** 3])[None, :]


def type_masks(D: int, subset: np.ndarray) -> np.ndarray:
    """[m, 4] bool: which types input i is delivered on."""
    table = np.zeros((len(subsets(D)), TYPES), bool)
    for t, T in enumerate(subsets(D)):
        table[t, list(T)] = True
    return table[subset]


def relative_error(W: np.ndarray, approx: np.ndarray) -> dict[str, float]:
    """Relative RMS (Frobenius) and relative max-abs error of an approximation of W."""
    norm = float(np.linalg.norm(W))
    peak = float(np.abs(W).max(initial=0.0))
    diff = W - approx
    return {"rel_rms": float(np.linalg.norm(diff)) / norm if norm else 0.0,
            "rel_max": float(np.abs(diff).max(initial=0.0)) / peak if peak else 0.0}
