"""The readable form of a verify `Report` (what `snnc verify` prints without --json)."""
from __future__ import annotations


def report_lines(report) -> list[str]:
    lines = [f"verify {report.artifact} (target {report.target}): {'OK' if report.ok else 'FAILED'}"]
    unit = report.checked.get("unit", "core")          # what the family's rules count: cores, tiles
    n = report.checked.get(f"{unit}s", 0)
    if report.violations:
        lines.append(f"  {len(report.violations)} rule violation(s) in {n} {unit}(s):")
        lines += [f"    {d}" for d in report.violations]
    else:
        lines.append(f"  rules: {n} {unit}(s) within every limit ({len(report.checked.get('rules', []))} rules)")
    if report.lowering is not None:
        lines += _lowering(report.lowering)
    if report.comparison is not None:
        lines += _comparison(report.comparison)
    lines += [f"  note: {n}" for n in report.notes]
    return lines


def _where(d: dict) -> str:
    text = f"tick {d['tick']}, layer {d['layer']}, neuron {d['neuron']}"
    core = d.get("core")
    if core is not None:
        cores = core if isinstance(core, list) else [core]
        label = f"core{'s' if len(cores) > 1 else ''} {', '.join(map(str, cores))}"
        text += f" ({label}, node {d['node']} index {d['index']})"
    return text + f", sample {d['sample']}"


def _lowering(c) -> list[str]:
    if c.skipped:
        return [f"  chip vs compiler: not checked ({c.skipped})"]
    if c.ok:
        return [f"  chip vs compiler: identical over {c.ticks} ticks x {c.batch} samples (every layer and output)"]
    first = _where(c.first) if c.first and "tick" in c.first else (c.first or {}).get("layer", "")
    return [f"  chip vs compiler: DIFFERS in {c.differences} value(s) over {c.ticks} ticks x {c.batch} samples; "
            f"first at {first}"]


def _comparison(c) -> list[str]:
    lines = [f"  chip vs float model over {c.ticks} ticks x {c.batch} samples:"]
    for l in c.layers:
        lines.append(f"    layer {l['population']:<16} latency {l['latency']}  spike agreement "
                     f"{l['agreement']:.4f}  spikes float {l['float_spikes']} chip {l['chip_spikes']}")
    for name, o in c.outputs.items():
        decision = ("no decision (one element)" if o["classes"] < 2 else
                    "no decision (every float decision a tie)" if o["decision_agreement"] is None else
                    f"decision agreement {o['decision_agreement']:.4f}")
        near = o.get("near_ties", 0)
        left = [f"{o['float_ties']} float tie(s)"] * bool(o["float_ties"]) + \
            [f"{near} near tie(s) won by fewer than {c.decision_margin:g} spikes"] * bool(near)
        ties = f" ({' and '.join(left)} left out)" if left else ""
        lines.append(f"    output {name}: spike agreement {o['spike_agreement']:.4f}, count agreement "
                     f"{o['count_agreement']:.4f}, {decision}{ties}")
    if c.accuracy is not None:
        a = c.accuracy
        lines.append(f"    accuracy: float {a['float']:.4f}, chip {a['chip']:.4f}, drop {a['drop']:.4f}")
    d = c.first_divergence
    lines.append("    first divergence: none" if d is None else f"    first divergence: {_where(d)}")
    lines.append(f"    thresholds: accuracy drop <= {c.max_accuracy_drop:g}, decision agreement >= "
                 f"{c.min_agreement:g} (decisions won by >= {c.decision_margin:g} spike(s)), count agreement >= "
                 f"{c.min_count_agreement:g} ({c.thresholds_from})")
    lines += [f"    FAILED: {f}" for f in c.failures()]
    return lines
