"""The analog lowering, with the interpreter as the oracle: tiling, weight and neuron mapping,
the converter-quantisation bound of a noiseless chip, refusals, and the calibration pass."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnc.backends.analog import chip
from snnc.backends.analog.emit import tile_map
from snnc.backends.analog.lower import PIPELINE
from snnc.backends.analog.ops import Crossbar, LIFCircuit
from snnc.errors import ConstraintViolation, UnsupportedOpError
from snnc.interp.engine import run
from snnc.ir.graph import GraphBuilder
from snnc.ir.snn import IF, LIF, Affine, CubaLIF, Linear
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target

ANALOG, BSS2 = get_target("analog"), get_target("analog-bss2")
IDEAL = {"analog-tile": {"noise": False}, "analog-neurons": {"mismatch": False}}
N_IN, N_OUT, PER_ROW = 300, 600, 10


def lif(n, *, tau=0.01, r=10.0, **kw):
    fields = dict(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))
    fields.update(kw)
    return LIF(**fields)


def wide_layer(seed=0):
    """x[300] -> fc (10 nonzero weights per row, bias) -> LIF[600]: 2 × 3 tiles of 256 × 256.
    At most 10 weights per row keep every tile's normalised column sum Σ|w| / max|w| <= 10,
    inside the ADC bound of 12, so no output clips and the quantisation bound below holds."""
    rng = np.random.default_rng(seed)
    w = np.zeros((N_OUT, N_IN))
    for i in range(N_OUT):
        w[i, rng.choice(N_IN, PER_ROW, replace=False)] = rng.uniform(-1, 1, PER_ROW)
    b = GraphBuilder(dt=1e-3)
    b.input("x", (N_IN,))
    b.add("fc", Affine(weight=w, bias=rng.uniform(-0.1, 0.1, N_OUT)), "x", origin="model.fc")
    b.add("lif", lif(N_OUT), "fc", origin="model.lif")
    b.output("y", "lif", (N_OUT,))
    return b.build(), w


def lower(graph, target=ANALOG, pipeline=PIPELINE, **options):
    return run_pipeline(graph, target, pipeline=pipeline, options=options)


# -- tiling -------------------------------------------------------------------------------------
def test_a_layer_larger_than_a_tile_maps_to_several_tiles():
    g, w = wide_layer()
    res = lower(g, pipeline=("analog-legalize", "analog-tile"), **{"analog-tile": {"noise": False, "scaling": "tile"}})
    tiles = tile_map(res.graph)
    assert len(tiles) == 6 == res.stats("analog-tile")["tiles"]
    assert sorted((t["rows"][0], t["cols"][0]) for t in tiles.values()) == \
        [(0, 0), (0, 256), (0, 512), (256, 0), (256, 256), (256, 512)]
    assert set(res.provenance["fc"]) == set(tiles) and res.provenance["lif"] == ("lif",)
    back = np.zeros_like(w)
    for name in tiles:
        op = res.graph.op(name)
        C, R = op.shape
        assert C <= 256 and R <= 256 and op.g_pos.max() <= 25.0 and op.g_neg.max() <= 25.0
        assert np.count_nonzero(op.g_pos * op.g_neg) == 0          # one device of each pair at g_min = 0
        back[op.col_offset:op.col_offset + C, op.row_offset:op.row_offset + R] += \
            (op.g_pos - op.g_neg) / op.w_scale[:, None]
        peak = np.abs(back[op.col_offset:op.col_offset + C, op.row_offset:op.row_offset + R]).max()
        assert op.w_scale == pytest.approx(np.full(C, 25.0 / peak))  # abs-max of the tile at g_max
    assert np.allclose(back, w, rtol=0, atol=1e-12)


def test_noiseless_chip_equals_the_float_model_up_to_the_converters():
    """Bound on each neuron's synaptic input, per tick, without clipping (see wide_layer):

        |I_chip − I_float| <= Σ_tiles ( Δ_adc/2 · x_max · max|W_tile| + Δ_dac/2 · x_max · Σ_j∈tile |W_ij| )

    with Δ_dac = 1/63 (7-bit DAC on x/x_max) and Δ_adc = 12/255 (9-bit ADC, bound 12, in units of
    one full-scale weight times x_max). The LIF integrates it with unit gain, so while the spike
    trains agree the membranes differ by at most r(1 − α) Σ α^k e <= r · e = 10 e; a spike can
    therefore differ only where the float membrane was within that of the threshold."""
    g, w = wide_layer()
    res = lower(g, pipeline=("analog-legalize", "analog-tile"), **{"analog-tile": {"noise": False}})
    G = res.graph
    tiles = list(tile_map(G))
    x = np.random.default_rng(1).uniform(0, 1, (30, 8, N_IN))
    ref = run(g, {"x": x}, record=["fc", "lif:v"])
    got = run(G, {"x": x}, record=tiles + ["lif:v"])
    current = sum(got.recorded[t] for t in tiles)
    bound = np.zeros(N_OUT)
    for t in tiles:
        op = G.op(t)
        rows, cols = slice(op.row_offset, op.row_offset + op.shape[1]), slice(op.col_offset, op.col_offset + op.shape[0])
        block = w[cols, rows]
        bound[cols] += (12.0 / 255) / 2 * np.abs(block).max() + (1 / 63) / 2 * np.abs(block).sum(axis=1)
    err = np.abs(current - ref.recorded["fc"])
    assert np.all(err <= bound + 1e-12)
    assert err.max() > 0.05 * bound.max()                 # the converters do quantise
    zf, zc = ref.outputs["y"], got.outputs["y"]
    assert (zf == zc).mean() > 0.98
    a = 1 - 1e-3 / 0.01
    for s in range(x.shape[1]):                            # every first divergence is explained
        diff = np.flatnonzero((zf[:, s] != zc[:, s]).any(axis=1))
        if diff.size:
            t = diff[0]
            v_prev = ref.recorded["lif:v"][t - 1, s] if t else np.zeros(N_OUT)
            v_tilde = a * v_prev + (1 - a) * 10.0 * ref.recorded["fc"][t, s]
            which = zf[t, s] != zc[t, s]
            assert np.all(np.abs(v_tilde[which] - 1.0) <= 10.0 * bound[which] + 1e-9)


def test_neuron_circuits_equal_the_source_neurons_on_an_ideal_chip():
    """analog-neurons changes units and time base, not behaviour: without mismatch the circuits
    spike exactly as the snn.lif / snn.if they replace (potentials lie on the 1 mV grid)."""
    rng = np.random.default_rng(2)
    b = GraphBuilder(dt=1e-3)
    b.input("x", (20,))
    b.add("fc1", Linear(weight=rng.normal(0, 0.6, (30, 20))), "x")
    b.add("lif", lif(30, reset_mode="subtract", reset_timing="next_step", t_refrac=2e-3), "fc1")
    b.add("fc2", Linear(weight=rng.normal(0, 0.5, (12, 30))), "lif")
    b.add("if", IF(r=np.full(12, 400.0), v_threshold=np.full(12, 0.8), v_reset=np.zeros(12)), "fc2")
    b.output("y", "if", (12,))
    g = b.build()
    tiled = lower(g, pipeline=("analog-legalize", "analog-tile"), **{"analog-tile": {"noise": False}}).graph
    full = lower(g, **IDEAL).graph
    assert isinstance(full.op("lif"), LIFCircuit) and full.op("if").tau_mem[0] == np.inf
    x = (rng.random((60, 4, 20)) < 0.4).astype(float)
    a = run(tiled, {"x": x}, record=["lif"]).recorded["lif"]
    c = run(full, {"x": x}, record=["lif"]).recorded["lif"]
    assert np.array_equal(a, c)
    assert np.array_equal(run(tiled, {"x": x}).outputs["y"], run(full, {"x": x}).outputs["y"])
    op = full.op("lif")
    assert (op.v_init[0], op.v_threshold[0], op.v_subtract[0]) == (200.0, 600.0, 400.0)


def test_bss2_maps_six_bit_codes_on_excitatory_and_inhibitory_rows():
    rng = np.random.default_rng(4)
    w = rng.normal(0, 1, (40, 200))
    b = GraphBuilder(dt=1e-3)
    b.input("x", (200,))
    b.add("fc", Linear(weight=w), "x")
    b.add("lif", lif(40), "fc")
    b.output("y", "lif", (40,))
    res = lower(b.build(), BSS2, **IDEAL)
    tiles = tile_map(res.graph)
    assert [t["rows"] for t in tiles.values()] == [[0, 128], [128, 200]]   # 128 signed inputs per tile
    for name in tiles:
        op = res.graph.op(name)
        codes = np.concatenate([op.g_pos.ravel(), op.g_neg.ravel()])
        assert np.array_equal(codes, np.rint(codes)) and codes.max() == 63 and codes.min() == 0
        block = w[:, op.row_offset:op.row_offset + op.shape[1]]
        back = (op.g_pos - op.g_neg) / op.w_scale[:, None]
        assert np.all(np.abs(back - block).max(axis=1) <= 0.5 / op.w_scale + 1e-12)   # half a code
        assert np.all(np.maximum(op.g_pos, op.g_neg).max(axis=1) == 63)         # every column's peak at 63
    assert res.graph.dt == pytest.approx(1e-6) and res.graph.op("lif").tau_mem[0] == pytest.approx(1e-5)


# -- refusals -----------------------------------------------------------------------------------
def one_population(op, n_in=4):
    b = GraphBuilder(dt=1e-3)
    b.input("x", (n_in,))
    b.add("fc", Linear(weight=np.ones((op.shape[0], n_in))), "x")
    b.add("pop", op, "fc", origin="net.pop")
    b.output("y", "pop", op.shape)
    return b.build()


CUBA = CubaLIF(tau_syn=np.full(3, 0.005), tau_mem=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3),
               v_threshold=np.ones(3), v_reset=np.zeros(3), w_in=np.ones(3))
STRICT_CASES = [
    (lif(3, reset_mode="subtract"), BSS2, "neuron.reset_modes",
     "reset_mode subtract is not supported by target 'analog-bss2' (rule neuron.reset_modes = [value])"),
    (IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3)), BSS2, "neuron.integrators",
     "target 'analog-bss2' has no leak-free circuit for snn.if (rule neuron.integrators = false)"),
    (lif(3, tau=0.5), BSS2, "neuron.tau_range",
     "tau of 0.0005..0.0005 chip seconds (the model's / speed-up 1000) lies outside [1e-06, 0.0001] "
     "(rule neuron.tau_range)"),
    (CUBA, ANALOG, "neuron.tau_syn_range",
     "snn.cuba_lif needs a synaptic-current filter; target 'analog' has one-state LIF circuits "
     "(rule neuron.tau_syn_range = [])"),
]


@pytest.mark.parametrize("op, target, rule, why", STRICT_CASES, ids=[c[2] for c in STRICT_CASES])
def test_each_approximation_is_reported_and_refused_under_strict_with_its_reason(op, target, rule, why):
    g = one_population(op)
    res = lower(g, target, pipeline=("analog-legalize",))
    assert [(a.node, a.origin, a.rule, a.why) for a in res.approximations] == [("pop", "net.pop", rule, why)]
    with pytest.raises(UnsupportedOpError) as err:
        run_pipeline(g, target, pipeline=("analog-legalize",), strict=True)
    assert str(err.value).startswith(f"net.pop, node 'pop', op '{op.name}': {why} (rule {rule}; refused under "
                                     f"--strict: without it the chip would ")


def test_refusals_name_node_origin_and_rule():
    with pytest.raises(UnsupportedOpError) as err:
        lower(one_population(lif(3, v_threshold=np.array([1.0, -0.5, 1.0]))))
    assert "v_threshold must be > 0" in str(err.value)
    with pytest.raises(UnsupportedOpError) as err:
        lower(one_population(lif(3, reset_mode="none")), BSS2)
    assert str(err.value) == ("net.pop, node 'pop', op 'snn.lif': reset_mode none (never reset) is not supported by "
                              "target 'analog-bss2': its circuits reset to a value (rule neuron.reset_modes = [value])")


def test_a_network_needing_more_tiles_than_the_chip_has_is_refused():
    g, _ = wide_layer()
    one_chip = dataclasses.replace(BSS2, chips=1)
    with pytest.raises(ConstraintViolation) as err:
        lower(g, one_chip, **IDEAL)
    assert str(err.value) == "graph: 9 tiles > 2 (1 chip(s) x 2) allowed (analog-bss2.cores_per_chip)"


# -- calibration --------------------------------------------------------------------------------
def test_calibrate_switches_drift_compensation_on_every_tile():
    g, _ = wide_layer()
    G = lower(g, **{"analog-calibrate": {"drift_compensation": "per_column"}}).graph
    modes = {G.op(n).drift_compensation for n in G.nodes if isinstance(G.op(n), Crossbar)}
    assert modes == {"per_column"}


def test_chip_in_the_loop_gain_calibration_removes_a_systematic_attenuation():
    """IR drop (scaled up 100×) attenuates every column by an input-dependent factor common to all
    chips; the gain fit measures it on calibration data and the digital gains undo it (regressing
    again gives 1). Sparse input keeps the column sums inside the ADC's bound (no clipping)."""
    rng = np.random.default_rng(5)
    b = GraphBuilder(dt=1e-3)
    b.input("x", (200,))
    b.add("fc", Linear(weight=rng.uniform(0, 1, (50, 200))), "x")
    b.add("lif", lif(50, r=1.0), "fc")
    b.output("y", "lif", (50,))
    g = b.build()
    x = (rng.random((10, 16, 200)) < 0.05).astype(float)
    opts = {"analog-tile": {"ir_drop": 100.0, "noise": False}, "analog-neurons": {"mismatch": False}}
    plain = lower(g, **opts).graph
    cal = lower(g, **opts, **{"analog-calibrate": {"data": x, "instances": 2}})
    fit = cal.stats("analog-calibrate")["gain"]["lif"]
    assert fit["min"] > 1.05                                # IR drop lowered every column
    tile = next(n for n in cal.graph.nodes if isinstance(cal.graph.op(n), Crossbar))

    def current(G):
        return run(G, {"x": x}, record=[tile]).recorded[tile]
    ideal = x @ g.op("fc").weight.T
    before = (current(plain) * ideal).sum() / (ideal * ideal).sum()
    after = (current(cal.graph) * ideal).sum() / (ideal * ideal).sum()
    assert before < 0.95 and after == pytest.approx(1.0, abs=0.01)


