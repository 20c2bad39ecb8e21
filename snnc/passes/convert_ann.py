"""`convert-ann`: a ReLU network to a rate-coded spiking network of integrate-and-fire neurons.

Input: a float graph of stateless synapse ops (`snn.affine`, `snn.linear`,
`snn.sparse_linear`, `snn.conv1d`, `snn.conv2d`, `snn.avg_pool2d`, `snn.sum_pool2d`,
`snn.flatten`, `snn.scale`) with `ann.relu` activations, as the ONNX frontend imports an
ordinary ANN (BatchNorm folded into the layer before it). Output: an `snn.*` graph in which

- every `ann.relu` becomes an `snn.if` (same node name and origin) with reset by
  subtraction, applied in the spiking tick (`reset_mode="subtract"`,
  `reset_timing="immediate"`), `r = 1/dt` so that v[t] = v[t−1] + x[t];
- every graph output reads a non-spiking readout inserted before it (`readout` option).

Normalisation (data-based, Diehl et al. 2015, with Rueckauer et al. 2017's percentile)
------------------------------------------------------------------------------------
The ANN runs once in the float interpreter on the calibration samples (one tick = one
forward pass). For each ReLU node l, λ_l is the `percentile` (default 99.9) of its positive
activations. Every value in the converted graph carries a scale s: ANN value ≈ s · (spike
rate or SNN value). The input has s = 1 (current coding) or x_max (rate coding); an IF layer
emits spikes worth λ_l; pooling, flattening and elementwise gains keep s. A weight-bearing op
fed at scale s_in chooses the scale s_out that its next ReLU (or readout) wants and becomes

    W' = W · s_in / s_out,      b' = b / s_out

so that an IF neuron's threshold θ_l = λ_l / s_in is 1 in any chain. The threshold formula
keeps the graph right wherever a choice cannot be made (a layer feeding two ReLUs); where
edges of different scales meet (a residual sum), an `snn.scale` node on each mismatching
edge brings them to one scale. Activations above λ_l saturate at one spike per tick: the
percentile trades that clipping (rare large activations) against resolution (a neuron at
rate a/λ_l needs about λ_l/a ticks per spike).

Input coding (`input_coding`)
-----------------------------
- ``current`` (default): the input layer receives the analog sample every tick (x
  repeated T times), as in Rueckauer et al.; the first IF layer does the encoding.
- ``rate``: the input is Bernoulli spikes, each element fires with probability
  |x| / x_max per tick (x_max = the largest |x| in the calibration data; signed spikes
  ±1 for negative inputs, probability clipped to 1). The first layer's weights absorb x_max.

`encode(graph, x, ticks, seed=0)` turns static samples [B, *shape] into the time-major input
[T, B, *shape] that the converted graph expects (the seed makes rate coding reproducible);
T is the user's choice at simulation time, nothing in the graph depends on it.

Readout (`readout`) and the class decision
------------------------------------------
- ``membrane`` (default): the last layer's synaptic sum drives an `snn.i` integrator
  (no leak, no spikes); the output at tick t is Σ_{k≤t} of the last layer's value, so
  y[T−1] / T estimates the ANN's logits (the readout rescales to s = 1). The class is
  argmax y[T−1]. It keeps negative and sub-threshold evidence that spiking outputs lose,
  and decides from the first tick on.
- ``spikes``: the last layer becomes IF neurons normalised like the hidden layers (λ from
  the positive outputs); the class is argmax of the spike counts Σ_t y[t] (ties go to the
  lowest index). Needs more ticks: a class with a small positive logit may not spike at all.

`classify(graph, y)` applies the rule the graph was converted with.

Accuracy against ticks
----------------------
Measured with `tests/passes/test_convert_ann.py`'s model: a 64-64-10 ReLU MLP trained with
torch on scikit-learn's digits (inputs scaled to [0, 1]; 1437 training, 360 test
samples), exported with torch.onnx.export, loaded with ``snnc.load(path,
convert_ann=..., calibration=X_train)``, percentile 99.9; accuracy on the 360 test samples
(the ANN itself: 0.9778):

    T (ticks)               4       8      16      32      64     128     256
    current, membrane    0.9167  0.9639  0.9722  0.9778  0.9778  0.9778  0.9778
    rate, membrane       0.8861  0.9556  0.9611  0.9611  0.9750  0.9778  0.9750
    current, spikes      0.6861  0.9583  0.9667  0.9750  0.9750  0.9750  0.9750
    rate, spikes         0.6611  0.9361  0.9556  0.9639  0.9722  0.9778  0.9750
    (rate coding: encode(..., seed=0); one test sample is 0.28 points)

The error falls roughly as 1/T: an IF layer's spike count is off by less than one spike,
so it carries its activation to about λ/T, and the errors compound over layers; the
membrane readout, which integrates the last layer's value without a threshold, loses
least at small T. Rate coding adds Bernoulli noise (relative error ∝ 1/√(pT)); it is what
a chip with binary input axons receives. The percentile matters less here: 99, 99.9,
99.99 and 100 (the plain maximum) all reach 0.975-0.981 at T = 32-64; at T = 4 the
plain maximum gives 0.858 against 0.917 for 99.9.

Refused, with the node named: any stateful or spiking op (the graph is already an SNN) and
any op without a rate-coded equivalent. Max pooling never reaches this pass: the IR has no
max-pool op, and the ONNX frontend refuses MaxPool naming the node and suggesting
average pooling.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.errors import UnsupportedOpError, UsageError
from snnc.ir.ann import ReLU
from snnc.ir.graph import Edge, Graph, Node, unique_name
from snnc.ir.op import Op
from snnc.ir.snn import (IF, Affine, AvgPool2d, Conv1d, Conv2d, Flatten, I, Input, Linear, Output,
                         Scale, SparseLinear, SumPool2d)
from snnc.passes.options import check_fields, option
from snnc.passes.registry import PassResult, register_pass

INPUT_CODINGS = ("current", "rate")
READOUTS = ("membrane", "spikes")
META = "convert_ann."          # graph metadata keys written by this pass

# Weight-bearing ops: (weight field, bias field or None). They take any scale in and out.
WEIGHTED: dict[type[Op], tuple[str, str | None]] = {
    Affine: ("weight", "bias"), Linear: ("weight", None), SparseLinear: ("data", "bias"),
    Conv1d: ("weight", "bias"), Conv2d: ("weight", "bias"),
}
# Positively homogeneous, bias-free ops: f(s · x) = s · f(x), so the scale passes through.
HOMOGENEOUS: tuple[type[Op], ...] = (AvgPool2d, SumPool2d, Flatten, Scale)


@dataclass(frozen=True)
class ConvertAnnOptions:
    """How a ReLU network becomes a rate-coded SNN (see the module docstring)."""

    calibration: np.ndarray | None = option(None, "samples [N, *input_shape] (no time axis), typically "
                                                  "training data, that set each layer's scale (CLI: --calibration)",
                                            type_name="array", repr=False, compare=False)
    percentile: float = option(99.9, "percentile of each layer's positive activations taken as its full scale",
                               low=0.0, high=100.0, low_open=True)
    input_coding: str = option("current", "how static inputs enter: the value every tick (current) or "
                                          "Bernoulli spikes at that rate (rate)", choices=INPUT_CODINGS)
    readout: str = option("membrane", "the output layer: a non-spiking membrane (membrane) or spike counts "
                                      "(spikes)", choices=READOUTS)

    def __post_init__(self):
        check_fields(self)
        if self.calibration is not None:
            cal = np.array(self.calibration, dtype=np.float64)
            if cal.ndim < 1 or cal.shape[0] == 0:
                raise ValueError(f"calibration must be samples [N, *input_shape] with N >= 1, "
                                 f"got shape {list(cal.shape)}")
            if not np.all(np.isfinite(cal)):
                raise ValueError("calibration holds NaN or infinite values")
            cal.setflags(write=False)
            object.__setattr__(self, "calibration", cal)


NO_CALIBRATION = ("convert-ann needs calibration data to normalise each layer: pass samples "
                  "[N, *input_shape] from the training set, snnc.load(model, convert_ann=True, "
                  "calibration=X) (CLI: --calibration X.npy)")


@register_pass("convert-ann", ConvertAnnOptions)
def convert_ann(graph: Graph, target, options: ConvertAnnOptions) -> PassResult:
    """Replace ReLUs by normalised IF neurons and add a readout: a rate-coded SNN."""
    if options.calibration is None:
        raise UsageError(NO_CALIBRATION)
    _check_ops(graph)
    if len(graph.inputs) != 1:
        raise UsageError(f"convert-ann: the graph has {len(graph.inputs)} inputs {list(graph.inputs)}; "
                         f"calibration data fits a graph with exactly one input")
    relus = [n for n in graph.schedule() if isinstance(graph.op(n), ReLU)]
    acts = _activations(graph, options.calibration, relus)
    lam = {n: _percentile(acts[n], options.percentile) for n in relus}
    if options.readout == "spikes":
        for out in graph.outputs:
            lam[out] = _percentile(acts[out], options.percentile)
    s_in = _input_scale(graph, options)
    builder = _Rewriter(graph, lam, s_in, options.readout)
    new_graph, provenance = builder.run()
    metadata = dict(graph.metadata)
    metadata.update({META + "input_coding": options.input_coding, META + "input_scale": repr(s_in),
                     META + "readout": options.readout, META + "percentile": repr(float(options.percentile)),
                     META + "input_peak": repr(float(np.max(np.abs(options.calibration))))})
    stats = {"calibration_samples": int(options.calibration.shape[0]), "percentile": float(options.percentile),
             "input_coding": options.input_coding, "input_scale": s_in, "readout": options.readout,
             "spiking_layers": len(relus),
             "per_layer": {n: _layer_stats(acts[n], lam[n], builder.threshold.get(n)) for n in lam}}
    return PassResult(new_graph.replace(metadata=metadata), provenance=provenance, stats=stats)


# -- checks ---------------------------------------------------------------------------------------
def _check_ops(graph: Graph) -> None:
    feedback = next((e for e in graph.edges if e.recurrent), None)
    if feedback is not None:
        raise UnsupportedOpError(f"convert-ann: the recurrent edge from '{feedback.src}' back to "
                                 f"'{feedback.dst}' makes this a recurrent network; convert-ann takes "
                                 f"feed-forward ReLU networks")
    for name, node in graph.nodes.items():
        op = node.op
        if isinstance(op, (Input, Output, ReLU, *HOMOGENEOUS)) or type(op) in WEIGHTED:
            continue
        where = f"node '{name}'" + (f" ({node.origin})" if node.origin else "")
        if op.stateful:
            raise UnsupportedOpError(f"convert-ann: {where} is {op.name}, a stateful op; convert-ann "
                                     f"takes a ReLU network (the graph is already spiking?)",
                                     supported=_supported())
        raise UnsupportedOpError(f"convert-ann: {where} is {op.name}, which has no rate-coded "
                                 f"equivalent", supported=_supported())


def _supported() -> tuple[str, ...]:
    return tuple(sorted([ReLU.name, *(c.name for c in WEIGHTED), *(c.name for c in HOMOGENEOUS)]))


# -- calibration ----------------------------------------------------------------------------------
def _activations(graph: Graph, calibration: np.ndarray, relus: list[str]) -> dict[str, np.ndarray]:
    """Each ReLU's output and each graph output, flattened over samples, from one forward pass."""
    from snnc.interp.engine import run
    (inp,) = graph.inputs
    shape = tuple(graph.op(inp).shape)
    if tuple(calibration.shape[1:]) != shape:
        raise UsageError(f"convert-ann: calibration has shape {list(calibration.shape)}, expected "
                         f"[N, {', '.join(map(str, shape))}] (samples of input '{inp}', no time axis)")
    got: dict[str, list[np.ndarray]] = {n: [] for n in (*relus, *graph.outputs)}
    for start in range(0, calibration.shape[0], 512):
        chunk = calibration[start:start + 512]
        result = run(graph, {inp: chunk[None]}, record=relus)
        for n in relus:
            got[n].append(result.recorded[n][0].ravel())
        for n in graph.outputs:
            got[n].append(result.outputs[n][0].ravel())
    return {n: np.concatenate(v) for n, v in got.items()}


