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

from purenet.data.dataset import integer_labels
from purenet.errors import DataFormatError
from purenet.modelfile.model import Model
from purenet.nn.model import evaluate, forward, labels_of
from purenet.pipeline.steps import apply_preprocess, check_inputs, flatten_shape


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


def _check_labels(y: Any, k: int, source: str, n: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != n:
        raise DataFormatError(
            f"{source}: expected {n} labels of shape ({n},), found {labels.shape}"
        )
    try:
        labels = integer_labels(labels)
    except ValueError:
        raise DataFormatError(
            f"{source}: labels must be integers, found dtype {labels.dtype}"
        ) from None
    if n and (labels.min() < 0 or labels.max() >= k):
        raise DataFormatError(
            f"{source}: labels range over [{labels.min()}, {labels.max()}]; "
            f"the model has {k} classes [0, {k - 1}]"
        )
    return labels.astype(np.int64)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def evaluate_model(model: Model, x_raw: Any, y: Any, *, source: str = "data") -> Evaluation:
    """Loss, accuracy, confusion matrix and per-class precision and recall on raw data.

    Args:
        model: a loaded model.
        x_raw: (n, ...) raw inputs (preprocessed here with `model.preprocess`).
        y: (n,) integer labels.
        source: a name for error messages.

    Returns:
        An `Evaluation`.

    Raises:
        DataFormatError: inputs or labels that do not fit the model (names `source` and
            the shape).

    Example:
        >>> ev = evaluate_model(model, test.x, test.y)  # doctest: +SKIP
        >>> ev.confusion.shape  # doctest: +SKIP
        (10, 10)
    """
    x = model_inputs(model, x_raw, source=source)
    names = tuple(model.labels)
    k = len(names)
    n = len(x)  # > 0: model_inputs refuses inputs without rows
    truth = _check_labels(y, k, source, n)
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
