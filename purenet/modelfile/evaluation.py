"""Using a trained model on raw inputs: evaluate with per-class metrics, predict.

These are the library functions behind `purenet evaluate` and `purenet predict`. A model
carries its fitted preprocessing, so every function here takes *raw* inputs (uint8 images,
unscaled features) and applies `model.preprocess` itself. `model_inputs` is where raw inputs
enter a model, so it is where they are checked (`purenet.pipeline.steps.check_inputs`): NaN and
Inf are refused, and so are values outside the range of the model's `scale` step (already
scaled inputs would otherwise be scaled twice, silently).

Example:
    >>> from purenet.modelfile.evaluation import evaluate_model, predict_inputs
    >>> from purenet.modelfile.io import load_model
    >>> from purenet.data.load import load_dataset
    >>> model = load_model("runs/mnist/model.json")  # doctest: +SKIP
    >>> test = load_dataset("mnist", "test")  # doctest: +SKIP
    >>> round(evaluate_model(model, test.x, test.y).accuracy, 3)  # doctest: +SKIP
    0.981
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from purenet.data.dataset import class_labels
from purenet.errors import DataFormatError
from purenet.modelfile.model import Model, output_names
from purenet.nn.metrics import regression_scores
from purenet.nn.model import evaluate, forward, labels_of, predict_multilabel, score
from purenet.pipeline.steps import apply_preprocess, check_inputs, flatten_shape
from purenet.pipeline.targets import (
    ClassCoding,
    encode_labels,
    regression_values,
    restore_targets,
    scale_targets,
)


@attrs.frozen(eq=False)
class Evaluation:
    """Metrics of a model on a labelled data set.

    Attributes:
        n: number of samples.
        loss: mean data loss (no L2 term).
        accuracy: fraction of samples predicted right.
        labels: class names, in class order.
        confusion: (k, k) int64 counts, rows true class, columns predicted class.
        precision: per class, correct / predicted as that class; None when never predicted.
        recall: per class, correct / samples of that class; None when the class is absent.
    """

    n: int
    loss: float
    accuracy: float
    labels: tuple[str, ...]
    confusion: np.ndarray
    precision: tuple[float | None, ...]
    recall: tuple[float | None, ...]

    def metrics(self) -> dict[str, float]:
        """The headline numbers by name, as a run stores them (`test_loss`, ...)."""
        return {"loss": self.loss, "accuracy": self.accuracy}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: numbers, lists and None only."""
        return {
            "n": self.n,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "labels": list(self.labels),
            "precision": list(self.precision),
            "recall": list(self.recall),
            "confusion": self.confusion.tolist(),
        }


@attrs.frozen(eq=False)
class RegressionEvaluation:
    """Metrics of a regression model (identity output) on a data set; never an accuracy.

    RMSE, MAE and R^2 are in the units of the targets as the data hold them (a model's
    target scaling is undone first) and averaged uniformly over outputs, as scikit-learn's
    `multioutput="uniform_average"`; `per_output` gives each output's own.

    Attributes:
        n: number of samples.
        loss: mean data loss as training computes it (on scaled targets when the model
            scales them).
        rmse: root mean squared error.
        mae: mean absolute error.
        r2: coefficient of determination.
        labels: output names.
        per_output: per output, `{"rmse", "mae", "r2"}`.
    """

    n: int
    loss: float
    rmse: float
    mae: float
    r2: float
    labels: tuple[str, ...]
    per_output: tuple[dict[str, float], ...]

    def metrics(self) -> dict[str, float]:
        """The headline numbers by name, as a run stores them (`test_rmse`, ...)."""
        return {"loss": self.loss, "rmse": self.rmse, "mae": self.mae, "r2": self.r2}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "n": self.n,
            **self.metrics(),
            "labels": list(self.labels),
            "per_output": list(self.per_output),
        }


