"""The torch frontend against snnTorch's and Norse's own simulation, and its structure and errors.

Each simulation test builds Linear → neuron → Linear → neuron with random weights,
steps it with the framework for T ticks on random input (batch B), imports it, runs the
float interpreter, and compares every layer's spikes. The framework runs in float32
(its own precision) and in float64. A flip is accepted only if it is explained by
rounding: at the first flip of each batch element, every flipped neuron's tested margin
v~ − θ (recorded inside the framework's own forward) is within `eps` of zero; later flips
in that element follow from the first. Agreement must be >= 99.9 % in float32 and exact
in float64 (where the parameters are the same numbers and only the order of operations
differs).
"""
from __future__ import annotations

import contextlib
from collections import defaultdict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
pytest.importorskip("norse")
nn = torch.nn

import norse.torch.functional.iaf as norse_iaf  # noqa: E402
import norse.torch.functional.lif as norse_lif  # noqa: E402
import norse.torch.functional.lif_box as norse_lif_box  # noqa: E402
from norse.torch.functional.iaf import IAFParameters  # noqa: E402
from norse.torch.functional.leaky_integrator import LIParameters  # noqa: E402
from norse.torch.functional.leaky_integrator_box import LIBoxParameters  # noqa: E402
from norse.torch.functional.lif import LIFParameters  # noqa: E402
from norse.torch.functional.lif_box import LIFBoxParameters  # noqa: E402
from norse.torch.functional.reset import reset_subtract, reset_value  # noqa: E402
from norse.torch.module.iaf import IAFCell  # noqa: E402
from norse.torch.module.leaky_integrator import LICell  # noqa: E402
from norse.torch.module.leaky_integrator_box import LIBoxCell  # noqa: E402
from norse.torch.module.lif import LIFCell, LIFRecurrentCell  # noqa: E402
from norse.torch.module.lif_box import LIFBoxCell  # noqa: E402
from norse.torch.module.sequential import SequentialState  # noqa: E402

import snnc.torch as snnc_torch  # noqa: E402
from snnc.errors import UnsupportedOpError, UsageError  # noqa: E402
from snnc.frontends.torch import load  # noqa: E402
from snnc.interp.engine import run  # noqa: E402

T, B, N_IN, N_HID, N_OUT = 120, 4, 10, 32, 8
EPS = {torch.float32: 1e-4, torch.float64: 1e-9}
MIN_AGREEMENT = {torch.float32: 0.999, torch.float64: 1.0}


def heaviside(u):
    """snnTorch's spike forward, keeping the dtype (its own surrogates return float32)."""
    return (u > 0).to(u.dtype)


def inputs(seed=0) -> torch.Tensor:
    return torch.rand(T, B, N_IN, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 1.5 - 0.25


def linears(gain: float):
    torch.manual_seed(1)
    fc1, fc2 = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_OUT)
    with torch.no_grad():
        fc1.weight.mul_(gain)
        fc2.weight.mul_(gain)
    return fc1, fc2


# -- recording what the framework tests against its threshold ----------------------------------
class Recorder:
    """Spikes and margins v~ − θ per neuron module, appended on each spiking call."""

    def __init__(self):
        self.spikes, self.margins = defaultdict(list), defaultdict(list)
        self.current = None

    def add(self, name, spikes, margin):
        self.spikes[name].append(spikes.detach().double().numpy().copy())
        self.margins[name].append(margin.detach().double().numpy().copy())

    def arrays(self, names):
        return ([np.stack(self.spikes[n]) for n in names], [np.stack(self.margins[n]) for n in names])


def record_snntorch(module, name, rec: Recorder):
    fire = module.fire

    def recording_fire(mem):
        spk = fire(mem)
        rec.add(name, spk, mem - module.threshold)
        return spk
    module.fire = recording_fire


@contextlib.contextmanager
def record_norse(modules: dict, rec: Recorder):
    """Patch Norse's threshold (where its steps call it) and tag each cell's calls with its name."""
    originals = {mod: mod.threshold for mod in (norse_lif, norse_lif_box, norse_iaf)}

    def recording_threshold(x, method, alpha):
        z = originals[norse_lif](x, method, alpha)
        rec.add(rec.current, z, x)
        return z
    for name, cell in modules.items():
        def tagged(*args, _step=cell.activation, _name=name):
            rec.current = _name
            return _step(*args)
        cell.activation = tagged
    for mod in originals:
        mod.threshold = recording_threshold
    try:
        yield
    finally:
        for mod, f in originals.items():
            mod.threshold = f


