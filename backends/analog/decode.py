"""The analog decoder: the artifact's files (FORMAT.md) back into the mapped `analog.*` graph.

Nothing here reads the compiler's graph: host.json gives the graph inputs (and their
flatten nodes) and outputs, neurons.json and neurons.npz the populations (and their synapse
circuits) in node order, tiles.json and tiles/tile_NNNN.npz the tiles in core order with
what each reads, how late, and feeds, and the spike buffers; host_program.snnir the host
readouts. The nodes, their names and origins, the edges, their order and the mapping record
are rebuilt as the analog pipeline made them (layout.py), so the decoded graph runs as
the compiled one did, bit for bit under the same seed (device draws are keyed by node
name), and `emit(decode(art))` writes the same files. Every value read is checked: a
missing or inconsistent file raises `MalformedInputError` naming the file and the entry.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.analog.host import PROGRAM, host_output, read_program
from snnc.backends.analog.layout import CONVERTER_FIELDS, READOUTS, TILE_FILE
from snnc.backends.analog.ops import DRIFT_COMPENSATIONS, RESET_MODES, Crossbar, LIFCircuit, SpikeBuffer, SynapseCircuit
from snnc.backends.analog.reader import Obj
from snnc.errors import IRVerificationError, MalformedInputError
from snnc.ir.op import OpRuleError
from snnc.ir.graph import METHODS, Edge, Graph, Node
from snnc.ir.mapping import HostInput, Layer, Mapping, PartOf, Position
from snnc.ir.snn import Flatten, Input, Output
from snnc.ir.snn.neuron import RESET_TIMINGS

DEVICE_SCALARS = ("g_max", "prog_noise_g_ref", "t0", "t_read", "synapse_mismatch")
DEVICE_LISTS = {"prog_noise": None, "nu_mean": 4, "nu_std": 4, "read_noise": 3}


def decode(art, target=None) -> Graph:
    """The mapped graph the files describe (module docstring); `target` is not consulted."""
    host = Obj(art.json("host.json"), "host.json")
    neurons = Obj(art.json("neurons.json"), "neurons.json")
    tiles = Obj(art.json("tiles.json"), "tiles.json")
    b = _Builder()
    for entry in host.arr("inputs").objs():
        b.add_input(entry)
    arrays = art.arrays("neurons.npz")
    pops = [b.population(p, arrays) for p in neurons.arr("populations").objs()]
    b.read_buffers(tiles)
    by_pop = b.tiles(tiles, art)
    for name, node, synapse in pops:
        for tile in by_pop.get(name, []):
            b.add_tile(tile)
        if not by_pop.get(name):
            raise MalformedInputError(f"population '{name}' is fed by no tile", file="tiles.json")
        if synapse is not None:
            b.nodes.append(synapse)
        b.nodes.append(node)
    b.unused_buffers()
    b.add_program(read_program(art, b.sizes))
    for entry in host.arr("outputs").objs():
        b.add_output(entry)
    b.edges += [Edge(syn.name, name) for name, _, syn in pops if syn is not None]
    graph = Graph(b.nodes, b.edges, inputs=b.inputs, outputs=b.outputs,
                  dt=neurons.num("chip_dt", positive=True), method=neurons.str("method", METHODS),
                  version=host.str("ir_version"), metadata=host.strings("metadata"), mapping=b.mapping())
    try:
        return graph.verify()
    except IRVerificationError as exc:
        raise MalformedInputError(f"the files describe an invalid graph: {exc}") from None


class _Builder:
    """Collects nodes, edges and mapping tables in the order the analog lowering makes them."""

    def __init__(self):
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.host_in: dict[str, HostInput] = {}
        self.host_out: dict[str, HostOutput] = {}
        self.sizes: dict[str, int] = {}              # tile source or population -> vector length
        self.feed: dict[str, str] = {}               # source -> node carrying its flat vector
        self.pop_order: list[str] = []
        self.cores: dict[str, int] = {}
        self.place: dict[int, Position] = {}
        self.names: set[str] = set()
        self.synapse: dict[str, str] = {}            # population -> its synapse circuit node
        self.buffer_entries: dict[tuple[str, int], tuple[str, str]] = {}   # (source, ticks) -> (node, origin)
        self.buffers_made: set[str] = set()
        self.readouts: set[str] = set()

    def name(self, entry: Obj, key: str = "name") -> str:
        value = entry.str(key)
        if not value or value in self.names:
            raise entry.bad(f"node name {value!r} is empty or used twice", key)
        self.names.add(value)
        return value

    # -- host.json -------------------------------------------------------------------------------
    def add_input(self, entry: Obj) -> None:
        name = self.name(entry)
        shape = entry.dims("shape")
        self.nodes.append(Node(name, Input(shape=shape), entry.str("origin")))
        self.inputs.append(name)
        self.host_in[name] = HostInput(shape, "values")
        self.sizes[name], self.feed[name] = int(np.prod(shape)), name
        flat = entry.get("flatten")
        if flat is not None:
            flat = entry.obj("flatten")
            fname = self.name(flat)
            self.nodes.append(Node(fname, Flatten(), flat.str("origin")))
            self.edges.append(Edge(name, fname))
            self.feed[name] = fname
        elif len(shape) > 1:
            raise entry.bad(f"an input of shape {list(shape)} must be flattened for the tiles' rows", "flatten")

    def add_output(self, entry: Obj) -> None:
        name = self.name(entry)
        pop, readout = entry.get("population"), entry.get("readout")
        if (pop is None) == (readout is None):
            raise entry.bad("exactly one of population and readout names what feeds the output")
        if pop is not None and entry.str("population") not in self.pop_order:
            raise entry.bad(f"'{pop}' is not a population of neurons.json", "population")
        if readout is not None and entry.str("readout") not in self.readouts:
            raise entry.bad(f"'{readout}' is not a readout of {PROGRAM}", "readout")
        src = pop if pop is not None else readout
        n = self.sizes[src]
        shape = entry.dims("shape")
        if int(np.prod(shape)) != n:
            raise entry.bad(f"shape {list(shape)} does not hold the {n} values of '{src}'", "shape")
        self.nodes.append(Node(name, Output(shape=(n,)), entry.str("origin")))
        self.edges.append(Edge(src, name))
        self.outputs.append(name)
        self.host_out[name] = host_output(shape, name, n, readout is not None)

    def add_program(self, program) -> None:
        """The host program's nodes (all but its inputs, which name chip nodes) and edges."""
        if program is None:
            return
        for name, node in program.nodes.items():
            if name in program.inputs:
                continue
            if name in self.names:
                raise MalformedInputError(f"node name '{name}' is also a node of the chip", file=PROGRAM)
            self.names.add(name)
            self.nodes.append(node)
            if isinstance(node.op, READOUTS):
                self.readouts.add(name)
                self.sizes[name] = int(np.prod(node.op.shape))
        self.edges += list(program.edges)

    # -- neurons.json, neurons.npz -----------------------------------------------------------------
    def population(self, p: Obj, arrays: dict[str, np.ndarray]) -> tuple[str, Node]:
        name = self.name(p)
        n = p.int("neurons", low=1)
        expected = [f"{name}.{f}" for f in LIFCircuit.ARRAYS]
        if p.get("arrays") != expected:
            raise p.bad(f"expected {expected}", "arrays")
        values = {f: _array(arrays, f"{name}.{f}", "neurons.npz", np.float64, (n,)) for f in LIFCircuit.ARRAYS}
        for f in ("v_leak", "v_init", "v_threshold", "v_reset"):
            _array(arrays, f"{name}.{f}_code", "neurons.npz", np.int64, (n,))
        m = p.obj("mismatch")
        op = _op(LIFCircuit, p, name, **values, reset_mode=p.str("reset_mode", RESET_MODES),
                 reset_timing=p.str("reset_timing", RESET_TIMINGS), t_refrac=p.num("t_refrac", low=0),
                 sigma_tau=m.num("tau", low=0), sigma_gain=m.num("gain", low=0),
                 sigma_threshold=m.num("threshold", low=0))
        self.pop_order.append(name)
        self.sizes[name], self.feed[name] = n, name
        return name, Node(name, op, p.str("origin")), self._synapse(p, name, n, arrays)

    def _synapse(self, p: Obj, pop: str, n: int, arrays) -> Node | None:
        if p.get("synapse") is None:
            return None
        s = p.obj("synapse")
        name = self.name(s)
        key = f"{pop}.tau_syn"
        if s.str("tau_syn") != key:
            raise s.bad(f"expected {key!r}", "tau_syn")
        op = _op(SynapseCircuit, s, name, tau_syn=_array(arrays, key, "neurons.npz", np.float64, (n,)),
                 sigma_tau=s.num("sigma_tau", low=0))
        self.synapse[pop] = name
        return Node(name, op, s.str("origin"))

    # -- the spike buffers of tiles.json ---------------------------------------------------------------
    def read_buffers(self, doc: Obj) -> None:
        for b in doc.arr("buffers").objs():
            src, ticks = b.str("source"), b.int("ticks", low=1)
            if src not in self.inputs and src not in self.pop_order:
                raise b.bad(f"'{src}' is neither a graph input nor a population", "source")
            if (src, ticks) in self.buffer_entries:
                raise b.bad(f"a second buffer of '{src}' for {ticks} tick(s)")
            self.buffer_entries[(src, ticks)] = (self.name(b, "node"), b.str("origin"))

    def buffer(self, src: str, ticks: int, t: Obj) -> str:
        """The buffer holding `src` for `ticks` ticks, added before the first tile that reads it."""
        if (src, ticks) not in self.buffer_entries:
            raise t.bad(f"a tile reading '{src}' {ticks + 1} ticks late needs a buffer of '{src}' for {ticks} "
                        f"tick(s), and tiles.json lists none", "lag")
        name, origin = self.buffer_entries[(src, ticks)]
        if name not in self.buffers_made:
            self.buffers_made.add(name)
            self.nodes.append(Node(name, SpikeBuffer(ticks=ticks), origin))
            self.edges.append(Edge(self.feed[src], name))
        return name

    def unused_buffers(self) -> None:
        for (src, ticks), (name, _) in self.buffer_entries.items():
            if name not in self.buffers_made:
                raise MalformedInputError(f"buffer '{name}' of '{src}' is read by no tile", file="tiles.json")

    # -- tiles.json, tiles/tile_NNNN.npz -----------------------------------------------------------
    def tiles(self, doc: Obj, art) -> dict[str, list[tuple]]:
        """Every tile as (population, node, source, lag, entry), grouped by population in file order."""
        device = doc.obj("device")
        levels = device.int("levels", low=0)
        model = _device_model(device.obj("model"))
        by_pop: dict[str, list] = {}
        last = -1
        for t in doc.arr("tiles").objs():
            number = t.int("tile", low=0)
            if number <= last:
                raise t.bad(f"tile {number} is listed after tile {last}: tiles are listed once each, in "
                            f"ascending order", "tile")
            last = number
            tile = self._tile(t, number, art, levels, model)
            by_pop.setdefault(tile[0], []).append(tile)
        return by_pop

    def _tile(self, t: Obj, number: int, art, levels: int, model: dict):
        name = self.name(t, "node")
        pop, src, lag = t.str("population"), t.str("source"), t.int("lag", low=0)
        if pop not in self.pop_order:
            raise t.bad(f"'{pop}' is not a population of neurons.json", "population")
        if lag and src not in self.inputs and src not in self.pop_order:
            raise t.bad(f"'{src}' is neither a graph input nor a population", "source")
        if not lag and src not in self.inputs and src not in self.pop_order[:self.pop_order.index(pop)]:
            raise t.bad(f"'{src}' is neither a graph input nor a population listed before '{pop}' (a tile reads a "
                        f"later population only with lag >= 1)", "source")
        file = TILE_FILE.format(number)
        if t.str("file") != file:
            raise t.bad(f"expected {file!r}, the file of tile {number}", "file")
        g_pos, g_neg, cols = _conductances(art, file, levels)
        C, R = g_pos.shape
        r0, r1 = t.ints("rows", 2)
        c0, c1 = t.ints("cols", 2)
        if r1 - r0 != R or r1 > self.sizes[src] or c1 - c0 != C or c1 > self.sizes[pop]:
            raise t.bad(f"rows [{r0}, {r1}) of '{src}' ({self.sizes[src]}) and columns [{c0}, {c1}) of '{pop}' "
                        f"({self.sizes[pop]}) do not frame the {C}x{R} conductances of {file}")
        conv = t.obj("converters")
        fields = {f: (conv.int(f, low=0) if f.endswith("_bits") else conv.num(f, low=0)) for f in CONVERTER_FIELDS}
        op = _op(Crossbar, t, name, g_pos=g_pos, g_neg=g_neg, row_offset=r0, n_in=self.sizes[src], col_offset=c0,
                 n_out=self.sizes[pop], **cols, **fields, **model,
                 drift_compensation=t.str("drift_compensation", DRIFT_COMPENSATIONS),
                 t_inference=t.num("t_inference", low=0))
        position = t.ints("position", 3)
        self.cores[name] = number
        self.place[number] = Position(*position)
        return pop, Node(name, op, t.str("origin")), src, lag, t

    def add_tile(self, tile) -> None:
        pop, node, src, lag, entry = tile
        reads = self.buffer(src, lag - 1, entry) if lag >= 2 else self.feed[src]
        self.nodes.append(node)
        self.edges += [Edge(reads, node.name, recurrent=lag >= 1), Edge(node.name, self.synapse.get(pop, pop))]

    def mapping(self) -> Mapping:
        return Mapping(inputs=self.host_in, outputs=self.host_out, layers={p: Layer() for p in self.pop_order},
                       parts={p: PartOf(p, 0, self.sizes[p]) for p in self.pop_order}, cores=self.cores,
                       place=self.place)


