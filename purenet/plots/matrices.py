"""Matrix figures: the confusion matrix with per-class recall and the first layer's weights as
images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
from purenet.plots.common import grid_shape, label_name, new_figure


def plot_confusion(
    truth: np.ndarray,
    predicted: np.ndarray,
    *,
    label_names: Sequence[str] | None = None,
) -> Figure:
    """Draw the confusion matrix with the count in each cell and each class's recall.

    Rows are true classes, columns predicted ones; the right-hand axis gives the recall of
    each row (its diagonal count over its total) and the title the overall accuracy.

    Args:
        truth: (n,) true integer labels.
        predicted: (n,) predicted integer labels.
        label_names: a name per class (also fixes the number of classes).

    Returns:
        A figure of about 0.55 inch per class, at least 5.2 x 4.6 inches.

    Raises:
        ValueError: different lengths, no samples or negative labels.

    Example:
        >>> import numpy as np
        >>> from purenet.plots.matrices import plot_confusion
        >>> fig = plot_confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]))
    """
    truth = np.asarray(truth).astype(np.int64)
    predicted = np.asarray(predicted).astype(np.int64)
    if truth.shape != predicted.shape or truth.ndim != 1 or len(truth) == 0:
        raise ValueError(
            f"truth {truth.shape} and predicted {predicted.shape} must be equal, non-empty (n,)"
        )
    if min(truth.min(), predicted.min()) < 0:
        raise ValueError("labels must be >= 0")
    k = max(int(truth.max()), int(predicted.max())) + 1
    if label_names is not None:
        k = max(k, len(label_names))
    names = [label_name(i, label_names) for i in range(k)]
    counts = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
    totals = counts.sum(axis=1)
    recall = np.divide(np.diag(counts), totals, out=np.full(k, np.nan), where=totals > 0)
    side = max(4.6, 0.55 * k + 1.4)
    fig = new_figure(side + 0.6, side)
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues", interpolation="nearest")
    threshold = counts.max() / 2
    for (row, col), value in np.ndenumerate(counts):
        if value:
            ax.text(
                col,
                row,
                str(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > threshold else "black",
            )
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    recall_axis = ax.secondary_yaxis("right")
    recall_axis.set_yticks(range(k), ["-" if np.isnan(r) else f"{100 * r:.1f}%" for r in recall])
    recall_axis.set_ylabel("recall")
    accuracy = np.trace(counts) / counts.sum()
    ax.set_title(f"confusion matrix: accuracy {100 * accuracy:.2f}% of {len(truth)}")
    return fig


def plot_first_layer(
    w: np.ndarray,
    *,
    image_shape: tuple[int, int] | None = None,
    count: int | None = None,
    columns: int | None = None,
) -> Figure:
    """Draw the first layer's weights as images, one tile per hidden unit.

    Each tile is one column of `w` laid out as the input image: red where the unit is
    excited by ink, blue where it is inhibited, white at zero, each tile on its own
    symmetric scale.

    Args:
        w: (inputs, hidden) first-layer weights, e.g. `params[0].w` of a 784-input model.
        image_shape: (h, w) of an input image; default square (`28x28` for 784 inputs).
        count: draw the first `count` units (default all).
        columns: tiles per row (default square).

    Returns:
        A figure of 0.8 inch per tile (plus a title), at least as wide as its title.

    Raises:
        ValueError: `w` is not 2-D or its rows do not make `image_shape` images.

    Example:
        >>> import purenet as pn
        >>> from purenet.plots.matrices import plot_first_layer
        >>> params = pn.init(pn.Architecture((784, 16, 10)), seed=0)
        >>> fig = plot_first_layer(params[0].w)
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"w has shape {w.shape}; expected (inputs, hidden)")
    if image_shape is None:
        side = math.isqrt(w.shape[0])
        image_shape = (side, side)
    if image_shape[0] * image_shape[1] != w.shape[0]:
        raise ValueError(
            f"w has {w.shape[0]} inputs; they do not make {image_shape[0]}x{image_shape[1]} "
            "images (pass image_shape)"
        )
    units = w.shape[1] if count is None else min(count, w.shape[1])
    rows, cols = grid_shape(units, columns)
    title = f"first-layer weights, {units} of {w.shape[1]} hidden units"
    # A few tiles make a narrow figure: widen it to the title (about 0.075 inch per character
    # at the 10-point suptitle) so the title is never cut off.
    fig = new_figure(max(0.8 * cols + 0.2, 0.075 * len(title) + 0.4), 0.8 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    tiles = w[:, :units].T.reshape(units, *image_shape)
    limits = np.abs(tiles).max(axis=(1, 2))
    for ax in axes:
        ax.axis("off")
    for ax, tile, limit in zip(axes, tiles, limits, strict=False):
        scale = limit if limit > 0 else 1.0
        ax.imshow(tile, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    fig.suptitle(title, fontsize=10)
    return fig
