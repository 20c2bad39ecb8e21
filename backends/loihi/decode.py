"""Reading a Loihi artifact back: the chip graph rebuilt from its files alone (FORMAT.md).

Nothing here looks at what the compiler kept in memory. Every core file becomes its
compartment parts (`loihi.cuba`) and the synapse blocks that feed them (`loihi.dense`, or
`loihi.sparse` for lists stored with index bits), wired by each input axon's recorded source;
`host.json` gives the graph inputs and how outputs are read, `host_program.snnir` the float
readouts the host runs. The mapping record (inputs, outputs, layers, parts, cores, place) is
rebuilt from the same files, so `snnc.artifact.run_mapped` drives the result exactly as the
host drives the chip. A file that does not hold what the format promises raises
`MalformedInputError` naming the file and what is wrong.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from snnc.backends.loihi.conv import SigmaDelta
from snnc.backends.loihi.ops import Dense, Sparse
from snnc.backends.loihi.tables import MODELS, REGISTERS
from snnc.errors import MalformedInputError, SnncError
from snnc.ir.graph import Edge, Graph, Node
from snnc.ir.mapping import HostInput, HostOutput, Layer, Mapping, PartOf, Piece, Position
from snnc.ir.snn import Input, Output

CORE_PREFIX = "cores/core_"


@dataclass
class _Part:
    name: str
    core: int
    first: int
    count: int
    graded: bool


class _Decoder:
    def __init__(self, art):
        self.art = art
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.parts: dict[str, _Part] = {}
        self.by_slot: dict[tuple[int, int], str] = {}
        self.tables: dict[str, dict] = {k: {} for k in ("parts", "cores", "place")}

    def fail(self, file: str, message: str) -> MalformedInputError:
        return MalformedInputError(message, file=self.art._where(file))

    # -- host ------------------------------------------------------------------------------
    def host(self) -> dict:
        host = _json(self.art, "host.json")
        inputs = host.get("inputs")
        if not isinstance(inputs, dict):
            raise self.fail("host.json", "expected an object 'inputs'")
        self.inputs = sorted(inputs, key=lambda n: _int(inputs[n], "index", self, "host.json"))
        self.host_inputs = {}
        for name in self.inputs:
            entry = HostInput(tuple(inputs[name]["shape"]), inputs[name].get("encoding", "spikes"),
                              int(inputs[name].get("frac_bits", 0)), int(inputs[name].get("payload_bits", 0)))
            self.host_inputs[name] = entry
            self.nodes.append(Node(name, Input(shape=(entry.size,)), inputs[name].get("origin", "")))
        return host

    def drives(self, host: dict) -> None:
        """Edges from graph inputs straight into the parts the host writes each tick."""
        for name, entry in host["inputs"].items():
            for d in entry.get("drives", []):
                part = self.parts.get(d["part"])
                if part is None or (part.core, part.first, part.count) != (int(d["core"]), int(d["first"]),
                                                                           self.host_inputs[name].size):
                    raise self.fail("host.json", f"input '{name}' drives {d!r}, which is no part of its size")
                self.edges.append(Edge(name, d["part"]))

    # -- cores ------------------------------------------------------------------------------
    def cores(self) -> list[tuple[dict, dict, str]]:
        names = sorted(f for f in self.art.files if f.startswith(CORE_PREFIX) and f.endswith(".json"))
        out = []
        for name in names:
            meta = _json(self.art, name)
            stem = name[:-len(".json")]
            arrays = self.art.arrays(f"{stem}.npz")
            self._parts(meta, arrays, stem)
            out.append((meta, arrays, stem))
        return out

    def _parts(self, meta: dict, arrays: dict, stem: str) -> None:
        core = int(meta["core"])
        regs = {key: _array(arrays, f"compartment.{key}", stem) for key in REGISTERS}
        n = len(regs["du"])
        for p in meta.get("parts", []):
            first, count = int(p["first"]), int(p["count"])
            if first < 0 or count < 1 or first + count > n or p.get("model") not in MODELS:
                raise self.fail(f"{stem}.json", f"part '{p['node']}' holds compartments [{first}, {first + count}) "
                                                f"of a core with {n}, model {p.get('model')!r}")
            cls, fields, scalars = MODELS[p["model"]]
            op = cls(**{f: regs[key][first:first + count] for f, key in fields.items()},
                     **{f: p[f] for f in scalars})
            self.nodes.append(Node(p["node"], op, p.get("origin", "")))
            graded = isinstance(op, SigmaDelta) or bool(p.get("graded", False))
            self.parts[p["node"]] = _Part(p["node"], core, first, count, graded)
            self.by_slot[(core, first)] = p["node"]
            self.tables["parts"][p["node"]] = PartOf(p["population"], int(p["offset"]), count,
                                                     runs=_runs(p.get("runs", []), self, f"{stem}.json"))
            self.tables["cores"][p["node"]] = core
        self.tables["place"][core] = Position(*(int(v) for v in meta["position"]))

    # -- synapse blocks -----------------------------------------------------------------------
    def blocks(self, meta: dict, arrays: dict, stem: str) -> None:
        core = int(meta["core"])
        for b in meta.get("blocks", []):
            target = self.parts.get(b["target"])
            if target is None or target.core != core:
                raise self.fail(f"{stem}.json", f"block '{b['node']}' feeds '{b['target']}', which is no part "
                                                f"of core {core}")
            op = self._block_op(b, arrays, stem, target)
            self.nodes.append(Node(b["node"], op, b.get("origin", "")))
            self.edges += [Edge(b["source"], b["node"]), Edge(b["node"], b["target"])]

    def _source(self, b: dict, stem: str) -> tuple[tuple[int, int, int], int, bool]:
        """(axon source of the block's element 0, elements, graded) of a block's source."""
        src = b["source"]
        if src in self.parts:
            p = self.parts[src]
            return (1, p.core, p.first), p.count, p.graded
        if src in self.host_inputs:
            entry = self.host_inputs[src]
            return (0, self.inputs.index(src), 0), entry.size, entry.encoding == "graded"
        raise self.fail(f"{stem}.json", f"block '{b['node']}' reads '{src}', which is neither a part nor an input")

    def _block_op(self, b: dict, arrays: dict, stem: str, target: _Part):
        (kind, ident, base), n_in, graded = self._source(b, stem)
        a0, a1 = (int(a) for a in b["axons"])
        ptr, source = _array(arrays, "axon.ptr", stem), _array(arrays, "axon.source", stem)
        sparse, delays = _array(arrays, "axon.sparse", stem)[a0:a1], _array(arrays, "axon.delays", stem)[a0:a1]
        if not 0 <= a0 <= a1 < len(ptr) or len(set(sparse.tolist())) > 1 or len(set(delays.tolist())) > 1:
            raise self.fail(f"{stem}.npz", f"block '{b['node']}': axons [{a0}, {a1}) are not one stored block")
        syn = {f: _array(arrays, f"synapse.{f}", stem).astype(np.int64) for f in ("target", "weight", "exp", "delay")}
        w = np.zeros((target.count, n_in), np.int64)
        d = np.zeros((target.count, n_in), np.int64)
        exp = np.zeros(target.count, np.int64)
        seen = np.zeros(target.count, bool)
        for a in range(a0, a1):
            k, c, j = (int(v) for v in source[a])
            col = j - base
            if (k, c) != (kind, ident) or not 0 <= col < n_in:
                raise self.fail(f"{stem}.npz", f"axon {a} of block '{b['node']}' comes from {[k, c, j]}, not from "
                                               f"'{b['source']}'")
            lo, hi = int(ptr[a]), int(ptr[a + 1])
            rows = syn["target"][lo:hi] - target.first
            if rows.size and (rows.min() < 0 or rows.max() >= target.count):
                raise self.fail(f"{stem}.npz", f"axon {a} reaches compartments outside part '{target.name}'")
            w[rows, col] += syn["weight"][lo:hi]
            d[rows, col] = syn["delay"][lo:hi]
            if np.any(seen[rows] & (exp[rows] != syn["exp"][lo:hi])):
                raise self.fail(f"{stem}.npz", f"block '{b['node']}' gives one row two weight exponents")
            exp[rows], seen[rows] = syn["exp"][lo:hi], True
        stored = syn["delay"][int(ptr[a0]):int(ptr[a1])]
        one = len(set(stored.tolist())) <= 1                  # one delay for every stored synapse: a scalar
        if sparse.size and sparse[0]:
            rows, cols = np.nonzero(w)
            indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=target.count))])
            return Sparse(indptr=indptr, indices=cols, weight=w[rows, cols], weight_exp=exp,
                          delay=int(stored[0]) if one and stored.size else (d[rows, cols] if stored.size else 0),
                          n_in=n_in, graded=graded)
        return Dense(weight=w, weight_exp=exp, delay=int(stored[0]) if one and stored.size else (d if stored.size else 0),
                     graded=graded)

    # -- outputs and the host program -----------------------------------------------------------
    def outputs(self, host: dict) -> dict[str, HostOutput]:
        out = {}
        for name, entry in host.get("outputs", {}).items():
            pieces = []
            for r in entry.get("reads", []):
                part = self.by_slot.get((int(r["core"]), int(r["first"])))
                if part is None or self.parts[part].count != int(r["count"]):
                    raise self.fail("host.json", f"output '{name}' reads core {r['core']} compartments from "
                                                 f"{r['first']}, which no part of {r['count']} holds")
                self.nodes.append(Node(r["node"], Output(shape=(int(r["count"]),)), r.get("origin", "")))
                self.edges.append(Edge(part, r["node"]))
                pieces.append(Piece(r["node"], int(r["offset"]), int(r["count"]),
                                    _runs(r.get("runs", []), self, "host.json")))
            if entry["encoding"] == "values":
                pieces = [Piece(name, 0, int(np.prod(entry["shape"])))]
            out[name] = HostOutput(tuple(entry["shape"]), tuple(pieces), int(entry.get("latency", 0)),
                                   entry["encoding"], tuple(float(s) for s in entry.get("scale", ())))
        return out

    def program(self) -> list[str]:
        """Add the host program's nodes, fed by the parts its inputs are named after; its outputs."""
        if "host_program.snnir" not in self.art.files:
            return []
        from snnc.ir.text import parse_graph
        sidecar = self.art.arrays("host_program.npz") if "host_program.npz" in self.art.files else {}
        g = parse_graph(self.art.files["host_program.snnir"].decode("utf-8"), sidecar=sidecar,
                        file=self.art._where("host_program.snnir"))
        missing = [n for n in g.inputs if n not in self.parts]
        if missing:
            raise self.fail("host_program.snnir", f"reads '{missing[0]}', which is no part of any core")
        self.nodes += [node for name, node in g.nodes.items() if name not in g.inputs]
        self.edges += list(g.edges)
        return list(g.outputs)


def decode(art, target) -> Graph:
    """The chip graph of a Loihi artifact, with its mapping record, from its files alone."""
    d = _Decoder(art)
    try:
        host = d.host()
        cores = d.cores()
        for meta, arrays, stem in cores:
            d.blocks(meta, arrays, stem)
        d.drives(host)
        outputs = d.outputs(host)
        program_outputs = d.program()
        layers = {p: Layer(int(v.get("latency", 0)), bool(v.get("graded", False)),
                           tuple(int(x) for x in v.get("shape", ()))) for p, v in host.get("layers", {}).items()}
        mapping = Mapping(inputs=d.host_inputs, outputs=outputs, layers=layers, **d.tables)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise MalformedInputError(f"not a Loihi artifact this snnc can read ({type(exc).__name__}: {exc})",
                                  file=str(art.path or "<artifact>")) from None
    graph_outputs = [p.node for o in outputs.values() for p in o.parts if p.node not in program_outputs]
    graph = Graph(d.nodes, d.edges, inputs=d.inputs, outputs=graph_outputs + program_outputs,
                  dt=float(host["dt"]), method=str(host["method"]), mapping=mapping)
    try:
        return graph.verify()
    except SnncError as exc:
        raise MalformedInputError(f"the files describe no valid chip graph: {exc}",
                                  file=str(art.path or "<artifact>")) from None


def _json(art, name: str) -> dict:
    if name not in art.files:
        raise MalformedInputError(f"artifact has no {name}", file=str(art.path or "<artifact>"))
    try:
        data = json.loads(art.files[name])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedInputError(f"not valid JSON ({exc})", file=art._where(name)) from None
    if not isinstance(data, dict):
        raise MalformedInputError("expected a JSON object", file=art._where(name))
    return data


def _array(arrays: dict, key: str, stem: str) -> np.ndarray:
    if key not in arrays:
        raise MalformedInputError(f"has no array '{key}'", file=f"{stem}.npz")
    return arrays[key]


def _runs(value, d: _Decoder, file: str) -> tuple[tuple[int, int], ...]:
    """Runs [[start, stop], ...] of a part or output read (empty for a contiguous one)."""
    if not isinstance(value, list) or any(not isinstance(r, list) or len(r) != 2 or
                                          not all(isinstance(x, int) and not isinstance(x, bool) for x in r)
                                          for r in value):
        raise d.fail(file, f"runs must be [[start, stop], ...] of integers, got {value!r}")
    return tuple((r[0], r[1]) for r in value)


def _int(entry, key: str, d: _Decoder, file: str) -> int:
    if not isinstance(entry, dict) or not isinstance(entry.get(key), int):
        raise d.fail(file, f"expected an integer '{key}' in {entry!r}")
    return entry[key]
