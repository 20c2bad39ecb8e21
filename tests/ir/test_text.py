"""The text form (.snnir): round trips over the op registry, golden files, every error message.

Golden files live in tests/golden/. After an intended change to the printed form, rewrite
them with

    python -m tests.ir.test_text --update-golden

and review the diff like any other change.
"""
from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import snnc.ir.snn as snn
from snnc.errors import MalformedInputError, ParseError
from snnc.ir import Graph, GraphBuilder
from snnc.ir.op import all_ops
from snnc.ir.text import GRAMMAR_PATH, _lark, load_snnir, parse_graph, print_graph, save_snnir
from snnc.ir.verify import NAME_PATTERN
from tests.ir.strategies import dialect_ops, graphs

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = ROOT / "ir_spec" / "examples"


def examples(n: int) -> settings:
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def roundtrip(g: Graph, *, inline_limit: int | None = None) -> str:
    """Print, parse, print again: the graph and the text both come back unchanged. With an
    `inline_limit`, large arrays go through a sidecar."""
    def show(graph: Graph, sidecar: dict | None) -> str:
        return print_graph(graph, sidecar=sidecar, inline_limit=64 if inline_limit is None else inline_limit)

    sidecar, again = ({}, {}) if inline_limit is not None else (None, None)
    text = show(g, sidecar)
    back = parse_graph(text, sidecar=sidecar)
    assert back == g
    assert show(back, again) == text
    if sidecar is not None:
        assert again.keys() == sidecar.keys()
    return text


# -- grammar ------------------------------------------------------------------------------------
def test_package_reads_the_canonical_grammar():
    assert GRAMMAR_PATH.resolve() == (ROOT / "ir_spec" / "snnir.lark").resolve()


def test_grammar_names_are_the_verifier_names():
    name = next(t for t in _lark().terminals if t.name == "NAME").pattern.value
    assert name + r"\Z" == NAME_PATTERN.pattern


# -- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("op", dialect_ops("snn.") + dialect_ops("ann."))
@examples(6)
@given(data=st.data())
def test_every_op_round_trips(op, data):
    """Fails for an op of the registry that the strategies cannot build (unsatisfiable)."""
    g = data.draw(graphs(required=op, max_steps=2))
    assert op in {n.op.name for n in g.nodes.values()}
    roundtrip(g)


@examples(30)
@given(g=graphs(), inline_limit=st.integers(0, 70))
def test_random_graphs_round_trip_with_and_without_sidecar(g, inline_limit):
    roundtrip(g)
    text = roundtrip(g, inline_limit=inline_limit)
    if any(f.metadata["kind"] == "array" and getattr(n.op, f.name).size > inline_limit
           and len({x.tobytes() for x in getattr(n.op, f.name).reshape(-1)}) > 1
           for n in g.nodes.values() for f in n.op.field_specs()):
        assert " @" in text


def test_floats_round_trip_bit_for_bit():
    special = [0.1, -0.0, 0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, float("inf"),
               float("-inf"), float("nan"), 1 / 3, 1e16, 123456789.125]
    b = GraphBuilder(dt=1e-4)
    x = b.input("x", (len(special),))
    b.output("y", b.add("s", snn.Scale(scale=np.array(special)), x), (len(special),))
    g = b.build()
    back = parse_graph(print_graph(g))
    got = back.op("s").scale
    assert got.view(np.uint64).tolist() == np.array(special).view(np.uint64).tolist()
    assert back.dt == 1e-4


def test_default_ports_may_be_written_out():
    g = _lif_chain()[0]
    spelled = print_graph(g).replace("edge x -> fc", "edge x:output -> fc:input")
    assert "x:output" in spelled and parse_graph(spelled) == g


