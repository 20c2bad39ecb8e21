"""The contract every reader keeps, checked on one case.

A reader (`snnc.load(path)`) either returns a Graph that verifies and holds only finite
parameters, or raises an `SnncError`; it never raises anything else, never runs past
`TIME_LIMIT` seconds, opens no file outside the case's own folder, and accepts no case
whose mutation made it invalid (an external reference, a NaN parameter, a declared size
past the limits, ...). `snnc inspect FILE` (run in-process) exits 0 or 2, never 1 or 3.

`run_case` returns an `Outcome`: "clean", or "traceback" (another exception, a CLI exit
other than 0/2, or a hang) or "accepted-invalid", with a one-line signature for grouping.
"""
from __future__ import annotations

import contextlib
import io
import re
import signal
import sys
import tempfile
import threading
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TIME_LIMIT = 20          # seconds one case may take

def _allowed_roots() -> tuple[str, ...]:
    """The interpreter's libraries, this checkout and the snnc package imported (its grammar, target data)."""
    import snnc
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, Path(__file__).parents[2], Path(snnc.__file__).parents[1]}
    return tuple(str(Path(p).resolve()) for p in roots)


@dataclass(frozen=True)
class Outcome:
    status: str          # clean | traceback | accepted-invalid
    signature: str = ""  # where and what, one line (for grouping distinct failures); "loaded" for a
                         # clean case whose reader returned a graph (else it was refused)


class Hang(Exception):
    pass


# -- which files a reader opens ----------------------------------------------------------------------------
class _Opens(threading.local):
    active: bool = False
    paths: list


_OPENS = _Opens()
_HOOKED = False


def _hook(event, args):
    if event == "open" and _OPENS.active and args and isinstance(args[0], (str, bytes, Path)):
        _OPENS.paths.append(str(args[0] if not isinstance(args[0], bytes) else args[0].decode(errors="replace")))


@contextlib.contextmanager
def _watch_opens():
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_hook)        # audit hooks cannot be removed: this one records only while active
        _HOOKED = True
    _OPENS.active, _OPENS.paths = True, []
    try:
        yield _OPENS.paths
    finally:
        _OPENS.active = False


def _outside(paths: list[str], folder: Path) -> list[str]:
    inside = str(folder.resolve())
    out = []
    for p in paths:
        full = str(Path(p).resolve()) if not p.startswith(("/proc", "/dev", "/sys")) else p
        if not (full.startswith(inside) or full.startswith(_allowed_roots()) or full.startswith(("/proc", "/dev"))):
            out.append(p)
    return out


# -- time limit ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _time_limit(seconds: int):
    def fire(signum, frame):
        raise Hang(f"no result after {seconds} s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- the contract -----------------------------------------------------------------------------------------
def run_case(case, *, cli: bool = True) -> Outcome:
    """Write `case` into a fresh folder (beside an 'outside' folder whose files must never be
    read), load it, and run `snnc inspect` on it."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "model"
        folder.mkdir()
        path = case.write(folder)
        outcome = _load(case, path, folder)
        if outcome.status == "clean" and cli:
            outcome = _inspect(path, outcome)
        return outcome


def _load(case, path: Path, folder: Path) -> Outcome:
    from snnc.api import load
    from snnc.errors import SnncError
    with warnings.catch_warnings(), _watch_opens() as opened:
        warnings.simplefilter("ignore")
        try:
            with _time_limit(TIME_LIMIT):
                graph = load(str(path))
        except SnncError:
            graph = None
        except Exception as exc:  # noqa: BLE001 -- the contract forbids every other exception
            return Outcome("traceback", _signature(exc))
    leaked = _outside(opened, folder)
    if leaked:
        target = Path(leaked[0]).resolve()
        shown = target.relative_to(folder.parent) if target.is_relative_to(folder.parent) else target
        return Outcome("accepted-invalid", f"{case.kind}: opened {shown} (named {Path(leaked[0]).name}) outside "
                                           f"the model's folder")
    if graph is None:
        return Outcome("clean")
    problem = _graph_problem(graph) or case.invalid
    return Outcome("accepted-invalid", f"{case.kind}: {problem}") if problem else Outcome("clean", "loaded")


def _graph_problem(graph) -> str:
    """Why a returned graph breaks the contract, or ''."""
    from snnc.errors import SnncError
    try:
        graph.verify()
    except SnncError as exc:
        return f"returned a graph that fails verification: {str(exc)[:80]}"
    for name, node in graph.nodes.items():
        for f in node.op.field_specs():
            value = np.asarray(getattr(node.op, f.name))
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)) and "inf:" not in f.metadata.get("doc", ""):
                return f"returned a graph with a non-finite {node.op.name}.{f.name}"
    return ""


def _inspect(path: Path, loaded: Outcome) -> Outcome:
    from snnc.cli import main
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        try:
            with _time_limit(TIME_LIMIT):
                code = main(["inspect", str(path)])
        except SystemExit as exc:
            code = exc.code
        except Exception as exc:  # noqa: BLE001 -- an uncaught exception from the CLI is the bug measured
            return Outcome("traceback", "cli: " + _signature(exc))
    if code not in (0, 2):
        last = err.getvalue().strip().splitlines()[-1:] or [""]
        return Outcome("traceback", normalise(f"cli exit {code}: {last[0][:100]}"))
    return loaded


def _signature(exc: BaseException) -> str:
    """Exception type and the innermost frame inside snnc (or the innermost frame at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "/snnc/" in f.filename or "/frontends/" in f.filename or "/backends/" in f.filename]
    f = (own or frames or [None])[-1]
    where = f"{Path(f.filename).name}:{f.lineno}" if f is not None else "?"
    return normalise(f"{type(exc).__name__} at {where}: {str(exc).splitlines()[0][:80] if str(exc) else ''}")


def normalise(signature: str) -> str:
    """A signature without the case's temporary paths, so equal failures group together."""
    return re.sub(r"/tmp/[^\s'\")]*", "<tmp>", signature)
