"""The analog backend: crossbar arrays of memory devices with analog LIF neuron circuits.

Unlike the digital targets, an analog chip is not bit-exact: the `analog.*` dialect is a
seeded statistical model of one chip instance (programming noise, drift, 1/f read noise,
converter quantisation and clipping, IR drop, fixed-pattern mismatch), and a Monte Carlo
over chip instances (`chip_instances`) says what a population of chips computes.

    target.py     the family's target schema (crossbar, device, converters, neuron circuit, costs)
    device.py     the device and periphery formulas, each with its source
    ops.py        analog.crossbar (one tile) and analog.lif (a neuron circuit population)
    steps.py      their step functions, vectorised over chip instances
    lower.py      the pipeline: analog-legalize, analog-tile, analog-neurons, analog-calibrate
                  (populations and one folded matrix per source: snnc.passes.populations)
    calibrate.py  drift compensation settings and the chip-in-the-loop gain/threshold calibration
    chip.py       helpers: evaluate at a time after programming, switch noise off, Monte Carlo accuracy
    emit.py, rules.py, FORMAT.md   the artifact and its design rules
"""

from snnc.artifact import recorded_graph
from snnc.backend import Backend, register_backend
from snnc.backends.analog import emit, lower, ops, rules, steps, target  # noqa: F401  (ops, steps, passes register)

BACKEND = register_backend(Backend(
    family="analog", target_schema=target.AnalogTarget, pipeline=lower.pipeline, emit=emit.emit,
    decode=lambda art, t: recorded_graph(art), rules=rules.check, summary=emit.summary,
    emit_options=emit.EmitOptions, stochastic=True, unit="tile"))