def test_save_and_load_with_sidecar_is_byte_stable():
    g = _mlp_like()
    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp) / "a.snnir", Path(tmp) / "b.snnir"
        save_snnir(g, first)
        save_snnir(load_snnir(first), second)
        assert load_snnir(second) == g
        assert first.read_text() == second.read_text()
        assert first.with_suffix(".npz").read_bytes() == second.with_suffix(".npz").read_bytes()
        assert "@fc.weight" in first.read_text()
        assert set(np.load(first.with_suffix(".npz"))) == {"fc.weight"}


@examples(40)
@given(g=graphs(max_steps=2), data=st.data())
def test_damaged_text_raises_only_parse_error(g, data):
    """Whatever is cut out or inserted, the parser answers with a Graph or one-line ParseError."""
    text = print_graph(g)
    i, j = sorted(data.draw(st.lists(st.integers(0, len(text)), min_size=2, max_size=2)))
    junk = data.draw(st.text(alphabet='{}[](),=:@#"\\-~> \n.0e9aZ', max_size=3))
    damaged = text[:i] + junk + text[j:]
    try:
        parse_graph(damaged, file="d.snnir")
    except ParseError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"d.snnir:{exc.line}:{exc.column}: ")
        assert 1 <= exc.line <= damaged.count("\n") + 1


# -- golden files -------------------------------------------------------------------------------
def _lif(n, **kw):
    return snn.LIF(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                   v_reset=np.zeros(n), **kw)


def _lif_chain():
    """Small inline arrays, special floats, escapes in metadata and origins, a recurrent edge."""
    b = GraphBuilder(dt=5e-4, method="exact",
                     metadata={"source": 'model "v2".nir', "notes": "tab\there\nnewline, τ, \u2028, 🧠, \\"})
    x = b.input("x", (4,), origin='input "x"')
    fc = b.add("fc", snn.Affine(weight=np.arange(12.0).reshape(3, 4) / 8, bias=np.array([0.1, -0.0, 2.5])),
               x, origin="net.layers[0]")
    n = b.add("lif", _lif(3, reset_mode="subtract", t_refrac=2e-3), fc, origin="net.layers[1]")
    s = b.add("gain", snn.Scale(scale=np.array([np.inf, -np.inf, np.nan])), n)
    b.connect(s, n, recurrent=True)
    b.output("y", n, (3,))
    return b.build(), None


def _conv_net():
    """Multi-line nodes, 4-D inline weights, pools, flatten, a cuba_lif, 0-d and empty arrays."""
    b = GraphBuilder(dt=1e-3)
    x = b.input("x", (2, 4, 4))
    c = b.add("conv", snn.Conv2d(weight=np.linspace(-1, 1, 2 * 2 * 2 * 2).reshape(2, 2, 2, 2), bias=np.zeros(2),
                                 stride=(1, 1), padding=(1, 1)), x, origin="features.0")
    p = b.add("pool", snn.SumPool2d(kernel_size=(2, 2), stride=(2, 2)), c)
    a = b.add("avg", snn.AvgPool2d(kernel_size=(1, 1), stride=(1, 1)), p)
    f = b.add("flat", snn.Flatten(start_dim=0, end_dim=-1), a)
    fc = b.add("fc", snn.Affine(weight=np.eye(2, 8), bias=np.array([0.25, 0.5])), f)
    cu = b.add("cuba", snn.CubaLIF(tau_syn=np.full(2, 5e-3), tau_mem=np.full(2, 1e-2), r=np.ones(2),
                                   v_leak=np.zeros(2), v_threshold=np.array([1.0, 1.5]), v_reset=np.zeros(2),
                                   w_in=np.ones(2), current_timing="next_tick", graded=True), fc)
    b.output("y", cu, (2,))
    return b.build(), None


