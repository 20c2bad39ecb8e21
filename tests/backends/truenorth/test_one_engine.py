"""One .snnir source compiled for loihi and for truenorth runs through the same interpreter
engine and host driver; no shared code branches on a target's name."""
import re
from pathlib import Path

import numpy as np

import snnc
from snnc.ir.text import save_snnir
from snnc.targets import all_targets
from tests.backends.truenorth.nets import chain, rates, ternary

SHARED = Path(snnc.__file__).parent          # snnc/: ir, interp, passes, targets, api, verify, artifact, cli


def test_one_snnir_source_runs_for_both_families_through_one_engine(tmp_path):
    rng = np.random.default_rng(5)
    save_snnir(chain([ternary(rng, 12, 16), ternary(rng, 6, 12)], theta=2.0), tmp_path / "net.snnir")
    x = rates(40, 3, 16, p=0.4)
    y = snnc.simulate(tmp_path / "net.snnir", x)
    runs = {}
    for target in ("loihi", "truenorth"):
        art = snnc.compile(tmp_path / "net.snnir", target)
        assert art.manifest["target"]["family"] == target and snnc.verify(art).ok
        art.save(tmp_path / target)
        runs[target] = snnc.simulate(tmp_path / target, x)          # the same engine runs both dialects
    assert y.sum() > 10
    for target, out in runs.items():
        assert out.shape == y.shape and np.array_equal(out, y), target   # exact integers: spike for spike


def test_shared_code_never_branches_on_a_target_or_family_name():
    names = sorted({t.name for t in all_targets().values()} | {t.family for t in all_targets().values()},
                   key=len, reverse=True)
    quoted = "|".join(re.escape(n) for n in names)
    branch = re.compile(rf"""(==|!=|\bin\b|startswith\(|endswith\()\s*[\(\[{{]?\s*["'](?:{quoted})["']"""
                        rf"""|["'](?:{quoted})["']\s*(==|!=|\bin\b)""")
    found = []
    for path in sorted(SHARED.rglob("*.py")):
        if "backends" in path.parts or "frontends" in path.parts:
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if branch.search(code):
                found.append(f"{path.relative_to(SHARED.parent)}:{i}: {line.strip()}")
    assert not found, "shared code branches on a target name:\n" + "\n".join(found)
