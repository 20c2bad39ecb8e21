"""Partition by measured cost: several legal partitions, each refined, the cheapest kept.

Candidates (each made legal by the greedy cut, `cut.py`):

    contiguous   every population cut in index order, the pieces packed first fit (as
                 nengo-loihi and PACMAN slice populations)
    spatial      feature maps cut along a Hilbert curve, tiles of every layer together
                 (`orders.spatial`; only where neurons have positions)
    spatial-bisection  recursive coordinate bisection of the same positions into as many
                 regions as the spatial cut needed (and one and three more), repaired; the best
    kahypar      Mt-KaHyPar blocks, repaired (`external.kahypar`; when mtkahypar is installed)
    metis        METIS blocks, repaired (`external.metis`; when pymetis is installed)

The graph partitioners are asked for as many blocks as the lower bound and as the best
in-house candidate need. `auto` (all strategies) runs METIS on nets of up to 2·10^6 synapses whose nets average
at most 512 pins (on all-to-all layers every cut sends every spike everywhere) and leaves
Mt-KaHyPar out: its deterministic mode took 15 to 190 s on 2.7·10^5 to 1.9·10^6 pins here,
and its repaired partitions were no better than the spatial cut on the benchmark conv net
(benchmarks/README.md); ask for it with `strategy = kahypar`, or for every partitioner on
any size of problem with `all`. The most promising
candidates (`REFINED`, by the rule below) are then refined by local search (`refine.py`).
The choice: among candidates within `core_slack` of the fewest cores any candidate needs,
the one with the least traffic (ties: fewer cores, then the order above).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from snnc.passes.partitioning import external, orders, refine as local
from snnc.passes.partitioning.cost import Evaluation, evaluate
from snnc.passes.partitioning.cut import cut_and_pack, repair
from snnc.passes.partitioning.problem import Problem

STRATEGIES = ("contiguous", "spatial", "kahypar", "metis")
NEEDS = {"kahypar": "mtkahypar", "metis": "pymetis"}
MAX_MEAN_NET = 512                                   # auto skips graph partitioners on denser nets
AUTO_EXTERNAL = ("metis",)                            # the graph partitioners auto tries ...
MAX_AUTO_PINS = 2_000_000                             # ... on up to this many synapses (METIS: ~5 s per 10^6)
REFINE_WORK = 4e8                                     # synapses × cores beyond which refinement is skipped
REFINED = 1                                           # candidates refined (the cheapest before refinement)


@dataclass
class Candidate:
    name: str
    assign: np.ndarray
    evaluation: Evaluation
    info: dict = field(default_factory=dict)

    @property
    def cores(self) -> int:
        return self.evaluation.cores

    def summary(self) -> dict:
        return {"cores": self.cores, "traffic": round(self.evaluation.traffic, 4), **self.info}


@dataclass
class Choice:
    best: Candidate
    candidates: list[Candidate]
    lower_bound: dict

    def stats(self) -> dict:
        return {"partitioner": self.best.name, "lower_bound_cores": self.lower_bound["cores"],
                "traffic": round(self.best.evaluation.traffic, 4),
                "chip_traffic": round(self.best.evaluation.chip_traffic, 4),
                "candidates": {c.name: c.summary() for c in self.candidates},
                "requires": [NEEDS[base]] if (base := self.best.name.split(":")[0]) in NEEDS else []}


def _say(progress, text: str) -> None:
    if progress is not None:
        progress(text)


def candidates(problem: Problem, strategies=STRATEGIES, *, whole_groups=(), pack: bool = True,
               every: bool = False, progress=None) -> list[Candidate]:
    """The legal, unrefined candidates of `strategies` that apply to `problem` (`every`: the graph
    partitioners too, whatever the size of the problem)."""
    whole = set(whole_groups)
    placed = [g for g, grp in enumerate(problem.groups) if grp.placed]
    out = [_timed("contiguous", progress, lambda: cut_and_pack(problem, orders.natural(problem),
                                                               whole=[g in whole for g in placed],
                                                               pack_pieces=pack))]
    if not pack:
        return out
    sp = orders.spatial(problem)
    order = sp[1] if sp is not None else np.arange(problem.n)
    if sp is not None and "spatial" in strategies:
        seqs, flags = _keep_whole(problem, sp[0], whole)
        out.append(_timed("spatial", progress, lambda: cut_and_pack(problem, seqs, whole=flags)))
        out.append(_bisection(problem, out[-1].cores, order, whole, progress))
    lb = problem.lower_bound()["cores"]
    best = min(c.cores for c in out if c is not None)
    for name in ("kahypar", "metis"):
        if name in strategies and external.available(NEEDS[name]) and (every or _worth(problem, name, strategies)):
            for k in sorted({lb, best}):
                out.append(_timed(f"{name}:{k}", progress, lambda: repair(
                    problem, getattr(external, name)(problem, k), order, whole_groups=sorted(whole)), blocks=k))
    out = [c for c in out if c is not None]
    if len(strategies) == 1 and strategies[0] != "contiguous" and len(out) > 1:
        out = out[1:]                                  # only what was asked for (contiguous: its fallback)
    return out


def _timed(name: str, progress, make, **info) -> Candidate:
    t0 = time.perf_counter()
    assign, ev, rounds = make()
    _say(progress, f"{name}: {ev.cores} core(s), traffic {ev.traffic:.4g} messages/tick, "
                   f"{time.perf_counter() - t0:.1f} s")
    return Candidate(name, assign, ev, {"rounds": rounds, **info})


def _bisection(problem: Problem, cores: int, order, whole: set, progress) -> Candidate | None:
    """The best of recursive coordinate bisections into about as many regions as the spatial cut used."""
    weight = external.vertex_weights(problem).astype(np.float64)
    made = []
    for k in sorted({cores, cores + 1, cores + 3}):
        blocks = orders.bisection(problem, k, weight)
        if blocks is None:
            return None
        made.append(_timed(f"spatial-bisection:{k}", progress,
                           lambda: repair(problem, blocks, order, whole_groups=sorted(whole)), blocks=k))
    return rank(made, 0.05)[0]


def _worth(problem: Problem, name: str, strategies) -> bool:
    """Whether a graph partitioner runs: when asked for alone; under auto, METIS on nets that are
    not all-to-all (dense layers gain nothing from it) and Mt-KaHyPar never (module docstring)."""
    if len(strategies) == 1:
        return True
    return (name in AUTO_EXTERNAL and problem.synapses / max(problem.n_nets, 1) <= MAX_MEAN_NET
            and problem.synapses <= MAX_AUTO_PINS)


def _keep_whole(problem: Problem, seqs: list[np.ndarray], whole: set) -> tuple[list[np.ndarray], list[bool]]:
    """Sequences with the vertices of whole groups taken out into their own (whole) sequences."""
    if not whole:
        return seqs, [False] * len(seqs)
    mask = np.isin(problem.group_of, sorted(whole))
    rest = [s[~mask[s]] for s in seqs]
    rest = [s for s in rest if len(s)]
    return rest + [problem.vertices(g) for g in sorted(whole)], [False] * len(rest) + [True] * len(whole)


def improve(problem: Problem, cand: Candidate, *, movable, progress=None, passes: int = 4) -> list[Candidate]:
    """`cand` after local search, and after an attempt to empty its least loaded cores (which may
    cost traffic; the choice weighs both)."""
    K = cand.cores
    if not local.fits(problem, K) or passes <= 0:
        return []
    t0 = time.perf_counter()
    assign, info = local.refine(problem, cand.assign, K, movable=movable, passes=passes)
    made = [_refined(problem, cand, f"{cand.name}+refined", assign, {"refined_moves": info["moves"]})]
    if K > problem.lower_bound()["cores"]:
        shrunk, emptied = local.dissolve(problem, assign, K, movable=movable)
        if emptied:
            shrunk, more = local.refine(problem, shrunk, K - emptied, movable=movable, passes=passes)
            made.append(_refined(problem, cand, f"{cand.name}+dissolved", shrunk,
                                 {"refined_moves": info["moves"] + more["moves"], "emptied_cores": emptied}))
    made = [c for c in made if c is not None]
    for c in made:
        _say(progress, f"{c.name}: {c.cores} core(s), traffic {c.evaluation.traffic:.4g} messages/tick, "
                       f"{time.perf_counter() - t0:.1f} s")
    return made


def _refined(problem: Problem, cand: Candidate, name: str, assign: np.ndarray, info: dict) -> Candidate | None:
    ev = evaluate(problem, assign)
    if not ev.legal:                                   # refinement keeps legality; this is a safeguard
        return None
    return Candidate(name, assign, ev, {**cand.info, **info})


def rank(cands: list[Candidate], core_slack: float) -> list[Candidate]:
    """Candidates best first: those within `core_slack` of the fewest cores by traffic (then cores,
    then their order), the others after them by cores."""
    fewest = min(c.cores for c in cands)
    allowed = max(fewest, math.floor(fewest * (1 + core_slack)))
    return sorted(cands, key=lambda c: (c.cores > allowed, 0 if c.cores <= allowed else c.cores,
                                        round(c.evaluation.traffic, 9), c.cores, cands.index(c)))


def choose(problem: Problem, *, strategies=STRATEGIES, whole_groups=(), core_slack: float = 0.05,
           passes: int = 4, pack: bool = True, every: bool = False, progress=None) -> Choice:
    """The cheapest candidate after refining the most promising ones (module docstring)."""
    movable = ~np.isin(problem.group_of, sorted(whole_groups))
    cands = rank(candidates(problem, strategies, whole_groups=whole_groups, pack=pack, every=every,
                            progress=progress), core_slack)
    work = problem.synapses * max(c.cores for c in cands)
    if pack and passes > 0 and work <= REFINE_WORK:
        cands = cands + [r for c in cands[:REFINED]
                         for r in improve(problem, c, movable=movable, progress=progress, passes=passes)]
    elif pack and passes > 0:
        _say(progress, f"refinement skipped: {problem.synapses} synapses x {max(c.cores for c in cands)} cores "
                       f"> {REFINE_WORK:.0e}")
    return Choice(rank(cands, core_slack)[0], cands, problem.lower_bound())
