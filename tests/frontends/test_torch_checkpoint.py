"""A model saved as `torch.save(net.state_dict())` plus its class: loaded with
torch.load(weights_only=True), never by unpickling objects, then read as a live module."""
from __future__ import annotations

import inspect
import pickle
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("snntorch")

import snnc  # noqa: E402
from snnc.cli import main  # noqa: E402
from snnc.errors import Guess, MalformedInputError, UsageError  # noqa: E402
from tests.frontends.test_torch_loop import NUM_STEPS, TutorialNet, heaviside  # noqa: E402

# snnTorch tutorial 5's network as a user's own module file holds it: the class of the live-module tests.
MODEL_SOURCE = "\n".join(["import snntorch as snn", "import torch", "from torch import nn", "",
                           f"NUM_STEPS = {NUM_STEPS}", "", "", inspect.getsource(heaviside), "",
                           inspect.getsource(TutorialNet)])


@pytest.fixture
def saved(tmp_path, monkeypatch):
    """(the module file, the state dict file, the live net it was saved from)."""
    source = tmp_path / "tutorial_model.py"
    source.write_text(MODEL_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    module = importlib.import_module("tutorial_model")
    torch.manual_seed(11)
    net = module.TutorialNet(spike_grad=module.heaviside)     # synthetic weights: no download
    torch.save(net.state_dict(), tmp_path / "net.pt")
    yield source, tmp_path / "net.pt", net
    sys.modules.pop("tutorial_model", None)


def spikes(seed=2, batch=3):
    return (torch.rand(NUM_STEPS, batch, 784, generator=torch.Generator().manual_seed(seed)) < 0.3).double()


def snntorch_run(net, x):
    with torch.no_grad():
        return net.double()(x)[0].numpy()


def quiet_load(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Guess)
        return snnc.load(*args, **kw)


@pytest.mark.parametrize("spelling", ["file", "module"])
def test_state_dict_plus_class_runs_as_the_live_module(saved, spelling, monkeypatch):
    source, weights, net = saved
    monkeypatch.chdir(source.parent)
    torch_class = f"{source}:TutorialNet" if spelling == "file" else "tutorial_model:TutorialNet"
    g = quiet_load(weights, torch_class=torch_class, torch_args={"num_steps": NUM_STEPS})
    live = quiet_load(net, sample_input=spikes())
    assert list(g.nodes) == list(live.nodes) == ["x", "fc1", "lif1", "fc2", "lif2", "output"]
    np.testing.assert_array_equal(g.op("fc1").weight, live.op("fc1").weight)
    x = spikes()
    want = snntorch_run(net, x)
    assert 0 < want.mean() < 0.5
    np.testing.assert_array_equal(snnc.simulate(g, x.numpy()), want)


def test_cli_compiles_the_state_dict_for_loihi_and_converts_it_to_nir(saved, tmp_path, capsys):
    source, weights, net = saved
    args = ["--torch-class", f"{source}:TutorialNet", "--torch-args", '{"num_steps": 25}']
    assert main(["compile", str(weights), "--target", "loihi", "-o", str(tmp_path / "net.loihi"), *args]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"wrote {tmp_path / 'net.loihi'}: ") and "1011 neurons" in out     # + the always-on one
    assert "snnc: note: TutorialNet: no dt in the model; assuming dt = 0.001 s" in err
    assert main(["convert", str(weights), "-o", str(tmp_path / "net.nir"), *args]) == 0
    capsys.readouterr()
    nir = pytest.importorskip("nir")
    assert type(nir.read(tmp_path / "net.nir").nodes["lif1"]).__name__ == "LIF"
    x = spikes(seed=5)
    np.testing.assert_array_equal(snnc.simulate(snnc.load(tmp_path / "net.nir"), x.numpy()), snntorch_run(net, x))


class Payload:
    """What an unpickler would run on load: it writes a file (it must never run)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_pickled_object_is_refused_without_running_it(saved, tmp_path):
    source, _, _ = saved
    trap, marker = tmp_path / "evil.pt", tmp_path / "ran"
    with open(trap, "wb") as f:
        pickle.dump({"fc1.weight": Payload(marker)}, f)
    with pytest.raises(MalformedInputError) as e:
        quiet_load(trap, torch_class=f"{source}:TutorialNet")
    assert str(e.value).startswith(f"{trap}: not a state dict torch.load(weights_only=True) can read (save "
                                   f"model.state_dict(), not the model object): UnpicklingError")
    assert not marker.exists()


def test_a_whole_saved_module_is_refused(saved, tmp_path):
    source, _, net = saved
    torch.save(net, tmp_path / "whole.pt")
    with pytest.raises(MalformedInputError, match=r"not a state dict torch.load\(weights_only=True\) can read"):
        quiet_load(tmp_path / "whole.pt", torch_class=f"{source}:TutorialNet")


def test_keys_that_do_not_fit_the_class_are_named(saved, tmp_path):
    source, weights, _ = saved
    state = torch.load(weights, weights_only=True)
    state["fc3.weight"] = state.pop("fc2.weight")
    state["fc1.bias"] = torch.zeros(20)
    torch.save(state, tmp_path / "renamed.pt")
    with pytest.raises(MalformedInputError) as e:
        quiet_load(tmp_path / "renamed.pt", torch_class=f"{source}:TutorialNet")
    assert str(e.value) == (f"{tmp_path / 'renamed.pt'}: does not fit TutorialNet: missing fc2.weight; unexpected "
                            f"fc3.weight; fc1.bias is [20] in the file, [1000] in the model")


@pytest.mark.parametrize("options, message", [
    ({}, "net.pt: a .pt file holds weights only; name the model's class with torch_class='package.module:ClassName' "
         "(CLI: --torch-class)"),
    ({"torch_class": "Net"}, "torch class 'Net': expected 'package.module:ClassName' or 'path/file.py:ClassName'"),
    ({"torch_class": "no_such_package_xyz:Net"}, "torch class 'no_such_package_xyz:Net': cannot import "
                                                 "no_such_package_xyz (No module named 'no_such_package_xyz')"),
    ({"torch_class": "tutorial_model:Nett"}, "torch class 'tutorial_model:Nett': tutorial_model defines no class Nett"),
    ({"torch_class": "tutorial_model:TutorialNet", "torch_args": "{num_steps: 3}"},
     "constructor arguments for tutorial_model:TutorialNet: not JSON (Expecting property name enclosed in double "
     "quotes: line 1 column 2 (char 1)): '{num_steps: 3}'"),
    ({"torch_class": "tutorial_model:TutorialNet", "torch_args": {"steps": 3}},
     "tutorial_model:TutorialNet(steps=3) failed: TypeError: Leaky.__init__() got an unexpected keyword argument "
     "'steps'"),
])
def test_naming_the_class_wrongly_says_what_is_expected(saved, options, message, monkeypatch):
    source, weights, _ = saved
    monkeypatch.chdir(source.parent)
    with pytest.raises(UsageError) as e:
        quiet_load(weights.name, **options)
    assert str(e.value) == message
