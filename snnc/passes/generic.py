"""Importing this module registers every target-independent pass."""
from snnc.passes import convert_ann, discretize, place, prune  # noqa: F401  (registration)
