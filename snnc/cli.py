"""The `snnc` command line.

Exit codes:

    0    success
    1    a verification found a violation or mismatch (and nothing else exits 1)
    2    bad input or usage: one line, `snnc: error: <message>`, no traceback
    3    an internal error, i.e. a bug in snnc: one line, `snnc: internal error: <message>`
    130  interrupted (Ctrl-C)
    141  the reader of stdout went away (`snnc ... | head`): snnc stops quietly

`--debug` shows the traceback of an error (exit 2 or 3) instead of the one line. Library
warnings never reach stderr raw: a value snnc guessed prints as `snnc: note: ...`, a
floating-point fault (overflow, invalid value) or a warning of snnc's own as
`snnc: warning: ...`, each once; other libraries' warnings are shown only with `--debug`.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np

from snnc import __version__
from snnc.errors import SnncError, UsageError

DESCRIPTION = "snnc — a compiler for spiking neural networks."
ELIDE = 64                 # inspect --ir: arrays above this many values print as a summary unless --full


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False)
    try:
        with _notes(debug=debug):
            code = args.func(args) or 0
            sys.stdout.flush()             # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _stdout_gone()
    except SnncError as exc:
        if debug:
            raise
        _say(f"snnc: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("snnc: interrupted")
        return 130
    except Exception as exc:               # anything else that escapes a command is a bug
        if debug:
            raise
        _say(f"snnc: internal error: {_one_line(exc)}; please report it; --debug shows the traceback")
        return 3


def _say(line: str) -> None:
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _stdout_gone() -> int:
    """The reader of stdout closed it: point stdout at /dev/null so that the interpreter's
    final flush cannot fail again (Python's documented recipe, signal module, "Note on SIGPIPE"),
    and exit 141 as a process killed by SIGPIPE would."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 141


_FP_FAULT = re.compile(r"(overflow|invalid value|divide by zero|underflow) encountered")


@contextlib.contextmanager
def _notes(*, debug: bool = False):
    """Warnings as one-line messages on stderr, each distinct one once: a `Guess` as
    `snnc: note: ...`; a numpy floating-point fault or a warning issued by snnc's own code as
    `snnc: warning: ...`; other libraries' warnings are dropped (shown raw with `debug`)."""
    from snnc.errors import Guess
    seen: set[str] = set()
    shown = warnings.showwarning
    ours = _source_roots()

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if issubclass(category, Guess):
            say = f"snnc: note: {text}"
        elif issubclass(category, RuntimeWarning) and _FP_FAULT.search(text):
            say = f"snnc: warning: floating-point {text} ({_where(filename, lineno, ours)}); " \
                  f"the result may hold inf or NaN values"
        elif debug:
            return shown(message, category, filename, lineno, file, line)
        elif any(os.path.abspath(filename).startswith(root) for root in ours):
            say = f"snnc: warning: {text}"
        else:
            return None
        if say not in seen:
            seen.add(say)
            _say(say)

    with warnings.catch_warnings():
        warnings.simplefilter("always", Guess)
        warnings.showwarning = show
        yield


def _source_roots() -> tuple[str, ...]:
    """The folders snnc's own modules live in (snnc, snnc.frontends, snnc.backends)."""
    import importlib.util
    roots = []
    for name in ("snnc", "snnc.frontends", "snnc.backends"):
        spec = importlib.util.find_spec(name)
        roots += [os.path.abspath(p) + os.sep for p in (spec.submodule_search_locations or [])] if spec else []
    return tuple(roots)


def _where(filename: str, lineno: int, roots: tuple[str, ...]) -> str:
    path = os.path.abspath(filename)
    for root in roots:
        if path.startswith(root):
            return f"in {os.path.basename(root.rstrip(os.sep))}/{path[len(root):]}:{lineno}"
    return f"in {os.path.basename(path)}:{lineno}"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")
    common.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars or progress lines on stderr")
    p = argparse.ArgumentParser(prog="snnc", description=DESCRIPTION, parents=[common])
    p.add_argument("--version", action="version", version=f"snnc {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")
    sub.add_parser = functools.partial(sub.add_parser, parents=[common])

    c = sub.add_parser("inspect", help="summarise a model or artifact: nodes, shapes, neurons, synapses",
                       description="Print a model's graph: each node with its op, output shape, neurons "
                                   "and synapses, then totals. --ir prints the full text IR instead.")
    c.add_argument("model", help="model file (.snnir, .nir, .onnx, ...)")
    c.add_argument("--ir", action="store_true", help="print the text IR instead of the summary; arrays of more "
                                                     "than 64 values show as <n values, sha256, min, max>")
    c.add_argument("--full", action="store_true", help="with --ir: print every array value (the parseable text)")
    _load_options(c)
    c.set_defaults(func=_inspect)

    c = sub.add_parser("convert", help="convert a model to .snnir or .nir",
                       description="Read a model with its frontend and write it as text IR (.snnir, with a "
                                   ".npz sidecar for large arrays) or as a NIR file (.nir).")
    c.add_argument("model", help="model file (.snnir, .nir, .onnx, ...)")
    c.add_argument("-o", "--output", required=True, help="output path ending in .snnir or .nir")
    _load_options(c)
    c.set_defaults(func=_convert)

    c = sub.add_parser("simulate", help="run a model on an input array",
                       description="Run a model tick by tick in the reference interpreter. The input is a "
                                   ".npy array [T, B, *input_shape] (time-major); the output [T, B, "
                                   "*output_shape] goes to -o, and a spike-count summary to stdout.")
    c.add_argument("model", help="model file (.snnir, .nir, .onnx, ...)")
    c.add_argument("--input", required=True, help="input .npy, [T, B, *input_shape]")
    c.add_argument("-o", "--output", help="where to save the output .npy")
    c.add_argument("--seed", type=int, default=0, help="seed for stochastic models (default 0)")
    c.add_argument("--labels", help="labels .npy, [B]: also print the accuracy (class = output with the "
                                    "largest sum over ticks; a converted ANN's readout at the last tick)")
    _ticks_option(c)
    c.add_argument("--chip-instances", type=int, default=None, metavar="N",
                   help="run N chip instances of a device model (Monte Carlo); the output gains a "
                        "leading axis [N, T, B, ...]")
    _parallel_options(c)
    _load_options(c)
    c.set_defaults(func=_simulate)

    c = sub.add_parser("compile", help="compile a model for a target into an artifact directory",
                       description="Run the target's pass pipeline on a model and write the artifact "
                                   "directory (manifest.json, per-core tables, host files). One progress "
                                   "line per pass goes to stderr.")
    c.add_argument("model", help="model file (.snnir, .nir, .onnx, ...)")
    c.add_argument("--target", required=True, help="target name (see `snnc targets`)")
    c.add_argument("-o", "--output", help="artifact directory (default: MODEL stem + '.<target>')")
    c.add_argument("--option", action="append", default=[], metavar="PASS.FIELD=VALUE",
                   help="a pass option, e.g. prune.threshold=0.02 or loihi-quantize.input=graded (repeatable)")
    c.add_argument("--force", action="store_true",
                   help="replace -o even if it is not an snnc artifact (never the current directory "
                        "or a directory holding the model)")
    c.add_argument("--strict", action="store_true",
                   help="refuse every construct the chip can only approximate, instead of approximating it "
                        "by its documented rule (listed in the manifest's approximations)")
    _load_options(c)
    c.set_defaults(func=_compile)

    c = sub.add_parser("verify", help="check an artifact against its target, and against its model",
                       description="Re-check every per-core limit of an artifact from its files alone; with "
                                   "--model and --input also run the float model and the artifact's integer "
                                   "run and compare them layer by layer. Exit 0 ok, 1 violation or mismatch.")
    c.add_argument("artifact", help="artifact directory written by `snnc compile`")
    c.add_argument("--model", help="the float model to compare with")
    c.add_argument("--input", help="input .npy, [T, B, *input_shape]")
    c.add_argument("--labels", help="labels .npy, [B] (accuracy of each run)")
    _ticks_option(c)
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--min-agreement", type=float, default=None,
                   help="required decision agreement per output (default: the target's verify budget)")
    c.add_argument("--min-count-agreement", type=float, default=None,
                   help="required spike-count agreement per output (default: the target's verify budget)")
    c.add_argument("--max-accuracy-drop", type=float, default=None,
                   help="largest allowed accuracy drop, as a fraction (default: the target's verify budget, "
                        "e.g. 0.005 loihi, 0.03 analog; `snnc verify` prints the thresholds it used)")
    c.add_argument("--decision-margin", type=float, default=None, metavar="SPIKES",
                   help="spikes a float decision must win by to count in decision agreement (default: the "
                        "target's verify budget; 1 counts every decision but ties)")
    _parallel_options(c)
    _load_options(c)
    c.set_defaults(func=_verify)

    c = sub.add_parser("options", help="list every pass option: name, type, default, allowed values, meaning",
                       description="List the passes of a target's pipeline (every registered pass without "
                                   "--target), each with its option fields: name, type, default, allowed "
                                   "values and meaning. Set one with `snnc compile ... --option PASS.FIELD=VALUE`.")
    c.add_argument("--target", help="only the passes this target compiles with (see `snnc targets`)")
    c.set_defaults(func=_options)

    c = sub.add_parser("report", help="draw an artifact as one HTML page: cores on the mesh, errors, rasters, energy",
                       description="Draw a compiled artifact: its cores (tiles) on the mesh coloured by load "
                                   "and traffic, per-layer quantisation error, the energy and latency estimate, "
                                   "what the mapping approximated; with --model and --input also verify's "
                                   "runs (float-vs-chip spike rasters around the first divergence, per-layer "
                                   "agreement, the chip against the compiler, activity on the mesh) and, for a "
                                   "chip whose instances differ, accuracy over instances and time after "
                                   "programming. Needs matplotlib (pip install -e \".[report]\").")
    c.add_argument("artifact", help="artifact directory written by `snnc compile`")
    c.add_argument("-o", "--output", required=True,
                   help="report.html (one self-contained page, images inside) or a folder (index.html and images)")
    c.add_argument("--model", help="the float model to compare with")
    c.add_argument("--input", help="input .npy, [T, B, *input_shape]")
    c.add_argument("--labels", help="labels .npy, [B] (accuracy; without them chip instances are scored "
                                    "against the float model's decisions)")
    _ticks_option(c)
    c.add_argument("--format", choices=("png", "svg"), default="png", help="image format (default png)")
    c.add_argument("--instances", type=int, default=8, metavar="N",
                   help="chip instances to run at each time after programming, for a device model (default 8)")
    c.add_argument("--times", metavar="S,S,...",
                   help="seconds after programming to run them at (default: the compiled time, 1 day, 30 days, "
                        "1 year)")
    c.add_argument("--seed", type=int, default=0, help="seed of the chip instances (default 0)")
    _load_options(c)
    c.set_defaults(func=_report)

    c = sub.add_parser("targets", help="list the targets snnc can compile for",
                       description="List every target: its name, family and main per-core limits.")
    c.set_defaults(func=_targets)
    return p


