"""`inspect --ir` shows large arrays by shape, dtype, digest and range; `--full` prints the parseable text."""
import hashlib
from pathlib import Path

import numpy as np

from snnc.cli import main
from snnc.ir.graph import Edge, Graph, Node
from snnc.ir.snn import Affine, Input, Output
from snnc.ir.text import load_snnir, parse_graph, print_graph

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits" / "digits.snnir"


def graph(weight: np.ndarray, bias: np.ndarray) -> Graph:
    n_out, n_in = weight.shape
    nodes = [Node("x", Input(shape=(n_in,))), Node("fc", Affine(weight=weight, bias=bias)),
             Node("y", Output(shape=(n_out,)))]
    return Graph(nodes, [Edge("x", "fc"), Edge("fc", "y")], inputs=["x"], outputs=["y"], dt=1e-3)


def test_a_large_array_prints_as_count_digest_and_range():
    w = np.arange(300, dtype=np.float64).reshape(30, 10) / 7.0 - 3.0
    bias = np.linspace(-1.0, 1.0, 30)
    text = print_graph(graph(w, bias), elide=100)
    digest = hashlib.sha256(w.tobytes()).hexdigest()[:12]
    assert f"weight = f64[30, 10] <300 values, sha256 {digest}, min -3, max 39.7143>" in text
    assert "bias = f64[30] [-1.0, " in text                     # 30 values: under the limit, inline


def test_uniform_arrays_stay_splat_and_no_elide_is_the_parseable_text():
    g = graph(np.full((40, 5), 0.25), np.zeros(40))
    assert "weight = f64[40, 5] splat 0.25" in print_graph(g, elide=10)
    w = np.random.default_rng(0).normal(size=(40, 5))
    g = graph(w, np.zeros(40))
    assert print_graph(g, elide=None) == print_graph(g)
    assert parse_graph(print_graph(g)) == g


def test_cli_inspect_ir_elides_unless_full(capsys):
    assert main(["inspect", "--ir", str(DIGITS)]) == 0
    short = capsys.readouterr().out
    assert short.splitlines()[0] == ("# arrays of more than 64 values show as <n values, sha256 prefix, min, max>; "
                                     "--full prints them all")
    assert "weight = f64[128, 64] <8192 values, sha256 " in short
    assert main(["inspect", "--ir", "--full", str(DIGITS)]) == 0
    full = capsys.readouterr().out
    g = load_snnir(DIGITS)
    assert full == print_graph(g) and parse_graph(full) == g
    assert len(short) * 20 < len(full)
