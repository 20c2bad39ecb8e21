"""NIR files read as the framework that wrote them runs them, with every assumption announced once.

A NIR file carries no dt and no framework reset rule: the frontend fingerprints the writer
(snnTorch, sinabs, Norse, Spyx), applies what that framework's simulator does, and says so
as a `snnc.errors.Guess` naming what was assumed, from where, and the override. Files from
snnTorch and Norse are made by those packages' own exporters; sinabs and Spyx (not installed
here) are built with the `nir` package exactly as their exporters write them.
"""
from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest

from snnc.cli import main
from snnc.errors import Guess, MalformedInputError, UsageError
from snnc.frontends import nir as fnir
from snnc.ir import snn
from tests.frontends.test_nir import export, snntorch_net

SNNTORCH_NOTE = ("{f}: written by snnTorch (LIF/CubaLIF neurons with r = tau/dt at dt = 0.0001 s and v_leak = "
                 "v_reset = 0, as snntorch.export_to_nir writes them); assuming snnTorch's default reset "
                 "(reset_mechanism='subtract', reset_delay=True): {applied}; for reset_mechanism='zero' pass "
                 "--reset-mode value (with reset_delay=False also --reset-timing immediate), or load(..., "
                 "reset_mode=..., reset_timing=...)")
DT_NOTE = "{f}: NIR stores no dt; assuming dt = {dt} s ({why}) and method {method} (pass --dt, or load(..., " \
          "dt=...), to override)"


def load_noting(source, **options):
    """The graph and the list of Guess messages the load announced."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        graph = fnir.load(source, **options)
    return graph, [str(w.message) for w in seen if issubclass(w.category, Guess)]


def snntorch_file(tmp_path, kind="leaky"):
    path = tmp_path / f"{kind}.nir"
    nir.write(path, export(snntorch_net(kind, seed=3)))
    return path


# -- snnTorch ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["leaky", "synaptic", "rleaky"])
def test_snntorch_export_gets_snntorchs_dt_and_reset_and_says_so(tmp_path, kind):
    path = snntorch_file(tmp_path, kind)
    g, notes = load_noting(path)
    assert notes == [DT_NOTE.format(f=path, dt="0.0001", why="snnTorch's export dt", method="euler"),
                     SNNTORCH_NOTE.format(f=path, applied="reset_mode=subtract, reset_timing=next_step")]
    assert (g.dt, g.method, g.metadata["provenance"]) == (1e-4, "euler", "snnTorch")
    spiking = [n.op for n in g.nodes.values() if hasattr(n.op, "reset_mode")]
    assert len(spiking) == 2
    assert {(op.reset_mode, op.reset_timing) for op in spiking} == {("subtract", "next_step")}


def test_options_override_what_was_assumed_and_silence_it(tmp_path):
    path = snntorch_file(tmp_path)
    g, notes = load_noting(path, reset_mode="value")
    assert notes[1] == SNNTORCH_NOTE.format(f=path, applied="reset_timing=next_step")
    assert (g.op("1").reset_mode, g.op("1").reset_timing) == ("value", "next_step")
    g, notes = load_noting(path, dt=1e-4, reset_mode="value", reset_timing="immediate")
    assert notes == [f"{path}: written by snnTorch (LIF/CubaLIF neurons with r = tau/dt at dt = 0.0001 s and "
                     f"v_leak = v_reset = 0, as snntorch.export_to_nir writes them)"]
    assert (g.op("1").reset_mode, g.op("1").reset_timing) == ("value", "immediate")


def test_cli_simulates_an_snntorch_file_spike_for_spike_and_notes_once(tmp_path, capsys):
    """`snnc simulate` of snnTorch's own export, no options: the spikes snnTorch computes."""
    torch = pytest.importorskip("torch")
    from snntorch import utils
    net = snntorch_net("leaky", seed=5)
    path = tmp_path / "s.nir"
    nir.write(path, export(net))
    x = (np.random.default_rng(5).random((120, 3, 5)) < 0.3).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    utils.reset(net)
    with torch.no_grad():
        want = np.stack([net(torch.from_numpy(x[t]).float())[0].numpy() for t in range(len(x))])
    assert main(["simulate", str(path), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")]) == 0
    got = np.load(tmp_path / "y.npy")
    assert 0 < want.mean() < 0.5 and got.shape == want.shape
    assert np.mean(got == want) >= 0.999          # float32 snnTorch against float64 snnc (observed: exact)
    err = capsys.readouterr().err.splitlines()
    assert err == ["snnc: note: " + DT_NOTE.format(f=path, dt="0.0001", why="snnTorch's export dt", method="euler"),
                   "snnc: note: " + SNNTORCH_NOTE.format(f=path, applied="reset_mode=subtract, reset_timing=next_step")]


def test_cli_reset_flags_and_load_options(tmp_path, capsys):
    path = snntorch_file(tmp_path)
    assert main(["inspect", str(path), "--dt", "1e-4", "--reset-mode", "value", "--reset-timing", "immediate",
                 "--ir"]) == 0
    out, err = capsys.readouterr()
    assert 'reset_mode = "value"' in out and 'reset_timing = "immediate"' in out and 'reset_mode = "subtract"' not in out
    assert "assuming" not in err
    assert main(["inspect", str(path), "--load-option", "max_elements=10"]) == 2
    assert "over the limit of 10 per input (raise it with the load option max_elements=N)" in capsys.readouterr().err
    assert main(["inspect", str(path), "--load-option", "flatten_dims=\"batch\"", "--load-option", "max_elements=1e6"]) == 0
    assert main(["inspect", str(path), "--load-option", "colour=3"]) == 2
    assert "unknown option(s) colour" in capsys.readouterr().err
    assert main(["inspect", str(path), "--load-option", "no-equals-sign"]) == 2
    assert capsys.readouterr().err == ("snnc: error: --load-option 'no-equals-sign': expected KEY=VALUE, e.g. "
                                       "max_elements=100000000\n")


# -- other frameworks ---------------------------------------------------------------------------------------
def sinabs_graph(theta=1.0):
    """Conv2d -> IF -> SumPool2d -> Flatten -> Affine -> IF, as sinabs.to_nir writes them (sinabs/nir.py):
    IF(r=1, v_threshold), Flatten with input type [0, 0, 0, 0], SumPool2d of kernel and stride."""
    rng = np.random.default_rng(11)
    conv = nir.Conv2d(input_shape=(6, 6), weight=rng.uniform(0, 0.3, (2, 1, 3, 3)), stride=1, padding=1,
                      dilation=1, groups=1, bias=np.zeros(2))
    return nir.NIRGraph(nodes={
        "input": nir.Input(np.array([1, 6, 6])), "0": conv,
        "1": nir.IF(r=np.ones((2, 6, 6)), v_threshold=np.full((2, 6, 6), theta)),
        "2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "3": nir.Flatten(input_type={"input": np.array([0, 0, 0, 0])}, start_dim=1, end_dim=-1),
        "4": nir.Affine(weight=rng.uniform(-0.1, 0.15, (4, 18)), bias=np.zeros(4)),
        "5": nir.IF(r=np.ones(4), v_threshold=np.full(4, theta)), "output": nir.Output(np.array([4]))},
        edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "4"), ("4", "5"), ("5", "output")],
        type_check=False)