# -- comparing ------------------------------------------------------------------------------------
def check_agreement(label, ref, got, margins, dtype, scale=None):
    """Assert that `got` equals `ref` (lists of [T, B, N] per layer) up to explained flips;
    return the agreement fraction."""
    total = sum(r.size for r in ref)
    flips = sum(int((r != g).sum()) for r, g in zip(ref, got))
    for b in range(B):
        first = min(((t, layer) for layer, (r, g) in enumerate(zip(ref, got))
                     for t in np.nonzero((r[:, b] != g[:, b]).any(axis=-1))[0][:1]), default=None)
        if first is None:
            continue
        t, layer = first
        flipped = ref[layer][t, b] != got[layer][t, b]
        margin = np.abs(margins[layer][t, b][flipped])
        limit = EPS[dtype] * max(1.0, scale or 1.0)
        assert np.all(margin <= limit), (
            f"{label}: first flip of batch {b} at tick {t}, layer {layer}: margins {margin} > {limit} "
            f"(not float rounding)")
    agreement = 1.0 - flips / total
    print(f"agreement {label} {str(dtype)[6:]}: {agreement:.6f} ({flips} flips / {total})")
    assert agreement >= MIN_AGREEMENT[dtype], f"{label}: agreement {agreement:.6f}"
    return agreement


def interpret(model, x, names, sample=None):
    g = load(model, sample_input=x[0] if sample is None else sample)
    out = run(g, {g.inputs[0]: x.double().numpy()}, record=names)
    return g, [out.recorded[n] for n in names], out


def assert_exercised(spikes):
    """Every layer spikes, but not all the time: the comparison tests integration and reset."""
    rates = [float(s.mean()) for s in spikes]
    assert all(0.02 < r < 0.8 for r in rates), f"spike rates {rates} do not exercise the neurons"


# -- snnTorch ------------------------------------------------------------------------------------
SNNTORCH_CASES = {
    # name: (constructor(n, dtype) -> neuron, weight gain)
    "Leaky": (lambda n, **kw: snn.Leaky(beta=0.9, **kw), 2.0),
    "Synaptic": (lambda n, **kw: snn.Synaptic(alpha=0.8, beta=0.9, **kw), 0.6),
    "RLeaky": (lambda n, **kw: snn.RLeaky(beta=0.9, linear_features=n, **kw), 2.0),
    "RLeaky-V": (lambda n, **kw: snn.RLeaky(beta=0.9, all_to_all=False, V=torch.linspace(-0.5, 0.5, n),
                                            **kw), 2.0),
    "RSynaptic": (lambda n, **kw: snn.RSynaptic(alpha=0.8, beta=0.9, linear_features=n, **kw), 0.6),
    "Lapicque": (lambda n, **kw: snn.Lapicque(beta=0.9, time_step=1e-3, **kw), 12.0),
}
RESETS = [("subtract", True), ("zero", True), ("none", True), ("zero", False), ("none", False)]


def snntorch_model(case, reset, delay, dtype, **extra):
    make, gain = SNNTORCH_CASES[case]
    fc1, fc2 = linears(gain)
    kw = dict(init_hidden=True, reset_mechanism=reset, **extra)
    if case != "Lapicque":
        kw["reset_delay"] = delay
    if dtype == torch.float64:
        kw["spike_grad"] = heaviside
    return nn.Sequential(fc1, make(N_HID, **kw), fc2, make(N_OUT, **kw)).to(dtype)


def run_snntorch(model, x, dtype, names=("1", "3")):
    rec = Recorder()
    for n in names:
        record_snntorch(model.get_submodule(n), n, rec)
    with torch.no_grad():
        for t in range(T):
            model(x[t].to(dtype))
    return rec.arrays(names)


