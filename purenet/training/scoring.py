"""What the loop measures at each epoch's end, and which metrics a run can monitor.

`epoch_scores` scores the epoch's final params on the validation and test sets (and, for
regression models, on the training set) with `purenet.nn.model.score`, as data losses (the L2
penalty is reported apart). `check_monitor` refuses a rule that monitors a metric the run
never reports (an accuracy of a regression model, a validation metric without valid data).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from purenet.data.dataset import Dataset
from purenet.nn.model import Architecture, Params, score

_REGRESSION = ("rmse", "mae", "r2")


def epoch_scores(
    arch: Architecture, params: Params, sets: dict[str, Dataset | None]
) -> dict[str, float]:
    """Score `params` on each named set: `{"valid_loss": ..., "valid_accuracy": ...}`.

    Args:
        arch: the architecture.
        params: the epoch's final parameters.
        sets: `{"valid": ..., "test": ..., "train": ...}`; None entries are skipped.

    Returns:
        `{f"{name}_{metric}": value}` for the metrics `score` gives (loss and accuracy for
        classifiers; loss, rmse, mae and r2 for regression), data losses without L2.
    """
    values: dict[str, float] = {}
    for name, data in sets.items():
        if data is None:
            continue
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            scores = score(arch, params, data.x, data.y)
        values.update({f"{name}_{key}": value for key, value in scores.as_dict().items()})
    return values


def check_monitor(where: str, monitor: str, arch: Architecture, has_valid: bool) -> None:
    """Refuse a monitored metric that this run never reports.

    Args:
        where: the option's name for the message (`early_stopping`, `keep_best`, ...).
        monitor: the metric, e.g. `valid_accuracy`.
        arch: the architecture (regression models have no accuracy, classifiers no rmse).
        has_valid: whether the run has validation data.

    Raises:
        ValueError: the metric is never reported; the message says why.
    """
    part, metric = monitor.split("_", 1)
    if part == "valid" and not has_valid:
        raise ValueError(f"{where} monitors {monitor}, which needs valid data")
    if arch.is_regression and metric == "accuracy":
        raise ValueError(
            f"{where} monitors {monitor}, but a regression model has no accuracy; "
            f"monitor {part}_loss, {part}_rmse, {part}_mae or {part}_r2"
        )
    if not arch.is_regression and metric in _REGRESSION:
        raise ValueError(
            f"{where} monitors {monitor}, a regression metric; a classifier reports "
            f"{part}_loss and {part}_accuracy"
        )


def describe_weights(weights: Any) -> dict[str, Any] | None:
    """A short fingerprint of the training weights for a checkpoint's run settings."""
    if weights is None:
        return None
    digest = hashlib.sha256(np.ascontiguousarray(weights, dtype=np.float64).tobytes())
    return {"count": int(weights.shape[0]), "sha256": digest.hexdigest()}
