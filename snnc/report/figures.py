"""The report's charts other than the chip map: quantisation error per layer, float-vs-chip
spike rasters, per-layer agreement, the energy and latency estimate, and accuracy over chip
instances and time. Each takes data gathered elsewhere and returns a matplotlib Figure
(no pyplot, so no global state); `image` turns one into bytes."""
from __future__ import annotations

import io

import numpy as np

MAX_LAYERS = 40                 # layers drawn in a per-layer chart (the table has them all)


def image(fig, fmt: str) -> bytes:
    """`fig` as PNG or SVG bytes, without a creation date (the same data give the same image)."""
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else {}
    fig.savefig(buf, format=fmt, dpi=110, metadata=meta)
    return buf.getvalue()


def _figure(w: float, h: float):
    from matplotlib.figure import Figure
    return Figure(figsize=(w, h), layout="constrained")


def quantisation_figure(errors):
    """Horizontal bars, one group per layer, one bar per (pass, statistic), each labelled with its
    value; log scale (a zero shows as its label alone)."""
    from matplotlib.ticker import NullFormatter
    layers = list(dict.fromkeys(e.layer for e in errors))[:MAX_LAYERS]
    series = list(dict.fromkeys((e.pass_name, e.metric) for e in errors))
    fig = _figure(7.5, 1.2 + 0.22 * len(layers) * max(1, min(len(series), 5)))
    ax = fig.subplots()
    height = 0.8 / max(1, len(series))
    value = {(e.layer, e.pass_name, e.metric): e.value for e in errors}
    positive = [e.value for e in errors if e.value > 0]
    floor = min(positive, default=1e-6) / 3
    for k, (p, m) in enumerate(series):
        shown = [(i, value[(l, p, m)]) for i, l in enumerate(layers) if (l, p, m) in value]
        ax.barh([i + k * height for i, _ in shown], [v if v > 0 else 0 for _, v in shown],
                       left=floor, height=height, label=f"{p}: {m}")
        for i, v in shown:
            ax.text(floor + v, i + k * height, f" {v:.3g}", va="center", fontsize=6)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(layers))], layers, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(floor, max(positive, default=1.0) * 20)
    ax.set_xlabel("relative error (as the pass states it)", fontsize=8)
    ax.legend(fontsize=6, loc="lower right")
    ax.set_title("quantisation and mapping error per layer (manifest pass statistics)", fontsize=9)
    return fig


def raster_figure(comparison, window):
    """Float (left dot) and chip (right dot) spikes of one layer and sample around the first
    divergence, differences ringed; beside it every layer's spikes per tick for that sample."""
    f = comparison.float_spikes[window.layer][window.t0:window.t1, window.sample, window.n0:window.n1]
    c = comparison.chip_spikes[window.layer][window.t0:window.t1, window.sample, window.n0:window.n1]
    fig = _figure(10.0, 4.0)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    for spikes, dx, colour, name in ((f, -0.18, "tab:blue", "float model"), (c, 0.18, "tab:orange", "chip")):
        t, n = np.nonzero(spikes)
        left.scatter(window.t0 + t + dx, window.n0 + n, s=9, marker="s", color=colour, label=name)
    t, n = np.nonzero(f != c)
    left.scatter(window.t0 + t, window.n0 + n, s=70, facecolors="none", edgecolors="red", lw=0.8,
                 label="differ")
    left.set_xlim(window.t0 - 0.6, window.t1 - 0.4)
    left.set_ylim(window.n0 - 0.6, window.n1 - 0.4)
    left.set_xlabel("tick (source model's timeline)", fontsize=8)
    left.set_ylabel(f"neuron of {window.layer}", fontsize=8)
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=3, frameon=False)
    what = "first divergence" if window.diverged else "no divergence: the start of the run"
    left.set_title(f"layer {window.layer}, sample {window.sample}: {what}", fontsize=9)
    for layer in list(comparison.float_spikes)[:8]:
        line = right.plot(comparison.float_spikes[layer][:, window.sample].sum(axis=1), lw=1, label=layer)[0]
        right.plot(comparison.chip_spikes[layer][:, window.sample].sum(axis=1), lw=1, ls="--",
                   color=line.get_color())
    right.axvspan(window.t0 - 0.5, window.t1 - 0.5, color="0.9")
    right.set_xlabel("tick", fontsize=8)
    right.set_ylabel("spikes per tick (solid float, dashed chip)", fontsize=8)
    right.legend(fontsize=6)
    right.set_title(f"every layer, sample {window.sample}", fontsize=9)
    return fig


