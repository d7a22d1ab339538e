"""The figures of a run folder: `draw_run_figure` from a run's parts, `plot_run` from a folder.

The figures themselves are `purenet.plots` (each takes plain data and returns a matplotlib
`Figure`); this module reads what a run wrote (`purenet.run.read.load_run`), decides which
figures fit it, and gives the model its raw evaluation data through
`purenet.modelfile.evaluation.model_inputs`, the one place raw inputs enter a model. Drawing
needs matplotlib (the `plot` extra); without it a call raises `MissingExtraError` naming it.

Figure names (`FIGURES`, the files `plot_run` writes as `<name>.png`):
    loss, accuracy  training curves per epoch (train and validation), learning rate on a
                    second axis; one figure each (`plot_curves` can also draw both side by side)
    convergence     the scalars tracked during training, per epoch
    boundary        decision boundary of a model on 2-column data (e.g. microchips)
    digits          the first test images with true and predicted labels, mistakes in red
    mistakes        the test images the model gets wrong, least confident first
    confusion       confusion matrix with counts and per-class recall
    weights         the first layer's weights as images, one tile per hidden unit
    predicted       a regression model's predictions against the true values, per output
    residuals       a regression model's residuals against its predictions, per output

Example:
    >>> from purenet.run.plot import plot_run
    >>> plot_run("runs/mnist", names=("loss", "confusion"))  # doctest: +SKIP
    [PosixPath('runs/mnist/loss.png'), PosixPath('runs/mnist/confusion.png')]
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from purenet.data.dataset import Dataset
from purenet.errors import PurenetError, require_extra
from purenet.modelfile.evaluation import model_inputs, predict_values
from purenet.modelfile.model import Model, output_names
from purenet.nn.model import forward, labels_of
from purenet.pipeline.steps import apply_preprocess
from purenet.pipeline.targets import regression_values
from purenet.plots.boundary import plot_decision_boundary
from purenet.plots.common import FIGURES, save_figure
from purenet.plots.curves import plot_convergence, plot_curves
from purenet.plots.digits import plot_digits
from purenet.plots.matrices import plot_confusion, plot_first_layer
from purenet.plots.regression import plot_predicted, plot_residuals
from purenet.run.layout import MODEL_FILE
from purenet.run.read import RunData, load_run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_DATA = "the run's evaluation data"
"""How messages name the data a run's figures are drawn from."""


def _has_metric(history: Sequence[Mapping[str, Any]], metric: str) -> bool:
    return any(
        row.get(f"{split}_{metric}") is not None for row in history for split in ("train", "valid")
    )


def _image_shape(model: Model, data: Dataset | None) -> tuple[int, int] | None:
    inputs = model.arch.sizes[0]
    if data is not None and data.x.ndim == 3:
        h, w = data.x.shape[1:]
        return (h, w) if h * w == inputs else None
    side = math.isqrt(inputs)
    return (side, side) if side * side == inputs and side >= 4 else None


def _why_not(run: RunData, name: str) -> str | None:
    """None when figure `name` can be drawn from `run`, else the reason it cannot."""
    if name in ("loss", "accuracy"):
        return None if _has_metric(run.history, name) else f"no {name} values in the history"
    if name == "convergence":
        return None if run.tracked is not None else "no scalars were tracked during training"
    if run.model is None:
        return f"no {MODEL_FILE}"
    if name == "weights":
        if _image_shape(run.model, run.data) is None:
            return f"the model's {run.model.arch.sizes[0]} inputs are not a square image"
        return None
    regression = name in ("predicted", "residuals")
    if regression != run.model.arch.is_regression:
        kind = "a regression model (identity output)" if regression else "a classifier"
        return f"it is drawn for {kind}; the model's output is {run.model.arch.output}"
    if run.model.multilabel:
        return "it is drawn for one class per row; the model is multi-label"
    if run.data is None:
        return (
            "no evaluation data (the model's recipe names none, or names files: "
            "--recipe-files reads them)"
        )
    shape = run.data.x.shape
    if name == "boundary" and not (len(shape) == 2 and shape[1] == 2):
        return f"the data have shape {shape}, not (n, 2) points"
    if name in ("digits", "mistakes") and len(shape) != 3:
        return f"the data have shape {shape}, not (n, h, w) images"
    return None


def figure_problem(run: RunData, name: str) -> str | None:
    """Why figure `name` cannot be drawn from `run`, or None when it can (run checks use it
    before training, on a preview of what the run will write)."""
    if name not in FIGURES:
        return f"unknown figure; choose from {', '.join(FIGURES)}"
    return _why_not(run, name)


