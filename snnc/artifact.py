"""Compiled artifacts: a directory of deterministic files, written atomically.

An `Artifact` is the set of files a backend emitter produced, by relative path, plus the
compile timings (kept in memory only: they differ from run to run, so they never enter a
file). Compiling the same input with the same options gives the same bytes:

- JSON is written with sorted keys, fixed indentation and a final newline;
- NPZ archives are written by `npz_bytes`: members in sorted order, fixed zip timestamps
  and permissions, fixed compression level (numpy's `savez` stamps the current time);
- nothing records a time, a host or an absolute path.

`Artifact.save(dir)` writes every file into a temporary sibling directory and renames it
into place, so a reader never sees half an artifact and an interrupted compile leaves the
old one intact. `load_artifact(dir)` reads it back. What the files mean is the backend's
documented format (`backends/<family>/FORMAT.md`); the one file every artifact has is
`manifest.json`:

    format          "snnc-artifact"
    format_version  ARTIFACT_VERSION
    snnc_version    the compiler's version
    target          {"name", "family", "digest"}   (digest: sha256 of the target data)
    input           {"sha256", "kind"}             (the model file's bytes, or the graph)
    files           {relative path: sha256}        (every other file)
    ...             backend sections (resources, estimates, passes, io)
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from functools import cached_property
from pathlib import Path
from typing import Mapping

import numpy as np

from snnc.errors import MalformedInputError, UsageError

ARTIFACT_FORMAT = "snnc-artifact"
ARTIFACT_VERSION = "1"
MANIFEST = "manifest.json"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# -- deterministic encoders ------------------------------------------------------------------
def json_bytes(obj) -> bytes:
    """`obj` as JSON: sorted keys, one-space indent, UTF-8, final newline; numpy scalars become numbers."""
    return (json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False, default=_json_default)
            + "\n").encode("utf-8")


def _json_default(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if callable(getattr(x, "to_json", None)):     # option values that stand for data (by shape and digest)
        return x.to_json()
    raise TypeError(f"{type(x).__name__} is not JSON-serialisable")


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An .npz archive (readable by `np.load`) whose bytes depend only on `arrays`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, member.getvalue(), compresslevel=6)
    return buf.getvalue()


def read_npz(data: bytes, *, file: str = "") -> dict[str, np.ndarray]:
    """Every array of an .npz archive given as bytes (no pickled objects)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise MalformedInputError(f"not a readable .npz archive ({exc})", file=file) from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the artifact ----------------------------------------------------------------------------
class Artifact:
    """A compiled artifact: `files` maps relative paths (with '/') to their exact bytes.

    `timings` holds each pass's wall time in seconds (not saved). `path` is where it was
    loaded from or last saved to, if anywhere.
    """

    def __init__(self, files: Mapping[str, bytes], *, timings: Mapping[str, float] | None = None,
                 path: Path | None = None):
        if MANIFEST not in files:
            raise MalformedInputError(f"artifact has no {MANIFEST}", file=str(path or "<artifact>"))
        self.files = dict(sorted(files.items()))
        self.timings = dict(timings or {})
        self.path = path

    # -- views ----------------------------------------------------------------------------
    @cached_property
    def manifest(self) -> dict:
        return self.json(MANIFEST)

    def json(self, name: str) -> dict:
        try:
            return json.loads(self.files[name])
        except KeyError:
            raise MalformedInputError(f"artifact has no file {name}", file=str(self.path or "<artifact>")) from None
        except json.JSONDecodeError as exc:
            raise MalformedInputError(f"not valid JSON: {exc}", file=self._where(name)) from None

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        if name not in self.files:
            raise MalformedInputError(f"artifact has no file {name}", file=str(self.path or "<artifact>"))
        return read_npz(self.files[name], file=self._where(name))

    def _where(self, name: str) -> str:
        return str(self.path / name) if self.path else name

    @property
    def target_name(self) -> str:
        return self.manifest["target"]["name"]

    @cached_property
    def target(self):
        from snnc.targets import get_target
        return get_target(self.target_name)

    @cached_property
    def graph(self):
        """The mapped graph (`graph.snnir` with its `graph.npz` sidecar)."""
        from snnc.ir.text import parse_graph
        text = self.files.get("graph.snnir")
        if text is None:
            raise MalformedInputError("artifact has no graph.snnir", file=str(self.path or "<artifact>"))
        arrays = read_npz(self.files["graph.npz"], file=self._where("graph.npz")) \
            if "graph.npz" in self.files else {}
        return parse_graph(text.decode("utf-8"), sidecar=arrays, file=self._where("graph.snnir"))

    # -- files ----------------------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write every file under `directory` atomically (temporary sibling, then rename)."""
        final = Path(directory)
        if final.exists() and not final.is_dir():
            raise UsageError(f"{final}: exists and is not a directory")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            for rel, data in self.files.items():
                p = tmp / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
            if final.exists():
                os.replace(final, old)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        self.path = final
        return final

    def __repr__(self) -> str:
        return f"Artifact(target={self.target_name!r}, {len(self.files)} files)"