def _load_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--dt", type=float, help="seconds per tick, for formats that do not store it (NIR)")
    c.add_argument("--reset-mode", choices=("value", "subtract", "none"),
                   help="the neurons' reset, for formats that do not store it (NIR): value (to v_reset), "
                        "subtract (the threshold) or none")
    c.add_argument("--reset-timing", choices=("immediate", "next_step"),
                   help="when the reset applies, for formats that do not store it (NIR): within the spiking "
                        "tick, or at the next one (snnTorch's default)")
    c.add_argument("--load-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the model's reader, e.g. max_elements=100000000 or flatten_dims=batch "
                        "(VALUE is read as JSON when it parses, else as a string; repeatable)")
    c.add_argument("--calibration", metavar="X.npy",
                   help="convert an ANN (ReLU network) to a spiking one, normalising each layer on these "
                        "samples [N, *input_shape] (the convert-ann pass)")
    c.add_argument("--torch-class", metavar="PACKAGE.MODULE:CLASS",
                   help="for a torch.save'd state dict (.pt): the model's class (or path/file.py:CLASS); the "
                        "file is read with torch.load(weights_only=True). A forward that loops over time reads "
                        "x.shape from --load-option 'sample_shape=[T, B, ...]' when its loop needs it")
    c.add_argument("--torch-args", metavar="JSON",
                   help="the class's constructor arguments: a JSON object (keywords) or array (positional)")


