"""Hypothesis strategies for snnc graphs, driven by the op registry.

`graphs()` draws random *valid* Graphs (they pass `Graph.verify()`): graph inputs, a random
DAG of ops drawn from a dialect of the registry, extra fan-in edges, recurrent edges, an
output for every dangling value, metadata, origins, dt and method. `graphs(required=name)`
makes sure one node holds op `name`; parametrising a test over `dialect_ops("snn.")` with
it covers every registered op, so a new op cannot escape a property test.

Ops are drawn generically from their field kinds: every array field gets the shape of the
op's input, every `ints` field that shape, scalars and choices their own values; a drawn
op is kept when its own `verify()` and `infer_types()` accept it (first with arbitrary
floats, including nan, inf and -0.0, then with positive ones, which suit time constants
and delays). That covers sources, sinks and every elementwise op. Ops whose fields are
coupled to their input shape in other ways have a recipe in `RECIPES`. An op that neither
can build makes `graphs(required=...)` unsatisfiable, and the test that asked for it fails.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from hypothesis import assume, strategies as st
from hypothesis.extra import numpy as hnp

from snnc.errors import SnncError
from snnc.ir import Edge, Graph, Node, TensorType
from snnc.ir.graph import METHODS
from snnc.ir.op import Op, all_ops, op_class
from snnc.ir.verify import NAME_PATTERN

Shape = tuple[int, ...]
Draw = Callable


def dialect_ops(prefix: str = "snn.") -> list[str]:
    """Every registered op whose name starts with `prefix`, sorted."""
    return sorted(n for n in all_ops() if n.startswith(prefix))


# -- values --------------------------------------------------------------------------------------
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
POSITIVE_FLOAT = st.floats(min_value=1e-4, max_value=1e3)
SMALL_FLOAT = st.floats(min_value=-10, max_value=10, allow_subnormal=False)


def arrays(dtype: str, shape: Shape, elements=ANY_FLOAT):
    """Arrays of `shape`: sometimes uniform (printed as `splat`), mostly a fill value with a
    few other elements, so large ones exercise both inline lists and the sidecar."""
    np_dtype = np.float64 if dtype == "f64" else np.int64
    if dtype == "i64":
        elements = st.integers(-(2 ** 63), 2 ** 63 - 1)
    return st.one_of(elements.map(lambda v: np.full(shape, v, np_dtype)),
                     hnp.arrays(np_dtype, shape, elements=elements))


def shapes(rank: int | None = None) -> st.SearchStrategy[Shape]:
    """Small per-sample shapes: [N] (up to 80, past the default inline limit), [C, N], [C, H, W]."""
    by_rank = {1: st.tuples(st.one_of(st.integers(1, 6), st.integers(60, 80))),
               2: st.tuples(st.integers(1, 4), st.integers(1, 8)),
               3: st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))}
    return by_rank[rank] if rank else st.one_of(*by_rank.values())


KEYWORDS = ["snnir", "dt", "method", "meta", "node", "edge", "input", "output", "loc", "true", "false",
            "splat", "f64", "i64", "inf", "nan", "1e5", "0", "-"]
NAMES = st.one_of(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,7}", fullmatch=True),
                  st.sampled_from(KEYWORDS[:-1])).filter(lambda s: NAME_PATTERN.match(s) is not None)
TEXT = st.text(max_size=10)


# -- ops -----------------------------------------------------------------------------------------
def accepts(op: Op, shape: Shape | None) -> bool:
    """Whether `op` is valid and takes `shape` on every input port."""
    if op.verify():
        return False
    try:
        op.infer_types({p: TensorType(shape) for p in op.input_ports})
    except SnncError:
        return False
    return True


def generic_op(draw: Draw, cls: type[Op], shape: Shape) -> Op | None:
    """An op of `cls` drawn from its field kinds, with every array and `ints` field shaped like
    `shape` (its input, or its output for a source); None when `cls` rejects what was drawn."""
    for elements in (ANY_FLOAT, POSITIVE_FLOAT):
        values = {f.name: draw(_generic_value(f, shape, elements)) for f in cls.field_specs()}
        try:
            op = cls(**values)
        except SnncError:
            continue
        if accepts(op, shape):
            return op
    return None


def _generic_value(f, shape: Shape, elements):
    kind = f.metadata["kind"]
    if kind == "array":
        return arrays(f.metadata["dtype"], shape, elements)
    return {"ints": st.just(tuple(shape)), "int": st.integers(-3, 3), "bool": st.booleans(),
            "float": elements, "choice": st.sampled_from(f.metadata.get("choices", ("",)))}[kind]


@dataclass(frozen=True)
class Recipe:
    """How to draw a valid op whose fields are coupled to its input shape."""

    input_shape: st.SearchStrategy[Shape]
    build: Callable[[Draw, Shape], Op | None]     # None: this op cannot take that shape


def _dense(bias: bool):
    def build(draw, shape):
        if len(shape) != 1:
            return None
        n_out = draw(st.integers(1, 9))
        kw = {"weight": draw(arrays("f64", (n_out, shape[0])))}
        if bias:
            kw["bias"] = draw(arrays("f64", (n_out,)))
        return kw
    return build


def _sparse(draw, shape):
    if len(shape) != 1:
        return None
    counts = draw(st.lists(st.integers(0, 4), min_size=1, max_size=6))
    nnz = sum(counts)
    return dict(indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                indices=np.array(draw(st.lists(st.integers(0, shape[0] - 1), min_size=nnz, max_size=nnz)), np.int64),
                data=draw(arrays("f64", (nnz,))), bias=draw(arrays("f64", (len(counts),))), n_in=shape[0])


def _conv(rank: int):
    def build(draw, shape):
        if len(shape) != rank + 1:
            return None
        c_in = shape[0]
        groups = draw(st.sampled_from([g for g in range(1, c_in + 1) if c_in % g == 0]))
        c_out = groups * draw(st.integers(1, 2))
        kernel = draw(st.tuples(*[st.integers(1, 3)] * rank))
        pairs = {k: draw(st.tuples(*[st.integers(lo, 2)] * rank))
                 for k, lo in (("stride", 1), ("padding", 0), ("dilation", 1))}
        return dict(weight=draw(arrays("f64", (c_out, c_in // groups, *kernel))),
                    bias=draw(arrays("f64", (c_out,))), groups=groups, **pairs)
    return build


def _pool(draw, shape):
    if len(shape) != 3:
        return None
    kernel = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    return dict(kernel_size=kernel, stride=draw(st.tuples(st.integers(1, 3), st.integers(1, 3))),
                padding=tuple(draw(st.integers(0, k // 2)) for k in kernel))


def _flatten(draw, shape):
    n = len(shape)
    start, end = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
    assume(start <= end)
    return dict(start_dim=start - draw(st.sampled_from([0, n])), end_dim=end - draw(st.sampled_from([0, n])))


def _recipe(fields_for, input_shape) -> Callable[[str], Recipe]:
    def make(name: str) -> Recipe:
        def build(draw, shape):
            kw = fields_for(draw, shape)
            if kw is None:
                return None
            op = op_class(name)(**kw)
            return op if accepts(op, shape) else None
        return Recipe(input_shape, build)
    return make


RECIPES: dict[str, Callable[[str], Recipe]] = {
    "snn.affine": _recipe(_dense(bias=True), shapes(1)),
    "snn.linear": _recipe(_dense(bias=False), shapes(1)),
    "snn.sparse_linear": _recipe(_sparse, shapes(1)),
    "snn.conv1d": _recipe(_conv(1), shapes(2)),
    "snn.conv2d": _recipe(_conv(2), shapes(3)),
    "snn.sum_pool2d": _recipe(_pool, shapes(3)),
    "snn.avg_pool2d": _recipe(_pool, shapes(3)),
    "snn.flatten": _recipe(_flatten, shapes()),
}


def recipe(name: str) -> Recipe:
    """The recipe for op `name`: from `RECIPES`, or generic from its field kinds."""
    if name in RECIPES:
        return RECIPES[name](name)
    return Recipe(shapes(), lambda draw, shape: generic_op(draw, op_class(name), shape))


# -- graphs --------------------------------------------------------------------------------------
class _Builder:
    """Collects nodes in creation order (a topological order of the same-tick edges)."""

    def __init__(self, draw: Draw):
        self.draw = draw
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.out_shape: dict[str, Shape] = {}    # node -> shape of its output port(s)
        self.in_shape: dict[str, Shape] = {}     # node -> shape its input port(s) take

    def add(self, op: Op, shape: Shape | None, src: str | None = None) -> str:
        name = self.draw(NAMES.filter(lambda n: n not in self.out_shape and n not in self.in_shape))
        self.nodes.append(Node(name, op, self.draw(TEXT)))
        if op.input_ports:
            self.in_shape[name] = shape
            for port in op.input_ports:
                self.edges.append(Edge(src, name, self.op(src).output_ports[0], port))
        types = op.infer_types({p: TensorType(shape) for p in op.input_ports})
        self.out_shape.update({name: t.shape for t in types.values()})
        return name

    def op(self, name: str) -> Op:
        return next(n.op for n in self.nodes if n.name == name)

    def source(self, sources: list[str], shape: Shape) -> str:
        name = self.draw(st.sampled_from(sources))
        op = recipe(name).build(self.draw, shape)
        assume(op is not None)
        return self.add(op, None)


@st.composite
def graphs(draw, *, ops: list[str] | None = None, required: str | None = None, max_steps: int = 5) -> Graph:
    """A random valid Graph over `ops` (default: the `snn.` dialect), holding `required` if given."""
    ops = ops if ops is not None else dialect_ops("snn.")
    classes = {n: op_class(n) for n in set(ops) | ({required} if required else set())}
    sources = sorted(n for n, c in classes.items() if not c.input_ports and c.output_ports)
    sinks = sorted(n for n, c in classes.items() if c.input_ports and not c.output_ports)
    middle = sorted(n for n, c in classes.items() if c.input_ports and c.output_ports and n in ops)
    assert sources and sinks, "a dialect needs a source op (no inputs) and a sink op (no outputs)"
    b = _Builder(draw)
    if required in sources:
        b.source([required], draw(recipe(required).input_shape))
    elif required is not None:
        src = b.source(sources, draw(recipe(required).input_shape))
        op = recipe(required).build(draw, b.out_shape[src])
        assume(op is not None)
        b.add(op, b.out_shape[src], src)
    if not b.nodes or draw(st.booleans()):
        b.source(sources, draw(shapes()))
    for _ in range(draw(st.integers(0, max_steps)) if middle else 0):
        r = recipe(draw(st.sampled_from(middle)))
        src = draw(st.sampled_from(list(b.out_shape)))
        op = r.build(draw, b.out_shape[src])
        if op is None:                       # it cannot take that value: feed it from a new input
            src = b.source(sources, draw(r.input_shape))
            op = r.build(draw, b.out_shape[src])
        if op is not None:
            b.add(op, b.out_shape[src], src)
    _extra_edges(draw, b)
    for name in [n for n in b.out_shape if not any(e.src == n for e in b.edges)]:
        sink = draw(st.sampled_from(sinks))
        op = recipe(sink).build(draw, b.out_shape[name])
        assume(op is not None)
        b.add(op, b.out_shape[name], name)
    inputs = draw(st.permutations([n.name for n in b.nodes if not n.op.input_ports]))
    outputs = draw(st.permutations([n.name for n in b.nodes if not n.op.output_ports]))
    g = Graph(b.nodes, b.edges, inputs=inputs, outputs=outputs,
              dt=draw(st.floats(min_value=0, exclude_min=True, allow_infinity=False)),
              method=draw(st.sampled_from(METHODS)),
              metadata=draw(st.dictionaries(TEXT, TEXT, max_size=3)))
    return g.verify()


def _extra_edges(draw, b: _Builder) -> None:
    """Fan-in edges from earlier nodes (same tick) and recurrent edges from any node, between
    ports of equal shape; every port keeps its first, same-tick edge, which fixes its type."""
    order = [n.name for n in b.nodes]
    pairs = [(s, d) for s in b.out_shape for d in b.in_shape if b.out_shape[s] == b.in_shape[d]]
    for s, d in draw(st.lists(st.sampled_from(pairs), max_size=3, unique=True)) if pairs else []:
        recurrent = order.index(s) >= order.index(d) or draw(st.booleans())
        src_port = b.op(s).output_ports[0]
        b.edges.append(Edge(s, d, src_port, b.op(d).input_ports[0], recurrent))
