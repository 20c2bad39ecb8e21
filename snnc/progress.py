"""Progress on long work: a bar with rate and ETA on a terminal, plain lines elsewhere.

Library code never prints: a long-running function takes a `Reporter` (default `SILENT`)
and calls `advance()` as work completes and `note(text)` for a line worth keeping. The
command line opens the bar around the call:

    from snnc.progress import progress
    with progress("simulate", total=T, unit="tick", quiet=args.quiet) as bar:
        y = simulate(graph, x, progress=bar)          # calls bar.advance() once per tick

On a terminal (stderr is a TTY) with `rich` installed the bar shows the description,
done/total, rate and time left, and notes print above it; it disappears when the work ends.
Otherwise (a pipe, a log file, no `rich`) each note is one line ``snnc: <text>``, a status
line ``snnc: <description>: 40/100 ticks (12.5 ticks/s, 5 s left)`` comes when nothing was
said for `interval` seconds, and work that took at least `interval` seconds ends with
``snnc: <first description>: done, 100 ticks in 8.0 s (12.5 ticks/s)``. `quiet=True`
prints nothing at all.

Several workers (processes, threads) may feed one bar: `advance` is cheap and
thread-safe; from worker processes, send counts back and advance in the parent.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Callable, Iterator, Protocol, TextIO


class Reporter(Protocol):
    """What a long-running function is given to report on."""

    def advance(self, n: float = 1) -> None:
        """`n` more units of work are done."""

    def note(self, text: str) -> None:
        """A line worth keeping (a pass's summary, a stage reached)."""

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        """Change the expected total or what the bar says it is doing."""


class _Silent:
    """A reporter that reports nothing: the default of every library function."""

    def advance(self, n: float = 1) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        pass


SILENT: Reporter = _Silent()


@contextlib.contextmanager
def progress(description: str, total: float | None = None, *, unit: str = "step", quiet: bool = False,
             stream: TextIO | None = None, interval: float = 5.0,
             clock: Callable[[], float] = time.monotonic) -> Iterator[Reporter]:
    """A reporter showing `description` with `total` units of `unit` (None: not known) on
    `stream` (default stderr): a rich bar on a TTY, plain lines otherwise, nothing if `quiet`."""
    if quiet:
        yield SILENT
        return
    stream = stream if stream is not None else sys.stderr
    bar = _rich_bar(description, total, unit, stream) if _isatty(stream) else None
    if bar is None:
        bar = _Lines(description, total, unit, stream, interval, clock)
    with bar:
        yield bar


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Lines:
    """Plain-line progress: notes, a status line at most every `interval` s, a closing line."""

    def __init__(self, description, total, unit, stream, interval, clock):
        self.title = self.description = description
        self.total, self.unit, self.stream = total, unit, stream
        self.interval, self.clock = interval, clock
        self.done = 0.0
        self.lock = threading.Lock()

    def __enter__(self):
        self.start = self.last = self.clock()
        return self

    def __exit__(self, exc_type, exc, tb):
        elapsed = self.clock() - self.start
        if exc_type is None and elapsed >= self.interval:
            rate = f" ({_rate(self.done / elapsed, self.unit)})" if self.done and elapsed > 0 else ""
            self._print(f"{self.title}: done, {_count(self.done, self.unit)} in {elapsed:.1f} s{rate}")
        return False

    def advance(self, n: float = 1) -> None:
        with self.lock:
            self.done += n
            now = self.clock()
            if now - self.last >= self.interval:          # nothing said for a while
                self._print(self._status(now - self.start))

    def note(self, text: str) -> None:
        self._print(text)

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        self.total = total if total is not None else self.total
        self.description = description if description is not None else self.description

    def _status(self, elapsed: float) -> str:
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            left = f", {(self.total - self.done) / rate:.0f} s left" if rate > 0 else ""
            return (f"{self.description}: {_num(self.done)}/{_count(self.total, self.unit)} "
                    f"({_rate(rate, self.unit)}{left})")
        return f"{self.description}: {_count(self.done, self.unit)} ({_rate(rate, self.unit)})"

    def _print(self, text: str) -> None:
        print(f"snnc: {text}", file=self.stream, flush=True)
        self.last = self.clock()


def _rich_bar(description, total, unit, stream):
    try:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        from rich.text import Text
    except ImportError:                        # rich is an optional extra: plain lines instead
        return None

    class RateColumn(ProgressColumn):
        def render(self, task):
            return Text(_rate(task.speed, unit) if task.speed else "", style="progress.data.speed")

    console = Console(file=stream, stderr=stream is sys.stderr)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    return _RichBar(Progress(*columns, console=console, transient=True), description, total)


class _RichBar:
    """A rich Progress with one task, behind the Reporter methods."""

    def __init__(self, bar, description, total):
        self.bar, self.description, self.total = bar, description, total

    def __enter__(self):
        self.bar.__enter__()
        self.task = self.bar.add_task(self.description, total=self.total)
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def advance(self, n: float = 1) -> None:
        self.bar.advance(self.task, n)

    def note(self, text: str) -> None:
        self.bar.console.print(f"snnc: {text}", markup=False, highlight=False)

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        self.bar.update(self.task, total=total, description=description)


def _num(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:.3g}"


def _count(x: float, unit: str) -> str:
    return f"{_num(x)} {unit if x == 1 else _plural(unit)}"


def _rate(per_s: float, unit: str) -> str:
    return f"{per_s:.3g} {_plural(unit)}/s"


def _plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("s", "x", "sh", "ch")) else "s")