def sinabs_reference(graph: nir.NIRGraph, x: np.ndarray) -> np.ndarray:
    """sinabs's IAF with SingleSpike and MembraneSubtract, per tick: v += input; z = (v − θ > 0);
    v −= z·θ (sinabs.layers.IAF, sinabs.activation), time in ticks."""
    import torch
    conv, fc = graph.nodes["0"], graph.nodes["4"]
    v1, v2, out = 0.0, 0.0, []
    for xt in x:
        c = torch.nn.functional.conv2d(torch.from_numpy(xt), torch.from_numpy(conv.weight), padding=1).numpy()
        v1 = v1 + c
        z1 = (v1 - 1.0 > 0).astype(float)
        v1 = v1 - z1
        pooled = z1.reshape(len(xt), 2, 3, 2, 3, 2).sum(axis=(3, 5)).reshape(len(xt), -1)
        v2 = v2 + pooled @ fc.weight.T
        z2 = (v2 - 1.0 > 0).astype(float)
        v2 = v2 - z2
        out.append(z2)
    return np.stack(out)


def test_sinabs_export_runs_in_ticks_with_membrane_subtraction(tmp_path):
    pytest.importorskip("torch")
    from snnc.api import simulate
    nir.write(tmp_path / "s.nir", sinabs_graph())
    g, notes = load_noting(tmp_path / "s.nir")
    f = tmp_path / "s.nir"
    assert notes == [DT_NOTE.format(f=f, dt="1", why="sinabs counts time in ticks", method="exact"),
                     f"{f}: written by sinabs (a SumPool2d, IF/LIF/LI neurons with r = 1 and v_leak = 0, as "
                     f"sinabs.to_nir writes them); assuming sinabs's MembraneSubtract reset with one spike per tick "
                     f"(SingleSpike; sinabs's default MultiSpike, several spikes per tick, has no snnc equivalent) "
                     f"and torch's Flatten dims, which count the batch axis: reset_mode=subtract, "
                     f"reset_timing=immediate; for another reset pass --reset-mode and --reset-timing, for "
                     f"per-sample Flatten dims --load-option flatten_dims=sample, or load(..., reset_mode=..., "
                     f"reset_timing=...)"]
    x = (np.random.default_rng(2).random((40, 3, 1, 6, 6)) < 0.3).astype(np.float64)
    want = sinabs_reference(sinabs_graph(), x)
    assert 0 < want.mean() < 0.6
    np.testing.assert_array_equal(simulate(g, x), want)


