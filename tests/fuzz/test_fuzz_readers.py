"""Mutation fuzzing of every reader against the contract in `contract.py`.

Default suite: a fixed number of derandomized hypothesis examples per input kind (a few
seconds each). `slow`: the full campaign of `campaign.py` (2400 cases). Corpus: one case
for each distinct failure (signature) the campaign found in the text, NIR and ONNX readers
before they were hardened, packed under `corpus/` and replayed here; each must now be clean.
"""
from __future__ import annotations

import json
import random
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.contract import run_case
from tests.fuzz.mutate import mutate
from tests.fuzz.seeds import KINDS, Case, seeds

EXAMPLES = 24                # per kind in the default suite
CORPUS = Path(__file__).parent / "corpus"


def check(case: Case) -> None:
    outcome = run_case(case)
    assert outcome.status == "clean", (f"{case.kind} after {' / '.join(case.history)}: {outcome.status}: "
                                       f"{outcome.signature}")


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_inputs_keep_the_contract(kind, data):
    pick = data.draw(st.integers(0, len(seeds()[kind]) - 1), label="seed")
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="rng"))
    count = data.draw(st.integers(1, 3), label="mutations")
    check(mutate(seeds()[kind][pick], rng, count))


@pytest.mark.parametrize("kind", KINDS)
def test_the_seeds_load_and_their_emptied_files_are_refused(kind, tmp_path):
    """The checker's two sides: every seed loads (status clean, a graph returned), and the
    same files emptied are refused with an SnncError."""
    from snnc.api import load
    from snnc.errors import SnncError
    for case in seeds()[kind]:
        assert run_case(case).signature == "loaded" and not case.invalid
    seed = seeds()[kind][0]
    path = Case(kind, {name: b"" for name in seed.files}, seed.model).write(tmp_path)
    with pytest.raises(SnncError):
        load(str(path))


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.tar.gz"))


@pytest.mark.parametrize("entry", _corpus(), ids=lambda p: p.name.removesuffix(".tar.gz"))
def test_corpus_of_fixed_failures_stays_fixed(entry, tmp_path):
    """Each entry packs one case that failed before the readers were hardened: its files
    (model/..., outside/...) and what it did then (outcome.json)."""
    with tarfile.open(entry) as tar:
        tar.extractall(tmp_path, filter="data")
    info = json.loads((tmp_path / "outcome.json").read_text())
    files = {}
    for sub, prefix in (("model", ""), ("outside", "../outside/")):
        for p in sorted((tmp_path / sub).rglob("*")) if (tmp_path / sub).exists() else ():
            if p.is_symlink():
                files[prefix + str(p.relative_to(tmp_path / sub))] = b"@symlink:" + str(p.readlink()).encode()
            elif p.is_file():
                files[prefix + str(p.relative_to(tmp_path / sub))] = p.read_bytes()
    check(Case(info["kind"], files, info["model"], info.get("invalid", ""), tuple(info.get("history", ()))))


def test_corpus_covers_every_reader():
    kinds = {p.name.rsplit("-", 1)[0] for p in _corpus()}
    assert kinds == {"snnir", "snnir+npz", "nir", "onnx-step", "onnx-ann"}, kinds


@pytest.mark.slow
def test_full_campaign_keeps_the_contract():
    from tests.fuzz.campaign import run, summary
    result = run(2400)
    failures = {k: v for k, v in result["distinct"].items()}
    assert not failures, summary(result) + "\n" + json.dumps(failures, indent=1)
