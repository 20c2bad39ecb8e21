"""The pass manager: runs a target's pipeline, verifying the graph after every pass.

    result = run_pipeline(graph, target, options={"prune": {"threshold": 0.01}},
                          progress=print_to_stderr)
    result.graph, result.records, result.provenance

The pipeline is data: the target's `pipeline` list when its data file gives one, else the
list its backend family's `pipeline(target)` returns. Nothing here branches on a chip.

After each pass the manager runs `Graph.verify(pass_name=...)`, so a pass that breaks an
IR rule is named in the error, and it records the pass's wall time and statistics.
Wall times are kept apart from statistics: statistics are a deterministic function of
the input and the options and may be written into artifacts; times are not.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from snnc.errors import UnsupportedOpError, UsageError
from snnc.ir.graph import Graph
from snnc.passes.registry import PassInfo, get_pass

Progress = Callable[["PassEvent"], None]


@dataclass(frozen=True)
class PassEvent:
    """One progress event: a pass starts (`phase` "start"), reports (`"note"`) or ends (`"end"`)."""

    index: int            # 1-based position in the pipeline
    total: int
    name: str
    phase: str
    message: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        head = f"[{self.index}/{self.total}] {self.name}"
        if self.phase == "end":
            return f"{head}: {self.message} ({self.seconds:.2f} s)" if self.message else \
                f"{head}: done ({self.seconds:.2f} s)"
        return f"{head}: {self.message}" if self.message else f"{head} ..."


@dataclass(frozen=True)
class PassRecord:
    """What one pass did: name, options, statistics, node counts; `seconds` is its wall time."""

    name: str
    options: Mapping[str, object]
    stats: Mapping[str, object]
    nodes_before: int
    nodes_after: int
    seconds: float

    def to_json(self) -> dict:
        """The deterministic part (no wall time), for manifests."""
        return {"name": self.name, "options": dict(self.options), "stats": dict(self.stats),
                "nodes_before": self.nodes_before, "nodes_after": self.nodes_after}


@dataclass
class PipelineResult:
    graph: Graph
    records: list[PassRecord] = field(default_factory=list)
    provenance: dict[str, tuple[str, ...]] = field(default_factory=dict)
    approximations: list = field(default_factory=list)

    def stats(self, name: str) -> Mapping[str, object]:
        """The statistics of the pass called `name` (empty if it did not run)."""
        return next((r.stats for r in self.records if r.name == name), {})

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.records)


def pipeline_for(target) -> tuple[str, ...]:
    """The pass names `target` compiles with: its own list, else its family's default."""
    from snnc.backend import backend
    listed = getattr(target, "pipeline", None)
    if listed:
        return tuple(listed)
    return tuple(backend(target.family).pipeline(target))


def run_pipeline(graph: Graph, target, *, pipeline: Sequence[str] | None = None,
                 options: Mapping[str, object] | None = None,
                 progress: Progress | None = None, strict: bool = False) -> PipelineResult:
    """Run every pass of `pipeline` (default: `pipeline_for(target)`) on `graph`.

    `options` maps a pass name (or its snake_case spelling) to that pass's options: an
    instance of its options class or a dict of fields. Options for passes that are not in
    the pipeline are an error, so a misspelt name cannot be ignored silently. The passes'
    approximations are collected in `result.approximations`; with `strict`, the first one
    is refused instead (`UnsupportedOpError` with its `why`, naming node and rule).
    """
    names = tuple(pipeline) if pipeline is not None else pipeline_for(target)
    passes = [get_pass(n) for n in names]
    chosen = _options_by_pass(passes, options or {})
    emit = progress or (lambda event: None)
    result = PipelineResult(graph.verify(pass_name="input"))
    result.provenance = {n: (n,) for n in graph.nodes}
    checked = [info.make_options(chosen.get(info.name)) for info in passes]   # every bad value before any work
    for i, (info, opts) in enumerate(zip(passes, checked), 1):
        emit(PassEvent(i, len(passes), info.name, "start"))
        note = (lambda msg, i=i, info=info: emit(PassEvent(i, len(passes), info.name, "note", msg)))
        before = result.graph
        t0 = time.perf_counter()
        out = info(before, target, opts, progress=note)
        out.graph.verify(pass_name=info.name)
        seconds = time.perf_counter() - t0
        if strict and out.approximations:
            raise _refusal(out.approximations[0], before)
        result.graph = out.graph
        result.approximations += list(out.approximations)
        result.provenance = compose_provenance(result.provenance, out.provenance, out.graph)
        result.records.append(PassRecord(info.name, _options_json(opts), dict(out.stats),
                                         len(before.nodes), len(out.graph.nodes), seconds))
        emit(PassEvent(i, len(passes), info.name, "end", _summary(out.stats), seconds))
    return result


def _refusal(a, graph: Graph) -> UnsupportedOpError:
    op = graph.op(a.node).name if a.node in graph.nodes else None
    return UnsupportedOpError(f"{a.why} (rule {a.rule}; refused under --strict: without it the chip would "
                              f"{a.what})", node=a.node, op=op, source=a.origin or None)


def report_to(reporter) -> Progress:
    """A pass-event callback driving a `snnc.progress` reporter: the bar names the running pass
    and advances one unit per pass; each pass's notes and closing summary become lines."""
    def on_event(event: PassEvent) -> None:
        if event.phase == "start":
            reporter.update(total=event.total, description=f"[{event.index}/{event.total}] {event.name}")
            return
        reporter.note(str(event))
        if event.phase == "end":
            reporter.advance()
    return on_event


def compose_provenance(so_far: Mapping[str, tuple[str, ...]], step: Mapping[str, tuple[str, ...]],
                       graph: Graph) -> dict[str, tuple[str, ...]]:
    """Source node -> nodes of `graph`, given the map so far and one pass's map.

    A node the pass's map does not mention keeps its name if `graph` still has it and is
    otherwise gone (it maps to nothing).
    """
    def forward(name: str) -> tuple[str, ...]:
        if name in step:
            return tuple(step[name])
        return (name,) if name in graph.nodes else ()

    return {src: tuple(dict.fromkeys(n for mid in mids for n in forward(mid)))
            for src, mids in so_far.items()}


def _options_by_pass(passes: Sequence[PassInfo], options: Mapping[str, object]) -> dict[str, object]:
    by_name = {p.name: p for p in passes}
    spelled = {p.name.replace("-", "_"): p.name for p in passes}
    out = {}
    for key, value in options.items():
        name = key if key in by_name else spelled.get(key)
        if name is None:
            raise UsageError(f"option '{key}' names no pass of this pipeline "
                             f"(passes: {', '.join(by_name)})")
        out[name] = value
    return out


def _options_json(opts) -> dict:
    import dataclasses
    out = {}
    for f in dataclasses.fields(opts):
        v = getattr(opts, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _summary(stats: Mapping[str, object]) -> str:
    """A short progress-line summary: the stats entries that are plain numbers or strings."""
    parts = [f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items()
             if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return ", ".join(parts[:4])
