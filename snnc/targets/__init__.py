"""Targets as data: one JSON file per chip family variant in this folder.

`all_targets()` lists the targets whose data files are present; `get_target(name)`
loads one. The schema and loader arrive with the first backend; until then no target
is installed and `snnc targets` says so.
"""
from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent


def all_targets() -> dict:
    """Every installed target by name (empty until a target data file exists)."""
    return {}