def _predictions(model: Model, data: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, predicted, confidence) of the model on raw data, in one forward pass."""
    outputs = forward(model.arch, model.params, model_inputs(model, data.x, source=_DATA))
    predicted = labels_of(outputs)
    if outputs.shape[1] == 1:
        confidence = np.where(predicted == 1, outputs[:, 0], 1 - outputs[:, 0])
    else:
        confidence = outputs[np.arange(len(outputs)), predicted]
    return labels_of(data.y), predicted, confidence


def draw_run_figure(run: RunData, name: str) -> Figure:
    """Draw figure `name` (one of `FIGURES`) from the parts of a run.

    Raises:
        PurenetError: an unknown name, or a figure the run has nothing for (the reason).
    """
    if name not in FIGURES:
        raise PurenetError(f"unknown figure {name!r}; choose from {', '.join(FIGURES)}")
    reason = _why_not(run, name)
    if reason is not None:
        raise PurenetError(f"cannot draw {name}: {reason}")
    model, data = run.model, run.data
    if name in ("loss", "accuracy"):
        return plot_curves(run.history, metrics=(name,))
    if name == "convergence" and run.tracked is not None:
        series, epochs = run.tracked
        return plot_convergence(series, steps=epochs)
    # _why_not has made sure of a model, and of data for the figures below "weights".
    if model is None:
        raise PurenetError(f"cannot draw {name}: no {MODEL_FILE}")
    if name == "weights":
        return plot_first_layer(model.params[0].w, image_shape=_image_shape(model, data))
    if data is None:
        raise PurenetError(f"cannot draw {name}: no evaluation data")
    if name in ("predicted", "residuals"):
        values = predict_values(model, data.x, source=_DATA)
        draw = plot_predicted if name == "predicted" else plot_residuals
        titles = output_names(model) if values.shape[1] > 1 else None
        return draw(regression_values(data.y), values, names=titles)
    names = list(model.labels)
    if name == "boundary":
        # The data are raw inputs and enter the model through model_inputs (finite, in the
        # scale step's range); the grid is made from them and reaches past their range
        # by a margin, so only the preprocessing is applied to it.
        model_inputs(model, data.x, source=_DATA)
        return plot_decision_boundary(
            model.arch,
            model.params,
            data.x,
            data.y,
            transform=lambda points: apply_preprocess(model.preprocess, points),
            label_names=names,
        )
    truth, predicted, confidence = _predictions(model, data)
    if name == "confusion":
        return plot_confusion(truth, predicted, label_names=names)
    return plot_digits(
        data.x,
        labels=truth,
        predicted=predicted,
        confidence=confidence,
        label_names=names,
        select="first" if name == "digits" else "mistakes",
        count=9 if name == "digits" else 16,
    )


def plot_run(
    run_dir: str | os.PathLike[str],
    *,
    names: Sequence[str] | None = None,
    svg: bool = False,
    data: Dataset | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    recipe_files: bool = False,
) -> list[Path]:
    """Draw the figures of a run folder into it, as `<name>.png` (and `.svg`).

    A sweep folder (`purenet sweep`) gets its own figures instead: see
    `purenet.run.sweep_plot.plot_sweep`.

    Args:
        run_dir: the folder `purenet run` wrote (see `load_run`).
        names: figures to draw, from `FIGURES`; default every figure the run has data for.
        svg: also write SVG files.
        data: raw evaluation data to use instead of the data set the recipe names.
        data_dir: a folder to look for named data sets in first.
        recipe_files: read data files the model's recipe names (see `load_run`).

    Returns:
        The files written, in `FIGURES` order (PNG before SVG for each figure).

    Raises:
        PurenetError: an unknown name, a named figure the run has no data for (with the
            reason), a folder that is not a run folder or has nothing to draw (with the
            reasons), or a `data_dir` that is not an existing folder.
        MissingExtraError: matplotlib is not installed (names the `plot` extra).

    Example:
        >>> from purenet.run.plot import plot_run
        >>> plot_run("runs/digits", names=["loss", "confusion"])  # doctest: +SKIP
        [PosixPath('runs/digits/loss.png'), PosixPath('runs/digits/confusion.png')]
    """
    from purenet.data.load import check_data_dir
    from purenet.run.sweep_files import is_sweep_dir

    require_extra("matplotlib", "plot")
    if is_sweep_dir(run_dir):
        from purenet.run.sweep_plot import plot_sweep

        return plot_sweep(run_dir, names=names, svg=svg)
    if names is not None:
        unknown = [name for name in names if name not in FIGURES]
        if unknown:
            raise PurenetError(f"unknown figure {unknown[0]!r}; choose from {', '.join(FIGURES)}")
    check_data_dir(data_dir)
    run = load_run(run_dir, data=data, data_dir=data_dir, recipe_files=recipe_files)
    if names is None:
        reasons = {name: _why_not(run, name) for name in FIGURES}
        chosen = [name for name, reason in reasons.items() if reason is None]
        if not chosen:
            # Each reason once: the five model figures all say "no model.json".
            why = "; ".join(dict.fromkeys(r for r in reasons.values() if r is not None))
            raise PurenetError(f"{run_dir}: nothing to draw: {why}")
    else:
        chosen = [name for name in FIGURES if name in names]
    written = []
    for name in chosen:
        fig = draw_run_figure(run, name)
        written += save_figure(fig, Path(run_dir) / f"{name}.png", svg=svg)
    return written
