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


class FieldError(ValueError):
    """A bad value of one field, as data: where (`path`) and what is wrong (`problem`).

    Raise it from a spec's validator or constructor; the error walker of
    `purenet.core.convert.describe_structure_error` reads `path` and `problem` (never the
    message text) and puts the path after the position of the structured value, so
    `FieldError("high", "expected low < high, ...")` raised by the first preprocessing step
    of a model file reads `$.preprocess[0].high: expected low < high, ...`. A layer that
    checks a nested value prefixes its own position with `within`.

    Attributes:
        path: the field's path relative to the value that raised, `high`, `steps[1]` or
            `train.track[0]`; empty for the value itself.
        problem: what is wrong, without the path.

    Args:
        path: as the attribute.
        problem: as the attribute.
        text: the message a Python caller sees (`str(error)`), e.g. with the class named,
            `Scale.high: expected low < high, ...`; None: `problem`.

    Example:
        >>> error = FieldError("high", "expected low < high", text="Scale.high: ...")
        >>> str(error), error.problem, error.within("steps[0]").path
        ('Scale.high: ...', 'expected low < high', 'steps[0].high')
    """

    def __init__(self, path: str, problem: str, *, text: str | None = None) -> None:
        super().__init__(problem if text is None else text)
        self.path = path
        self.problem = problem

    def within(self, outer: str) -> FieldError:
        """The same error, with its path under the field `outer`."""
        dot = "." if self.path and not self.path.startswith("[") else ""
        return FieldError(f"{outer}{dot}{self.path}", self.problem, text=str(self))
