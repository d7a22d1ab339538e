"""Recipes: one TOML (or JSON) file that says what to train, on what data, and how.

A recipe is structured by one strict cattrs converter into the frozen `Recipe` tree. Every
fault names its JSON path: unknown or misspelled keys (with a suggestion when one is close),
wrong types (with the expected type) and invalid values. Tagged unions pick a class by its
`kind`: pipeline steps, augmentations, optimizers, learning-rate schedules and file sources.
`dump_recipe` turns a `Recipe` back into the same plain data (tables, lists, numbers, strings),
and `to_toml` writes that data as TOML.

Example:
    >>> from purenet.recipe.load import recipe_from_data
    >>> recipe = recipe_from_data({
    ...     "data": {"train": "mnist:train", "test": "mnist:test"},
    ...     "pipeline": {"steps": [{"kind": "scale"}, {"kind": "flatten"}]},
    ...     "model": {"sizes": [784, 128, 10]},
    ...     "optimizer": {"kind": "adam", "learning_rate": 0.001},
    ...     "train": {"epochs": 3, "batch_size": 64},
    ... })
    >>> recipe.optimizer.kind, recipe.train.epochs
    ('adam', 3)
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn
from cattrs.gen import override as field_override

from purenet.core.arrays import describe_found
from purenet.core.checks import FieldError
from purenet.core.convert import ErrorWording, describe_structure_error, make_converter
from purenet.core.jsonio import parse_json, parse_toml, read_text_file
from purenet.errors import RecipeError
from purenet.nn.init import INIT_SPECS, InitScheme
from purenet.optim.optimizers import OPTIMIZERS, Optimizer
from purenet.optim.schedules import SCHEDULES, Schedule
from purenet.pipeline.steps import PREPROCESS_STEPS
from purenet.recipe.augment_section import Affine, Rotate, Shift
from purenet.recipe.schema import (
    FITTED,
    Augmentation,
    Columns,
    CsvSource,
    DatasetSource,
    FilesSource,
    IdxSource,
    ImageShape,
    Label,
    Recipe,
    RecipeStep,
    Source,
    suggest,
)

# ---------------------------------------------------------------------------------------------
# The converter

_TAGGED: dict[Any, dict[str, type]] = {
    RecipeStep: {**PREPROCESS_STEPS, ImageShape.kind: ImageShape},
    Augmentation: {cls.kind: cls for cls in (Rotate, Shift, Affine)},
    Optimizer: dict(OPTIMIZERS),
    Schedule: dict(SCHEDULES),
    InitScheme: dict(INIT_SPECS),
}


_FILE_SOURCES: dict[str, type] = {"idx": IdxSource, "csv": CsvSource, "files": FilesSource}

_LEARNING_RATE = float | Schedule

_PER_LAYER: dict[Any, type] = {
    str | tuple[str, ...]: str,
    bool | tuple[bool, ...] | None: bool,
    float | tuple[float, ...] | None: float,
}
"""Model options given once for every layer or as a list with one value per layer."""

_INIT = str | InitScheme | None

_KEEP_BEST = bool | str | None

_BATCH_SIZE = int | Literal["full"]


TOML_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "array",
    dict: "table",
    type(None): "null",
}
"""How recipe messages name the types of found values: TOML's words."""


def _found(value: Any) -> str:
    return describe_found(value, TOML_TYPE_NAMES)