def _sidecar_graph():
    """Keyword-like node names, i64 arrays, a sparse projection, delay; large arrays in a sidecar."""
    b = GraphBuilder(dt=1e-3)
    x = b.input("input", (6,))
    sp = b.add("node", snn.SparseLinear(indptr=np.array([0, 2, 3, 5]), indices=np.array([0, 5, 2, 1, 1]),
                                         data=np.array([0.5, -1.0, 2.0, 0.25, 0.25]), bias=np.zeros(3), n_in=6), x)
    d = b.add("1e5", snn.Delay(delay=np.array([0.0, 1e-3, 2e-3])), sp)
    t = b.add("edge", snn.Threshold(threshold=np.full(3, 0.5)), d)
    fc = b.add("f64", snn.Linear(weight=np.arange(30.0).reshape(10, 3)), t)
    b.output("output", b.add("li.0", snn.LI(tau=np.linspace(0.01, 0.1, 10), r=np.ones(10), v_leak=np.zeros(10)), fc),
             (10,))
    return b.build(), 8


def _mlp_like():
    b = GraphBuilder()
    x = b.input("x", (70,))
    fc = b.add("fc", snn.Affine(weight=np.arange(140.0).reshape(2, 70), bias=np.zeros(2)), x)
    b.output("y", b.add("lif", _lif(2), fc), (2,))
    return b.build()


GOLDEN_CASES = {"lif_chain": _lif_chain, "conv_net": _conv_net, "sidecar": _sidecar_graph}


def _golden_text(name: str) -> tuple[str, dict | None]:
    g, limit = GOLDEN_CASES[name]()
    sidecar = {} if limit is not None else None
    return print_graph(g, sidecar=sidecar, inline_limit=limit or 64), sidecar


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden(name):
    text, sidecar = _golden_text(name)
    path = GOLDEN / f"{name}.snnir"
    assert path.read_bytes() == text.encode("utf-8"), \
        f"{path.name} differs from the printer's output: rerun python -m tests.ir.test_text --update-golden"
    assert parse_graph(path.read_text(encoding="utf-8"), sidecar=sidecar) == GOLDEN_CASES[name]()[0]


# -- examples -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mlp", "conv", "recurrent"])
def test_examples_load_and_verify(name):
    g = load_snnir(EXAMPLES / f"{name}.snnir")
    assert g.verify() is g
    assert print_graph(g, sidecar={}) == (EXAMPLES / f"{name}.snnir").read_text(encoding="utf-8")


def test_examples_are_what_the_script_makes():
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with tempfile.TemporaryDirectory() as tmp:
        module.main(Path(tmp))
        made = sorted(p.name for p in Path(tmp).iterdir())
        assert made == ["conv.snnir", "mlp.npz", "mlp.snnir", "recurrent.snnir"]
        for name in made:
            assert (Path(tmp) / name).read_bytes() == (EXAMPLES / name).read_bytes(), name
    assert any(e.recurrent for e in module.recurrent().edges)
    ops = {n.op.name for n in module.conv().nodes.values()}
    assert {"snn.conv2d", "snn.lif", "snn.sum_pool2d", "snn.avg_pool2d", "snn.flatten", "snn.affine",
            "snn.cuba_lif"} <= ops


# -- errors: one test per kind, exact message with line and column --------------------------------
BASE = """snnir 1 dt=0.001 method=euler
meta "source" = "m.nir"
node x = snn.input {shape = [3]}
node fc = snn.affine {weight = f64[2, 3] [[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]], bias = f64[2] [0.25, -0.75]} loc("layers.0")
node lif = snn.lif {
  tau = f64[2] splat 0.02,
  r = f64[2] splat 1.0,
  v_leak = f64[2] splat 0.0,
  v_threshold = f64[2] splat 1.0,
  v_reset = f64[2] splat 0.0,
  reset_mode = "subtract",
  reset_timing = "immediate",
  t_refrac = 0.0,
  graded = false
} loc("layers.1")
node y = snn.output {shape = [2]}
edge x -> fc
edge fc -> lif
edge lif -> y
input x
output y
"""


