"""The model file: save, load and describe a `Model` as one exact JSON file.

Arrays use the exact codec of `purenet.core.arrays`, written as `{"dtype": "float32",
"shape": [2, 3], "data": [...]}`: `data` is the flat row-major list of values, each float the
shortest decimal that reads back (as a float64, then cast to the array's dtype) to the same
value, so a reader in any language gets the exact numbers. NaN and Inf are refused on both
sides.

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
    >>> from purenet.pipeline.steps import Flatten, Scale, apply_preprocess
    >>> arch = pn.Architecture((4, 8, 3))
    >>> model = Model(arch, pn.init(arch, seed=0), (Scale(), Flatten((2, 2))), ("a", "b", "c"))
    >>> save_model("model.json", model)  # doctest: +SKIP
    >>> model = load_model("model.json")  # doctest: +SKIP
    >>> raw = np.zeros((5, 2, 2), np.uint8)
    >>> pn.predict(model.arch, model.params, apply_preprocess(model.preprocess, raw)).shape
    (5,)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import cattrs
import numpy as np
from cattrs.gen import make_dict_unstructure_fn

from purenet.core.arrays import type_name
from purenet.core.checks import FieldError
from purenet.core.convert import describe_structure_error, make_converter, summarize
from purenet.core.jsonio import read_json, write_json_atomic
from purenet.errors import ModelFormatError
from purenet.modelfile.model import Model, ModelMeta, output_names
from purenet.nn.model import Architecture, Dense
from purenet.pipeline.steps import (
    PREPROCESS_STEPS,
    PreprocessStep,
    flatten_shape,
)


def _unstructure_model(conv: cattrs.Converter, model: Model, version: int) -> dict[str, Any]:
    for i, layer in enumerate(model.params):
        for name in ("w", "b"):
            if not np.isfinite(getattr(layer, name)).all():
                raise ValueError(f"$.layers[{i}].{name}: holds NaN or Inf")
    return {
        "format": FORMAT,
        "format_version": version,
        "architecture": conv.unstructure(model.arch),
        "layers": [conv.unstructure(layer) for layer in model.params],
        "preprocess": [conv.unstructure(step) for step in model.preprocess],
        "labels": list(model.labels),
        "meta": conv.unstructure(model.meta),
        # Written only when set, so files without them read everywhere (see _OPTIONAL_KEYS).
        **({"targets": conv.unstructure(model.targets)} if model.targets is not None else {}),
        **({"multilabel": True} if model.multilabel else {}),
    }


def _first_base64(value: Any, path: str) -> str | None:
    """The JSON path of the first base64 array in `value` (the parsed file is depth-bounded),
    or None."""
    if isinstance(value, dict):
        if "base64" in value and "dtype" in value:
            return path
        items: Iterable[tuple[str, Any]] = ((f"{path}.{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    return next((found for p, v in items if (found := _first_base64(v, p)) is not None), None)


def _check_keys(value: Any, keys: Iterable[str], path: str) -> None:
    """Refuse an object that is not a dict or lacks a key (the file is always written whole)."""
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected an object, found {type_name(value)}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueError(f"{path}: missing key {', '.join(map(repr, missing))}")


def _fields(cl: type) -> list[str]:
    return [field.name for field in attrs.fields(cl)]


def _check_format(data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"$: expected a model object, found {type_name(data)}")
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
    if version == DECIMAL_VERSION:
        places = (_first_base64(data.get(key), f"$.{key}") for key in _ARRAY_PARTS)
        compact = next((place for place in places if place is not None), None)
        if compact is not None:
            raise ValueError(
                f"{compact}: a base64 array in a version-1 file (version 1 has decimal "
                f"arrays only; base64 needs format_version {FORMAT_VERSION})"
            )
    unknown = sorted(set(data) - set(_MODEL_KEYS) - set(_OPTIONAL_KEYS))
    if unknown:
        raise ValueError(
            f"$: unknown key {', '.join(map(repr, unknown))}; expected keys: "
            f"{', '.join(_MODEL_KEYS)}; optional: {', '.join(_OPTIONAL_KEYS)}"
        )
    _check_keys(data, _MODEL_KEYS, "$")
    _check_keys(data["architecture"], ARCHITECTURE_KEYS, "$.architecture")
    _check_keys(data["meta"], _fields(ModelMeta), "$.meta")
    for name in ("layers", "preprocess"):
        if not isinstance(data[name], list):
            raise ValueError(f"$.{name}: expected a list, found {type_name(data[name])}")
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
    for key, cl in _OPTIONAL_KEYS.items():
        if key in data:
            try:
                parts[key] = conv.structure(data[key], cl)
            except Exception as exc:
                lines.extend(describe_structure_error(exc, f"$.{key}"))
    if lines:
        raise ValueError(summarize(lines))
    return Model(
        parts["architecture"],
        parts["layers"],
        parts["preprocess"],
        parts["labels"],
        parts["meta"],
        targets=parts.get("targets"),
        multilabel=parts.get("multilabel", False),
    )


FORMAT = "purenet.model"
"""The `format` value of every model file."""

FORMAT_VERSION = 2
"""The newest model file version this purenet reads and writes. Version 2 is version 1 plus
arrays in base64 (`{"dtype", "shape", "base64"}`, see `purenet.core.arrays`); files whose
arrays are all decimal lists are written as version 1, so every version-1 reader reads them."""

DECIMAL_VERSION = 1
"""The version of model files written with decimal arrays (the default)."""

_MODEL_PARTS: dict[str, Any] = {
    "architecture": Architecture,
    "layers": tuple[Dense, ...],
    "preprocess": tuple[PreprocessStep, ...],
    "labels": tuple[str, ...],
    "meta": ModelMeta,
}

_MODEL_KEYS = ("format", "format_version", *_MODEL_PARTS)

_ARRAY_PARTS = ("layers", "preprocess", "targets")
"""The parts of a model file that hold arrays."""

_OPTIONAL_KEYS: dict[str, Any] = {"targets": PreprocessStep, "multilabel": bool}
"""Written only when set: `targets`, the fitted scaling of a regression model's targets
(`{"kind": "standardize", "mean": [...], "std": [...], "per_feature": true}`), and
`"multilabel": true` for sigmoid outputs that are independent 0/1 labels."""

ARCHITECTURE_KEYS = ("sizes", "hidden", "output", "loss")
"""Written in every model file. The later options (bias, dropout, input_dropout, huber_delta)
are written only where they differ from their defaults, so a file without them is read by
every purenet of this format version, and an old file reads with the defaults."""


def _unstructure_architecture(conv: cattrs.Converter, arch: Architecture) -> dict[str, Any]:
    return {
        field.name: conv.unstructure(getattr(arch, field.name))
        for field in attrs.fields(Architecture)
        if field.name in ARCHITECTURE_KEYS or getattr(arch, field.name) != field.default
    }


# ---------------------------------------------------------------------------------------------
# Model files


def _unstructure_step(conv: cattrs.Converter, cl: type) -> Callable[[Any], dict[str, Any]]:
    base: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cl, conv)
    return lambda step: {"kind": step.kind, **base(step)}


def register_steps(conv: cattrs.Converter) -> None:
    """Teach `conv` the preprocessing steps of `PREPROCESS_STEPS`: a tagged union on `kind`,
    every field written."""
    for cl in PREPROCESS_STEPS.values():
        conv.register_unstructure_hook(cl, _unstructure_step(conv, cl))
    conv.register_structure_hook(PreprocessStep, lambda value, _: _structure_step(conv, value))


def _structure_step(conv: cattrs.Converter, value: Any) -> PreprocessStep:
    supported = ", ".join(sorted(PREPROCESS_STEPS))
    if not isinstance(value, dict):
        raise FieldError("", f"expected a step object with a kind, found {type_name(value)}")
    if "kind" not in value:
        raise FieldError("", f"missing key 'kind'; a preprocessing step is one of: {supported}")
    kind = value["kind"]
    if kind not in PREPROCESS_STEPS:
        raise FieldError("kind", f"unknown preprocessing step {kind!r}; supported: {supported}")
    fields = {key: item for key, item in value.items() if key != "kind"}
    step: PreprocessStep = conv.structure(fields, PREPROCESS_STEPS[kind])
    return step


def make_model_converter(*, compact: bool = False) -> cattrs.Converter:
    """The strict converter (`make_converter`) plus preprocessing steps and the model file;
    `compact` writes arrays in base64 (a version-2 file)."""
    conv = make_converter(compact_arrays=compact)
    version = FORMAT_VERSION if compact else DECIMAL_VERSION
    register_steps(conv)
    conv.register_unstructure_hook(Architecture, lambda arch: _unstructure_architecture(conv, arch))
    conv.register_unstructure_hook(Model, lambda model: _unstructure_model(conv, model, version))
    conv.register_structure_hook(Model, lambda value, _: _structure_model(conv, value))
    return conv


converter = make_model_converter()
"""The model file's converter: attrs trees with arrays and steps <-> JSON-ready data."""

