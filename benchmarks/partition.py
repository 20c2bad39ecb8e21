"""Partition and placement quality on the benchmark nets (`partition_nets.py`), against baselines.

For each net the real `loihi-partition` and `place` passes run on the graph the lowering
hands them (target `loihi`, every neuron assumed to spike at 0.1 per tick); beside them, on
the same partitioning problem:

    contiguous     each population cut in index order, pieces packed first fit (nengo-loihi,
                   PACMAN): the `contiguous` candidate alone, unrefined
    METIS+repair   pymetis k-way blocks (k = the lower bound and the pass's own core count; the
                   better kept), made legal by the greedy repair in index order, unrefined
    KaHyPar+repair the same with Mt-KaHyPar's deterministic preset (--kahypar: slow)

Traffic is rate-weighted messages per tick between cores (`inter-core`, one per spike and
destination core other than its own) and, beside it, with the host's input messages
(`all`). Cores are checked against max(lower bound + 5 %, the best baseline's count).
Placement: rate-weighted mean tile hops of the pass's placement against the snake fill.

    .venv/bin/python benchmarks/partition.py                      # mlp, conv, sheet, rec1
    .venv/bin/python benchmarks/partition.py --nets rec10         # 10^7 synapses: minutes
    .venv/bin/python benchmarks/partition.py --kahypar            # add Mt-KaHyPar (minutes)

Results: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import partition_nets as nets  # noqa: E402

from snnc.backends.loihi.partition import problem_of  # noqa: E402
from snnc.passes.partitioning import activity, external, orders  # noqa: E402
from snnc.passes.partitioning.choose import rank  # noqa: E402
from snnc.passes.partitioning.cut import cut_and_pack, repair  # noqa: E402
from snnc.passes.registry import get_pass  # noqa: E402
from snnc.targets import get_target  # noqa: E402

NETS = {"mlp": nets.mlp, "conv": nets.conv, "sheet": nets.sheet,
        "rec1": lambda: nets.recurrent(p=0.01), "rec10": lambda: nets.recurrent(p=0.1)}


def problem(graph, target):
    pops = [n for n in graph.schedule() if type(graph.op(n)).__name__ == "Cuba"]
    return problem_of(graph, target, activity.rates(graph, pops, None)).problem


def baseline(P, name: str, ks) -> dict | None:
    """Best of the external partitioner at each k, repaired in index order, unrefined."""
    module = {"metis": "pymetis", "kahypar": "mtkahypar"}[name]
    if not external.available(module):
        return None
    from snnc.passes.partitioning.choose import Candidate
    made = []
    for k in sorted(set(ks)):
        t0 = time.perf_counter()
        assign, ev, _ = repair(P, getattr(external, name)(P, k))
        made.append((Candidate(f"{name}:{k}", assign, ev), time.perf_counter() - t0))
    best = rank([c for c, _ in made], 0.05)[0]
    return {"cores": best.cores, "traffic": best.evaluation.chip_traffic, "all": best.evaluation.traffic,
            "blocks": best.name, "seconds": sum(s for _, s in made)}


def run(name: str, target, use_kahypar: bool) -> dict:
    graph = NETS[name]()
    P = problem(graph, target)
    lb = P.lower_bound()["cores"]
    t0 = time.perf_counter()
    part = get_pass("loihi-partition")(graph, target)
    seconds = time.perf_counter() - t0
    s = part.stats
    assign, ev, _ = cut_and_pack(P, orders.natural(P))
    row = {"net": name, "neurons": P.n, "synapses": P.synapses, "lower_bound": lb,
           "ours": {"cores": s["cores"], "traffic": s["chip_traffic"], "all": s["traffic"],
                    "partitioner": s["partitioner"], "seconds": seconds},
           "contiguous": {"cores": ev.cores, "traffic": ev.chip_traffic, "all": ev.traffic}}
    row["metis"] = baseline(P, "metis", (lb, s["cores"]))
    row["kahypar"] = baseline(P, "kahypar", (lb, s["cores"])) if use_kahypar else None
    if name in ("mlp", "conv"):
        placed = get_pass("place")(part.graph, target).stats
        row["place"] = {"mean_hops": placed["mean_hops"], "snake_mean_hops": placed["snake_mean_hops"],
                        "max_link_load": placed["max_link_load"], "method": placed["method"]}
    return row


def show(row: dict) -> None:
    def cell(x):
        return "—" if x is None else f"{x['cores']} / {x['traffic']:.0f} ({x['all']:.0f})"
    base = [row[k] for k in ("contiguous", "metis", "kahypar") if row.get(k)]
    best = min(b["cores"] for b in base)
    limit = max(math.floor(row["lower_bound"] * 1.05), best)
    o = row["ours"]
    print(f"{row['net']:<6} {row['neurons']:>6} neurons {row['synapses']:>9} synapses  "
          f"lower bound {row['lower_bound']}")
    print(f"   ours ({o['partitioner']}, {o['seconds']:.1f} s): {cell(o)}; contiguous {cell(row['contiguous'])}; "
          f"METIS+repair {cell(row['metis'])}; KaHyPar+repair {cell(row['kahypar'])}")
    for k in ("contiguous", "metis", "kahypar"):
        if row.get(k):
            print(f"   traffic {1 - o['traffic'] / row[k]['traffic']:.1%} below {k} "
                  f"(with host input {1 - o['all'] / row[k]['all']:.1%})")
    print(f"   cores {o['cores']} <= max(lower bound + 5 %, best baseline) = {limit}: {o['cores'] <= limit}")
    if "place" in row:
        p = row["place"]
        print(f"   placement ({p['method']}): mean hops {p['mean_hops']:.3f} vs snake {p['snake_mean_hops']:.3f} "
              f"({1 - p['mean_hops'] / p['snake_mean_hops']:.1%} below), max link load {p['max_link_load']:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="mlp,conv,sheet,rec1")
    ap.add_argument("--kahypar", action="store_true", help="also run Mt-KaHyPar + repair (slow)")
    args = ap.parse_args()
    target = get_target("loihi")
    for name in args.nets.split(","):
        show(run(name, target, args.kahypar))
        sys.stdout.flush()


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
