"""Everything a run can check before it trains: the output folder, the test set, the figures.

`run_recipe` calls `check_before_training` once the data are loaded and prepared, so a recipe
that would fail after training (a figure that does not fit the data, a test set of the wrong
width or with labels the model cannot give, an output folder that cannot be written) fails in
the first seconds instead, naming the recipe key.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from purenet.data.dataset import Dataset
from purenet.errors import DataFormatError, RecipeError, require_extra
from purenet.modelfile.evaluation import model_inputs
from purenet.modelfile.model import Model, n_classes
from purenet.nn.model import init
from purenet.pipeline.steps import flatten_shape
from purenet.recipe.schema import Recipe
from purenet.run.plot import figure_problem
from purenet.run.prepare import PreparedData
from purenet.run.read import RunData
from purenet.run.sources import source_name


def check_output_folder(out: Path, key: str) -> None:
    """Refuse an output folder that is a file or lies where nothing can be written.

    Args:
        out: the run folder (it may not exist yet).
        key: how messages name the setting (`recipe.toml: $.output.dir` or `--out`).

    Raises:
        RecipeError: `out` or one of its parents is a file, or the nearest existing folder
            is not writable.
    """
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RecipeError(f"{key}: {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RecipeError(f"{key}: {out}: cannot write into {existing} (permission denied)")


def _preview_model(recipe: Recipe, prepared: PreparedData) -> Model:
    """A model of the run's shape (untrained weights), for the checks that need one."""
    arch = recipe.model.architecture()
    params = init(arch, seed=recipe.train.seed, scheme=recipe.model.init, dtype=recipe.train.dtype)
    return Model(
        arch,
        params,  # type: ignore[arg-type]
        prepared.preprocess,  # type: ignore[arg-type]
        prepared.labels,  # type: ignore[arg-type]
        targets=prepared.targets,
        multilabel=prepared.multilabel,
    )


def _check_test_set(recipe: Recipe, model: Model, test: Dataset) -> None:
    where = f"{recipe.where}: $.data.test ({source_name(recipe.data.test)})"
    try:
        model_inputs(model, test.x[:1], source=where)
    except DataFormatError as exc:
        raise RecipeError(str(exc)) from None
    if model.arch.is_regression or model.multilabel:
        return
    y = np.asarray(test.y)
    classes = n_classes(model.arch)
    if y.ndim == 1 and y.dtype.kind in "iu" and len(y) and (y.min() < 0 or y.max() >= classes):
        raise RecipeError(
            f"{where}: labels range over [{y.min()}, {y.max()}]; the model tells {classes} "
            "classes apart ($.model.sizes)"
        )


def _check_plots(recipe: Recipe, prepared: PreparedData, model: Model) -> None:
    plots = recipe.output.plots
    if not plots:
        return
    require_extra("matplotlib", "plot")
    if prepared.test_raw is not None:
        data = prepared.test_raw
    else:
        # The figures are drawn from the training set then; only its sample shape matters.
        shape = flatten_shape(prepared.preprocess) or (recipe.model.sizes[0],)
        data = Dataset(np.zeros((1, *shape)), np.zeros(1, dtype=np.int64))
    valid = prepared.valid is not None
    row = {"epoch": 1, "train_loss": 0.0, "train_accuracy": 0.0}
    if valid:
        row.update(valid_loss=0.0, valid_accuracy=0.0)
    tracked = ({path: [0.0] for path in recipe.train.track}, [0.0]) if recipe.train.track else None
    run = RunData(history=[row], tracked=tracked, model=model, data=data)
    for i, name in enumerate(plots):
        reason = figure_problem(run, name)
        if reason is not None:
            raise RecipeError(f"{recipe.where}: $.output.plots[{i}]: cannot draw {name}: {reason}")


def check_before_training(recipe: Recipe, prepared: PreparedData, out: Path, *, key: str) -> None:
    """Check what a run would otherwise find out only after training.

    Args:
        recipe: the recipe.
        prepared: its prepared data (`prepare_data`).
        out: the run folder.
        key: how messages name the run folder's setting (`--out`, or the recipe key).

    Raises:
        RecipeError: an output folder that cannot be written, a test set the model cannot
            take or whose labels it cannot give, a requested figure the run will have nothing
            for (`$.output.plots[i]: cannot draw digits: the data have shape (1, 784), not
            (n, h, w) images`).
        MissingExtraError: figures are requested and matplotlib is missing.
    """
    check_output_folder(out, key)
    model = _preview_model(recipe, prepared)
    if prepared.test_raw is not None:
        _check_test_set(recipe, model, prepared.test_raw)
    _check_plots(recipe, prepared, model)
