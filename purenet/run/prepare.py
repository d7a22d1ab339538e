"""Turning a recipe's data sections into model-ready training, validation and test sets."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

from purenet.data.dataset import Dataset, class_labels, one_hot, split
from purenet.errors import RecipeError
from purenet.modelfile.model import Model, n_classes
from purenet.pipeline import steps as preprocess
from purenet.pipeline.steps import Standardize
from purenet.pipeline.targets import (
    ClassCoding,
    encode_labels,
    fit_classes,
    fit_target_scaling,
    regression_values,
    scale_targets,
)
from purenet.recipe.schema import CsvSource, Recipe, Source
from purenet.run.sources import load_source, source_name, stored_recipe


@attrs.frozen(eq=False)
class PreparedData:
    """The recipe's data, ready for `train`.

    Attributes:
        train: model-input training set (after augmented copies, preprocessing, targets);
            with per-batch augmentation `x` holds raw values, see `augment`.
        valid: model-input validation set (split off, or `[data] valid`), or None.
        test_raw: the raw test set (evaluated through the model's preprocessing), or None;
            its labels already coded as classes (`label_map`, `classes`, names).
        preprocess: the fitted preprocessing steps.
        labels: class names (or output names of a regression or multi-label model).
        augment: the per-batch augmentation for `train(augment=...)`, or None.
        targets: the fitted target scaling of a regression model, or None.
        multilabel: the targets are a 0/1 matrix, one sigmoid unit per label.
    """

    train: Dataset
    valid: Dataset | None
    test_raw: Dataset | None
    preprocess: tuple[preprocess.PreprocessStep, ...]
    labels: tuple[str, ...]
    augment: Callable[..., np.ndarray] | None
    targets: Standardize | None = None
    multilabel: bool = False
    test: Dataset | None = None


# ---------------------------------------------------------------------------------------------
# Data


def _head(ds: Dataset, limit: int | None) -> Dataset:
    return ds if limit is None or len(ds) <= limit else Dataset(ds.x[:limit], ds.y[:limit])


@attrs.frozen
class _Task:
    """What the labels are to the model: `classify` (with the class coding), `regress` or
    `multilabel`."""

    kind: str
    coding: ClassCoding | None = None


def _task(recipe: Recipe, train_y: np.ndarray) -> _Task:
    """The task the model and the training labels make; a label option that does not fit it
    is a `RecipeError` naming the key."""
    arch, data, where = recipe.model.architecture(), recipe.data, recipe.where
    if arch.is_regression:
        kind = "regress"
    elif arch.output == "sigmoid" and arch.sizes[-1] >= 2 and np.ndim(train_y) == 2:
        kind = "multilabel"
    else:
        kind = "classify"
    if recipe.pipeline.standardize_targets and kind != "regress":
        raise RecipeError(
            f"{where}: $.pipeline.standardize_targets: scales regression targets; the model's "
            f"output is {arch.output}, not identity"
        )
    options = {"label_map": bool(data.label_map), "classes": data.classes is not None}
    for key in (key for key, given in options.items() if given and kind != "classify"):
        raise RecipeError(f"{where}: $.data.{key}: is for class labels, not {kind} targets")
    if kind != "classify":
        return _Task(kind)
    try:
        coding = fit_classes(train_y, label_map=data.label_map, classes=data.classes)
    except ValueError as exc:
        hint = ""
        if np.asarray(train_y).dtype.kind == "f":
            hint = '; float targets need output = "identity" and loss = "mse" (regression)'
        raise RecipeError(f"{where}: {_source('train', data.train)}: {exc}{hint}") from None
    return _Task(kind, coding)


def _source(key: str, source: Source | None) -> str:
    return f"$.data.{key} ({source_name(source)})"


def _coded(ds: Dataset, task: _Task, recipe: Recipe, what: str) -> Dataset:
    """The set with labels as the model takes them: class indices (rows of other classes
    dropped), float values, or a 0/1 matrix; faults name `what` (the set) and the recipe."""
    where, k = recipe.where, recipe.model.sizes[-1]
    try:
        if task.kind == "regress":
            values = regression_values(ds.y)
            if values.shape[1] != k:
                raise ValueError(f"{values.shape[1]} target column(s) for {k} model output(s)")
            return ds
        if task.kind == "multilabel":
            matrix = np.asarray(ds.y)
            if matrix.shape[1] != k or not np.isin(matrix, (0, 1)).all():
                raise ValueError(
                    f"expected a 0/1 matrix (n, {k}) for {k} sigmoid outputs, found "
                    f"{matrix.dtype} {matrix.shape}"
                )
            return Dataset(ds.x, matrix.astype(np.int64))
        if np.ndim(ds.y) != 1:
            raise ValueError(
                f"expected class labels (n,), found shape {np.shape(ds.y)}; several 0/1 "
                'label columns need output = "sigmoid" (multi-label)'
            )
        coded = encode_labels(ds.y, task.coding or ClassCoding())
    except ValueError as exc:
        raise RecipeError(f"{where}: {what}: {exc}") from None
    return Dataset(ds.x[coded.keep], coded.labels)


def _mapped_names(label_map: Mapping[str, Any], count: int) -> tuple[str, ...] | None:
    """The class names a `label_map` gives when it maps one name to each of the indices
    `0..count-1` (`{yes = 1, no = 0}`: `("no", "yes")`), else None (`{10 = 0}` maps a number)."""
    names: dict[int, str] = {}
    for key, index in label_map.items():
        if isinstance(index, str) or key.lstrip("-").isdigit() or index in names:
            return None
        names[index] = key
    if sorted(names) != list(range(count)):
        return None
    return tuple(names[i] for i in range(count))


def _names(recipe: Recipe, task: _Task, count: int) -> tuple[str, ...]:
    """Class or output names: `[data] labels`, the data's class names, the CSV's label
    columns, else "0", "1", ..."""
    given = recipe.data.labels
    coding = task.coding
    if given is not None and coding is not None and coding.names and not coding.subset:
        # The names are the classes; other display names would leave evaluate no way back.
        raise RecipeError(
            f"{recipe.where}: $.data.labels: the data name their classes "
            f"({', '.join(coding.names[:10])}); rename them with label_map instead"
        )
    if given is not None:
        if len(given) != count:
            things = "classes" if task.kind == "classify" else "outputs"
            raise RecipeError(
                f"{recipe.where}: $.data.labels: {len(given)} names for {count} {things}"
            )
        return given
    if task.coding is not None and task.coding.names is not None:
        return task.coding.names
    mapped = _mapped_names(recipe.data.label_map, count)
    if mapped is not None:
        return mapped
    train = recipe.data.train
    columns = train.column_names if isinstance(train, CsvSource) else None
    if task.kind != "classify" and columns is not None and len(columns) == count:
        return columns
    return tuple(str(i) for i in range(count))


def _check_classes(recipe: Recipe, labels: np.ndarray, names: tuple[str, ...] | None) -> None:
    """The training labels fit the output layer: the one label rule, prefixed by the key."""
    arch, where = recipe.model.architecture(), recipe.where
    outputs, classes = arch.sizes[-1], n_classes(arch)
    found = f"the data have {len(names)} classes ({', '.join(names[:10])})" if names else ""
    if names is not None and len(names) != classes:
        raise RecipeError(
            f"{where}: $.model.sizes: {outputs} output unit(s) tell {classes} classes apart, "
            f"but {found}"
        )
    try:
        class_labels(labels, classes, "the training labels")
    except ValueError as exc:
        raise RecipeError(
            f"{where}: $.model.sizes: {outputs} output unit(s) tell {classes} classes apart: {exc}"
        ) from None


def _targets(labels: np.ndarray, recipe: Recipe, dtype: str) -> np.ndarray:
    targets = recipe.pipeline.targets
    if targets is None:
        return labels
    outputs = recipe.model.sizes[-1]
    if outputs == 1:
        return np.where(labels[:, None] == 1, targets.on, targets.off).astype(dtype)
    return one_hot(labels, outputs, on=targets.on, off=targets.off, dtype=dtype)


def _model_targets(
    y: np.ndarray, task: _Task, scaling: Standardize | None, recipe: Recipe, dtype: str
) -> np.ndarray:
    """Labels as the loss takes them: (scaled) values, a 0/1 matrix, labels or one-hot rows."""
    if task.kind == "regress":
        return scale_targets(scaling, y, np.dtype(dtype))
    if task.kind == "multilabel":
        return y.astype(dtype)
    return _targets(y, recipe, dtype)


def prepare_data(
    recipe: Recipe,
    *,
    limit: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> PreparedData:
    """Load the recipe's data and turn it into model input, as `run_recipe` does.

    Order: load; cap to `limit` rows; split off the validation part (seeded by
    `(seed, 0)`, before augmentation so no copy of a validation image is trained on); fit
    the preprocessing on the training part; append augmented copies; preprocess; targets.

    Args:
        recipe: the recipe.
        limit: keep only the first `limit` rows of the training and test sets (smoke tests).
        data_dir: a folder to look for named data sets in first.

    Returns:
        A `PreparedData`.

    Raises:
        RecipeError: the data do not fit the recipe (input width, number of classes,
            augmentation of non-image data); the message starts with the recipe file
            (`Recipe.source`) and names the key: `mnist.toml: $.model.sizes: ...`.
        PurenetError: data that cannot be found or read.
    """
    spec, train_spec = recipe.pipeline, recipe.train
    where = recipe.where
    dtype = train_spec.dtype
    raw = _head(load_source(recipe.data.train, data_dir=data_dir), limit)
    raw = Dataset(spec.raw_images(raw.x, f"{where}: $.data.train"), raw.y)
    task = _task(recipe, raw.y)
    raw = _coded(raw, task, recipe, _source("train", recipe.data.train))
    if task.kind == "classify":
        coded = task.coding.names if task.coding is not None else None
        _check_classes(recipe, raw.y, coded)
    names = _names(recipe, task, n_classes(recipe.model.architecture()))
    valid_raw = None
    if recipe.data.valid_fraction > 0:
        try:
            raw, valid_raw = split(raw, recipe.data.valid_fraction, seed=(train_spec.seed, 0))
        except ValueError as exc:
            raise RecipeError(f"{where}: $.data.valid_fraction: {exc}") from None
    scaling = fit_target_scaling(raw.y) if recipe.pipeline.standardize_targets else None
    if spec.augment and raw.x.ndim != 3:
        raise RecipeError(
            f"{where}: $.pipeline.augment: augmentation needs images (n, h, w); the training "
            f"inputs have shape {raw.x.shape}"
        )
    try:
        fitted = preprocess.fit_preprocess(spec.model_steps, raw.x)
        width = preprocess.apply_preprocess(fitted, raw.x[:1], dtype=dtype).shape[1]
    except ValueError as exc:
        raise RecipeError(f"{where}: $.pipeline.steps: {exc}") from None
    if width != recipe.model.sizes[0]:
        raise RecipeError(
            f"{where}: $.model.sizes: the input layer has {recipe.model.sizes[0]} units, but the "
            f"pipeline gives {width} features per sample (inputs {list(raw.x.shape[1:])})"
        )
    copies = [a for a in spec.augment if a.copies > 0]
    x_train, y_train = raw.x, raw.y
    for i, kind in enumerate(copies):
        extra = [kind.apply(raw.x, seed=(train_spec.seed, 0, i, c)) for c in range(kind.copies)]
        x_train = np.concatenate([x_train.astype(np.float32), *extra])
        y_train = np.concatenate([y_train] + [raw.y] * kind.copies)
    per_batch = tuple(a for a in spec.augment if a.copies == 0)
    batch_augment = None
    if per_batch:
        image_shape = raw.x.shape[1:]
        train_x = np.asarray(x_train, dtype=dtype).reshape(len(x_train), -1)

        def batch_augment(x: np.ndarray, *, seed: tuple[int, ...]) -> np.ndarray:
            images = x.reshape(len(x), *image_shape)
            for j, kind in enumerate(per_batch):
                images = kind.apply(images, seed=(*seed, j))
            return preprocess.apply_preprocess(fitted, images, dtype=dtype)

    else:
        train_x = preprocess.apply_preprocess(fitted, x_train, dtype=dtype)
    train_set = Dataset(train_x, _model_targets(y_train, task, scaling, recipe, dtype))
    held_out = _HeldOut(recipe, task, scaling, fitted)
    valid, test_raw, test = held_out.sets(valid_raw, limit=limit, data_dir=data_dir)
    return PreparedData(
        train_set,
        valid,
        test_raw,
        fitted,
        names,
        batch_augment,
        targets=scaling,
        multilabel=task.kind == "multilabel",
        test=test,
    )


@attrs.frozen(eq=False)
class _HeldOut:
    """How the validation and test sets become model input: the training set's coding,
    target scaling and fitted preprocessing."""

    recipe: Recipe
    task: _Task
    scaling: Standardize | None
    fitted: tuple[preprocess.PreprocessStep, ...]

    def model_input(self, raw: Dataset) -> Dataset:
        dtype = self.recipe.train.dtype
        x = preprocess.apply_preprocess(self.fitted, raw.x, dtype=dtype)
        return Dataset(x, _model_targets(raw.y, self.task, self.scaling, self.recipe, dtype))

    def sets(
        self,
        valid_raw: Dataset | None,
        *,
        limit: int | None,
        data_dir: str | os.PathLike[str] | None,
    ) -> tuple[Dataset | None, Dataset | None, Dataset | None]:
        """The validation set (split off as `valid_raw`, or `[data] valid`) as model input,
        and the test set coded (for the final evaluation) and as model input (its curve)."""
        data = self.recipe.data
        if data.valid is not None:
            loaded = _head(load_source(data.valid, data_dir=data_dir), limit)
            loaded = Dataset(self.recipe.pipeline.raw_images(loaded.x, "$.data.valid"), loaded.y)
            valid_raw = _coded(loaded, self.task, self.recipe, _source("valid", data.valid))
        valid = None if valid_raw is None else self.model_input(valid_raw)
        if data.test is None:
            return valid, None, None
        test_raw = _head(load_source(data.test, data_dir=data_dir), limit)
        where = f"{self.recipe.where}: $.data.test"
        test_raw = Dataset(self.recipe.pipeline.raw_images(test_raw.x, where), test_raw.y)
        test_raw = _coded(test_raw, self.task, self.recipe, _source("test", data.test))
        try:
            test = self.model_input(test_raw)
        except ValueError as exc:
            raise RecipeError(f"{where}: {exc}") from None
        return valid, test_raw, test


def load_recipe_test(
    model: Model, *, source: str = "model", data_dir: str | os.PathLike[str] | None = None
) -> tuple[Dataset, str]:
    """The raw evaluation set of the recipe stored in a model: its test source (else the
    training source), with class labels coded as training coded them (`label_map`,
    `classes`, names), so `evaluate_model` and the run's figures see the model's classes.

    Args:
        model: a model whose meta holds its recipe.
        source: how messages name the model (its file).
        data_dir: a folder to look for named data sets in first.

    Returns:
        (the data set, its display name).

    Raises:
        ModelFormatError: the model holds no recipe.
        PurenetError: data that cannot be found or read, or labels outside the classes.
    """
    recipe = stored_recipe(model, source=source)
    chosen = recipe.data.test if recipe.data.test is not None else recipe.data.train
    raw = load_source(chosen, data_dir=data_dir)
    # Flat table rows are the images the run saw when the recipe declares them (image step).
    raw = Dataset(recipe.pipeline.raw_images(raw.x, f"{source}: $.meta.recipe"), raw.y)
    if model.arch.is_regression or model.multilabel:
        return raw, source_name(chosen)
    data = recipe.data
    if data.classes is not None:
        coding = ClassCoding(tuple(map(str, data.classes)), data.label_map, subset=True)
    else:
        names = np.asarray(raw.y).dtype.kind in "USO" and data.labels is None
        coding = ClassCoding(model.labels if names else None, data.label_map)
    key = "test" if recipe.data.test is not None else "train"
    return _coded(raw, _Task("classify", coding), recipe, _source(key, chosen)), source_name(chosen)
