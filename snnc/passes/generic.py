"""Importing this module registers every target-independent pass."""
from snnc.passes import discretize, place, prune  # noqa: F401  (registration)
