"""Every truenorth.* op, from the registry: an example, a stepper that keeps the contract, int
outputs, the text round trip and exact messages for broken fields; the target data and
the dialect's constants agree."""
import json
import shutil

import numpy as np
import pytest

from snnc.backends.truenorth import ops
from snnc.errors import MalformedInputError
from snnc.interp.kernel import Context, stepper_for
from snnc.ir.op import all_ops
from snnc.ir.types import TensorType
from snnc.targets import DATA_DIR, get_target, load_target_file
from tests.backends.truenorth.util import core

TN_OPS = sorted(n for n in all_ops() if n.startswith("truenorth."))

EXAMPLES = {
    "truenorth.core": lambda: core(4, 3, axon_type=[0, 1, 2, 3], crossbar=np.eye(4, 3), weight=[[1, -2, 3, -4]] * 3,
                                   stochastic_weight=[[0, 1, 0, 0]] * 3, leak=[1, -1, 0], leak_reversal=[0, 1, 0],
                                   stochastic_leak=[0, 0, 1], alpha=[2, 3, 1], beta=[0, 4, 2],
                                   threshold_mask_bits=[0, 2, 0], reset_mode=[0, 1, 2], saturate=[1, 0, 1],
                                   reset_value=[0, -2, 3]),
    "truenorth.route": lambda: ops.Route(source=[0, 3, 3, 1], axon=[2, 0, 1, 2], delay=[0, 1, 15, 2], n_in=4,
                                         n_axons=3),
}


def test_ops_are_registered():
    assert TN_OPS == ["truenorth.core", "truenorth.route"]


def _types(name, op):
    in_shape = (op.n_in,) if name == "truenorth.route" else (op.axons,)
    return in_shape, op.infer_types({"input": TensorType(in_shape, "int")})["output"]


@pytest.mark.parametrize("name", TN_OPS)
def test_every_op_has_an_example_and_a_stepper_that_keeps_the_contract(name):
    assert name in EXAMPLES, f"{name} needs an example here"
    op = EXAMPLES[name]()
    assert type(op) is all_ops()[name] and op.verify() == []
    in_shape, out_type = _types(name, op)
    assert out_type.dtype == "int"
    stepper = stepper_for(op)(op, Context(dt=1e-3, seed=1), 3, "n")
    rng = np.random.default_rng(0)
    kept = []
    for _ in range(8):
        x = rng.integers(0, 2, (3, *in_shape))
        x_copy = x.copy()
        y = stepper.step({"input": x})["output"]
        assert y.dtype == np.int64 and y.shape == (3, *out_type.shape)
        assert np.array_equal(x, x_copy)
        kept.append((y, y.copy()))
    assert all(np.array_equal(a, b) for a, b in kept)


@pytest.mark.parametrize("name", TN_OPS)
def test_text_round_trip(name):
    from snnc.ir.graph import GraphBuilder
    from snnc.ir.text import parse_graph, print_graph
    op = EXAMPLES[name]()
    in_shape, out_type = _types(name, op)
    b = GraphBuilder()
    b.input("x", in_shape)
    b.add("n", op, "x")
    b.output("y", "n", out_type.shape)
    g = b.build()
    assert parse_graph(print_graph(g)) == g


def test_broken_fields_give_exact_messages():
    assert core(2, 1, crossbar=[[1], [2]]).verify() == ["crossbar must lie in [0, 1], got [1, 2]"]
    assert core(1, 1, axon_type=[4]).verify() == ["axon_type must lie in [0, 3], got [4, 4]"]
    assert core(1, 1, reset_mode=3).verify() == ["reset_mode must lie in [0, 2], got [3, 3]"]
    assert core(1, 1, threshold_mask_bits=9).verify() == ["threshold_mask_bits must lie in [0, 8], got [9, 9]"]
    bad = core(1, 2).replace(leak=np.zeros(3, np.int64))
    assert bad.verify() == ["leak has shape [3], expected [2]"]
    route = ops.Route(source=[0], axon=[0], delay=[16], n_in=1, n_axons=1)
    assert route.verify() == ["delay must lie in [0, 15], got [16, 16]"]
    route = ops.Route(source=[1], axon=[0], delay=[1], n_in=1, n_axons=1)
    assert route.verify() == ["source must lie in [0, 0], got [1, 1]"]


def test_target_data_repeats_the_dialect_constants():
    t = get_target("truenorth")
    assert t.family == "truenorth" and t.total_cores == 4096 and tuple(t.mesh) == (64, 64)
    assert (t.core.axons, t.core.neurons, t.core.destinations_per_neuron) == (256, 256, 1)
    assert t.core.axon_types == ops.AXON_TYPES and t.core.scheduler_ticks == ops.SCHEDULER_TICKS
    assert t.formats.prn_bits == ops.PRN_BITS
    assert (t.formats.weight.lo, t.formats.weight.hi, t.formats.delay.lo, t.formats.delay.hi) == (-255, 255, 1, 15)
    assert t.timing.tick_s == 0.001 and t.energy.synaptic_event_pj > 0
    assert "[recall" in t.formats.source and "ASSUMED" in t.energy.source     # unverified facts say so
    assert "\n" not in t.describe() and t.describe().startswith("truenorth truenorth 1 chip × 4096 cores")


def _edited(tmp_path, edit):
    data = json.loads((DATA_DIR / "truenorth.json").read_text())
    edit(data)
    path = tmp_path / "truenorth.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedInputError) as err:
        load_target_file(path)
    return str(err.value)


def test_target_file_errors_name_the_key(tmp_path):
    assert _edited(tmp_path, lambda d: d["formats"].update(delay=[0, 15])) == \
        "truenorth.json:formats.delay: [0, 15] must lie within [1, 15] (a scheduler of 16 ticks)"
    assert _edited(tmp_path, lambda d: d["core"].pop("axon_types")) == "truenorth.json:core.axon_types: missing"
    assert _edited(tmp_path, lambda d: d.update(cores_per_chip=4097)) == \
        "truenorth.json:cores_per_chip: 4097 cores do not fit a 64×64 tile mesh of 1 cores each (4096 positions)"
    assert _edited(tmp_path, lambda d: d["neurons"].update(reset_modes=["normal", "hard"])) == \
        "truenorth.json:neurons.reset_modes: expected a non-empty subset of normal, linear, none, got ['normal', 'hard']"
