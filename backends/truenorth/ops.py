"""The `truenorth.*` dialect: neurosynaptic cores and the spike routes between them.

Arithmetic constants of the dialect (every TrueNorth-family target file repeats them under
`core` / `formats`, and a test keeps the two equal):

    AXON_TYPES = 4          an axon row carries a type G ∈ {0, 1, 2, 3}; a neuron stores one
                            signed weight per type
    SCHEDULER_TICKS = 16    a core's input scheduler holds 16 ticks: delays 0..15
    PRN_BITS = 8            the per-core pseudo-random numbers ρ are uniform in [0, 255]

Values on every port are int64 arrays; a tick is one TrueNorth tick (1 ms on the chip).

Pseudo-random numbers. The chip has one PRNG per core; its generator and the order in which
it is read are not public [recall: not in the sources read], so the stochastic modes here
are reproducible within snnc, not bit-identical to the chip. Each `truenorth.core` node draws
from its own numpy PCG64 stream seeded with (Context.seed, prng_seed) and, every tick, draws
in this order only what its configuration uses:
    ρ_syn [B, A, N]   one per (axon, neuron) pair, for stochastic synapses
    ρ_leak [B, N]     one per neuron, for stochastic leak
    ρ_thr [B, N]      one per neuron, for stochastic thresholds (TM > 0)
each uniform in [0, 2^PRN_BITS − 1]. With every stochastic flag off and TM = 0 the core is
deterministic and nothing is drawn.
"""
from __future__ import annotations

import numpy as np

from snnc.ir.op import Op, array_field, expect_input_shape, register_op, scalar_field
from snnc.ir.types import TensorType

AXON_TYPES = 4
SCHEDULER_TICKS = 16
PRN_BITS = 8
RESET_NORMAL, RESET_LINEAR, RESET_NONE = 0, 1, 2

_PER_NEURON = ("leak", "leak_reversal", "stochastic_leak", "alpha", "beta", "threshold_mask_bits",
               "reset_mode", "saturate", "reset_value")
_FLAGS = ("stochastic_weight", "leak_reversal", "stochastic_leak", "saturate")


@register_op
class Core(Op):
    """One neurosynaptic core: A axons × N neurons, binary crossbar, Cassidy et al. (2013) neurons.

    Input a[t] ∈ Z^A: axon i is active at tick t iff a_i[t] ≠ 0 (several spikes reaching one
    axon in one tick are one event: the scheduler holds one bit per axon and tick).
    Per tick t, per neuron j, in this order (s_j^G = weight[j, G], G_i = axon_type[i],
    w_ij = crossbar[i, j], ρ a fresh PRN, F(x, ρ) = 1 if |x| ≥ ρ else 0):

      1. integrate, over the active axons i with w_ij = 1:
           b_j^{G_i} = 0:  V_j += s_j^{G_i}
           b_j^{G_i} = 1:  V_j += sgn(s_j^{G_i}) · F(s_j^{G_i}, ρ_syn[i, j])
      2. leak, with λ_j = |leak_j|, σ_λ = sgn(leak_j):
           Ω = σ_λ                 (leak_reversal ε_j = 0)
           Ω = σ_λ · sgn(V_j)      (ε_j = 1: σ_λ = −1 leaks toward 0, +1 away from it)
           V_j += Ω · λ_j          (stochastic_leak c_j = 0)
           V_j += Ω · F(λ_j, ρ_leak[j])  (c_j = 1)
      3. saturate: V_j ← clip(V_j, −2^(b−1), 2^(b−1) − 1), b = membrane_bits
         (strict mode raises instead)
      4. threshold, with η_j = ρ_thr[j] AND (2^TM_j − 1)  (0 when TM_j = 0):
           if V_j ≥ α_j + η_j:  spike, y_j[t] = 1, and reset by γ_j = reset_mode:
               0 normal: V_j ← R_j     1 linear: V_j ← V_j − (α_j + η_j)     2 none: V_j unchanged
           elif V_j < −(β_j κ_j + (β_j + η_j)(1 − κ_j)):   no spike, and
               κ_j = 1 (saturate): V_j ← −β_j
               κ_j = 0: γ 0: V_j ← −R_j;  γ 1: V_j ← V_j + (β_j + η_j);  γ 2: V_j unchanged
           else y_j[t] = 0.
    V starts at 0. All values are integers; the registers' ranges are the target's (rules.py),
    not the op's. Units: V, s, λ, α, β and R in one integer membrane unit per neuron.

    Differences from NeMo's C model (markplagge/NeMo tn_neuron.c), which the equations above
    otherwise follow: NeMo's stochastic synapse adds +1 whatever the weight's sign, zeroes V
    when a reversal leak changes its sign ("ringing"), and makes an overflowing neuron spike;
    here the sign is kept (Cassidy's equation), there is no ringing rule, and overflow only
    saturates. Each of these is unverified against the chip [recall].
    """

    name = "truenorth.core"
    stateful = True
    crossbar: np.ndarray = array_field("i64", doc="w, binary synapses [A, N]: axon i reaches neuron j iff 1")
    axon_type: np.ndarray = array_field("i64", doc="G, the type of each axon row, [A], in 0..3")
    weight: np.ndarray = array_field("i64", doc="s = σ·S, each neuron's signed weight per axon type, [N, 4]")
    stochastic_weight: np.ndarray = array_field("i64", doc="b, stochastic synapse flag per neuron and type, [N, 4]")
    leak: np.ndarray = array_field("i64", doc="σ_λ·λ, signed leak per tick, [N]")
    leak_reversal: np.ndarray = array_field("i64", doc="ε, leak direction follows sgn(V) when 1, [N]")
    stochastic_leak: np.ndarray = array_field("i64", doc="c_λ, stochastic leak flag, [N]")
    alpha: np.ndarray = array_field("i64", doc="α, positive threshold (>= 0), [N]")
    beta: np.ndarray = array_field("i64", doc="β, negative threshold (>= 0), [N]")
    threshold_mask_bits: np.ndarray = array_field("i64", doc="TM, threshold noise η = ρ AND (2^TM − 1), [N], 0..8")
    reset_mode: np.ndarray = array_field("i64", doc="γ: 0 normal (to R), 1 linear (subtract), 2 none, [N]")
    saturate: np.ndarray = array_field("i64", doc="κ: 1 saturates V at −β below the negative threshold, [N]")
    reset_value: np.ndarray = array_field("i64", doc="R, signed reset potential, [N]")
    membrane_bits: int = scalar_field("int", doc="V saturates to [−2^(b−1), 2^(b−1) − 1]")
    prng_seed: int = scalar_field("int", default=0, doc="this core's PRNG stream, with the run's seed")

    @property
    def axons(self) -> int:
        return self.crossbar.shape[0]

    @property
    def neurons(self) -> int:
        return self.crossbar.shape[1]

    def verify(self):
        if self.crossbar.ndim != 2:
            return [f"crossbar must be 2-D [axons, neurons], got shape {list(self.crossbar.shape)}"]
        A, N = self.crossbar.shape
        shapes = {"axon_type": (A,), "weight": (N, AXON_TYPES), "stochastic_weight": (N, AXON_TYPES),
                  **{f: (N,) for f in _PER_NEURON}}
        errs = [f"{f} has shape {list(getattr(self, f).shape)}, expected {list(s)}"
                for f, s in shapes.items() if getattr(self, f).shape != s]
        if errs:
            return errs
        checks = [("crossbar", self.crossbar, 0, 1), ("axon_type", self.axon_type, 0, AXON_TYPES - 1),
                  ("reset_mode", self.reset_mode, 0, 2), ("threshold_mask_bits", self.threshold_mask_bits, 0, PRN_BITS),
                  ("alpha", self.alpha, 0, None), ("beta", self.beta, 0, None),
                  *((f, getattr(self, f), 0, 1) for f in _FLAGS)]
        for name, v, lo, hi in checks:
            if v.size and (v.min() < lo or (hi is not None and v.max() > hi)):
                bound = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
                errs.append(f"{name} must lie in {bound}, got [{v.min()}, {v.max()}]")
        if not 2 <= self.membrane_bits <= 62:
            errs.append(f"membrane_bits must lie in [2, 62], got {self.membrane_bits}")
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, (self.axons,))
        return {"output": TensorType((self.neurons,), "int")}

    def synapse_count(self, inputs, outputs):
        return int(np.count_nonzero(self.crossbar))


