"""The TrueNorth backend: the `truenorth.*` integer dialect, its passes, rules and emitter.

`ops.py` states the neurosynaptic core (Cassidy et al. 2013 neuron, binary crossbar, four
axon types) and the route through a core's 16-tick input scheduler; `steps.py` runs them
bit-exactly. `lower.py` holds the pipeline; `FORMAT.md` documents the artifact.
"""
