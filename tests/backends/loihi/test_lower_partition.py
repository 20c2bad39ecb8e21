"""loihi-partition and place: legal mappings, the second-order output-axon growth, bit-exact semantics
across the split, and the property "every neuron on exactly one core, no core over its limits"."""
import dataclasses
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import snnc
from snnc.backends.loihi import rules
from snnc.backends.loihi.partition import Cost
from snnc.errors import ConstraintViolation
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.netbuild import mlp, spikes

LOIHI1 = get_target("loihi1")
UPTO_QUANTIZE = ["discretize", "prune", "loihi-legalize", "loihi-quantize"]


def tiny(target, **limits):
    """`target` with smaller per-core limits, to force splits on small networks."""
    core = dataclasses.replace(target.core, **limits)
    return dataclasses.replace(target, core=core)


def _raw(graph, x):
    """The raw integer run of a lowered graph, outputs reassembled from their parts."""
    from snnc.artifact import run_mapped
    return run_mapped(graph, {"x": x}, raw=True)[0]["y"]


def test_partition_keeps_the_integer_run_bit_exact():
    t = tiny(get_target("loihi"), neurons=7, input_axons=40, synapse_memory_bits=6000, output_axons=60)
    g = mlp([24, 30, 20, 9], gain=3.0)
    before = run_pipeline(g, t, pipeline=UPTO_QUANTIZE).graph
    after = run_pipeline(g, t).graph
    stats_cores = len(set(after.mapping.cores.values()))
    assert stats_cores > 6
    x = spikes(40, 3, 24)
    assert np.array_equal(_raw(before, x), _raw(after, x))


def test_784_1024_1024_10_maps_legally_on_loihi1(tmp_path):
    g = mlp([784, 1024, 1024, 10])
    t0 = time.perf_counter()
    art = snnc.compile(g, "loihi1")
    seconds = time.perf_counter() - t0
    res = art.manifest["resources"]
    parts = next(p for p in art.manifest["passes"] if p["name"] == "loihi-partition")["stats"]
    # synapse memory binds: 142 rows cost 64 + 64 + 14 synapses = 576 + 576 + 128 bits per axon,
    # x 784 axons = 1,003,520 bits (143 rows would need 1,053,696), so 1024 neurons take 8 cores;
    # behind 1024 axons a core takes 114 rows (1,024 bits per axon), so 9
    assert parts["parts_per_population"] == {"lif0": 8, "lif1": 9, "lif2": 1}
    assert res["cores"] == 17 and res["totals"]["neurons"] == 2058
    assert res["max_per_core"]["synapse_bits"] <= 1048576
    art.save(tmp_path / "a")
    out = subprocess.run([sys.executable, "-m", "snnc.cli", "verify", str(tmp_path / "a")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rules: 17 core(s) within every limit" in out.stdout
    print(f"784-1024-1024-10 on loihi1: {res['cores']} cores, compile {seconds:.2f} s")


def test_second_order_output_axons_split_the_source():
    """Neuron-bound source: 1024 neurons fit one core by count, but the 1024-wide destination is cut
    into 9 parts, so each source neuron needs 9 output axons: 9216 > 4096, so the source is cut too."""
    res = run_pipeline(mlp([16, 1024, 1024]), LOIHI1)
    s = res.stats("loihi-partition")
    assert s["parts_per_population"] == {"lif0": 3, "lif1": 9}
    assert s["grown_by_second_order"] == ["lif0"]
    assert s["max_utilisation"]["output_axons"] <= 1.0


def test_a_neuron_that_cannot_fit_any_core_is_named():
    g = mlp([5000, 2])
    g = g.with_op("fc0", g.op("fc0").replace(weight=np.full((2, 5000), 0.01)))
    with pytest.raises(ConstraintViolation) as e:
        run_pipeline(g, LOIHI1)
    assert str(e.value) == "node 'lif0' neuron 0 alone: 5000 > 4096 allowed (loihi1.core.input_axons)"


def test_packing_shares_cores_and_can_be_turned_off():
    packed = run_pipeline(mlp([20, 30, 10]), LOIHI1).stats("loihi-partition")
    single = run_pipeline(mlp([20, 30, 10]), LOIHI1, options={"loihi-partition": {"pack": False}})
    assert packed["cores"] == 1 and single.stats("loihi-partition")["cores"] == 2


def test_cost_reports_the_first_exceeded_limit():
    assert Cost(2000, 1, 1, 1).excess(LOIHI1) == ("core.neurons", 2000, 1024)
    assert Cost(1, 1, 1, 2_000_000).excess(LOIHI1) == ("core.synapse_memory_bits", 2_000_000, 1048576)
    assert Cost(1, 1, 1, 1).excess(LOIHI1) is None


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=2, max_size=4), st.integers(0, 3))
def test_every_neuron_on_exactly_one_core_and_no_core_over_its_limits(sizes, seed):
    # small cores force splits; fan-in stays below 512 so that every single neuron fits a core
    t = tiny(LOIHI1, neurons=256, input_axons=512, output_axons=1024, synapse_memory_bits=200_000)
    art = snnc.compile(mlp(sizes, seed=seed), t)
    cores = rules.read_cores(art)
    seen = {f"lif{i}": np.zeros(n, int) for i, n in enumerate(sizes[1:])}
    for core in cores:
        for p in core.meta["parts"]:
            for a, b in p.get("runs") or [[p["offset"], p["offset"] + p["count"]]]:
                seen[p["population"]][a:b] += 1
        for rule in (rules.neurons_within_limit, rules.input_axons_within_limit,
                     rules.output_axons_within_limit, rules.synapse_memory_within_limit):
            assert rule(core, t) == []
    assert all(np.all(v == 1) for v in seen.values())


def test_a_host_readout_of_a_split_population_is_split_by_columns():
    from tests.backends.loihi.test_lower import _readout_net
    g = _readout_net()
    whole = snnc.compile(g, "loihi1")
    split = snnc.compile(g, tiny(LOIHI1, neurons=128))
    assert [n for n in split.graph.nodes if n.startswith("fc1")] == ["fc1.from0", "fc1.from1", "fc1.from2"]
    x = spikes(30, 3, 40)
    assert np.allclose(snnc.simulate(whole, x), snnc.simulate(split, x), rtol=0, atol=1e-12)
