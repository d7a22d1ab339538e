"""Exact JSON encoding of arrays and trees, the model file, and atomic JSON files.

An array is written as `{"dtype": "float32", "shape": [2, 3], "data": [...]}`: `data` is the
flat row-major list of values, each float the shortest decimal that reads back (as a float64,
then cast to the array's dtype) to the same value, so a reader in any language gets the exact
numbers. NaN and Inf are refused on both sides.

`converter` is the one cattrs converter configured with these array hooks, strict scalar
types, the preprocessing steps' tagged union and the model file's layout; the model file and
checkpoints are built on it. A model file is one JSON object:

    {"format": "purenet.model", "format_version": 1,
     "architecture": {"sizes": [784, 128, 10], "hidden": "relu", "output": "softmax",
                      "loss": "cross_entropy"},
     "layers": [{"w": {"dtype": "float32", "shape": [784, 128], "data": [...]},
                 "b": {"dtype": "float32", "shape": [128], "data": [...]}}, ...],
     "preprocess": [{"kind": "scale", "low": 0.0, "high": 1.0, "max_value": 255.0},
                    {"kind": "flatten", "input_shape": [28, 28]}],
     "labels": ["0", "1", ...],
     "meta": {"purenet_version": "0.1.0", "created": "2024-05-01T12:00:00Z",
              "recipe": {...}, "metrics": {"test_accuracy": 0.97}}}

Example:
    >>> import numpy as np, purenet as pn
    >>> from purenet.preprocess import Flatten, Scale, apply_preprocess
    >>> arch = pn.Architecture((4, 8, 3))
    >>> model = Model(arch, pn.init(arch, seed=0), (Scale(), Flatten((2, 2))), ("a", "b", "c"))
    >>> save_model("model.json", model)  # doctest: +SKIP
    >>> model = load_model("model.json")  # doctest: +SKIP
    >>> raw = np.zeros((5, 2, 2), np.uint8)
    >>> pn.predict(model.arch, model.params, apply_preprocess(model.preprocess, raw)).shape
    (5,)
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
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
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from purenet.atomic import atomic_write
from purenet.errors import ModelFormatError, PurenetError
from purenet.model import Architecture, Dense, Params
from purenet.preprocess import (
    PREPROCESS_STEPS,
    Flatten,
    PreprocessStep,
    Scale,
    Standardize,
    output_shape,
)

DTYPES = (
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)
"""Array dtypes the JSON encoding accepts."""


JSON_TYPE_NAMES: Mapping[type, str] = {
    bool: "true/false",
    int: "integer",
    float: "number",
    str: "string",
    list: "list",
    dict: "object",
    type(None): "null",
}
"""How messages name the types of parsed values: JSON's words (recipes pass TOML's)."""


def _type_name(value: Any, names: Mapping[type, str] = JSON_TYPE_NAMES) -> str:
    return names.get(type(value), type(value).__name__)


def describe_found(value: Any, names: Mapping[type, str] = JSON_TYPE_NAMES) -> str:
    """Name a found value for a message: its type and a repr cut to 40 characters.

    Example:
        >>> describe_found("ten"), describe_found(2.5, {float: "float"})
        ("string 'ten'", 'float 2.5')
    """
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{_type_name(value, names)} {text}"


def _shortest_float_values(array: np.ndarray) -> list[float]:
    """Python floats whose reprs are the shortest decimals that read back to `array`'s values."""
    if array.dtype == np.float64:
        return array.ravel().tolist()
    # numpy's float32 -> str cast gives the shortest decimal for float32 (Dragon4). A reader
    # that parses it as float64 and casts to float32 must get the same value; where double
    # rounding would break that, fall back to the exact float64 of the value.
    flat = array.ravel()
    decimals = flat.astype(str).astype(np.float64)
    differs = decimals.astype(array.dtype) != flat
    if differs.any():
        decimals[differs] = flat[differs].astype(np.float64)
    return decimals.tolist()


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """Encode an array as `{"dtype", "shape", "data"}` with exact, shortest decimals.

    Args:
        array: any shape, a dtype from `DTYPES`.

    Returns:
        A JSON-ready dict.

    Raises:
        ValueError: unsupported dtype, or a NaN/Inf value.
    """
    array = np.asarray(array)
    dtype = array.dtype.name
    if dtype not in DTYPES:
        raise ValueError(f"cannot encode dtype {dtype}; supported: {', '.join(DTYPES)}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError(f"array of shape {array.shape} holds NaN or Inf; refusing to save")
        data: list[Any] = _shortest_float_values(array)
    else:
        data = array.ravel().tolist()
    return {"dtype": dtype, "shape": list(array.shape), "data": data}


def decode_array(value: Any, path: str = "$") -> np.ndarray:
    """Decode `{"dtype", "shape", "data"}` back to a read-only array, checking everything.

    Args:
        value: the parsed JSON object.
        path: the JSON path of `value`, used in error messages.

    Returns:
        The array, with the dtype and shape the object names.

    Raises:
        ModelFormatError: missing or unknown keys, unknown dtype, bad shape, a value count
            that does not match the shape, non-numeric or non-finite data, or a value that
            overflows the stated dtype (`1e300` as float32). The message starts with the
            JSON path of the fault, down to the value: `$.layers[0].w.data[3]`.
    """
    if not isinstance(value, dict):
        raise ModelFormatError(f"{path}: expected an array object, found {type(value).__name__}")
    keys = set(value)
    if keys != {"dtype", "shape", "data"}:
        missing = {"dtype", "shape", "data"} - keys
        extra = keys - {"dtype", "shape", "data"}
        problem = f"missing keys {sorted(missing)}" if missing else f"unknown keys {sorted(extra)}"
        raise ModelFormatError(f"{path}: {problem}; an array has dtype, shape and data")
    dtype, shape, data = value["dtype"], value["shape"], value["data"]
    if dtype not in DTYPES:
        supported = ", ".join(DTYPES)
        raise ModelFormatError(f"{path}.dtype: unknown dtype {dtype!r}; supported: {supported}")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ModelFormatError(
            f"{path}.shape: expected a list of non-negative integers, found {shape!r}"
        )
    if not isinstance(data, list):
        found = type(data).__name__
        raise ModelFormatError(f"{path}.data: expected a list of numbers, found {found}")
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) != count:
        raise ModelFormatError(f"{path}: shape {shape} needs {count} values, got {len(data)}")
    return _decode_data(data, np.dtype(dtype), tuple(shape), path)


