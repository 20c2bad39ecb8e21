"""Progress reporting: plain lines off a terminal, a rich bar on one, nothing when quiet; the
command line's compile reports every pass, and `--quiet` silences it."""
import io
import sys
from pathlib import Path

import pytest

from snnc.cli import main
from snnc.passes.manager import PassEvent, report_to
from snnc.progress import SILENT, progress

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits.snnir"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_status_at_most_every_interval_then_done():
    out, clock = io.StringIO(), Clock()
    with progress("simulate", total=10, unit="tick", stream=out, interval=5.0, clock=clock) as bar:
        bar.advance(2)                       # 0 s since the last line: nothing
        clock.now += 5.0
        bar.advance(2)                       # 4 ticks in 5 s
        bar.note("half way")
        clock.now += 1.0
        bar.advance(6)                       # 1 s after the status line: nothing
    assert out.getvalue().splitlines() == [
        "snnc: simulate: 4/10 ticks (0.8 ticks/s, 8 s left)",
        "snnc: half way",
        "snnc: simulate: done, 10 ticks in 6.0 s (1.67 ticks/s)",
    ]


def test_notes_hold_back_status_lines_and_done_names_the_work():
    out, clock = io.StringIO(), Clock()
    with progress("compile", unit="pass", stream=out, interval=5.0, clock=clock) as bar:
        clock.now += 8.0                     # loading the model
        bar.update(total=2, description="[1/2] prune")
        bar.note("[1/2] prune: done (0.01 s)")
        bar.advance()                        # just said something: no status line
        clock.now += 1.0
        bar.update(description="[2/2] place")
        bar.advance()
    assert out.getvalue().splitlines() == ["snnc: [1/2] prune: done (0.01 s)",
                                           "snnc: compile: done, 2 passes in 9.0 s (0.222 passes/s)"]


def test_short_work_prints_only_its_notes_and_unknown_totals_count_up():
    out, clock = io.StringIO(), Clock()
    with progress("verify", stream=out, interval=5.0, clock=clock) as bar:
        bar.note("checked 3 cores")
    assert out.getvalue() == "snnc: checked 3 cores\n"
    out = io.StringIO()
    with progress("load", unit="pass", stream=out, interval=1.0, clock=clock) as bar:
        clock.now += 2.0
        bar.advance()
    assert out.getvalue().splitlines() == ["snnc: load: 1 pass (0.5 passes/s)",
                                           "snnc: load: done, 1 pass in 2.0 s (0.5 passes/s)"]


def test_quiet_prints_nothing_and_silent_ignores_everything(capsys):
    with progress("compile", total=3, quiet=True) as bar:
        assert bar is SILENT
        bar.advance()
        bar.note("not shown")
        bar.update(total=5, description="x")
    assert capsys.readouterr() == ("", "")


def test_a_failed_step_has_no_done_line():
    out, clock = io.StringIO(), Clock()
    with pytest.raises(RuntimeError):
        with progress("simulate", stream=out, interval=0.0, clock=clock):
            raise RuntimeError("boom")
    assert "done" not in out.getvalue()


def test_a_terminal_gets_a_rich_bar_with_notes_above_it():
    pytest.importorskip("rich")
    out = Tty()
    with progress("compile", total=2, unit="pass", stream=out) as bar:
        bar.note("[1/2] prune: done (0.00 s)")
        bar.advance()
        bar.update(description="[2/2] place")
        bar.advance()
    text = out.getvalue()
    assert "snnc: [1/2] prune: done (0.00 s)" in text
    assert "\x1b[" in text and "2/2" in text                 # drawn with terminal codes


def test_without_rich_a_terminal_gets_plain_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "rich.progress", None)   # `import rich.progress` raises ImportError
    out = Tty()
    with progress("compile", total=1, stream=out) as bar:
        bar.note("a note")
    assert out.getvalue() == "snnc: a note\n"


def test_pass_events_drive_a_reporter():
    calls = []

    class Recorder:
        def advance(self, n=1):
            calls.append(("advance", n))

        def note(self, text):
            calls.append(("note", text))

        def update(self, *, total=None, description=None):
            calls.append(("update", total, description))

    on_event = report_to(Recorder())
    on_event(PassEvent(2, 6, "prune", "start"))
    on_event(PassEvent(2, 6, "prune", "note", "pruned 3 synapses"))
    on_event(PassEvent(2, 6, "prune", "end", "synapses_after 9", 0.25))
    assert calls == [("update", 6, "[2/6] prune"), ("note", "[2/6] prune: pruned 3 synapses"),
                     ("note", "[2/6] prune: synapses_after 9 (0.25 s)"), ("advance", 1)]


def test_compile_reports_every_pass_on_stderr_and_quiet_silences_it(tmp_path, capsys):
    assert main(["compile", str(DIGITS), "--target", "loihi", "-o", str(tmp_path / "a.loihi")]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert [line.split(":")[1].strip() for line in lines if line.endswith(" s)")] == [
        "[1/6] discretize", "[2/6] prune", "[3/6] loihi-legalize", "[4/6] loihi-quantize",
        "[5/6] loihi-partition", "[6/6] place"]
    assert all(line.startswith("snnc: [") for line in lines), lines
    assert main(["compile", str(DIGITS), "--target", "loihi", "-o", str(tmp_path / "b.loihi"), "--quiet"]) == 0
    out_quiet, err_quiet = capsys.readouterr()
    assert err_quiet == ""
    assert out_quiet.replace("b.loihi", "a.loihi").split(" (")[0] == out.split(" (")[0]
