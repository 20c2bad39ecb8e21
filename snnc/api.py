"""The public Python API: load, compile, simulate, verify.

    g = snnc.load("model.nir")                   # or an .onnx/.snnir path, or a live torch module
    y = snnc.simulate(g, x)                      # x: [T, B, *input_shape] -> [T, B, *output_shape]
    art = snnc.compile(g, "loihi1")              # -> Artifact; art.save("out/")
    y2 = snnc.simulate(art, x)                   # the chip's integer run, on the source timeline
    report = snnc.verify(art, model=g, inputs=x) # limits re-checked from the files, runs compared
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from snnc.errors import SimulationError, UsageError
from snnc.ir.graph import Graph


def load(source, *, convert_ann=False, calibration=None, **options) -> Graph:
    """Read a model into a verified `snn.*` Graph.

    `source` is a path (the suffix picks the frontend: .snnir, .nir, .onnx, .net) or a live
    model (a torch.nn.Module). `options` go to the frontend (e.g. `dt=1e-3`,
    `sample_input=...` for torch). A Graph passed in comes back unchanged.

    `convert_ann=True` turns an ANN (ReLU network) into a spiking one with the
    `convert-ann` pass, normalised on `calibration`: samples [N, *input_shape] (an array
    or a .npy path). `convert_ann` may also be a dict of that pass's options
    (`percentile`, `input_coding`, `readout`); see `snnc.passes.convert_ann`.
    """
    if isinstance(source, Graph):
        if options:
            raise UsageError(f"load: options {sorted(options)} do not apply to a Graph")
        graph = source
    else:
        from snnc.frontends import frontend_for
        if isinstance(source, (str, Path)) and not Path(source).exists():
            raise UsageError(f"{source}: no such file")
        graph = frontend_for(source).module.load(source, **options).verify()
    if convert_ann is False or convert_ann is None:
        if calibration is not None:
            raise UsageError("load: calibration= is the data for convert_ann=True; pass both to convert an ANN")
        return graph
    return _convert_ann(graph, convert_ann, calibration)


def convert(source, output, **options) -> Graph:
    """Read a model (anything `load` accepts: a path, a live torch.nn.Module, a Graph) and write
    it to `output`, by its suffix: `.nir`, or `.snnir` (text IR, with a `.npz` sidecar for large
    arrays). `options` go to `load`. The file appears only when complete. Returns the graph.

        snnc.convert(net, "model.nir", sample_input=x)   # an snnTorch model, loop over time or one tick
    """
    from snnc.fileio import staged_files
    from snnc.frontends import frontend_for
    out = Path(output)
    writer = frontend_for(out)
    if not hasattr(writer.module, "save"):
        raise UsageError(f"{out}: snnc can read '{out.suffix}' files but not write them (write .snnir or .nir)")
    graph = load(source, **options)
    with staged_files(out) as staged:          # the file and any sidecar appear only when complete
        writer.module.save(graph, staged)
    return graph


def _convert_ann(graph: Graph, convert_ann, calibration) -> Graph:
    """Run the convert-ann pass with options from `convert_ann` (True, a dict or an options object)."""
    from snnc.passes.convert_ann import ConvertAnnOptions
    from snnc.passes.registry import PASSES
    info = PASSES["convert-ann"]        # registered by the import above; no backend needed
    if convert_ann is True:
        opts = {}
    elif isinstance(convert_ann, Mapping):
        opts = dict(convert_ann)
    elif isinstance(convert_ann, ConvertAnnOptions):
        opts = {f: getattr(convert_ann, f) for f in ("calibration", "percentile", "input_coding", "readout")}
    else:
        raise UsageError(f"load: convert_ann must be True, a dict of convert-ann options or ConvertAnnOptions, "
                         f"got {type(convert_ann).__name__}")
    if calibration is not None:
        opts["calibration"] = _read_array(calibration, "calibration")
    return info(graph, None, opts).graph.verify(pass_name=info.name)


def _read_array(value, what: str) -> np.ndarray:
    if not isinstance(value, (str, Path)):
        return np.asarray(value)
    path = Path(value)
    if not path.exists():
        raise UsageError(f"{what}: {path}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UsageError(f"{what}: {path}: not a .npy array without pickled objects ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise UsageError(f"{what}: {path}: expected one .npy array, got an archive of several")
    return array


def simulate(model, x, *, record=(), strict: bool = False, seed: int = 0, raw: bool = False,
             chip_instances: int | None = None, ticks: int | None = None,
             batch_window: tuple[int, int] | None = None):
    """Run a Graph, an Artifact (or its directory), or anything `load` accepts on time-major input.

    `x` is one array [T, B, *input_shape] for a single-input graph, or a dict from input
    name to such arrays. Returns one array [T, B, *output_shape] for a single-output
    graph, else a dict from output name to arrays. With `record`, returns
    `(outputs, {node: [T, B, *shape]})` holding every tick of each named node's output.
    With `ticks=T`, `x` holds static samples [B, *input_shape] presented for T ticks in the
    model's own input coding (`static_input`), as `snnc simulate --ticks T` does.

    `seed` and `chip_instances` N drive a target's device model (an analog chip): the run
    is a Monte Carlo over N chip instances drawn from `seed`, and every returned array
    gains a leading instance axis, [N, T, B, ...]. Deterministic models give N equal copies.

    A compiled artifact (or a lowered graph with an "io" annotation) runs as the host drives
    the chip: inputs encoded, outputs reassembled, and, unless `raw=True`, outputs shifted
    back by the chip's added latency so tick t is the source model's tick t (the run is
    extended by that latency). `raw=True` gives the chip's own timeline. `batch_window`
    (start, total) runs these samples as rows start … of a run of `total` samples, so random
    draws that span the batch are those of that run (`snnc.interp.parallel` uses it).
    """
    from snnc.artifact import run_mapped
    from snnc.interp.engine import run
    graph = _graph_of(model)
    if ticks is not None:
        x = static_input(graph, x, ticks, seed=seed)
    if graph.mapping is not None and graph.mapping.inputs:
        if record:
            raise UsageError("record= is not available for a compiled graph; use snnc.verify to compare layers")
        n = 1 if chip_instances is None else _instances(chip_instances)
        outs, _ = run_mapped(graph, _name_mapped_inputs(graph, x), raw=raw, strict=strict, seed=seed,
                             chip_instances=n, batch_window=batch_window)
        if chip_instances is not None and n == 1:
            outs = {k: v[None] for k, v in outs.items()}
        return outs[next(iter(outs))] if len(outs) == 1 else outs
    inputs = name_inputs(graph, x)
    n = 1 if chip_instances is None else _instances(chip_instances)
    result = run(graph, inputs, record=record, strict=strict, seed=seed, chip_instances=n,
                 batch_window=batch_window)
    outs, recorded = result.outputs, result.recorded
    if chip_instances is not None:
        outs, recorded = _by_instance(outs, n), _by_instance(recorded, n)
    out = outs[graph.outputs[0]] if len(outs) == 1 else outs
    return (out, recorded) if record else out


def _instances(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UsageError(f"chip_instances must be an integer >= 1, got {n!r}")
    return int(n)


def _by_instance(arrays: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """[T, N·B, ...] (instance-major batch) -> [N, T, B, ...]."""
    out = {}
    for k, v in arrays.items():
        T, NB = v.shape[:2]
        out[k] = np.moveaxis(v.reshape(T, n, NB // n, *v.shape[2:]), 1, 0)
    return out


def _graph_of(model) -> Graph:
    from snnc.artifact import MANIFEST, Artifact, load_artifact
    if isinstance(model, Artifact):
        return model.graph
    if isinstance(model, (str, Path)) and Path(model).is_dir() and (Path(model) / MANIFEST).exists():
        return load_artifact(model).graph
    return load(model)


def _name_mapped_inputs(graph: Graph, x) -> dict[str, np.ndarray]:
    names = list(graph.mapping.inputs)
    if isinstance(x, Mapping):
        return dict(x)
    if len(names) != 1:
        raise SimulationError(f"the model has {len(names)} inputs {names}; pass a dict from input name to "
                              f"[T, B, ...] arrays")
    return {names[0]: x}


def compile(source, target, *, progress=None, pipeline=None, emit=None, load_options=None, strict=False,
            **options):
    """Compile a model (anything `load` accepts, or a Graph) for `target` (a name or a Target).

    `options` map pass names (snake_case or kebab-case) to their options, as a dict of
    fields or an options object, e.g. `prune={"threshold": 0.02}`,
    `loihi_quantize={"input": "graded"}`; `emit` sets the estimate's assumptions
    (`{"activity": 0.1, "ticks": 100}`); `pipeline` replaces the target's pass list;
    `progress` receives a `PassEvent` as each pass starts, reports and ends;
    `load_options` go to `load` (e.g. `{"dt": 1e-3}` for NIR). Where the chip cannot compute
    a construct exactly, the lowering approximates it by a documented rule and lists it in the
    manifest's `approximations` (`Artifact.approximations`); `strict=True` refuses instead.
    Returns an `Artifact` (save it with `.save(dir)`); the same input and options always
    give the same files.
    """
    from snnc.artifact import MANIFEST, Artifact, graph_digest, json_bytes, manifest, sha256
    from snnc.backend import backend
    from snnc.passes.manager import run_pipeline
    from snnc.targets import get_target
    t = get_target(target) if isinstance(target, str) else target
    graph = load(source, **(load_options or {}))
    info = {"kind": "graph", "sha256": graph_digest(graph)}
    if isinstance(source, (str, Path)):
        info = {"kind": "file", "name": Path(source).name, "sha256": sha256(Path(source).read_bytes()),
                "graph_sha256": info["sha256"]}
    family = backend(t.family)
    emit_options = _emit_options(family.emit_options, emit)
    result = run_pipeline(graph, t, pipeline=pipeline, options=options, progress=progress, strict=strict)
    out = family.emit(result.graph, t, emit_options)
    sections = dict(out.sections)
    if family.evaluate is not None:
        sections.update(family.evaluate(result.graph, t, emit_options))
    if family.report is not None:
        sections.update(family.report(result))
    files = dict(out.files)
    files[MANIFEST] = json_bytes(manifest(t, info, result.records, sections, files, result.approximations))
    return Artifact(files, timings={r.name: r.seconds for r in result.records})


def _emit_options(cls, emit):
    if emit is None:
        return cls()
    if isinstance(emit, cls):
        return emit
    try:
        return cls(**dict(emit))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"emit options: {exc}") from None


def load_artifact(directory):
    """Read a compiled artifact directory (see `snnc.artifact`)."""
    from snnc.artifact import load_artifact as _load
    return _load(directory)


def verify(artifact, model=None, inputs=None, labels=None, *, ticks: int | None = None, seed: int = 0, **options):
    """Check an artifact against its target's rules and, given a model and inputs, against the
    model's float run. Returns a `Report` (`.ok`, `.to_json()`, readable `str`). With `ticks=T`,
    `inputs` holds static samples [B, *input_shape] presented for T ticks in the model's own
    input coding, as `snnc verify --ticks T` does."""
    from snnc.verify import verify as _verify
    if ticks is not None and model is not None and inputs is not None:
        graph = load(model)
        if isinstance(model, (str, Path)):
            options.setdefault("model_file", model)
        model, inputs = graph, static_input(graph, inputs, ticks, seed=seed)
    return _verify(artifact, model=model, inputs=inputs, labels=labels, seed=seed, **options)


def static_input(graph: Graph, x, ticks: int, *, seed: int = 0, option: str = "ticks={ticks}"):
    """Static samples x [B, *input_shape] (or a dict of them, by input name) as time-major input
    [ticks, B, *input_shape] in the model's own input coding: a converted ANN's
    (`snnc.passes.convert_ann.encode`, seeded), else the same value on every tick, announced once
    (`option` names the setting in the announcement)."""
    if isinstance(ticks, bool) or not isinstance(ticks, (int, np.integer)) or ticks < 1:
        raise UsageError(f"{option.format(ticks=ticks)}: ticks must be an integer >= 1")
    if isinstance(x, Mapping):
        return {k: static_input(graph, v, ticks, seed=seed, option=option) for k, v in x.items()}
    if "convert_ann.input_coding" in graph.metadata:
        from snnc.passes.convert_ann import encode
        return encode(graph, x, int(ticks), seed=seed)
    from snnc.errors import announce
    announce(f"{option.format(ticks=ticks)}: the model stores no input coding, so each static sample is "
             f"presented unchanged on all {ticks} ticks (give a time-major [T, B, *shape] input to code it "
             f"otherwise)")
    return np.repeat(np.asarray(x)[None], int(ticks), axis=0)


def name_inputs(graph: Graph, x) -> dict[str, np.ndarray]:
    if isinstance(x, Mapping):
        return dict(x)
    if len(graph.inputs) != 1:
        raise SimulationError(f"the graph has {len(graph.inputs)} inputs {list(graph.inputs)}; "
                              f"pass a dict from input name to [T, B, ...] arrays")
    return {graph.inputs[0]: x}