def _load(args):
    """The model named on the command line; an artifact directory gives its mapped graph, which
    `simulate` runs as the host drives the chip and `inspect` summarises."""
    from snnc.api import load
    from snnc.artifact import load_artifact
    if _is_artifact(args.model):
        return load_artifact(args.model).graph
    return load(args.model, **_load_kwargs(args))


def _is_artifact(path) -> bool:
    from snnc.artifact import MANIFEST
    return Path(path).is_dir() and (Path(path) / MANIFEST).exists()


def _load_kwargs(args) -> dict:
    import json
    options = {}
    for item in getattr(args, "load_option", None) or ():
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--load-option {item!r}: expected KEY=VALUE, e.g. max_elements=100000000")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    for key in ("dt", "reset_mode", "reset_timing", "torch_class", "torch_args"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    if getattr(args, "calibration", None) is not None:
        options.update(convert_ann=True, calibration=args.calibration)
    return options


def _inspect(args) -> int:
    graph = _load(args)
    if _is_artifact(args.model) and not args.ir:
        from snnc.artifact import load_artifact
        for line in _artifact_head(load_artifact(args.model)):
            print(line)
    if args.ir:
        from snnc.ir.text import print_graph
        if not args.full:
            print(f"# arrays of more than {ELIDE} values show as <n values, sha256 prefix, min, max>; --full "
                  f"prints them all")
        print(print_graph(graph, elide=None if args.full else ELIDE), end="")
        return 0
    from snnc.ir.summary import summarize
    print(summarize(graph, title=args.model))
    return 0


