"""The command line: exit codes, one-line messages with file:line:col, no tracebacks."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snnc.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "ir_spec" / "examples" / "recurrent.snnir"

GOOD = """snnir 1 dt=0.001 method=euler
node x = snn.input {shape = [2]}
node fc = snn.linear {weight = f64[3, 2] [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]}
node y = snn.output {shape = [3]}
edge x -> fc
edge fc -> y
input x
output y
"""


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, text, name="m.snnir"):
    p = tmp_path / name
    p.write_text(text)
    return p


W = "f64[3, 2] [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]"


@pytest.mark.parametrize("case, text, expected", [
    ("unknown op", GOOD.replace("snn.linear", "snn.linaer"),
     "3:11: unknown op 'snn.linaer' (expected one of: "),
    ("wrong shape between nodes", GOOD.replace(W, "f64[3, 3] [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]"),
     "3:1: node 'fc': input has shape [2], expected [3]"),
    ("array data against its shape", GOOD.replace(W, "f64[3, 5] [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]"),
     "3:43: array data[0] has 2 entries (expected 5 for shape [3, 5])"),
    ("missing field", GOOD.replace("{weight = " + W + "}", "{}"),
     "3:11: snn.linear field 'weight' is missing (expected an f64 array: f64[dims] then [...], splat V or "
     "@name; every field is written out)"),
    ("bad token", GOOD.replace("edge x -> fc", "edge x => fc"),
     "5:8: unexpected '=' (expected '->' or '~>' or ':')"),
])
def test_malformed_text_one_line_exit_2(tmp_path, capsys, case, text, expected):
    path = write(tmp_path, text)
    code, out, err = run_cli(["inspect", path], capsys)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"snnc: error: {path}:{expected}"), lines[0]
    if case == "unknown op":
        assert "snn.linear" in lines[0]      # the list of known ops names the intended one


def test_inspect_summary(capsys):
    code, out, err = run_cli(["inspect", EXAMPLE], capsys)
    assert code == 0 and err == ""
    rows = {line.split()[0]: line.split() for line in out.splitlines()[4:-1]}
    assert rows["rlif"] == ["rlif", "snn.lif", "8", "8", "rlif"]
    assert rows["rec"] == ["rec", "snn.linear", "8", "64", "rlif.recurrent"]
    assert "total: 7 nodes, 11 neurons, 120 synapses" in out
    assert "1 recurrent edges" in out


def test_convert_and_simulate_round_trip(tmp_path, capsys):
    out_path = tmp_path / "copy.snnir"
    assert run_cli(["convert", EXAMPLE, "-o", out_path], capsys)[0] == 0
    assert out_path.read_text() == EXAMPLE.read_text()
    x = (np.random.default_rng(0).random((20, 3, 4)) < 0.5).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(["simulate", out_path, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy"],
                             capsys)
    assert code == 0, err
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (20, 3, 3)
    assert "y: shape [20, 3, 3]" in out


def test_simulate_bad_input_shape(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((20, 3, 5)))
    code, _, err = run_cli(["simulate", EXAMPLE, "--input", tmp_path / "x.npy"], capsys)
    assert code == 2
    assert err.strip() == "snnc: error: input 'x' has shape [20, 3, 5], expected [T, B, 4] (time-major)"


def test_usage_errors(tmp_path, capsys):
    assert run_cli(["inspect", tmp_path / "none.nir"], capsys)[2].strip() == \
        f"snnc: error: {tmp_path / 'none.nir'}: no such file"
    p = write(tmp_path, "x", "m.xyz")
    code, _, err = run_cli(["inspect", p], capsys)
    assert code == 2 and "unknown model format '.xyz'" in err
    code, _, err = run_cli(["convert", EXAMPLE, "-o", tmp_path / "m.net"], capsys)
    assert code == 2 and err.strip() == (
        "snnc: error: netx cannot express node 'fc': is snn.linear, expected loihi.dense or loihi.conv here "
        "(input -> [neuron] -> (loihi.dense | loihi.conv -> neuron)+ -> output)")


def test_targets_lists_each_target(capsys):
    code, out, _ = run_cli(["targets"], capsys)
    assert code == 0
    from snnc.targets import all_targets
    for name in all_targets():
        assert name in out


def test_entry_point_prints_no_traceback(tmp_path):
    path = write(tmp_path, GOOD.replace("snn.linear", "snn.linaer"))
    proc = subprocess.run([sys.executable, "-m", "snnc.cli", "inspect", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_simulate_prints_accuracy_with_labels(tmp_path, capsys):
    """The shipped digits model: accuracy from the summed output spikes, checked by hand."""
    ex = ROOT / "examples" / "digits"
    x, labels = np.load(ex / "test_x.npy")[:, :60], np.load(ex / "test_y.npy")[:60]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", labels)
    code, out, err = run_cli(["simulate", ex / "digits.snnir", "--input", tmp_path / "x.npy",
                              "--labels", tmp_path / "y.npy", "-o", tmp_path / "out.npy"], capsys)
    assert code == 0, err
    y = np.load(tmp_path / "out.npy")
    expected = np.mean(y.sum(axis=0).argmax(axis=1) == labels)
    assert f"output: accuracy {expected:.4f}" in out.splitlines()
    np.save(tmp_path / "bad.npy", labels[:10])
    code, _, err = run_cli(["simulate", ex / "digits.snnir", "--input", tmp_path / "x.npy",
                            "--labels", tmp_path / "bad.npy"], capsys)
    assert code == 2 and err.strip() == "snnc: error: labels hold 10 entries for a batch of 60 samples"


def test_compile_then_inspect_the_artifact(tmp_path, capsys):
    out = tmp_path / "digits.loihi"
    code, stdout, err = run_cli(["compile", ROOT / "examples" / "digits" / "digits.snnir", "--target", "loihi",
                                 "-o", out, "--quiet"], capsys)
    assert code == 0, err
    # 128 + 10 neurons and the always-on one whose synapses bring each neuron's bias (138 of them)
    assert stdout.startswith(f"wrote {out}: 1 core(s) on 1 chip(s), 139 neurons, 9610 synapses (")
    code, stdout, err = run_cli(["inspect", out], capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == "artifact for target loihi: 1 core(s) on 1 chip(s), 139 neurons, 9610 synapses"
    assert lines[1].startswith("  estimate per inference: ") and "µJ" in lines[1]
    assert "loihi.cuba" in stdout and "total: 10 nodes, 139 neurons" in stdout


def _converted_ann(tmp_path):
    """A small ReLU network converted by convert-ann, saved as .snnir, with static samples."""
    import snnc
    import snnc.ir.snn as snn
    from snnc.ir import GraphBuilder
    from snnc.ir.ann import ReLU
    from snnc.ir.text import save_snnir
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    x = b.input("x", (6,))
    h = b.add("fc1", snn.Affine(weight=rng.normal(0, 0.5, (8, 6)), bias=np.zeros(8)), x)
    r = b.add("relu", ReLU(), h)
    y = b.add("fc2", snn.Affine(weight=rng.normal(0, 0.5, (3, 8)), bias=np.zeros(3)), r)
    b.output("y", y, (3,))
    samples = rng.random((40, 6))
    g = snnc.load(b.build(), convert_ann=True, calibration=samples)
    save_snnir(g, tmp_path / "snn.snnir")
    np.save(tmp_path / "static.npy", samples)
    return g, samples


def test_ticks_presents_static_samples_with_the_models_coding(tmp_path, capsys):
    from snnc.passes.convert_ann import classify, encode
    from snnc.api import simulate
    g, samples = _converted_ann(tmp_path)
    labels = classify(g, simulate(g, encode(g, samples, 16)))
    np.save(tmp_path / "labels.npy", labels)
    code, out, err = run_cli(["simulate", tmp_path / "snn.snnir", "--input", tmp_path / "static.npy",
                              "--ticks", "16", "--labels", tmp_path / "labels.npy", "-o", tmp_path / "y.npy"], capsys)
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "y.npy"), simulate(g, encode(g, samples, 16)))
    assert "y: accuracy 1.0000" in out.splitlines()       # the readout's own decision rule
    code, _, err = run_cli(["simulate", EXAMPLE, "--input", tmp_path / "static.npy", "--ticks", "0"], capsys)
    assert code == 2 and err.strip() == "snnc: error: --ticks must be >= 1, got 0"


def test_ticks_repeats_static_samples_of_a_plain_model(tmp_path, capsys):
    from snnc.api import simulate
    x = np.random.default_rng(1).random((5, 4))
    np.save(tmp_path / "x.npy", x)
    code, _, err = run_cli(["simulate", EXAMPLE, "--input", tmp_path / "x.npy", "--ticks", "7",
                            "-o", tmp_path / "y.npy"], capsys)
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "y.npy"), simulate(str(EXAMPLE), np.repeat(x[None], 7, axis=0)))


def test_verify_a_converted_ann_from_static_samples(tmp_path, capsys):
    _converted_ann(tmp_path)
    art = tmp_path / "snn.loihi"
    code, _, err = run_cli(["compile", tmp_path / "snn.snnir", "--target", "loihi", "-o", art, "--quiet",
                            "--option", "loihi-quantize.input=graded"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["verify", art, "--model", tmp_path / "snn.snnir", "--input", tmp_path / "static.npy",
                              "--ticks", "16"], capsys)
    assert code == 0, out + err
    assert "chip vs float model over 16 ticks x 40 samples" in out
    assert "chip vs compiler: identical over 16 ticks x 40 samples" in out
    assert "differs from the one the artifact was compiled from" not in out


def test_each_guess_is_printed_once_as_a_note(capsys, monkeypatch):
    """A guess the library announces reaches the user once, as `snnc: note: ...` on stderr."""
    import argparse

    from snnc import cli
    from snnc.errors import announce

    def command(args):
        for _ in range(3):
            announce("m.nir: no dt stored; assuming dt = 0.001 s (pass --dt)")
        announce("m.nir: reset rule of NIR assumed (pass --reset-timing)")
        return 0

    parsed = argparse.Namespace(func=command)
    monkeypatch.setattr(cli, "_parser", lambda: argparse.Namespace(parse_args=lambda argv: parsed))
    assert cli.main([]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["snnc: note: m.nir: no dt stored; assuming dt = 0.001 s (pass --dt)",
                   "snnc: note: m.nir: reset rule of NIR assumed (pass --reset-timing)"]
