"""Run inputs are time-major; a batch-major or time-last array is refused where its shape tells."""
from pathlib import Path

import numpy as np
import pytest

import snnc
from snnc.cli import main
from snnc.errors import UsageError
from snnc.layout import check_time_major, input_shapes

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits" / "digits.snnir"


@pytest.fixture(scope="module")
def digits():
    return snnc.load(DIGITS)


def test_time_major_input_passes_whatever_its_sizes(digits):
    check_time_major(digits, np.zeros((7, 3, 64)))
    check_time_major(digits, np.zeros((3, 7, 64)))             # no batch size known: cannot tell
    check_time_major(digits, np.zeros((5, 5, 64)), batch=5)    # T = B: cannot tell
    check_time_major(digits, np.zeros((7, 3, 64)), batch=3)
    check_time_major(digits, {"x": np.zeros((7, 3, 64))})


def test_batch_major_is_refused_when_the_labels_give_the_batch(digits):
    with pytest.raises(UsageError) as e:
        check_time_major(digits, np.zeros((12, 25, 64)), batch=12, where="x.npy")
    assert str(e.value) == ("x.npy has shape [12, 25, 64]: batch-major [B, T, *shape] (its first axis holds the "
                            "12 samples the labels give, its second 25 ticks); snnc takes time-major "
                            "[T, B, *shape] = [25, 12, 64]: pass np.swapaxes(x, 0, 1)")


def test_time_last_is_refused(digits):
    with pytest.raises(UsageError) as e:
        check_time_major(digits, np.zeros((12, 64, 25)))
    assert str(e.value) == ("input has shape [12, 64, 25]: time on the last axis, [B, *shape, T] with B = 12, "
                            "T = 25 (lava-dl's layout); snnc takes time-major [T, B, *shape] = [25, 12, 64]: "
                            "pass np.moveaxis(x, -1, 0)")


def test_a_compiled_graph_checks_against_the_source_input_shape(tmp_path, digits):
    art = snnc.compile(digits, "loihi")
    assert input_shapes(art.graph) == input_shapes(digits) == {digits.inputs[0]: (64,)}
    with pytest.raises(UsageError, match="batch-major"):
        check_time_major(art.graph, np.zeros((4, 9, 64)), batch=4)


def test_cli_simulate_refuses_batch_major_input_with_labels(tmp_path, capsys):
    x = np.load(ROOT / "examples" / "digits" / "test_x.npy")[:, :20]
    np.save(tmp_path / "xb.npy", np.swapaxes(x, 0, 1))
    np.save(tmp_path / "y.npy", np.load(ROOT / "examples" / "digits" / "test_y.npy")[:20])
    code = main(["simulate", str(DIGITS), "--input", str(tmp_path / "xb.npy"), "--labels", str(tmp_path / "y.npy")])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith(f"snnc: error: {tmp_path / 'xb.npy'} has shape [20, 25, 64]: batch-major")


def test_ticks_repetition_is_announced_once(tmp_path, capsys):
    x = np.load(ROOT / "examples" / "digits" / "test_x.npy")[0, :6]       # static samples [B, 64]
    np.save(tmp_path / "s.npy", x)
    assert main(["simulate", str(DIGITS), "--input", str(tmp_path / "s.npy"), "--ticks", "9"]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == ["snnc: note: --ticks 9: the model stores no input coding, so each static sample "
                                "is presented unchanged on all 9 ticks (give a time-major [T, B, *shape] input "
                                "to code it otherwise)"]
    assert "shape [9, 6, 10]" in out


@pytest.mark.parametrize("target, note", [("loihi", True), ("analog", False)])
def test_chip_instances_of_a_noiseless_chip_are_announced(tmp_path, capsys, target, note):
    x = np.load(ROOT / "examples" / "digits" / "test_x.npy")[:, :4]
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / f"d.{target}"
    assert main(["compile", str(DIGITS), "--target", target, "-o", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--input", str(tmp_path / "x.npy"), "--chip-instances", "2"]) == 0
    err = capsys.readouterr().err
    expected = ("snnc: note: --chip-instances 2: the loihi chip has no device noise, so all 2 instances give the "
                "same run (instances differ on a device model: the analog targets)\n")
    assert err == (expected if note else "")
