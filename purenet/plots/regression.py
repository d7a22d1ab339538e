"""Regression figures: predicted against true values, and residuals against predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from purenet.nn.metrics import regression_scores
from purenet.plots.common import MISTAKE_COLOR, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_POINT = {"s": 12, "alpha": 0.6, "linewidths": 0}


def _columns(
    truth: np.ndarray, predicted: np.ndarray, names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Both arrays as float64 (n, k) of the same shape, and k panel titles."""
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    t = t.reshape(len(t), -1)
    p = p.reshape(len(p), -1)
    if t.shape != p.shape or not t.size:
        raise ValueError(
            f"true and predicted values must be (n,) or (n, k) of one shape with n >= 1, "
            f"found {np.shape(truth)} and {np.shape(predicted)}"
        )
    k = t.shape[1]
    titles = list(names) if names is not None and len(names) == k else [""] * k
    return t, p, titles


def _r2(t: np.ndarray, p: np.ndarray) -> float:
    """R^2 of one output, by the package's one rule (`nn.metrics.regression_scores`)."""
    error = (t - p).astype(np.float64)[:, None]
    truth = t.astype(np.float64)[:, None]
    return regression_scores(np.square(error).sum(0), np.abs(error).sum(0), truth)[2]


def plot_predicted(
    truth: np.ndarray, predicted: np.ndarray, *, names: Sequence[str] | None = None
) -> Figure:
    """Predicted against true values, one panel per output, with the line y = x and R^2.

    Args:
        truth: (n,) or (n, k) true values.
        predicted: predictions of the same shape.
        names: a title per output.

    Returns:
        A figure 4.8 x 4.4 inches per panel.

    Raises:
        ValueError: shapes that differ, or no rows.

    Example:
        >>> import numpy as np
        >>> fig = plot_predicted(np.array([1.0, 2.0, 3.0]), np.array([1.1, 1.9, 3.2]))
        >>> fig.axes[0].get_xlabel()
        'true'
    """
    t, p, titles = _columns(truth, predicted, names)
    fig = new_figure(4.8 * t.shape[1], 4.4)
    axes = fig.subplots(1, t.shape[1], squeeze=False)[0]
    for i, ax in enumerate(axes):
        ax.scatter(t[:, i], p[:, i], **_POINT)
        low = float(min(t[:, i].min(), p[:, i].min()))
        high = float(max(t[:, i].max(), p[:, i].max()))
        ax.plot([low, high], [low, high], color=MISTAKE_COLOR, linewidth=1, label="y = x")
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        ax.set_title(f"{titles[i]}  R\u00b2 = {_r2(t[:, i], p[:, i]):.3f}".strip())
        ax.legend(loc="upper left")
    return fig


def plot_residuals(
    truth: np.ndarray, predicted: np.ndarray, *, names: Sequence[str] | None = None
) -> Figure:
    """Residuals (true - predicted) against the predictions, one panel per output, with the
    zero line; a pattern or a funnel shows what the model misses.

    Args:
        truth: (n,) or (n, k) true values.
        predicted: predictions of the same shape.
        names: a title per output.

    Returns:
        A figure 4.8 x 4.0 inches per panel.

    Raises:
        ValueError: shapes that differ, or no rows.
    """
    t, p, titles = _columns(truth, predicted, names)
    fig = new_figure(4.8 * t.shape[1], 4.0)
    axes = fig.subplots(1, t.shape[1], squeeze=False)[0]
    for i, ax in enumerate(axes):
        residual = t[:, i] - p[:, i]
        ax.scatter(p[:, i], residual, **_POINT)
        ax.axhline(0.0, color=MISTAKE_COLOR, linewidth=1)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true - predicted")
        rmse = float(np.sqrt(np.mean(np.square(residual))))
        ax.set_title(f"{titles[i]}  RMSE = {rmse:.4g}".strip())
    return fig