@register_op
class Route(Op):
    """Spikes from a core (or the host) to axons of one destination, through its input scheduler.

    Entry k sends input element source[k] to axon axon[k], delivered delay[k] ticks later:

        y_a[t] = Σ_k [axon[k] = a] · [x_{source[k]}[t − delay[k]] ≠ 0]      (0 for t < delay[k])

    so y counts the spikes arriving on each axon at tick t (the core treats any count > 0 as
    one event). This is the destination cores' 16-slot input scheduler: a spike sent at tick t
    sets the bit of (axon, (t + d) mod 16), which is read and cleared at tick t + d; hence
    0 ≤ delay ≤ 15. A neuron's destination delay is ≥ 1 on the chip (the target's
    `formats.delay`); delay 0 is what the host uses to make an input axon active in the tick it
    names, and what an off-chip output uses (the host reads a spike in the tick it is sent).
    Stateful: the pending deliveries. Input [n_in], output [n_axons].
    """

    name = "truenorth.route"
    stateful = True
    source: np.ndarray = array_field("i64", doc="input element of each entry, [k]")
    axon: np.ndarray = array_field("i64", doc="destination axon of each entry, [k]")
    delay: np.ndarray = array_field("i64", doc="ticks from the spike to its delivery, [k], 0..15")
    n_in: int = scalar_field("int", doc="input size (the source core's neurons, or the host input's size)")
    n_axons: int = scalar_field("int", doc="output size (the destination core's axons, or the host output's size)")

    def verify(self):
        errs = [f"{f} must be 1-D with one entry per route, got shape {list(getattr(self, f).shape)}"
                for f in ("axon", "delay") if getattr(self, f).shape != self.source.shape]
        if self.source.ndim != 1:
            errs.append(f"source must be 1-D, got shape {list(self.source.shape)}")
        if errs:
            return errs
        for name, v, hi in (("source", self.source, self.n_in - 1), ("axon", self.axon, self.n_axons - 1),
                            ("delay", self.delay, SCHEDULER_TICKS - 1)):
            if v.size and (v.min() < 0 or v.max() > hi):
                errs.append(f"{name} must lie in [0, {hi}], got [{v.min()}, {v.max()}]")
        return errs

    def infer_types(self, inputs):
        expect_input_shape(inputs, (self.n_in,))
        return {"output": TensorType((self.n_axons,), "int")}

    def inputs_used(self) -> np.ndarray:
        """The source elements the route carries (the ones whose spikes reach its destination)."""
        return np.unique(self.source)