@attrs.frozen(eq=False)
class MultilabelEvaluation:
    """Metrics of a multi-label model (independent 0/1 labels, sigmoid outputs > 0.5).

    Attributes:
        n: number of samples.
        loss: mean data loss (per-unit binary cross-entropy, or the model's loss).
        exact_match: fraction of rows whose every label is right (scikit-learn's
            `accuracy_score` on a label matrix).
        labels: label names.
        precision: per label, true positives / predicted positives; None when never predicted.
        recall: per label, true positives / actual positives; None when never present.
        support: per label, the number of rows that have it.
    """

    n: int
    loss: float
    exact_match: float
    labels: tuple[str, ...]
    precision: tuple[float | None, ...]
    recall: tuple[float | None, ...]
    support: tuple[int, ...]

    def metrics(self) -> dict[str, float]:
        """The headline numbers by name, as a run stores them (`test_exact_match`, ...)."""
        return {"loss": self.loss, "exact_match": self.exact_match}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "n": self.n,
            **self.metrics(),
            "labels": list(self.labels),
            "precision": list(self.precision),
            "recall": list(self.recall),
            "support": list(self.support),
        }


AnyEvaluation = Evaluation | RegressionEvaluation | MultilabelEvaluation
"""What `evaluate_model` returns, by the kind of model."""


@attrs.frozen(eq=False)
class Prediction:
    """Top-k classes of each input row.

    Attributes:
        classes: (n, k) int64 class indices, most likely first.
        names: (n, k) class names of `classes`.
        scores: (n, k) float64 probabilities (softmax; for one sigmoid unit `p` and `1 - p`;
            for several sigmoid units each unit's own probability; raw outputs for identity).
    """

    classes: np.ndarray
    names: tuple[tuple[str, ...], ...]
    scores: np.ndarray

    def to_list(self) -> list[list[dict[str, Any]]]:
        """JSON-ready form: per row, a list of `{"class", "label", "score"}` best first."""
        return [
            [
                {"class": int(c), "label": name, "score": float(s)}
                for c, name, s in zip(classes, names, scores, strict=True)
            ]
            for classes, names, scores in zip(self.classes, self.names, self.scores, strict=True)
        ]


def model_inputs(model: Model, x_raw: Any, *, source: str = "inputs") -> np.ndarray:
    """Apply the model's preprocessing to raw inputs and check the result fits the model.

    Args:
        model: a loaded model.
        x_raw: (n, ...) raw inputs, e.g. uint8 (n, 28, 28) images or (n, 784) pixel rows.
        source: a name for error messages (the file the inputs came from).

    Returns:
        (n, sizes[0]) array in the parameters' dtype.

    Raises:
        DataFormatError: no rows; inputs of a shape or type the preprocessing or the model
            cannot take (for a model fitted on images the message names both shapes it
            takes, `(n, 28, 28)` or `(n, 784)`); inputs holding NaN or Inf (the message
            names the first bad row), or outside the range the model's `scale` step
            expects, such as pixels already divided by 255 (see
            `purenet.pipeline.steps.check_inputs`).
    """
    dtype = model.params[0].w.dtype
    raw = np.asarray(x_raw)
    if raw.ndim == 0 or raw.size == 0:
        raise DataFormatError(f"{source}: no rows (an array of shape {raw.shape})")
    try:
        # This is where raw inputs enter a model (evaluate, predict, the run's test set):
        # the one place to refuse values the preprocessing would map silently wrong.
        check_inputs(model.preprocess, raw)
    except ValueError as exc:
        raise DataFormatError(f"{source}: {exc}") from None
    width = model.arch.sizes[0]
    # Rows of pixels (n, 784) from a CSV or NPY file meet a model fitted on (n, 28, 28)
    # images: give them the shape its flatten step was fitted on.
    shape = flatten_shape(model.preprocess)
    if shape and len(shape) > 1 and raw.ndim == 2 and raw.shape[1] == int(np.prod(shape)):
        raw = raw.reshape(len(raw), *shape)
    elif shape and len(shape) > 1 and tuple(raw.shape[1:]) != shape:
        raise DataFormatError(
            f"{source}: expected inputs of shape (n, {', '.join(map(str, shape))}) or "
            f"(n, {int(np.prod(shape))}), found {raw.shape}"
        )
    try:
        x = apply_preprocess(model.preprocess, raw, dtype=dtype)
    except ValueError as exc:
        raise DataFormatError(f"{source}: shape {raw.shape}: {exc}") from None
    if x.shape[1] != width:
        raise DataFormatError(
            f"{source}: inputs of shape {raw.shape} give {x.shape[1]} features; "
            f"the model expects {width}"
        )
    return x