def _first_non_number(data: list[Any], path: str) -> ModelFormatError:
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, int | float):
            return ModelFormatError(f"{path}.data[{i}]: expected a number, found {_type_name(v)}")
    return ModelFormatError(f"{path}.data: expected a flat list of numbers")


def _decode_data(data: list[Any], dtype: np.dtype, shape: tuple[int, ...], path: str) -> np.ndarray:
    if dtype.kind == "b":
        if not all(isinstance(v, bool) for v in data):
            raise ModelFormatError(f"{path}.data: expected true/false values for dtype bool")
        parsed = np.array(data, dtype=bool)
    else:
        # numpy would read true as 1 silently, so booleans are looked for first.
        if any(isinstance(v, bool) for v in data):
            raise _first_non_number(data, path)
        try:
            parsed = np.array(data)
        except (ValueError, OverflowError):
            raise _first_non_number(data, path) from None
        if data and (parsed.ndim != 1 or parsed.dtype.kind not in "iuf"):
            raise _first_non_number(data, path)
        if dtype.kind in "iu" and parsed.dtype.kind == "f":
            raise ModelFormatError(f"{path}.data: expected integers for dtype {dtype.name}")
        if parsed.dtype.kind == "f" and not np.isfinite(parsed).all():
            # json reads a number too large for a float64 (1e400) as inf.
            i = int(np.flatnonzero(~np.isfinite(parsed))[0])
            raise ModelFormatError(f"{path}.data[{i}]: expected a finite number, found {data[i]!r}")
        if dtype.kind in "iu" and data:
            info = np.iinfo(dtype)
            if parsed.min() < info.min or parsed.max() > info.max:
                raise ModelFormatError(f"{path}.data: values out of range for {dtype.name}")
        with np.errstate(over="ignore"):
            cast = parsed.astype(dtype)
        if dtype.kind == "f" and not np.isfinite(cast).all():
            # Finite as a float64, too large for the stated dtype (1e300 as float32).
            i = int(np.flatnonzero(~np.isfinite(cast))[0])
            raise ModelFormatError(
                f"{path}.data[{i}]: {data[i]!r} overflows {dtype.name} "
                f"(largest finite value {np.finfo(dtype).max!s})"
            )
        parsed = cast
    array = parsed.reshape(shape)
    array.flags.writeable = False
    return array


# ---------------------------------------------------------------------------------------------
# The model


