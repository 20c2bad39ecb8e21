"""Partitioning as an optimisation, shared by the families.

    problem.py   the network as a hypergraph (one net per synapse node and source neuron) with
                 per-core limits and spike rates
    cost.py      the exact per-core resources and the traffic of an assignment
    orders.py    vertex orders: index order, a Hilbert curve over feature maps
    cut.py       greedy cuts of orders into legal cores, packing, and the repair of any blocks
    external.py  METIS and Mt-KaHyPar (optional extras)
    refine.py    local search that keeps every core legal
    choose.py    the candidates and the choice by measured cost
    activity.py  spike rates: an interpreter run on calibration inputs, or an assumed rate
"""
