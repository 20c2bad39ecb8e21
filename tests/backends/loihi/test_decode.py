"""The Loihi artifact is the truth: the graph decoded from the files alone runs bit for bit like the
compiler's lowered graph, decoding and emitting again gives the same bytes, and a wrong emitter —
an edited weight, threshold, delay or route with consistent digests — makes `snnc verify` fail,
naming the core, the neuron and the tick of the first difference."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnc
import snnc.errors
from snnc.artifact import run_mapped
from snnc.backend import backend
from snnc.ir import GraphBuilder
from snnc.ir.snn import IF, LI, CubaLIF, Linear
from snnc.ir.text import save_snnir
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.artifact_edit import edit_arrays, edit_json
from tests.backends.loihi.test_lower_partition import tiny
from tests.netbuild import lif, mlp, spikes

LOIHI = backend("loihi")


def neuron(kind: str, n: int, target: str):
    zero = target == "loihi1"
    if kind == "if":
        return IF(r=np.full(n, 1000.0), v_threshold=np.ones(n), v_reset=np.zeros(n),
                  reset_mode="value" if zero else "subtract", reset_timing="next_step")
    if kind == "cuba":
        return CubaLIF(tau_syn=np.full(n, 4e-3), tau_mem=np.full(n, 1e-2), r=np.full(n, 10.0), v_leak=np.zeros(n),
                       v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.full(n, 4.0))
    return lif(n, beta=0.9, t_refrac=2e-3 if kind == "lif-refractory" else 0.0,
               reset_mode="value" if zero else "subtract", reset_timing="next_step")


@st.composite
def networks(draw):
    """A random legal source graph for a Loihi target, the target (limits small enough that layers
    split across cores) and loihi-quantize options."""
    target = draw(st.sampled_from(["loihi", "loihi1"]))
    sizes = [draw(st.integers(1, 20)) for _ in range(draw(st.integers(2, 4)))]
    kinds = [draw(st.sampled_from(["lif", "if", "cuba", "lif-refractory"])) for _ in sizes[1:]]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    b = GraphBuilder()
    prev = b.input("x", (sizes[0],))
    for i, (n_in, n, kind) in enumerate(zip(sizes, sizes[1:], kinds)):
        w = rng.standard_normal((n, n_in)) * 2.5 / np.sqrt(n_in) * rng.binomial(1, 0.7, (n, n_in))
        h = b.add(f"n{i}", neuron(kind, n, target), b.add(f"fc{i}", Linear(weight=w), prev))
        if draw(st.booleans()) and kind != "cuba":          # a population that feeds itself (RLeaky)
            b.connect(h, b.add(f"rec{i}", Linear(weight=rng.standard_normal((n, n)) * 0.5)), recurrent=True)
            b.connect(f"rec{i}", h)
        prev = h
    if draw(st.booleans()):                                   # a float readout on the host
        k = draw(st.integers(1, 5))
        ro = b.add("ro", LI(tau=np.full(k, 5e-3), r=np.ones(k), v_leak=np.zeros(k)),
                   b.add("fc_ro", Linear(weight=rng.standard_normal((k, sizes[-1]))), prev))
        b.output("r", ro, (k,))
    b.output("y", prev, (sizes[-1],))
    limits = draw(st.sampled_from([{}, dict(neurons=3, input_axons=48, output_axons=64, synapse_memory_bits=16384)]))
    quant = {"synapse_format": draw(st.sampled_from(["auto", "dense", "sparse"]))}
    if target == "loihi" and draw(st.booleans()):
        quant["input"] = "graded"
    return b.build(), tiny(get_target(target), **limits), quant


def lowered_and_artifact(graph, target, options):
    result = run_pipeline(graph, target, options={"loihi-quantize": options})
    out = LOIHI.emit(result.graph, target, LOIHI.emit_options())
    return result.graph, snnc.Artifact({**out.files, "manifest.json": b"{}"})


def run(graph, x, seed=0):
    return run_mapped(graph, {"x": x}, raw=True, layers=True, seed=seed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(0, 2 ** 16))
def test_the_decoded_artifact_runs_bit_for_bit_like_the_lowered_graph(net, seed):
    graph, target, options = net
    lowered, art = lowered_and_artifact(graph, target, options)
    decoded = LOIHI.decode(art, target)
    n_in = graph.op("x").shape[0]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (25, 3, n_in)) if options.get("input") == "graded" else spikes(25, 3, n_in, seed=seed)
    (out_a, layers_a), (out_b, layers_b) = run(lowered, x), run(decoded, x)
    assert out_a.keys() == out_b.keys() and layers_a.keys() == layers_b.keys()
    assert all(np.array_equal(out_a[k], out_b[k]) for k in out_a)
    assert all(np.array_equal(layers_a[k], layers_b[k]) for k in layers_a)
    again = LOIHI.emit(decoded, target, LOIHI.emit_options())
    assert again.files.keys() == art.files.keys() - {"manifest.json"}
    assert all(again.files[k] == art.files[k] for k in again.files), \
        [k for k in again.files if again.files[k] != art.files[k]]


# -- a wrong emitter is found ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A 30-40-6 net on one core, its model file and inputs."""
    root = tmp_path_factory.mktemp("mut")
    g = mlp([30, 40, 6], gain=3.0, seed=3)
    save_snnir(g, root / "m.snnir")
    x = spikes(40, 6, 30, p=0.3, seed=5)
    np.save(root / "x.npy", x)
    return root, snnc.compile(root / "m.snnir", "loihi")