def _current_version() -> str:
    from purenet import __version__

    return __version__


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_data(value: Any, path: str) -> Any:
    """A deep copy of `value` as plain JSON data (tuples become lists); faults name the path."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is not valid JSON (NaN or Inf)")
        return value
    if isinstance(value, list | tuple):
        return [_json_data(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: key {key!r} is not a string")
            result[key] = _json_data(item, f"{path}.{key}")
        return result
    raise ValueError(f"{path}: {type(value).__name__} {value!r} is not JSON data")


def _recipe_data(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"$.meta.recipe: expected an object or None, found {_type_name(value)}")
    result: dict[str, Any] | None = _json_data(value, "$.meta.recipe")
    return result


def _metrics_data(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"$.meta.metrics: expected an object, found {_type_name(value)}")
    metrics = {}
    for key, number in value.items():
        where = f"$.meta.metrics.{key}"
        if not isinstance(key, str):
            raise ValueError(f"$.meta.metrics: key {key!r} is not a string")
        if isinstance(number, bool) or not isinstance(number, int | float | np.number):
            raise ValueError(f"{where}: expected a number, found {_type_name(number)}")
        if not math.isfinite(float(number)):
            raise ValueError(f"{where}: {float(number)} is not a finite number")
        metrics[key] = float(number)
    return metrics


@attrs.frozen
class ModelMeta:
    """Facts about how a model was made; stored under `meta` in the model file.

    Attributes:
        purenet_version: the purenet that made the model (default: this one).
        created: UTC time of creation, ISO 8601 (`2024-05-01T12:00:00Z`; default: now).
        recipe: the resolved recipe as plain JSON data, or None.
        metrics: final metrics by name, finite floats (`{"test_accuracy": 0.97}`).

    Raises:
        ValueError: a recipe that is not JSON data, or a metric that is not a finite number.
    """

    purenet_version: str = attrs.field(factory=_current_version)
    created: str = attrs.field(factory=_now)
    recipe: dict[str, Any] | None = attrs.field(default=None, converter=_recipe_data)
    metrics: dict[str, float] = attrs.field(factory=dict, converter=_metrics_data)


def _default_labels(model: Model) -> tuple[str, ...]:
    return tuple(str(i) for i in range(n_classes(model.arch)))


def n_classes(arch: Architecture) -> int:
    """The number of classes `predict` tells apart: `sizes[-1]`, or 2 for a single output unit."""
    return 2 if arch.sizes[-1] == 1 else arch.sizes[-1]


@attrs.frozen(eq=False)
class Model:
    """A trained network with everything `predict` on raw inputs needs; one model file.

    Attributes:
        arch: the architecture.
        params: one `Dense` per layer, all float32 or all float64, shaped by `arch.sizes`.
        preprocess: fitted steps turning raw inputs into model input (see
            `purenet.preprocess.fit_preprocess`); their output width must be `sizes[0]`
            where the steps fix it.
        labels: a name per class: `sizes[-1]` names, or 2 (for outputs 0 and 1) when the
            network has a single output unit. Default: `"0"`, `"1"`, ...
        meta: `ModelMeta` (purenet version, creation time, recipe, metrics).

    Raises:
        ValueError: the parts do not fit together; the message gives the model file's JSON
            path, e.g. `$.layers[1].w: shape [128, 11]; architecture.sizes needs [128, 10]`.

    Example:
        >>> import purenet as pn
        >>> from purenet.preprocess import Flatten, Scale
        >>> arch = pn.Architecture((4, 3))
        >>> model = Model(arch, pn.init(arch, seed=0), (Scale(), Flatten((2, 2))))
        >>> model.labels
        ('0', '1', '2')
    """

    arch: Architecture
    params: Params = attrs.field(converter=tuple)
    preprocess: tuple[PreprocessStep, ...] = attrs.field(default=(), converter=tuple)
    labels: tuple[str, ...] = attrs.field(
        default=attrs.Factory(_default_labels, takes_self=True), converter=tuple
    )
    meta: ModelMeta = attrs.field(factory=ModelMeta)

    def __attrs_post_init__(self) -> None:
        _check_model(self)


def _check_model(model: Model) -> None:
    if not isinstance(model.arch, Architecture):
        raise ValueError(f"$.architecture: expected an Architecture, found {model.arch!r}")
    sizes = list(model.arch.sizes)
    if len(model.params) != len(sizes) - 1:
        raise ValueError(
            f"$.layers: {len(model.params)} layers; architecture.sizes {sizes} "
            f"needs {len(sizes) - 1}"
        )
    dtype: np.dtype | None = None
    for i, layer in enumerate(model.params):
        if not isinstance(layer, Dense):
            raise ValueError(f"$.layers[{i}]: expected a Dense layer, found {layer!r}")
        for name, expected in (("w", [sizes[i], sizes[i + 1]]), ("b", [sizes[i + 1]])):
            array = getattr(layer, name)
            where = f"$.layers[{i}].{name}"
            if list(array.shape) != expected:
                raise ValueError(
                    f"{where}: shape {list(array.shape)}; architecture.sizes {sizes} "
                    f"needs {expected}"
                )
            if dtype is None:
                if array.dtype.name not in ("float32", "float64"):
                    raise ValueError(f"{where}: dtype {array.dtype}; expected float32 or float64")
                dtype = array.dtype
            elif array.dtype != dtype:
                raise ValueError(f"{where}: dtype {array.dtype}, expected {dtype} like the rest")
    for i, step in enumerate(model.preprocess):
        if not isinstance(step, Scale | Flatten | Standardize):
            kinds = ", ".join(sorted(PREPROCESS_STEPS))
            raise ValueError(f"$.preprocess[{i}]: expected a step ({kinds}), found {step!r}")
        if isinstance(step, Standardize) and not step.is_fitted:
            raise ValueError(
                f"$.preprocess[{i}]: standardize has no statistics; fit it with fit_preprocess"
            )
    try:
        shape = output_shape(model.preprocess)
    except ValueError as exc:
        raise ValueError(f"$.preprocess{exc}") from None
    if shape is not None and list(shape) != sizes[:1]:
        raise ValueError(
            f"$.preprocess: the steps give samples of shape {list(shape)}; architecture.sizes "
            f"{sizes} needs [{sizes[0]}]"
        )
    expected_labels = n_classes(model.arch)
    if len(model.labels) != expected_labels:
        unit = " (2 for a single output unit)" if sizes[-1] == 1 else ""
        raise ValueError(
            f"$.labels: {len(model.labels)} names; {expected_labels} classes need "
            f"{expected_labels}{unit}"
        )
    for i, label in enumerate(model.labels):
        if not isinstance(label, str):
            raise ValueError(f"$.labels[{i}]: expected a string, found {label!r}")
        if label in model.labels[:i]:
            raise ValueError(f"$.labels[{i}]: {label!r} names two classes")
    if not isinstance(model.meta, ModelMeta):
        raise ValueError(f"$.meta: expected a ModelMeta, found {model.meta!r}")


def _unstructure_model(conv: cattrs.Converter, model: Model) -> dict[str, Any]:
    for i, layer in enumerate(model.params):
        for name in ("w", "b"):
            if not np.isfinite(getattr(layer, name)).all():
                raise ValueError(f"$.layers[{i}].{name}: holds NaN or Inf")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": conv.unstructure(model.arch),
        "layers": [conv.unstructure(layer) for layer in model.params],
        "preprocess": [conv.unstructure(step) for step in model.preprocess],
        "labels": list(model.labels),
        "meta": conv.unstructure(model.meta),
    }


def _check_keys(value: Any, keys: Iterable[str], path: str) -> None:
    """Refuse an object that is not a dict or lacks a key (the file is always written whole)."""
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected an object, found {_type_name(value)}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueError(f"{path}: missing key {', '.join(map(repr, missing))}")


def _fields(cl: type) -> list[str]:
    return [field.name for field in attrs.fields(cl)]


def _check_format(data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"$: expected a model object, found {_type_name(data)}")
    if data.get("format") != FORMAT:
        found = repr(data["format"]) if "format" in data else "no format key"
        raise ValueError(f"$.format: expected {FORMAT!r}, found {found}; not a purenet model file")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"$.format_version: expected an integer, found {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"$.format_version: the file has format version {version}, this purenet reads "
            f"up to {FORMAT_VERSION}; upgrade purenet to read it"
        )
    if version < 1:
        raise ValueError(f"$.format_version: unknown format version {version}")
    unknown = sorted(set(data) - set(_MODEL_KEYS))
    if unknown:
        raise ValueError(
            f"$: unknown key {', '.join(map(repr, unknown))}; expected keys: "
            f"{', '.join(_MODEL_KEYS)}"
        )
    _check_keys(data, _MODEL_KEYS, "$")
    _check_keys(data["architecture"], _fields(Architecture), "$.architecture")
    _check_keys(data["meta"], _fields(ModelMeta), "$.meta")
    for name in ("layers", "preprocess"):
        if not isinstance(data[name], list):
            raise ValueError(f"$.{name}: expected a list, found {_type_name(data[name])}")
    for i, step in enumerate(data["preprocess"]):
        if isinstance(step, dict) and step.get("kind") in PREPROCESS_STEPS:
            _check_keys(step, _fields(PREPROCESS_STEPS[step["kind"]]), f"$.preprocess[{i}]")


def _structure_model(conv: cattrs.Converter, data: Any) -> Model:
    _check_format(data)
    lines: list[str] = []
    parts: dict[str, Any] = {}
    for key, cl in _MODEL_PARTS.items():
        try:
            parts[key] = conv.structure(data[key], cl)
        except Exception as exc:
            lines.extend(describe_structure_error(exc, f"$.{key}"))
    if lines:
        raise ValueError(_summarize(lines))
    return Model(
        parts["architecture"], parts["layers"], parts["preprocess"], parts["labels"], parts["meta"]
    )


FORMAT = "purenet.model"
"""The `format` value of every model file."""

FORMAT_VERSION = 1
"""The model file version this purenet writes; it reads this version and older ones."""

_MODEL_PARTS: dict[str, Any] = {
    "architecture": Architecture,
    "layers": tuple[Dense, ...],
    "preprocess": tuple[PreprocessStep, ...],
    "labels": tuple[str, ...],
    "meta": ModelMeta,
}
_MODEL_KEYS = ("format", "format_version", *_MODEL_PARTS)


def _is_homogeneous_tuple(cl: Any) -> bool:
    args = typing.get_args(cl)
    return typing.get_origin(cl) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_str_dict(cl: Any) -> bool:
    args = typing.get_args(cl)
    return typing.get_origin(cl) is dict and len(args) == 2 and args[0] is str


def _with_article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _structure_items(
    cl: Any, items: Iterable[tuple[int | str, Any]], structure: Callable[[int | str, Any], Any]
) -> list[Any]:
    """Structure every item; failures are gathered into one error whose notes give the
    index or key of each failed item (so paths read `[3]` or `.key`)."""
    results, errors = [], []
    for key, item in items:
        try:
            results.append(structure(key, item))
        except Exception as exc:
            exc.add_note(IterableValidationNote(f"Structuring {cl} @ {key!r}", key, Any))
            errors.append(exc)
    if errors:
        raise IterableValidationError(f"While structuring {cl}", errors, cl)
    return results


def register_strict_hooks(
    conv: cattrs.Converter, type_names: Mapping[type, str] = JSON_TYPE_NAMES
) -> None:
    """Make `conv` type-check parsed data instead of coercing it.

    Integers, numbers, strings and booleans must be just that (`"5"` is not an integer, `true`
    is not a number, `[1]` is not a string); homogeneous tuples need a list, attrs classes and
    `dict[str, ...]` an object (refusing unknown keys). Messages name what was found with
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

    conv.register_structure_hook_factory(attrs.has, attrs_hook)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, tuple_hook)
    conv.register_structure_hook_factory(_is_str_dict, dict_hook)