# -- arrays ----------------------------------------------------------------------------------------
def _array(arrays: dict, key: str, file: str, dtype, shape: tuple) -> np.ndarray:
    a = arrays.get(key)
    if a is None:
        raise MalformedInputError(f"array '{key}' is missing", file=file)
    if a.dtype != dtype or a.shape != shape:
        raise MalformedInputError(f"array '{key}' is {a.dtype}{list(a.shape)}, expected "
                                  f"{np.dtype(dtype)}{list(shape)}", file=file)
    return a


def _conductances(art, file: str, levels: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(g_pos, g_neg, {w_scale, gain, bias}) of one tile file, checked for dtype and shape."""
    if file not in art.files:
        raise MalformedInputError("the tile's file is missing", file=file)
    arrays = art.arrays(file)
    known = {"g_pos", "g_neg", "w_scale", "gain", "bias"} | ({"code_pos", "code_neg"} if levels else set())
    extra = sorted(set(arrays) - known)
    if extra:
        raise MalformedInputError(f"unexpected array '{extra[0]}' (a tile holds {', '.join(sorted(known))})",
                                  file=file)
    g_pos = _array(arrays, "g_pos", file, np.float64, np.shape(arrays.get("g_pos")))
    if g_pos.ndim != 2:
        raise MalformedInputError(f"array 'g_pos' must be 2-D [columns, rows], got {list(g_pos.shape)}", file=file)
    C, R = g_pos.shape
    g_neg = _array(arrays, "g_neg", file, np.float64, (C, R))
    if levels:
        for key in ("code_pos", "code_neg"):
            _array(arrays, key, file, np.int64, (C, R))
    return g_pos, g_neg, {k: _array(arrays, k, file, np.float64, (C,)) for k in ("w_scale", "gain", "bias")}


def _device_model(model: Obj) -> dict:
    out = {f: model.num(f, low=0) for f in DEVICE_SCALARS}
    for f, n in DEVICE_LISTS.items():
        values = model.nums(f)
        if (n is not None and len(values) != n) or not values:
            raise model.bad(f"expected {n or 'at least 1'} numbers, got {len(values)}", f)
        out[f] = np.array(values, dtype=np.float64)
    return out


def _op(cls, entry: Obj, node: str, **fields):
    """The op, or MalformedInputError at `entry` naming the node and the field or rule its values break."""
    try:
        op = cls(**fields)
    except OpRuleError as exc:
        raise entry.bad(f"node '{node}': {exc}") from None
    problems = op.verify()
    if problems:
        raise entry.bad(f"node '{node}' ({cls.name}): {'; '.join(problems)}")
    return op
