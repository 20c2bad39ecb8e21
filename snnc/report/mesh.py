"""Drawing the chip: every core (tile) at its mesh position, coloured by each load and by its
activity, and the routes between them. Draws a `ChipView` (`snnc.report.chip`) only."""
from __future__ import annotations

import math

import numpy as np

from snnc.report.chip import LOADS, Activity, ChipView

MAX_ROUTES = 400                # the routes drawn, busiest first (all are in the page's table)
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
    """Each unit's number in its cell (black on a white outline, legible on any colour), when few."""
    from matplotlib.patheffects import withStroke
    if len(geo.cells) > MAX_LABELS:
        return
    for k, (y, x) in geo.cells.items():
        ax.text(x, y, str(k), ha="center", va="center", fontsize=6,
                path_effects=[withStroke(linewidth=1.5, foreground="white")])


def _panel(ax, geo: Geometry, values: dict[int, float], title: str, *, cmap: str, label: str):
    grid = geo.grid(values)
    top = float(np.nanmax(grid)) if np.isfinite(grid).any() else 0.0
    im = ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=top if top > 0 else 1.0, interpolation="nearest")
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


def loads_figure(view: ChipView, mesh, per_tile: int, activity: Activity | None = None):
    """One map per load (percent of the limit), and one of activity when a run was made."""
    from matplotlib.figure import Figure
    geo = Geometry(view, mesh, per_tile)
    panels = len(LOADS) + (activity is not None)
    fig = Figure(figsize=(3.4 * panels, 3.2), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for ax, kind in zip(axes, LOADS):
        loads = {u.index: u.loads[kind] for u in view.units if kind in u.loads}
        worst = max(loads.values(), key=lambda l: l.fraction, default=None)
        title = kind if worst is None else f"{kind}: max {100 * worst.fraction:.3g}%\nof {worst.limit:g} {worst.what}"
        _panel(ax, geo, {k: 100 * l.fraction for k, l in loads.items()}, title, cmap="viridis",
               label="% of the limit")
    if activity is not None:
        _panel(axes[-1], geo, activity.per_unit, f"activity ({activity.ticks} ticks x {activity.batch} samples)",
               cmap="magma", label="spikes per tick")
    fig.suptitle(f"{len(view.units)} {view.unit}(s) on the mesh ({geo.extent_text()})", fontsize=10)
    return fig


def traffic_figure(view: ChipView, mesh, per_tile: int, activity: Activity | None = None):
    """Routes between units: width by axons; colour by spikes per tick when a run was made."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    geo = Geometry(view, mesh, per_tile)
    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.imshow(geo.grid({u.index: 1.0 for u in view.units}), cmap="Greys", vmin=0, vmax=3, interpolation="nearest")
    weight = (lambda r: activity.per_route[(r.src, r.dst)]) if activity else (lambda r: r.axons)
    between = sorted((r for r in view.routes if r.src != r.dst), key=weight, reverse=True)[:MAX_ROUTES]
    top = max((weight(r) for r in between), default=0) or 1
    norm, cmap = Normalize(0, top), colormaps["plasma"]
    widest = max((r.axons for r in between), default=1)
    for r in reversed(between):
        (y0, x0), (y1, x1) = geo.cells[r.src], geo.cells[r.dst]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", lw=0.5 + 3.0 * r.axons / widest,
                                    color=cmap(norm(weight(r))), shrinkA=3, shrinkB=3,
                                    connectionstyle="arc3,rad=0.15"))
    _numbers(ax, geo)
    ax.set_xticks([])
    ax.set_yticks([])
    bar = fig.colorbar(ScalarMappable(norm, cmap), ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("spikes per tick" if activity else "axons", fontsize=7)
    local = sum(1 for r in view.routes if r.src == r.dst)
    shown = f"{len(between)} route(s) between {view.unit}s" + (f", {local} within one" if local else "")
    ax.set_title(f"traffic: {shown}; arrow width: axons", fontsize=9)
    return fig
