"""The `Model` record (architecture, params, fitted preprocessing, labels, metadata) and its
consistency checks.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import attrs
import numpy as np

from purenet.core.arrays import type_name
from purenet.core.checks import package_version
from purenet.core.tree import tree_repr
from purenet.nn.model import Architecture, Dense, Params
from purenet.pipeline.steps import (
    PREPROCESS_STEPS,
    Flatten,
    PreprocessStep,
    Scale,
    Standardize,
    output_shape,
)

# ---------------------------------------------------------------------------------------------
# The model


def _current_version() -> str:
    return package_version()


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
        raise ValueError(f"$.meta.recipe: expected an object or None, found {type_name(value)}")
    result: dict[str, Any] | None = _json_data(value, "$.meta.recipe")
    return result


def _metrics_data(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"$.meta.metrics: expected an object, found {type_name(value)}")
    metrics = {}
    for key, number in value.items():
        where = f"$.meta.metrics.{key}"
        if not isinstance(key, str):
            raise ValueError(f"$.meta.metrics: key {key!r} is not a string")
        if isinstance(number, bool) or not isinstance(number, int | float | np.number):
            raise ValueError(f"{where}: expected a number, found {type_name(number)}")
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


def output_names(model: Model) -> tuple[str, ...]:
    """Names of a model's output columns: its labels when there is one per output unit (a
    regression or multi-label model with several outputs), else `("value",)` for a single
    regression output (whose `labels` keep the two-class form of one unit)."""
    k = model.arch.sizes[-1]
    return tuple(model.labels) if len(model.labels) == k else ("value",) * k


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
            `purenet.pipeline.steps.fit_preprocess`); their output width must be `sizes[0]`
            where the steps fix it.
        labels: a name per class: `sizes[-1]` names, or 2 (for outputs 0 and 1) when the
            network has a single output unit (for several outputs of a regression or
            multi-label model: a name per output). Default: `"0"`, `"1"`, ...
        meta: `ModelMeta` (purenet version, creation time, recipe, metrics).
        targets: regression only: the fitted `Standardize` the training targets were scaled
            by (mean and std of shape `(sizes[-1],)`), undone on prediction; None: raw targets.
        multilabel: sigmoid outputs that are independent 0/1 labels (`predict_multilabel`),
            not one class; needs `sizes[-1] >= 2`.

    Raises:
        ValueError: the parts do not fit together; the message gives the model file's JSON
            path, e.g. `$.layers[1].w: shape [128, 11]; architecture.sizes needs [128, 10]`.

    Example:
        >>> import purenet as pn
        >>> from purenet.pipeline.steps import Flatten, Scale
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
    targets: Standardize | None = attrs.field(default=None, kw_only=True)
    multilabel: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        _check_model(self)

    def __repr__(self) -> str:
        return tree_repr(self)


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
        w_shape, b_shape = model.arch.param_shapes[i]
        for name, expected in (("w", list(w_shape)), ("b", list(b_shape))):
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
    _check_task(model)
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


def _check_task(model: Model) -> None:
    """The target scaling fits a regression model, the multi-label flag sigmoid outputs."""
    arch, scaling = model.arch, model.targets
    if scaling is not None:
        if not isinstance(scaling, Standardize) or not scaling.is_fitted:
            raise ValueError(f"$.targets: expected a fitted standardize step, found {scaling!r}")
        if not arch.is_regression:
            raise ValueError(
                f"$.targets: target scaling is for regression (identity output); the model's "
                f"output is {arch.output}"
            )
        shape = None if scaling.mean is None else list(scaling.mean.shape)
        if shape != [arch.sizes[-1]]:
            raise ValueError(
                f"$.targets.mean: shape {shape}; the model's {arch.sizes[-1]} outputs need "
                f"[{arch.sizes[-1]}]"
            )
    if not isinstance(model.multilabel, bool):
        raise ValueError(f"$.multilabel: expected true or false, found {model.multilabel!r}")
    if model.multilabel and (arch.output != "sigmoid" or arch.sizes[-1] < 2):
        raise ValueError(
            f"$.multilabel: multi-label models need sigmoid outputs, one per label (>= 2); "
            f"the model has {arch.sizes[-1]} {arch.output} output(s)"
        )