def _percentile(values: np.ndarray, p: float) -> float:
    """The p-th percentile of the positive values; 1.0 for a layer that never activates."""
    pos = values[values > 0]
    return float(np.percentile(pos, p)) if pos.size else 1.0


def _input_scale(graph: Graph, options: ConvertAnnOptions) -> float:
    if options.input_coding == "current":
        return 1.0
    peak = float(np.max(np.abs(options.calibration)))
    if peak == 0:
        raise UsageError("convert-ann: rate coding needs non-zero calibration inputs (all are 0)")
    return peak


def _layer_stats(values: np.ndarray, lam: float, threshold) -> dict:
    pos = values[values > 0]
    out = {"lambda": lam, "max_activation": float(pos.max()) if pos.size else 0.0,
           "clipped_fraction": float(np.mean(pos > lam)) if pos.size else 0.0}
    if threshold is not None:
        out["threshold"] = threshold
    return out


# -- the rewrite ----------------------------------------------------------------------------------
class _Rewriter:
    """Walks the graph in schedule order, propagating scales and rewriting ops."""

    def __init__(self, graph: Graph, lam: dict[str, float], s_in: float, readout: str):
        self.g, self.lam, self.readout = graph, lam, readout
        self.types = graph.types()
        self.scale: dict[str, float] = {n: s_in for n in graph.inputs}
        self.want = self._wanted_scales()
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.names = set(graph.nodes)
        self.threshold: dict[str, float] = {}
        self.provenance: dict[str, tuple[str, ...]] = {}

    def _wanted_scales(self) -> dict[str, float]:
        """The scale each node's output should carry: what the first ReLU or readout it
        reaches through bias-free ops wants (None where nothing downstream cares)."""
        want: dict[str, float | None] = {}
        for name in reversed(self.g.schedule()):
            op = self.g.op(name)
            if isinstance(op, ReLU):
                want[name] = self.lam[name]
                continue
            consumers = [e.dst for e in self.g.out_edges(name)]
            wishes = []
            for c in consumers:
                c_op = self.g.op(c)
                if isinstance(c_op, ReLU):
                    wishes.append(self.lam[c])
                elif isinstance(c_op, Output):
                    wishes.append(self.lam[c] if self.readout == "spikes" else 1.0)
                elif isinstance(c_op, HOMOGENEOUS):
                    wishes.append(want.get(c))
            want[name] = next((w for w in wishes if w is not None), None)
        return want

    def run(self) -> tuple[Graph, dict[str, tuple[str, ...]]]:
        for name in self.g.schedule():
            node = self.g.nodes[name]
            if isinstance(node.op, Input):
                self.nodes[name] = node
                continue
            s = self._gather(name)
            if isinstance(node.op, Output):
                self._readout(name, s)
                continue
            self.nodes[name] = Node(name, self._rewrite(name, node.op, s), node.origin)
        ordered = [self.nodes[n] for n in self.nodes]
        return Graph(ordered, self.edges, inputs=self.g.inputs, outputs=self.g.outputs, dt=self.g.dt,
                     method=self.g.method, version=self.g.version, metadata=self.g.metadata), self.provenance

    def _gather(self, name: str) -> float:
        """Connect every edge into `name`, bringing mismatched scales to one; return it."""
        incoming = self.g.in_edges(name)
        scales = [self.scale[e.src] for e in incoming]
        common = scales[0]
        for e, s in zip(incoming, scales):
            if np.isclose(s, common, rtol=1e-12, atol=0):
                self.edges.append(e)
                continue
            shape = self.types[(e.src, e.src_port)].shape
            fix = self._fresh(f"{name}_rescale")
            self.nodes[fix] = Node(fix, Scale(scale=np.full(shape, s / common)), self.g.nodes[name].origin)
            self.edges.append(Edge(e.src, fix, e.src_port, "input", e.recurrent))
            self.edges.append(Edge(fix, name, "output", e.dst_port))
            self.provenance[name] = (*self.provenance.get(name, (name,)), fix)
        return common

    def _rewrite(self, name: str, op: Op, s_in: float) -> Op:
        if isinstance(op, ReLU):
            theta = self.lam[name] / s_in
            self.threshold[name] = theta
            self.scale[name] = self.lam[name]
            return self._if(self.types[(name, "output")].shape, theta)
        if type(op) in WEIGHTED:
            w_field, b_field = WEIGHTED[type(op)]
            s_out = self.want.get(name) or s_in
            changes = {w_field: getattr(op, w_field) * (s_in / s_out)}
            if b_field is not None:
                changes[b_field] = getattr(op, b_field) / s_out
            self.scale[name] = s_out
            return op.replace(**changes)
        self.scale[name] = s_in          # homogeneous: the scale passes through
        return op

    def _if(self, shape: tuple[int, ...], theta: float) -> IF:
        return IF(r=np.full(shape, 1.0 / self.g.dt), v_threshold=np.full(shape, theta),
                  v_reset=np.zeros(shape), reset_mode="subtract", reset_timing="immediate")

    def _readout(self, out: str, s_in: float) -> None:
        """Insert the readout between what feeds `out` and `out` itself."""
        node = self.g.nodes[out]
        shape = tuple(node.op.shape)
        name = self._fresh(f"{out}_readout")
        if self.readout == "membrane":
            op = I(r=np.full(shape, s_in / self.g.dt))     # y[t] = Σ ANN-scaled logits
        else:
            theta = self.lam[out] / s_in
            self.threshold[out] = theta
            op = self._if(shape, theta)
        self.nodes[name] = Node(name, op, node.origin)
        self.edges = [Edge(e.src, name, e.src_port, "input", e.recurrent) if e.dst == out else e
                      for e in self.edges]
        self.edges.append(Edge(name, out))
        self.nodes[out] = node
        self.provenance[out] = (name, out)

    def _fresh(self, base: str) -> str:
        name = unique_name(base, self.names)
        self.names.add(name)
        return name


