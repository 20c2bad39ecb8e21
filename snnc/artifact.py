"""Compiled artifacts: a directory of deterministic files, written atomically.

An `Artifact` is the set of files a backend emitter produced, by relative path, plus the
compile timings (kept in memory only: they differ from run to run, so they never enter a
file). Compiling the same input with the same options gives the same bytes:

- JSON is written with sorted keys, fixed indentation and a final newline;
- NPZ archives are written by `npz_bytes`: members in sorted order, fixed zip timestamps
  and permissions, fixed compression level (numpy's `savez` stamps the current time);
- nothing records a time, a host or an absolute path.

`Artifact.save(dir)` writes every file into a temporary sibling directory, fsyncs it and
swaps it into place (`snnc.fileio.replace_dir`), so a reader never sees half an artifact and
a compile killed at any moment leaves the old one or the new one, complete, at `dir`. It
replaces only an existing artifact (or an empty directory) unless forced, and never the
current directory or a directory holding the model it was compiled from.
`load_artifact(dir)` reads it back. What the files mean is the backend's
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
import zipfile
from functools import cached_property
from pathlib import Path
from typing import Mapping

import numpy as np

from snnc.errors import MalformedInputError, UsageError

ARTIFACT_FORMAT = "snnc-artifact"
ARTIFACT_VERSION = "2"          # 2: the chip is described by its files alone (no graph.snnir)
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
    def backend(self):
        """The Backend of the artifact's target family."""
        from snnc.backend import backend
        return backend(self.target.family)

    @cached_property
    def graph(self):
        """The mapped graph rebuilt from the artifact's files alone (its family's `decode`):
        what `snnc simulate DIR` and `snnc verify DIR` run."""
        return self.backend.decode(self, self.target)

    # -- files ----------------------------------------------------------------------------
    def save(self, directory, *, force: bool = False, keep=()) -> Path:
        """Write every file under `directory`, atomically: staged and fsynced in a temporary
        sibling, then swapped in (`snnc.fileio.replace_dir` states the guarantee).

        What is at `directory` is replaced only if it is an snnc artifact and nothing else (or an
        empty directory), unless `force`; never if it is, or holds, the current directory or a
        path in `keep` (the files the artifact was made from), whatever `force` says.
        """
        from snnc.fileio import replace_dir
        _check_file_names(self.files)
        replace_dir(directory, self._write_into,
                    check=lambda: check_output_dir(directory, force=force, keep=keep))
        self.path = Path(directory)
        return self.path

    def _write_into(self, root: Path) -> None:
        from snnc.fileio import write_new
        for rel, data in self.files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            write_new(p, data)

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


# -- where an artifact may be written ----------------------------------------------------------
def check_output_dir(path, *, force: bool = False, keep=()) -> None:
    """Raise `UsageError` unless an artifact may be written at `path`: nothing there, an empty
    directory, or an snnc artifact holding only its own files (anything, with `force`). Never
    the current directory or a directory holding it, nor anything that is or holds a path in `keep`."""
    from snnc.fileio import refuse_if_holds
    refuse_if_holds(path, keep, what="artifact directory")
    p = Path(path)
    if force or not os.path.lexists(p):
        return
    try:
        reason = _not_replaceable(p)
    except OSError as exc:
        raise UsageError(f"{path}: cannot look inside to check that it is an snnc artifact "
                         f"({exc.strerror or exc}); not replacing it") from None
    if reason:
        raise UsageError(f"{path}: {reason}; not replacing it (pass --force, or save(..., force=True), "
                         f"to replace it anyway)")


def _not_replaceable(p: Path) -> str | None:
    """Why the existing `p` is not an artifact that a new one may replace, or None."""
    if p.is_symlink():
        return "is a symbolic link"
    if not p.is_dir():
        return "exists and is not a directory"
    with os.scandir(p) as entries:
        if next(entries, None) is None:
            return None
    m = _manifest_of(p)
    if m is None or m.get("format") != ARTIFACT_FORMAT:
        return f"exists and is not an snnc artifact (no {MANIFEST} with format {ARTIFACT_FORMAT!r})"
    listed = set(m["files"]) if isinstance(m.get("files"), dict) else set()
    extra = sorted(rel for rel in _entries(p) if rel != MANIFEST and rel not in listed)
    if extra:
        shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        return f"holds {len(extra)} file(s) that are not part of the artifact ({shown})"
    return None