def _unstructure_step(conv: cattrs.Converter, cl: type) -> Callable[[Any], dict[str, Any]]:
    base: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cl, conv)
    return lambda step: {"kind": step.kind, **base(step)}


def _structure_step(conv: cattrs.Converter, value: Any) -> PreprocessStep:
    supported = ", ".join(sorted(PREPROCESS_STEPS))
    if not isinstance(value, dict):
        raise TypeError(f"$: expected a step object with a kind, found {_type_name(value)}")
    if "kind" not in value:
        raise ValueError(f"$: missing key 'kind'; a preprocessing step is one of: {supported}")
    kind = value["kind"]
    if kind not in PREPROCESS_STEPS:
        raise ValueError(f"$.kind: unknown preprocessing step {kind!r}; supported: {supported}")
    fields = {key: item for key, item in value.items() if key != "kind"}
    step: PreprocessStep = conv.structure(fields, PREPROCESS_STEPS[kind])
    return step


def make_converter(*, type_names: Mapping[type, str] = JSON_TYPE_NAMES) -> cattrs.Converter:
    """A strict cattrs converter for purenet's attrs trees and JSON-ready data.

    Arrays use the exact encoding (`encode_array` / `decode_array`); scalars, tuples, dicts
    and attrs classes are strict (`register_strict_hooks`: `"5"` is not an integer, unknown
    keys are refused); preprocessing steps are a tagged union on `kind`; `Model` is the model
    file's layout. Errors come out as cattrs error trees: turn them into `$.path: problem`
    lines with `describe_structure_error`. `purenet.recipe` builds its converter on this one.

    Args:
        type_names: words for found values in messages (see `register_strict_hooks`).

    Example:
        >>> from purenet.preprocess import Scale
        >>> conv = make_converter()
        >>> conv.unstructure(Scale(0.01, 1.0))
        {'kind': 'scale', 'low': 0.01, 'high': 1.0, 'max_value': 255.0}
    """
    conv = cattrs.Converter(forbid_extra_keys=True)
    register_strict_hooks(conv, type_names)
    conv.register_unstructure_hook(np.ndarray, encode_array)
    conv.register_structure_hook(np.ndarray, lambda value, _: decode_array(value))
    for cl in PREPROCESS_STEPS.values():
        conv.register_unstructure_hook(cl, _unstructure_step(conv, cl))
    conv.register_structure_hook(PreprocessStep, lambda value, _: _structure_step(conv, value))
    conv.register_unstructure_hook(Model, lambda model: _unstructure_model(conv, model))
    conv.register_structure_hook(Model, lambda value, _: _structure_model(conv, value))
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


