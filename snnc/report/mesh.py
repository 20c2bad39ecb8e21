"""Drawing the chip: every core (tile) at its mesh position, coloured by each load and by its
activity, and the traffic between them as a source-by-destination matrix. Draws a `ChipView`
(`snnc.report.chip`) only."""
from __future__ import annotations

import math

import numpy as np

from snnc.report.chip import LOADS, Activity, ChipView

MAX_LABELS = 64                 # units numbered in their cell when no more are shown


class Geometry:
    """Where each unit's cell lies in one picture of the used chips: tiles of `per_tile` slots
    (a near-square block of cells), chips side by side, cropped to the tiles in use."""

    def __init__(self, view: ChipView, mesh: tuple[int, int], per_tile: int):
        self.sr = max(1, int(math.isqrt(per_tile)))
        self.sc = max(1, math.ceil(per_tile / self.sr))
        self.cols = mesh[1]
        cells = {u.index: self._cell(u.position) for u in view.units}
        ys, xs = [c[0] for c in cells.values()] or [0], [c[1] for c in cells.values()] or [0]
        self.y0, self.x0 = (min(ys) // self.sr) * self.sr, (min(xs) // self.sc) * self.sc
        self.height = (max(ys) // self.sr + 1) * self.sr - self.y0
        self.width = (max(xs) // self.sc + 1) * self.sc - self.x0
        self.cells = {k: (y - self.y0, x - self.x0) for k, (y, x) in cells.items()}
        self.strip = self.width > 4 * self.height        # a long row of units: draw the panels stacked

    def _cell(self, pos) -> tuple[int, int]:
        chip, row, col, slot = pos
        return row * self.sr + slot // self.sc, (chip * (self.cols + 1) + col) * self.sc + slot % self.sc

    def grid(self, values: dict[int, float]) -> np.ndarray:
        g = np.full((self.height, self.width), np.nan)
        for k, v in values.items():
            y, x = self.cells[k]
            g[y, x] = v
        return g

    def extent_text(self) -> str:
        return f"tile rows {self.y0 // self.sr}-{(self.y0 + self.height) // self.sr - 1}, " \
               f"columns {self.x0 // self.sc}-{(self.x0 + self.width) // self.sc - 1}"


def _numbers(ax, geo: Geometry) -> None:
    """Each unit's number in its cell (black on a white outline, legible on any colour), when
    few enough to read."""
    from matplotlib.patheffects import withStroke
    if len(geo.cells) > MAX_LABELS or geo.width > 24:
        return
    for k, (y, x) in geo.cells.items():
        ax.text(x, y, str(k), ha="center", va="center", fontsize=6,
                path_effects=[withStroke(linewidth=1.5, foreground="white")])


def _panel(ax, geo: Geometry, values: dict[int, float], title: str, *, cmap: str, label: str):
    grid = geo.grid(values)
    top = float(np.nanmax(grid)) if np.isfinite(grid).any() else 0.0
    im = ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=top if top > 0 else 1.0, interpolation="nearest",
                   aspect="auto" if geo.strip else "equal")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    for y in np.arange(0, geo.height + 1, geo.sr) - 0.5:
        ax.axhline(y, color="0.75", lw=0.4)
    for x in np.arange(0, geo.width + 1, geo.sc) - 0.5:
        ax.axvline(x, color="0.75", lw=0.4)
    _numbers(ax, geo)
    bar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=6)


def _count(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def loads_figure(view: ChipView, mesh, per_tile: int, activity: Activity | None = None):
    """One map per load (percent of the limit), and one of activity when a run was made: side by
    side, or stacked when the units used form a long strip of the mesh."""
    from matplotlib.figure import Figure
    geo = Geometry(view, mesh, per_tile)
    panels = len(LOADS) + (activity is not None)
    rows, cols = (panels, 1) if geo.strip else (1, panels)
    size = (10.0, 1.0 + 1.3 * panels) if geo.strip else (3.4 * panels, 3.2)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, kind in zip(axes, LOADS):
        loads = {u.index: u.loads[kind] for u in view.units if kind in u.loads}
        worst = max(loads.values(), key=lambda l: l.fraction, default=None)
        gap = " " if geo.strip else "\n"
        title = kind if worst is None else \
            f"{kind}: max {100 * worst.fraction:.3g}%{gap}of {_count(worst.limit)} {worst.what}"
        _panel(ax, geo, {k: 100 * l.fraction for k, l in loads.items()}, title, cmap="viridis",
               label="% of the limit")
    if activity is not None:
        _panel(axes[-1], geo, activity.per_unit, f"activity ({activity.ticks} ticks x {activity.batch} samples)",
               cmap="magma", label="spikes per tick")
    fig.suptitle(f"{len(view.units)} {view.unit}(s) on the mesh ({geo.extent_text()})", fontsize=10)
    return fig


def traffic_figure(view: ChipView, activity: Activity | None = None):
    """The routes as a matrix, source unit by destination unit: spikes per tick carried when a run
    was made (grey where a route carries only neurons a run does not record), else axons (messages
    per spike)."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    index = {u.index: i for i, u in enumerate(view.units)}
    weight = (lambda r: activity.per_route[(r.src, r.dst)]) if activity else (lambda r: float(r.axons))
    m, unknown = np.full((len(index), len(index)), np.nan), np.full((len(index), len(index)), np.nan)
    for r in view.routes:
        if r.src in index and r.dst in index and weight(r) > 0:
            m[index[r.src], index[r.dst]] = weight(r)
        elif r.src in index and r.dst in index and activity and r.unattributed:
            unknown[index[r.src], index[r.dst]] = 1.0
    side = min(7.0, 2.5 + 0.12 * len(index))
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.subplots()
    top = np.nanmax(m) if np.isfinite(m).any() else 1.0
    low = np.nanmin(m) if np.isfinite(m).any() else 1.0
    im = ax.imshow(m, cmap="plasma", norm=LogNorm(low, top) if top > low else None, interpolation="nearest")
    if np.isfinite(unknown).any():
        ax.imshow(unknown, cmap="Greys", vmin=0, vmax=3, interpolation="nearest")
    labels = [str(u.index) for u in view.units]
    step = max(1, len(labels) // 24)
    ax.set_xticks(range(0, len(labels), step), labels[::step], fontsize=6, rotation=90)
    ax.set_yticks(range(0, len(labels), step), labels[::step], fontsize=6)
    ax.set_xlabel(f"to {view.unit}", fontsize=8)
    ax.set_ylabel(f"from {view.unit}", fontsize=8)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("spikes per tick" if activity else "axons", fontsize=7)
    local = sum(1 for r in view.routes if r.src == r.dst)
    grey = "; grey: none recorded (it carries neurons of no layer)" if np.isfinite(unknown).any() else ""
    ax.set_title(f"traffic: {len(view.routes) - local} route(s) between {view.unit}s"
                 + (f", {local} within one (diagonal)" if local else "") + grey, fontsize=9)
    return fig