def _artifact_head(art) -> list[str]:
    """The lines that head `inspect` of an artifact: target and resources, then the estimate.
    The manifest came from a file: a field missing or of the wrong type is reported, not raised."""
    from snnc.artifact import MANIFEST
    from snnc.errors import MalformedInputError
    try:
        lines = [f"artifact for target {art.target.name}: {_artifact_summary(art)}"]
        estimate = _estimate_line(art.manifest)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedInputError(f"a field the summary needs is missing or malformed ({_one_line(exc)})",
                                  file=str(Path(art.path or ".") / MANIFEST)) from None
    return lines + ([estimate] if estimate else [])


_TIME_UNITS = (("time_s", "s"), ("time_ms", "ms"), ("time_us", "µs"), ("time_ns", "ns"))


def _estimate_line(manifest: dict) -> str | None:
    """`estimate per inference: E µJ, T <unit> (N ticks; ...)` from the fields a family's
    estimate has (TrueNorth states time in ms, Loihi and analog in µs); None if it has none."""
    est = manifest.get("estimate")
    est = est.get("per_inference") if isinstance(est, dict) else None
    if not isinstance(est, dict):
        return None
    parts = [f"{est['energy_uj']:.3g} µJ"] if _is_number(est.get("energy_uj")) else []
    parts += [f"{est[key]:.3g} {unit}" for key, unit in _TIME_UNITS if _is_number(est.get(key))][:1]
    if not parts:
        return None
    ticks = f"{est['ticks']} ticks; " if _is_number(est.get("ticks")) else ""
    return f"  estimate per inference: {', '.join(parts)} ({ticks}assumptions in manifest.json)"


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)


def _convert(args) -> int:
    from snnc.api import convert
    from snnc.frontends import frontend_for
    out = Path(args.output)
    if not hasattr(frontend_for(out).module, "save"):        # before the (possibly long) load
        raise UsageError(f"{out}: snnc can read '{out.suffix}' files but not write them (write .snnir or .nir)")
    graph = convert(_load(args), out)
    print(f"wrote {out} ({len(graph.nodes)} nodes)")
    return 0


