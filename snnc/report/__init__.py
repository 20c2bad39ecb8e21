"""`snnc report`: a picture of a compiled artifact, as one self-contained HTML page.

    from snnc.report import write_report
    write_report("out/m.loihi", "report.html")                                # from the files alone
    write_report("out/m.loihi", "report.html", model="m.snnir", inputs=x, labels=y)   # and runs

The page shows the cores (tiles) on the mesh coloured by load and activity and the traffic
between them, the per-layer quantisation error, float-vs-chip spike rasters around the first
divergence with per-layer agreement and the chip-vs-compiler result, the energy and latency
estimate, for a chip whose instances differ the accuracy over instances and time after
programming, and what the mapping approximated. **The artifact is the truth**: every number
comes from its files and manifest, from `snnc verify`, or from runs of the graph its
family's decoder rebuilds from the files (`Artifact.graph`).

    chip.py, layouts.py      the chip as units and routes, read from each family's file layout
    manifest.py              the manifest's statistics, estimate, approximations, Monte Carlo
    runs.py                  verify and the runs (rasters, activity, instances over time)
    gather.py                all of it, before any drawing
    mesh.py, figures.py      matplotlib figures (no pyplot)
    html.py, sections.py     the page

Drawing needs matplotlib, the optional `report` extra (`pip install -e ".[report]"`).
An output path ending in .html is one file with its images inside (data URIs); any other path
is a folder holding index.html and the images beside it.
"""
from __future__ import annotations

import re
from pathlib import Path

from snnc.errors import UsageError
from snnc.progress import SILENT

INSTALL = 'pip install -e ".[report]"'
FORMATS = ("png", "svg")
_OWN_FILE = re.compile(r"index\.html|[a-z0-9-]+\.(png|svg)")


def require_matplotlib() -> None:
    """Raise a UsageError naming the install command when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"snnc report draws with matplotlib, which is not installed: {INSTALL} "
                         f"(or pip install matplotlib)") from None


def write_report(artifact, output, model=None, inputs=None, labels=None, *, fmt: str = "png", instances: int = 8,
                 times=None, seed: int = 0, model_file=None, progress=SILENT) -> Path:
    """Gather, draw and write the report of `artifact` (an Artifact or its directory) at `output`."""
    from snnc.report.gather import gather
    from snnc.report.html import render
    if fmt not in FORMATS:
        raise UsageError(f"report image format {fmt!r}: expected one of {', '.join(FORMATS)}")
    require_matplotlib()
    out = Path(output)
    single = out.suffix.lower() in (".html", ".htm")
    _check_output(out, single)
    data = gather(artifact, model, inputs, labels, instances=instances, times=times, seed=seed,
                  model_file=model_file, progress=progress)
    progress.note("report: drawing")
    text, images = render(data, fmt=fmt, inline=single)
    path = _write(out, single, text, images)
    progress.advance()
    return path


def _check_output(out: Path, single: bool) -> None:
    """Refuse an output that would replace something other than a report."""
    if single:
        if out.is_dir():
            raise UsageError(f"{out}: is a directory; give a file name ending in .html, or a folder name "
                             f"without .html for a folder of images")
        return
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a directory (a report folder); give a new name, or one "
                         f"ending in .html for a single page")
    if out.is_dir():
        other = sorted(p.name for p in out.iterdir() if not (p.is_file() and _OWN_FILE.fullmatch(p.name)))
        if other:
            raise UsageError(f"{out}: holds {', '.join(other[:3])}{', ...' if len(other) > 3 else ''}, which a "
                             f"report does not write; not replacing it (choose an empty or new folder)")


def _write(out: Path, single: bool, text: str, images: dict[str, bytes]) -> Path:
    from snnc.fileio import replace_dir, write_file, write_new
    if single:
        write_file(out, text.encode("utf-8"))
        return out

    def fill(root: Path) -> None:
        write_new(root / "index.html", text.encode("utf-8"))
        for name, data in images.items():
            write_new(root / name, data)

    replace_dir(out, fill, check=lambda: _check_output(out, False))
    return out / "index.html"
