"""JSON Schemas (draft 2020-12) generated from the attrs types: the model file, and any attrs tree.

`attrs_json_schema` walks an attrs class and its field types (attrs classes, unions, `Literal`,
homogeneous tuples, `dict[str, ...]`, scalars) and writes one `$defs` entry per class. A class
with a class-level `kind` tag (preprocessing steps, optimizers, schedules, augmentations) gets a
required `"kind": {"const": ...}` property, so a union of such classes is the tagged union the
loaders read. Facts the types do not carry (the names a registry accepts, a lower bound a
validator enforces) come in as `field_schemas`, keyed by `(class, field name)`, so a new field or
section is picked up with no change here, and a constraint is one line where it is known.

`model_json_schema` is the model file's schema, built this way from `Architecture`, `Dense`, the
preprocessing steps and `ModelMeta`, with the registries' names as enums. A schema cannot check
everything the loader checks (value counts against shapes, layer shapes against
`architecture.sizes`, the number of labels); `load_model` remains the authority.

Example:
    >>> import jsonschema
    >>> from purenet.exchange.schemas import model_json_schema
    >>> schema = model_json_schema()
    >>> schema["properties"]["format"]
    {'const': 'purenet.model'}
    >>> jsonschema.Draft202012Validator.check_schema(schema)
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

from purenet.core.arrays import DTYPES
from purenet.modelfile.io import ARCHITECTURE_KEYS, FORMAT, FORMAT_VERSION
from purenet.modelfile.model import ModelMeta
from purenet.nn.activations import ACTIVATIONS, OUTPUTS
from purenet.nn.losses import LOSSES
from purenet.nn.model import Architecture, Dense
from purenet.pipeline.steps import PREPROCESS_STEPS, Flatten, Scale, Standardize

DRAFT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect every schema here declares."""

FieldSchemas = Mapping[tuple[type, str], Mapping[str, Any]]
"""Extra keywords per `(attrs class, field name)`, merged into (or replacing) the field's schema."""

_FLOAT_DTYPES = ("float32", "float64")


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


class _Builder:
    """Walks types into schemas, collecting one `$defs` entry per attrs class."""

    def __init__(
        self,
        type_schemas: Mapping[Any, Mapping[str, Any]],
        field_schemas: FieldSchemas,
        skip_field: Callable[[attrs.Attribute[Any]], bool],
        all_required: bool,
    ) -> None:
        self.type_schemas = type_schemas
        self.field_schemas = field_schemas
        self.skip_field = skip_field
        self.all_required = all_required
        self.defs: dict[str, dict[str, Any]] = {}

    def of(self, tp: Any) -> dict[str, Any]:
        for known, schema in self.type_schemas.items():
            if tp == known:
                return dict(schema)
        if attrs.has(tp):
            return self.of_class(tp)
        if _is_union(tp):
            return self.of_union(typing.get_args(tp))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": self.of(args[0])}
        if origin is dict and args and args[0] is str:
            return {"type": "object", "additionalProperties": self.of(args[1])}
        scalars: dict[Any, str] = {
            bool: "boolean",
            int: "integer",
            float: "number",
            str: "string",
            type(None): "null",
            dict: "object",
        }
        if tp in scalars:
            return {"type": scalars[tp]}
        # Any, or a type with a custom hook this walker does not know: accept any value
        # rather than refuse valid files; `type_schemas` can describe it.
        return {}

    def of_union(self, members: tuple[Any, ...]) -> dict[str, Any]:
        options = [self.of(member) for member in members]
        if all(set(option) == {"type"} for option in options):
            return {"type": [option["type"] for option in options]}
        return {"anyOf": options}

    def of_class(self, cl: type) -> dict[str, Any]:
        name = cl.__name__
        if name not in self.defs:
            self.defs[name] = {}  # a placeholder: a recursive type refers to itself by name
            self.defs[name] = self.class_schema(cl)
        return {"$ref": f"#/$defs/{name}"}

    def class_schema(self, cl: type) -> dict[str, Any]:
        hints = typing.get_type_hints(cl)
        properties: dict[str, Any] = {}
        required: list[str] = []
        kind = getattr(cl, "kind", None)
        if isinstance(kind, str):
            properties["kind"] = {"const": kind}
            required.append("kind")
        for field in attrs.fields(cl):
            if self.skip_field(field):
                continue
            schema = self.of(hints.get(field.name, field.type))
            schema.update(self.field_schemas.get((cl, field.name), {}))
            if field.default is not attrs.NOTHING and not self.all_required:
                default = field.default
                if not isinstance(default, attrs.Factory) and _is_json_value(default):  # type: ignore[arg-type]
                    schema["default"] = list(default) if isinstance(default, tuple) else default
            properties[field.name] = schema
            if field.default is attrs.NOTHING or self.all_required:
                required.append(field.name)
        doc = (cl.__doc__ or "").strip().splitlines()
        result: dict[str, Any] = {"type": "object"}
        if doc:
            result["description"] = doc[0]
        result.update(properties=properties, required=required, additionalProperties=False)
        return result


