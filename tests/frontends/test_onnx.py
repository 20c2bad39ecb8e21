"""The ONNX frontend against the frameworks that exported the models.

Every model is built and exported here (no committed binaries): snnTorch networks through
both torch.onnx exporters (legacy TorchScript, dynamo), a scripted time loop (Loop), torch's
scan (Scan), and Norse's LIFCell as a single step with its state as graph inputs and
outputs. Each import is simulated by snnc's interpreter and compared with the framework's
own run of the same weights (and, for the single step, with onnxruntime running the
exported file): at least 99.9 % of the spikes agree, and every disagreement must follow a
tick at which the framework's float32 membrane sat within float rounding of its threshold.
"""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
onnx = pytest.importorskip("onnx")

import snnc  # noqa: E402
from snnc.errors import MalformedInputError, UnsupportedOpError  # noqa: E402
from snnc.frontends import onnx as onnx_frontend  # noqa: E402
from snnc.interp.engine import run  # noqa: E402

T_EXPORT, T_RUN, B_RUN = 12, 40, 32
ROUNDING = 1e-5       # float32 membranes within this (relative) of θ may round either way


def export(model, args, path, *, dynamo: bool, **kw) -> str:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), dynamo=dynamo, **kw)
    return str(path)


def assert_spikes_agree(ours: np.ndarray, ref: np.ndarray, near: np.ndarray) -> float:
    """≥ 99.9 % agreement, and each flip at (t, b) follows a near-threshold tick of sample b."""
    ours, ref = ours.reshape(*ours.shape[:2], -1), ref.reshape(*ref.shape[:2], -1)
    flips = ours != ref
    agreement = 1.0 - flips.mean()
    assert agreement >= 0.999, agreement
    for t, b in zip(*np.nonzero(flips.any(axis=2))):
        assert near[: t + 1, b].any(), f"spike flip at tick {t}, sample {b} with no membrane near threshold"
    return float(agreement)


def near_threshold(mems: list[np.ndarray], thetas: list[float]) -> np.ndarray:
    """[T, B]: whether any neuron of any layer sat within float rounding of its threshold."""
    near = [np.abs(m - th).reshape(*m.shape[:2], -1).min(axis=2) <= ROUNDING * max(1.0, abs(th))
            for m, th in zip(mems, thetas)]
    return np.logical_or.reduce(near)


# -- snnTorch networks ---------------------------------------------------------------------------------
class Chain(torch.nn.Module):
    """synapse, neuron, synapse, neuron...: a Python loop over time returning stacked spikes."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, x, record: list | None = None):
        pairs = list(zip(self.layers[::2], self.layers[1::2]))
        states = []
        for _, neuron in pairs:
            s = neuron.reset_mem()
            states.append(s if isinstance(s, tuple) else (s,))
        out = []
        for t in range(x.shape[0]):
            h = x[t]
            for k, (synapse, neuron) in enumerate(pairs):
                h, *states[k] = neuron(synapse(h), *states[k])
                if record is not None:
                    record[k].append(states[k][-1].detach().clone())
            out.append(h)
        return torch.stack(out)

    def reference(self, x: np.ndarray):
        """snnTorch's own run: spikes [T, B, ...] and per layer (membranes [T, B, ...], θ)."""
        pairs = list(zip(self.layers[::2], self.layers[1::2]))
        record = [[] for _ in pairs]
        with torch.no_grad():
            spikes = self(torch.tensor(x, dtype=torch.float32), record).numpy()
        mems = [torch.stack(r).numpy() for r in record]
        return spikes, near_threshold(mems, [float(n.threshold) for _, n in pairs])


def leaky_net():
    torch.manual_seed(0)
    return Chain(torch.nn.Linear(6, 12), snn.Leaky(beta=0.9),
                 torch.nn.Linear(12, 4), snn.Leaky(beta=0.8, threshold=0.5)).eval()


def synaptic_net():
    torch.manual_seed(1)
    return Chain(torch.nn.Linear(6, 12), snn.Synaptic(alpha=0.8, beta=0.9),
                 torch.nn.Linear(12, 4), snn.Synaptic(alpha=0.5, beta=0.7, threshold=0.7)).eval()


