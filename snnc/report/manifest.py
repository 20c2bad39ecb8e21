"""What the report reads from an artifact's manifest: its headline resources, the per-layer
quantisation error in the pass statistics, the energy and latency estimate, the approximations
and the Monte Carlo accuracy a compile recorded. Nothing here computes a figure: each value is
the manifest's own, found by the shape of the data (the envelope in `snnc.artifact`, the
families' sections in `backends/*/FORMAT.md`)."""
from __future__ import annotations

from dataclasses import dataclass

from snnc.errors import MalformedInputError

PER_LAYER = ("per_layer", "per_population", "per_node")     # pass statistics kept per source layer


@dataclass(frozen=True)
class ErrorStat:
    """One per-layer error figure of one pass: `value` of statistic `metric` for `layer`."""

    pass_name: str
    layer: str
    metric: str
    value: float


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_error(metric: str) -> bool:
    """A statistic that measures a departure: a relative figure or an error (e.g. weight_rel_rms,
    threshold_rel_max, leak_rel_error_max), not a count or a setting."""
    return "rel" in metric.split("_") or "error" in metric


def quantisation_errors(manifest: dict) -> list[ErrorStat]:
    """Every per-layer error statistic of every pass, in pass order (`PER_LAYER` tables)."""
    out = []
    for p in _list(manifest, "passes"):
        stats = p.get("stats") if isinstance(p, dict) else None
        for table in PER_LAYER:
            layers = stats.get(table) if isinstance(stats, dict) else None
            if not isinstance(layers, dict):
                continue
            for layer, figures in layers.items():
                if isinstance(figures, dict):
                    out += [ErrorStat(p["name"], layer, k, float(v)) for k, v in figures.items()
                            if is_number(v) and _is_error(k)]
    return out


def _list(manifest: dict, key: str) -> list:
    value = manifest.get(key, [])
    if not isinstance(value, list):
        raise MalformedInputError(f"'{key}' is {type(value).__name__}, expected a list", file="manifest.json")
    return value


def numbers(section) -> dict[str, float]:
    """The numeric leaves of a manifest section as {dotted key: value} (lists and strings left out)."""
    out: dict[str, float] = {}
    if isinstance(section, dict):
        for k, v in section.items():
            if is_number(v):
                out[k] = v
            elif isinstance(v, dict):
                out.update({f"{k}.{kk}": vv for kk, vv in numbers(v).items()})
    return out


def texts(section) -> dict[str, str]:
    """The leaves of a manifest section other than numbers, as text (what an estimate assumed)."""
    out: dict[str, str] = {}
    if isinstance(section, dict):
        for k, v in section.items():
            if isinstance(v, dict):
                out.update({f"{k}.{kk}": vv for kk, vv in texts(v).items()})
            elif not is_number(v):
                out[k] = str(v)
    return out


@dataclass(frozen=True)
class Estimate:
    per_tick: dict[str, float]
    per_inference: dict[str, float]
    assumed: dict[str, float]          # the assumptions that are numbers
    assumptions: dict[str, str]        # and those that are text (sources, notes)


def estimate(manifest: dict) -> Estimate | None:
    est = manifest.get("estimate")
    if not isinstance(est, dict):
        return None
    per_tick = numbers(est.get("per_tick"))
    per_tick.update({k: v for k, v in est.items() if is_number(v)})          # e.g. power_mw
    return Estimate(per_tick, numbers(est.get("per_inference")), numbers(est.get("assumptions")),
                    texts(est.get("assumptions")))


def approximations(manifest: dict) -> list[dict]:
    return [a for a in _list(manifest, "approximations") if isinstance(a, dict)]


@dataclass(frozen=True)
class InstanceAccuracy:
    """Accuracy of each chip instance at each time after programming (seconds)."""

    times: list[float]
    accuracy: list[list[float]]        # [time][instance]
    reference: str                     # what the decisions were scored against
    source: str                        # where the figures come from
    ideal: float | None = None         # the same mapping on a chip without noise, where known


def recorded_monte_carlo(manifest: dict) -> InstanceAccuracy | None:
    """The manifest's `monte_carlo` section (a compile given evaluation data), if it has one."""
    mc = manifest.get("monte_carlo")
    if not isinstance(mc, dict) or not isinstance(mc.get("results"), list):
        return None
    results = [r for r in mc["results"] if isinstance(r, dict) and isinstance(r.get("accuracy"), list)
               and is_number(r.get("t_inference"))]
    data = mc.get("data") or {}
    return InstanceAccuracy([float(r["t_inference"]) for r in results], [list(map(float, r["accuracy"]))
                                                                         for r in results],
                            "the evaluation labels", f"manifest monte_carlo (data {data.get('shape')}, seed "
                                                     f"{mc.get('seed')})", mc.get("ideal_chip_accuracy"))


def headline(manifest: dict) -> dict[str, float]:
    """The resources section's top-level counts (cores, chips, tiles, neurons, ...)."""
    res = manifest.get("resources")
    plain = {k: v for k, v in res.items() if is_number(v)} if isinstance(res, dict) else {}
    totals = res.get("totals") if isinstance(res, dict) else None
    plain.update({f"total {k}": v for k, v in (totals or {}).items() if is_number(v)})
    return plain
