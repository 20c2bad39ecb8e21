"""Every analog.* op, from the registry: an example, the stepper contract, the text round trip,
reproducibility of the seeded model, and the op's own rules with their messages."""
import numpy as np
import pytest

from snnc.backends.analog.ops import Crossbar, LIFCircuit, SpikeBuffer, SynapseCircuit
from snnc.interp.engine import run
from snnc.interp.kernel import Context, stepper_for
from snnc.ir.graph import GraphBuilder
from snnc.ir.op import all_ops
from snnc.ir.text import parse_graph, print_graph
from snnc.ir.types import TensorType
from snnc.targets import get_target

ANALOG_OPS = sorted(n for n in all_ops() if n.startswith("analog."))
PCM = get_target("analog").device


def crossbar(**fields) -> Crossbar:
    rng = np.random.default_rng(0)
    base = dict(g_pos=rng.uniform(0, 25, (3, 4)), g_neg=rng.uniform(0, 25, (3, 4)), row_offset=1, n_in=6,
                col_offset=2, n_out=5, w_scale=np.array([25.0, 12.5, 50.0]), gain=np.ones(3),
                bias=np.array([0.1, 0.0, -0.2]), x_max=1.0, dac_bits=7, adc_bits=9, adc_bound=12.0,
                out_noise=0.06, g_max=25.0, prog_noise=PCM.prog_noise, prog_noise_g_ref=25.0,
                nu_mean=PCM.nu_mean, nu_std=PCM.nu_std, read_noise=PCM.read_noise, t_inference=3600.0,
                drift_compensation="global")
    base.update(fields)
    return Crossbar(**base)


def lif(n=4, **fields) -> LIFCircuit:
    base = dict(tau_mem=np.array([0.02, 0.01, np.inf, 0.05])[:n], gain=np.full(n, 40.0), v_leak=np.full(n, 200.0),
                v_init=np.full(n, 200.0), v_threshold=np.full(n, 600.0), v_reset=np.full(n, 200.0),
                v_subtract=np.full(n, 400.0), sigma_tau=0.025, sigma_gain=0.025, sigma_threshold=0.025,
                t_refrac=2e-3)
    base.update(fields)
    return LIFCircuit(**base)


def synapse(n=4, **fields) -> SynapseCircuit:
    base = dict(tau_syn=np.array([5e-3, 1e-3, 2e-2, 5e-3])[:n], sigma_tau=0.025)
    base.update(fields)
    return SynapseCircuit(**base)


EXAMPLES = {"analog.crossbar": (crossbar, (6,)), "analog.lif": (lif, (4,)), "analog.synapse": (synapse, (4,)),
            "analog.buffer": (lambda: SpikeBuffer(ticks=2), (3,))}
DETERMINISTIC = {"analog.buffer"}      # holds values; no device draws


def test_ops_are_registered():
    assert ANALOG_OPS == ["analog.buffer", "analog.crossbar", "analog.lif", "analog.synapse"]


@pytest.mark.parametrize("name", ANALOG_OPS)
def test_every_op_has_an_example_and_a_stepper_that_keeps_the_contract(name):
    assert name in EXAMPLES, f"{name} needs an example here"
    make, in_shape = EXAMPLES[name]
    op = make()
    assert type(op) is all_ops()[name] and op.verify() == []
    out_shape = op.infer_types({"input": TensorType(in_shape)})["output"].shape
    stepper = stepper_for(op)(op, Context(dt=1e-3, seed=3, instances=2), 6, "n")
    rng = np.random.default_rng(0)
    kept = []
    for _ in range(8):
        x = rng.uniform(-2, 2, (6, *in_shape))
        x_copy = x.copy()
        y = stepper.step({"input": x})["output"]
        assert y.shape == (6, *out_shape) and y.dtype == np.float64
        assert np.array_equal(x, x_copy)                       # inputs untouched
        kept.append((y, y.copy()))
    assert all(np.array_equal(a, b) for a, b in kept)          # outputs never changed afterwards


