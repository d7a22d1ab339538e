"""Turning a recipe's data sections into model-ready training, validation and test sets."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import attrs
import numpy as np

from purenet.data.dataset import Dataset, integer_labels, one_hot, split
from purenet.errors import DataFormatError, RecipeError
from purenet.modelfile.model import n_classes
from purenet.pipeline import steps as preprocess
from purenet.recipe.schema import Recipe
from purenet.run.sources import load_source, source_name


@attrs.frozen(eq=False)
class PreparedData:
    """The recipe's data, ready for `train`.

    Attributes:
        train: model-input training set (after augmented copies, preprocessing, targets);
            with per-batch augmentation `x` holds raw values, see `augment`.
        valid: model-input validation set, or None.
        test_raw: the raw test set (evaluated through the model's preprocessing), or None.
        preprocess: the fitted preprocessing steps.
        labels: class names.
        augment: the per-batch augmentation for `train(augment=...)`, or None.
    """

    train: Dataset
    valid: Dataset | None
    test_raw: Dataset | None
    preprocess: tuple[preprocess.PreprocessStep, ...]
    labels: tuple[str, ...]
    augment: Callable[..., np.ndarray] | None


# ---------------------------------------------------------------------------------------------
# Data


def _head(ds: Dataset, limit: int | None) -> Dataset:
    return ds if limit is None or len(ds) <= limit else Dataset(ds.x[:limit], ds.y[:limit])


def _integer_labels(ds: Dataset, where: str) -> np.ndarray:
    y = np.asarray(ds.y)
    if y.ndim == 1:
        with contextlib.suppress(ValueError):
            return integer_labels(y).astype(np.int64)
    raise DataFormatError(f"{where}: expected integer class labels (n,), found {y.dtype} {y.shape}")


def _targets(labels: np.ndarray, recipe: Recipe, dtype: str) -> np.ndarray:
    targets = recipe.pipeline.targets
    if targets is None:
        return labels
    outputs = recipe.model.sizes[-1]
    if outputs == 1:
        return np.where(labels[:, None] == 1, targets.on, targets.off).astype(dtype)
    return one_hot(labels, outputs, on=targets.on, off=targets.off, dtype=dtype)


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
    labels = _integer_labels(raw, f"{where}: $.data.train ({source_name(recipe.data.train)})")
    outputs = recipe.model.sizes[-1]
    classes = n_classes(recipe.model.architecture())
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise RecipeError(
            f"{where}: $.model.sizes: {outputs} output unit(s) tell {classes} classes apart, "
            f"but the training labels range over [{labels.min()}, {labels.max()}]"
        )
    if recipe.data.labels is not None and len(recipe.data.labels) != classes:
        raise RecipeError(
            f"{where}: $.data.labels: {len(recipe.data.labels)} names for {classes} classes"
        )
    names = recipe.data.labels or tuple(str(i) for i in range(classes))
    raw = Dataset(raw.x, labels)
    valid_raw = None
    if recipe.data.valid_fraction > 0:
        try:
            raw, valid_raw = split(raw, recipe.data.valid_fraction, seed=(train_spec.seed, 0))
        except ValueError as exc:
            raise RecipeError(f"{where}: $.data.valid_fraction: {exc}") from None
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
        extra = [
            kind.apply(raw.x, seed=(train_spec.seed, 0, i, c)) for c in range(kind.copies)
        ]
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
    train_set = Dataset(train_x, _targets(y_train, recipe, dtype))
    valid = None
    if valid_raw is not None:
        valid_x = preprocess.apply_preprocess(fitted, valid_raw.x, dtype=dtype)
        valid = Dataset(valid_x, _targets(valid_raw.y, recipe, dtype))
    test_raw = None
    if recipe.data.test is not None:
        test_raw = _head(load_source(recipe.data.test, data_dir=data_dir), limit)
        test_raw = Dataset(spec.raw_images(test_raw.x, f"{where}: $.data.test"), test_raw.y)
    return PreparedData(train_set, valid, test_raw, fitted, names, batch_augment)