def test_chip_in_the_loop_threshold_calibration_moves_spike_counts_to_the_reference():
    rng = np.random.default_rng(6)
    b = GraphBuilder(dt=1e-3)
    b.input("x", (64,))
    b.add("fc", Linear(weight=rng.normal(0.05, 0.3, (40, 64))), "x")
    b.add("lif", lif(40, r=10.0), "fc")
    b.output("y", "lif", (40,))
    g = b.build()
    x = (rng.random((25, 32, 64)) < 0.3).astype(float)
    opts = {"analog-tile": {"t_inference": 86400.0}, "analog-calibrate": {"data": x, "instances": 4,
                                                                          "gain": False, "threshold": True}}
    res = lower(g, **opts)
    fit = res.stats("analog-calibrate")["threshold"]["lif"]
    ref = run(chip.ideal(res.graph), {"x": x}).outputs["y"].sum(0).mean(0)
    before = run(lower(g, **{"analog-tile": {"t_inference": 86400.0}}).graph, {"x": x}, seed=1_000_003,
                 chip_instances=4).outputs["y"].sum(0).mean(0)
    assert fit["count_error_mean"] < 0.5 * np.abs(before - ref).mean()


# -- property: tiling and the converter bound for any layer and crossbar size ---------------------
from dataclasses import replace  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def small_crossbar(rows: int, cols: int, signed_mode: str):
    """The analog target with small tiles (and an ADC bound of `rows`, which no read can exceed)."""
    t = ANALOG
    return replace(t, cores_per_chip=10_000, mesh=(100, 100),
                   crossbar=replace(t.crossbar, rows=rows, cols=cols, signed_mode=signed_mode),
                   converters=replace(t.converters, adc_bound=float(rows)))


