"""Compiled kernels when numba (the `fast` extra) is installed, and nothing when it is not.

`compile_kernel(fn)` returns `fn` compiled by `numba.njit` (cached on disk, `nogil`, no
fast-math: the float operations are the ones written, in the order written), or None without
numba, so a caller picks its numpy path instead. Compilation happens at the first call with
each argument type (about a second per kernel and signature, once: the cache keeps it).

Example:
    >>> def twice(x):
    ...     return 2 * x
    >>> kernel = compile_kernel(twice)
    >>> kernel is None or kernel(3) == 6
    True
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

HAS_NUMBA = importlib.util.find_spec("numba") is not None
"""Whether numba is importable (the `fast` extra)."""


class _Kernel:
    """`fn`, compiled by numba at its first call (importing numba costs ~0.7 s: only when used)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.compiled: Callable[..., Any] | None = None

    def __call__(self, *args: Any) -> Any:
        if self.compiled is None:
            import numba

            self.compiled = numba.njit(cache=True, nogil=True, error_model="numpy")(self.fn)
        return self.compiled(*args)


def compile_kernel(fn: Callable[..., Any]) -> Callable[..., Any] | None:
    """`fn` compiled with `numba.njit` (cached, nogil, numpy error model) at its first call, or None
    without numba (the caller then takes its numpy path)."""
    return _Kernel(fn) if HAS_NUMBA else None
