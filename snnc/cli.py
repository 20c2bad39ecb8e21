"""The `snnc` command line.

Exit codes: 0 success; 1 a verification found a violation or mismatch; 2 bad input or
usage. A user error prints one line, `snnc: error: <message>`, and no traceback
(`--debug` shows it).
"""
from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np

from snnc import __version__
from snnc.errors import SnncError, UsageError

DESCRIPTION = "snnc — a compiler for spiking neural networks."


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except SnncError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"snnc: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("snnc: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")
    p = argparse.ArgumentParser(prog="snnc", description=DESCRIPTION, parents=[common])
    p.add_argument("--version", action="version", version=f"snnc {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")
    sub.add_parser = functools.partial(sub.add_parser, parents=[common])

    c = sub.add_parser("inspect", help="summarise a model or artifact: nodes, shapes, neurons, synapses",
                       description="Print a model's graph: each node with its op, output shape, neurons "
                                   "and synapses, then totals. --ir prints the full text IR instead.")
    c.add_argument("model", help="model file (.snnir, .nir, .onnx, ...)")
    c.add_argument("--ir", action="store_true", help="print the text IR instead of the summary")
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
    _load_options(c)
    c.set_defaults(func=_simulate)

    c = sub.add_parser("targets", help="list the targets snnc can compile for",
                       description="List every target: its name, family and main per-core limits.")
    c.set_defaults(func=_targets)
    return p


def _load_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--dt", type=float, help="seconds per tick, for formats that do not store it (NIR)")


def _load(args):
    from snnc.api import load
    options = {"dt": args.dt} if getattr(args, "dt", None) is not None else {}
    return load(args.model, **options)


def _inspect(args) -> int:
    graph = _load(args)
    if args.ir:
        from snnc.ir.text import print_graph
        print(print_graph(graph), end="")
        return 0
    from snnc.ir.summary import summarize
    print(summarize(graph, title=args.model))
    return 0


def _convert(args) -> int:
    from snnc.frontends import frontend_for
    out = Path(args.output)
    writer = frontend_for(out)
    if not hasattr(writer.module, "save"):
        raise UsageError(f"{out}: snnc can read '{out.suffix}' files but not write them (write .snnir or .nir)")
    graph = _load(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer.module.save(graph, out)
    print(f"wrote {out} ({len(graph.nodes)} nodes)")
    return 0


def _simulate(args) -> int:
    from snnc.api import simulate
    graph = _load(args)
    x = _read_npy(args.input)
    y = simulate(graph, x, seed=args.seed)
    outs = y if isinstance(y, dict) else {graph.outputs[0]: y}
    for name, arr in outs.items():
        per_t = arr.reshape(arr.shape[0], -1)
        print(f"{name}: shape {list(arr.shape)}, sum {float(per_t.sum()):g}, "
              f"mean per tick {float(per_t.sum(axis=1).mean()):g}")
    if args.output:
        if isinstance(y, dict):
            np.savez(args.output, **y)
        else:
            np.save(args.output, y)
        print(f"wrote {args.output}")
    return 0


def _read_npy(path: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file")
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as exc:
        raise UsageError(f"{path}: not a .npy array without pickled objects ({exc})") from None


def _targets(args) -> int:
    from snnc.targets import all_targets
    targets = all_targets()
    if not targets:
        print("no targets are installed")
        return 0
    for t in targets.values():
        print(t.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