def load_artifact(directory) -> Artifact:
    """Read an artifact directory written by `Artifact.save` (every regular file in it)."""
    root = Path(directory)
    if not root.is_dir():
        raise UsageError(f"{root}: not an artifact directory")
    if not (root / MANIFEST).is_file():
        raise MalformedInputError(f"no {MANIFEST}: not an snnc artifact", file=str(root))
    files = {p.relative_to(root).as_posix(): p.read_bytes()
             for p in sorted(root.rglob("*")) if p.is_file()}
    art = Artifact(files, path=root)
    m = art.manifest
    if m.get("format") != ARTIFACT_FORMAT:
        raise MalformedInputError(f"manifest format is {m.get('format')!r}, expected {ARTIFACT_FORMAT!r}",
                                  file=str(root / MANIFEST))
    if str(m.get("format_version")) != ARTIFACT_VERSION:
        raise MalformedInputError(f"artifact format version {m.get('format_version')!r} is not supported "
                                  f"(this snnc reads version {ARTIFACT_VERSION})", file=str(root / MANIFEST))
    return art


def target_digest(target) -> str:
    """sha256 of a target as compiled for: every field of its data, not the file it came from."""
    import dataclasses
    return sha256(json_bytes({k: v for k, v in dataclasses.asdict(target).items() if k != "file"}))


def graph_digest(graph) -> str:
    """sha256 over a graph's full content (nodes, ops, fields, edges, attributes), order-stable."""
    h = hashlib.sha256()

    def put(*parts):
        for p in parts:
            h.update(str(p).encode("utf-8"))
            h.update(b"\0")

    put("graph", graph.version, repr(graph.dt), graph.method, *graph.inputs, "|", *graph.outputs)
    for k, v in sorted(graph.metadata.items()):
        put("meta", k, v)
    if graph.mapping is not None:
        put("mapping", json.dumps(graph.mapping.to_json(), sort_keys=True))
    for name, node in graph.nodes.items():
        put("node", name, node.op.name, node.origin)
        for f, v in node.op.field_values().items():
            if isinstance(v, np.ndarray):
                put(f, v.dtype.str, v.shape)
                h.update(np.ascontiguousarray(v).tobytes())
            else:
                put(f, repr(v))
    for e in sorted(graph.edges):
        put("edge", e)
    return h.hexdigest()