def conv_net():
    torch.manual_seed(2)
    net = Chain(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.AvgPool2d(2)),
                snn.Leaky(beta=0.9, threshold=0.3),
                torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 5)), snn.Leaky(beta=0.85, threshold=0.3))
    with torch.no_grad():
        net.layers[0][0].weight.mul_(2.0)
        net.layers[2][1].weight.mul_(3.0)
    return net.eval()


NETS = {"leaky": (leaky_net, (6,)), "synaptic": (synaptic_net, (6,)), "conv": (conv_net, (1, 8, 8))}
EXPECTED = {"leaky": ["snn.affine", "snn.lif", "snn.affine", "snn.lif"],
            "synaptic": ["snn.affine", "snn.cuba_lif", "snn.affine", "snn.cuba_lif"],
            "conv": ["snn.conv2d", "snn.avg_pool2d", "snn.lif", "snn.flatten", "snn.affine", "snn.lif"]}


@pytest.fixture(scope="module")
def unrolled(tmp_path_factory):
    """{(net, exporter): (module, path)} for every snnTorch net and both exporters."""
    d = tmp_path_factory.mktemp("unrolled")
    out = {}
    for name, (make, shape) in NETS.items():
        net = make()
        x = torch.rand(T_EXPORT, 2, *shape)
        for exporter in ("legacy", "dynamo"):
            path = export(net, (x,), d / f"{name}_{exporter}.onnx", dynamo=exporter == "dynamo",
                          input_names=["x"], output_names=["spk"])
            out[(name, exporter)] = (net, path)
    return out


def inputs(shape, seed=0, scale=2.0):
    return np.random.default_rng(seed).uniform(0.0, scale, (T_RUN, B_RUN, *shape))


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("name", list(NETS))
def test_unrolled_snntorch_net_spikes_as_snntorch(unrolled, name, exporter):
    net, path = unrolled[(name, exporter)]
    g = snnc.load(path)
    assert g.metadata["onnx.form"] == "unrolled"
    assert [n.op.name for n in g.nodes.values()][1:-1] == EXPECTED[name]
    x = inputs(NETS[name][1])
    ours = run(g, {"x": x}).outputs["spk"]
    ref, near = net.reference(x)
    assert 0.02 < ref.mean() < 0.9
    agreement = assert_spikes_agree(ours, ref, near)
    print(f"{name} ({exporter} exporter, unrolled T={T_EXPORT}, run T={T_RUN}): {agreement:.4%} of "
          f"{ref.size} spikes agree")


def test_unrolled_leaky_reads_snntorchs_reset_and_decay(unrolled):
    g = snnc.load(unrolled[("leaky", "legacy")][1], dt=1e-4)
    lifs = [n.op for n in g.nodes.values() if n.op.name == "snn.lif"]
    for op, beta, theta in zip(lifs, (0.9, 0.8), (1.0, 0.5)):
        assert (op.reset_mode, op.reset_timing) == ("subtract", "next_step")
        beta32 = float(np.float32(beta))
        assert np.allclose(op.tau, 1e-4 / (1 - beta32)) and np.allclose(op.r * (1 - beta32), 1.0)
        assert np.allclose(op.v_threshold, theta)


def test_unrolled_synaptic_reads_both_decays(unrolled):
    g = snnc.load(unrolled[("synaptic", "dynamo")][1])
    op = [n.op for n in g.nodes.values() if n.op.name == "snn.cuba_lif"][0]
    assert (op.current_timing, op.reset_mode, op.reset_timing) == ("same_tick", "subtract", "next_step")
    assert np.allclose(op.tau_syn, 1e-3 / (1 - np.float32(0.8))) and np.allclose(op.tau_mem, 1e-3 / (1 - np.float32(0.9)))


