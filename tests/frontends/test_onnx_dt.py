"""ONNX stores no dt: the default is announced once, and a given dt is not."""
import contextlib
import io
import warnings

import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
pytest.importorskip("onnx")

import snnc  # noqa: E402
from snnc.cli import main  # noqa: E402
from snnc.errors import Guess  # noqa: E402


class Step(torch.nn.Module):
    """One tick of Linear -> Leaky with explicit state: the single-step ONNX form."""

    def __init__(self):
        super().__init__()
        self.fc, self.lif = torch.nn.Linear(3, 2), snn.Leaky(beta=0.9)

    def forward(self, x, mem):
        return self.lif(self.fc(x), mem)


class Plain(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        return torch.relu(self.fc(x))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx_dt")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(Step(), (torch.zeros(1, 3), torch.zeros(1, 2)), str(d / "step.onnx"), dynamo=False,
                          input_names=["x", "mem"], output_names=["spk", "mem_out"])
        torch.onnx.export(Plain(), (torch.zeros(1, 3),), str(d / "plain.onnx"), dynamo=False)
    return d


def guesses(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = snnc.load(path, **kw)
    return graph, [str(w.message) for w in caught if issubclass(w.category, Guess)]


def test_the_default_dt_is_announced_with_how_to_override_it(files):
    graph, notes = guesses(files / "step.onnx", state={"mem": "mem_out"})
    assert graph.dt == 1e-3
    assert notes == ["step.onnx: ONNX stores no dt; assuming dt = 0.001 s (it sets the time constants, not the "
                     "spikes, which the graph computes per tick); pass --dt or load(..., dt=...)"]
    graph, notes = guesses(files / "step.onnx", state={"mem": "mem_out"}, dt=2e-4)
    assert (graph.dt, notes) == (2e-4, [])


def test_a_stateless_network_has_no_dt_to_guess(files):
    assert guesses(files / "plain.onnx")[1] == []


def test_the_cli_prints_the_note_once(files, capsys):
    assert main(["inspect", str(files / "step.onnx"), "--load-option", 'state={"mem": "mem_out"}']) == 0
    err = capsys.readouterr().err
    assert err.count("snnc: note: step.onnx: ONNX stores no dt; assuming dt = 0.001 s") == 1
