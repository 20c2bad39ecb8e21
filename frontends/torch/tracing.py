"""Reading a model's `forward` as one tick: torch.fx tracing, then a walk over the fx graph.

Known module types (torch.nn layers, snnTorch and Norse neurons, snnc's own modules) are fx
leaves; everything else is traced through, so any wiring torch.fx can trace works: nested
modules, residual additions, explicit state passed in and out. Neuron state arguments
are not inputs: snnc neurons keep their own state, starting at zero, as a per-tick loop
over the forward does. Node origins are the torch module paths.
"""
from __future__ import annotations

import builtins
import inspect
import operator
from dataclasses import dataclass

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F

from snnc.errors import UnsupportedOpError, UsageError
from snnc.ir.graph import Graph
from snnc.ir.snn import Flatten, Input, Scale
from snnc.ir.types import TensorType

from snnc.frontends.torch.session import SOURCE, NeuronOutputs, Session, StateRef, Value, refuse

MEMBRANE_NAMES = ("mem", "v")


@dataclass(frozen=True)
class _Placeholder:
    """A forward argument: a graph input if read as a tensor, else state the caller loops through."""

    name: str


@dataclass(frozen=True)
class _Opaque:
    """Anything else fx produced (a constant, an element of a state argument); never a tensor."""

    what: str


class _ShapedProxy(fx.Proxy):
    """A forward argument whose shape the sample input gives: `x.shape`, `x.size(d)`, `x.dim()`
    and `len(x)` are numbers while tracing, so `range(x.shape[0])` unrolls."""

    def __init__(self, node, tracer, shape: tuple[int, ...]):
        super().__init__(node, tracer)
        self.sample_shape = torch.Size(shape)

    @property
    def shape(self):
        return self.sample_shape

    @property
    def ndim(self):
        return len(self.sample_shape)

    def size(self, dim=None):
        return self.sample_shape if dim is None else self.sample_shape[dim]

    def dim(self):
        return len(self.sample_shape)

    def __len__(self):
        return self.sample_shape[0]


class _Tracer(fx.Tracer):
    """Keeps `leaves` (module types) as calls; traces `inline` types with their rule instead of
    their forward (for containers whose forward fx cannot trace, like Norse's SequentialState);
    forward arguments with a sample shape trace as `_ShapedProxy`."""

    def __init__(self, leaves, inline, shapes=None):
        super().__init__()
        self.leaves, self.inline, self.shapes = leaves, inline, dict(shapes or {})

    def proxy(self, node):
        shape = self.shapes.get(str(node.target).lstrip("*")) if node.op == "placeholder" else None
        return _ShapedProxy(node, self, shape) if shape is not None else super().proxy(node)

    def is_leaf_module(self, m, qualname):
        return type(m) in self.leaves or super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        rule = self.inline.get(type(m))
        if rule is not None:
            forward = lambda *a, **k: rule(self, m, a, k)  # noqa: E731
        return super().call_module(m, forward, args, kwargs)


class Root(torch.nn.Module):
    """A parent for a model that fx cannot trace as the root (a leaf or inline-rule type);
    `Walk` strips its child name `model.` from module paths again."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


def trace(model: torch.nn.Module, leaves, inline, shapes=None) -> fx.Graph:
    """The fx graph of `model.forward` with `leaves` (module types) kept as calls; `shapes`:
    forward argument name -> its sample's whole shape."""
    try:
        return _Tracer(leaves, inline, shapes).trace(model)
    except Exception as exc:  # fx raises many types while running user code symbolically
        raise UnsupportedOpError(
            f"torch.fx cannot trace {type(model).__name__}.forward ({type(exc).__name__}: {exc}); snnc reads "
            f"a forward that computes one tick, or one that loops over a number of ticks fixed by a constant or "
            f"by sample_input's shape, without data-dependent control flow", source=SOURCE) from exc