# Lapicque has no reset_delay option; snnTorch's own RSynaptic(reset_delay=False) forward fails with
# init_hidden=True (see test_snntorch_rsynaptic_without_reset_delay_runs_as_with_it).
SNNTORCH_RUNS = [(case, reset, delay) for case in SNNTORCH_CASES for reset, delay in RESETS
                 if delay or case not in ("Lapicque", "RSynaptic")]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case,reset,delay", SNNTORCH_RUNS, ids=[f"{c}-{r}-delay{d}" for c, r, d in SNNTORCH_RUNS])
def test_snntorch_neurons_match_snntorch(case, reset, delay, dtype):
    x = inputs()
    model = snntorch_model(case, reset, delay, dtype)
    _, got, _ = interpret(model, x, ["1", "3"])
    ref, margins = run_snntorch(model, x, dtype)
    assert_exercised(ref)
    check_agreement(f"snntorch.{case} {reset} reset_delay={delay}", ref, got, margins, dtype)


def test_snntorch_per_neuron_learnable_beta_threshold_and_graded_spikes():
    dtype = torch.float64
    fc1, fc2 = linears(2.0)
    betas = [torch.linspace(0.5, 0.95, n, dtype=dtype) for n in (N_HID, N_OUT)]
    thetas = [torch.linspace(0.5, 1.5, n, dtype=dtype) for n in (N_HID, N_OUT)]
    model = nn.Sequential(
        fc1, snn.Leaky(beta=betas[0], threshold=thetas[0], learn_beta=True, learn_threshold=True,
                       init_hidden=True, spike_grad=heaviside, graded_spikes_factor=0.5),
        fc2, snn.Leaky(beta=betas[1], threshold=thetas[1], learn_beta=True, learn_threshold=True,
                       init_hidden=True, spike_grad=heaviside)).to(dtype)
    x = inputs(3)
    g, got, _ = interpret(model, x, ["1", "3"])
    assert g.op("1.graded").name == "snn.scale" and g.nodes["1.graded"].origin == "1"
    ref, margins = run_snntorch(model, x, dtype)
    ref[0] = ref[0] / 0.5                            # snnTorch returns g·z; the neuron node outputs z
    check_agreement("snntorch.Leaky per-neuron beta/threshold, graded", ref, got, margins, dtype)


def test_snntorch_beta_one_is_integrate_and_fire():
    dtype = torch.float64
    model = snntorch_model("Leaky", "subtract", True, dtype)
    model[1].beta.fill_(1.0)
    model[3].beta.fill_(1.0)
    x = inputs(4) * 0.1
    g, got, _ = interpret(model, x, ["1", "3"])
    assert g.op("1").name == "snn.if" and g.op("1").reset_timing == "next_step"
    ref, margins = run_snntorch(model, x, dtype)
    check_agreement("snntorch.Leaky beta=1", ref, got, margins, dtype)


