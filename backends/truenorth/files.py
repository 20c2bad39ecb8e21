"""The TrueNorth artifact's file layout (FORMAT.md), shared by the emitter, the decoder and the rules."""
from __future__ import annotations

from snnc.backends.truenorth.cores import NEURON_FIELDS, ROW_FIELDS

CORE_FILE = "cores/core_{:04d}"          # + .json (node, mapping, routes in) and .npz (registers, destinations)
CORE_PREFIX = "cores/core_"
HOST_JSON, HOST_NPZ = "host.json", "host.npz"
HOST_PROGRAM, HOST_PROGRAM_NPZ = "host_program.snnir", "host_program.npz"   # the float nodes the host runs
HOST = -1                                # dest.core of a neuron whose spikes go off chip, to the host
DEST_FIELDS = ("neuron", "core", "axon", "delay")
NEURON_ARRAYS = tuple(f"neuron.{f}" for f in (*ROW_FIELDS, *NEURON_FIELDS))
CORE_ARRAYS = ("crossbar", "axon_type", *NEURON_ARRAYS, *(f"dest.{f}" for f in DEST_FIELDS))
