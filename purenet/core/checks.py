"""Shared argument checks, each rule written and worded once.

Functions here raise `ValueError` / `TypeError` with one message shape, `NAME must be WHAT,
found VALUE`; callers pass the name a user knows (`batch_size`, `$.train.epochs`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

FLOAT_DTYPES = ("float32", "float64")
"""The float dtypes purenet computes in: float32 by default, float64 on request."""


def float_dtype(dtype: DTypeLike, name: str = "dtype") -> np.dtype:
    """`dtype` as a numpy dtype if it is float32 or float64, else a `ValueError` naming `name`.

    Example:
        >>> float_dtype("float64")
        dtype('float64')
    """
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{name} must be float32 or float64, found {dtype!r}") from exc
    if resolved not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, found {resolved}")
    return resolved


def is_int(value: Any) -> bool:
    """True for Python and numpy integers, false for booleans (`True` is no count)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def check_int(name: str, value: Any, *, low: int | None = None) -> int:
    """`value` as an `int` if it is an integer (not a bool) >= `low`, else an error naming `name`.

    Example:
        >>> check_int("epochs", 3, low=1)
        3
    """
    bound = "" if low is None else f" >= {low}"
    if not is_int(value):
        raise TypeError(f"{name} must be an integer{bound}, found {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be an integer{bound}, found {value!r}")
    return int(value)


def package_version() -> str:
    """The installed purenet's version, from the package metadata (written once, in pyproject)."""
    try:
        return version("purenet")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"
