"""The decision boundary of a two-feature model, evaluated on a grid in one forward call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from purenet.nn.model import Architecture, Params, forward, labels_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure
from purenet.plots.common import new_figure

# ---------------------------------------------------------------------------------------------
# Decision boundary


def boundary_grid(
    x: np.ndarray, *, resolution: int = 200, margin: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regular grid covering 2-column data, flattened into rows for one `forward` call.

    Args:
        x: (n, 2) data points.
        resolution: grid points per axis.
        margin: extra room on each side, as a fraction of the data's range.

    Returns:
        (xs, ys, points): (resolution,) axis values and (resolution**2, 2) float64 points,
        row-major over (ys, xs), so `values.reshape(resolution, resolution)` suits `contourf`.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"x has shape {x.shape}; a decision boundary needs (n, 2) data")
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, found {resolution}")
    low, high = x.min(axis=0), x.max(axis=0)
    pad = margin * np.where(high > low, high - low, 1.0)
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    points = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return xs, ys, points


def plot_decision_boundary(
    arch: Architecture,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    label_names: Sequence[str] | None = None,
    resolution: int = 200,
) -> Figure:
    """Draw a classifier's decision regions over 2-column data, with the data points by class.

    The whole grid goes through the network in one vectorized `forward` call. With one
    sigmoid output or two outputs, the fill is the probability of class 1 and a black line
    marks 0.5; with more classes, the fill is the predicted class.

    Args:
        arch, params: the model.
        x: (n, 2) data points in the data's own units (e.g. microchip test scores).
        y: (n,) integer labels or (n, k) targets of the points.
        transform: maps (m, 2) raw points to (m, sizes[0]) model inputs (the model's
            preprocessing); default: none, the model takes the 2 columns as they are.
        label_names: a name per class for the legend (default "class 0", ...).
        resolution: grid points per axis.

    Returns:
        A 6.4 x 5.2 inch figure (640 x 520 px).

    Raises:
        ValueError: `x` is not (n, 2), or the model's inputs do not fit (transformed) points.

    Example:
        >>> import numpy as np, purenet as pn
        >>> from purenet.plots.boundary import plot_decision_boundary
        >>> arch = pn.Architecture((2, 8, 1), hidden="tanh", output="sigmoid")
        >>> x = np.array([[0.0, 0.0], [1.0, 1.0]]); y = np.array([0, 1])
        >>> fig = plot_decision_boundary(arch, pn.init(arch, seed=0), x, y, resolution=50)
    """
    xs, ys, points = boundary_grid(x, resolution=resolution)
    inputs = points if transform is None else transform(points)
    outputs = forward(arch, params, inputs)
    classes = outputs.shape[1]
    truth = labels_of(y)
    names = list(label_names) if label_names is not None else []
    count = max(classes, 2, int(truth.max()) + 1 if len(truth) else 0)
    names += [f"class {i}" for i in range(len(names), count)]
    fig = new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    if classes <= 2:
        probability = (outputs[:, 0] if classes == 1 else outputs[:, 1]).reshape(len(ys), -1)
        filled = ax.contourf(
            xs, ys, probability, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.75
        )
        fig.colorbar(filled, ax=ax, label=f"P({names[1]})")
        boundary = ax.contour(xs, ys, probability, levels=[0.5], colors="black", linewidths=1.5)
        boundary.set_gid("p=0.5")
        colors = ["#1f4e9c", "#b2182b"]
    else:
        from matplotlib.colors import ListedColormap

        palette = [f"C{i % 10}" for i in range(classes)]
        region = outputs.argmax(axis=1).reshape(len(ys), -1)
        ax.contourf(
            xs,
            ys,
            region,
            levels=np.arange(classes + 1) - 0.5,
            cmap=ListedColormap(palette),
            alpha=0.35,
        )
        colors = palette
    for label in np.unique(truth):
        mask = truth == label
        ax.scatter(
            x[mask, 0],
            x[mask, 1],
            s=22,
            marker="o" if label == 0 else "^",
            color=colors[int(label) % len(colors)],
            edgecolors="white",
            linewidths=0.6,
            label=names[int(label)],
        )
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")
    ax.set_title("decision boundary")
    ax.legend(loc="upper right", fontsize="small")
    return fig
