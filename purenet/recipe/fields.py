"""Recipe field validators shared by the schema's sections, each message worded once."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from purenet.core.checks import FieldError, Interval


def suggest(word: str, choices: Sequence[str]) -> str:
    """`; did you mean 'x'?` for a close choice, else `; expected one of: ...` (all choices)."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {', '.join(choices)}"


def one_of(choices: Sequence[str], what: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator: the field is one of `choices`, else a `FieldError` listing them
    (with a close match first), `unknown activation 'rellu'; did you mean 'relu'? ...`."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise FieldError(
                attribute.name,
                f"unknown {what} {value!r}; {hint}supported: {', '.join(sorted(choices))}",
            )

    return check


def satisfies(rule: Interval) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator: the field satisfies `rule` (a `purenet.core.checks` constraint),
    else a `FieldError` in the rule's one wording, `must be an integer >= 1, found 0`."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not rule.contains(value):
            raise FieldError(attribute.name, f"must be {rule.describe()}, found {value!r}")

    return check