def agreement_figure(layers: list[dict]):
    """Spike agreement per layer, from verify's comparison."""
    shown = layers[:MAX_LAYERS]
    fig = _figure(6.5, 1.0 + 0.3 * len(shown))
    ax = fig.subplots()
    values = [l["agreement"] for l in shown]
    ax.barh(range(len(shown)), values, color="tab:green")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.4f}", va="center", fontsize=7)
    ax.set_yticks(range(len(shown)), [l["population"] for l in shown], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(min(values + [0.9]) - 0.02, 1.06)
    ax.set_xlabel("spike agreement (fraction of tick, sample, neuron with the same spike)", fontsize=8)
    ax.set_title("chip vs float model, per layer (snnc verify)", fontsize=9)
    return fig


UNITS = ("_pj", "_uj", "_nj", "_mw", "_ns", "_us", "_ms", "_s")


def work_counts(per_tick: dict[str, float]) -> dict[str, float]:
    """The estimate's per-tick figures that count work (events, spikes, reads), not energy or time."""
    return {k: v for k, v in per_tick.items() if not k.endswith(UNITS)}


def estimate_figure(est):
    """The work per tick the estimate is built from (one bar per manifest count), with the
    energy and time per inference it comes to in the title."""
    counts = work_counts(est.per_tick)
    fig = _figure(7.0, 1.2 + 0.35 * len(counts))
    ax = fig.subplots()
    keys = list(counts)
    ax.barh(range(len(keys)), [counts[k] for k in keys], color="tab:purple")
    for i, k in enumerate(keys):
        ax.text(counts[k], i, f" {counts[k]:.4g}", va="center", fontsize=7)
    ax.set_yticks(range(len(keys)), keys, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, max(counts.values(), default=1) * 1.25 or 1)
    per = ", ".join(f"{k} {v:.4g}" for k, v in est.per_inference.items())
    ax.set_title(f"work per tick (manifest estimate); per inference: {per}", fontsize=8)
    return fig


def accuracy_figure(acc):
    """Accuracy of every chip instance at each time after programming: points, box, mean."""
    fig = _figure(6.5, 3.2)
    ax = fig.subplots()
    pos = np.arange(len(acc.times))
    ax.boxplot(acc.accuracy, positions=pos, widths=0.5, showfliers=False)
    for i, a in enumerate(acc.accuracy):
        jitter = np.linspace(-0.15, 0.15, len(a)) if len(a) > 1 else np.zeros(1)
        ax.scatter(i + jitter, a, s=10, color="tab:blue", alpha=0.7, zorder=3)
    ax.plot(pos, [float(np.mean(a)) for a in acc.accuracy], color="tab:red", marker="o", lw=1, label="mean")
    if acc.ideal is not None:
        ax.axhline(acc.ideal, color="0.4", ls=":", lw=1, label=f"ideal chip {acc.ideal:.4f}")
    ax.set_xticks(pos, [_duration(t) for t in acc.times], fontsize=7)
    ax.set_xlabel("time after programming", fontsize=8)
    ax.set_ylabel(f"accuracy vs {acc.reference}", fontsize=8)
    ax.legend(fontsize=7)
    n = len(acc.accuracy[0]) if acc.accuracy else 0
    ax.set_title(f"accuracy over {n} chip instances ({acc.source})", fontsize=8)
    return fig


def _duration(seconds: float) -> str:
    for unit, size in (("y", 365 * 86400.0), ("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"