compact_converter = make_model_converter(compact=True)
"""`converter`, writing arrays in base64 (`model_to_data(model, compact=True)`)."""


def model_to_data(model: Model, *, compact: bool = False) -> dict[str, Any]:
    """The model file's content as JSON-ready data (dicts, lists, strings, numbers).

    Args:
        model: the model.
        compact: arrays as base64 of their little-endian bytes (format version 2, about a
            third of the size for float32) instead of decimal lists (version 1).

    Returns:
        `{"format", "format_version", "architecture", "layers", "preprocess", "labels",
        "meta"}`; each array is `{"dtype", "shape", "data"}` with exact shortest decimals,
        or `{"dtype", "shape", "base64"}` with `compact`.

    Raises:
        ValueError: a weight or bias holds NaN or Inf (the message names its JSON path).

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((2, 1), output="sigmoid")
        >>> data = model_to_data(Model(arch, pn.init(arch, seed=0)))
        >>> data["format"], data["layers"][0]["w"]["shape"], data["labels"]
        ('purenet.model', [2, 1], ['0', '1'])
    """
    data: dict[str, Any] = (compact_converter if compact else converter).unstructure(model, Model)
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
        raise ModelFormatError(f"{source}: {summarize(describe_structure_error(exc))}") from None
    return model