@settings(max_examples=25, deadline=None)
@given(n_in=st.integers(1, 40), n_out=st.integers(1, 40), rows=st.integers(2, 16), cols=st.integers(1, 16),
       signed_mode=st.sampled_from(["differential_pair", "split_rows"]), scaling=st.sampled_from(["tile", "column"]),
       density=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_every_weight_lands_on_exactly_one_tile_within_the_bound(n_in, n_out, rows, cols, signed_mode, scaling,
                                                                  density, seed):
    target = small_crossbar(rows, cols, signed_mode)
    rng = np.random.default_rng(seed)
    w = rng.uniform(-1, 1, (n_out, n_in)) * (rng.random((n_out, n_in)) < density)
    bias = rng.uniform(-0.1, 0.1, n_out) * (rng.random(n_out) < 0.5)
    b = GraphBuilder(dt=1e-3)
    b.input("x", (n_in,))
    b.add("fc", Affine(weight=w, bias=bias), "x")
    b.add("lif", lif(n_out), "fc")
    b.output("y", "lif", (n_out,))
    g = b.build()
    G = lower(g, target, pipeline=("analog-tile",), **{"analog-tile": {"noise": False, "scaling": scaling}}).graph
    tiles = [n for n in G.nodes if isinstance(G.op(n), Crossbar)]
    covered = np.zeros(w.shape, int)
    back = np.zeros_like(w)
    per_tile = target.crossbar.inputs_per_tile()
    for name in tiles:
        op = G.op(name)
        C, R = op.shape
        assert C <= cols and R <= per_tile
        covered[op.col_offset:op.col_offset + C, op.row_offset:op.row_offset + R] += 1
        back[op.col_offset:op.col_offset + C, op.row_offset:op.row_offset + R] += \
            (op.g_pos - op.g_neg) / op.w_scale[:, None]
    assert np.all(covered[w != 0] == 1) and covered.max(initial=0) <= 1   # bias-only tiles sit where no weight is
    assert np.allclose(back, w, rtol=0, atol=1e-12)
    x = rng.uniform(0, 1, (3, 2, n_in))
    got = run(G, {"x": x}, record=tiles).recorded
    current = sum((got[t] for t in tiles), np.zeros((3, 2, n_out)))
    bound = np.zeros(n_out)
    for name in tiles:
        op = G.op(name)
        block = w[op.col_offset:op.col_offset + op.shape[0], op.row_offset:op.row_offset + op.shape[1]]
        peak = np.abs(block).max(axis=1) if scaling == "column" else np.abs(block).max()
        bound[op.col_offset:op.col_offset + op.shape[0]] += \
            (float(rows) / 255) / 2 * peak + (1 / 63) / 2 * np.abs(block).sum(axis=1)
    assert np.all(np.abs(current - (x @ w.T + bias)) <= bound + 1e-12)