def describe_structure_error(exc: BaseException, path: str = "$") -> list[str]:
    """Turn a structuring error (a cattrs error tree) into `$.path: problem` lines.

    A leaf error whose message starts with `$` (like `decode_array`'s) is taken as relative
    to its position, so `$: shape [2] needs 2 values, got 1` found at `$.layers[0].w` reads
    `$.layers[0].w: shape [2] needs 2 values, got 1`; one that starts `Class.field: ` (like
    `Scale.high: expected low < high, ...`) is read at that field, `$.preprocess[0].high: ...`.

    Args:
        exc: what `converter.structure` raised.
        path: the JSON path of the structured value.

    Returns:
        One line per fault, in the order cattrs found them.

    Example:
        >>> from purenet.model import Dense
        >>> try:
        ...     converter.structure({"w": 1}, Dense)
        ... except Exception as exc:
        ...     describe_structure_error(exc)
        ['$.w: expected an array object, found int', "$: missing key 'b'"]
    """
    if isinstance(exc, ForbiddenExtraKeysError):
        known = ", ".join(f.name for f in attrs.fields(exc.cl)) if attrs.has(exc.cl) else ""
        extra = ", ".join(repr(key) for key in sorted(exc.extra_fields))
        return [f"{path}: unknown key {extra}; expected keys: {known}"]
    if isinstance(exc, ClassValidationError | IterableValidationError):
        lines: list[str] = []
        with_notes, without_notes = exc.group_exceptions()
        for sub, note in with_notes:
            child = _child_path(path, note)
            if isinstance(sub, KeyError) and isinstance(note, AttributeValidationNote):
                lines.append(f"{path}: missing key {note.name!r}")
            else:
                lines.extend(describe_structure_error(sub, child))
        for sub in without_notes:
            lines.extend(describe_structure_error(sub, path))
        return lines
    if isinstance(exc, BaseExceptionGroup):
        return [line for sub in exc.exceptions for line in describe_structure_error(sub, path)]
    message = str(exc)
    if message.startswith("$"):
        return [path + message[1:]]
    field = _FIELD_MESSAGE.match(message)
    if field:
        return [f"{path}.{field.group(1)}: {message[field.end() :]}"]
    return [f"{path}: {message}"]


