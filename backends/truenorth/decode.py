"""Reading a TrueNorth artifact back: the chip graph rebuilt from its files alone (FORMAT.md).

Nothing here looks at what the compiler kept in memory. Each `cores/core_NNNN.{json,npz}`
pair becomes one `truenorth.core` node (crossbar, axon types, every neuron register, its
PRN stream), named as the file says; the destination tables, grouped by (source core,
destination), become the `truenorth.route` nodes between cores and to the host outputs;
`host.npz` gives the routes from the graph inputs and which neuron each output element reads;
`host.json` the graph's inputs and outputs, its attributes and the mapping record's host
tables. The routes feeding each core or output are declared, by node name, where they end
(`routes_in`), so a route that carries no spikes is kept and every node keeps its name. The
mapping record (inputs, outputs, layers, parts, cores, place, roles, latency) is rebuilt
from the same files, so `snnc.artifact.run_mapped` drives the result as the host drives the
chip, and `emit` of the result writes the same files.

Every value read is checked — shapes, dtypes, ranges, and the references between files (a
destination's core and axon, an output element's neuron, a declared route's source). A file
that does not hold what the format promises raises `MalformedInputError` naming the file and
what is wrong.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from snnc.backends.truenorth.files import (CORE_ARRAYS, CORE_PREFIX, DEST_FIELDS, HOST, HOST_JSON, HOST_NPZ,
                                           HOST_PROGRAM, NEURON_ARRAYS)
from snnc.backends.truenorth.netlist import ROLES
from snnc.backends.truenorth.ops import SCHEDULER_TICKS, Core, Route
from snnc.backends.truenorth.program import read_program
from snnc.errors import IRVerificationError, MalformedInputError
from snnc.ir.graph import Edge, Graph, Node
from snnc.ir.mapping import Mapping, PartOf, Position
from snnc.ir.snn import Input, Output

_CORE_NAME = re.compile(r"cores/core_(\d{4,})\.(json|npz)\Z")


@dataclass
class _Route:
    """A route declared at its destination, and the entries the tables give it."""

    node: str
    src: str
    dst: str
    origin: str
    file: str                                         # the file that declares it
    entries: list = field(default_factory=list)      # (source element, axon, delay)
    recurrent: bool = False                           # behind a recurrent edge: the node's delay is one less


@dataclass
class _Core:
    index: int
    stem: str
    node: str
    origin: str
    op: Core
    dest: np.ndarray                                  # [k, 4]: neuron, core, axon, delay
    meta: dict


class _Files:
    """Typed access to the artifact's files; every failure names the file."""

    def __init__(self, art):
        self.art = art

    def where(self, name: str) -> str:
        return str(self.art.path / name) if self.art.path else name

    def fail(self, name: str, message: str) -> MalformedInputError:
        return MalformedInputError(message, file=self.where(name))

    def json(self, name: str) -> dict:
        if name not in self.art.files:
            raise self.fail(name, "missing: the format requires this file")
        try:
            obj = json.loads(self.art.files[name])
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.fail(name, f"not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise self.fail(name, "expected a JSON object")
        return obj

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        if name not in self.art.files:
            raise self.fail(name, "missing: the format requires this file")
        arrays = self.art.arrays(name)
        for key, v in arrays.items():
            if v.dtype.kind not in "iu":
                raise self.fail(name, f"array '{key}' has dtype {v.dtype}, expected integers")
        return {k: v.astype(np.int64) for k, v in arrays.items()}

    def value(self, obj: dict, key: str, kind, name: str, where: str):
        """obj[key], which must be of `kind` (int means a JSON integer, not a bool)."""
        if key not in obj:
            raise self.fail(name, f"{where}: missing key '{key}'")
        v = obj[key]
        if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            raise self.fail(name, f"{where}: '{key}' = {v!r}, expected {' or '.join(k.__name__ for k in kinds)}")
        return v

    def ints(self, obj: dict, key: str, n: int, name: str, where: str) -> list[int]:
        v = self.value(obj, key, list, name, where)
        if len(v) != n or any(not isinstance(x, int) or isinstance(x, bool) for x in v):
            raise self.fail(name, f"{where}: '{key}' = {v!r}, expected a list of {n} integers")
        return v


def decode(art, target=None) -> Graph:
    """The mapped `truenorth.*` graph the artifact's files describe (module docstring)."""
    files = _Files(art)
    host = _host_json(files)
    cores = _cores(files)
    program = read_program(files, host)
    _names_distinct(files, _named(host, cores, program))
    by_index = {c.index: c for c in cores}
    routes = _declared_routes(files, host, cores)
    _core_entries(files, cores, by_index, routes)
    arrays = files.arrays(HOST_NPZ)
    _input_entries(files, host, arrays, by_index, routes, program)
    sizes = _host_entries(files, host, arrays, cores, by_index, routes, program)
    return _graph(files, host, cores, routes, sizes, program)


# -- host.json ---------------------------------------------------------------------------------------
@dataclass
class _Host:
    attrs: dict
    inputs: list[tuple[str, str]]                   # (node, origin), in graph order
    outputs: list[tuple[str, str, list]]            # (node, origin, routes_in)
    mapping: Mapping
    reads: list[tuple[str, str, list]] = field(default_factory=list)   # (host node, program stream, routes_in)
    sends: list[str] = field(default_factory=list)                     # host nodes that feed the chip
    latency: dict[str, int] = field(default_factory=dict)              # of each host node


def _host_json(files: _Files) -> _Host:
    h = files.json(HOST_JSON)
    g = files.value(h, "graph", dict, HOST_JSON, "graph")
    attrs = {"dt": files.value(g, "dt", (int, float), HOST_JSON, "graph"),
             "method": files.value(g, "method", str, HOST_JSON, "graph"),
             "version": files.value(g, "version", str, HOST_JSON, "graph"),
             "metadata": files.value(g, "metadata", dict, HOST_JSON, "graph")}
    if not all(isinstance(v, str) for v in attrs["metadata"].values()):
        raise files.fail(HOST_JSON, "graph: 'metadata' must map names to strings")
    inputs, outputs = [], []
    for i, entry in enumerate(files.value(h, "inputs", list, HOST_JSON, "inputs")):
        where = f"inputs[{i}]"
        entry = entry if isinstance(entry, dict) else {}
        inputs.append((files.value(entry, "node", str, HOST_JSON, where),
                       files.value(entry, "origin", str, HOST_JSON, where)))
    for i, entry in enumerate(files.value(h, "outputs", list, HOST_JSON, "outputs")):
        where = f"outputs[{i}]"
        entry = entry if isinstance(entry, dict) else {}
        outputs.append((files.value(entry, "node", str, HOST_JSON, where),
                        files.value(entry, "origin", str, HOST_JSON, where),
                        files.value(entry, "routes_in", list, HOST_JSON, where)))
    tables = files.value(h, "mapping", dict, HOST_JSON, "mapping")
    extra = sorted(set(tables) - {"inputs", "outputs", "layers"})
    if extra:
        raise files.fail(HOST_JSON, f"mapping.{extra[0]}: the host holds only inputs, outputs and layers "
                                    f"(the core files hold the rest)")
    mapping = Mapping.from_json(tables, file=files.where(HOST_JSON))
    names = [n for n, _ in inputs]
    if set(mapping.inputs) != set(names) or len(set(names)) != len(names):
        raise files.fail(HOST_JSON, f"mapping.inputs lists {sorted(mapping.inputs)}, 'inputs' lists {names}")
    reads = []
    for i, entry in enumerate(h.get("reads", [])):
        where = f"reads[{i}]"
        entry = entry if isinstance(entry, dict) else {}
        reads.append(tuple(files.value(entry, k, t, HOST_JSON, where)
                           for k, t in (("node", str), ("stream", str), ("routes_in", list))))
    sends = h.get("sends", [])
    if not isinstance(sends, list) or not all(isinstance(n, str) for n in sends):
        raise files.fail(HOST_JSON, "'sends' must list host nodes by name")
    latency = h.get("host_latency", {})
    if not isinstance(latency, dict) or any(not isinstance(v, int) or isinstance(v, bool) or v < 0
                                            for v in latency.values()):
        raise files.fail(HOST_JSON, "'host_latency' must map host nodes to integers >= 0")
    return _Host(attrs, inputs, outputs, mapping, reads, sends, dict(latency))


# -- cores/core_NNNN.{json,npz} ------------------------------------------------------------------------
def _cores(files: _Files) -> list[_Core]:
    """Every core, in core order, its files paired and read."""
    stems: dict[int, set[str]] = {}
    for name in files.art.files:
        if name.startswith(CORE_PREFIX):
            m = _CORE_NAME.match(name)
            if m is None:
                raise files.fail(name, "not a core file: the format names them cores/core_NNNN.json and .npz")
            stems.setdefault(int(m.group(1)), set()).add(m.group(2))
    for index, kinds in sorted(stems.items()):
        if kinds != {"json", "npz"}:
            (have,) = kinds
            raise files.fail(f"{CORE_PREFIX}{index:04d}.{have}", f"core {index} has a .{have} file but no "
                                                                 f".{({'json', 'npz'} - kinds).pop()} file")
    cores = [_core(files, index, f"{CORE_PREFIX}{index:04d}") for index in sorted(stems)]
    first: dict[str, int] = {}
    for c in cores:
        if first.setdefault(c.node, c.index) != c.index:
            raise files.fail(f"{c.stem}.json", f"node '{c.node}' is also the node of core {first[c.node]}")
    return cores


def _core(files: _Files, index: int, stem: str) -> _Core:
    jname, nname = f"{stem}.json", f"{stem}.npz"
    meta = files.json(jname)
    v = lambda key, kind: files.value(meta, key, kind, jname, f"core {index}")     # noqa: E731
    if v("core", int) != index:
        raise files.fail(jname, f"'core' = {meta['core']}, the file name says core {index}")
    if v("role", str) not in ROLES:
        raise files.fail(jname, f"role '{meta['role']}' is not one of {', '.join(ROLES)}")
    for key in ("latency", "membrane_bits", "prng_seed"):
        if v(key, int) < 0:
            raise files.fail(jname, f"'{key}' = {meta[key]}, expected an integer >= 0")
    files.ints(meta, "position", 4, jname, f"core {index}")
    parts = v("parts", list)
    if len(parts) > 1:
        raise files.fail(jname, f"'parts' lists {len(parts)} layer parts; a core node holds at most one")
    for p in parts:
        p = p if isinstance(p, dict) else {}
        files.value(p, "population", str, jname, "parts[0]")
        for key in ("offset", "count", "first"):
            files.value(p, key, int, jname, "parts[0]")
    v("routes_in", list)
    arrays = files.arrays(nname)
    op = _core_op(files, nname, arrays, meta)
    dest = np.stack([arrays[f"dest.{f}"] for f in DEST_FIELDS], axis=1)
    return _Core(index, stem, v("node", str), v("origin", str), op, dest, meta)


def _core_op(files: _Files, name: str, arrays: dict, meta: dict) -> Core:
    missing = sorted(set(CORE_ARRAYS) - set(arrays))
    extra = sorted(set(arrays) - set(CORE_ARRAYS))
    if missing or extra:
        what = f"lacks array '{missing[0]}'" if missing else f"holds array '{extra[0]}', which the format has not"
        raise files.fail(name, what)
    lengths = {arrays[f"dest.{f}"].shape for f in DEST_FIELDS}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise files.fail(name, f"dest.* must be 1-D arrays of one length, got shapes "
                               f"{[list(arrays[f'dest.{f}'].shape) for f in DEST_FIELDS]}")
    fields = {a.split(".", 1)[-1]: arrays[a] for a in ("crossbar", "axon_type", *NEURON_ARRAYS)}
    op = Core(**fields, membrane_bits=meta["membrane_bits"], prng_seed=meta["prng_seed"])
    errors = op.verify()
    if errors:
        raise files.fail(name, "; ".join(errors))
    return op


# -- routes ------------------------------------------------------------------------------------------
def _declared_routes(files: _Files, host: _Host, cores: list[_Core]) -> dict[tuple[str, str], _Route]:
    """Every route, keyed by (source node, destination node), as the destinations declare them."""
    inputs = {n for n, _ in host.inputs}
    core_nodes = {c.node for c in cores}
    routes: dict[tuple[str, str], _Route] = {}
    ends = [(f"{c.stem}.json", c.node, c.meta["routes_in"], inputs | core_nodes | set(host.sends)) for c in cores]
    ends += [(HOST_JSON, node, declared, core_nodes) for node, _, declared in host.outputs]
    ends += [(HOST_JSON, node, declared, core_nodes) for node, _, declared in host.reads]
    for fname, dst, declared, sources in ends:
        for i, r in enumerate(declared):
            where = f"{dst}: routes_in[{i}]"
            r = r if isinstance(r, dict) else {}
            route = _Route(files.value(r, "node", str, fname, where), files.value(r, "source", str, fname, where),
                           dst, files.value(r, "origin", str, fname, where), fname,
                           recurrent=files.value(r, "recurrent", bool, fname, where) if "recurrent" in r else False)
            if route.src not in sources:
                raise files.fail(fname, f"{where}: source '{route.src}' is not a graph input or core node that "
                                        f"may feed '{dst}'")
            if (route.src, dst) in routes:
                raise files.fail(fname, f"{where}: a second route from '{route.src}' (one route per source)")
            routes[(route.src, dst)] = route
    return routes


def _route(files: _Files, routes: dict, src: str, dst: str, fname: str, what: str) -> _Route:
    if (src, dst) not in routes:
        raise files.fail(fname, f"{what} sends to '{dst}', which declares no route from '{src}' (routes_in)")
    return routes[(src, dst)]


def _core_entries(files: _Files, cores: list[_Core], by_index: dict, routes: dict) -> None:
    """The on-chip destination rows of every core, as entries of their routes."""
    for c in cores:
        fname = f"{c.stem}.npz"
        for row, (j, d, axon, delay) in enumerate(c.dest.tolist()):
            what = f"dest row {row} (neuron {j})"
            if not 0 <= j < c.op.neurons:
                raise files.fail(fname, f"{what}: the core has {c.op.neurons} neurons")
            if not 0 <= delay < SCHEDULER_TICKS:
                raise files.fail(fname, f"{what}: delay {delay} outside the scheduler's [0, {SCHEDULER_TICKS - 1}]")
            if d == HOST:
                continue                                                       # read with the outputs
            if d not in by_index:
                raise files.fail(fname, f"{what}: sends to core {d}, which has no files")
            dst = by_index[d]
            if not 0 <= axon < dst.op.axons:
                raise files.fail(fname, f"{what}: sends to axon {axon} of core {d}, which has {dst.op.axons} axons")
            _route(files, routes, c.node, dst.node, fname, what).entries.append((j, axon, delay))


def _input_entries(files: _Files, host: _Host, arrays: dict, by_index: dict, routes: dict,
                   program: Graph | None) -> None:
    """host.npz's input and send maps: element e of input (or host node) x reaches (core, axon)
    `delay` ticks later."""
    maps = [(x, "input", host.mapping.inputs[x].size) for x, _ in host.inputs]
    maps += [(n, "send", program.types()[(n, "output")].size) for n in host.sends]
    for x, kind, size in maps:
        ptr, target = arrays.get(f"{kind}.{x}.ptr"), arrays.get(f"{kind}.{x}.target")
        if ptr is None or target is None:
            raise files.fail(HOST_NPZ, f"lacks {kind}.{x}.ptr or {kind}.{x}.target ({kind} '{x}')")
        if ptr.shape != (size + 1,) or ptr[0] != 0 or np.any(np.diff(ptr) < 0) or target.ndim != 2 \
                or target.shape[1] != 3 or ptr[-1] != target.shape[0]:
            raise files.fail(HOST_NPZ, f"{kind}.{x}: ptr {list(ptr.shape)} and target {list(target.shape)} are not "
                                       f"a map of {size} elements (ptr [n+1] from 0, non-decreasing, to the "
                                       f"rows of target [m, 3])")
        for e in range(size):
            for core, axon, delay in target[ptr[e]:ptr[e + 1]].tolist():
                what = f"{kind}.{x} element {e}"
                dst = by_index.get(core)
                if dst is None or not 0 <= axon < dst.op.axons or not 0 <= delay < SCHEDULER_TICKS:
                    raise files.fail(HOST_NPZ, f"{what}: targets core {core} axon {axon} delay {delay}, which is not "
                                               f"an axon of a core within the scheduler's {SCHEDULER_TICKS} ticks")
                _route(files, routes, x, dst.node, HOST_NPZ, what).entries.append((e, axon, delay))
    known = {f"{kind}.{x}.{k}" for x, kind, _ in maps for k in ("ptr", "target")}
    known |= {f"output.{o}.source" for o, _, _ in host.outputs} | {f"read.{n}.source" for n, _, _ in host.reads}
    extra = sorted(set(arrays) - known)
    if extra:
        raise files.fail(HOST_NPZ, f"holds array '{extra[0]}', which names no input or output of host.json")


def _host_entries(files: _Files, host: _Host, arrays: dict, cores: list[_Core], by_index: dict,
                  routes: dict, program: Graph | None) -> dict[str, int]:
    """Each element the host reads — of a graph output, or of a host node's input — matched with
    the neuron host.npz names and that neuron's host destination row; the size of each."""
    pending: dict[tuple[int, int, int], list[int]] = {}                # (core, neuron, element) -> delays
    for c in cores:
        for j, d, axon, delay in c.dest.tolist():
            if d == HOST:
                pending.setdefault((c.index, j, axon), []).append(delay)
    fed = set(program.outputs) if program is not None else set()
    tables = [(o, f"output.{o}.source") for o, _, _ in host.outputs if o not in fed]
    tables += [(n, f"read.{n}.source") for n, _, _ in host.reads]
    sizes = {o: int(np.prod(program.op(o).shape)) for o in fed}
    for dst, key in tables:
        source = arrays.get(key)
        if source is None or source.ndim != 2 or source.shape[1] != 2 or not len(source):
            raise files.fail(HOST_NPZ, f"{key} must be an [n, 2] array (core, neuron per element)")
        sizes[dst] = len(source)
        for e, (core, j) in enumerate(source.tolist()):
            delays = pending.get((core, j, e))
            if not delays or core not in by_index:
                raise files.fail(HOST_NPZ, f"{key} element {e} reads core {core} neuron {j}, which "
                                           f"sends nothing to host element {e}")
            _route(files, routes, by_index[core].node, dst, HOST_NPZ, f"core {core} neuron {j}").entries.append(
                (j, e, delays.pop()))
    left = sorted(k for k, v in pending.items() if v)
    if left:
        core, j, e = left[0]
        raise files.fail(f"{CORE_PREFIX}{core:04d}.npz", f"neuron {j} sends to host element {e}, which no output "
                                                         f"or host node of host.npz reads")
    return sizes


# -- the graph ---------------------------------------------------------------------------------------
def _graph(files: _Files, host: _Host, cores: list[_Core], routes: dict, out_sizes: dict,
           program: Graph | None) -> Graph:
    sizes = {x: host.mapping.inputs[x].size for x, _ in host.inputs}
    sizes.update({c.node: c.op.neurons for c in cores})
    sizes.update({n: program.types()[(n, "output")].size for n in host.sends})
    axons = {c.node: c.op.axons for c in cores} | out_sizes
    into: dict[str, list[_Route]] = {}
    for r in routes.values():
        into.setdefault(r.dst, []).append(r)
    nodes = [Node(x, Input(shape=(sizes[x],)), origin) for x, origin in host.inputs]
    edges = []

    def fed(dst: str) -> list[Node]:
        return [_route_node(files, r, sizes[r.src], axons[r.dst], edges) for r in into.get(dst, [])]

    for c in cores:
        nodes += fed(c.node)
        nodes.append(Node(c.node, c.op, c.origin))
    if program is not None:
        streams = {s for _, s, _ in host.reads}
        for name, node in program.nodes.items():
            if name not in program.inputs and name not in program.outputs:
                nodes += fed(name)
                nodes.append(node)
        edges += [e for e in program.edges if e.src not in streams]
    for o, origin, _ in host.outputs:
        nodes += fed(o)
        nodes.append(Node(o, Output(shape=(out_sizes[o],)), origin))
    _names_distinct(files, _named(host, cores, program) + [(r.node, "a route", r.file) for r in routes.values()])
    mapping = _mapping(host.mapping, cores).replace(latency={**{c.node: c.meta["latency"] for c in cores},
                                                             **host.latency})
    a = host.attrs
    try:
        graph = Graph(nodes, edges, inputs=[x for x, _ in host.inputs], outputs=[o for o, _, _ in host.outputs],
                      dt=a["dt"], method=a["method"], version=a["version"], metadata=a["metadata"], mapping=mapping)
        return graph.verify()
    except IRVerificationError as exc:
        raise MalformedInputError(f"the files describe no valid chip graph: {exc}",
                                  file=str(files.art.path or "<artifact>")) from None


def _named(host: _Host, cores: list[_Core], program: Graph | None = None) -> list[tuple[str, str, str]]:
    """(node name, what it is, the file declaring it) of the inputs, cores, host nodes and outputs."""
    body = [n for n in program.nodes if n not in program.inputs and n not in program.outputs] if program else []
    return ([(x, "a graph input", HOST_JSON) for x, _ in host.inputs]
            + [(c.node, "a core", f"{c.stem}.json") for c in cores]
            + [(n, "a host node", HOST_PROGRAM) for n in body]
            + [(o, "a graph output", HOST_JSON) for o, _, _ in host.outputs])


def _names_distinct(files: _Files, named: list[tuple[str, str, str]]) -> None:
    """Every node has its own name (the file named is the second one that declares it)."""
    kinds: dict[str, str] = {}
    for name, kind, file in named:
        if name in kinds:
            raise files.fail(file, f"node name '{name}' names both {kinds[name]} and {kind}")
        kinds[name] = kind


def _route_node(files: _Files, r: _Route, n_in: int, n_axons: int, edges: list) -> Node:
    """The route node of `r`: behind a recurrent edge, its delays one less (the edge holds one tick)."""
    e = np.array(sorted(r.entries), np.int64).reshape(-1, 3)
    if r.recurrent and e.size and e[:, 2].min() < 1:
        raise files.fail(r.file, f"route '{r.node}' is recurrent but an entry has delay {int(e[:, 2].min())} "
                                 f"(a recurrent route's delay includes its edge's tick: at least 1)")
    edges += [Edge(r.src, r.node, recurrent=r.recurrent), Edge(r.node, r.dst)]
    back = 1 if r.recurrent else 0
    return Node(r.node, Route(source=e[:, 0], axon=e[:, 1], delay=e[:, 2] - back, n_in=n_in, n_axons=n_axons),
                r.origin)


def _mapping(host: Mapping, cores: list[_Core]) -> Mapping:
    parts = {c.node: PartOf(p["population"], p["offset"], p["count"], p["first"])
             for c in cores for p in c.meta["parts"]}
    return host.replace(parts=parts, cores={c.node: c.index for c in cores},
                        place={c.index: Position(*c.meta["position"]) for c in cores},
                        roles={c.node: c.meta["role"] for c in cores},
                        latency={c.node: c.meta["latency"] for c in cores})