def _check_labels(y: Any, names: tuple[str, ...], source: str, n: int) -> np.ndarray:
    """Class labels as indices: integers in range, or names of the model's classes."""
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != n:
        raise DataFormatError(
            f"{source}: expected {n} labels of shape ({n},), found {labels.shape}"
        )
    try:
        if labels.dtype.kind in "USO":
            return encode_labels(labels, ClassCoding(names)).labels
        return class_labels(labels, len(names))
    except ValueError as exc:
        raise DataFormatError(f"{source}: {exc}") from None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def evaluate_model(model: Model, x_raw: Any, y: Any, *, source: str = "data") -> AnyEvaluation:
    """Loss, accuracy, confusion matrix and per-class precision and recall on raw data;
    RMSE, MAE and R^2 for a regression model; per-label precision and recall for a
    multi-label one.

    Args:
        model: a loaded model.
        x_raw: (n, ...) raw inputs (preprocessed here with `model.preprocess`).
        y: (n,) integer labels or class names (`setosa`, as `model.labels` has them); for
            a regression model (n,) or (n, k) values; for a multi-label model a 0/1
            (n, k) matrix.
        source: a name for error messages.

    Returns:
        An `Evaluation`, `RegressionEvaluation` or `MultilabelEvaluation`.

    Raises:
        DataFormatError: inputs or labels that do not fit the model (names `source` and
            the shape).

    Example:
        >>> ev = evaluate_model(model, test.x, test.y)  # doctest: +SKIP
        >>> ev.confusion.shape  # doctest: +SKIP
        (10, 10)
    """
    x = model_inputs(model, x_raw, source=source)
    if model.arch.is_regression:
        return _evaluate_regression(model, x, y, source)
    if model.multilabel:
        return _evaluate_multilabel(model, x, y, source)
    names = tuple(model.labels)
    k = len(names)
    n = len(x)  # > 0: model_inputs refuses inputs without rows
    truth = _check_labels(y, names, source, n)
    loss, accuracy = evaluate(model.arch, model.params, x, truth)
    predicted = labels_of(forward(model.arch, model.params, x))
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    diagonal = np.diag(confusion)
    precision = tuple(
        _ratio(int(d), int(c)) for d, c in zip(diagonal, confusion.sum(0), strict=True)
    )
    recall = tuple(_ratio(int(d), int(r)) for d, r in zip(diagonal, confusion.sum(1), strict=True))
    return Evaluation(n, float(loss), float(accuracy), names, confusion, precision, recall)


def _evaluate_regression(model: Model, x: np.ndarray, y: Any, source: str) -> RegressionEvaluation:
    k = model.arch.sizes[-1]
    try:
        truth = regression_values(y)
    except ValueError as exc:
        raise DataFormatError(f"{source}: {exc}") from None
    if truth.shape != (len(x), k):
        raise DataFormatError(
            f"{source}: expected {len(x)} targets of shape ({len(x)},) or ({len(x)}, {k}) for "
            f"{k} output(s), found {np.shape(y)}"
        )
    dtype = model.params[0].w.dtype
    scaled = scale_targets(model.targets, truth, dtype)
    loss = score(model.arch, model.params, x, scaled).loss
    error = predict_values(model, x, preprocessed=True) - truth
    squared, absolute = np.square(error).sum(axis=0), np.abs(error).sum(axis=0)
    rmse, mae, r2 = regression_scores(squared, absolute, truth)
    per_output = tuple(
        dict(
            zip(("rmse", "mae", "r2"), regression_scores(s[None], a[None], t[:, None]), strict=True)
        )
        for s, a, t in zip(squared, absolute, truth.T, strict=True)
    )
    return RegressionEvaluation(len(x), loss, rmse, mae, r2, output_names(model), per_output)


