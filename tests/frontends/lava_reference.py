"""An independent re-implementation of what Lava computes for a netx network, for the tests.

It shares no code with snnc: plain loops and numpy, following Lava's own data layouts and
code paths rather than snnc's. Each function names the Lava source it restates.

- Conv layers keep their state as Lava does, in (x, y, c) = (W, H, C) order; the kernel is
  transformed exactly as lava-dl's netx `create_conv` does (spatial flip, transpose to
  (out, x, y, in)) and applied as a true 2-D convolution, as Lava's `conv_scipy` does with
  scipy's `convolve2d` (lava proc/conv/utils.py), then wrapped to 24 bits (`signed_clamp`).
- Pool layers follow SLAYER's Pool synapse literally (lava-dl slayer/synapse/layer.py):
  pad H and W up by H mod KH and W mod KW zeros, stack the channels along H, slide the
  kernel over the stack, split the stack back into channels.
- A flatten hands a (W, H, C) block to a dense layer as netx does: transpose([2, 1, 0]), flatten.
- LIF is Lava's PyLifModelBitAcc (reference/loihi.md §2) per neuron; SigmaDelta, Delta and
  Sigma are Lava's fixed-point sdn models in numpy int32, as Lava holds them.
- Every synapse sends at tick t what it accumulated from its input of tick t − 1.
"""
from __future__ import annotations

import numpy as np

WRAP24 = 1 << 24


def signed_clamp_24(x: np.ndarray) -> np.ndarray:
    return (x + WRAP24 // 2) % WRAP24 - WRAP24 // 2


def lava_conv(s_xyc: np.ndarray, w_file: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    """Lava Conv of one (W, H, C) input with a kernel stored as netx files store it."""
    k = w_file[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)          # netx create_conv: (out, x, y, in)
    (sy, sx), (py, px), (dy, dx) = stride, padding, dilation      # files give (H, W); Lava uses (x, y)
    nx, ny, nc = s_xyc.shape
    pad = np.zeros((nx + 2 * px, ny + 2 * py, nc), np.int64)
    pad[px:px + nx, py:py + ny] = s_xyc
    c_out, kx, ky, cg = k.shape
    ex, ey = dx * (kx - 1) + 1, dy * (ky - 1) + 1                # dilated kernel extent
    ox_n, oy_n = (pad.shape[0] - ex) // sx + 1, (pad.shape[1] - ey) // sy + 1
    out = np.zeros((ox_n, oy_n, c_out), np.int64)
    for o in range(c_out):
        g = o // (c_out // groups)
        for ox in range(ox_n):
            for oy in range(oy_n):
                total = 0
                for a in range(kx):
                    for b in range(ky):
                        # valid-mode true convolution: pad[u + E − 1 − p] · kernel_dilated[p], p = d·a
                        px_, py_ = ox * sx + ex - 1 - dx * a, oy * sy + ey - 1 - dy * b
                        total += int(np.dot(pad[px_, py_, g * cg:(g + 1) * cg], k[o, a, b]))
                out[ox, oy, o] = total
    return signed_clamp_24(out)


def slayer_pool(s_chw: np.ndarray, kernel: np.ndarray, stride) -> np.ndarray:
    """SLAYER's Pool synapse on one (C, H, W) input, padding 0, dilation 1."""
    kh, kw = kernel.shape
    c, h, w = s_chw.shape
    x = np.concatenate([s_chw, np.zeros((c, h % kh, w), np.int64)], axis=1)
    x = np.concatenate([x, np.zeros((c, x.shape[1], w % kw), np.int64)], axis=2)
    stacked = x.reshape(c * x.shape[1], x.shape[2])
    rows, cols = (stacked.shape[0] - kh) // stride[0] + 1, (stacked.shape[1] - kw) // stride[1] + 1
    out = np.zeros((rows, cols), np.int64)
    for r in range(rows):
        for q in range(cols):
            out[r, q] = int((stacked[r * stride[0]:r * stride[0] + kh, q * stride[1]:q * stride[1] + kw] * kernel).sum())
    return out.reshape(c, -1, cols)


def flatten_xyc(block_xyc: np.ndarray) -> np.ndarray:
    return block_xyc.transpose(2, 1, 0).reshape(-1)


class LIF:
    """Lava PyLifModelBitAcc, one neuron at a time (no refractory: the tests use refDelay 1)."""

    def __init__(self, n: int, *, du: int, dv: int, vth: int, bias=None):
        self.n, self.du, self.dv, self.theta = n, du, dv, vth << 6
        self.bias = [0] * n if bias is None else [int(b) << 6 for b in bias]
        self.u, self.v = [0] * n, [0] * n

    def step(self, a, bias_mant=None, graded=False) -> np.ndarray:
        out = np.zeros(self.n, np.int64)
        for i in range(self.n):
            u = _trunc(self.u[i] * (4096 - (self.du + 1)), 12) + int(a[i]) * 64
            u = u - (1 << 24) if u > (1 << 23) else u + (1 << 24) if u <= -(1 << 23) else u
            self.u[i] = u
            b = self.bias[i] if bias_mant is None else int(bias_mant[i]) << 6
            v = _trunc(self.v[i] * (4096 - self.dv), 12) + u + b
            v = max(-(1 << 23) + 1, min((1 << 23) - 1, v))
            if v > self.theta:
                out[i] = v if graded else 1
                v = 0
            self.v[i] = v
        return out


def _trunc(p: int, s: int) -> int:
    return p >> s if p >= 0 else -((-p) >> s)


class SigmaDelta:
    """Lava PySigmaDeltaModelFixed (mode sigma_delta), PyDeltaModelFixed (delta) and
    PySigmaModelFixed (sigma) as netx configures them: spike_exp = state_exp = 6, ReLU."""

    def __init__(self, n: int, *, mode: str, vth: int = 0, bias=None):
        self.mode = mode
        self.vth = np.int32(vth * (1 << 12))
        self.bias = np.zeros(n, np.int32) if bias is None else (np.asarray(bias) * (1 << 12)).astype(np.int32)
        self.sigma, self.act, self.residue = (np.zeros(n, np.int32) for _ in range(3))

    def step(self, a_in) -> np.ndarray:
        a_in = np.asarray(a_in).astype(np.int32)
        if self.mode == "sigma":
            self.sigma = a_in + self.sigma
            return self.sigma.astype(np.int64)
        if self.mode == "delta":
            act = np.left_shift(a_in, np.int32(12))
        else:
            self.sigma = a_in + self.sigma
            act = np.maximum(self.sigma + self.bias, 0)
        delta = act - self.act + self.residue
        s = np.where(np.abs(delta) >= self.vth, delta, 0).astype(np.int32)
        self.residue = delta - s
        self.act = act
        return np.right_shift(s, np.int32(6)).astype(np.int64)


class Delayed:
    """A synapse's one-tick latency: `send` returns what `put` was given the tick before."""

    def __init__(self, n: int):
        self.buf = np.zeros(n, np.int64)

    def send_then_put(self, value: np.ndarray) -> np.ndarray:
        out, self.buf = self.buf, np.asarray(value, np.int64)
        return out