def _simulate(args) -> int:
    graph = _load(args)
    x = _time_major(graph, _read_npy(args.input), args.ticks, seed=args.seed)
    from snnc.layout import check_time_major
    labels = _read_labels(args.labels) if args.labels else None
    check_time_major(graph, x, batch=None if labels is None else labels.reshape(-1).shape[0], where=args.input)
    if args.chip_instances is not None:
        _identical_instances(graph, args.chip_instances)
    from snnc.interp.parallel import simulate_batched
    with _progress(f"simulate {_run_size(x)}", args=args, unit="sample") as bar:
        y = simulate_batched(graph, x, seed=args.seed, chip_instances=args.chip_instances, workers=args.workers,
                             batch_size=args.batch_size, ray=args.ray, progress=bar)
    outs = y if isinstance(y, dict) else {graph.outputs[0]: y}
    for name, arr in outs.items():
        per_t = arr.reshape(arr.shape[0], -1) if args.chip_instances is None else \
            np.moveaxis(arr, 1, 0).reshape(arr.shape[1], -1)
        print(f"{name}: shape {list(arr.shape)}, sum {float(per_t.sum()):g}, "
              f"mean per tick {float(per_t.sum(axis=1).mean()):g}")
    if labels is not None:
        _print_accuracy(outs, labels, graph, instances=args.chip_instances is not None)
    if args.output:
        from snnc.fileio import atomic_file
        with atomic_file(args.output) as f:    # exactly the name given: numpy adds no suffix to a file object
            if isinstance(y, dict):
                np.savez(f, **y)
            else:
                np.save(f, y)
        print(f"wrote {args.output}")
    return 0


def _print_accuracy(outs: dict, labels: np.ndarray, graph, *, instances: bool) -> None:
    from snnc.verify import predicted_classes
    labels = labels.reshape(-1)
    for name, arr in outs.items():
        runs = arr if instances else arr[None]
        if runs.shape[2] != labels.shape[0]:
            raise UsageError(f"labels hold {labels.shape[0]} entries for a batch of {runs.shape[2]} samples")
        acc = np.array([np.mean(predicted_classes(r, graph) == labels) for r in runs])
        text = f"{acc[0]:.4f}" if len(acc) == 1 else \
            f"mean {acc.mean():.4f}, 5th percentile {np.percentile(acc, 5):.4f} over {len(acc)} chip instances"
        print(f"{name}: accuracy {text}")


def _parallel_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--workers", type=int, default=1, metavar="N",
                   help="split the batch over N worker processes (default 1); results are identical")
    c.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help="samples per chunk (default: the batch split evenly over the workers)")
    c.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the chunks as Ray tasks: on a new local Ray instance, or on the cluster at "
                        "ADDRESS ('auto' finds a running one); needs the 'ray' package")


def _ticks_option(c: argparse.ArgumentParser) -> None:
    c.add_argument("--ticks", type=int, metavar="T",
                   help="the input holds static samples [B, *input_shape]: present each for T ticks "
                        "(a converted ANN's own input coding, else the same value every tick)")


def _time_major(graph, x: np.ndarray, ticks: int | None, *, seed: int = 0) -> np.ndarray:
    """`x` as given, or, with `ticks`, static samples [B, *in] encoded as [ticks, B, *in]."""
    if ticks is None:
        return x
    if ticks < 1:
        raise UsageError(f"--ticks must be >= 1, got {ticks}")
    from snnc.api import static_input
    return static_input(graph, x, ticks, seed=seed, option="--ticks {ticks}")


