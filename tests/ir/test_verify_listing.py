"""An invalid graph names every problem, one per line, not the first and a count."""
import numpy as np
import pytest

from snnc.errors import IRVerificationError
from snnc.ir.graph import Edge, Graph, Node
from snnc.ir.snn import Affine, Input, Output


def test_every_problem_is_listed_on_its_own_line():
    nodes = [Node("x", Input(shape=(3,))), Node("a", Affine(weight=np.ones((2, 4)), bias=np.zeros(2))),
             Node("b", Affine(weight=np.ones((2, 5)), bias=np.zeros(2))), Node("y", Output(shape=(2,)))]
    g = Graph(nodes, [Edge("x", "a"), Edge("x", "b"), Edge("a", "y"), Edge("b", "y")], inputs=["x"],
              outputs=["y"], dt=1e-3)
    with pytest.raises(IRVerificationError) as e:
        g.verify(pass_name="demo")
    assert str(e.value) == ("after pass 'demo': node 'a': input has shape [3], expected [4]\n"
                            "  node 'b': input has shape [3], expected [5]")
