"""No registered op escapes coverage: the source dialects (`snn.*`, `ann.*`) are drawn by the
text round-trip property test, and each backend dialect's ops need an example in that
backend's dialect test (which checks the stepper contract and the text round trip)."""
import importlib

import pytest

from snnc.ir.op import all_ops
from tests.ir.strategies import dialect_ops

SOURCE_DIALECTS = ("snn", "ann")


def test_source_dialects_are_drawn_by_the_property_tests():
    drawn = set(dialect_ops("snn.") + dialect_ops("ann."))
    assert {n for n in all_ops() if n.split(".")[0] in SOURCE_DIALECTS} == drawn


@pytest.mark.parametrize("dialect", sorted({n.split(".")[0] for n in all_ops()} - set(SOURCE_DIALECTS)))
def test_every_backend_op_has_an_example_in_its_dialect_test(dialect):
    module = importlib.import_module(f"tests.backends.{dialect}.test_dialect")
    ops = {n for n in all_ops() if n.startswith(dialect + ".")}
    missing = ops - set(module.EXAMPLES)
    assert not missing, f"no example in tests/backends/{dialect}/test_dialect.py for {sorted(missing)}"
