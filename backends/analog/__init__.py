"""The analog backend: crossbar arrays of memory devices with analog LIF neuron circuits.

Unlike the digital targets, an analog chip is not bit-exact: the `analog.*` dialect is a
seeded statistical model of one chip instance (programming noise, drift, 1/f read noise,
converter quantisation and clipping, IR drop, fixed-pattern mismatch), and a Monte Carlo
over chip instances (`chip_instances`) says what a population of chips computes.

    target.py     the family's target schema (crossbar, device, converters, neuron circuit, costs)
    device.py     the device and periphery formulas, each with its source
    ops.py        analog.crossbar (one tile), analog.lif (a neuron circuit population), analog.synapse
                  (its synaptic-input circuit) and analog.buffer (spikes held for later ticks)
    steps.py      the step functions of analog.crossbar and analog.lif, vectorised over chip instances
    circuits.py   those of analog.synapse and analog.buffer
    lower.py      the pipeline: analog-legalize, analog-tile, analog-neurons, analog-calibrate
                  (populations and one folded matrix per source and age: snnc.passes.populations)
    legalize.py   analog-legalize: neurons rewritten into what the circuits compute, each approximation
                  reported, the rest refused
    tiles.py      the nodes analog-tile makes: tiles, spike buffers, host readouts
    inherent.py   what the converters and parameter DACs cost, reported as approximations
    calibrate.py  drift compensation settings and the chip-in-the-loop gain/threshold calibration
    chip.py       helpers: evaluate at a time after programming, switch noise off, Monte Carlo accuracy
    layout.py     the shape of a mapped analog graph, and its tile table
    emit.py       the artifact files (FORMAT.md) from a mapped graph alone
    decode.py     the mapped graph from the files alone (reader.py: typed JSON reads)
    host.py       the host program: readouts the host computes from the chip's spikes
    sections.py   manifest sections: resources, estimate, and with evaluation data the Monte Carlo
    rules.py      design rules, from the files alone
"""

from snnc.backend import Backend, register_backend
from snnc.backends.analog import (  # noqa: F401  (ops, steps and passes register on import)
    circuits, decode, emit, layout, lower, ops, rules, sections, steps, target)

BACKEND = register_backend(Backend(
    family="analog", target_schema=target.AnalogTarget, pipeline=lower.pipeline, emit=emit.emit,
    decode=decode.decode, rules=rules.check, summary=sections.summary, emit_options=sections.EmitOptions,
    stochastic=True, unit="tile", evaluate=sections.evaluate, locate=layout.locate))
