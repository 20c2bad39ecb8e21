"""PyTorch models as the snnTorch tutorials write them: `forward` loops over `num_steps` and
returns stacked spikes. snnc reads the per-tick body of the traced loop; every test compares
with snnTorch's own run of the same module, spike for spike."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
nn = torch.nn

from snntorch import utils as snn_utils  # noqa: E402

import snnc  # noqa: E402
from snnc.errors import Guess, UnsupportedOpError, UsageError  # noqa: E402
from snnc.interp.engine import run  # noqa: E402

NUM_STEPS, B = 25, 3


class TutorialNet(nn.Module):
    """snnTorch tutorial 5's network (784-1000-10 Leaky, β = 0.95), reading x[step] per tick."""

    def __init__(self, num_steps=NUM_STEPS, static=False, beta=0.95, **neuron):
        super().__init__()
        self.num_steps, self.static = num_steps, static
        self.fc1 = nn.Linear(784, 1000)
        self.lif1 = snn.Leaky(beta=beta, **neuron)
        self.fc2 = nn.Linear(1000, 10)
        self.lif2 = snn.Leaky(beta=beta, **neuron)

    def forward(self, x):
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        spk2_rec, mem2_rec = [], []
        for step in range(self.num_steps):
            cur1 = self.fc1(x if self.static else x[step])
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)


def heaviside(u):
    """snnTorch's spike forward, keeping the dtype (its own surrogates return float32)."""
    return (u > 0).to(u.dtype)


def tutorial_net(seed=0, double=True, **kw):
    """With `double`, the spike function keeps float64 so that snnTorch can run in double."""
    torch.manual_seed(seed)
    return TutorialNet(**kw, **(dict(spike_grad=heaviside) if double else {}))


def spikes(seed=1, shape=(NUM_STEPS, B, 784), p=0.3):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p).float()