def _manifest_of(p: Path) -> dict | None:
    m = p / MANIFEST
    try:
        if m.is_symlink() or not m.is_file() or m.stat().st_size > (64 << 20):
            return None
        obj = json.loads(m.read_bytes())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _entries(root: Path) -> list[str]:
    """Every non-directory under `root` (links included, never followed), as relative posix paths."""
    found = []
    for here, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(here, d))]:
            found.append(Path(here, name).relative_to(root).as_posix())
    return found


def _check_file_names(files: Mapping[str, bytes]) -> None:
    for rel in files:
        if "\\" in rel or any(part in ("", ".", "..") for part in rel.split("/")):
            raise MalformedInputError(f"artifact file name {rel!r} is not a relative path inside the artifact")


def target_digest(target) -> str:
    """sha256 of a target as compiled for: every field of its data, not the file it came from nor the
    thresholds verify applies (`verify`: they change no compiled bit)."""
    import dataclasses
    return sha256(json_bytes({k: v for k, v in dataclasses.asdict(target).items() if k not in ("file", "verify")}))


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


# -- the manifest envelope -------------------------------------------------------------------
ENVELOPE = ("format", "format_version", "snnc_version", "target", "input", "passes", "approximations", "files")


def manifest(target, source: dict, records, sections: Mapping[str, object], files: Mapping[str, bytes],
             approximations=()) -> dict:
    """The manifest of an artifact: the envelope every family shares (format, versions, target and
    its digest, the input's digest, each pass's options and statistics, what the lowering
    approximated, every file's sha256) around the family's own `sections`."""
    from snnc import __version__
    clash = sorted(set(sections) & set(ENVELOPE))
    if clash:
        raise TypeError(f"a family's manifest section may not be named {', '.join(clash)} (envelope keys)")
    return {"format": ARTIFACT_FORMAT, "format_version": ARTIFACT_VERSION, "snnc_version": __version__,
            "target": {"name": target.name, "family": target.family, "digest": target_digest(target)},
            "input": source, **sections, "passes": [r.to_json() for r in records],
            "approximations": [a.to_json() for a in approximations],
            "files": {k: sha256(v) for k, v in sorted(files.items())}}


def io_json(mapping) -> dict:
    """A mapping record's host tables (inputs, outputs, layers) as the JSON artifacts store."""
    data = mapping.to_json() if mapping is not None else {}
    return {k: data.get(k, {}) for k in ("inputs", "outputs", "layers")}