# -- host-side helpers for converted graphs -------------------------------------------------------
def _conversion(graph: Graph) -> tuple[str, float, str]:
    meta = graph.metadata
    if META + "input_coding" not in meta:
        raise UsageError("this graph was not made by convert-ann (no convert_ann.* metadata); "
                         "load the ANN with snnc.load(model, convert_ann=True, calibration=X)")
    return meta[META + "input_coding"], float(meta[META + "input_scale"]), meta[META + "readout"]


def declared_input(graph: Graph) -> tuple[bool, float | None]:
    """(whether the graph takes real values every tick, the largest |x| its calibration saw): a graph
    converted with current coding does; a target lowering picks its input encoding from this."""
    meta = graph.metadata
    if meta.get(META + "input_coding") != "current":
        return False, None
    peak = meta.get(META + "input_peak")
    return True, (float(peak) if peak is not None and float(peak) > 0 else None)


def encode(graph: Graph, x, ticks: int, *, seed: int = 0) -> np.ndarray:
    """Static samples x [B, *input_shape] as the converted graph's input [ticks, B, *input_shape]:
    repeated (current coding) or Bernoulli spikes with P = |x| / x_max, signed (rate coding,
    seeded by `seed`)."""
    coding, scale, _ = _conversion(graph)
    if not isinstance(ticks, (int, np.integer)) or ticks < 1:
        raise UsageError(f"encode: ticks must be a positive int, got {ticks!r}")
    x = np.asarray(x, dtype=np.float64)
    if coding == "current":
        return np.repeat(x[None], ticks, axis=0)
    p = np.clip(np.abs(x) / scale, 0.0, 1.0)
    fired = np.random.default_rng(seed).random((ticks, *x.shape)) < p
    return fired * np.sign(x)


def classify(graph: Graph, y) -> np.ndarray:
    """Class indices [B] from a converted graph's output y [T, B, n_classes]: argmax of the
    readout membrane at the last tick, or of the spike counts (readout spikes)."""
    return np.argmax(readout_scores(graph, y), axis=-1)


def readout_scores(graph: Graph, y) -> np.ndarray:
    """What `classify` maximises, [B, n_classes]: the readout membrane at the last tick, or the
    spike counts (readout spikes)."""
    _, _, readout = _conversion(graph)
    y = np.asarray(y)
    if y.ndim != 3:
        raise UsageError(f"classify: expected the output [T, B, n_classes], got shape {list(y.shape)}")
    return y[-1] if readout == "membrane" else y.sum(axis=0)
