"""Pass options: every field documented and listed by `snnc options`, every value checked by name."""
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest

from snnc.cli import main
from snnc.errors import UsageError
from snnc.passes.manager import pipeline_for
from snnc.passes.options import check_fields, option, specs
from snnc.passes.registry import PassInfo, all_passes, get_pass
from snnc.targets import all_targets, get_target

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits" / "digits.snnir"


def cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def field_rows(out: str) -> dict[str, str]:
    """`PASS.FIELD` -> its row, from the listing."""
    return {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and "." in line.split()[0]}


def test_every_field_of_every_registered_pass_is_listed_with_its_doc(capsys):
    code, out, err = cli(["options"], capsys)
    assert (code, err) == (0, "")
    rows = field_rows(out)
    expected = {f"{name}.{f.name}": f for name, info in all_passes().items()
                for f in dataclasses.fields(info.options)}
    assert set(rows) == set(expected)
    for key, f in expected.items():
        doc = f.metadata.get("doc", "")
        assert doc, f"{key} has no doc: declare it with snnc.passes.options.option(default, doc, ...)"
        assert rows[key].endswith(doc), rows[key]
    for name in all_passes():                      # every pass has its heading, with or without fields
        assert any(line.startswith(f"{name} — ") or line == name for line in out.splitlines()), name


@pytest.mark.parametrize("target", sorted(all_targets()))
def test_a_target_lists_exactly_its_pipeline(target, capsys):
    code, out, _ = cli(["options", "--target", target], capsys)
    names = pipeline_for(get_target(target))
    assert code == 0
    assert out.splitlines()[0] == f"target {target} compiles with: {' -> '.join(names)}"
    expected = {f"{n}.{f.name}" for n in names for f in dataclasses.fields(get_pass(n).options)}
    assert set(field_rows(out)) == expected
    headings = [line.split(" — ")[0] for line in out.splitlines()[3:] if line and not line.startswith(" ")]
    assert headings == list(names)


def test_a_row_shows_type_default_allowed_values_and_meaning(capsys):
    _, out, _ = cli(["options", "--target", "loihi"], capsys)
    rows = {k: v.split(None, 4) for k, v in field_rows(out).items()}
    assert rows["prune.threshold"][1:4] == ["float", "0.0", "[0,"]          # "[0, 1]" splits in two
    assert " [0, 1] " in field_rows(out)["prune.threshold"]
    assert rows["loihi-quantize.input_bits"][1:4] == ["int", "12", "[2,"]
    assert "spikes | graded" in field_rows(out)["loihi-quantize.input"]
    assert "true | false" in field_rows(out)["loihi-partition.pack"]


def test_unknown_target_is_a_usage_error(capsys):
    code, out, err = cli(["options", "--target", "loihi9"], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("snnc: error: ") and "loihi9" in err


# -- values are checked by PASS.FIELD, with the value and what is allowed ---------------------------
PRUNE_DOC = "drop synapses with |w| below this fraction of the layer's largest |w| (0 keeps all)"


@pytest.mark.parametrize("values, message", [
    ({"threshold": "abc"}, f"option prune.threshold = 'abc': expected a number ([0, 1]) — {PRUNE_DOC}"),
    ({"threshold": 1.5}, f"option prune.threshold = 1.5: out of range, allowed [0, 1] — {PRUNE_DOC}"),
    ({"threshold": True}, f"option prune.threshold = True: expected a number ([0, 1]) — {PRUNE_DOC}"),
    ({"max_fan_in": 2.5}, "option prune.max_fan_in = 2.5: expected an integer (>= 0) — keep at most this many "
                          "of each neuron's largest |w| (0: no cap)"),
    ({"max_fan_in": -3}, "option prune.max_fan_in = -3: out of range, allowed >= 0 — keep at most this many "
                         "of each neuron's largest |w| (0: no cap)"),
])
def test_bad_values_name_the_field_the_value_and_the_range(values, message):
    with pytest.raises(UsageError) as e:
        get_pass("prune").make_options(values)
    assert str(e.value) == message


def test_choices_and_bools_are_checked():
    quantize = get_pass("loihi-quantize")
    with pytest.raises(UsageError) as e:
        quantize.make_options({"headroom": "lots"})
    assert str(e.value).startswith("option loihi-quantize.headroom = 'lots': not one of state, input, none — ")
    with pytest.raises(UsageError) as e:
        quantize.make_options({"per_row_exponent": "yes"})
    assert str(e.value).startswith("option loihi-quantize.per_row_exponent = 'yes': expected true or false — ")
    with pytest.raises(UsageError) as e:
        get_pass("truenorth-encode").make_options({"duplication": 7})
    assert str(e.value).startswith("option truenorth-encode.duplication = 7: not one of 0, 1, 2, 3, 4 — ")


def test_good_values_are_converted_to_the_field_type():
    opts = get_pass("prune").make_options({"threshold": 1, "max_fan_in": 4.0})
    assert (opts.threshold, type(opts.threshold), opts.max_fan_in, type(opts.max_fan_in)) == (1.0, float, 4, int)


def test_an_options_instance_is_checked_too():
    info = get_pass("loihi-partition")
    with pytest.raises(UsageError, match=r"^option loihi-partition.pack = 'no': expected true or false — "):
        info.make_options(info.options(pack="no"))


def test_direct_construction_names_the_class_field():
    from snnc.passes.prune import PruneOptions
    with pytest.raises(UsageError, match=r"^option PruneOptions.threshold = -0.5: out of range, allowed \[0, 1\]"):
        PruneOptions(threshold=-0.5)


def test_option_needs_a_doc_and_specs_read_it():
    with pytest.raises(TypeError, match="needs a one-line doc"):
        option(1.0)

    @dataclass(frozen=True)
    class Knobs:
        rate: float = option(0.5, "how often", low=0.0, high=1.0, high_open=True)
        mode: str = option("a", "which way", choices=("a", "b"))

        def __post_init__(self):
            check_fields(self)

    assert [(s.name, s.type, s.default, s.allowed, s.doc) for s in specs(Knobs)] == [
        ("rate", "float", 0.5, "[0, 1)", "how often"), ("mode", "str", "a", "a | b", "which way")]
    with pytest.raises(UsageError, match=r"^option Knobs.rate = 1.0: out of range, allowed \[0, 1\) — how often$"):
        Knobs(rate=1.0)
    info = PassInfo("knobs", lambda g, t, o: g, Knobs, "")
    with pytest.raises(UsageError, match=r"^option knobs.mode = 'c': not one of a, b — which way$"):
        info.make_options({"mode": "c"})


def test_cli_compile_with_a_bad_option_says_which_and_why(tmp_path, capsys):
    code, out, err = cli(["compile", DIGITS, "--target", "loihi", "-o", tmp_path / "d.loihi",
                          "--option", "prune.threshold=abc"], capsys)
    assert (code, out) == (2, "")
    assert err == f"snnc: error: option prune.threshold = 'abc': expected a number ([0, 1]) — {PRUNE_DOC}\n"
    assert not (tmp_path / "d.loihi").exists()