def one_node_graph(name):
    make, in_shape = EXAMPLES[name]
    op = make()
    b = GraphBuilder()
    b.input("x", in_shape)
    b.add("n", op, "x")
    b.output("y", "n", op.infer_types({"input": TensorType(in_shape)})["output"].shape)
    return b.build()


@pytest.mark.parametrize("name", ANALOG_OPS)
def test_text_round_trip(name):
    g = one_node_graph(name)
    assert parse_graph(print_graph(g)) == g


@pytest.mark.parametrize("name", ANALOG_OPS)
def test_a_seed_fixes_every_chip_and_every_read(name):
    """Same seed: identical runs. Another seed: another chip. Instance i of a seed is the same chip
    however many instances run beside it (its own streams)."""
    g = one_node_graph(name)
    x = {"x": np.random.default_rng(1).uniform(0, 1, (20, 2, *EXAMPLES[name][1]))}
    a = run(g, x, seed=5).outputs["y"]
    assert np.array_equal(a, run(g, x, seed=5).outputs["y"])
    if name in DETERMINISTIC:
        assert np.array_equal(a, run(g, x, seed=6).outputs["y"])
        return
    assert not np.array_equal(a, run(g, x, seed=6).outputs["y"])
    three = run(g, x, seed=5, chip_instances=3).outputs["y"]
    assert three.shape == (20, 6, *a.shape[2:])
    assert np.array_equal(three[:, :2], a)
    assert not np.array_equal(three[:, 2:4], a)


def test_crossbar_rules_name_the_field():
    bad = crossbar(row_offset=3)
    assert bad.verify() == ["rows 3..6 do not lie in the input of 6"]
    assert crossbar(g_pos=np.full((3, 4), 30.0)).verify() == ["conductances must lie in [0, g_max = 25]"]
    assert crossbar(w_scale=np.ones(2)).verify() == ["w_scale has shape [2], expected [3]"]
    assert crossbar(adc_bound=0.0).verify() == ["an ADC needs adc_bound > 0"]


def test_lif_rules_name_the_field():
    assert lif(v_reset=np.zeros(3)).verify() == ["v_reset has shape [3], but the neuron shape is [4]"]
    assert lif(tau_mem=np.array([0.02, 0.0, 1.0, 1.0])).verify() == ["tau_mem must be > 0 seconds, got min 0"]
    assert lif(sigma_gain=-0.1).verify() == ["mismatch sigmas must be >= 0"]


def test_synapse_is_the_cuba_current_and_the_buffer_a_delay():
    """Without mismatch the synapse circuit is snn.cuba_li's current (I = α I + (1 − α) x, exact
    method); the buffer gives x[t − ticks], zeros before."""
    x = np.random.default_rng(2).uniform(-1, 1, (12, 2, 4))
    op = synapse(sigma_tau=0.0)
    y = run(one_graph(op, 4), {"x": x}).outputs["y"]
    a = np.exp(-1e-3 / op.tau_syn)
    i = np.zeros((2, 4))
    for t in range(12):
        i = a * i + (1 - a) * x[t]
        assert np.allclose(y[t], i, rtol=0, atol=1e-12)
    y = run(one_graph(SpikeBuffer(ticks=3), 4), {"x": x}).outputs["y"]
    assert np.array_equal(y[3:], x[:-3]) and not y[:3].any()


def one_graph(op, n):
    b = GraphBuilder(dt=1e-3, method="exact")
    b.input("x", (n,))
    b.add("n", op, "x")
    b.output("y", "n", (n,))
    return b.build()


def test_synapse_and_buffer_rules_name_the_field():
    assert synapse(tau_syn=np.array([1e-3, 0.0, 1.0, 1.0])).verify() == ["tau_syn must be finite and > 0 seconds"]
    assert synapse(sigma_tau=-1.0).verify() == ["sigma_tau must be >= 0, got -1"]
    assert SpikeBuffer(ticks=0).verify() == ["ticks must be >= 1, got 0"]
