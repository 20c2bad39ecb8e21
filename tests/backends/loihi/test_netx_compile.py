"""lava-dl netx files compile for Loihi: their loihi.* nodes pass lowering untouched, are partitioned,
placed and emitted, and the artifact runs bit for bit like the file (`snnc verify` with the file as
the model reports spike agreement 1.0 on every layer)."""
import subprocess
import sys

import numpy as np
import pytest

import snnc
import snnc.errors
from snnc.frontends.netx import load
from snnc.targets import get_target
from tests.backends.loihi.test_lower_partition import tiny
from tests.frontends import netx_files as nf
from tests.frontends.test_netx_conv import cnn_layers
from tests.frontends.test_netx_sdnn import frames, sdnn_layers
from tests.netbuild import spikes


def dense_layers(rng):
    """A dense CUBA 40-64-10 chain, as lava-dl's tutorial networks are (smaller)."""
    return [nf.input_layer((40,)),
            nf.dense_layer(2 * rng.integers(-60, 70, (64, 40)), nf.cuba(300, 1024, 256), bias=rng.integers(-2, 3, 64)),
            nf.dense_layer(2 * rng.integers(-60, 70, (10, 64)), nf.cuba(250, 2048, 512))]


def verify_cli(tmp_path, model, x, *extra):
    np.save(tmp_path / "x.npy", x)
    out = subprocess.run([sys.executable, "-m", "snnc.cli", "compile", str(model), "--target", "loihi",
                          "-o", str(tmp_path / "a"), *extra], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return subprocess.run([sys.executable, "-m", "snnc.cli", "verify", str(tmp_path / "a"), "--model", str(model),
                           "--input", str(tmp_path / "x.npy")], capture_output=True, text=True)


def layer_lines(stdout: str) -> list[str]:
    return [l for l in stdout.splitlines() if l.strip().startswith("layer ")]


def test_a_dense_netx_file_compiles_and_verifies_spike_for_spike(tmp_path):
    nf.write(tmp_path / "m.net", dense_layers(np.random.default_rng(0)))
    out = verify_cli(tmp_path, tmp_path / "m.net", spikes(60, 3, 40, p=0.3))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = layer_lines(out.stdout)
    assert len(lines) == 2 and all("spike agreement 1.0000" in l and "latency 0" in l for l in lines), out.stdout
    assert "chip vs compiler: identical" in out.stdout


@pytest.mark.parametrize("graded", [False, True])
def test_a_conv_netx_file_with_an_encoding_input_neuron_compiles_bit_exactly(tmp_path, graded):
    rng = np.random.default_rng(1)
    nf.write(tmp_path / "cnn.net", cnn_layers(rng, graded=graded))
    g = load(tmp_path / "cnn.net")
    x = rng.integers(0, 200, (40, 2, 128)).astype(float)            # the encoding neurons' per-tick input
    art = snnc.compile(g, "loihi")
    report = snnc.verify(art, model=g, inputs=x)
    assert report.ok and report.lowering.differences == 0 and not report.lowering.skipped, str(report)
    assert all(l["agreement"] == 1.0 for l in report.comparison.layers), str(report)
    assert min(l["float_spikes"] for l in report.comparison.layers) > 0


def test_a_sigma_delta_netx_file_compiles_bit_exactly_on_loihi_and_is_refused_on_loihi1(tmp_path):
    rng = np.random.default_rng(3)
    nf.write(tmp_path / "sdnn.net", sdnn_layers(rng))
    g = load(tmp_path / "sdnn.net")
    x = frames(rng, 2)
    art = snnc.compile(g, "loihi")
    report = snnc.verify(art, model=g, inputs=x)
    assert report.ok and all(l["agreement"] == 1.0 for l in report.comparison.layers), str(report)
    with pytest.raises(snnc.errors.UnsupportedOpError, match=r"sigma-delta neurons are not supported by target "
                                                             r"'loihi1' \(rule neurons.models = \[cuba\]\)"):
        snnc.compile(g, "loihi1")


def test_a_netx_chain_split_over_cores_stays_bit_exact(tmp_path):
    nf.write(tmp_path / "m.net", dense_layers(np.random.default_rng(2)))
    g = load(tmp_path / "m.net")
    t = tiny(get_target("loihi"), neurons=16)
    art = snnc.compile(g, t)
    assert art.manifest["resources"]["cores"] == 5
    report = snnc.verify(art, model=g, inputs=spikes(50, 2, 40, p=0.3, seed=4))
    assert report.ok and all(l["agreement"] == 1.0 for l in report.comparison.layers), str(report)