def _evaluate_multilabel(model: Model, x: np.ndarray, y: Any, source: str) -> MultilabelEvaluation:
    k = model.arch.sizes[-1]
    truth = np.asarray(y)
    if truth.shape != (len(x), k) or not np.isin(truth, (0, 1)).all():
        raise DataFormatError(
            f"{source}: expected a 0/1 label matrix of shape ({len(x)}, {k}), found "
            f"{truth.dtype} {truth.shape}"
        )
    truth = truth.astype(np.int64)
    loss = score(model.arch, model.params, x, truth.astype(x.dtype)).loss
    predicted = predict_multilabel(model.arch, model.params, x)
    hits = (predicted & truth).sum(axis=0)
    precision = tuple(_ratio(int(h), int(p)) for h, p in zip(hits, predicted.sum(0), strict=True))
    recall = tuple(_ratio(int(h), int(t)) for h, t in zip(hits, truth.sum(0), strict=True))
    exact = float((predicted == truth).all(axis=1).mean())
    support = tuple(int(t) for t in truth.sum(axis=0))
    return MultilabelEvaluation(
        len(x), loss, exact, tuple(model.labels), precision, recall, support
    )


def predict_values(
    model: Model, x_raw: Any, *, source: str = "inputs", preprocessed: bool = False
) -> np.ndarray:
    """A regression model's predictions in the units of its training targets.

    Args:
        model: a regression model (identity output).
        x_raw: (n, ...) raw inputs (or model input when `preprocessed`).
        source: a name for error messages.
        preprocessed: `x_raw` is already model input (n, sizes[0]).

    Returns:
        (n, k) float64 values, the model's target scaling undone.

    Raises:
        DataFormatError: inputs that do not fit the model.
        ValueError: a model that is not a regression model.
    """
    if not model.arch.is_regression:
        raise ValueError(
            f"predict_values needs a regression model; the output is {model.arch.output}"
        )
    x = x_raw if preprocessed else model_inputs(model, x_raw, source=source)
    return restore_targets(model.targets, forward(model.arch, model.params, x))


def predict_inputs(
    model: Model, x_raw: Any, top_k: int = 3, *, source: str = "inputs"
) -> Prediction:
    """The `top_k` most likely classes of each raw input row, with their scores.

    Args:
        model: a loaded model.
        x_raw: (n, ...) raw inputs.
        top_k: classes per row, >= 1 (capped at the number of classes).
        source: a name for error messages.

    Returns:
        A `Prediction`; `classes[:, 0]` equals `purenet.predict` on the preprocessed inputs.

    Raises:
        DataFormatError: inputs that do not fit the model.
        ValueError: `top_k < 1`.

    Example:
        >>> predict_inputs(model, test.x[:2], top_k=1).classes.tolist()  # doctest: +SKIP
        [[7], [2]]
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, found {top_k}")
    x = model_inputs(model, x_raw, source=source)
    outputs = forward(model.arch, model.params, x).astype(np.float64)
    if outputs.shape[1] == 1:
        outputs = np.hstack([1.0 - outputs, outputs])
    # A stable sort on the negated scores keeps the lower class first on ties, like argmax.
    order = np.argsort(-outputs, axis=1, kind="stable")[:, :top_k]
    scores = np.take_along_axis(outputs, order, axis=1)
    names = tuple(model.labels)
    row_names = tuple(tuple(names[c] for c in row) for row in order.tolist())
    return Prediction(order.astype(np.int64), row_names, scores)


def predict_label_sets(
    model: Model, x_raw: Any, *, source: str = "inputs"
) -> tuple[np.ndarray, np.ndarray]:
    """A multi-label model's labels of each raw input row: sigmoid output > 0.5.

    Args:
        model: a model with `multilabel` set.
        x_raw: (n, ...) raw inputs.
        source: a name for error messages.

    Returns:
        ((n, k) int64 0/1 labels, as `purenet.predict_multilabel`; (n, k) float64
        probabilities), columns in `model.labels` order.

    Raises:
        DataFormatError: inputs that do not fit the model.
        ValueError: a model that is not multi-label.
    """
    if not model.multilabel:
        raise ValueError("predict_label_sets needs a multi-label model (model.multilabel)")
    x = model_inputs(model, x_raw, source=source)
    probabilities = forward(model.arch, model.params, x).astype(np.float64)
    return predict_multilabel(model.arch, model.params, x), probabilities
