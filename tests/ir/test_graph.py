"""The Graph, op fields and the verifier: each rule with invalid input and its exact message."""
import numpy as np
import pytest

import snnc.ir.snn as snn
from snnc.errors import IRVerificationError
from snnc.ir import Edge, Graph, GraphBuilder, Node
from snnc.ir.op import OpRuleError


def lif(n, **kw):
    fields = dict(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))
    fields.update(kw)
    return snn.LIF(**fields)


def chain(n_in=4, n_out=3, **lif_kw) -> GraphBuilder:
    b = GraphBuilder(dt=1e-3)
    x = b.input("x", (n_in,), origin="input")
    fc = b.add("fc", snn.Linear(weight=np.ones((n_out, n_in))), x, origin="net.0")
    n = b.add("lif", lif(n_out, **lif_kw), fc, origin="net.1")
    b.output("y", n, (n_out,))
    return b


def message(graph: Graph) -> str:
    with pytest.raises(IRVerificationError) as info:
        graph.verify()
    return str(info.value)


def test_valid_chain_schedules_and_types():
    g = chain().build()
    assert g.schedule() == ("x", "fc", "lif", "y")
    assert g.types()[("lif", "output")].shape == (3,)
    assert g.inputs == ("x",) and g.outputs == ("y",)


def test_recurrent_edge_breaks_the_cycle():
    b = chain()
    rec = b.add("rec", snn.Linear(weight=np.eye(3)), "lif")
    b.connect(rec, "lif", recurrent=True)
    g = b.build()
    assert g.schedule() == ("x", "fc", "lif", "y", "rec")   # ties follow node order


def test_same_tick_cycle_is_named():
    b = chain()
    rec = b.add("rec", snn.Linear(weight=np.eye(3)), "lif")
    b.connect(rec, "lif")
    assert message(b.build(verify=False)) == \
        "node 'lif' (net.1): same-tick cycle lif -> rec -> lif; mark the feedback edge recurrent"


def test_shape_mismatch_names_node_and_origin():
    b = GraphBuilder()
    x = b.input("x", (5,))
    fc = b.add("fc", snn.Linear(weight=np.ones((3, 4))), x, origin="layers.0")
    b.output("y", fc, (3,))
    assert message(b.build(verify=False)) == "node 'fc' (layers.0): input has shape [5], expected [4]"


def test_edges_into_one_port_must_agree():
    b = GraphBuilder()
    x = b.input("x", (4,))
    a = b.add("a", snn.Linear(weight=np.ones((3, 4))), x)
    c = b.add("c", snn.Linear(weight=np.ones((2, 4))), x)
    s = b.add("s", snn.Scale(scale=np.ones(3)), a, c)
    b.output("y", s, (3,))
    assert message(b.build(verify=False)) == "node 's': edges into port 'input' disagree: a gives [3], c gives [2]"


def test_op_rule_reported_with_node():
    b = chain(tau=np.array([0.02, -0.5, 0.01]))
    assert message(b.build(verify=False)) == "node 'lif' (net.1): tau must be > 0 seconds, got min -0.5"


def test_unfed_port():
    g = Graph([Node("x", snn.Input(shape=(2,))), Node("s", snn.Scale(scale=np.ones(2))),
               Node("y", snn.Output(shape=(2,)))], [Edge("s", "y")])
    assert message(g) == "node 's': input port 'input' has no incoming edge"


def test_edge_to_missing_node_and_bad_port():
    g = chain().build()
    g2 = g.replace(edges=g.edges + (Edge("fc", "ghost"),))
    assert message(g2) == "node 'ghost': edge fc:output -> ghost:input refers to a node that does not exist"
    g3 = g.replace(edges=g.edges + (Edge("fc", "lif", dst_port="current"),))
    assert message(g3) == ("node 'lif' (net.1): edge fc:output -> lif:current: snn.lif has no input port "
                           "'current' (input ports: input)")


def test_graph_attributes():
    g = chain().build()
    assert message(g.replace(dt=0.0)) == "graph: dt must be a positive number of seconds, got 0.0"
    assert message(g.replace(method="rk4")) == "graph: method must be one of euler, exact, got 'rk4'"


def test_inputs_must_be_input_nodes():
    g = chain().build()
    assert message(g.replace(inputs=("fc",))) == \
        "node 'fc' (net.0): graph input must be a node without input ports, got snn.linear"


def test_node_names_must_be_printable():
    g = Graph([Node("bad name", snn.Input(shape=(2,))), Node("y", snn.Output(shape=(2,)))],
              [Edge("bad name", "y")])
    assert message(g) == ("node 'bad name': node names use letters, digits, '_', '.', '-' and do not "
                          "start with '.' or '-'")


def test_duplicate_names_refused_at_construction():
    with pytest.raises(IRVerificationError, match="node 'x': node name used twice"):
        Graph([Node("x", snn.Input(shape=(2,))), Node("x", snn.Input(shape=(2,)))])


def test_recurrent_only_port():
    b = GraphBuilder()
    x = b.input("x", (2,))
    s = b.add("s", snn.Scale(scale=np.ones(2)))
    b.connect(s, s, recurrent=True)
    b.output("y", s, (2,))
    b.output("y2", x, (2,))
    assert message(b.build(verify=False)) == \
        "node 's': input port 'input' is fed only by recurrent edges; its type cannot be inferred"


def test_field_kinds_are_checked():
    with pytest.raises(OpRuleError, match=r"snn.lif: field 'reset_mode': expected one of value, subtract, none, "
                                          r"got 'zero'"):
        lif(3, reset_mode="zero")
    with pytest.raises(OpRuleError, match=r"snn.sparse_linear: field 'indices': expected integers, got fractional"):
        snn.SparseLinear(indptr=[0, 1], indices=[0.5], data=[1.0], bias=[0.0], n_in=2)


def test_ops_are_immutable_and_compare_by_value():
    a, b = lif(3), lif(3)
    assert a == b and a is not b
    assert a != a.replace(reset_mode="subtract")
    assert a != a.replace(tau=a.tau.astype(np.float64) + 1e-12)
    with pytest.raises(ValueError):
        a.tau[0] = 1.0                       # arrays are read-only
    with pytest.raises(AttributeError):
        a.tau = np.ones(3)                   # frozen


def test_graph_equality_ignores_edge_order_but_not_flags():
    g = chain().build()
    assert g == g.replace(edges=tuple(reversed(g.edges)))
    flipped = tuple(Edge(e.src, e.dst, recurrent=True) if e.dst == "lif" else e for e in g.edges)
    assert g != g.replace(edges=flipped)