def _register_tagged(conv: cattrs.Converter) -> None:
    """Tagged unions: a table whose `kind` picks the class (steps, augmentations, optimizers,
    schedules); a recipe may not hold a step's fitted fields."""

    def structure_tagged(value: Any, cl: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected a table with a 'kind' key, found {_found(value)}")
        registry = _TAGGED[cl]
        if "kind" not in value:
            raise FieldError("kind", f"missing; expected one of: {', '.join(registry)}")
        kind = value["kind"]
        if kind not in registry:
            raise FieldError("kind", f"unknown kind {kind!r}{suggest(str(kind), list(registry))}")
        for name in getattr(registry[kind], "fitted_fields", ()):
            if name in value:
                raise FieldError(name, FITTED)
        rest = {k: v for k, v in value.items() if k != "kind"}
        return conv.structure(rest, registry[kind])

    def is_tagged(cl: Any) -> bool:
        return any(cl == union for union in _TAGGED)

    conv.register_structure_hook_func(is_tagged, structure_tagged)


def _register_sources(conv: cattrs.Converter) -> None:
    """Data sources: `"name:split"`, or a table with kind `idx` or `csv`; optional ones too."""

    def structure_source(value: Any, _: Any) -> Source:
        if isinstance(value, str):
            name, colon, split = value.partition(":")
            if not colon or not name or not split:
                raise ValueError(
                    f"expected 'name:split' (e.g. 'mnist:train') or a table with kind = "
                    f"'idx', 'csv' or 'files', found {value!r}"
                )
            return conv.structure({"name": name, "split": split}, DatasetSource)
        if not isinstance(value, dict):
            raise TypeError(f"expected 'name:split' or a table, found {_found(value)}")
        kind = value.get("kind")
        if kind not in _FILE_SOURCES:
            found = "missing" if kind is None else f"unknown kind {kind!r}"
            raise FieldError("kind", f"{found}; a file source has kind 'idx', 'csv' or 'files'")
        rest = {k: v for k, v in value.items() if k != "kind"}
        file_source: IdxSource | CsvSource | FilesSource = conv.structure(rest, _FILE_SOURCES[kind])
        return file_source

    conv.register_structure_hook_func(lambda t: t == Source, structure_source)
    conv.register_structure_hook_func(
        lambda t: t == Source | None,
        lambda value, _: None if value is None else structure_source(value, Source),
    )


def _register_unions(conv: cattrs.Converter) -> None:
    """A learning rate (a number or a schedule table), a batch size (an integer or "full"),
    per-layer model options (one value or a list), an init scheme (a name or a table) and
    keep_best (a flag or a metric name)."""

    def structure_rate(value: Any, _: Any) -> float | Schedule:
        if isinstance(value, dict):
            schedule: Schedule = conv.structure(value, Schedule)  # type: ignore[arg-type]
            return schedule
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number or a schedule table, found {_found(value)}")
        return float(value)

    conv.register_structure_hook_func(lambda t: t == _LEARNING_RATE, structure_rate)

    def structure_batch(value: Any, _: Any) -> int | str:
        if value == "full" or (isinstance(value, int) and not isinstance(value, bool)):
            batch: int | str = value
            return batch
        raise TypeError(f'expected an integer or "full", found {_found(value)}')

    conv.register_structure_hook_func(lambda t: t == _BATCH_SIZE, structure_batch)

    def structure_per_layer(value: Any, cl: Any) -> Any:
        if value is None and type(None) in cl.__args__:
            return None
        one = _PER_LAYER[cl]
        if isinstance(value, list):
            return conv.structure(value, tuple[one, ...])  # type: ignore[valid-type]
        return conv.structure(value, one)

    conv.register_structure_hook_func(lambda t: t in _PER_LAYER, structure_per_layer)

    def structure_init(value: Any, _: Any) -> str | InitScheme | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, dict):
            scheme: InitScheme = conv.structure(value, InitScheme)  # type: ignore[arg-type]
            return scheme
        raise TypeError(f"expected a scheme name or a table with a 'kind', found {_found(value)}")

    conv.register_structure_hook_func(lambda t: t == _INIT, structure_init)

    def structure_keep_best(value: Any, _: Any) -> bool | str | None:
        if value is None or isinstance(value, bool | str):
            return value
        raise TypeError(f"expected true, false or a metric name, found {_found(value)}")

    conv.register_structure_hook_func(lambda t: t == _KEEP_BEST, structure_keep_best)

    def structure_columns(value: Any, _: Any) -> Columns:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise TypeError(f"expected a column name or a list of names, found {_found(value)}")

    conv.register_structure_hook_func(lambda t: t == Columns, structure_columns)

    def structure_label(value: Any, _: Any) -> Label:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            label: Label = value
            return label
        raise TypeError(f"expected an integer or a name, found {_found(value)}")

    conv.register_structure_hook_func(lambda t: t == Label, structure_label)


def _register_writer(conv: cattrs.Converter) -> None:
    """Writing a recipe back to data: a named source as `"name:split"`, tagged classes with
    their `kind`, unset values left out (TOML has no null), tuples as lists."""

    def unstructure_attrs(obj: Any) -> Any:
        if isinstance(obj, DatasetSource):
            return f"{obj.name}:{obj.split}"
        out: dict[str, Any] = {}
        kind = getattr(type(obj), "kind", None)
        if isinstance(kind, str):
            out["kind"] = kind
        for field in attrs.fields(type(obj)):
            if field.metadata.get("recipe_key") is False:
                continue
            value = getattr(obj, field.name)
            # TOML has no null: an absent key means "not set".
            if value is not None:
                out[field.name] = conv.unstructure(value)
        return out

    conv.register_unstructure_hook_func(attrs.has, unstructure_attrs)
    # The model file's step hooks write every field; a recipe writes only those set.
    for cl in PREPROCESS_STEPS.values():
        conv.register_unstructure_hook(cl, unstructure_attrs)
    conv.register_unstructure_hook(tuple, lambda value: [conv.unstructure(v) for v in value])