def test_norse_export_keeps_nirs_reset_and_says_why(tmp_path):
    torch = pytest.importorskip("torch")
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = norse.to_nir(norse.SequentialState(torch.nn.Linear(4, 3), norse.LIFCell()), torch.zeros(4))
    nir.write(tmp_path / "n.nir", graph, compression=None)      # Norse writes 0-d parameters
    g, notes = load_noting(tmp_path / "n.nir")
    f = tmp_path / "n.nir"
    assert notes == [DT_NOTE.format(f=f, dt="0.001", why="snnc's default", method="euler"),
                     f"{f}: written by Norse (neurons with r = 1 and time constants below 0.0001 s (Norse writes "
                     f"dt/tau_inv), a CubaLIF with w_in = 1 (a LIFCell) among them, as norse.torch.to_nir writes "
                     f"them); Norse resets as NIR means (to v_reset, immediately); its time constants are read as "
                     f"written, as Norse's own from_nir reads them; pass --reset-mode/--reset-timing for another "
                     f"rule"]
    lif = g.op("1")
    assert isinstance(lif, snn.CubaLIF) and (lif.reset_mode, lif.reset_timing) == ("value", "immediate")


def test_spyx_export_is_named_and_read_with_nirs_meaning(tmp_path):
    beta, dt = np.full(3, 0.9), 1e-3
    graph = nir.NIRGraph(nodes={          # spyx.nir.to_nir: Haiku keys, tau = dt/(1 − β), r = β
        "input": nir.Input(np.array([4])), "linear": nir.Affine(weight=np.full((3, 4), 0.3), bias=np.zeros(3)),
        "LIF": nir.LIF(tau=dt / (1 - beta), v_threshold=np.ones(3), v_leak=np.zeros(3), r=beta, v_reset=np.zeros(3)),
        "output": nir.Output(np.array([3]))},
        edges=[("input", "linear"), ("linear", "LIF"), ("LIF", "output")])
    g, notes = load_noting(graph)
    assert notes[1] == ("<NIRGraph>: written by Spyx (Haiku layer keys and r = beta = 1 - dt/tau (dt = 0.001 s) on "
                        "every leaky neuron, as spyx.nir.to_nir writes them); NIR's meaning (spyx.nir.to_nir stores "
                        "Haiku's [N_in, N_out] weights and r = beta, which no NIR reader reads back); "
                        "snnc.frontends.jax.load_spyx_nir reads a NIR file as Spyx's neurons run it")
    assert (g.op("LIF").reset_mode, g.op("LIF").reset_timing, g.metadata["provenance"]) == ("value", "immediate", "Spyx")


def test_a_hand_built_cuba_graph_is_not_taken_for_norse():
    """r = 1 and w_in = 1 are NIR's plain defaults; only Norse's dt/tau_inv time constants tell its files."""
    cuba = nir.CubaLIF(tau_syn=np.full(3, 5e-3), tau_mem=np.full(3, 1e-2), r=np.ones(3), v_leak=np.zeros(3),
                       v_threshold=np.ones(3), w_in=np.ones(3))
    g, notes = load_noting(nir.NIRGraph.from_list(cuba))
    assert "provenance" not in g.metadata and "does not show which framework" in notes[1]


def test_a_file_that_shows_no_framework_gets_nirs_meaning_and_says_so():
    graph = nir.NIRGraph(nodes={
        "in": nir.Input(np.array([2])), "lif": nir.LIF(tau=np.full(2, 0.02), r=np.full(2, 1.0), v_leak=np.zeros(2),
                                                     v_threshold=np.ones(2), v_reset=np.full(2, -0.5)),
        "out": nir.Output(np.array([2]))}, edges=[("in", "lif"), ("lif", "out")])
    g, notes = load_noting(graph)
    assert notes == [DT_NOTE.format(f="<NIRGraph>", dt="0.001", why="snnc's default", method="euler"),
                     "<NIRGraph>: the file does not show which framework wrote it; assuming NIR's reset rule: "
                     "reset_mode=value (to v_reset), reset_timing=immediate (pass --reset-mode/--reset-timing, or "
                     "load(..., reset_mode=..., reset_timing=...), to override)"]
    assert "provenance" not in g.metadata
    assert load_noting(graph, dt=1e-3, reset_mode="value", reset_timing="immediate")[1] == []


def test_snnc_written_files_announce_nothing(tmp_path):
    path = snntorch_file(tmp_path)
    g, _ = load_noting(path)
    fnir.save(g, tmp_path / "again.nir")
    back, notes = load_noting(tmp_path / "again.nir")
    assert notes == [] and back == g


def test_bad_override_values_are_usage_errors(tmp_path):
    path = snntorch_file(tmp_path)
    with pytest.raises(UsageError, match=r"^nir.load: reset_mode must be one of value, subtract, none, got 'zero'$"):
        fnir.load(path, reset_mode="zero")
    with pytest.raises(MalformedInputError, match="over the limit of 3 per input"):
        fnir.load(path, max_elements=3)
