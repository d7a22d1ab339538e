"""The strict cattrs converter (no coercion, unknown keys refused) and its path-qualified error
lines.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import cattrs
import numpy as np
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from purenet.core.arrays import JSON_TYPE_NAMES, decode_array, describe_found, encode_array
from purenet.core.checks import FieldError
from purenet.core.limits import MAX_ERRORS


def _is_homogeneous_tuple(cl: Any) -> bool:
    args = typing.get_args(cl)
    return typing.get_origin(cl) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_str_dict(cl: Any) -> bool:
    args = typing.get_args(cl)
    return typing.get_origin(cl) is dict and len(args) == 2 and args[0] is str


def _is_one_or_tuple(cl: Any) -> bool:
    """`T | tuple[T, ...]`: one value for every layer, or one per layer (`Architecture`)."""
    args = typing.get_args(cl)
    return (
        typing.get_origin(cl) in (typing.Union, types.UnionType)
        and len(args) == 2
        and typing.get_origin(args[1]) is tuple
        and typing.get_args(args[1]) == (args[0], Ellipsis)
    )


def _with_article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _structure_items(
    cl: Any, items: Iterable[tuple[int | str, Any]], structure: Callable[[int | str, Any], Any]
) -> list[Any]:
    """Structure every item; failures are gathered into one error whose notes give the
    index or key of each failed item (so paths read `[3]` or `.key`). Gathering stops after
    `MAX_ERRORS` failures: a huge bad file costs no more than a small one."""
    results, errors = [], []
    for key, item in items:
        try:
            results.append(structure(key, item))
        except Exception as exc:
            exc.add_note(IterableValidationNote(f"Structuring {cl} @ {key!r}", key, Any))
            errors.append(exc)
            if len(errors) >= MAX_ERRORS:
                break
    if errors:
        raise IterableValidationError(f"While structuring {cl}", errors, cl)
    return results


def register_strict_hooks(
    conv: cattrs.Converter, type_names: Mapping[type, str] = JSON_TYPE_NAMES
) -> None:
    """Make `conv` type-check parsed data instead of coercing it.

    Integers, numbers, strings and booleans must be just that (`"5"` is not an integer, `true`
    is not a number, `[1]` is not a string); homogeneous tuples need a list, attrs classes and
    `dict[str, ...]` an object (refusing unknown keys); `T | tuple[T, ...]` takes one `T` or a
    list of them. Messages name what was found with
    `type_names`: `expected an integer, found string '5'`.

    Args:
        conv: the converter to configure.
        type_names: words for the found value's type, JSON's by default; the words for
            `list` and `dict` also name what a tuple or an attrs class expects.
    """

    def found(value: Any) -> str:
        return describe_found(value, type_names)

    a_list, an_object = _with_article(type_names[list]), _with_article(type_names[dict])

    def scalar(expected: str, is_valid: Callable[[Any], bool]) -> Callable[[Any, Any], Any]:
        def structure(value: Any, cl: Any) -> Any:
            if not is_valid(value):
                raise TypeError(f"expected {expected}, found {found(value)}")
            return cl(value)

        return structure

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def is_number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    conv.register_structure_hook(int, scalar("an integer", is_int))
    conv.register_structure_hook(float, scalar("a number", is_number))
    conv.register_structure_hook(bool, scalar("true or false", lambda v: isinstance(v, bool)))
    conv.register_structure_hook(str, scalar("a string", lambda v: isinstance(v, str)))

    def tuple_hook(cl: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        item_type = typing.get_args(cl)[0]

        def structure(value: Any, _: Any) -> tuple[Any, ...]:
            # cattrs would take a string as a sequence of characters; only a list is a list.
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected {a_list}, found {found(value)}")
            items = _structure_items(
                cl, enumerate(value), lambda _, item: conv.structure(item, item_type)
            )
            return tuple(items)

        return structure

    def dict_hook(cl: Any) -> Callable[[Any, Any], dict[str, Any]]:
        value_type = typing.get_args(cl)[1]

        def structure(value: Any, _: Any) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise TypeError(f"expected {an_object}, found {found(value)}")
            pairs = _structure_items(
                cl,
                value.items(),
                lambda key, item: (conv.structure(key, str), conv.structure(item, value_type)),
            )
            return dict(pairs)

        return structure

    def attrs_hook(cl: type) -> Callable[[Any, Any], Any]:
        base: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cl, conv, _cattrs_forbid_extra_keys=True
        )

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, dict):
                raise TypeError(f"expected {an_object}, found {found(value)}")
            return base(value, cl)

        return structure

    def one_or_tuple_hook(cl: Any) -> Callable[[Any, Any], Any]:
        one, many = typing.get_args(cl)

        def structure(value: Any, _: Any) -> Any:
            return conv.structure(value, many if isinstance(value, list | tuple) else one)

        return structure

    conv.register_structure_hook_factory(attrs.has, attrs_hook)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, tuple_hook)
    conv.register_structure_hook_factory(_is_one_or_tuple, one_or_tuple_hook)
    conv.register_structure_hook_factory(_is_str_dict, dict_hook)


def make_converter(
    *, type_names: Mapping[type, str] = JSON_TYPE_NAMES, compact_arrays: bool = False
) -> cattrs.Converter:
    """A strict cattrs converter for purenet's attrs trees and JSON-ready data.

    Arrays use the exact encoding (`encode_array` / `decode_array`); scalars, tuples, dicts
    and attrs classes are strict (`register_strict_hooks`: `"5"` is not an integer, unknown
    keys are refused). `purenet.modelfile.io` adds the preprocessing steps and the model file's
    layout. Errors come out as cattrs error trees: turn them into `$.path: problem`
    lines with `describe_structure_error`. `purenet.recipe` builds its converter on this one.

    Args:
        type_names: words for found values in messages (see `register_strict_hooks`).
        compact_arrays: write arrays as base64 of their bytes (`encode_array(compact=True)`);
            either form is read.

    Example:
        >>> from purenet.pipeline.steps import Scale
        >>> conv = make_converter()
        >>> conv.unstructure(Scale(0.01, 1.0))
        {'kind': 'scale', 'low': 0.01, 'high': 1.0, 'max_value': 255.0}
    """
    conv = cattrs.Converter(forbid_extra_keys=True)
    register_strict_hooks(conv, type_names)
    conv.register_unstructure_hook(
        np.ndarray, lambda array: encode_array(array, compact=compact_arrays)
    )
    conv.register_structure_hook(np.ndarray, lambda value, _: decode_array(value))
    return conv


def _child_path(path: str, note: Any) -> str:
    if isinstance(note, AttributeValidationNote):
        return f"{path}.{note.name}"
    if isinstance(note, IterableValidationNote):
        key = note.index
        if isinstance(key, str):
            return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"
        return f"{path}[{key}]"
    return path


def _field_path(path: str, field: str) -> str:
    if not field:
        return path
    return f"{path}{field}" if field.startswith("[") else f"{path}.{field}"


def _unknown_keys(path: str, cl: type | None, extra: list[str]) -> list[str]:
    known = ", ".join(f.name for f in attrs.fields(cl)) if cl and attrs.has(cl) else ""
    return [f"{path}: unknown key {', '.join(map(repr, extra))}; expected keys: {known}"]


def _missing_key(path: str, key: str) -> str:
    return f"{path}: missing key {key!r}"


@attrs.frozen
class ErrorWording:
    """How one file format words the faults `describe_structure_error` finds.

    Attributes:
        unknown_keys: `(path, class, sorted extra keys) -> lines` for keys a class lacks.
        missing_key: `(path of the object, key) -> line` for a required key that is absent.
    """

    unknown_keys: Callable[[str, type | None, list[str]], list[str]] = _unknown_keys
    missing_key: Callable[[str, str], str] = _missing_key


MODEL_WORDING = ErrorWording()
"""The model file's wording: `$.x: unknown key 'y'; expected keys: ...`, `$: missing key 'b'`."""