# -- Loop and Scan ------------------------------------------------------------------------------------
class Step(torch.nn.Module):
    """One tick of leaky_net's layers (snnTorch's modules, traced)."""

    def __init__(self, net):
        super().__init__()
        self.fc1, self.lif1, self.fc2, self.lif2 = net.layers

    def forward(self, x, m1, m2):
        z1, m1 = self.lif1(self.fc1(x), m1)
        z2, m2 = self.lif2(self.fc2(z1), m2)
        return z2, m1, m2


class ScriptedLoop(torch.nn.Module):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def forward(self, x):
        m1 = torch.zeros(x.shape[1], 12)
        m2 = torch.zeros(x.shape[1], 4)
        out = []
        for t in range(x.shape[0]):
            z, m1, m2 = self.step(x[t], m1, m2)
            out.append(z)
        return torch.stack(out)


def test_loop_export_spikes_as_snntorch(tmp_path):
    """torch.jit.script around the traced snnTorch step: an ONNX Loop, read for any T."""
    net = leaky_net()
    x0 = torch.rand(2, 6)
    traced = torch.jit.trace(Step(net), (x0, torch.zeros(2, 12), torch.zeros(2, 4)))
    path = export(torch.jit.script(ScriptedLoop(traced)), (torch.rand(5, 2, 6),), tmp_path / "loop.onnx",
                  dynamo=False, input_names=["x"], output_names=["spk"], dynamic_axes={"x": {0: "T", 1: "B"}})
    assert any(n.op_type == "Loop" for n in onnx.load(path).graph.node)
    g = snnc.load(path)
    assert g.metadata["onnx.form"] == "loop"
    assert [n.op.name for n in g.nodes.values()][1:-1] == EXPECTED["leaky"]
    x = inputs((6,), seed=1)
    ref, near = net.reference(x)
    agreement = assert_spikes_agree(run(g, {"x": x}).outputs["spk"], ref, near)
    print(f"leaky (torch.jit.script, Loop, run T={T_RUN}): {agreement:.4%} of {ref.size} spikes agree")


class ScannedLeaky(torch.nn.Module):
    """snnTorch's Leaky update written functionally (Leaky itself mutates module state, which
    torch's scan refuses), with the parameters of a real snn.Leaky."""

    def __init__(self, net):
        super().__init__()
        self.fc, self.lif = net.layers[0], net.layers[1]

    def forward(self, x):
        from torch._higher_order_ops.scan import scan

        def tick(mem, xt):
            reset = (mem - self.lif.threshold > 0).float()
            mem = self.lif.beta.clamp(0, 1) * mem + self.fc(xt) - reset * self.lif.threshold
            return mem, (mem - self.lif.threshold > 0).float()

        _, spikes = scan(tick, torch.zeros(x.shape[1], 12), x)
        return spikes


def test_scan_export_spikes_as_snntorch(tmp_path):
    """torch's scan higher-order op + the dynamo exporter give one ONNX Scan node."""
    net = leaky_net()
    single = Chain(net.layers[0], net.layers[1]).eval()
    path = export(ScannedLeaky(net).eval(), (torch.rand(T_EXPORT, 2, 6),), tmp_path / "scan.onnx", dynamo=True,
                  input_names=["x"], output_names=["spk"])
    assert [n.op_type for n in onnx.load(path).graph.node] == ["Scan"]
    g = snnc.load(path)
    assert g.metadata["onnx.form"] == "scan"
    x = inputs((6,), seed=2)
    ref, near = single.reference(x)
    agreement = assert_spikes_agree(run(g, {"x": x}).outputs["spk"], ref, near)
    print(f"leaky layer (scan, dynamo exporter, Scan, run T={T_RUN}): {agreement:.4%} of {ref.size} spikes agree")


# -- single step with state (Norse) ----------------------------------------------------------------------


class NorseStep(torch.nn.Module):
    def __init__(self):
        super().__init__()
        import norse.torch as nt
        torch.manual_seed(3)
        self.fc, self.cell = torch.nn.Linear(3, 6), nt.LIFCell()

    def forward(self, x, v, i):
        from norse.torch.functional.lif import LIFFeedForwardState
        z, s = self.cell(self.fc(x), LIFFeedForwardState(v=v, i=i))
        return z, s.v, s.i


