"""A deterministic mutation campaign over every reader, with a summary per kind.

    python -m tests.fuzz.campaign --cases 2400 [--seed 0] [--kinds K ...] [--save-failures DIR] [--no-cli]

Case i of kind k is seed (i mod seeds of k), mutated 1 to 3 times (mostly once) by `random.Random(
(seed, k, i))`, so a failure is reproduced by its (kind, index). Prints, per kind, the
cases run and how many were clean, tracebacks (distinct signatures in parentheses) and
invalid inputs accepted; `--save-failures` writes every failing case's files (for the
regression corpus) with its signature.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from tests.fuzz.contract import run_case
from tests.fuzz.mutate import mutate
from tests.fuzz.seeds import KINDS, seeds


def make_case(kind: str, index: int, seed: int = 0):
    rng = random.Random(f"{seed}:{kind}:{index}")
    base = seeds()[kind][index % len(seeds()[kind])]
    return mutate(base, rng, rng.choice((1, 1, 1, 2, 3)))


def run(cases: int, seed: int = 0, cli: bool = True, save: Path | None = None, log=print,
        kinds: tuple[str, ...] = KINDS) -> dict:
    per_kind = -(-cases // len(kinds))
    table: dict[str, Counter] = defaultdict(Counter)
    signatures: dict[str, set] = defaultdict(set)
    started = time.time()
    for kind in kinds:
        for i in range(per_kind):
            case = make_case(kind, i, seed)
            outcome = run_case(case, cli=cli)
            table[kind][outcome.status] += 1
            table[kind]["loaded"] += outcome.signature == "loaded"
            if outcome.status != "clean":
                signatures[(kind, outcome.status)].add(outcome.signature)
                if save is not None:
                    _save(save, kind, i, case, outcome)
        log(f"{kind}: {dict(table[kind])} ({time.time() - started:.0f} s)")
    return {"table": {k: dict(v) for k, v in table.items()},
            "distinct": {f"{k}/{s}": sorted(v) for (k, s), v in signatures.items()}}


def _save(root: Path, kind: str, index: int, case, outcome) -> None:
    folder = root / f"{kind}-{index:05d}"
    folder.mkdir(parents=True, exist_ok=True)
    case.write(folder / "model")
    (folder / "outcome.json").write_text(json.dumps({"kind": kind, "index": index, "status": outcome.status,
                                                     "signature": outcome.signature, "history": case.history,
                                                     "invalid": case.invalid, "model": case.model}, indent=1))


def summary(result: dict) -> str:
    lines = [f"{'kind':10} {'cases':>6} {'clean':>6} {'(loaded)':>9} {'traceback (distinct)':>21} "
             f"{'accepted-invalid':>17}"]
    total = Counter()
    for kind in KINDS:
        row = Counter(result["table"].get(kind, {}))
        n = row["clean"] + row["traceback"] + row["accepted-invalid"]
        tb = len(result["distinct"].get(f"{kind}/traceback", []))
        lines.append(f"{kind:10} {n:6d} {row['clean']:6d} {row['loaded']:9d} {row['traceback']:15d} ({tb:3d}) "
                     f"{row['accepted-invalid']:17d}")
        total.update(row)
        total["cases"] += n
    tb = sum(len(v) for k, v in result["distinct"].items() if k.endswith("/traceback"))
    lines.append(f"{'all':10} {total['cases']:6d} {total['clean']:6d} {total['loaded']:9d} {total['traceback']:15d} "
                 f"({tb:3d}) {total['accepted-invalid']:17d}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=2400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cli", action="store_true")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--save-failures", type=Path)
    p.add_argument("--json", type=Path, help="write the result (counts and distinct signatures) here")
    args = p.parse_args(argv)
    result = run(args.cases, args.seed, cli=not args.no_cli, save=args.save_failures,
                 log=lambda s: print(s, file=sys.stderr, flush=True), kinds=tuple(args.kinds))
    print(summary(result))
    for key, sigs in sorted(result["distinct"].items()):
        print(f"\n{key}:")
        for s in sigs:
            print(f"  {s}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