def describe_structure_error(
    exc: BaseException, path: str = "$", *, wording: ErrorWording = MODEL_WORDING
) -> list[str]:
    """Turn a structuring error (a cattrs error tree) into `$.path: problem` lines.

    The one walker of error trees: positions come from cattrs' notes, a field's own fault
    from `FieldError.path` (`FieldError("high", ...)` raised by the step at
    `$.preprocess[0]` reads `$.preprocess[0].high: ...`). A leaf error whose message starts
    with `$` (like `decode_array`'s) is relative to its position, so `$: shape [2] needs 2
    values, got 1` found at `$.layers[0].w` reads `$.layers[0].w: shape [2] needs 2 values,
    got 1`.

    Args:
        exc: what `converter.structure` raised.
        path: the JSON path of the structured value.
        wording: the format's words for unknown and missing keys (`MODEL_WORDING`; recipes
            have their own).

    Returns:
        One line per fault, in the order cattrs found them.

    Example:
        >>> from purenet.nn.model import Dense
        >>> try:
        ...     converter.structure({"w": 1}, Dense)
        ... except Exception as exc:
        ...     describe_structure_error(exc)
        ['$.w: expected an array object, found int', "$: missing key 'b'"]
    """
    if isinstance(exc, ForbiddenExtraKeysError):
        return wording.unknown_keys(path, exc.cl, sorted(exc.extra_fields))
    if isinstance(exc, FieldError):
        return [f"{_field_path(path, exc.path)}: {exc.problem}"]
    if isinstance(exc, ClassValidationError | IterableValidationError):
        lines: list[str] = []
        with_notes, without_notes = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(sub, KeyError) and isinstance(note, AttributeValidationNote):
                lines.append(wording.missing_key(path, note.name))
            else:
                child = _child_path(path, note)
                lines.extend(describe_structure_error(sub, child, wording=wording))
        for sub in without_notes:
            lines.extend(describe_structure_error(sub, path, wording=wording))
        return lines
    if isinstance(exc, BaseExceptionGroup):
        return [
            line
            for sub in exc.exceptions
            for line in describe_structure_error(sub, path, wording=wording)
        ]
    message = str(exc)
    if message.startswith("$"):
        return [path + message[1:]]
    return [f"{path}: {message}"]


def summarize(lines: list[str], limit: int = 3) -> str:
    """The first `limit` fault lines joined by `; `, with a count of the rest.

    Example:
        >>> summarize(["$.a: bad", "$.b: bad", "$.c: bad", "$.d: bad"], limit=2)
        '$.a: bad; $.b: bad (and 2 more)'
    """
    more = f" (and {len(lines) - limit} more)" if len(lines) > limit else ""
    return "; ".join(lines[:limit]) + more


converter = make_converter()
"""The package's configured converter: attrs trees with arrays <-> JSON-ready data."""