def _identical_instances(graph, n: int) -> None:
    """Announce that `--chip-instances n` repeats one run when no op of `graph` is a seeded device model."""
    from snnc.backend import backend, family_names
    from snnc.errors import announce
    families = sorted({graph.op(name).name.split(".")[0] for name in graph.nodes} & set(family_names()))
    if any(backend(f).stochastic for f in families):
        return
    noisy = [f for f in family_names() if backend(f).stochastic]
    what = f"the {' and '.join(families)} chip" if families else "the float model"
    announce(f"--chip-instances {n}: {what} has no device noise, so all {n} instances give the same run"
             + (f" (instances differ on a device model: the {', '.join(noisy)} targets)" if noisy else ""))


def _progress(description: str, *, args, unit: str = "step"):
    """A progress bar (TTY) or progress lines on stderr for one command's long step; `--quiet`: none."""
    from snnc.progress import progress
    return progress(description, unit=unit, quiet=getattr(args, "quiet", False))


def _run_size(x) -> str:
    """'100 ticks x 32 samples' for a time-major input (or a dict of them)."""
    shape = np.shape(next(iter(x.values())) if isinstance(x, dict) else x)
    return f"{shape[0]} ticks x {shape[1]} samples" if len(shape) >= 2 else f"input {list(shape)}"


