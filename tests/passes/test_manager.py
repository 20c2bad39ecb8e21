"""The pass registry and the pass manager: registration rules, options, verification after every
pass, statistics, provenance and progress events."""
from dataclasses import dataclass

import numpy as np
import pytest

from snnc.errors import IRVerificationError, UsageError
from snnc.ir.graph import Edge, Node
from snnc.passes import PassResult, all_passes, get_pass, register_pass
from snnc.passes.manager import compose_provenance, pipeline_for, run_pipeline
from snnc.passes.registry import _PASSES
from snnc.targets import get_target
from tests.netbuild import mlp


@pytest.fixture
def scratch_passes():
    """Register passes for one test and remove them afterwards."""
    before = dict(_PASSES)
    yield
    _PASSES.clear()
    _PASSES.update(before)


@dataclass(frozen=True)
class Scale:
    factor: float = 2.0


def test_every_pass_is_kebab_case_with_frozen_options():
    passes = all_passes()
    assert {"discretize", "prune", "place", "loihi-legalize", "loihi-quantize", "loihi-partition"} <= set(passes)
    for name, info in passes.items():
        assert info.name == name and info.summary
        assert info.options.__dataclass_params__.frozen


def test_register_rejects_bad_names_and_mutable_options(scratch_passes):
    with pytest.raises(TypeError, match="not kebab-case"):
        register_pass("Bad_Name")
    @dataclass
    class Mutable:
        x: int = 0
    with pytest.raises(TypeError, match="frozen dataclass"):
        register_pass("fine-name", Mutable)
    register_pass("test-once")(lambda g, t, o: g)
    with pytest.raises(TypeError, match="registered twice"):
        register_pass("test-once")(lambda g, t, o: g)


def test_options_from_dict_and_unknown_fields():
    info = get_pass("prune")
    assert info.make_options({"threshold": 0.5}).threshold == 0.5
    with pytest.raises(UsageError) as e:
        info.make_options({"treshold": 0.5})
    assert str(e.value) == ("pass 'prune' has no option(s) treshold (options: max_fan_in, threshold; "
                            "see `snnc options`)")
    with pytest.raises(UsageError, match=r"^option prune.threshold = 2.0: out of range, allowed \[0, 1\] — "):
        info.make_options({"threshold": 2.0})


def test_unknown_pass_and_option_for_a_pass_not_in_the_pipeline():
    with pytest.raises(UsageError, match="unknown pass 'nope'"):
        get_pass("nope")
    with pytest.raises(UsageError) as e:
        run_pipeline(mlp([4, 3]), get_target("loihi"), pipeline=["discretize"], options={"prune": {}})
    assert str(e.value) == "option 'prune' names no pass of this pipeline (passes: discretize)"


def test_pipeline_is_the_family_list():
    assert pipeline_for(get_target("loihi1")) == pipeline_for(get_target("loihi")) == (
        "discretize", "prune", "loihi-legalize", "loihi-quantize", "loihi-partition", "place")


def test_a_pass_that_breaks_the_graph_is_named(scratch_passes):
    @register_pass("test-break")
    def _break(graph, target, options):
        """Drop every edge."""
        return graph.replace(edges=[])
    with pytest.raises(IRVerificationError) as e:
        run_pipeline(mlp([4, 3]), get_target("loihi"), pipeline=["test-break"])
    assert str(e.value).startswith("after pass 'test-break': ")


def test_records_stats_options_times_and_events(scratch_passes):
    @register_pass("test-scale", Scale)
    def _scale(graph, target, options):
        """Scale the first layer's weights."""
        op = graph.op("fc0")
        return PassResult(graph.with_op("fc0", op.replace(weight=op.weight * options.factor)),
                          stats={"scaled": 1})
    events = []
    g = mlp([4, 3])
    res = run_pipeline(g, get_target("loihi"), pipeline=["test-scale", "discretize"],
                       options={"test_scale": {"factor": 3.0}}, progress=events.append)
    assert np.allclose(res.graph.op("fc0").weight, 3 * g.op("fc0").weight)
    assert [r.name for r in res.records] == ["test-scale", "discretize"]
    assert res.records[0].to_json() == {"name": "test-scale", "options": {"factor": 3.0}, "stats": {"scaled": 1},
                                        "nodes_before": 4, "nodes_after": 4}
    assert all(r.seconds >= 0 for r in res.records)
    assert [(e.index, e.phase) for e in events] == [(1, "start"), (1, "end"), (2, "start"), (2, "end")]
    assert str(events[1]).startswith("[1/2] test-scale: scaled 1 (")


def test_provenance_follows_splits_and_removals():
    g = mlp([4, 3])
    so_far = {n: (n,) for n in g.nodes}
    kept = g.replace(nodes=[Node("x", g.op("x")), Node("lif0.a", g.op("lif0")), Node("y", g.op("y"))],
                     edges=[Edge("x", "lif0.a")], inputs=["x"], outputs=["y"])
    out = compose_provenance(so_far, {"lif0": ("lif0.a",)}, kept)
    assert out == {"x": ("x",), "fc0": (), "lif0": ("lif0.a",), "y": ("y",)}
    res = run_pipeline(mlp([6, 5, 4]), get_target("loihi1"))
    assert res.provenance["fc1"] == ("fc1",) and res.provenance["lif1"] == ("lif1",)