class Walk:
    """Turns the nodes of one fx graph, in order, into IR nodes of `session`."""

    def __init__(self, session: Session, converters, model: torch.nn.Module, shapes: dict[str, tuple]):
        self.s, self.conv, self.shapes = session, converters, shapes
        self.root_name = type(model.model).__name__.lower() if isinstance(model, Root) else None
        self.modules = dict(model.named_modules())
        self.env: dict[fx.Node, object] = {}
        self.inputs: dict[str, str] = {}          # placeholder -> Input node
        self.called: set[str] = set()
        self.placeholders: dict[str, fx.Node] = {}
        self.outputs: list[tuple[str, Value, str]] = []

    def run(self, graph: fx.Graph, metadata: dict) -> Graph:
        for node in graph.nodes:
            self.env[node] = getattr(self, f"_{node.op}")(node)
        if not self.inputs:
            raise UsageError("the model reads no input tensor in forward; nothing to import")
        self.s.finish_neurons()
        return self.s.graph(list(self.inputs.values()), self.outputs, metadata)

    # -- turning fx results into values --------------------------------------------------------
    def value(self, ref, where: str, shape_hint: tuple[int, ...] | None = None) -> Value:
        if isinstance(ref, fx.Node):
            ref = self.env[ref]
        if isinstance(ref, Value):
            return ref
        if isinstance(ref, _Placeholder):
            return self._input(ref.name, shape_hint)
        if isinstance(ref, StateRef):
            if ref.name == "spikes":
                return ref.neuron.spikes()
            if ref.name in MEMBRANE_NAMES:
                return ref.neuron.membrane()
            raise refuse(ref.neuron.path, ref.neuron.kind, f"its state '{ref.name}' is used as a value "
                                                           f"({where}); snnc neurons output spikes or, "
                                                           f"without reset, the membrane")
        if isinstance(ref, NeuronOutputs):
            raise refuse(ref.neuron.path, ref.neuron.kind, f"the tuple it returns is used as a tensor ({where})")
        what = ref.what if isinstance(ref, _Opaque) else repr(ref)
        raise UsageError(f"{where}: expects a tensor computed from the model's input, got {what}")

    def _input(self, name: str, shape_hint) -> Value:
        if name not in self.inputs:
            shape = self.shapes.get(name, shape_hint) or self._shape_from_users(self.placeholders[name])
            if shape is None:
                raise UsageError(f"cannot tell the shape of input '{name}': pass sample_input=<one tick of "
                                 f"input, a tensor [B, *shape]> to load")
            self.inputs[name] = self.s.add(name, Input(shape=tuple(shape)), None, name)
        return Value((self.inputs[name],), tuple(self.s.nodes[self.inputs[name]][0].shape))

    # -- fx node kinds ---------------------------------------------------------------------------
    def _placeholder(self, node):
        name = str(node.target).lstrip("*")          # the forward argument's own name
        self.placeholders[name] = node
        return _Placeholder(name)

    def _shape_from_users(self, node: fx.Node):
        """The input shape fixed by the first layer reading `node` (through pass-through layers)."""
        for user in node.users:
            if user.op != "call_module":
                continue
            module = self.modules[user.target]
            conv = self.conv.get(type(module))
            if conv is not None and conv.input_shape is not None:
                return conv.input_shape(module)
            if conv is not None and conv.passes_through:
                found = self._shape_from_users(user)
                if found is not None:
                    return found
        return None

    def _get_attr(self, node):
        return _Opaque(f"the model attribute '{node.target}'")

    def path(self, qualname: str) -> str:
        """The user's module path (without the `Root` wrapper's `model.`)."""
        if self.root_name is None:
            return qualname
        return self.root_name if qualname == "model" else qualname.removeprefix("model.")

    def _call_module(self, node):
        module = self.modules[node.target]
        path = self.path(node.target)
        conv = self.conv.get(type(module))
        if conv is None:
            raise refuse(path, _qualname(type(module)), "no snnc mapping for this torch module",
                         supported=supported_names(self.conv))
        if conv.stateful:
            if path in self.called:
                raise refuse(path, _qualname(type(module)),
                             "called twice in one forward; snnc reads a forward as one tick, where each neuron "
                             "module runs once, or as a loop over time that returns torch.stack(<one value per "
                             "tick>, dim=0) for each output")
            self.called.add(path)
        elif len(node.args) + len(node.kwargs) != 1:
            raise refuse(path, _qualname(type(module)), "called with more than one argument")
        data = node.args[0] if node.args else node.kwargs[next(iter(inspect.signature(module.forward).parameters))]
        hint = conv.input_shape(module) if conv.input_shape else None
        x = self.value(data, f"input of module '{path}'", hint)
        return conv.convert(self.s, module, path, x)

    def _call_function(self, node):
        handler = _FUNCTIONS.get(node.target)
        if handler is None:
            raise refuse(_enclosing(self, node), _qualname(node.target),
                         "no snnc mapping for this torch function in forward",
                         supported=tuple(sorted({_qualname(f) for f in _FUNCTIONS})))
        return handler(self, node, *node.args, **node.kwargs)

    def _call_method(self, node):
        if node.target == "flatten":
            return _flatten(self, node, *node.args, **node.kwargs)
        if node.target in _CASTS:               # dtype or device casts: the IR computes in float64
            return _identity(self, node, node.args[0])
        raise refuse(_enclosing(self, node), f"Tensor.{node.target}", "no snnc mapping for this tensor method in "
                                                                 "forward", supported=_METHODS)

    def _output(self, node):
        refs = []
        _flatten_refs(node.args[0], refs, self.env)
        pending = []
        for ref in refs:                     # spikes first: whether a state is kept depends on it
            if isinstance(ref, NeuronOutputs):
                pending.extend(StateRef(ref.neuron, e) for e in ref.elements)
            else:
                pending.append(ref)
        values = [self.value(r, "model output") if _is_tensor_ref(r) and not _is_state(r) else r
                  for r in pending]
        kept = []
        for v in values:
            if _is_state(v):
                if v.neuron.spikes_used or v.name not in MEMBRANE_NAMES:
                    continue                 # state handed back for the caller's loop: not an output
                v = v.neuron.membrane()
            if isinstance(v, Value):
                kept.append(v)
        if not kept:
            raise UsageError("the model returns no tensor that snnc can output (spikes, or values computed "
                             "from them)")
        names = ["output"] if len(kept) == 1 else [f"output_{i}" for i in range(len(kept))]
        self.outputs = [(n, v, "output") for n, v in zip(names, kept)]


