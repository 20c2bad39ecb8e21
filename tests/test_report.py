"""snnc report: a page rendered for an artifact of every target, with each section present and
the numbers it shows equal to the artifact's files, verify's report and independent runs."""
import base64
import html
import re
from html.parser import HTMLParser

import numpy as np
import pytest

import snnc
from snnc.report import write_report
from tests.golden.artifacts import CASES, compile_case
from tests.netbuild import spikes

pytest.importorskip("matplotlib")            # the optional `report` extra

T, B = 12, 6


class Tables(HTMLParser):
    """The page's tables by id (rows of cells: data-value when present, else the text), every
    section id, image source and element name."""

    def __init__(self, text: str):
        super().__init__()
        self.tables, self.sections, self.images, self.tags = {}, [], [], set()
        self._table = self._row = None
        self._value, self._cell = None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self.sections.append(a.get("id"))
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "table":
            self._table = self.tables.setdefault(a.get("id", f"t{len(self.tables)}"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._value, self._cell = a.get("data-value"), True
            self._row.append(self._value if self._value is not None else "")

    def handle_data(self, data):
        if self._cell and self._value is None:
            self._row[-1] += data

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th"):
            self._value, self._cell = None, False


def _rows(page: Tables, table: str) -> list[list[str]]:
    return page.tables[table][1:]                 # without the header


@pytest.fixture(scope="module", params=sorted(CASES))
def rendered(request, tmp_path_factory):
    """Each target's golden net compiled, reported with runs; (case, artifact, page, verify report, x)."""
    case = request.param
    root = tmp_path_factory.mktemp(f"report-{case}")
    art = compile_case(case)
    art.save(root / "art")
    graph = CASES[case][0]()
    x = spikes(T, B, 6, seed=3)
    labels = np.arange(B) % 3
    out = write_report(root / "art", root / "report.html", model=graph, inputs=x, labels=labels, instances=3,
                       times=[3600.0, 86400.0])
    report = snnc.verify(snnc.load_artifact(root / "art"), model=graph, inputs=x, labels=labels)
    return case, snnc.load_artifact(root / "art"), Tables(out.read_text()), report, x, labels


def test_every_section_is_there_and_the_page_fetches_nothing(rendered):
    case, art, page, _, _, _ = rendered
    expected = ["summary", "chip", "quantisation", "runs", "estimate", "approximations"]
    if art.backend.stochastic:
        expected.insert(5, "instances")
    assert page.sections == expected
    assert not page.tags & {"script", "link", "iframe", "object"}
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert all(base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" for src in page.images)


def test_units_and_their_loads_are_the_files(rendered):
    case, art, page, _, _, _ = rendered
    units = _rows(page, "units")
    m = art.manifest
    if "tiles.json" in art.files:
        tiles = art.json("tiles.json")["tiles"]
        assert len(units) == len(tiles) == m["resources"]["tiles"]
        xb = art.target.crossbar
        for row, t in zip(units, tiles):
            assert int(row[0]) == t["tile"] and float(row[3]) == t["physical_cols"]
            assert float(row[5]) == t["physical_rows"] * t["physical_cols"]
        cells = sum(float(r[5]) for r in units) / (len(units) * xb.rows * xb.cols)
        assert cells == pytest.approx(m["resources"]["cell_utilisation"], rel=1e-12)
    else:
        cores = sorted(n for n in art.files if re.fullmatch(r"cores/core_\d+\.json", n))
        assert len(units) == len(cores) == m["resources"]["cores"]
        for row, name in zip(units, cores):
            meta = art.json(name)
            assert int(row[0]) == meta["core"] and float(row[3]) == meta["resources"]["neurons"]
            limit = m["resources"]["limits"]["neurons"]
            assert float(row[4]) == pytest.approx(100 * meta["resources"]["neurons"] / limit)
    headline = {r[0]: r[1] for r in _rows(page, "headline")}
    assert headline["target"] == art.target_name


def test_agreement_and_the_compiler_check_are_verify_s(rendered):
    case, art, page, report, _, _ = rendered
    rows = _rows(page, "agreement")
    layers = report.comparison.layers
    assert [r[0] for r in rows] == [l["population"] for l in layers]
    assert [float(r[4]) for r in rows] == [l["agreement"] for l in layers]
    assert [int(r[5]) for r in rows] == [l["float_spikes"] for l in layers]
    assert [int(r[6]) for r in rows] == [l["chip_spikes"] for l in layers]
    outs = {r[0]: float(r[2]) for r in _rows(page, "outputs")}
    assert outs == {k: o["count_agreement"] for k, o in report.comparison.outputs.items()}
    acc = _rows(page, "accuracy")[0]
    assert [float(v) for v in acc[1:]] == [report.comparison.accuracy[k] for k in ("float", "chip", "drop")]


def test_activity_counts_the_chip_run_s_spikes(rendered):
    """Every layer neuron sits on exactly one unit (copies of it count again): the units' spikes per
    tick add up to the chip run's spikes over the run, at least."""
    case, art, page, report, x, _ = rendered
    per_unit = sum(float(r[-1]) for r in _rows(page, "units"))
    total = sum(l["chip_spikes"] for l in report.comparison.layers) / (T * B)
    if case == "truenorth":
        assert per_unit >= total > 0           # fan-out copies spike with the neuron they copy
    else:
        assert per_unit == pytest.approx(total, rel=1e-12) and total > 0


def test_quantisation_errors_and_estimate_are_the_manifest_s(rendered):
    case, art, page, _, _, _ = rendered
    m = art.manifest
    shown = {(r[0], r[1], r[2]): float(r[3]) for r in _rows(page, "errors")}
    stats = {p["name"]: p["stats"] for p in m["passes"]}
    assert shown                                            # every target states some per-layer error
    for (name, layer, metric), value in shown.items():
        table = next(t for t in ("per_layer", "per_population", "per_node") if layer in stats[name].get(t, {}))
        assert stats[name][table][layer][metric] == value
    est = {r[0]: float(r[1]) for r in _rows(page, "estimate-table")}
    assert est["per inference: energy_uj"] == m["estimate"]["per_inference"]["energy_uj"]


def test_instances_of_an_analog_chip_are_runs_of_the_artifact(rendered):
    case, art, page, _, x, labels = rendered
    if not art.backend.stochastic:
        assert "instances-0-table" not in page.tables
        return
    rows = _rows(page, "instances-0-table")
    assert [float(r[0]) for r in rows] == [3600.0, 86400.0]
    y = snnc.simulate(art, x, chip_instances=3, seed=0)                  # compiled for 3600 s
    first = [float(np.mean(y[i].sum(axis=0).argmax(axis=1) == labels)) for i in range(3)]
    assert float(rows[0][2]) == pytest.approx(np.mean(first), abs=1e-12)
    assert [float(rows[0][k]) for k in (4, 5)] == [min(first), max(first)]


def test_a_recorded_monte_carlo_is_drawn_from_the_manifest(tmp_path):
    graph = CASES["analog"][0]()
    x, labels = spikes(T, 10, 6, seed=5), np.arange(10) % 3
    art = snnc.compile(graph, "analog", emit={"data": (x, labels), "instances": 4, "times": [3600, 86400]})
    art.save(tmp_path / "mc")
    page = Tables(write_report(tmp_path / "mc", tmp_path / "mc.html").read_text())
    rows = _rows(page, "instances-0-table")
    results = art.manifest["monte_carlo"]["results"]
    assert [float(r[0]) for r in rows] == [r["t_inference"] for r in results]
    assert [float(r[2]) for r in rows] == [r["mean"] for r in results]
    assert [float(r[3]) for r in rows] == [r["p5"] for r in results]


def test_a_tile_map_the_report_cannot_read_leaves_the_map_out_and_shows_verify_s_verdict(tmp_path):
    from tests.artifact_edit import edit_json
    art = edit_json(compile_case("analog"), "tiles.json", lambda d: d["tiles"][1].pop("physical_cols"))
    art.save(tmp_path / "bad")
    graph = CASES["analog"][0]()
    text = write_report(tmp_path / "bad", tmp_path / "bad.html", model=graph, inputs=spikes(T, B, 6)).read_text()
    page = Tables(text)
    assert "units" not in page.tables
    why = "the map is left out: the files do not hold what tile_map reads (KeyError(&#x27;physical_cols&#x27;))"
    assert why in text
    assert '<p class="bad" id="verdict">snnc verify: FAILED</p>' in text
    violations = snnc.verify(snnc.load_artifact(tmp_path / "bad")).violations
    assert violations and all(html.escape(str(d)) in text for d in violations)
    assert page.sections == ["summary", "chip", "quantisation", "runs", "estimate", "instances", "approximations"]


def test_an_edited_weight_shows_as_a_chip_that_differs_from_the_compiler(tmp_path):
    """Mutation: every synapse weight of a core file negated (digests updated) makes the page report
    the chip against the compiler as differing, as verify does."""
    from tests.artifact_edit import edit_arrays
    art = compile_case("loihi1")
    art = edit_arrays(art, "cores/core_0000.npz", lambda a: a["synapse.weight"].__imul__(-1))
    art.save(tmp_path / "edited")
    graph, x = CASES["loihi1"][0](), spikes(T, B, 6, seed=4)
    text = write_report(tmp_path / "edited", tmp_path / "e.html", model=graph, inputs=x).read_text()
    check = snnc.verify(snnc.load_artifact(tmp_path / "edited"), model=graph, inputs=x).lowering
    assert check.differences > 0
    assert (f'<p id="lowering">chip vs compiler: DIFFERS in {check.differences} value(s) over {T} ticks x {B} '
            f'samples</p>') in text