def error(old: str, new: str, *, sidecar=None) -> str:
    """The message of parsing BASE with `old` replaced by `new` (which must occur once)."""
    assert BASE.count(old) == 1, old
    with pytest.raises(ParseError) as info:
        parse_graph(BASE.replace(old, new), file="m.snnir", sidecar=sidecar)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"m.snnir:{info.value.line}:{info.value.column}: ")
    return message


def at(text: str, needle: str, nth: int = 0) -> str:
    """'m.snnir:LINE:COL' of the nth occurrence of `needle` in `text`."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    line = text.count("\n", 0, i) + 1
    return f"m.snnir:{line}:{i - (text.rfind(chr(10), 0, i) + 1) + 1}"


QUOTE, BACKSLASH = '"', "\\"


def test_base_text_is_valid():
    g = parse_graph(BASE)
    assert print_graph(g).count("node ") == 4 and g.op("fc").bias.tolist() == [0.25, -0.75]


def test_statements_may_come_in_any_order():
    lines = BASE.splitlines(keepends=True)
    reordered = lines[0] + "".join(lines[16:]) + "# comments are ignored\n" + "".join(lines[1:16])
    assert parse_graph(reordered) == parse_graph(BASE)


def test_error_unexpected_token():
    text = BASE.replace("shape = [3]}", "shape = [3}}")
    assert error("shape = [3]}", "shape = [3}}") == f"{at(text, '}')}: unexpected '}}' (expected ',' or ']')"


def test_error_unexpected_character():
    text = BASE.replace("[3]", "[3 $]")
    assert error("[3]", "[3 $]") == f"{at(text, '$')}: unexpected character '$' (expected ',' or ']')"


def test_error_keyword_needs_a_space():
    text = BASE.replace("node y =", "nodey =")
    assert error("node y =", "nodey =") == (f"{at(text, 'nodey')}: unexpected 'nodey' "
                                            "(expected end of input, 'edge', 'input', 'mapping', 'meta', 'node' or 'output')")


def test_error_value_of_no_kind():
    text = BASE.replace("t_refrac = 0.0", "t_refrac = zero")
    assert error("t_refrac = 0.0", "t_refrac = zero") == (
        f"{at(text, 'zero')}: unexpected 'zero' (expected a number, a string, "
        "an array type (f64[...] or i64[...]), '[', 'false' or 'true')")


def test_error_unexpected_end_of_input():
    text = BASE[:BASE.index("node y")].rstrip() + "\nnode y = snn.output {shape = [2]"
    with pytest.raises(ParseError) as info:
        parse_graph(text, file="m.snnir")
    assert str(info.value) == f"m.snnir:16:33: unexpected end of input (expected ',' or '}}')"
    assert text.splitlines()[15][31] == "]"


def test_error_unknown_op_lists_known_ops():
    known = ", ".join(sorted(all_ops()))
    assert error("snn.output {", "snn.outptu {") == f"{at(BASE, 'snn.output')}: unknown op 'snn.outptu' (expected one of: {known})"


def test_error_missing_field():
    assert error(', bias = f64[2] [0.25, -0.75]', '') == \
        f"{at(BASE, 'snn.affine')}: snn.affine field 'bias' is missing (expected an f64 array: f64[dims] then [...], " \
        "splat V or @name; every field is written out)"


def test_error_unknown_field():
    text = BASE.replace("  graded = false", "  graded = false,\n  gradde = true")
    assert error("  graded = false", "  graded = false,\n  gradde = true") == \
        f"{at(text, 'gradde')}: snn.lif has no field 'gradde' (expected one of: tau, r, v_leak, " \
        "v_threshold, v_reset, reset_mode, reset_timing, t_refrac, graded)"


def test_error_field_given_twice():
    text = BASE.replace("  t_refrac = 0.0,", "  t_refrac = 0.0,\n  t_refrac = 0.5,")
    assert error("  t_refrac = 0.0,", "  t_refrac = 0.0,\n  t_refrac = 0.5,") == \
        f"{at(text, 't_refrac', 1)}: field 't_refrac' is given twice"


def test_error_string_where_an_array_is_expected():
    text = BASE.replace("bias = f64[2] [0.25, -0.75]", 'bias = "0.25"')
    assert error("bias = f64[2] [0.25, -0.75]", 'bias = "0.25"') == (
        f"{at(text, QUOTE + '0.25')}: snn.affine field 'bias' is the string \"0.25\" "
        "(expected an f64 array: f64[dims] then [...], splat V or @name)")


def test_error_array_of_the_wrong_dtype():
    text = BASE.replace("f64[2] [0.25, -0.75]", "i64[2] [1, 2]")
    assert error("f64[2] [0.25, -0.75]", "i64[2] [1, 2]") == \
        f"{at(text, 'i64')}: snn.affine field 'bias' is an i64 array (expected an f64 array)"


def test_error_bool_where_a_number_is_expected():
    text = BASE.replace("t_refrac = 0.0", "t_refrac = true")
    assert error("t_refrac = 0.0", "t_refrac = true") == \
        f"{at(text, 'true')}: snn.lif field 't_refrac' is the bool true (expected a number)"


def test_error_choice_not_allowed():
    text = BASE.replace('"subtract"', '"sub"')
    assert error('"subtract"', '"sub"') == (f"{at(text, QUOTE + 'sub')}: snn.lif field 'reset_mode' is the string "
                                            '"sub" (expected one of "value", "subtract", "none")')


def test_error_fraction_in_a_list_of_ints():
    text = BASE.replace("shape = [3]", "shape = [3.0]")
    assert error("shape = [3]", "shape = [3.0]") == \
        f"{at(text, '3.0')}: an entry of snn.input field 'shape' is 3.0 (expected an integer)"


def test_error_array_data_shorter_than_its_shape():
    text = BASE.replace("[0.25, -0.75]", "[0.25]")
    assert error("[0.25, -0.75]", "[0.25]") == \
        f"{at(text, '[0.25]')}: array data has 1 entry (expected 2 for shape [2])"


def test_error_array_row_longer_than_its_shape():
    text = BASE.replace("[4.5, 5.5, 6.5]", "[4.5, 5.5, 6.5, 7.5]")
    assert error("[4.5, 5.5, 6.5]", "[4.5, 5.5, 6.5, 7.5]") == \
        f"{at(text, '[4.5')}: array data[1] has 4 entries (expected 3 for shape [2, 3])"


def test_error_array_data_nested_too_deep():
    text = BASE.replace("[0.25, -0.75]", "[0.25, [-0.75]]")
    assert error("[0.25, -0.75]", "[0.25, [-0.75]]") == \
        f"{at(text, '[-0.75]')}: array data[1] is a list (expected a number for shape [2])"


def test_error_negative_dimension():
    text = BASE.replace("f64[2] [0.25, -0.75]", "f64[-2] []")
    assert error("f64[2] [0.25, -0.75]", "f64[-2] []") == \
        f"{at(text, '-2')}: array dimension -2 is negative (expected a size >= 0)"


def test_error_sidecar_missing():
    text = BASE.replace("[0.25, -0.75]", "@fc.bias")
    assert error("[0.25, -0.75]", "@fc.bias") == (f"{at(text, 'fc.bias')}: array '@fc.bias' needs a sidecar .npz, "
                                                  "but none was given (expected an .npz holding 'fc.bias')")


def test_error_sidecar_entry_missing():
    text = BASE.replace("[0.25, -0.75]", "@fc.bias")
    assert error("[0.25, -0.75]", "@fc.bias", sidecar={"fc.weight": np.ones((2, 3))}) == \
        f"{at(text, 'fc.bias')}: the sidecar has no array 'fc.bias' (expected one of: fc.weight)"


def test_error_sidecar_entry_of_another_shape():
    text = BASE.replace("[0.25, -0.75]", "@fc.bias")
    assert error("[0.25, -0.75]", "@fc.bias", sidecar={"fc.bias": np.ones(3)}) == \
        f"{at(text, 'fc.bias')}: the sidecar array 'fc.bias' is f64[3] (expected f64[2] as declared)"


def test_error_shape_mismatch_between_nodes_points_at_the_node():
    assert error("shape = [3]", "shape = [4]") == \
        f"{at(BASE, 'node fc')}: node 'fc' (layers.0): input has shape [4], expected [3]"


def test_error_node_rule_points_at_the_node():
    assert error("tau = f64[2] splat 0.02", "tau = f64[2] [0.02, -0.01]") == \
        f"{at(BASE, 'node lif')}: node 'lif' (layers.1): tau must be > 0 seconds, got min -0.01"


def test_error_graph_attribute_points_at_the_header():
    assert error("dt=0.001", "dt=-0.001") == "m.snnir:1:1: graph: dt must be a positive number of seconds, got -0.001"


def test_error_unsupported_version():
    assert error("snnir 1", "snnir 2") == "m.snnir:1:7: unsupported format version '2' (expected 1)"


def test_error_node_declared_twice():
    assert error("node y = snn.output", "node fc = snn.output") == \
        f"{at(BASE, 'y = snn.output')}: node 'fc' is declared twice (first on line 4)"


def test_error_edge_to_an_unknown_node():
    text = BASE.replace("edge lif -> y", "edge lif -> yy")
    assert error("edge lif -> y", "edge lif -> yy") == \
        f"{at(text, 'yy')}: no node named 'yy' (expected a declared node; did you mean 'y'?)"


def test_error_unknown_port():
    text = BASE.replace("edge fc -> lif", "edge fc:spikes -> lif")
    assert error("edge fc -> lif", "edge fc:spikes -> lif") == \
        f"{at(text, 'spikes')}: snn.affine node 'fc' has no output port 'spikes' (expected output)"


def test_error_bad_escape_in_string():
    text = BASE.replace('"layers.1"', r'"layers\q1"')
    assert error('"layers.1"', r'"layers\q1"') == \
        f"{at(text, BACKSLASH + 'q')}: " + r'invalid escape in string (expected one of \" \\ \/ \b \f \n \r \t \uXXXX)'


def test_error_metadata_key_twice():
    text = BASE.replace('meta "source" = "m.nir"', 'meta "source" = "m.nir"\nmeta "source" = "n.nir"')
    assert error('meta "source" = "m.nir"', 'meta "source" = "m.nir"\nmeta "source" = "n.nir"') == \
        f"{at(text, QUOTE + 'source', 1)}: metadata key " + '"source" is given twice'


def test_load_errors_name_the_file():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.snnir"
        path.write_text(BASE.replace("[0.25, -0.75]", "@fc.bias"))
        with pytest.raises(ParseError) as info:
            load_snnir(path)
        where = at(BASE.replace("[0.25, -0.75]", "@fc.bias"), "fc.bias").replace("m.snnir", str(path))
        assert str(info.value) == (f"{where}: array '@fc.bias' needs a sidecar .npz, but m.npz does not exist "
                                   "(expected an .npz holding 'fc.bias')")
        path.write_bytes(b"snnir 1 \xff")
        with pytest.raises(MalformedInputError) as info:
            load_snnir(path)
        assert str(info.value) == f"{path}: byte 8 is not UTF-8 text (expected a UTF-8 .snnir file)"
        with pytest.raises(MalformedInputError) as info:
            load_snnir(Path(tmp) / "none.snnir")
        assert str(info.value) == f"{Path(tmp) / 'none.snnir'}: cannot read the file (No such file or directory)"


if __name__ == "__main__" and "--update-golden" in sys.argv:
    for case in sorted(GOLDEN_CASES):
        (GOLDEN / f"{case}.snnir").write_bytes(_golden_text(case)[0].encode("utf-8"))
        print(f"wrote {GOLDEN / case}.snnir")