def load_quietly(model, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = snnc.load(model, **kw)
    return g, [str(w.message) for w in caught if issubclass(w.category, Guess)]


def reference(net, x, double=False):
    """snnTorch's own run: the first returned stack, as float64 numpy."""
    with torch.no_grad():
        if double:
            net, x = net.double(), x.double()
        out = net(x)
        return (out[0] if isinstance(out, tuple) else out).double().numpy()


def interp(g, x):
    return run(g, {g.inputs[0]: np.asarray(x, dtype=np.float64)}).outputs[g.outputs[0]]


# -- the tutorial network -----------------------------------------------------------------------
def test_tutorial_network_imports_as_its_one_tick_body():
    g, notes = load_quietly(tutorial_net(), sample_input=spikes())
    assert list(g.nodes) == ["x", "fc1", "lif1", "fc2", "lif2", "output"]
    assert (g.inputs, g.outputs) == (("x",), ("output",))
    assert g.op("x").shape == (784,) and g.op("lif1").reset_mode == "subtract"
    assert g.op("lif1").reset_timing == "next_step" and g.nodes["lif1"].origin == "lif1"
    assert any("also returns a neuron's state stacked over ticks (returned value 2 of 2)" in n for n in notes)


@pytest.mark.parametrize("double", [True, False], ids=["float64", "float32"])
def test_tutorial_network_spikes_equal_snntorch(double):
    """float64: identical spikes; float32 (as users run it) against snnc's float64: >= 99.9 %."""
    net, x = tutorial_net(double=double), spikes()
    g, _ = load_quietly(net, sample_input=x)
    want, got = reference(net, x, double), interp(g, x)
    assert got.shape == want.shape == (NUM_STEPS, B, 10)
    assert 0.01 < want.mean() < 0.5                       # the run spikes, it is not silence
    agreement = float(np.mean(got == want))
    assert agreement == 1.0 if double else agreement >= 0.999, agreement


def test_static_input_read_every_tick_is_announced_and_repeats():
    net = tutorial_net(static=True)
    x = torch.rand(B, 784, generator=torch.Generator().manual_seed(2))
    g, notes = load_quietly(net, sample_input=x)
    assert g.op("x").shape == (784,)
    assert any(n.startswith(f"TutorialNet.forward feeds the same input 'x' to each of its {NUM_STEPS} ticks") and
               f"--ticks {NUM_STEPS}" in n for n in notes), notes
    want = reference(net, x, double=True)
    assert 0 < want.mean()
    np.testing.assert_array_equal(interp(g, np.repeat(x.double().numpy()[None], NUM_STEPS, axis=0)), want)


def test_loop_length_from_the_input_shape_needs_the_sample():
    class ShapeLoop(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 4)
            self.lif = snn.Leaky(beta=0.8, threshold=0.5, spike_grad=heaviside)

        def forward(self, x):
            mem = self.lif.init_leaky()
            out = []
            for t in range(x.shape[0]):
                spk, mem = self.lif(self.fc(x[t]), mem)
                out.append(spk)
            return torch.stack(out)

    torch.manual_seed(3)
    net, x = ShapeLoop(), spikes(4, (40, 5, 6), 0.5)
    with torch.no_grad():
        net.fc.weight.mul_(3.0)
    with pytest.raises(UnsupportedOpError, match=r"torch.fx cannot trace ShapeLoop.forward .*by sample_input's shape"):
        snnc.load(net)
    g, _ = load_quietly(net, sample_input=x)
    want = reference(net, x, double=True)
    assert 0 < want.mean() < 1
    np.testing.assert_array_equal(interp(g, x), want)


def test_init_hidden_neurons_reset_inside_forward():
    class Hidden(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(8, 12), nn.Linear(12, 3)
            self.lif1 = snn.Leaky(beta=0.9, init_hidden=True, spike_grad=heaviside)
            self.lif2 = snn.Leaky(beta=0.7, init_hidden=True, reset_mechanism="zero", spike_grad=heaviside)

        def forward(self, x):
            self.lif1.reset_mem()
            snn_utils.reset(self.lif2)
            out = []
            for step in range(x.size(0)):
                out.append(self.lif2(self.fc2(self.lif1(self.fc1(x[step])))))
            return torch.stack(out, dim=0)

    torch.manual_seed(5)
    net, x = Hidden(), spikes(6, (30, 4, 8), 0.5)
    with torch.no_grad():
        net.fc1.weight.mul_(3.0)
        net.fc2.weight.mul_(3.0)
    g, _ = load_quietly(net, sample_input=x)
    want = reference(net, x, double=True)
    assert 0 < want.mean() < 1
    np.testing.assert_array_equal(interp(g, x), want)


def test_synaptic_state_pairs_thread_through_the_loop():
    class Syn(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 7)
            self.syn = snn.Synaptic(alpha=0.8, beta=0.9, threshold=0.4, spike_grad=heaviside)

        def forward(self, x):
            syn, mem = self.syn.init_synaptic()
            spk_rec = []
            for step in range(12):
                spk, syn, mem = self.syn(self.fc(x[step]), syn, mem)
                spk_rec.append(spk)
            return torch.stack(spk_rec)

    torch.manual_seed(7)
    net, x = Syn(), spikes(8, (12, 4, 5), 0.5)
    g, _ = load_quietly(net, sample_input=x)
    assert type(g.op("syn")).__name__ == "CubaLIF"
    want = reference(net, x, double=True)
    assert 0 < want.mean() < 1
    np.testing.assert_array_equal(interp(g, x), want)


def test_dt_default_is_announced():
    _, notes = load_quietly(tutorial_net(), sample_input=spikes())
    assert "TutorialNet: no dt in the model; assuming dt = 0.001 s (the time constants are τ = dt/(1 − β), spikes " \
           "do not depend on it; pass load(..., dt=...) or --dt)" in notes
    _, notes = load_quietly(tutorial_net(), sample_input=spikes(), dt=1e-4)
    assert not any("assuming dt" in n for n in notes)


# -- what a loop must look like -----------------------------------------------------------------
class Loop(nn.Module):
    """A one-layer loop whose body is chosen by `variant`, for the refusals."""

    def __init__(self, variant):
        super().__init__()
        self.variant = variant
        self.fc, self.fc_back = nn.Linear(4, 4), nn.Linear(4, 4)
        self.lif = snn.Leaky(beta=0.9)

    def forward(self, x):
        mem = self.lif.init_leaky() if self.variant != "nonzero start" else torch.ones(4)
        spk, out = torch.zeros(4), []
        for step in range(5):
            cur = self.fc(x if self.variant == "list" else x[4 - step] if self.variant == "reversed" else x[step])
            if self.variant == "first tick differs" and step == 0:
                cur = cur * 2.0
            if self.variant == "feedback" and step > 0:
                cur = cur + self.fc_back(spk)
            spk, mem = self.lif(cur, mem if self.variant != "foreign state" or step == 0 else cur)
            out.append(spk)
        if self.variant == "list":
            return out[-1]
        return torch.stack(out)


@pytest.mark.parametrize("variant, error, message", [
    ("reversed", UsageError, r"^Loop.forward: tick 0 reads x\[4\]; snnc reads a loop whose tick k reads x\[k\]$"),
    ("first tick differs", UsageError, r"^Loop.forward: tick 1 does not compute what tick 0 computes \(step 3 "),
    ("feedback", UnsupportedOpError, r"torch, node 'lif', op 'torch.nn.Module': tick 1 uses this neuron's call of "
                                     r"tick 0 outside its state argument"),
    ("nonzero start", UnsupportedOpError, r"node 'lif', op 'neuron': it starts from '_tensor_constant0', which is "
                                          r"not zero"),
    ("foreign state", UnsupportedOpError, r"node 'lif', op 'neuron': at tick 1 its state argument is 'fc_1', not "
                                          r"the state its own call returned at tick 0"),
])
def test_loops_snnc_cannot_read_are_refused_naming_the_tick(variant, error, message):
    with pytest.raises(error, match=message):
        snnc.load(Loop(variant), sample_input=torch.zeros(5, 1, 4))


def test_a_neuron_called_per_tick_without_stacked_outputs_says_what_is_read():
    with pytest.raises(UnsupportedOpError, match=r"called twice in one forward; snnc reads a forward as one tick, "
                                                 r"where each neuron module runs once, or as a loop over time that "
                                                 r"returns torch.stack\(<one value per tick>, dim=0\)"):
        snnc.load(Loop("list"), sample_input=torch.zeros(1, 4))


# -- compiling, and writing NIR -------------------------------------------------------------------
def test_tutorial_network_compiles_for_loihi_from_the_live_module():
    net, x = tutorial_net(), spikes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Guess)
        art = snnc.compile(net, "loihi", load_options={"sample_input": x})
    assert art.manifest["resources"]["totals"]["neurons"] == 1010 + 1       # + the always-on neuron of the biases
    y = snnc.simulate(art, x.double().numpy())
    want = reference(net, x, double=True)
    assert y.shape == want.shape and 0 < y.mean()
    assert float(np.mean(y == want)) >= 0.95       # 8-bit weights move a few threshold crossings


def test_convert_writes_nir_that_the_nir_package_reads_and_that_runs_as_snntorch(tmp_path):
    """snnTorch's own export_to_nir cannot export this scalar-β Leaky network (its 0-d
    parameters fail nir's type check); snnc.convert writes it."""
    nir = pytest.importorskip("nir")
    net, x = tutorial_net(), spikes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Guess)
        snnc.convert(net, tmp_path / "tutorial.nir", sample_input=x)
    graph = nir.read(tmp_path / "tutorial.nir")
    kinds = {k: type(v).__name__ for k, v in graph.nodes.items()}
    assert kinds == {"x": "Input", "fc1": "Affine", "lif1": "LIF", "fc2": "Affine", "lif2": "LIF",
                     "output": "Output"}
    np.testing.assert_array_equal(graph.nodes["fc1"].weight, net.fc1.weight.detach().double().numpy())
    back = snnc.load(tmp_path / "tutorial.nir")
    np.testing.assert_array_equal(interp(back, x), reference(net, x, double=True))
