"""The typed mapping record: text round trip, and the IR verifier's checks against the graph."""
from __future__ import annotations

import pytest

from snnc.errors import IRVerificationError, ParseError
from snnc.ir.mapping import HostInput, HostOutput, Layer, Mapping, PartOf, Piece, Position
from snnc.ir.text import parse_graph, print_graph
from tests.netbuild import mlp


def mapped(**changes):
    """mlp([4, 3, 2]) with a complete, consistent mapping record (and `changes` to it)."""
    g = mlp([4, 3, 2])
    m = Mapping(inputs={"x": HostInput((2, 2))}, outputs={"out": HostOutput((2,), (Piece("y", 0, 2),), latency=2)},
                layers={"lif0": Layer(1), "lif1": Layer(2)},
                parts={"lif0": PartOf("lif0", 0, 3), "lif1": PartOf("lif1", 0, 2)},
                cores={"lif0": 0, "lif1": 1}, place={0: Position(0, 0, 0), 1: Position(0, 0, 1)},
                roles={"lif0": "neurons"}, latency={"lif0": 1})
    return g.replace(mapping=m.replace(**changes))


def test_a_mapped_graph_prints_and_parses_back_equal():
    g = mapped().verify()
    text = print_graph(g)
    assert text.count("\nmapping ") == 1
    back = parse_graph(text)
    assert back == g and back.mapping.place[1] == Position(0, 0, 1)
    assert back.mapping.outputs["out"].parts == (Piece("y", 0, 2),)


def test_graphs_differing_only_in_mapping_are_not_equal():
    assert mapped() != mapped(cores={"lif0": 0, "lif1": 0})


def test_mapping_tables_are_read_only():
    with pytest.raises(TypeError):
        mapped().mapping.cores["lif0"] = 3


@pytest.mark.parametrize("changes, message", [
    (dict(cores={"lif9": 0}), "graph: mapping.cores names node 'lif9', which does not exist"),
    (dict(inputs={"x": HostInput((5,))}),
     "node 'x' (input): mapping.inputs: shape [5] does not hold the input node's 4 elements"),
    (dict(outputs={"out": HostOutput((3,), (Piece("y", 0, 2),))}),
     "graph: mapping.outputs 'out': its parts do not cover its 3 elements exactly once"),
    (dict(parts={"lif0": PartOf("lif0", 0, 4)}),
     "node 'lif0' (layers.1): mapping.parts: neurons [0, 4) of 'lif0' as outputs [0, 4) do not fit the "
     "node's 3 outputs"),
    (dict(place={0: Position(0, 0, 0), 1: Position(0, 0, 0)}),
     "graph: mapping.place: cores 0 and 1 share position [0, 0, 0, 0]"),
    (dict(place={0: Position(0, 0, 0)}), "graph: mapping.place: core 1 has no position"),
    (dict(layers={"lif0": Layer(1)}), "node 'lif1' (layers.3): mapping.parts: population 'lif1' is not in "
                                      "mapping.layers"),
])
def test_the_verifier_names_each_disagreement(changes, message):
    with pytest.raises(IRVerificationError) as err:
        mapped(**changes).verify(pass_name="place")
    assert str(err.value) == f"after pass 'place': {message}"


def test_a_malformed_mapping_statement_is_a_parse_error_at_its_line():
    text = print_graph(mlp([2, 2])).replace("\n\n", '\nmapping "{\\"cores\\":{\\"lif0\\":\\"x\\"}}"\n\n', 1)
    with pytest.raises(ParseError) as err:
        parse_graph(text, file="m.snnir")
    assert str(err.value) == "m.snnir:2:9: mapping.cores.lif0: expected an integer, got 'x'"
