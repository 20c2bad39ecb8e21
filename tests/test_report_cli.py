"""`snnc report` on the command line: a page or a folder written, verify's runs drawn from --model and
--input, and every misuse a one-line error with exit 2."""
import sys

import numpy as np
import pytest

from snnc.cli import main
from snnc.ir.text import save_snnir
from tests.golden.artifacts import CASES, compile_case
from tests.netbuild import spikes

pytest.importorskip("matplotlib")            # the optional `report` extra


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The loihi1 golden net as a model file, its artifact, an input and labels."""
    root = tmp_path_factory.mktemp("report-cli")
    compile_case("loihi1").save(root / "art")
    save_snnir(CASES["loihi1"][0](), root / "model.snnir")
    np.save(root / "x.npy", spikes(10, 4, 6, seed=2))
    np.save(root / "y.npy", np.array([0, 1, 2, 0]))
    return root


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_folder_of_svg_images_from_the_files_alone(files, tmp_path, capsys):
    code, out, err = _run(capsys, "report", files / "art", "-o", tmp_path / "rep", "--format", "svg", "--quiet")
    assert code == 0 and out == f"wrote {tmp_path / 'rep' / 'index.html'}\n" and err == ""
    index = (tmp_path / "rep" / "index.html").read_text()
    images = sorted(p.name for p in (tmp_path / "rep").iterdir() if p.suffix == ".svg")
    assert {"chip-loads.svg", "quantisation.svg"} <= set(images)
    assert all(f'src="{name}"' in index for name in images) and "give a model and inputs" in index
    (tmp_path / "rep" / "raster.svg").write_text("from an earlier report")
    again, _, _ = _run(capsys, "report", files / "art", "-o", tmp_path / "rep", "--quiet")   # replaces a report
    assert again == 0 and not (tmp_path / "rep" / "raster.svg").exists()
    assert (tmp_path / "rep" / "chip-loads.png").exists()


def test_a_page_with_the_runs(files, tmp_path, capsys):
    code, out, _ = _run(capsys, "report", files / "art", "--model", files / "model.snnir", "--input", files / "x.npy",
                        "--labels", files / "y.npy", "-o", tmp_path / "r.html", "--quiet")
    assert code == 0 and out == f"wrote {tmp_path / 'r.html'}\n"
    page = (tmp_path / "r.html").read_text()
    assert "chip vs compiler: identical over 10 ticks x 4 samples" in page
    assert page.count('<img src="data:image/png;base64,') == 5     # loads, traffic, quantisation, raster, agreement


@pytest.mark.parametrize("args, message", [
    (["report", "{root}/nowhere", "-o", "{tmp}/r.html"], "snnc: error: {root}/nowhere: not an artifact directory"),
    (["report", "{root}", "-o", "{tmp}/r.html"], "snnc: error: {root}: no manifest.json: not an snnc artifact"),
    (["report", "{root}/art", "--model", "{root}/model.snnir", "-o", "{tmp}/r.html"],
     "snnc: error: report: give both --model and --input, or neither"),
    (["report", "{root}/art", "--labels", "{root}/y.npy", "-o", "{tmp}/r.html"],
     "snnc: error: report: --labels needs --model and --input"),
    (["report", "{root}/art", "--model", "{root}/model.snnir", "--input", "{root}/missing.npy", "-o", "{tmp}/r.html"],
     "snnc: error: {root}/missing.npy: no such file"),
    (["report", "{root}/art", "-o", "{root}"],
     "snnc: error: {root}: holds art, model.snnir, x.npy, ..., which a report does not write; not replacing it "
     "(choose an empty or new folder)"),
    (["report", "{root}/art", "-o", "{tmp}/r.html", "--times", "1h"],
     "snnc: error: --times '1h': expected seconds separated by commas, e.g. 3600,86400"),
])
def test_misuse_is_one_line_and_exit_2(files, tmp_path, capsys, args, message):
    code, out, err = _run(capsys, *[a.format(root=files, tmp=tmp_path) for a in args], "--quiet")
    assert code == 2 and out == ""
    assert err == message.format(root=files, tmp=tmp_path) + "\n"


def test_without_matplotlib_the_install_command_is_named(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)            # import matplotlib now raises ImportError
    code, out, err = _run(capsys, "report", files / "art", "-o", tmp_path / "r.html")
    assert code == 2 and not (tmp_path / "r.html").exists()
    assert err == ('snnc: error: snnc report draws with matplotlib, which is not installed: pip install -e ".[report]" '
                   "(or pip install matplotlib)\n")