_FIELD_MESSAGE = re.compile(r"^[A-Z]\w*\.(\w+): ")
"""A spec's message about one of its fields, `Scale.high: expected ...`, read at that field."""


def _summarize(lines: list[str], limit: int = 3) -> str:
    more = f" (and {len(lines) - limit} more)" if len(lines) > limit else ""
    return "; ".join(lines[:limit]) + more


converter = make_converter()
"""The package's configured converter: attrs trees with arrays <-> JSON-ready data."""


# ---------------------------------------------------------------------------------------------
# Model files


def model_to_data(model: Model) -> dict[str, Any]:
    """The model file's content as JSON-ready data (dicts, lists, strings, numbers).

    Args:
        model: the model.

    Returns:
        `{"format", "format_version", "architecture", "layers", "preprocess", "labels",
        "meta"}`; each array is `{"dtype", "shape", "data"}` with exact shortest decimals.

    Raises:
        ValueError: a weight or bias holds NaN or Inf (the message names its JSON path).

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((2, 1), output="sigmoid")
        >>> data = model_to_data(Model(arch, pn.init(arch, seed=0)))
        >>> data["format"], data["layers"][0]["w"]["shape"], data["labels"]
        ('purenet.model', [2, 1], ['0', '1'])
    """
    data: dict[str, Any] = converter.unstructure(model, Model)
    return data


