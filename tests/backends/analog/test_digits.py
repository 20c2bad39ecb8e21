"""Acceptance: the digits SNN (trained here, tests/backends/analog/digits.py) on the analog targets.

With the PCM defaults the compiled artifact's manifest reports, over 20 chip instances, the
mean and 5th-percentile accuracy 1 hour and 1 day after programming: with drift compensation
switched off, with the defaults (global drift compensation), and calibrated (the defaults
plus the chip-in-the-loop gain fit on a calibration split of the training data). Claims checked:

- without drift compensation, drift costs accuracy from 1 hour to 1 day (the mean falls);
- with the defaults (and, in the slow variant, calibrated) the 1-day mean is within 3 points
  of the float model;
- every instance is a different chip (the accuracies vary) and the 5th percentile <= mean.

The default suite evaluates 150 test samples; the slow variant the whole test split (450),
both with 20 instances in one batched run per time. The figures are printed (pytest -s).
"""
from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.backends.analog import chip
from tests.backends.analog.digits import trained

INSTANCES = 20
TIMES = (3600.0, 86400.0)
UNCOMPENSATED = {"drift_compensation": "none"}


def evaluate(target: str, samples: int | None, calibrate, times=TIMES):
    """`calibrate`: None (the defaults), a dict of analog-calibrate options, or True (the gain fit)."""
    graph, x_cal, x_test, y_test, _ = trained()
    x, y = (x_test, y_test) if samples is None else (x_test[:, :samples], y_test[:samples])
    if calibrate is True:
        calibrate = {"data": x_cal[:, :100], "instances": 4}
    options = {"analog_calibrate": calibrate} if calibrate else {}
    art = snnc.compile(graph, target, emit={"data": (x, y), "instances": INSTANCES, "times": list(times)}, **options)
    float_acc = float(np.mean(chip.classes(snnc.simulate(graph, x)) == y))
    return art, float_acc


def report(title: str, art, float_acc: float) -> dict:
    mc = art.manifest["monte_carlo"]
    rows = {r["t_inference"]: r for r in mc["results"]}
    print(f"\n{title}: float {float_acc:.4f}, ideal chip {mc['ideal_chip_accuracy']:.4f}, "
          f"{mc['instances']} chips, {mc['data']['shape'][1]} samples")
    for t, r in rows.items():
        print(f"  {t / 3600:6.1f} h after programming: mean {r['mean']:.4f}  5th percentile {r['p5']:.4f}  "
              f"min {r['min']:.4f}  max {r['max']:.4f}")
    e = art.manifest["estimate"]["per_inference"]
    print(f"  tiles {art.manifest['resources']['tiles']}, {e['energy_uj']:.3g} µJ and {e['time_us']:.3g} µs "
          f"per inference")
    return rows


def check_claims(uncompensated: dict, compensated: list[dict], float_acc: float) -> None:
    hour, day = TIMES
    assert uncompensated[day]["mean"] < uncompensated[hour]["mean"]      # drift hurts without compensation
    for rows in compensated:
        assert rows[day]["mean"] >= float_acc - 0.03                      # within 3 points a day later
    for rows in (uncompensated, *compensated):
        for r in rows.values():
            assert len(r["accuracy"]) == INSTANCES and r["p5"] <= r["mean"] and r["max"] > r["min"]


def pcm(samples: int | None, *, calibrated: bool) -> None:
    suffix = f" ({samples or 450} samples)"
    plain_art, float_acc = evaluate("analog", samples, UNCOMPENSATED)
    arts = {"analog, defaults (global drift compensation)": evaluate("analog", samples, None)[0]}
    if calibrated:
        arts["analog, defaults + gain calibration"] = evaluate("analog", samples, True)[0]
    plain = report("analog, no drift compensation" + suffix, plain_art, float_acc)
    check_claims(plain, [report(title + suffix, art, float_acc) for title, art in arts.items()], float_acc)
    assert plain_art.manifest["resources"]["tiles"] == 2
    assert all(snnc.verify(art).ok for art in arts.values())


def test_digits_on_pcm_over_chip_instances():
    pcm(150, calibrated=False)


@pytest.mark.slow
def test_digits_on_pcm_whole_test_split():
    pcm(None, calibrated=True)


def test_digits_on_brainscales2_like_chip():
    """No drift on SRAM weights: 6-bit codes and fixed-pattern mismatch only."""
    art, float_acc = evaluate("analog-bss2", 150, None, times=(0.0,))
    rows = report("analog-bss2, 6-bit weights, fixed-pattern mismatch", art, float_acc)
    assert rows[0.0]["mean"] >= float_acc - 0.03
    assert art.manifest["resources"]["tiles"] == 2 and snnc.verify(art).ok
