"""Compiled loops of the analog steppers (steps.py), where numba is installed (`snnc.interp.jit`).

Each kernel does, element by element and in the same order, the float64 operations of the
numpy expressions it replaces (no fused multiply-add, no reassociation), so the two paths
give the same bits; the tests run both. Arrays are [instances, samples, units].
"""
from __future__ import annotations

import numpy as np

from snnc.interp import jit


def dac(x, x_max, levels, u):
    """u = device.dac(x / x_max, bits) with levels = 2^(bits−1) − 1: clip(·, −1, 1) rounded to
    steps of 1 / levels, or (levels 0) binary pulses x ≠ 0 → 1."""
    for i in range(x.shape[0]):
        for b in range(x.shape[1]):
            for r in range(x.shape[2]):
                v = x[i, b, r] / x_max if x_max != 1.0 else x[i, b, r]
                if levels == 0:
                    u[i, b, r] = 1.0 if v != 0 else 0.0
                else:
                    u[i, b, r] = np.rint(min(max(v, -1.0), 1.0) * levels) / levels


def readout(a, noise, out_noise, step, bound, factor, bias, y):
    """y = adc(a + out_noise · noise) · factor + bias (steps.CrossbarStepper): the ADC rounds
    clip(·, −bound, bound) to multiples of `step` (step 0: no converter); `noise` of shape
    [0, 0, 0] adds nothing."""
    noisy = noise.shape[0] > 0
    for i in range(a.shape[0]):
        for b in range(a.shape[1]):
            for c in range(a.shape[2]):
                v = a[i, b, c]
                if noisy:
                    v = v + out_noise * noise[i, b, c]
                if step > 0:
                    v = np.rint(min(max(v, -bound), bound) / step) * step
                y[i, b, c] = v * factor[i, 0, c] + bias[c]


def lif(x, v, z, refrac, a, rest, gain, theta, v_reset, v_subtract, n_refrac, delayed, by_value, out):
    """One tick of ops.LIFCircuit (steps.LIFCircuitStepper.step) on every instance, sample and
    neuron: v, z, refrac updated in place, spikes (0.0/1.0) into out."""
    for i in range(v.shape[0]):
        for b in range(v.shape[1]):
            for j in range(v.shape[2]):
                c = rest[i, 0, j] + gain[i, 0, j] * x[i, b, j]
                zf = 1.0 if z[i, b, j] else 0.0
                if delayed and by_value:
                    start = v_reset[j] if z[i, b, j] else v[i, b, j]
                    v_tilde, held = a[i, 0, j] * start + c, start
                elif delayed:
                    v_tilde = a[i, 0, j] * v[i, b, j] + c - zf * v_subtract[j]
                    held = v[i, b, j] - zf * v_subtract[j]
                else:
                    v_tilde, held = a[i, 0, j] * v[i, b, j] + c, v[i, b, j]
                if n_refrac:
                    refractory = refrac[i, b, j] > 0
                    if refractory:
                        v_tilde = held
                    fire = v_tilde > theta[i, 0, j] and not refractory
                    refrac[i, b, j] = n_refrac if fire else max(refrac[i, b, j] - 1, 0)
                else:
                    fire = v_tilde > theta[i, 0, j]
                if delayed:
                    v[i, b, j] = v_tilde
                elif by_value:
                    v[i, b, j] = v_reset[j] if fire else v_tilde
                else:
                    v[i, b, j] = v_tilde - (1.0 if fire else 0.0) * v_subtract[j]
                z[i, b, j] = fire
                out[i, b, j] = 1.0 if fire else 0.0


dac_kernel = jit.kernel(dac)
readout_kernel = jit.kernel(readout)
lif_kernel = jit.kernel(lif)