def model_from_data(data: Any, *, source: str = "model data") -> Model:
    """Build a `Model` from parsed model-file JSON, checking every key, shape and value.

    Args:
        data: the parsed JSON object.
        source: a name for messages, usually the file path.

    Returns:
        The model, with read-only arrays of the stored dtypes, bit-exact.

    Raises:
        ModelFormatError: `"{source}: $.path: problem"`, for the first faults found: not a
            purenet model, a newer format version, unknown or missing keys, wrong types,
            unknown dtypes or step kinds, shapes that do not match their value counts or
            `architecture.sizes`, non-numeric or non-finite data, labels that do not match
            the outputs.

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((2, 3))
        >>> model = Model(arch, pn.init(arch, seed=0))
        >>> model_from_data(model_to_data(model)).arch.sizes
        (2, 3)
    """
    try:
        model: Model = converter.structure(data, Model)
    except Exception as exc:
        raise ModelFormatError(f"{source}: {_summarize(describe_structure_error(exc))}") from None
    return model


def save_model(path: str | os.PathLike[str], model: Model) -> None:
    """Write `model` to a JSON file atomically: the file is either the old one or the new one.

    Args:
        path: the file to write, conventionally `*.json`.
        model: the model.

    Raises:
        ModelFormatError: a weight holds NaN or Inf (nothing is written).
        OSError: the folder cannot be written.

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((784, 128, 10))
        >>> save_model("model.json", Model(arch, pn.init(arch, seed=0)))  # doctest: +SKIP
    """
    try:
        data = model_to_data(model)
    except ValueError as exc:
        raise ModelFormatError(f"{os.fspath(path)}: {exc}; refusing to save") from None
    write_json_atomic(path, data)


def load_model(path: str | os.PathLike[str]) -> Model:
    """Read a model file written by `save_model` (or by any program following the format).

    Args:
        path: the model file.

    Returns:
        The model; weights are bit-identical to those saved.

    Raises:
        ModelFormatError: the file is missing, not JSON (line and column given; a `.toml`
            file is said to be no model file), or does not match the format (a JSON file
            without `"format": "purenet.model"` is said to be no model file); the message
            starts with the file name and the JSON path, e.g.
            `model.json: $.layers[1].w: shape [128, 10] needs 1280 values, got 1279`.

    Example:
        >>> model = load_model("model.json")  # doctest: +SKIP
        >>> model.arch.sizes, model.labels[:3]  # doctest: +SKIP
        ((784, 128, 10), ('0', '1', '2'))
    """
    source = os.fspath(path)
    try:
        data = read_json(path, error=ModelFormatError)
    except ModelFormatError:
        # `purenet info recipes/mnist.toml` is an easy slip; "not valid JSON" would not say so.
        if Path(path).suffix.lower() == ".toml" and Path(path).is_file():
            raise ModelFormatError(
                f"{source}: not a purenet model file: a TOML file (a recipe? train it with "
                f"purenet run and give the model.json of its run folder)"
            ) from None
        raise
    return model_from_data(data, source=source)


def _describe_step(step: PreprocessStep) -> dict[str, Any]:
    if isinstance(step, Scale):
        text = f"scale [0, {step.max_value:g}] to [{step.low:g}, {step.high:g}]"
        return {
            "kind": step.kind,
            "text": text,
            "low": step.low,
            "high": step.high,
            "max_value": step.max_value,
        }
    if isinstance(step, Flatten):
        shape = None if step.input_shape is None else list(step.input_shape)
        text = "flatten" if shape is None else f"flatten {shape} to [{math.prod(shape)}]"
        return {"kind": step.kind, "text": text, "input_shape": shape}
    shape = [] if step.mean is None else list(step.mean.shape)
    where = "per feature" if shape else "over all values"
    return {
        "kind": step.kind,
        "text": f"standardize {where}",
        "shape": shape,
        "per_feature": step.per_feature,
    }