@pytest.fixture(scope="module")
def norse_step(tmp_path_factory):
    pytest.importorskip("norse")
    net = NorseStep().eval()
    d = tmp_path_factory.mktemp("norse")
    args = (torch.rand(2, 3), torch.zeros(2, 6), torch.zeros(2, 6))
    return net, {e: export(net, args, d / f"cell_{e}.onnx", dynamo=e == "dynamo", input_names=["x", "v", "i"],
                           output_names=["z", "v_out", "i_out"]) for e in ("legacy", "dynamo")}


def norse_reference(net: NorseStep, x: np.ndarray):
    """Norse's own run (spikes) and its membrane before the reset, v + dt·τ⁻¹((v_leak − v) + i + W x)."""
    p = net.cell.p
    xs = torch.tensor(x, dtype=torch.float32)
    v = i = torch.zeros(x.shape[1], 6)
    spikes, mems = [], []
    with torch.no_grad():
        for t in range(x.shape[0]):
            mems.append(v + net.cell.dt * p.tau_mem_inv * ((p.v_leak - v) + i + net.fc(xs[t])))
            z, v, i = net(xs[t], v, i)
            spikes.append(z)
    return torch.stack(spikes).numpy(), near_threshold([torch.stack(mems).numpy()], [float(p.v_th)])


def run_steps_in_onnxruntime(session, x: np.ndarray, batch: int = 2) -> np.ndarray:
    """Spikes [T, B, 6] of the single-step graph run T times, its state fed back each tick (in
    slices of the batch size the graph was exported with)."""
    spikes = []
    for b in range(0, x.shape[1], batch):
        v = i = np.zeros((batch, 6), np.float32)
        zs = []
        for t in range(x.shape[0]):
            z, v, i = session.run(None, {"x": x[t, b:b + batch].astype(np.float32), "v": v, "i": i})
            zs.append(z)
        spikes.append(np.stack(zs))
    return np.concatenate(spikes, axis=1)


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_single_step_norse_cell_spikes_as_norse_and_onnxruntime(norse_step, exporter):
    ort = pytest.importorskip("onnxruntime")
    net, paths = norse_step
    g = snnc.load(paths[exporter])
    assert g.metadata["onnx.form"] == "single-step"
    (op,) = [n.op for n in g.nodes.values() if n.op.stateful]
    assert (op.name, op.reset_mode, op.reset_timing, op.current_timing) == \
        ("snn.cuba_lif", "value", "immediate", "same_tick")
    x = inputs((3,), seed=3, scale=4.0)
    ours = run(g, {"x": x}).outputs["z"]
    by_ort = run_steps_in_onnxruntime(ort.InferenceSession(paths[exporter], providers=["CPUExecutionProvider"]), x)
    ref, near = norse_reference(net, x)
    assert 0.02 < ref.mean() < 0.9
    a_ort = assert_spikes_agree(ours, by_ort, near)
    a_norse = assert_spikes_agree(ours, ref, near)
    print(f"Norse LIFCell ({exporter} exporter, single step, run T={T_RUN}): {a_ort:.4%} agree with "
          f"onnxruntime, {a_norse:.4%} with Norse")


# -- refusals with their exact messages ---------------------------------------------------------------
class Varying(torch.nn.Module):
    """A Leaky layer whose weights change at tick 3: not one computation repeated."""

    def __init__(self, init=0.0):
        super().__init__()
        torch.manual_seed(4)
        self.fc, self.other, self.lif, self.init = torch.nn.Linear(3, 4), torch.nn.Linear(3, 4), snn.Leaky(0.9), init

    def forward(self, x):
        mem, out = torch.full((x.shape[1], 4), self.init), []
        for t in range(x.shape[0]):
            spk, mem = self.lif((self.other if t == 3 and self.init == 0 else self.fc)(x[t]), mem)
            out.append(spk)
        return torch.stack(out)


