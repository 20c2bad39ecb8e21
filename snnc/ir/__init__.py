"""The graph IR: ops, the op registry, the Graph, its verifier and its text form."""
from snnc.ir.graph import FORMAT_VERSION, Diagnostic, Edge, Graph, GraphBuilder, Node
from snnc.ir.op import OPS, Op, all_ops, op_class, register_op
from snnc.ir.types import TensorType

__all__ = ["FORMAT_VERSION", "Diagnostic", "Edge", "Graph", "GraphBuilder", "Node", "OPS", "Op",
           "all_ops", "op_class", "register_op", "TensorType"]
