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
    layout.py     the shape of a mapped analog graph, and its tile table
    emit.py       the artifact files (FORMAT.md) from a mapped graph alone
    decode.py     the mapped graph from the files alone (reader.py: typed JSON reads)
    sections.py   manifest sections: resources, estimate, and with evaluation data the Monte Carlo
    rules.py      design rules, from the files alone
"""

from snnc.backend import Backend, register_backend
from snnc.backends.analog import (  # noqa: F401  (ops, steps and passes register on import)
    decode, emit, layout, lower, ops, rules, sections, steps, target)

BACKEND = register_backend(Backend(
    family="analog", target_schema=target.AnalogTarget, pipeline=lower.pipeline, emit=emit.emit,
    decode=decode.decode, rules=rules.check, summary=sections.summary, emit_options=sections.EmitOptions,
    stochastic=True, unit="tile", evaluate=sections.evaluate, locate=layout.locate))