# -- the host side of a mapped graph ----------------------------------------------------------
def run_mapped(graph, inputs: Mapping[str, np.ndarray], *, raw: bool = False, layers: bool = False,
               strict: bool = False, seed: int = 0, chip_instances: int = 1,
               batch_window: tuple[int, int] | None = None):
    """Run a lowered graph (one with a mapping record) as the host would drive the chip.

    Inputs [T, B, *shape] are flattened and encoded (binary spikes are checked to be 0/1;
    graded inputs become round(x · 2^frac_bits)); outputs are reassembled from their parts,
    graded payloads divided by their scale, and reshaped. Unless `raw`, the run is extended
    by the largest output latency and each output is shifted back by its own latency, so
    output tick t is the source model's tick t. Returns (outputs, layer spikes): with
    `layers`, layer spikes maps every lowered population to its [T, B, n] output, shifted
    the same way (on the raw timeline when `raw`); else it is None. With `chip_instances`
    N > 1 (a stochastic chip) every array is [N, T, B, ...], instance i drawn from `seed`.
    `batch_window` (start, total) runs these B samples as rows start … start+B−1 of a run of
    `total` samples, so a chip whose random draws span the batch draws exactly as that run.
    """
    from snnc.errors import SimulationError
    from snnc.interp.engine import run

    m = graph.mapping
    if m is None or not m.inputs:
        raise UsageError("this graph has no mapping record: it was not produced by a target lowering")
    xs, T, B = {}, None, None
    for name, entry in m.inputs.items():
        if name not in inputs:
            raise SimulationError(f"missing input '{name}' (inputs: {', '.join(m.inputs)})")
        x = _encode_input(name, np.asarray(inputs[name]), entry)
        T, B = x.shape[:2]
        xs[name] = x.reshape(T, B, *graph.op(name).shape)
    extra = sorted(set(inputs) - set(m.inputs))
    if extra:
        raise SimulationError(f"unexpected input(s) {', '.join(extra)} (inputs: {', '.join(m.inputs)})")
    fill = 0 if raw else max((o.latency for o in m.outputs.values()), default=0)
    xs = {k: np.concatenate([v, np.zeros((fill, *v.shape[1:]), v.dtype)]) for k, v in xs.items()}
    record = sorted(m.parts) if layers else ()
    n = int(chip_instances)
    result = run(graph, xs, record=record, strict=strict, seed=seed, chip_instances=n, batch_window=batch_window)
    outputs = {}
    for name, entry in m.outputs.items():
        y = np.zeros((T + fill, n * B, entry.size))
        for p in entry.parts:
            where = p.indices() if p.runs else slice(p.offset, p.offset + p.count)
            y[:, :, where] = result.outputs[p.node].reshape(T + fill, n * B, -1)
        if entry.encoding == "graded":
            y = y / np.asarray(entry.scale, dtype=np.float64)
        shift = 0 if raw else entry.latency
        outputs[name] = _instances(y[shift:shift + T].reshape(T, n * B, *entry.shape), n)
    spikes = None
    if layers:
        spikes, sizes = {}, {}
        for p in m.parts.values():
            sizes[p.population] = sizes.get(p.population, 0) + p.count
        for node, p in m.parts.items():
            lat = m.layers[p.population].latency if p.population in m.layers else 0
            arr = spikes.setdefault(p.population, np.zeros((T, n * B, sizes[p.population]), bool))
            shift = 0 if raw else lat
            rec = result.recorded[node].reshape(T + fill, n * B, -1)
            where = p.indices() if p.runs else slice(p.offset, p.offset + p.count)
            arr[:, :, where] = rec[shift:shift + T, :, p.first:p.first + p.count] != 0
        spikes = {k: _instances(v, n) for k, v in spikes.items()}
    return outputs, spikes


def _instances(y: np.ndarray, n: int) -> np.ndarray:
    """[T, N·B, ...] (instance-major batch) -> [N, T, B, ...]; unchanged for one instance."""
    if n == 1:
        return y
    T, NB = y.shape[:2]
    return np.moveaxis(y.reshape(T, n, NB // n, *y.shape[2:]), 1, 0)


def rate_encode(x: np.ndarray, frac_bits: int, payload_bits: int) -> np.ndarray:
    """Spikes [T, B, n] of the host's integrate-and-fire encoder: p[t] = clip(round(x[t] · 2^frac_bits),
    0, F − 1) with F = 2^(payload_bits − 1) is added to an accumulator that starts at F/2; a spike is
    sent when it reaches F, and F is taken off. So Σ_t s[t] = round(Σ_t p[t] / F) after any tick, one
    spike is worth 2^(payload_bits − 1 − frac_bits) of x, and negative values send nothing."""
    full = 1 << (payload_bits - 1)
    p = np.clip(np.rint(x * 2.0 ** frac_bits), 0, full - 1).astype(np.int64)
    acc = np.full(p.shape[1:], full // 2, dtype=np.int64)
    out = np.zeros(p.shape, np.int64)
    for t in range(p.shape[0]):
        acc += p[t]
        out[t] = acc >= full
        acc -= full * out[t]
    return out


def _encode_input(name: str, x: np.ndarray, entry) -> np.ndarray:
    from snnc.errors import SimulationError
    shape = tuple(entry.shape)
    if x.ndim != len(shape) + 2 or tuple(x.shape[2:]) != shape:
        raise SimulationError(f"input '{name}' has shape {list(x.shape)}, expected [T, B, "
                              f"{', '.join(map(str, shape))}] (time-major)")
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    if entry.encoding == "values":
        return flat
    if entry.encoding == "graded":
        peak = (1 << (entry.payload_bits - 1)) - 1
        return np.clip(np.rint(flat * 2.0 ** entry.frac_bits), -peak, peak).astype(np.int64)
    if entry.encoding == "rate":
        return rate_encode(flat, entry.frac_bits, entry.payload_bits)
    if not np.all((flat == 0) | (flat == 1)):
        bad = flat[(flat != 0) & (flat != 1)].flat[0]
        raise SimulationError(f"input '{name}' must hold binary spikes (0 or 1): it was compiled with "
                              f"input='spikes', but holds {bad:g}; compile with input='graded' for real values")
    return flat
