"""The loops of `network.NetworkGroup`, compiled with numba where installed (`snnc.interp.jit`).

Arrays are neuron-major with the batch innermost ([signal, B], [class, B], [column, B]), so
each inner loop runs over the samples of one neuron, with that neuron's registers fixed:
the loops vectorise. Every loop does integer arithmetic only; `network.py` has the numpy
form of each (the same integers).
"""
from __future__ import annotations

import numpy as np

from snnc.interp import jit


def by_rows(hist, rows, f, out):
    """out[:, b] = Σ over the rows r whose spike hist[rows[r], b] is set of f[r] (work ∝ spikes:
    for runs of few samples, where a matmul would read every row)."""
    out[:] = 0
    for r in range(f.shape[0]):
        for b in range(hist.shape[1]):
            if hist[rows[r], b]:
                for c in range(f.shape[1]):
                    out[c, b] += f[r, c]


def by_columns(hist, cols, ptr, minor, data, out, first):
    """out[first + c, b] = Σ over the entries k of column c of data[k] · hist[cols[minor[k]], b]."""
    acc = np.zeros(hist.shape[1], np.int64)
    for c in range(len(ptr) - 1):
        acc[:] = 0
        for k in range(ptr[c], ptr[c + 1]):
            w, row = data[k], cols[minor[k]]
            for b in range(hist.shape[1]):
                acc[b] += w * hist[row, b]
        for b in range(hist.shape[1]):
            out[first + c, b] = acc[b]


def neurons(summed, col_of, sign, v, lam, sigma_lam, reversal, v_lo, v_hi, alpha, beta, kappa, normal, linear,
            reset, hist, row0):
    """ops.Core steps 1-4 with η = 0 for every class j and sample b: V += sign · summed[col_of]
    (integers, in any numeric dtype), leak, saturate, threshold and reset, without branches;
    the spikes go to hist[row0 + j]."""
    for j in range(v.shape[0]):
        c, s, rev, sig, lm = col_of[j], sign[j], reversal[j], sigma_lam[j], lam[j]
        lo, hi, a, bt, kp, nm, ln, rs = v_lo[j], v_hi[j], alpha[j], beta[j], kappa[j], normal[j], linear[j], reset[j]
        vj, sj, spikes = v[j], summed[c], hist[row0 + j]
        for b in range(v.shape[1]):
            x = vj[b] + s * np.int64(sj[b])
            omega = sig * (((x > 0) - (x < 0)) if rev else 1)
            x = min(max(x + omega * lm, lo), hi)
            fire = x >= a
            below = x < -bt and not fire
            up = rs if nm else (x - a if ln else x)
            down = -bt if kp else (-rs if nm else (x + bt if ln else x))
            vj[b] = up if fire else (down if below else x)
            spikes[b] = fire


def neurons_linear(summed, col_of, sign, v, v_lo, v_hi, alpha, beta, hist, row0):
    """`neurons` for classes without leak (λ = 0), with linear reset (γ = 1) and κ = 1 (the
    partial-sum neurons of a split fan-in): V += sign · summed[col_of], saturate; V ≥ α fires
    and subtracts α, V < −β becomes −β."""
    for j in range(v.shape[0]):
        c, s, lo, hi, a, bt = col_of[j], sign[j], v_lo[j], v_hi[j], alpha[j], beta[j]
        vj, sj, spikes = v[j], summed[c], hist[row0 + j]
        for b in range(v.shape[1]):
            x = min(max(vj[b] + s * np.int64(sj[b]), lo), hi)
            fire = x >= a
            vj[b] = x - a if fire else max(x, -bt)
            spikes[b] = fire


def gather(hist, rows, out):
    """out[r, b] = hist[rows[r], b], in out's dtype (the spikes a matmul reads)."""
    for r in range(len(rows)):
        for b in range(hist.shape[1]):
            out[r, b] = hist[rows[r], b]


def blocks_by_rows(hist, rows, row_ptr, f, f_ptr, c0, c1, j0, j1, col_of, sign, v, v_lo, v_hi, alpha, beta, hist_row0):
    """For each dense block k (rows rows[row_ptr[k]:row_ptr[k+1]], columns c0[k]:c1[k], weights
    f[f_ptr[k]:f_ptr[k+1]] row-major) whose classes j0[k]:j1[k] are `neurons_linear` ones: per
    sample, the sum of the active rows (work ∝ spikes), then those classes' update — one call
    for a stage of a run of few samples, instead of one per block."""
    acc = np.zeros(int((c1 - c0).max()) if len(c0) else 0, np.int64)
    for k in range(len(c0)):
        width = c1[k] - c0[k]
        for b in range(hist.shape[1]):
            acc[:width] = 0
            for r in range(row_ptr[k], row_ptr[k + 1]):
                if hist[rows[r], b]:
                    at = f_ptr[k] + (r - row_ptr[k]) * width
                    for c in range(width):
                        acc[c] += f[at + c]
            vb, spikes = v[:, b], hist[hist_row0:, b]        # 1-D views: the loop vectorises
            for j in range(j0[k], j1[k]):
                x = min(max(vb[j] + sign[j] * acc[col_of[j] - c0[k]], v_lo[j]), v_hi[j])
                fire = x >= alpha[j]
                vb[j] = x - alpha[j] if fire else max(x, -beta[j])
                spikes[j] = fire


row_kernel = jit.kernel(by_rows)
blocks_row_kernel = jit.kernel(blocks_by_rows)
gather_kernel = jit.kernel(gather)
column_kernel = jit.kernel(by_columns)
neuron_kernel = jit.kernel(neurons)
linear_kernel = jit.kernel(neurons_linear)