def save_model(path: str | os.PathLike[str], model: Model, *, compact: bool = False) -> None:
    """Write `model` to a JSON file atomically: the file is either the old one or the new one.

    Args:
        path: the file to write, conventionally `*.json`.
        model: the model.
        compact: arrays as base64 of their bytes (exact, about a third of the size for
            float32; format version 2) instead of decimal lists.

    Raises:
        ModelFormatError: a weight holds NaN or Inf (nothing is written).
        OSError: the folder cannot be written.

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((784, 128, 10))
        >>> save_model("model.json", Model(arch, pn.init(arch, seed=0)))  # doctest: +SKIP
    """
    try:
        data = model_to_data(model, compact=compact)
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
    return read_model_file(path)[0]


def read_model_file(path: str | os.PathLike[str]) -> tuple[Model, int]:
    """`load_model`, also giving the file's `format_version` (1: decimal arrays, 2: base64
    arrays allowed); raises as `load_model` does."""
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
    return model_from_data(data, source=source), data["format_version"]


def describe_model(model: Model, *, format_version: int = DECIMAL_VERSION) -> dict[str, Any]:
    """Summarize a model for display (`purenet info`): JSON-ready data, nothing rendered.

    Args:
        model: the model.
        format_version: the version of the file it was read from (`read_model_file`).

    Returns:
        A dict with `architecture` (sizes, hidden, output, loss), `dtype`, `layers` (one
        dict per layer: `index`, `w_shape`, `b_shape`, `activation`, `parameters`),
        `parameters` (the total), `input_shape` (the raw per-sample shape when the steps fix
        it, else None), `preprocess` (one dict per step with `kind` and a one-line `text`),
        `labels`, `task` (`classification`, `regression` or `multilabel`), `outputs` (the
        output columns' names, `purenet.modelfile.model.output_names`), `targets` (the
        target scaling's description, or None), `metrics`, `purenet_version`, `created`,
        `format_version` and `recipe`.

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((784, 128, 10))
        >>> info = describe_model(Model(arch, pn.init(arch, seed=0)))
        >>> info["parameters"], info["task"]
        (101770, 'classification')
    """
    arch = model.arch
    layers = []
    for i, layer in enumerate(model.params):
        layers.append(
            {
                "index": i,
                "w_shape": list(layer.w.shape),
                "b_shape": list(layer.b.shape),
                "activation": arch.layer_activations[i],
                "parameters": int(layer.w.size + layer.b.size),
            }
        )
    shape = flatten_shape(model.preprocess)
    task = "regression" if arch.is_regression else "classification"
    task = "multilabel" if model.multilabel else task
    return {
        "format_version": format_version,
        "architecture": converter.unstructure(arch),
        "dtype": model.params[0].w.dtype.name,
        "layers": layers,
        "parameters": sum(layer["parameters"] for layer in layers),
        "input_shape": None if shape is None else list(shape),
        "preprocess": [step.describe() for step in model.preprocess],
        "labels": list(model.labels),
        "task": task,
        "outputs": list(output_names(model)),
        "targets": None if model.targets is None else model.targets.describe(),
        "metrics": dict(model.meta.metrics),
        "purenet_version": model.meta.purenet_version,
        "created": model.meta.created,
        "recipe": model.meta.recipe,
    }