def verify_cli(root, art, name):
    art.save(root / name)
    return subprocess.run([sys.executable, "-m", "snnc.cli", "verify", str(root / name), "--model",
                           str(root / "m.snnir"), "--input", str(root / "x.npy")], capture_output=True, text=True)


def test_the_untouched_artifact_equals_its_lowering(compiled):
    root, art = compiled
    out = verify_cli(root, art, "ok")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "chip vs compiler: identical over 40 ticks x 6 samples" in out.stdout


def _negate(a):
    a["synapse.weight"] = -a["synapse.weight"]


def _one_weight(a):
    w = a["synapse.weight"]
    i = int(np.argmax(np.abs(w)))
    w[i] = -w[i]


def _one_threshold(a):
    a["compartment.vth_mant"][3] = a["compartment.vth_mant"][3] // 2


def _one_delay(a):
    a["synapse.delay"][11] = 3


@pytest.mark.parametrize("change", [_negate, _one_weight, _one_threshold, _one_delay],
                         ids=["negated weights", "one weight", "one threshold", "one delay"])
def test_an_edited_core_is_named_by_verify(compiled, change):
    root, art = compiled
    bad = edit_arrays(art, "cores/core_0000.npz", change)
    out = verify_cli(root, bad, change.__name__)
    assert out.returncode == 1, out.stdout + out.stderr
    line = next(l for l in out.stdout.splitlines() if l.startswith("  chip vs compiler"))
    assert "DIFFERS" in line and "(core 0, node lif0 index " in line and ", sample " in line, line
    assert "first at tick " in line and ", layer lif0, neuron " in line


def test_a_rerouted_axon_is_named_by_verify(compiled):
    """Axon 0 now carries the spikes of another source neuron: rules still hold (source and route
    agree), only the run shows it."""
    root, art = compiled
    arrays = dict(np.load(__import__("io").BytesIO(art.files["cores/core_0000.npz"])))
    kind, core, neuron = arrays["axon.source"][0]
    assert kind == 0                                          # fed by the host: input element `neuron`
    bad = edit_arrays(art, "cores/core_0000.npz", lambda a: a["axon.source"].__setitem__((0, 2), neuron + 1))

    def move(a):                                              # the host map says the same
        ptr, tgt = a["input.x.ptr"], a["input.x.target"]
        row = next(r for r in range(ptr[neuron], ptr[neuron + 1]) if list(tgt[r]) == [0, 0])
        order = list(range(len(tgt)))
        order.pop(row)
        order.insert(ptr[neuron + 1] - 1, row)
        a["input.x.target"] = tgt[order]
        a["input.x.ptr"] = ptr.copy()
        a["input.x.ptr"][neuron + 1] -= 1
    bad = edit_arrays(bad, "host.npz", move)
    assert snnc.verify(bad).violations == []
    out = verify_cli(root, bad, "rerouted")
    assert out.returncode == 1 and "chip vs compiler: DIFFERS" in out.stdout, out.stdout + out.stderr


def test_a_file_that_cannot_be_decoded_is_a_violation_not_a_crash(compiled):
    root, art = compiled
    bad = edit_json(art, "cores/core_0000.json", lambda m: m["blocks"][0].__setitem__("source", "nowhere"))
    report = snnc.verify(bad)
    assert not report.ok
    assert any(d.rule == "decode" and "block 'fc0' reads 'nowhere'" in str(d) for d in report.violations)


@pytest.mark.parametrize("pipeline, message", [
    (["discretize", "loihi-legalize", "loihi-quantize", "place"],
     "place: the graph has no core assignment (mapping.cores); a partition pass (e.g. loihi-partition) must run "
     "before place"),
    (["discretize", "loihi-legalize", "loihi-quantize"],
     "loihi emit: node 'lif0' has no core (mapping.cores); run loihi-partition before place"),
    (["discretize"], "loihi emit: the graph has no mapping record; the pipeline must lower it (loihi-quantize) "
                     "before it can be emitted"),
])
def test_a_pipeline_that_leaves_the_mapping_incomplete_is_refused_with_the_missing_pass(pipeline, message):
    with pytest.raises(snnc.errors.UsageError) as err:
        snnc.compile(mlp([4, 3]), "loihi", pipeline=pipeline)
    assert str(err.value) == message
