"""The report page: one HTML document with no scripts and nothing fetched, its figures embedded
(data URIs) or, for a report folder, beside it. Every number shown carries its exact value in a
`data-value` attribute, so a reader (or a test) can check it against the artifact."""
from __future__ import annotations

import base64
import html

import numpy as np

from snnc.report import figures
from snnc.report.chip import LOADS
from snnc.report.mesh import loads_figure, traffic_figure

MAX_ROWS = 200                  # rows of a long table (units, routes, statistics) shown in the page
MIME = {"png": "image/png", "svg": "image/svg+xml"}

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; font-size: 12px; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
img { max-width: 100%; display: block; margin: .6em 0; }
.note { color: #555; font-size: 12px; } .ok { color: #17702b; } .bad { color: #b00020; }
"""


class Page:
    """The page being written: its HTML lines and its images (name -> bytes)."""

    def __init__(self, fmt: str, inline: bool):
        self.fmt, self.inline = fmt, inline
        self.lines: list[str] = []
        self.images: dict[str, bytes] = {}

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def figure(self, name: str, fig, alt: str) -> None:
        data = figures.image(fig, self.fmt)
        file = f"{name}.{self.fmt}"
        self.images[file] = data
        src = f"data:{MIME[self.fmt]};base64,{base64.b64encode(data).decode('ascii')}" if self.inline else file
        self.add(f'<img src="{src}" alt="{esc(alt)}">')

    def note(self, text: str) -> None:
        self.add(f'<p class="note">{esc(text)}</p>')

    def table(self, header: list[str], rows: list[list], *, id: str = "") -> None:
        ident = f' id="{id}"' if id else ""
        self.add(f"<table{ident}><tr>" + "".join(f'<th class="text">{esc(h)}</th>' for h in header) + "</tr>")
        for row in rows[:MAX_ROWS]:
            self.add("<tr>" + "".join(cell(v) for v in row) + "</tr>")
        self.add("</table>")
        if len(rows) > MAX_ROWS:
            self.note(f"{MAX_ROWS} of {len(rows)} rows shown")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def cell(v) -> str:
    """A table cell: numbers right-aligned with their exact value in data-value, text left."""
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return f'<td class="text">{esc("" if v is None else v)}</td>'
    return f'<td data-value="{v!r}">{_short(v)}</td>'


def _short(v) -> str:
    if isinstance(v, int):
        return f"{v:,}".replace(",", "\u2009")
    return f"{v:.4g}" if abs(v) < 1e-3 or abs(v) >= 1e5 else f"{v:.4f}".rstrip("0").rstrip(".") or "0"


def render(data, *, fmt: str = "png", inline: bool = True) -> tuple[str, dict[str, bytes]]:
    """The page of a gathered report (`snnc.report.gather.ReportData`): (HTML text, images)."""
    from snnc.report import sections
    art = data.artifact
    p = Page(fmt, inline)
    title = f"snnc report: {art.path or 'artifact'} ({art.target_name})"
    p.add("<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(title)}</title>",
          f"<style>{STYLE}</style></head><body>", f"<h1>{esc(title)}</h1>")
    for part in (sections.headline, chip, sections.quantisation, sections.runs, sections.estimate,
                 sections.instances, sections.approximations):
        part(p, data)
    p.add("</body></html>")
    return p.text(), p.images


def chip(p: Page, data) -> None:
    """The mesh coloured by load and activity, the traffic between units, and their tables."""
    p.add('<section id="chip"><h2>Cores on the mesh: load and traffic</h2>')
    view, t = data.view, data.artifact.target
    if view is None:
        p.note(data.notes[0] if data.notes else "no map")
        p.add("</section>")
        return
    p.note(f"read from {view.layout}; loads are counts over the limits the artifact states (or the installed "
           f"target's); activity is spikes per tick, mean over the samples, of a run of the decoded artifact")
    p.figure("chip-loads", loads_figure(view, t.mesh, t.cores_per_tile, data.activity), "load of every unit")
    if view.routes:
        p.figure("chip-traffic", traffic_figure(view, data.activity), "routes")
    for n in view.notes:
        p.note(n)
    act = data.activity
    rows = [[u.index, "/".join(map(str, u.position)), u.label]
            + [x for k in LOADS for x in ((u.loads[k].value, 100 * u.loads[k].fraction) if k in u.loads else ("", ""))]
            + ([act.per_unit.get(u.index, 0.0)] if act else []) for u in view.units]
    header = [view.unit, "chip/row/col/slot", "holds"] + [h for k in LOADS for h in (k, f"{k} %")]
    p.table(header + (["spikes/tick"] if act else []), rows, id="units")
    routes = sorted(view.routes, key=lambda r: (act.per_route[(r.src, r.dst)] if act else r.axons), reverse=True)
    p.table(["from", "to", "axons", "not from a layer neuron"] + (["spikes/tick"] if act else []),
            [[r.src, r.dst, r.axons, r.unattributed] + ([act.per_route[(r.src, r.dst)]] if act else [])
             for r in routes], id="routes")
    p.add("</section>")