def _make_converter() -> cattrs.Converter:
    # The package's strict converter (scalars, tuples, attrs classes), in TOML's words,
    # plus the recipe's own tagged unions, sources, learning rates and batch sizes.
    conv = make_converter(type_names=TOML_TYPE_NAMES)
    _register_tagged(conv)
    _register_sources(conv)
    _register_unions(conv)
    _register_writer(conv)
    structure_recipe_fields = make_dict_structure_fn(
        Recipe, conv, _cattrs_forbid_extra_keys=True, source=field_override(omit=True)
    )

    def structure_recipe(value: Any, _: Any) -> Recipe:
        if not isinstance(value, dict):
            raise TypeError(f"expected a table of sections, found {_found(value)}")
        recipe: Recipe = structure_recipe_fields(value, Recipe)
        return recipe

    conv.register_structure_hook(Recipe, structure_recipe)
    return conv


_converter = _make_converter()


# ---------------------------------------------------------------------------------------------
# Errors


def _unknown_keys(path: str, cl: type | None, extra: list[str]) -> list[str]:
    fitted = getattr(cl, "fitted_fields", ())
    known = [f.name for f in attrs.fields(cl) if f.name not in fitted] if cl else []
    return [f"{path}.{key}: unknown key{suggest(key, known)}" for key in extra]


def _missing_key(path: str, key: str) -> str:
    return f"{path}.{key}: required key missing"


_WORDING = ErrorWording(unknown_keys=_unknown_keys, missing_key=_missing_key)
"""A recipe's words: `$.model.hiden: unknown key; did you mean 'hidden'?`."""


def _raise_recipe_error(source: str, exc: BaseException) -> None:
    lines = describe_structure_error(exc, wording=_WORDING)
    # A misspelled key also shows up as a missing one; the spelling is the useful line.
    lines.sort(key=lambda line: "unknown key" not in line)
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    raise RecipeError(f"{source}: {lines[0]}{more}") from None


# ---------------------------------------------------------------------------------------------
# Loading and dumping


def recipe_from_data(
    data: Any, *, source: str | None = None, base_dir: Path | None = None
) -> Recipe:
    """Structure plain recipe data (parsed TOML or JSON) into a `Recipe`.

    Args:
        data: a dict of sections (`data`, `pipeline`, `model`, `optimizer`, `train`, `output`).
        source: a name for error messages, usually the file path; kept as `Recipe.source`.
            None: messages say `recipe`.
        base_dir: folder against which relative file paths of data sources are resolved;
            None leaves them as written.

    Returns:
        The frozen `Recipe`.

    Raises:
        RecipeError: `"{source}: $.path: problem"` for the first fault (unknown key with a
            suggestion, missing key, wrong type with the expected type, invalid value), with
            a count of further faults.

    Example:
        >>> r = recipe_from_data({"data": {"train": "microchips:train"},
        ...     "model": {"sizes": [2, 10, 1], "hidden": "sigmoid", "output": "sigmoid"},
        ...     "optimizer": {"kind": "sgd", "learning_rate": 1.0},
        ...     "train": {"epochs": 10, "batch_size": "full"}})
        >>> r.model.sizes
        (2, 10, 1)
    """
    where = source or "recipe"
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: $: expected a table of sections, found {_found(data)}")
    try:
        recipe = _converter.structure(data, Recipe)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        _raise_recipe_error(where, exc)
    if source is not None:
        recipe = attrs.evolve(recipe, source=source)
    if base_dir is not None:
        recipe = _resolve_paths(recipe, base_dir)
    return recipe


def source_from_data(value: Any, *, source: str = "source") -> Source:
    """Structure one data source: `"name:split"` or a table with `kind = "idx"` / `"csv"`.

    Raises:
        RecipeError: `"{source}: $...: problem"`, as `recipe_from_data`.

    Example:
        >>> source_from_data("mnist:test")
        DatasetSource(name='mnist', split='test')
    """
    try:
        structured: Source = _converter.structure(value, Source)  # type: ignore[arg-type]
        return structured
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        _raise_recipe_error(source, exc)
        raise


def _resolve_paths(recipe: Recipe, base_dir: Path) -> Recipe:
    data = attrs.evolve(
        recipe.data,
        train=recipe.data.train.resolved(base_dir),
        test=None if recipe.data.test is None else recipe.data.test.resolved(base_dir),
        valid=None if recipe.data.valid is None else recipe.data.valid.resolved(base_dir),
    )
    return attrs.evolve(recipe, data=data)


