"""Neuron dynamics from a framework's own per-tick arithmetic, independent of the file format.

A frontend writes one tick of a model as a `StepFunction` over a neutral vocabulary of
primitives (`step.py`: add, mul, greater, where, ..., layer, state in/out); `build_graph`
evaluates it symbolically (`poly.py`), recognises each neuron population with its exact
reset mode and timing (`recognise.py`), checks every recognised neuron against the
interpreter (`check.py`) and assembles the snn Graph (`assemble.py`). The ONNX frontend
uses it for unrolled, looped and single-step graphs; the JAX frontend feeds it a jaxpr.
A ReLU of an ordinary ANN becomes an `ann.relu` node, which the convert-ann pass turns
into spiking neurons.
"""
from snnc.frontends.dynamics.assemble import build_graph, default_namer, evaluate_tick
from snnc.frontends.dynamics.poly import Context, Poly, close, evaluate
from snnc.frontends.dynamics.step import Prim, StepBuilder, StepFunction, infer_shapes

__all__ = ["Prim", "StepBuilder", "StepFunction", "build_graph", "default_namer", "evaluate_tick",
           "Context", "Poly", "close", "evaluate", "infer_shapes"]