def describe_model(model: Model) -> dict[str, Any]:
    """Summarize a model for display (`purenet info`): JSON-ready data, nothing rendered.

    Args:
        model: the model.

    Returns:
        A dict with `architecture` (sizes, hidden, output, loss), `dtype`, `layers` (one
        dict per layer: `index`, `w_shape`, `b_shape`, `activation`, `parameters`),
        `parameters` (the total), `input_shape` (the raw per-sample shape when the steps fix
        it, else None), `preprocess` (one dict per step with `kind` and a one-line `text`),
        `labels`, `metrics`, `purenet_version`, `created`, `format_version` and `recipe`.

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((784, 128, 10))
        >>> describe_model(Model(arch, pn.init(arch, seed=0)))["parameters"]
        101770
    """
    arch = model.arch
    layers = []
    for i, layer in enumerate(model.params):
        last = i == len(model.params) - 1
        layers.append(
            {
                "index": i,
                "w_shape": list(layer.w.shape),
                "b_shape": list(layer.b.shape),
                "activation": arch.output if last else arch.hidden,
                "parameters": int(layer.w.size + layer.b.size),
            }
        )
    input_shape = next(
        (
            list(step.input_shape)
            for step in model.preprocess
            if isinstance(step, Flatten) and step.input_shape is not None
        ),
        None,
    )
    return {
        "format_version": FORMAT_VERSION,
        "architecture": converter.unstructure(arch),
        "dtype": model.params[0].w.dtype.name,
        "layers": layers,
        "parameters": sum(layer["parameters"] for layer in layers),
        "input_shape": input_shape,
        "preprocess": [_describe_step(step) for step in model.preprocess],
        "labels": list(model.labels),
        "metrics": dict(model.meta.metrics),
        "purenet_version": model.meta.purenet_version,
        "created": model.meta.created,
        "recipe": model.meta.recipe,
    }


# ---------------------------------------------------------------------------------------------
# JSON files


def to_json_text(data: Any) -> str:
    """Serialize JSON-ready `data` to text; NaN/Inf raise `ValueError`."""
    return json.dumps(data, allow_nan=False, separators=(",", ":"))


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON-ready `data` to `path` atomically: a temp file in the same folder, then rename.

    A crash or an exception at any point leaves the previous file at `path` intact; an
    exception also removes the temp file (a killed process may leave a `.name.*.tmp` behind).

    Raises:
        ValueError: `data` holds NaN or Inf, or something JSON cannot hold.
        OSError: the folder cannot be written.
    """
    text = to_json_text(data)
    with atomic_write(path) as handle:
        handle.write(text)


class _Constant:
    """What `NaN`, `Infinity` or `-Infinity` parse to, so the error can name its JSON path."""

    def __init__(self, name: str) -> None:
        self.name = name


def _constant_path(value: Any, path: str = "$") -> tuple[str, str] | None:
    """(JSON path, literal) of the first `_Constant` in parsed data, in document order."""
    if isinstance(value, _Constant):
        return path, value.name
    if isinstance(value, dict | list):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in children:
            child = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
            found = _constant_path(item, child)
            if found is not None:
                return found
    return None


# A JSON string, or one of the constants json.loads would read: the first constant outside a
# string is the one `_constant_path` finds (duplicate keys are refused, so the orders agree).
_CONSTANT_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def _refuse_constants(data: Any, text: str) -> None:
    found = _constant_path(data)
    if found is None:
        return
    path, name = found
    where = ""
    match = next((m for m in _CONSTANT_OR_STRING.finditer(text) if m.group(1)), None)
    if match is not None:
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        where = f" (line {line} column {column})"
    raise ValueError(f"{path}: {name} is not valid JSON{where}")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in an object")
        result[key] = value
    return result


def read_json(path: str | os.PathLike[str], *, error: type[PurenetError] = ModelFormatError) -> Any:
    """Read a JSON file, refusing NaN/Infinity and duplicate keys; faults raise `error`.

    Raises:
        error: the file is missing, unreadable or not valid JSON (with line and column); the
            message starts with the file name, and for NaN or Infinity gives its JSON path:
            `model.json: $.layers[0].w.data[3]: NaN is not valid JSON (line 1 column 80)`.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{os.fspath(path)}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise error(f"{os.fspath(path)}: not a UTF-8 text file") from None
    try:
        data = json.loads(text, parse_constant=_Constant, object_pairs_hook=_refuse_duplicates)
        _refuse_constants(data, text)
        return data
    except json.JSONDecodeError as exc:
        # Some messages end in "at" ("Unterminated string starting at"): do not repeat it.
        at = "" if exc.msg.endswith(" at") else " at"
        where = f"{at} line {exc.lineno} column {exc.colno}"
        raise error(f"{os.fspath(path)}: not valid JSON: {exc.msg}{where}") from None
    except ValueError as exc:
        raise error(f"{os.fspath(path)}: {exc}") from None