def _parse_value(text: str) -> Any:
    """A `--set` value: a TOML value (`5`, `0.1`, `true`, `[784, 10]`, `{kind = "sgd"}`), or
    else the text itself as a string (so `--set data.train=mnist:test` needs no quotes)."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except ValueError:  # TOMLDecodeError, or an integer past Python's digit limit
        return text


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply `key=value` overrides to raw recipe data, returning a new dict.

    Keys are dotted paths (`train.epochs`, `optimizer.learning_rate.initial`); a number
    indexes an array (`pipeline.augment.0.max_degrees`). Missing tables are created. Values
    are TOML values, or plain strings when they do not parse as TOML.

    Args:
        data: the parsed recipe (not modified).
        overrides: `"key=value"` strings.

    Returns:
        A new dict with the overrides applied.

    Raises:
        RecipeError: an override without `=`, or a path through a value that is not a
            table or an array.

    Example:
        >>> apply_overrides({"train": {"epochs": 40}}, ["train.epochs=2"])
        {'train': {'epochs': 2}}
    """
    result: dict[str, Any] = json.loads(json.dumps(data))
    for override in overrides:
        key, eq, text = override.partition("=")
        key = key.strip()
        if not eq or not key:
            raise RecipeError(f"--set {override!r}: expected key=value, e.g. train.epochs=5")
        parts = key.split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise RecipeError(
                        f"--set {override!r}: {where}: expected an index below {len(node)}"
                    )
                index = int(part)
                if last:
                    node[index] = _parse_value(text)
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = _parse_value(text)
                else:
                    node = node.setdefault(part, {})
            else:
                parent = ".".join(parts[:depth])
                raise RecipeError(
                    f"--set {override!r}: {parent} is {_found(node)}, not a table or an array"
                )
    return result


def read_recipe_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a recipe file (`.toml`, or `.json`) into plain data, without structuring it.

    Raises:
        RecipeError: the file is missing, unreadable, or not valid TOML/JSON.
    """
    file = Path(path)
    if not file.exists() and not file.is_symlink():
        raise RecipeError(f"{file}: no such recipe file")
    text = read_text_file(file, error=RecipeError)
    is_json = file.suffix.lower() == ".json"
    try:
        data = parse_json(text) if is_json else parse_toml(text)
    except ValueError as exc:
        raise RecipeError(f"{file}: {exc}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{file}: $: expected a table of sections, found {_found(data)}")
    return data


def load_recipe(path: str | os.PathLike[str], *, overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe file (TOML, or JSON with the same schema) into a `Recipe`.

    Relative paths of file data sources resolve against the recipe's folder. When
    `[output] dir` is absent it becomes `runs/<file stem>` (relative to the working directory).

    Args:
        path: a `.toml` or `.json` recipe.
        overrides: `"key=value"` strings applied before structuring (see `apply_overrides`).

    Returns:
        The frozen `Recipe`.

    Raises:
        RecipeError: an unreadable file, invalid TOML/JSON, or a schema fault; the message
            names the file and the JSON path: `mnist.toml: $.model.hiden: unknown key; did
            you mean 'hidden'?`.

    Example:
        >>> recipe = load_recipe("recipes/mnist.toml", overrides=["train.epochs=2"])
        >>> recipe.train.epochs
        2
    """
    file = Path(path)
    data = apply_overrides(read_recipe_data(file), overrides)
    recipe = recipe_from_data(data, source=str(file), base_dir=file.resolve().parent)
    if recipe.output.dir is None:
        output = attrs.evolve(recipe.output, dir=str(Path("runs") / file.stem))
        recipe = attrs.evolve(recipe, output=output)
    return recipe


def dump_recipe(recipe: Recipe) -> dict[str, Any]:
    """Turn a `Recipe` into plain data (dicts, lists, numbers, strings) that loads back equal.

    Unset optional values are left out (TOML has no null); tagged classes carry their `kind`.

    Example:
        >>> from purenet.recipe.load import recipe_from_data
        >>> data = {"data": {"train": "mnist:train"}, "model": {"sizes": [784, 10]},
        ...         "optimizer": {"kind": "sgd", "learning_rate": 0.1}, "train": {"epochs": 1}}
        >>> recipe_from_data(dump_recipe(recipe_from_data(data))) == recipe_from_data(data)
        True
    """
    data: dict[str, Any] = _converter.unstructure(recipe)
    return data