def _is_state(ref) -> bool:
    return isinstance(ref, StateRef) and ref.name != "spikes"


def _is_tensor_ref(ref) -> bool:
    return isinstance(ref, (Value, StateRef, _Placeholder))


def _flatten_refs(arg, out: list, env) -> None:
    if isinstance(arg, fx.Node):
        out.append(env[arg])
    elif isinstance(arg, (tuple, list)):
        for a in arg:
            _flatten_refs(a, out, env)
    elif isinstance(arg, dict):
        for a in arg.values():
            _flatten_refs(a, out, env)


def _qualname(obj) -> str:
    """A short public name: torch.nn.Linear, snntorch.Leaky, norse.torch.LIFCell, torch.relu."""
    name = getattr(obj, "__name__", None) or repr(obj)
    module = getattr(obj, "__module__", None) or ""
    if isinstance(obj, type):
        for public in ("torch.nn", "snntorch", "norse.torch", "snnc.torch"):
            if module.startswith(public + ".") or module == public:
                return f"{public}.{name}"
    if (getattr(obj, "__qualname__", "") or "").startswith("_VariableFunctionsClass") or module == "torch":
        return f"torch.{name}"
    if module == "_operator":
        return f"operator.{name}"
    return f"{module}.{name}" if module and module != "builtins" else name


def _enclosing(walk: Walk, node: fx.Node) -> str:
    """The path of the module whose forward contains `node`, then the fx node name."""
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        return f"{walk.path(list(stack.values())[-1][0])}:{node.name}"
    return node.name


def supported_names(converters) -> tuple[str, ...]:
    return tuple(sorted(_qualname(t) for t in converters))


# -- functions in forward ------------------------------------------------------------------------
def _getitem(walk, node, obj, index):
    obj = walk.env[obj] if isinstance(obj, fx.Node) else obj
    if isinstance(obj, NeuronOutputs) and isinstance(index, int) and -len(obj.elements) <= index < len(obj.elements):
        return StateRef(obj.neuron, obj.elements[index])
    if isinstance(obj, StateRef) and obj.name != "spikes":
        return StateRef(obj.neuron, f"{obj.name}[{index}]")
    if isinstance(obj, (tuple, list)):
        return obj[index]
    if isinstance(obj, (_Placeholder, _Opaque)):
        return _Opaque(f"an element of {obj}")
    raise refuse(_enclosing(walk, node), "getitem", "indexing or slicing a tensor has no snnc mapping")


