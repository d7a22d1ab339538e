"""Losses, each paired with its gradient with respect to the output layer's logits.

A loss is chosen together with the output activation (`Architecture.output` x
`Architecture.loss`). Each pair gives `value(z, a, y)`, the mean loss over the batch, and
`delta(z, a, y)`, its gradient with respect to the logits `z` (already divided by the batch
size), in the spirit of Nielsen's `fn` / `delta`:

- softmax x cross_entropy: categorical cross-entropy from the logits through log-sum-exp;
  `delta = p * sum(y) - y` (= `p - y` for targets that sum to one). No Jacobian is formed.
- sigmoid x cross_entropy: per-unit binary cross-entropy, summed over units, from the logits
  (`softplus(z) - y * z`); `delta = p - y`.
- {identity, sigmoid, softmax} x mse: the quadratic cost `1/2 * sum_k (a_k - y_k)^2` per
  sample (Nielsen's and the classic tutorials' convention); its gradient `a - y` is carried
  back through the output activation's vector-Jacobian product.

Targets `y` are integer labels `(batch,)` or `(batch, k)` arrays (one-hot or soft, such as
0.01/0.99). With one output unit, integer labels are the 0/1 targets of that unit.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from purenet.nn.activations import OUTPUTS, log_softmax

Array = np.ndarray


def dense_targets(y: Array, k: int, dtype: np.dtype) -> Array:
    """Turn labels or targets into a `(batch, k)` float array of `dtype`.

    Args:
        y: (batch,) integer labels in [0, k) (0/1 when k == 1), or (batch, k) targets.
        k: number of output units.
        dtype: float dtype of the result.

    Returns:
        (batch, k) targets; labels become one-hot rows (or a 0/1 column when k == 1).

    Raises:
        ValueError: labels out of range, or a target shape that does not match k.
    """
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[1] != k:
            raise ValueError(f"targets have shape {y.shape}; the model has {k} outputs")
        return y.astype(dtype, copy=False)
    labels = check_labels(y, 2 if k == 1 else k)
    if k == 1:
        return labels.astype(dtype)[:, None]
    targets = np.zeros((labels.shape[0], k), dtype=dtype)
    targets[np.arange(labels.shape[0]), labels] = 1
    return targets


def check_labels(y: Array, n_classes: int) -> Array:
    """Return `y` as integer labels after checking they lie in [0, n_classes).

    Raises:
        ValueError: `y` is not 1-D integer data, or a label is out of range.
    """
    if y.ndim != 1 or y.dtype.kind not in "iub":
        raise ValueError(
            f"labels must be a 1-D integer array, found dtype {y.dtype} and shape {y.shape}; "
            "pass (batch, k) float targets instead"
        )
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes}), found values in [{y.min()}, {y.max()}]"
        )
    return y


@attrs.frozen
class OutputLoss:
    """A loss paired with an output activation.

    Attributes:
        value: `value(z, a, y) -> float`, the mean loss over the batch.
        delta: `delta(z, a, y) -> (batch, k)`, d(mean loss)/dz, same dtype as `z`.
    """

    value: Callable[[Array, Array, Array], float]
    delta: Callable[[Array, Array, Array], Array]


def _categorical_value(z: Array, a: Array, y: Array) -> float:
    log_p = log_softmax(z)
    if y.ndim == 1:
        labels = check_labels(y, z.shape[1])
        return float(-log_p[np.arange(z.shape[0]), labels].mean(dtype=np.float64))
    return float(
        -(dense_targets(y, z.shape[1], z.dtype) * log_p).sum(dtype=np.float64) / z.shape[0]
    )


def _categorical_delta(z: Array, a: Array, y: Array) -> Array:
    n = z.shape[0]
    if y.ndim == 1:
        labels = check_labels(y, z.shape[1])
        delta = a / a.dtype.type(n)
        delta[np.arange(n), labels] -= a.dtype.type(1 / n)
        return delta
    targets = dense_targets(y, z.shape[1], z.dtype)
    return (a * targets.sum(axis=1, keepdims=True) - targets) / a.dtype.type(n)


def _binary_value(z: Array, a: Array, y: Array) -> float:
    targets = dense_targets(y, z.shape[1], z.dtype)
    # -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - y z, with no exp overflow.
    per_unit = np.logaddexp(z, 0) - targets * z
    return float(per_unit.sum(dtype=np.float64) / z.shape[0])


def _binary_delta(z: Array, a: Array, y: Array) -> Array:
    targets = dense_targets(y, z.shape[1], z.dtype)
    return (a - targets) / a.dtype.type(z.shape[0])


def _quadratic_value(z: Array, a: Array, y: Array) -> float:
    error = a - dense_targets(y, a.shape[1], a.dtype)
    return float(0.5 * np.square(error).sum(dtype=np.float64) / a.shape[0])


def _quadratic(output: str) -> OutputLoss:
    vjp = OUTPUTS[output].vjp

    def delta(z: Array, a: Array, y: Array) -> Array:
        g = (a - dense_targets(y, a.shape[1], a.dtype)) / a.dtype.type(a.shape[0])
        return vjp(z, a, g)

    return OutputLoss(_quadratic_value, delta)


LOSSES: dict[tuple[str, str], OutputLoss] = {
    ("softmax", "cross_entropy"): OutputLoss(_categorical_value, _categorical_delta),
    ("sigmoid", "cross_entropy"): OutputLoss(_binary_value, _binary_delta),
    ("identity", "mse"): _quadratic("identity"),
    ("sigmoid", "mse"): _quadratic("sigmoid"),
    ("softmax", "mse"): _quadratic("softmax"),
}
"""Supported (output activation, loss) pairs."""


def supported_pairs() -> str:
    """The supported (output, loss) pairs as text for error messages."""
    return ", ".join(f"{output} x {loss}" for output, loss in LOSSES)