def _read_npy(path: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file")
    try:
        x = np.load(p, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise UsageError(f"{path}: not a readable .npy array without pickled objects "
                         f"({_one_line(exc)})") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise UsageError(f"{path}: is an .npz archive; expected one .npy array")
    if x.dtype.kind not in "biuf":
        raise UsageError(f"{path}: holds {x.dtype} values; expected numbers (bool, integer or float)")
    if x.size == 0:
        raise UsageError(f"{path}: holds no values (shape {list(x.shape)})")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise UsageError(f"{path}: holds {x[where]} at index {list(where)}; expected finite values")
    return x


def _read_labels(path: str) -> np.ndarray:
    """Class indices [B] (integers >= 0, possibly stored as floats)."""
    labels = _read_npy(path).reshape(-1)
    bad = np.flatnonzero((labels < 0) | (labels != np.round(labels)))
    if bad.size:
        raise UsageError(f"{path}: entry {bad[0]} is {labels[bad[0]]:g}; labels must be class indices "
                         f"(integers >= 0)")
    return labels


def _compile(args) -> int:
    from snnc.api import compile as compile_model
    from snnc.artifact import check_output_dir
    options = _pass_options(args.option)
    out = Path(args.output) if args.output else Path(args.model).with_suffix(f".{args.target}")
    keep = [p for p in (args.model, getattr(args, "calibration", None)) if p]
    check_output_dir(out, force=args.force, keep=keep)     # refuse before spending the compile
    from snnc.passes.manager import report_to
    with _progress("compile", unit="pass", args=args) as bar:          # one line per pass when not a TTY
        art = compile_model(args.model, args.target, progress=report_to(bar), load_options=_load_kwargs(args),
                            strict=args.strict, **options)
    art.save(out, force=args.force, keep=keep)
    print(f"wrote {out}: {_artifact_summary(art)} ({sum(art.timings.values()):.2f} s)")
    approximations = art.manifest.get("approximations", [])
    for a in approximations:
        print(f"  approximated: {_approximation_line(a)}")
    if approximations:
        print(f"  {len(approximations)} approximation(s), listed in {out / 'manifest.json'}; `snnc verify {out} "
              f"--model MODEL --input X` measures their cost; --strict refuses them")
    return 0


def _approximation_line(a: dict) -> str:
    where = f"node '{a['node']}'" + (f" ({a['origin']})" if a.get("origin") else "")
    return f"{where}: {a['what']} (rule {a['rule']})"


def _artifact_summary(art) -> str:
    """One line on what an artifact uses, in its family's words."""
    return art.backend.summary(art)


def _pass_options(items: list[str]) -> dict[str, dict]:
    import json
    options: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, field = key.rpartition(".")
        if not sep or not dot or not name or not field:
            raise UsageError(f"--option {item!r}: expected PASS.FIELD=VALUE, e.g. prune.threshold=0.02")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        options.setdefault(name, {})[field] = parsed
    return options


def _verify(args) -> int:
    from snnc.verify import verify
    if (args.model is None) != (args.input is None):
        raise UsageError("verify: give both --model and --input, or neither")
    if args.labels and not args.model:
        raise UsageError("verify: --labels needs --model and --input")
    kwargs = {}
    if args.min_agreement is not None:
        kwargs["min_agreement"] = args.min_agreement
    if args.max_accuracy_drop is not None:
        kwargs["max_accuracy_drop"] = args.max_accuracy_drop
    if args.min_count_agreement is not None:
        kwargs["min_count_agreement"] = args.min_count_agreement
    if args.decision_margin is not None:
        kwargs["decision_margin"] = args.decision_margin
    model = _load(args) if args.model else None
    x = _read_npy(args.input) if args.input else None
    labels = _read_labels(args.labels) if args.labels else None
    if x is not None:
        x = _time_major(model, x, args.ticks)
        from snnc.layout import check_time_major
        check_time_major(model, x, batch=None if labels is None else labels.reshape(-1).shape[0], where=args.input)
    if model is not None:
        kwargs["model_file"] = args.model
    with _progress(f"verify {args.artifact}" + (f" on {_run_size(x)}" if x is not None else ""), args=args,
                   unit="sample") as bar:
        report = verify(args.artifact, model=model, inputs=x, labels=labels, workers=args.workers,
                        batch_size=args.batch_size, ray=args.ray, progress=bar, **kwargs)
    print(report.json_text() if args.json else str(report))
    return 0 if report.ok else 1


def _report(args) -> int:
    from snnc.report import require_matplotlib, write_report
    require_matplotlib()                                    # before any long work
    if (args.model is None) != (args.input is None):
        raise UsageError("report: give both --model and --input, or neither")
    if args.labels and not args.model:
        raise UsageError("report: --labels needs --model and --input")
    from snnc.artifact import load_artifact
    art = load_artifact(args.artifact)
    graph = x = labels = None
    if args.model:
        graph = _load(args)
        x = _time_major(graph, _read_npy(args.input), args.ticks)
        labels = _read_labels(args.labels) if args.labels else None
        from snnc.layout import check_time_major
        check_time_major(graph, x, batch=None if labels is None else labels.shape[0], where=args.input)
    with _progress(f"report {args.artifact}", args=args, unit="stage") as bar:
        path = write_report(art, args.output, graph, x, labels, fmt=args.format, instances=args.instances,
                            times=_seconds(args.times), seed=args.seed, model_file=args.model, progress=bar)
    print(f"wrote {path}")
    return 0


def _seconds(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--times {text!r}: expected seconds separated by commas, e.g. 3600,86400") from None
    if any(not np.isfinite(v) or v < 0 for v in values):
        raise UsageError(f"--times {text!r}: every time must be a finite number of seconds >= 0")
    return values


def _targets(args) -> int:
    from snnc.targets import all_targets
    targets = all_targets()
    if not targets:
        print("no targets are installed")
        return 0
    rows = [t.describe().split(None, 2) for t in targets.values()]    # name, family, the rest
    widths = [max(len(r[i]) for r in rows) for i in (0, 1)]
    for name, family, rest in rows:
        print(f"{name.ljust(widths[0])}  {family.ljust(widths[1])}  {rest}")
    systems = [f"{t.name}@{s.name} ({s.chips} chips)" for t in targets.values() for s in t.systems]
    if systems:
        print(f"multi-chip systems (--target NAME@SYSTEM): {', '.join(systems)}")
    return 0


def _options(args) -> int:
    from snnc.passes.options import listing
    from snnc.passes.registry import all_passes, get_pass
    if args.target:
        from snnc.passes.manager import pipeline_for
        from snnc.targets import get_target
        names = pipeline_for(get_target(args.target))
        print(f"target {args.target} compiles with: {' -> '.join(names)}")
    else:
        names = tuple(all_passes())
        print("every registered pass (a target's pipeline runs some of them: snnc options --target T)")
    print("set a field with: snnc compile MODEL --target T --option PASS.FIELD=VALUE\n")
    print("\n".join(listing([get_pass(n) for n in names])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