def _getattr(walk, node, obj, name):
    obj = walk.env[obj] if isinstance(obj, fx.Node) else obj
    if isinstance(obj, StateRef) and obj.name != "spikes":
        return StateRef(obj.neuron, name)
    if isinstance(obj, (_Placeholder, _Opaque)):
        return _Opaque(f"attribute '{name}' of {obj}")
    raise refuse(_enclosing(walk, node), "getattr", f"reading attribute '{name}' of a tensor has no snnc mapping")


def _sum(walk, node, x: Value, y: Value) -> Value:
    if x.shape != y.shape:
        raise refuse(_enclosing(walk, node), _qualname(node.target), f"combines shapes {list(x.shape)} and "
                     f"{list(y.shape)}; snnc adds equal shapes only (no broadcasting)")
    return Value(x.terms + y.terms, x.shape)


def _add(walk, node, a, b, *, alpha=1):
    if alpha != 1 or not isinstance(a, fx.Node) or not isinstance(b, fx.Node):
        raise refuse(_enclosing(walk, node), _qualname(node.target), "only the sum of two tensors of the model "
                     "maps to snnc (edges into one port add up); adding a constant does not")
    where = f"'{_enclosing(walk, node)}'"
    return _sum(walk, node, walk.value(a, where), walk.value(b, where))


def _sub(walk, node, a, b, *, alpha=1):
    if alpha != 1 or not isinstance(a, fx.Node) or not isinstance(b, fx.Node):
        raise refuse(_enclosing(walk, node), _qualname(node.target), "only the difference of two tensors of "
                                                                     "the model maps to snnc")
    where = f"'{_enclosing(walk, node)}'"
    return _sum(walk, node, walk.value(a, where), _scaled(walk, node, walk.value(b, where), -1.0))


def _scaled(walk, node, x: Value, factor: float) -> Value:
    name = walk.s.add(node.name, Scale(scale=np.full(x.shape, float(factor))), x, _enclosing(walk, node))
    return Value((name,), x.shape)


def _mul(walk, node, a, b):
    tensor, number = (a, b) if isinstance(a, fx.Node) else (b, a)
    if not isinstance(tensor, fx.Node) or isinstance(number, (fx.Node, bool)) or not isinstance(number, (int, float)):
        raise refuse(_enclosing(walk, node), _qualname(node.target), "only a tensor times a Python number maps "
                                                                     "to snnc (snn.scale)")
    return _scaled(walk, node, walk.value(tensor, f"'{_enclosing(walk, node)}'"), number)


def _flatten(walk, node, x, start_dim=0, end_dim=-1):
    v = walk.value(x, f"'{_enclosing(walk, node)}'")
    op = flatten_op(start_dim, end_dim, len(v.shape), _enclosing(walk, node), "flatten")
    name = walk.s.add(node.name, op, v, _enclosing(walk, node))
    return Value((name,), tuple(op.infer_types({"input": TensorType(v.shape)})["output"].shape))


def flatten_op(start_dim: int, end_dim: int, rank: int, path: str, kind: str) -> Flatten:
    """snn.flatten for torch's flatten(start_dim, end_dim) on [B, *shape] (rank = len(shape))."""
    def per_sample(d: int) -> int:
        return d - 1 if d >= 0 else d
    if start_dim == 0 or (start_dim < 0 and start_dim + rank + 1 <= 0) or end_dim == 0:
        raise refuse(path, kind, f"flatten(start_dim={start_dim}, end_dim={end_dim}) merges the batch axis; "
                                 f"snnc flattens per-sample axes only (start_dim >= 1)")
    return Flatten(start_dim=per_sample(start_dim), end_dim=per_sample(end_dim))


def _identity(walk, node, x, *args, **kwargs):
    return walk.value(x, f"'{_enclosing(walk, node)}'")


_CASTS = ("to", "float", "double", "contiguous")
_METHODS = tuple(f"Tensor.{m}" for m in ("flatten", *_CASTS))

_FUNCTIONS = {
    operator.getitem: _getitem,
    builtins.getattr: _getattr,
    operator.add: _add, operator.iadd: _add, torch.add: _add,
    operator.sub: _sub, operator.isub: _sub, torch.sub: _sub,
    operator.mul: _mul, operator.imul: _mul, torch.mul: _mul,
    torch.flatten: _flatten,
    F.dropout: _identity, F.dropout1d: _identity, F.dropout2d: _identity,
}
