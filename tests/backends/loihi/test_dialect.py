"""Every loihi.* op, from the registry: an example, a stepper, int outputs, the stepper
contract (no array changes after it is returned), and the text round trip."""
import numpy as np
import pytest

from snnc.backends.loihi.conv import Conv, SigmaDelta
from snnc.backends.loihi.ops import AxonDelay, Dense, Sparse
from snnc.interp.kernel import Context, stepper_for
from snnc.ir.op import all_ops
from snnc.ir.types import TensorType
from tests.backends.loihi.util import cuba

LOIHI_OPS = sorted(n for n in all_ops() if n.startswith("loihi."))

EXAMPLES = {
    "loihi.cuba": lambda: cuba(n=4, du=[0, 100, 2047, 4095], dv=[0, 10, 4096, 7], vth_mant=[1, 2, 3, 0],
                               bias_mant=[3, -2, 0, 1], bias_exp=[0, 1, 6, 7], refractory=[0, 1, 2, 3]),
    "loihi.dense": lambda: Dense(weight=np.arange(-6, 6).reshape(3, 4), weight_exp=np.array([0, -1, 2]),
                                 delay=np.array([[0, 1, 2, 0]] * 3)),
    "loihi.sparse": lambda: Sparse(indptr=[0, 2, 2, 5], indices=[0, 3, 1, 1, 2], weight=[5, -3, 2, 7, -1],
                                   weight_exp=[0, 3, -2], delay=[0, 1, 0, 2, 1], n_in=4),
    "loihi.axon_delay": lambda: AxonDelay(delay=np.array([0, 3, 1, 2])),
    "loihi.conv": lambda: Conv(weight=np.arange(-6, 6).reshape(3, 1, 2, 2), weight_exp=np.array([0, 1, -1]),
                               in_shape=(1, 2, 2), padding=(1, 0), delay=np.arange(12).reshape(3, 1, 2, 2) % 3,
                               graded=True),
    "loihi.sigma_delta": lambda: SigmaDelta(vth=[0, 1, 2, 3], bias=[2, -1, 0, 5], spike_exp=2, state_exp=3),
}


def test_ops_are_registered():
    assert LOIHI_OPS == ["loihi.axon_delay", "loihi.conv", "loihi.cuba", "loihi.dense", "loihi.sigma_delta",
                         "loihi.sparse"]


@pytest.mark.parametrize("name", LOIHI_OPS)
def test_every_op_has_an_example_and_a_stepper_that_keeps_the_contract(name):
    assert name in EXAMPLES, f"{name} needs an example here"
    op = EXAMPLES[name]()
    assert type(op) is all_ops()[name] and op.verify() == []
    in_shape = (op.n_in,) if name == "loihi.sparse" else (4,)
    out_type = op.infer_types({"input": TensorType(in_shape, "int")})["output"]
    assert out_type.dtype == "int"
    stepper = stepper_for(op)(op, Context(dt=1e-3), 3, "n")
    rng = np.random.default_rng(0)
    kept = []
    for _ in range(8):
        x = rng.integers(-3, 4, (3, *in_shape))
        x_copy = x.copy()
        y = stepper.step({"input": x})["output"]
        assert y.dtype == np.int64 and y.shape == (3, *out_type.shape)
        assert np.array_equal(x, x_copy)                       # inputs untouched
        kept.append((y, y.copy()))
    assert all(np.array_equal(a, b) for a, b in kept)          # outputs never changed afterwards


@pytest.mark.parametrize("name", LOIHI_OPS)
def test_text_round_trip(name):
    text = pytest.importorskip("snnc.ir.text")
    from snnc.ir.graph import GraphBuilder
    op = EXAMPLES[name]()
    in_shape = (op.n_in,) if name == "loihi.sparse" else (4,)
    b = GraphBuilder()
    b.input("x", in_shape)
    b.add("n", op, "x")
    b.output("y", "n", op.infer_types({"input": TensorType(in_shape, "int")})["output"].shape)
    g = b.build()
    assert text.parse_graph(text.print_graph(g)) == g
