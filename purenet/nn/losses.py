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
- identity x mae: `sum_k |a_k - y_k|` per sample; gradient `sign(a - y)` (0 at a tie).
- identity x huber: per unit `r^2 / 2` for `|r| <= delta`, else `delta * (|r| - delta / 2)`,
  summed over units (`r = a - y`); gradient `clip(r, -delta, delta)`. As delta grows it
  becomes mse; for small delta it approaches `delta` times mae.

Like mse, mae and huber sum over the output units and average over the batch, so the three
agree on a single output and their gradients have the same scale.

Classification targets `y` are integer labels `(batch,)` or `(batch, k)` arrays (one-hot or
soft, such as 0.01/0.99); with one output unit, integer labels are the 0/1 targets of that unit.
Regression targets (identity output) are values: `(batch,)` for one output, or `(batch, k)`.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from purenet.data.dataset import class_labels
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
    """Return `y` as int64 labels after checking them (`purenet.data.dataset.class_labels`).

    Raises:
        ValueError: `y` is not `(batch,)` integer data, or a label is out of range.
    """
    return class_labels(y, n_classes)


def regression_targets(y: Array, k: int, dtype: np.dtype) -> Array:
    """Turn regression targets into a `(batch, k)` float array of `dtype`.

    Args:
        y: (batch,) values of a single output (any numeric dtype), or (batch, k) values.
            With several outputs, (batch,) integer labels still give one-hot rows (see
            `dense_targets`), as for the other losses.
        k: number of output units.
        dtype: float dtype of the result.

    Raises:
        ValueError: a shape that does not match k, or non-numeric targets.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iufb":
        raise ValueError(f"regression targets must be numbers, found dtype {y.dtype}")
    if y.ndim == 1 and k == 1:
        return y.astype(dtype)[:, None]
    return dense_targets(y, k, dtype)


@attrs.frozen
class OutputLoss:
    """A loss paired with an output activation.

    Attributes:
        value: `value(z, a, y) -> float`, the mean loss over the batch.
        delta: `delta(z, a, y) -> (batch, k)`, d(mean loss)/dz, same dtype as `z`.
        per_sample: `per_sample(z, a, y) -> (batch,)` float64, each sample's loss (their
            mean is `value`, up to the order of the float sums); weighted losses use it.
    """

    value: Callable[[Array, Array, Array], float]
    delta: Callable[[Array, Array, Array], Array]
    per_sample: Callable[[Array, Array, Array], Array]


def _categorical_value(z: Array, a: Array, y: Array) -> float:
    log_p = log_softmax(z)
    if y.ndim == 1:
        labels = check_labels(y, z.shape[1])
        return float(-log_p[np.arange(z.shape[0]), labels].mean(dtype=np.float64))
    return float(
        -(dense_targets(y, z.shape[1], z.dtype) * log_p).sum(dtype=np.float64) / z.shape[0]
    )


def _categorical_per_sample(z: Array, a: Array, y: Array) -> Array:
    log_p = log_softmax(z)
    if y.ndim == 1:
        labels = check_labels(y, z.shape[1])
        return -log_p[np.arange(z.shape[0]), labels].astype(np.float64)
    return -(dense_targets(y, z.shape[1], z.dtype) * log_p).sum(axis=1, dtype=np.float64)


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


def _binary_per_sample(z: Array, a: Array, y: Array) -> Array:
    targets = dense_targets(y, z.shape[1], z.dtype)
    return (np.logaddexp(z, 0) - targets * z).sum(axis=1, dtype=np.float64)


def _binary_delta(z: Array, a: Array, y: Array) -> Array:
    targets = dense_targets(y, z.shape[1], z.dtype)
    return (a - targets) / a.dtype.type(z.shape[0])


def _quadratic_value(z: Array, a: Array, y: Array) -> float:
    error = a - dense_targets(y, a.shape[1], a.dtype)
    return float(0.5 * np.square(error).sum(dtype=np.float64) / a.shape[0])


def _quadratic_per_sample(z: Array, a: Array, y: Array) -> Array:
    error = a - dense_targets(y, a.shape[1], a.dtype)
    return 0.5 * np.square(error).sum(axis=1, dtype=np.float64)


def _quadratic(output: str) -> OutputLoss:
    vjp = OUTPUTS[output].vjp

    def delta(z: Array, a: Array, y: Array) -> Array:
        g = (a - dense_targets(y, a.shape[1], a.dtype)) / a.dtype.type(a.shape[0])
        return vjp(z, a, g)

    return OutputLoss(_quadratic_value, delta, _quadratic_per_sample)


def _regression(
    per_unit: Callable[[Array], Array], gradient: Callable[[Array], Array]
) -> OutputLoss:
    """An identity-output loss from its per-unit value and derivative in the residual r = a - y."""

    def residual(a: Array, y: Array) -> Array:
        return a - regression_targets(y, a.shape[1], a.dtype)

    def value(z: Array, a: Array, y: Array) -> float:
        return float(per_unit(residual(a, y)).sum(dtype=np.float64) / a.shape[0])

    def delta(z: Array, a: Array, y: Array) -> Array:
        return gradient(residual(a, y)) / a.dtype.type(a.shape[0])

    def per_sample(z: Array, a: Array, y: Array) -> Array:
        return per_unit(residual(a, y)).sum(axis=1, dtype=np.float64)

    return OutputLoss(value, delta, per_sample)


def _huber(delta: float) -> OutputLoss:
    def per_unit(r: Array) -> Array:
        size = np.abs(r)
        small = r.dtype.type(delta)
        return np.where(size <= small, 0.5 * r * r, small * (size - 0.5 * small))

    return _regression(per_unit, lambda r: np.clip(r, -delta, delta).astype(r.dtype, copy=False))


LOSSES: dict[tuple[str, str], OutputLoss] = {
    ("softmax", "cross_entropy"): OutputLoss(
        _categorical_value, _categorical_delta, _categorical_per_sample
    ),
    ("sigmoid", "cross_entropy"): OutputLoss(_binary_value, _binary_delta, _binary_per_sample),
    ("identity", "mse"): _regression(lambda r: 0.5 * r * r, lambda r: r),
    ("identity", "mae"): _regression(np.abs, np.sign),
    ("identity", "huber"): _huber(1.0),
    ("sigmoid", "mse"): _quadratic("sigmoid"),
    ("softmax", "mse"): _quadratic("softmax"),
}
"""Supported (output activation, loss) pairs; `identity x huber` here has delta 1 (see
`output_loss` for another delta)."""


def output_loss(output: str, loss: str, *, huber_delta: float = 1.0) -> OutputLoss:
    """The loss paired with its output delta for an architecture's output, loss and options.

    Args:
        output: the output activation's name.
        loss: the loss' name.
        huber_delta: the Huber threshold (used by `huber` only).

    Returns:
        The `OutputLoss`; use it rather than `LOSSES[output, loss]`, which has Huber's
        default delta.

    Raises:
        ValueError: an unsupported pair; the message lists the supported ones.
    """
    if (output, loss) not in LOSSES:
        raise ValueError(
            f"unsupported output x loss pair: {output} x {loss}; supported: {supported_pairs()}"
        )
    if loss == "huber" and huber_delta != 1.0:
        return _huber(huber_delta)
    return LOSSES[output, loss]


def supported_pairs() -> str:
    """The supported (output, loss) pairs as text for error messages."""
    return ", ".join(f"{output} x {loss}" for output, loss in LOSSES)


def check_sample_weight(sample_weight: Array, n: int) -> Array:
    """Return per-sample weights as a (n,) float64 array after checking them.

    Args:
        sample_weight: (n,) finite numbers >= 0, not all 0.
        n: the batch size.

    Raises:
        ValueError: a wrong shape, a negative or non-finite weight, or weights summing to 0.
    """
    weight = np.asarray(sample_weight)
    if weight.shape != (n,) or weight.dtype.kind not in "iuf":
        raise ValueError(
            f"sample_weight must be ({n},) numbers, one per sample; found dtype {weight.dtype} "
            f"and shape {weight.shape}"
        )
    weight = weight.astype(np.float64)
    if not np.isfinite(weight).all() or (weight < 0).any():
        raise ValueError("sample_weight must hold finite numbers >= 0")
    if not weight.sum() > 0:
        raise ValueError("sample_weight sums to 0: at least one sample must have weight > 0")
    return weight


def weighted_loss(
    pair: OutputLoss, z: Array, a: Array, y: Array, weight: Array
) -> tuple[float, Array]:
    """The weighted mean loss `sum_i w_i l_i / sum_i w_i` and its gradient with respect to `z`.

    Args:
        pair: the output loss.
        z, a: (batch, k) logits and output activations.
        y: the batch's labels or targets.
        weight: (batch,) float64 weights from `check_sample_weight`.

    Returns:
        (value, delta): a float, and (batch, k) in `z`'s dtype; with equal weights the same
        numbers as `pair.value` and `pair.delta` (up to rounding), and an integer weight `c`
        counts a sample as `c` copies of it.
    """
    total = weight.sum()
    value = float((weight * pair.per_sample(z, a, y)).sum() / total)
    # pair.delta divides each row by the batch size; rescale row i to w_i / sum(w).
    scale = (weight * (z.shape[0] / total)).astype(z.dtype)
    return value, pair.delta(z, a, y) * scale[:, None]
