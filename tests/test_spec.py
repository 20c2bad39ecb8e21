"""ir_spec/SPEC.md documents every registered op, generated from the registry."""
from snnc.ir.op import all_ops
from snnc.ir.spec import SPEC_PATH, render


def test_spec_op_reference_is_current():
    text = SPEC_PATH.read_text(encoding="utf-8")
    assert render(text) == text, "ir_spec/SPEC.md is out of date: run python -m snnc.ir.spec"


def test_every_registered_op_has_a_spec_section_with_its_equation():
    text = SPEC_PATH.read_text(encoding="utf-8")
    for name, cls in all_ops().items():
        assert f"### `{name}`" in text, f"{name} has no section in SPEC.md"
        assert cls.__doc__ and cls.__doc__.strip(), f"{name} has no docstring (its update equation)"
        for f in cls.field_specs():
            assert f"| `{f.name}` |" in text.split(f"### `{name}`", 1)[1], f"{name}.{f.name} undocumented"