# -- the host side of a mapped graph ----------------------------------------------------------
def run_mapped(graph, inputs: Mapping[str, np.ndarray], *, raw: bool = False, layers: bool = False,
               strict: bool = False, seed: int = 0):
    """Run a lowered graph that carries an "io" annotation as the host would drive the chip.

    Inputs [T, B, *shape] are flattened and encoded (binary spikes are checked to be 0/1;
    graded inputs become round(x · 2^frac_bits)); outputs are reassembled from their parts,
    graded payloads divided by their scale, and reshaped. Unless `raw`, the run is extended
    by the largest output latency and each output is shifted back by its own latency, so
    output tick t is the source model's tick t. Returns (outputs, layer spikes): with
    `layers`, layer spikes maps every lowered population to its [T, B, n] output, shifted
    the same way (on the raw timeline when `raw`); else it is None.
    """
    from snnc.errors import SimulationError
    from snnc.interp.engine import run
    from snnc.passes import mapping

    io = mapping.read(graph, mapping.IO)
    if io is None:
        raise UsageError("this graph has no 'io' annotation: it was not produced by a target lowering")
    xs, T, B = {}, None, None
    for name, entry in io["inputs"].items():
        if name not in inputs:
            raise SimulationError(f"missing input '{name}' (inputs: {', '.join(io['inputs'])})")
        xs[name] = _encode_input(name, np.asarray(inputs[name]), entry)
        T, B = xs[name].shape[:2]
    extra = sorted(set(inputs) - set(io["inputs"]))
    if extra:
        raise SimulationError(f"unexpected input(s) {', '.join(extra)} (inputs: {', '.join(io['inputs'])})")
    fill = 0 if raw else max((o["latency"] for o in io["outputs"].values()), default=0)
    xs = {k: np.concatenate([v, np.zeros((fill, *v.shape[1:]), v.dtype)]) for k, v in xs.items()}
    parts = mapping.read(graph, mapping.PARTS, {}) if layers else {}
    record = sorted(parts) if layers else ()
    result = run(graph, xs, record=record, strict=strict, seed=seed)
    outputs = {}
    for name, entry in io["outputs"].items():
        size = sum(c for _, _, c in entry["parts"])
        y = np.zeros((T + fill, B, size))
        for node, offset, count in entry["parts"]:
            y[:, :, offset:offset + count] = result.outputs[node]
        if entry.get("encoding") == "graded":
            y = y / np.asarray(entry["scale"], dtype=np.float64)
        shift = 0 if raw else entry["latency"]
        outputs[name] = y[shift:shift + T].reshape(T, B, *entry["shape"])
    spikes = None
    if layers:
        spikes = {}
        for node, (pop, offset, count, *first) in parts.items():
            lat = io.get("layers", {}).get(pop, {}).get("latency", 0)
            n = sum(p[2] for p in parts.values() if p[0] == pop)
            arr = spikes.setdefault(pop, np.zeros((T, B, n)))
            shift = 0 if raw else lat
            start = first[0] if first else 0          # the node's outputs may hold more than the part
            arr[:, :, offset:offset + count] = (result.recorded[node][shift:shift + T, :, start:start + count] != 0)
    return outputs, spikes


def _encode_input(name: str, x: np.ndarray, entry: dict) -> np.ndarray:
    from snnc.errors import SimulationError
    shape = tuple(entry["shape"])
    if x.ndim != len(shape) + 2 or tuple(x.shape[2:]) != shape:
        raise SimulationError(f"input '{name}' has shape {list(x.shape)}, expected [T, B, "
                              f"{', '.join(map(str, shape))}] (time-major)")
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    if entry.get("encoding") == "graded":
        bits = int(entry.get("payload_bits", 24))
        peak = (1 << (bits - 1)) - 1
        return np.clip(np.rint(flat * 2.0 ** entry["frac_bits"]), -peak, peak).astype(np.int64)
    if not np.all((flat == 0) | (flat == 1)):
        bad = flat[(flat != 0) & (flat != 1)].flat[0]
        raise SimulationError(f"input '{name}' must hold binary spikes (0 or 1): it was compiled with "
                              f"input='spikes', but holds {bad:g}; compile with input='graded' for real values")
    return flat