def test_a_tick_with_other_weights_is_named(tmp_path):
    path = export(Varying(), (torch.rand(6, 2, 3),), tmp_path / "varying.onnx", dynamo=False)
    with pytest.raises(UnsupportedOpError) as err:
        snnc.load(path)
    assert str(err.value) == (f"{path}, node '/other/Gemm', op 'Gemm': tick 3 differs from tick 1: it applies "
                              f"snn.affine with other parameters than node '/fc_1/Gemm'; an unrolled model must "
                              f"repeat one computation every tick")


def test_a_non_zero_initial_state_is_refused(tmp_path):
    path = export(Varying(init=0.25), (torch.rand(6, 2, 3),), tmp_path / "init.onnx", dynamo=False,
                  input_names=["x"], output_names=["spk"])
    with pytest.raises(UnsupportedOpError) as err:
        snnc.load(path)
    assert str(err.value) == (f"{path}, node '/lif/Mul_1', op 'Mul': tick 0 is not tick 1 run from zero state "
                              f"(snnc states start at zero): output 'spk' differs from node '/lif_1/Mul_2'")


def test_a_recorded_membrane_is_refused_unless_the_spikes_are_selected(tmp_path):
    class Both(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(5)
            self.fc, self.lif = torch.nn.Linear(3, 4), snn.Leaky(0.9)

        def forward(self, x):
            mem, spk, mems = self.lif.reset_mem(), [], []
            for t in range(x.shape[0]):
                s, mem = self.lif(self.fc(x[t]), mem)
                spk.append(s), mems.append(mem)
            return torch.stack(spk), torch.stack(mems)

    path = export(Both(), (torch.rand(5, 2, 3),), tmp_path / "both.onnx", dynamo=False,
                  input_names=["x"], output_names=["spk", "mem"])
    with pytest.raises(UnsupportedOpError) as err:
        snnc.load(path)
    assert str(err.value) == (f"{path}, node 'mem': reads the state of neuron 'lif' (/lif_1/Greater_1), not its "
                              f"spikes; snnc graphs carry spikes between layers")
    assert snnc.load(path, outputs=["spk"]).outputs == ("spk",)


def test_an_op_without_mapping_names_the_op_node_and_the_supported_ops(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Softplus())
    path = export(net, (torch.rand(2, 3),), tmp_path / "softplus.onnx", dynamo=False)
    with pytest.raises(UnsupportedOpError) as err:
        snnc.load(path)
    assert str(err.value) == (
        f"{path}, node '/1/Softplus', op 'Softplus': snnc has no mapping for this ONNX op (supported: Add, And, "
        f"AveragePool, BatchNormalization, Cast, Clip, Concat, ConcatFromSequence, Constant, Conv, Div, Dropout, "
        f"Flatten, Gather, Gemm, GlobalAveragePool, Greater, GreaterOrEqual, Identity, Less, LessOrEqual, Loop, "
        f"MatMul, Mul, Neg, Not, Or, Relu, Reshape, Scan, SequenceConstruct, SequenceEmpty, SequenceInsert, Shape, "
        f"Split, Squeeze, Sub, Unsqueeze, Where)")
    assert err.value.op == "Softplus" and err.value.node == "/1/Softplus"


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    return open(export(leaky_net(), (torch.rand(4, 2, 6),), d / "good.onnx", dynamo=False), "rb").read()


@pytest.mark.parametrize("case, message", [
    ("empty", "the file is empty; expected an ONNX model"),
    ("garbage", "not a readable ONNX model: the protobuf data is truncated or corrupt"),
    ("truncated", "not a readable ONNX model: the protobuf data is truncated or corrupt"),
    ("text", "not an ONNX model: it has no IR version or no graph (truncated, or another format?)"),
])
def test_malformed_files_name_the_file(tmp_path, model_bytes, case, message):
    data = {"empty": b"", "garbage": b"\xff\xfe\x00garbage\x8f" * 7, "truncated": model_bytes[:len(model_bytes) // 2],
            "text": b"\x12\x04snnc"}[case]
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(MalformedInputError) as err:
        onnx_frontend.load(path)
    assert str(err.value) == f"{path}: {message}"


def test_cli_reports_a_truncated_file_in_one_line_with_exit_2(tmp_path, model_bytes):
    path = tmp_path / "bad.onnx"
    path.write_bytes(model_bytes[: len(model_bytes) // 2])
    proc = subprocess.run([sys.executable, "-m", "snnc.cli", "inspect", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == (f"snnc: error: {path}: not a readable ONNX model: the protobuf data is truncated or "
                           f"corrupt\n")
    assert proc.stdout == ""


# -- more of what snnTorch and Norse export ------------------------------------------------------------
class NorseSequence(torch.nn.Module):
    """Norse's LIFCell in a Python time loop, its state starting from None."""

    def __init__(self):
        super().__init__()
        import norse.torch as nt
        torch.manual_seed(6)
        self.fc, self.cell = torch.nn.Linear(6, 5), nt.LIFCell()

    def forward(self, x):
        state, out = None, []
        for t in range(x.shape[0]):
            z, state = self.cell(self.fc(x[t]), state)
            out.append(z)
        return torch.stack(out)


def readout_net():
    """Spiking hidden layer, then a non-resetting Leaky whose membrane is the output."""
    torch.manual_seed(7)

    class Readout(Chain):
        def forward(self, x, record=None):
            fc1, lif, fc2, li = self.layers
            m1, m2, out = lif.reset_mem(), li.reset_mem(), []
            for t in range(x.shape[0]):
                z, m1 = lif(fc1(x[t]), m1)
                _, m2 = li(fc2(z), m2)
                out.append(m2)
            return torch.stack(out)

    return Readout(torch.nn.Linear(6, 12), snn.Leaky(beta=0.9), torch.nn.Linear(12, 3),
                   snn.Leaky(beta=0.8, reset_mechanism="none")).eval()


class Recurrent(torch.nn.Module):
    """snnTorch's RLeaky: its previous spikes come back through a Linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(8)
        self.fc, self.lif = torch.nn.Linear(6, 8), snn.RLeaky(beta=0.9, linear_features=8)

    def forward(self, x):
        spk, mem = self.lif.init_rleaky()
        out = []
        for t in range(x.shape[0]):
            spk, mem = self.lif(self.fc(x[t]), spk, mem)
            out.append(spk)
        return torch.stack(out)


MORE = {
    "rleaky": (Recurrent, "snn.lif"),
    "synaptic-zero-reset": (lambda: (torch.manual_seed(9), Chain(torch.nn.Linear(6, 8),
                                                                  snn.Synaptic(0.8, 0.9, reset_mechanism="zero")))[1],
                            "snn.cuba_lif"),
    "norse-sequence": (NorseSequence, "snn.cuba_lif"),
    "readout": (readout_net, "snn.li"),
}


@pytest.mark.parametrize("name", list(MORE))
def test_more_unrolled_models(tmp_path, name):
    """Recurrent snnTorch layers, snnTorch's zero reset of Synaptic (a refractory tick), Norse in
    a Python loop, a membrane readout: legacy exporter, compared with the framework."""
    if name.startswith("norse"):
        pytest.importorskip("norse")
    make, kind = MORE[name]
    net = make().eval()
    path = export(net, (torch.rand(T_EXPORT, 2, 6),), tmp_path / f"{name}.onnx", dynamo=False,
                  input_names=["x"], output_names=["y"])
    g = snnc.load(path)
    assert kind in [n.op.name for n in g.nodes.values()]
    assert any(e.recurrent for e in g.edges) == (name == "rleaky")
    x = inputs((6,), seed=4, scale=3.0)
    ours = run(g, {"x": x}).outputs["y"]
    with torch.no_grad():
        ref = net(torch.tensor(x, dtype=torch.float32)).numpy()
    if kind == "snn.li":                      # a membrane: equal up to float32 rounding
        assert np.allclose(ours, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
        return
    assert 0.02 < ref.mean() < 0.9
    agreement = float((ours == ref).mean())
    print(f"{name} (legacy exporter, run T={T_RUN}): {agreement:.4%} of {ref.size} spikes agree")
    assert agreement >= 0.999
