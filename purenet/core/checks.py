"""Shared argument checks, each rule written and worded once.

Functions here raise `ValueError` / `TypeError` with one message shape, `NAME must be WHAT,
found VALUE`; callers pass the name a user knows (`batch_size`, `$.train.epochs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import attrs
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
    checked: int = Interval(low=low, integer=True).check(name, value)
    return checked


def package_version() -> str:
    """The installed purenet's version, from the package metadata (written once, in pyproject)."""
    try:
        return version("purenet")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


@attrs.frozen
class Interval:
    """A constraint on one number, in the spirit of scikit-learn's `_parameter_constraints`.

    `Interval(low=1, integer=True)` is "an integer >= 1 (not a bool)"; `Interval(0.0, 1.0,
    closed="left")` is "a finite number in [0.0, 1.0)". Each rule is worded by `describe`, so
    one rule gives one message wherever it is checked: `NAME must be WHAT, found VALUE`.

    Attributes:
        low, high: the bounds, or None for none (NaN and infinities are always refused).
        closed: which bounds belong to the interval: `both`, `left`, `right` or `neither`.
        integer: an integer (Python or numpy, not a bool) instead of any real number.

    Example:
        >>> Interval(0.0, 1.0, closed="left").check("SGD.momentum", 0.9)
        0.9
        >>> Interval(0.0, 1.0, closed="left").describe()
        'in [0.0, 1.0)'
    """

    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"
    integer: bool = False

    def describe(self) -> str:
        """What the rule accepts, as the end of `NAME must be ...`."""
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            bounds = f"{'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"
            return f"an integer in {bounds}" if self.integer else f"in {bounds}"
        kind = "an integer" if self.integer else "a finite number"
        if self.low is not None:
            return f"{kind} {'>=' if left else '>'} {self.low}"
        if self.high is not None:
            return f"{kind} {'<=' if right else '<'} {self.high}"
        return kind

    def contains(self, value: Any) -> bool:
        """True when `value` satisfies the rule (type, finiteness and bounds)."""
        if not (is_int(value) if self.integer else _is_number(value)):
            return False
        if not math.isfinite(value):
            return False
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        above = self.low is None or (value >= self.low if left else value > self.low)
        below = self.high is None or (value <= self.high if right else value < self.high)
        return bool(above and below)

    def check(self, name: str, value: Any) -> Any:
        """`value` (an `int` or a `float`) if it satisfies the rule, else an error naming `name`.

        Raises:
            FieldTypeError: not a number (or not an integer, for an integer rule); bools never
                are. A `TypeError`.
            FieldError: a number outside the rule (NaN and infinities included). A `ValueError`.
        """
        if not (is_int(value) if self.integer else _is_number(value)):
            raise _broken(FieldTypeError, name, self.describe(), value)
        if not self.contains(value):
            raise _broken(FieldError, name, self.describe(), value)
        return int(value) if self.integer else float(value)

    def validator(self) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
        """An attrs validator checking a field, named `Class.field` in the message."""
        return _validator(self)


@attrs.frozen
class OneOf:
    """A constraint: one of a few choices (`OneOf(("epoch", "batch"))`).

    Example:
        >>> OneOf(("epoch", "batch")).check("schedule_per", "batch")
        'batch'
    """

    choices: tuple[Any, ...]

    def describe(self) -> str:
        """What the rule accepts, as the end of `NAME must be ...`."""
        return "one of " + ", ".join(map(repr, self.choices))

    def check(self, name: str, value: Any) -> Any:
        """`value` if it is one of the choices, else a `ValueError` naming `name`."""
        if value not in self.choices:
            raise _broken(FieldError, name, self.describe(), value)
        return value

    def validator(self) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
        """An attrs validator checking a field, named `Class.field` in the message."""
        return _validator(self)


Constraint = Interval | OneOf
"""A rule for one argument."""


def _broken(kind: type[FieldError], name: str, rule: str, value: Any) -> FieldError:
    # The path is the last part of the name (`SGD.momentum` -> `momentum`): a converter puts
    # it after the position of the structured value; Python callers see the whole name.
    problem = f"must be {rule}, found {value!r}"
    return kind(name.rpartition(".")[2], problem, text=f"{name} {problem}")


def _validator(rule: Constraint) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        rule.check(f"{type(instance).__name__}.{attribute.name}", value)

    return validate

COUNT = Interval(low=1, integer=True)
"""An integer >= 1 (epochs, batch sizes, repeats, patience)."""

SEED = Interval(low=0, integer=True)
"""An integer >= 0 (seeds, counters)."""

POSITIVE = Interval(low=0, closed="neither")
"""A finite number > 0 (learning rates, epsilons, lengths in epochs)."""

NON_NEGATIVE = Interval(low=0)
"""A finite number >= 0 (penalties, decays, deltas)."""

FRACTION = Interval(0, 1)
"""A number in [0, 1]."""


def check_all(constraints: Mapping[str, Constraint], values: Mapping[str, Any]) -> None:
    """Check each named value against its constraint, in the table's order.

    Args:
        constraints: `{name: constraint}`, the table of a function's arguments.
        values: `{name: value}` holding at least every name of the table.

    Raises:
        TypeError, ValueError: the first value that breaks its rule (see `Interval.check`).

    Example:
        >>> check_all({"epochs": COUNT, "l2": NON_NEGATIVE}, {"epochs": 3, "l2": 0.0})
    """
    for name, constraint in constraints.items():
        constraint.check(name, values[name])


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
        return type(self)(f"{outer}{dot}{self.path}", self.problem, text=str(self))


class FieldTypeError(FieldError, TypeError):
    """A `FieldError` whose value has the wrong type (a string where a number belongs)."""
