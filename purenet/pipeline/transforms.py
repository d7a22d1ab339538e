"""Pure transforms of inputs: `scale` to a range, z-score `standardize` with fitted statistics,
`flatten`.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from purenet.core.checks import float_dtype
from purenet.core.tree import readonly

# ---------------------------------------------------------------------------------------------
# Steps


def scale(
    x: ArrayLike,
    low: float = 0.0,
    high: float = 1.0,
    *,
    max_value: float = 255.0,
    dtype: DTypeLike = np.float32,
) -> np.ndarray:
    """Map values from `[0, max_value]` (pixels 0..255) linearly onto `[low, high]`.

    Args:
        x: any shape, numeric, e.g. `(n, 28, 28)` uint8.
        low: the value of 0, e.g. 0.0 or the tutorials' 0.01.
        high: the value of `max_value`, e.g. 1.0.
        max_value: the largest input value (255 for 8-bit pixels).
        dtype: a float dtype for the result.

    Returns:
        Same shape as `x`, `dtype` (float32 by default), `low + x * (high - low) / max_value`.

    Raises:
        ValueError: `low >= high`, a non-finite bound, `max_value <= 0`, a non-float dtype.

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.transforms import scale
        >>> scale(np.array([0, 255], np.uint8), 0.01, 1.0)
        array([0.01, 1.  ], dtype=float32)
    """
    out_dtype = float_dtype(dtype)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"scale needs finite low < high; got low={low}, high={high}")
    if not (math.isfinite(max_value) and max_value > 0):
        raise ValueError(f"max_value must be finite and > 0; got {max_value}")
    values = np.asarray(x)
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise ValueError(f"scale needs numeric input; got dtype {values.dtype}")
    factor = out_dtype.type((high - low) / max_value)
    return values.astype(out_dtype) * factor + out_dtype.type(low)


@attrs.frozen(eq=False)
class Standardizer:
    """Fitted z-score statistics: data to store with the model and apply to new inputs.

    Attributes:
        mean: the feature means, shape `x.shape[1:]` (or `()` when fitted over all values).
        std: the feature standard deviations, same shape; constant features get 1.
    """

    mean: np.ndarray = attrs.field(converter=readonly)
    std: np.ndarray = attrs.field(converter=readonly)


def fit_standardizer(
    x: ArrayLike, *, per_feature: bool = True, dtype: DTypeLike = np.float32
) -> Standardizer:
    """Fit z-score statistics (computed in float64) to the training inputs.

    Args:
        x: `(n, ...)` numeric training inputs.
        per_feature: one mean and std per feature (`x.shape[1:]`); False: one over all values
            (MNIST's often quoted 0.1307 / 0.3081 after scaling to [0, 1]).
        dtype: float dtype of the stored statistics.

    Returns:
        `Standardizer(mean, std)`; a std of 0 (a constant feature) is stored as 1.

    Raises:
        ValueError: `x` is empty or has no sample axis, or holds non-finite values.

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.transforms import fit_standardizer, standardize
        >>> x = np.array([[1.0, 5.0], [3.0, 5.0]])
        >>> standardize(x, fit_standardizer(x))
        array([[-1.,  0.],
               [ 1.,  0.]], dtype=float32)
    """
    values = np.asarray(x, dtype=np.float64)
    if values.ndim == 0 or len(values) == 0:
        raise ValueError(f"fit_standardizer needs at least one sample; got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("fit_standardizer got non-finite values")
    axis = 0 if per_feature else None
    mean = values.mean(axis=axis)
    std = values.std(axis=axis)
    std = np.where(std > 0, std, 1.0)
    out = float_dtype(dtype)
    return Standardizer(np.asarray(mean, dtype=out), np.asarray(std, dtype=out))


def standardize(
    x: ArrayLike, standardizer: Standardizer, *, dtype: DTypeLike = np.float32
) -> np.ndarray:
    """Apply fitted z-score statistics: `(x - mean) / std`.

    Args:
        x: `(n, ...)` numeric with `x.shape[1:]` matching the standardizer's statistics.
        standardizer: from `fit_standardizer` on the training inputs.
        dtype: float dtype of the result.

    Returns:
        Same shape as `x`, `dtype` (float32 by default).

    Raises:
        ValueError: the shapes do not match.

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.transforms import Standardizer, standardize
        >>> standardize(np.array([[2.0]]), Standardizer(np.array([1.0]), np.array([2.0])))
        array([[0.5]], dtype=float32)
    """
    out = float_dtype(dtype)
    values = np.asarray(x)
    mean, std = standardizer.mean, standardizer.std
    if mean.shape and values.shape[1:] != mean.shape:
        raise ValueError(
            f"standardize: inputs of shape {values.shape} vs statistics of shape {mean.shape}"
        )
    return ((values.astype(out) - mean.astype(out)) / std.astype(out)).astype(out, copy=False)


def flatten(x: ArrayLike) -> np.ndarray:
    """Flatten every sample to one row: `(n, h, w)` to `(n, h * w)`.

    Args:
        x: `(n, ...)` any dtype.

    Returns:
        `(n, prod(shape[1:]))`, same dtype (a view when `x` is contiguous).

    Raises:
        ValueError: `x` is a scalar.

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.transforms import flatten
        >>> flatten(np.zeros((5, 28, 28), np.uint8)).shape
        (5, 784)
    """
    values = np.asarray(x)
    if values.ndim == 0:
        raise ValueError("flatten needs an array with a sample axis; got a scalar")
    # The width from the shape, not -1: numpy cannot infer it for zero samples.
    return values.reshape(len(values), math.prod(values.shape[1:]))