def _is_json_value(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    return isinstance(value, tuple) and all(_is_json_value(item) for item in value)


def attrs_json_schema(
    root: type,
    *,
    title: str,
    type_schemas: Mapping[Any, Mapping[str, Any]] | None = None,
    field_schemas: FieldSchemas | None = None,
    skip_field: Callable[[attrs.Attribute[Any]], bool] = lambda field: False,
    all_required: bool = False,
) -> dict[str, Any]:
    """A draft 2020-12 JSON Schema for the data a strict cattrs converter structures into `root`.

    Args:
        root: an attrs class; its fields' types are followed to every class they name.
        title: the schema's title.
        type_schemas: schemas for types that have custom hooks (matched with `==`, so a union
            such as `float | Schedule` can be given whole).
        field_schemas: extra keywords per `(class, field name)`: enums, bounds, descriptions.
        skip_field: leave a field out (e.g. one that is not part of the file).
        all_required: every field is required (a file written whole), not only those
            without a default; defaults are then not recorded.

    Returns:
        The schema: `root`'s object schema at the top level plus `$defs` for other classes.

    Example:
        >>> import attrs
        >>> @attrs.frozen
        ... class Point:
        ...     x: float
        ...     label: str | None = None
        >>> attrs_json_schema(Point, title="point")["properties"]["label"]
        {'type': ['string', 'null'], 'default': None}
    """
    builder = _Builder(type_schemas or {}, field_schemas or {}, skip_field, all_required)
    top = builder.class_schema(root)
    builder.defs.pop(root.__name__, None)
    schema: dict[str, Any] = {"$schema": DRAFT, "title": title, **top}
    if builder.defs:
        schema["$defs"] = dict(sorted(builder.defs.items()))
    return schema


BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
"""Standard base64 (RFC 4648 section 4) with padding, as `encode_array(compact=True)` writes."""


def _array_schema(dtypes: tuple[str, ...], item: Mapping[str, Any]) -> dict[str, Any]:
    dtype = {"enum": list(dtypes)}
    shape = {"type": "array", "items": {"type": "integer", "minimum": 0}}
    decimal = {
        "type": "object",
        "description": "An array: dtype, shape and the values flat in row-major (C) order.",
        "properties": {
            "dtype": dtype,
            "shape": shape,
            "data": {"type": "array", "items": dict(item)},
        },
        "required": ["dtype", "shape", "data"],
        "additionalProperties": False,
    }
    compact = {
        "type": "object",
        "description": (
            "An array in base64 (format version 2): dtype, shape and the base64 of the values' "
            "little-endian bytes in row-major (C) order; product(shape) * itemsize bytes."
        ),
        "properties": {
            "dtype": dtype,
            "shape": shape,
            "base64": {"type": "string", "contentEncoding": "base64", "pattern": BASE64},
        },
        "required": ["dtype", "shape", "base64"],
        "additionalProperties": False,
    }
    return {"oneOf": [decimal, compact]}


def _one_or_list(item: Mapping[str, Any]) -> dict[str, Any]:
    """One value for every layer, or a list of one per layer."""
    return {"anyOf": [dict(item), {"type": "array", "items": dict(item), "minItems": 1}]}


def _loss_pairs() -> dict[str, Any]:
    pairs = [
        {"properties": {"output": {"const": output}, "loss": {"const": loss}}}
        for output, loss in sorted(LOSSES)
    ]
    return {"anyOf": pairs}


def model_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the model file `save_model` writes.

    Returns:
        The schema as JSON-ready data. It checks the keys (all required but the architecture's
        later options, no others), the types, the registries' names (activations, outputs,
        losses and their supported pairs, step kinds, dtypes), positive sizes and widths,
        dropout rates in [0, 1), `std > 0`, unique labels and the format version this purenet
        reads.

    Example:
        >>> sorted(model_json_schema()["required"])
        ['architecture', 'format', 'format_version', 'labels', 'layers', 'meta', 'preprocess']
    """
    number = {"type": "number"}
    floats = {"$ref": "#/$defs/FloatArray"}
    positive = {"$ref": "#/$defs/PositiveFloatArray"}
    width = {"type": "integer", "minimum": 1}
    rate = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    field_schemas: dict[tuple[type, str], dict[str, Any]] = {
        (Architecture, "sizes"): {"items": width, "minItems": 2},
        (Architecture, "hidden"): _one_or_list({"enum": sorted(ACTIVATIONS)}),
        (Architecture, "output"): {"enum": sorted(OUTPUTS)},
        (Architecture, "loss"): {"enum": sorted({loss for _, loss in LOSSES})},
        (Architecture, "dropout"): _one_or_list(rate),
        (Architecture, "input_dropout"): rate,
        (Architecture, "huber_delta"): {"exclusiveMinimum": 0},
        (Dense, "w"): {"description": "weights (fan_in, fan_out): z = a_in @ w + b"},
        (Dense, "b"): {"description": "biases (fan_out,)"},
        (Scale, "max_value"): {"exclusiveMinimum": 0},
        (Flatten, "input_shape"): {
            "anyOf": [{"type": "array", "items": width, "minItems": 1}, {"type": "null"}]
        },
        (Standardize, "mean"): {"anyOf": [floats, {"type": "null"}]},
        (Standardize, "std"): {"anyOf": [positive, {"type": "null"}]},
        (ModelMeta, "recipe"): {"anyOf": [{"type": "object"}, {"type": "null"}]},
    }
    steps = [{"$ref": f"#/$defs/{cl.__name__}"} for cl in PREPROCESS_STEPS.values()]
    builder = _Builder({np.ndarray: floats}, field_schemas, lambda field: False, True)
    architecture = builder.of(Architecture)
    # The options added after the first release are written only when set (see modelfile.io).
    builder.defs["Architecture"]["required"] = list(ARCHITECTURE_KEYS)
    builder.defs["Architecture"] = {"allOf": [builder.defs["Architecture"], _loss_pairs()]}
    layer = builder.of(Dense)
    for cl in PREPROCESS_STEPS.values():
        builder.of(cl)
    meta = builder.of(ModelMeta)
    builder.defs["FloatArray"] = _array_schema(_FLOAT_DTYPES, number)
    builder.defs["PositiveFloatArray"] = _array_schema(
        _FLOAT_DTYPES, {"type": "number", "exclusiveMinimum": 0}
    )
    builder.defs["Array"] = _array_schema(DTYPES, {"type": ["number", "boolean"]})
    return {
        "$schema": DRAFT,
        "title": "purenet model file",
        "description": (
            f"One trained network: {FORMAT!r} format, version 1 or {FORMAT_VERSION}. Arrays "
            "are flat row-major lists of the shortest decimals that read back to the same "
            "float (version 1), or the base64 of their little-endian bytes (version 2)."
        ),
        "type": "object",
        "properties": {
            "format": {"const": FORMAT},
            "format_version": {"type": "integer", "minimum": 1, "maximum": FORMAT_VERSION},
            "architecture": architecture,
            "layers": {"type": "array", "items": layer, "minItems": 1},
            "preprocess": {"type": "array", "items": {"oneOf": steps}},
            "labels": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "meta": meta,
            "targets": {"$ref": "#/$defs/Standardize"},
            "multilabel": {"type": "boolean"},
        },
        "required": ["format", "format_version", *_MODEL_PARTS],
        "additionalProperties": False,
        "allOf": [_decimal_in_version_1()],
        "$defs": dict(sorted(builder.defs.items())),
    }


def _decimal_in_version_1() -> dict[str, Any]:
    """Version 1 files hold decimal arrays only: no `base64` in a layer or a step."""
    decimal = {"not": {"type": "object", "required": ["base64"]}}
    stats = {"properties": {"mean": decimal, "std": decimal}}
    return {
        "if": {"properties": {"format_version": {"const": 1}}, "required": ["format_version"]},
        "then": {
            "properties": {
                "layers": {"items": {"properties": {"w": decimal, "b": decimal}}},
                "preprocess": {"items": stats},
                "targets": stats,
            }
        },
    }


_MODEL_PARTS = ("architecture", "layers", "preprocess", "labels", "meta")