class ExplicitStateNet(nn.Module):
    """snnTorch's explicit-state style: state in and out of forward, one tick per call."""

    def __init__(self, dtype):
        super().__init__()
        self.fc1, self.fc2 = linears(0.6)
        kw = dict(spike_grad=heaviside) if dtype == torch.float64 else {}
        self.lif1 = snn.Synaptic(alpha=0.8, beta=0.9, **kw)
        self.lif2 = snn.Leaky(beta=0.9, reset_mechanism="zero", **kw)

    def forward(self, x, syn1, mem1, mem2):
        spk1, syn1, mem1 = self.lif1(self.fc1(x), syn1, mem1)
        spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
        return spk2, syn1, mem1, mem2


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_snntorch_explicit_state_style(dtype):
    model = ExplicitStateNet(dtype).to(dtype)
    x = inputs(5)
    g, got, _ = interpret(model, x, ["lif1", "lif2"])
    assert list(g.inputs) == ["x"] and list(g.outputs) == ["output"]   # state arguments are not inputs
    rec = Recorder()
    record_snntorch(model.lif1, "lif1", rec)
    record_snntorch(model.lif2, "lif2", rec)
    syn1, mem1 = model.lif1.reset_mem()
    mem2 = model.lif2.reset_mem()
    with torch.no_grad():
        for t in range(T):
            _, syn1, mem1, mem2 = model(x[t].to(dtype), syn1, mem1, mem2)
    ref, margins = rec.arrays(["lif1", "lif2"])
    check_agreement("snntorch explicit state (Synaptic, Leaky zero)", ref, got, margins, dtype)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_snntorch_rsynaptic_without_reset_delay_runs_as_with_it(reset):
    """RSynaptic's reset_delay=False block only rebinds local names: with explicit, full-shape
    state it computes exactly what reset_delay=True computes, and it is imported as such."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, _ = linears(0.6)
            self.lif = snn.RSynaptic(alpha=0.8, beta=0.9, linear_features=N_HID, reset_mechanism=reset,
                                     reset_delay=False, spike_grad=heaviside)

        def forward(self, x, spk, syn, mem):
            return self.lif(self.fc1(x), spk, syn, mem)

    model = Net().double()
    x = inputs(10)
    g, got, _ = interpret(model, x, ["lif"])
    assert g.op("lif").reset_timing == ("next_step" if reset == "subtract" else "immediate")
    rec = Recorder()
    record_snntorch(model.lif, "lif", rec)
    state = [torch.zeros(B, N_HID, dtype=torch.float64) for _ in range(3)]
    with torch.no_grad():
        for t in range(T):
            state = model(x[t], *state)
    ref, margins = rec.arrays(["lif"])
    check_agreement(f"snntorch.RSynaptic {reset} reset_delay=False (explicit state)", ref, got, margins,
                    torch.float64)


def test_snntorch_membrane_readout_becomes_leaky_integrator():
    class Readout(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = linears(2.0)
            self.lif1 = snn.Leaky(beta=0.9, init_hidden=True, spike_grad=heaviside)
            self.out = snn.Leaky(beta=0.8, reset_mechanism="none", spike_grad=heaviside)

        def forward(self, x, mem):
            _, mem = self.out(self.fc2(self.lif1(self.fc1(x))), mem)
            return mem

    model = Readout().double()
    x = inputs(6)
    g, _, res = interpret(model, x, [])
    assert g.op("out").name == "snn.li"
    mem, ref = model.out.reset_mem(), []
    with torch.no_grad():
        for t in range(T):
            mem = model(x[t], mem)
            ref.append(mem.numpy().copy())
    np.testing.assert_allclose(res.outputs["output"], np.stack(ref), rtol=1e-12, atol=1e-12)


def test_snntorch_reset_mapping_is_recorded_in_ops():
    ops = {}
    for case in ("Leaky", "Synaptic", "RLeaky"):
        for reset, delay in [("subtract", True), ("zero", True), ("zero", False)]:
            g = load(snntorch_model(case, reset, delay, torch.float32))
            op = g.op("1")
            ops[case, reset, delay] = (op.reset_mode, op.reset_timing, op.t_refrac)
    dt = 1e-3
    assert ops == {
        ("Leaky", "subtract", True): ("subtract", "next_step", 0.0),
        ("Leaky", "zero", True): ("value", "next_step", 0.0),
        ("Leaky", "zero", False): ("value", "immediate", 0.0),
        ("Synaptic", "subtract", True): ("subtract", "next_step", 0.0),
        ("Synaptic", "zero", True): ("value", "immediate", dt),
        ("Synaptic", "zero", False): ("value", "immediate", 0.0),
        ("RLeaky", "subtract", True): ("subtract", "next_step", 0.0),
        ("RLeaky", "zero", True): ("value", "immediate", dt),
        ("RLeaky", "zero", False): ("value", "immediate", 0.0),
    }


def test_snntorch_beta_to_tau_and_gain():
    g = load(nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=0.75, init_hidden=True)), dt=1e-4)
    op = g.op("1")
    assert g.dt == 1e-4 and g.method == "euler"
    np.testing.assert_array_equal(op.tau, np.full(4, 1e-4 / 0.25))
    np.testing.assert_array_equal(op.r, np.full(4, 4.0))
    alpha = 1 - g.dt / op.tau
    assert np.all(alpha == 0.75) and np.all((1 - alpha) * op.r == 1.0)


def test_snntorch_recurrent_structure():
    g = load(snntorch_model("RSynaptic", "subtract", True, torch.float32))
    rec = [e for e in g.edges if e.recurrent]
    assert [(e.src, e.dst) for e in rec] == [("1", "1.recurrent"), ("3", "3.recurrent")]
    assert g.op("1.recurrent").name == "snn.affine" and g.nodes["1.recurrent"].origin == "1.recurrent"
    assert ("1.recurrent", "1") in {(e.src, e.dst) for e in g.edges if not e.recurrent}


def test_snntorch_subtract_without_reset_delay_is_refused():
    model = snntorch_model("Leaky", "subtract", False, torch.float32)
    with pytest.raises(UnsupportedOpError) as err:
        load(model)
    assert str(err.value) == (
        "torch, node '1', op 'snntorch.Leaky': reset_mechanism='subtract' with reset_delay=False: after a "
        "tick whose reset leaves the membrane above threshold, snnTorch 1.0.0 tests mem − θ > θ on the next "
        "tick (do_reset = spk − reset), which no snnc neuron expresses; use reset_delay=True or "
        "reset_mechanism='zero'")


# -- Norse ---------------------------------------------------------------------------------------
NORSE_CASES = {
    "LIFCell": (lambda: LIFCell(LIFParameters()), 4.0),
    "LIFCell-v_leak": (lambda: LIFCell(LIFParameters(v_leak=torch.as_tensor(-0.5), v_th=torch.as_tensor(0.5),
                                                     v_reset=torch.as_tensor(-0.7))), 4.0),
    "LIFBoxCell-value": (lambda: LIFBoxCell(LIFBoxParameters(reset_method=reset_value)), 16.0),
    "LIFBoxCell-subtract": (lambda: LIFBoxCell(LIFBoxParameters(reset_method=reset_subtract)), 16.0),
    "IAFCell": (lambda: IAFCell(IAFParameters(v_th=torch.as_tensor(2.0), v_reset=torch.as_tensor(0.5))), 2.0),
}


def norse_model(case, dtype):
    make, gain = NORSE_CASES[case]
    fc1, fc2 = linears(gain)
    return SequentialState(fc1, make(), fc2, make()).to(dtype)


def run_norse(model, x, dtype, names=("1", "3")):
    rec = Recorder()
    with record_norse({n: model.get_submodule(n) for n in names}, rec), torch.no_grad():
        state = None
        for t in range(T):
            _, state = model(x[t].to(dtype), state)
    return rec.arrays(names)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", list(NORSE_CASES))
def test_norse_cells_match_norse(case, dtype):
    x = inputs(1)
    model = norse_model(case, dtype)
    _, got, _ = interpret(model, x, ["1", "3"])
    ref, margins = run_norse(model, x, dtype)
    assert_exercised(ref)
    check_agreement(f"norse.{case}", ref, got, margins, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_norse_recurrent_cell_matches_norse(dtype):
    torch.manual_seed(2)
    _, fc2 = linears(3.0)
    model = SequentialState(LIFRecurrentCell(N_IN, N_HID, LIFParameters(), autapses=False), fc2,
                            LIFCell()).to(dtype)
    with torch.no_grad():
        model[0].input_weights.mul_(4.0)
    x = inputs(2)
    g, got, _ = interpret(model, x, ["0", "2"])
    assert [(e.src, e.dst) for e in g.edges if e.recurrent] == [("0", "0.recurrent_weights")]
    ref, margins = run_norse(model, x, dtype, names=("0", "2"))
    assert_exercised(ref)
    check_agreement("norse.LIFRecurrentCell", ref, got, margins, dtype)


@pytest.mark.parametrize("readout", ["LICell", "LIBoxCell"])
def test_norse_leaky_integrator_readout_matches_norse(readout):
    dtype = torch.float64
    fc1, fc2 = linears(3.0)
    cell = LICell(LIParameters()) if readout == "LICell" else LIBoxCell(LIBoxParameters())
    model = SequentialState(fc1, LIFCell(), fc2, cell).to(dtype)
    x = inputs(7)
    g, _, res = interpret(model, x, [])
    assert g.op("3").name == ("snn.cuba_li" if readout == "LICell" else "snn.li")
    ref, state = [], None
    with torch.no_grad():
        for t in range(T):
            v, state = model(x[t], state)
            ref.append(v.numpy().copy())
    np.testing.assert_allclose(res.outputs["output"], np.stack(ref), rtol=1e-9, atol=1e-12)


def test_norse_lif_cell_mapping():
    g = load(SequentialState(nn.Linear(3, 4), LIFCell(LIFParameters(v_leak=torch.as_tensor(0.25)), dt=1e-3)))
    op = g.op("1")
    assert g.dt == 1e-3 and op.name == "snn.cuba_lif" and op.current_timing == "same_tick"
    k_syn, k_mem = np.float32(1e-3 * np.float32(200.0)), np.float32(1e-3 * np.float32(100.0))
    np.testing.assert_allclose(op.w_in, 1 / k_syn, rtol=1e-7)
    np.testing.assert_allclose(1 - g.dt / op.tau_mem, 1 - k_mem, rtol=1e-7)
    np.testing.assert_array_equal(op.v_threshold, np.full(4, 0.75))       # shifted by the v_leak start
    np.testing.assert_array_equal(op.v_reset, np.full(4, -0.25))
    assert (op.reset_mode, op.reset_timing) == ("value", "immediate")


# -- snnc's own modules ----------------------------------------------------------------------------
SNNC_MODULES = {
    "LIF": lambda n: snnc_torch.LIF(n, tau=0.01, r=5.0, reset_mode="subtract", reset_timing="next_step"),
    "CubaLIF": lambda n: snnc_torch.CubaLIF(n, tau_syn=0.005, tau_mem=0.01, r=5.0, t_refrac=2e-3,
                                            current_timing="next_tick"),
    "IF": lambda n: snnc_torch.IF(n, v_threshold=2.0, reset_mode="subtract"),
}


@pytest.mark.parametrize("case", list(SNNC_MODULES))
def test_snnc_modules_are_the_interpreter(case):
    fc1, fc2 = linears(3.0)
    model = nn.Sequential(fc1, SNNC_MODULES[case](N_HID), fc2, SNNC_MODULES[case](N_OUT)).double()
    x = inputs(8)
    g, _, res = interpret(model, x, [])
    assert [g.op(n).name for n in ("1", "3")] == [f"snn.{case.lower().replace('cubalif', 'cuba_lif')}"] * 2
    with torch.no_grad():
        ref = np.stack([model(x[t]).numpy() for t in range(T)])
    assert 0.02 < ref.mean() < 0.8
    np.testing.assert_array_equal(res.outputs["output"], ref)


def test_snnc_module_surrogate_gradient_is_fast_sigmoid():
    u = torch.tensor([-0.1, 0.0, 0.2], requires_grad=True)
    snnc_torch.spike(u, 10.0).sum().backward()
    np.testing.assert_allclose(u.grad.numpy(), 1 / (10 * np.abs([-0.1, 0.0, 0.2]) + 1) ** 2, rtol=1e-6)
    assert snnc_torch.spike(u.detach()).tolist() == [0.0, 0.0, 1.0]


# -- torch.nn and tracing -------------------------------------------------------------------------
def test_unsupported_module_names_path_type_and_supported_modules():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Identity(), nn.ReLU()))
    with pytest.raises(UnsupportedOpError) as err:
        load(model)
    assert str(err.value) == (
        "torch, node '1.1', op 'torch.nn.ReLU': no snnc mapping for this torch module (supported: "
        "norse.torch.IAFCell, norse.torch.LIBoxCell, norse.torch.LICell, norse.torch.LIFBoxCell, "
        "norse.torch.LIFCell, norse.torch.LIFRecurrentCell, snnc.torch.CubaLIF, snnc.torch.IF, "
        "snnc.torch.LIF, snntorch.Lapicque, snntorch.Leaky, snntorch.RLeaky, snntorch.RSynaptic, "
        "snntorch.Synaptic, torch.nn.AlphaDropout, torch.nn.AvgPool2d, torch.nn.Conv1d, torch.nn.Conv2d, "
        "torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.Dropout3d, torch.nn.Flatten, "
        "torch.nn.Identity, torch.nn.LPPool2d, torch.nn.Linear)")
    assert err.value.node == "1.1" and err.value.op == "torch.nn.ReLU"


def test_unsupported_function_names_enclosing_module():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.relu(self.fc(x))

    with pytest.raises(UnsupportedOpError) as err:
        load(nn.Sequential(Block()))
    assert str(err.value).startswith("torch, node '0:relu', op 'torch.relu': no snnc mapping for this "
                                     "torch function in forward (supported: ")


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.fc1, self.fc2, self.fc3 = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_HID), nn.Linear(N_HID, N_OUT)
        self.lif1 = snn.Leaky(beta=0.9, init_hidden=True, spike_grad=heaviside)
        self.lif2 = snn.Leaky(beta=0.8, init_hidden=True, spike_grad=heaviside)
        self.drop = nn.Dropout(0.5)
        self.lif3 = snn.Leaky(beta=0.7, init_hidden=True, spike_grad=heaviside)

    def forward(self, x):
        s1 = self.lif1(self.fc1(x))
        s2 = self.lif2(self.drop(self.fc2(s1)))
        return self.lif3(self.fc3(s1 + s2))             # residual: both spike trains feed fc3


def test_fx_traces_residual_add_and_matches_snntorch():
    model = Residual().double().eval()
    x = inputs(9)
    g, got, _ = interpret(model, x, ["lif1", "lif2", "lif3"])
    assert {(e.src, e.dst) for e in g.edges} == {
        ("x", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif1", "fc3"), ("lif2", "fc3"),
        ("fc3", "lif3"), ("lif3", "output")}
    assert {n.name: n.origin for n in g.nodes.values()}["lif2"] == "lif2"
    rec = Recorder()
    for n in ("lif1", "lif2", "lif3"):
        record_snntorch(getattr(model, n), n, rec)
    with torch.no_grad():
        for t in range(T):
            model(x[t])
    ref, margins = rec.arrays(["lif1", "lif2", "lif3"])
    check_agreement("snntorch residual", ref, got, margins, torch.float64)


def test_dropout_and_identity_are_dropped():
    model = nn.Sequential(nn.Dropout(0.2), nn.Linear(6, 5, bias=False), nn.Identity(), nn.Dropout1d(),
                          snn.Leaky(beta=0.5, init_hidden=True))
    g = load(model)
    assert [(n, g.op(n).name) for n in g.nodes] == [
        ("input", "snn.input"), ("1", "snn.linear"), ("4", "snn.lif"), ("output", "snn.output")]


def test_conv_pool_flatten_network():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), snn.Leaky(beta=0.8, init_hidden=True, spike_grad=heaviside),
                          nn.AvgPool2d(2), nn.Identity(), nn.LPPool2d(1, 2), nn.Flatten(), nn.Linear(4 * 2 * 2, 5),
                          snn.Leaky(beta=0.8, init_hidden=True, spike_grad=heaviside)).double()
    x = torch.rand(T, B, 2, 8, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 2
    g, got, _ = interpret(model, x, ["1", "7"])
    assert [g.op(n).name for n in ("0", "2", "4", "5", "6")] == [
        "snn.conv2d", "snn.avg_pool2d", "snn.sum_pool2d", "snn.flatten", "snn.affine"]
    assert g.op("5").start_dim == 0
    rec = Recorder()
    record_snntorch(model[1], "1", rec)
    record_snntorch(model[7], "7", rec)
    with torch.no_grad():
        for t in range(T):
            model(x[t])
    ref, margins = rec.arrays(["1", "7"])
    check_agreement("snntorch conv/pool/flatten", ref, got, margins, torch.float64)


def test_neuron_called_twice_is_refused():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = snn.Leaky(beta=0.5, init_hidden=True)

        def forward(self, x):
            return self.lif(self.lif(x))

    with pytest.raises(UnsupportedOpError, match="called twice in one forward"):
        load(Twice(), sample_input=torch.zeros(1, 3))


def test_missing_sample_input_is_a_usage_error():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), snn.Leaky(beta=0.5, init_hidden=True))
    with pytest.raises(UsageError) as err:
        load(model)
    assert str(err.value) == ("cannot tell the shape of input 'input': pass sample_input=<one tick of input, "
                              "a tensor [B, *shape]> to load")


def test_import_snnc_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, snnc, snnc.frontends, snnc.ir.snn; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_scaled_difference_in_forward_matches_snnc_modules():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(6)
            self.fc1, self.fc2, self.fc3 = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_OUT), nn.Linear(N_HID, N_OUT)
            self.lif1 = snnc_torch.LIF(N_HID, tau=0.01, r=8.0)
            self.lif2 = snnc_torch.LIF(N_OUT, tau=0.02, r=30.0, reset_mode="subtract")

        def forward(self, x):
            s = self.lif1(self.fc1(x))
            return self.lif2(self.fc2(s) * 2.0 - self.fc3(s))

    model = Net().double()
    x = inputs(11)
    g, _, res = interpret(model, x, [])
    assert {g.op(n).name for n in g.nodes if n.startswith(("mul", "sub"))} == {"snn.scale"}
    with torch.no_grad():
        ref = np.stack([model(x[t]).numpy() for t in range(T)])
    assert 0.02 < ref.mean() < 0.8
    np.testing.assert_array_equal(res.outputs["output"], ref)


class NorseExplicitState(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = linears(4.0)
        self.lif1, self.lif2 = LIFCell(), LIFBoxCell()

    def forward(self, x, s1=None, s2=None):
        z1, s1 = self.lif1(self.fc1(x), s1)
        z2, s2 = self.lif2(self.fc2(z1), s2)
        return z2, (s1, s2)


def test_norse_explicit_state_style():
    model = NorseExplicitState().double()
    x = inputs(12)
    g, got, _ = interpret(model, x, ["lif1", "lif2"])
    assert list(g.inputs) == ["x"] and list(g.outputs) == ["output"]
    rec = Recorder()
    with record_norse({"lif1": model.lif1, "lif2": model.lif2}, rec), torch.no_grad():
        s1 = s2 = None
        for t in range(T):
            _, (s1, s2) = model(x[t], s1, s2)
    ref, margins = rec.arrays(["lif1", "lif2"])
    check_agreement("norse explicit state (LIFCell, LIFBoxCell)", ref, got, margins, torch.float64)


def test_reading_the_membrane_of_a_resetting_neuron_is_refused():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 4)
            self.lif = snn.Leaky(beta=0.9)

        def forward(self, x, mem):
            _, mem = self.lif(self.fc(x), mem)
            return mem

    with pytest.raises(UnsupportedOpError) as err:
        load(Net())
    assert str(err.value) == (
        "torch, node 'lif', op 'snntorch.Leaky': the model reads its membrane as a value, but it resets "
        "(reset_mechanism='subtract'); only a neuron without reset outputs its membrane in snnc")


def test_load_through_the_public_api_and_option_errors():
    import snnc
    model = nn.Sequential(nn.Linear(3, 4), snnc_torch.IF(4, dt=1e-4))
    g = snnc.load(model)
    assert (g.dt, g.method, g.op("1").name) == (1e-4, "euler", "snn.if")
    with pytest.raises(UsageError) as err:
        load(model, dt=1e-3)
    assert str(err.value) == ("load(dt=0.001, method=None) contradicts snnc.torch module '1' (dt=0.0001, "
                              "method=euler), whose equations fix both")
    with pytest.raises(UsageError) as err:
        load(model, batch=3)
    assert str(err.value) == "torch frontend: unknown option(s) batch (known: sample_input, dt, method)"


@pytest.mark.parametrize("dt,method", [(1e-4, "euler"), (0.5, "exact")])
def test_graph_dt_and_method_do_not_change_the_spikes(dt, method):
    """β and Norse's dt·τ⁻¹ are per-tick factors: τ is chosen so that α(τ) reproduces them at any dt."""
    x = inputs(13)
    for model, run_framework in ((snntorch_model("Synaptic", "subtract", True, torch.float64), run_snntorch),
                                 (norse_model("LIFCell", torch.float64), run_norse)):
        g = load(model, dt=dt, method=method)
        assert (g.dt, g.method) == (dt, method)
        out = run(g, {g.inputs[0]: x.numpy()}, record=["1", "3"])
        ref, margins = run_framework(model, x, torch.float64)
        check_agreement(f"{type(model[1]).__name__} dt={dt} {method}", ref,
                        [out.recorded["1"], out.recorded["3"]], margins, torch.float64)


def test_a_bare_neuron_or_sequential_state_as_the_root():
    g = load(snn.Leaky(beta=0.9), sample_input=torch.zeros(2, 5))
    assert [(n, g.nodes[n].origin) for n in g.nodes] == [("x", "x"), ("leaky", "leaky"), ("output", "output")]
    g = load(SequentialState(nn.Linear(3, 4), LIFCell()))
    assert [(n, g.op(n).name) for n in g.nodes] == [
        ("x", "snn.input"), ("0", "snn.affine"), ("1", "snn.cuba_lif"), ("output", "snn.output")]
