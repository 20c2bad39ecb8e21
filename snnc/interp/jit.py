"""Optional compiled kernels (numba), for the fused steppers' elementwise loops.

`kernel(fn)` returns `fn` compiled by numba (nopython, cached on disk) when numba is
installed (`pip install snnc[fast]`), else None; a stepper then runs its numpy path. A
kernel does the same integer arithmetic as the numpy path, element by element, so the two
give identical results (the tests run both). `Context.jit` False chooses numpy anyway.
"""
from __future__ import annotations

from typing import Callable


def available() -> bool:
    """True when numba can be imported."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def kernel(fn: Callable) -> Callable | None:
    """`fn` compiled with numba.njit(cache=True), or None without numba (compiled lazily, on first call)."""
    if not available():
        return None
    import numba
    return numba.njit(cache=True, nogil=True)(fn)
