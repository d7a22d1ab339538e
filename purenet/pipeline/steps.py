"""Preprocessing step specs: what turns raw inputs into model input, shared by recipes and models.

A step is a frozen spec with a class-level `kind` tag (the key a recipe or model file names):
`Scale` maps pixel values 0..255 onto `[low, high]`, `Standardize` applies fitted z-score
statistics and `Flatten` turns each sample into one row. Steps that depend on the training data
(`Standardize`'s mean and std, `Flatten`'s input shape; each class lists them in `fitted_fields`)
are filled by `fit_preprocess`. A recipe's `[pipeline] steps` are these specs unfitted; the fitted
steps are stored in the model file so `apply_preprocess` gives new raw inputs the exact treatment
the training inputs had.

Each step carries its behaviour: `fit(x)`, `apply(x, dtype)`, `check_raw(values)` (what raw user
inputs must satisfy), `expected_shape()` / `output_shape(shape)` and `describe()` (for `purenet
info`), so a new step is one class here plus its entry in `PREPROCESS_STEPS`. The math lives in
`pipeline.transforms`; the functions below only sequence the steps.

Example:
    >>> import numpy as np
    >>> from purenet.pipeline.steps import Flatten, Scale, Standardize
    >>> from purenet.pipeline.steps import apply_preprocess, fit_preprocess
    >>> images = np.arange(2 * 2 * 2, dtype=np.uint8).reshape(2, 2, 2)
    >>> steps = fit_preprocess((Scale(0.01, 1.0), Flatten(), Standardize()), images)
    >>> steps[1].input_shape
    (2, 2)
    >>> apply_preprocess(steps, images).shape
    (2, 4)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from purenet.core.checks import FieldError
from purenet.core.tree import readonly
from purenet.pipeline.transforms import Standardizer, fit_standardizer, flatten, scale, standardize


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"expected a number, found {value!r}")
    return float(value)


def _field_error(instance: Any, field: str, problem: str) -> FieldError:
    # Python callers read `Scale.high: problem`; a recipe or model file error points at the field.
    return FieldError(field, problem, text=f"{type(instance).__name__}.{field}: {problem}")


def _finite(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value):
        raise _field_error(instance, attribute.name, f"expected a finite number, found {value}")


@attrs.frozen
class Scale:
    """Map values from `[0, max_value]` linearly onto `[low, high]` (`transforms.scale`).

    Attributes:
        low: the value 0 maps to, e.g. 0.0 or the classic tutorials' 0.01.
        high: the value `max_value` maps to.
        max_value: the largest raw value, 255 for 8-bit pixels.

    Raises:
        TypeError: a value that is not a number.
        FieldError: (a `ValueError`) a value that is not finite, `low >= high` or
            `max_value <= 0`; the message starts with the field, e.g. `Scale.high: expected
            low < high, found ...`.
    """

    kind: ClassVar[str] = "scale"
    fitted_fields: ClassVar[tuple[str, ...]] = ()
    keeps_values: ClassVar[bool] = False
    low: float = attrs.field(default=0.0, converter=_to_float, validator=_finite)
    high: float = attrs.field(default=1.0, converter=_to_float, validator=_finite)
    max_value: float = attrs.field(default=255.0, converter=_to_float, validator=_finite)

    def __attrs_post_init__(self) -> None:
        if not self.low < self.high:
            found = f"found low={self.low}, high={self.high}"
            raise _field_error(self, "high", f"expected low < high, {found}")
        if not self.max_value > 0:
            found = f"found {self.max_value}"
            raise _field_error(self, "max_value", f"expected max_value > 0, {found}")

    def fit(self, x: np.ndarray) -> Scale:
        """Nothing to fit: the step itself."""
        return self

    def apply(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """`transforms.scale` of `x` as `dtype`."""
        return scale(x, self.low, self.high, max_value=self.max_value, dtype=dtype)

    def expected_shape(self) -> tuple[int, ...] | None:
        """Any per-sample shape."""
        return None

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape it is given."""
        return shape

    def check_raw(self, values: np.ndarray) -> None:
        """Refuse raw values outside `[0, max_value]`, or fractions when `max_value > 1`."""
        if not values.size or values.dtype == np.bool_:
            return
        low, high = values.min(), values.max()
        found = f"values range over [{low:g}, {high:g}]"
        expected = f"[0, {self.max_value:g}]"
        if low < 0 or high > self.max_value:
            raise ValueError(
                f"{found}, outside {expected} the model's scale step expects: already scaled "
                f"or standardized? give the raw values the model was trained on"
            )
        if self.max_value > 1 and high <= 1 and values.dtype.kind == "f":
            if not np.array_equal(values, np.round(values)):
                raise ValueError(
                    f"{found} with fractions; the model's scale step expects raw values in "
                    f"{expected} and scales them itself: already scaled? give the raw values "
                    f"(e.g. 0..255 pixels)"
                )

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for `purenet info`: kind, one line of text and the fields."""
        text = f"scale [0, {self.max_value:g}] to [{self.low:g}, {self.high:g}]"
        return {
            "kind": self.kind,
            "text": text,
            "low": self.low,
            "high": self.high,
            "max_value": self.max_value,
        }


def _to_shape(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        shape = tuple(operator.index(n) for n in value)
    except TypeError:
        raise TypeError(f"input_shape must be a list of integers, found {value!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape must hold positive sizes, found {list(shape)}")
    return shape


@attrs.frozen
class Flatten:
    """Turn every sample into one row: `(n, 28, 28)` to `(n, 784)`.

    Attributes:
        input_shape: the per-sample shape this step expects, e.g. `(28, 28)`; filled from the
            training inputs by `fit_preprocess`, None to accept any shape.
    """

    kind: ClassVar[str] = "flatten"
    fitted_fields: ClassVar[tuple[str, ...]] = ("input_shape",)
    keeps_values: ClassVar[bool] = True
    input_shape: tuple[int, ...] | None = attrs.field(default=None, converter=_to_shape)

    def fit(self, x: np.ndarray) -> Flatten:
        """The step with `input_shape` from the training inputs (which must match a set one)."""
        found = tuple(x.shape[1:])
        if self.input_shape is not None and self.input_shape != found:
            raise ValueError(
                f"flatten expects samples of shape {list(self.input_shape)}, "
                f"the training inputs have {list(found)}"
            )
        return Flatten(found or None)

    def apply(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """`transforms.flatten` of `x`, after checking the sample shape against `input_shape`."""
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"flatten expects inputs of shape (n, {', '.join(map(str, self.input_shape))}), "
                f"found {x.shape}"
            )
        return flatten(x)

    def expected_shape(self) -> tuple[int, ...] | None:
        """`input_shape`."""
        return self.input_shape

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """One row: `(prod(shape),)`."""
        return (math.prod(shape),)

    def check_raw(self, values: np.ndarray) -> None:
        """Nothing to check: flattening keeps every value."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for `purenet info`: kind, one line of text and the shape."""
        shape = None if self.input_shape is None else list(self.input_shape)
        text = "flatten" if shape is None else f"flatten {shape} to [{math.prod(shape)}]"
        return {"kind": self.kind, "text": text, "input_shape": shape}


def _optional_stats(value: Any) -> np.ndarray | None:
    return None if value is None else readonly(value)


def _same_stats(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))


@attrs.frozen
class Standardize:
    """Apply z-score statistics, `(x - mean) / std` (see `purenet.pipeline.transforms.standardize`).

    A recipe names it without statistics; `fit_preprocess` fits them on the training inputs.
    Unlike other array holders it compares by value (exact dtype, shape and values; the hash
    leaves the arrays out), so recipes and step tuples compare as plain data.

    Attributes:
        mean: fitted means, per-sample shape (or `()` for one over all values), or None.
        std: fitted standard deviations (> 0), same shape and dtype as `mean`, or None.
        per_feature: fit one mean and std per feature (True) or one over all values.

    Raises:
        ValueError: only one of mean/std given, mismatched shapes or dtypes, a non-float
            dtype, non-finite values or a std that is not positive.
    """

    kind: ClassVar[str] = "standardize"
    fitted_fields: ClassVar[tuple[str, ...]] = ("mean", "std")
    keeps_values: ClassVar[bool] = False
    mean: np.ndarray | None = attrs.field(
        default=None, converter=_optional_stats, eq=attrs.cmp_using(eq=_same_stats), hash=False
    )
    std: np.ndarray | None = attrs.field(
        default=None, converter=_optional_stats, eq=attrs.cmp_using(eq=_same_stats), hash=False
    )
    per_feature: bool = True

    def __attrs_post_init__(self) -> None:
        if self.mean is None or self.std is None:
            if self.mean is not None or self.std is not None:
                raise ValueError("standardize needs both mean and std, or neither (to be fitted)")
            return
        if self.mean.shape != self.std.shape or self.mean.dtype != self.std.dtype:
            raise ValueError(
                f"standardize mean is {self.mean.dtype} {list(self.mean.shape)}, std is "
                f"{self.std.dtype} {list(self.std.shape)}; they must match"
            )
        if self.mean.dtype.kind != "f":
            raise ValueError(f"standardize statistics must be floats, found {self.mean.dtype}")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all()):
            raise ValueError("standardize statistics hold NaN or Inf")
        if not (self.std > 0).all():
            raise ValueError("standardize std must be > 0 everywhere")

    @property
    def is_fitted(self) -> bool:
        """True when the statistics are present."""
        return self.mean is not None

    def fit(self, x: np.ndarray) -> Standardize:
        """The step with statistics fitted on `x` (float32); a fitted step is kept."""
        if self.is_fitted:
            return self
        stats = fit_standardizer(x, per_feature=self.per_feature)
        return Standardize(stats.mean, stats.std, per_feature=self.per_feature)

    def apply(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """`transforms.standardize` of `x` as `dtype`."""
        if self.mean is None or self.std is None:
            raise ValueError("standardize has no statistics; fit them first with fit_preprocess")
        return standardize(x, Standardizer(self.mean, self.std), dtype=dtype)

    def expected_shape(self) -> tuple[int, ...] | None:
        """The shape of per-feature statistics, else any."""
        return self.mean.shape if self.mean is not None and self.mean.shape else None

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape it is given."""
        return shape

    def check_raw(self, values: np.ndarray) -> None:
        """Nothing beyond finiteness, which `check_inputs` checks for every model."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for `purenet info`: kind, one line of text, statistics' shape."""
        shape = [] if self.mean is None else list(self.mean.shape)
        where = "per feature" if shape else "over all values"
        return {
            "kind": self.kind,
            "text": f"standardize {where}",
            "shape": shape,
            "per_feature": self.per_feature,
        }


def is_fitted(step: PreprocessStep) -> bool:
    """True when any of the step's `fitted_fields` is set (a `Scale` never is).

    Example:
        >>> is_fitted(Flatten()), is_fitted(Flatten((28, 28)))
        (False, True)
    """
    return any(getattr(step, name) is not None for name in step.fitted_fields)


PreprocessStep = Scale | Flatten | Standardize
"""Any preprocessing step spec."""

PREPROCESS_STEPS: dict[str, type[Scale] | type[Flatten] | type[Standardize]] = {
    cls.kind: cls for cls in (Scale, Flatten, Standardize)
}
"""Step classes by their `kind` tag, as recipes and model files name them."""


def _raw(x: ArrayLike) -> np.ndarray:
    values = np.asarray(x)
    if values.ndim == 0:
        raise ValueError("preprocessing needs an array with a sample axis; found a scalar")
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise ValueError(f"preprocessing needs numeric inputs; found dtype {values.dtype}")
    return values


def fit_preprocess(
    specs: Iterable[PreprocessStep], x_train: ArrayLike
) -> tuple[PreprocessStep, ...]:
    """Fill the data-dependent parts of the steps from the training inputs.

    Each step is fitted on the training inputs as transformed by the steps before it, so
    `(Scale(), Standardize())` fits the statistics on scaled values. Fitted steps are kept.

    Args:
        specs: the steps, e.g. from a recipe: `(Scale(0.01, 1.0), Flatten())`.
        x_train: `(n, ...)` raw training inputs, e.g. uint8 `(n, 28, 28)` images.

    Returns:
        The steps with `Standardize` statistics (float32) and `Flatten.input_shape` filled.

    Raises:
        ValueError: empty or non-numeric inputs, or inputs that do not fit a fitted step.

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.steps import Standardize, fit_preprocess
        >>> fit_preprocess([Standardize()], np.array([[1.0], [3.0]]))[0].mean
        array([2.], dtype=float32)
    """
    x = _raw(x_train)
    fitted = []
    for spec in specs:
        step = spec.fit(x)
        fitted.append(step)
        x = step.apply(x, np.dtype(np.float32))
    return tuple(fitted)


def apply_preprocess(
    steps: Iterable[PreprocessStep], x: ArrayLike, *, dtype: DTypeLike = np.float32
) -> np.ndarray:
    """Turn raw inputs into model input by running the fitted steps in order.

    Args:
        steps: fitted steps, e.g. `model.preprocess`.
        x: `(n, ...)` raw inputs: uint8 `(n, 28, 28)` images, `(n, 2)` floats, ...
        dtype: float dtype of the result.

    Returns:
        `(n, features)` array of `dtype` (float32 by default).

    Raises:
        ValueError: non-numeric inputs, inputs of a shape a step does not expect, an unfitted
            `Standardize`, or a result that is not one row per sample (add a `Flatten` step).

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.steps import Flatten, Scale, apply_preprocess
        >>> apply_preprocess((Scale(), Flatten()), np.full((1, 2, 2), 255, np.uint8))
        array([[1., 1., 1., 1.]], dtype=float32)
    """
    out = np.dtype(dtype)
    values = _raw(x)
    for step in steps:
        values = step.apply(values, out)
    if values.ndim != 2:
        raise ValueError(
            f"preprocessing gives shape {values.shape}; the model needs (n, features): "
            f"add a flatten step"
        )
    return values.astype(out, copy=False)


def check_inputs(steps: Iterable[PreprocessStep], x: ArrayLike) -> None:
    """Check raw inputs before `apply_preprocess` gives them to a trained model.

    `apply_preprocess` and `transforms.scale` are plain maps (they run on training batches
    too); this is the check for inputs that come from a user (see
    `purenet.modelfile.evaluation.model_inputs`), which would otherwise be mapped silently wrong:

    - every value must be finite (NaN or Inf would only come out as NaN scores);
    - a `Scale` step that sees the raw values (only `Flatten` steps before it) takes values
      in `[0, max_value]`, and, when `max_value > 1`, not fractions all inside `[0, 1]`:
      such inputs were scaled already (pixels divided by 255), and scaling them again would
      give the model near-black images.

    Args:
        steps: the model's fitted steps.
        x: `(n, ...)` raw inputs.

    Raises:
        ValueError: a non-finite value (the message names the first bad row, `row 3`, and
            how many rows are bad), or values outside a `Scale` step's range (the message
            gives the range found and the range expected, and asks "already scaled?").

    Example:
        >>> import numpy as np
        >>> check_inputs((Scale(),), np.array([[0.0, np.nan]]))
        Traceback (most recent call last):
        ...
        ValueError: row 0 holds NaN or Inf (1 such rows); inputs must be finite numbers
    """
    values = _raw(x)
    if values.dtype.kind == "f" and values.size:
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        if bad.any():
            raise ValueError(
                f"row {int(np.flatnonzero(bad)[0])} holds NaN or Inf ({int(bad.sum())} such "
                f"rows); inputs must be finite numbers"
            )
    for step in steps:
        step.check_raw(values)
        if not step.keeps_values:
            # Later steps see transformed values, not what the user gave.
            break


def output_shape(
    steps: Sequence[PreprocessStep], input_shape: tuple[int, ...] | None = None
) -> tuple[int, ...] | None:
    """The per-sample shape the steps produce, as far as the steps themselves determine it.

    Args:
        steps: fitted steps.
        input_shape: the raw per-sample shape, if known.

    Returns:
        The per-sample output shape, e.g. `(784,)`, or None when neither the steps (a fitted
        `Flatten.input_shape` or per-feature `Standardize` statistics) nor `input_shape` fix it.

    Raises:
        ValueError: two steps expect different shapes; the message names the step index.
    """
    shape = input_shape
    for i, step in enumerate(steps):
        expected = step.expected_shape()
        if expected is not None:
            if shape is not None and shape != expected:
                raise ValueError(
                    f"[{i}]: {step.kind} expects samples of shape {list(expected)}, "
                    f"the steps before give {list(shape)}"
                )
            shape = expected
        if shape is not None:
            shape = step.output_shape(shape)
    return shape


def flatten_shape(steps: Iterable[PreprocessStep]) -> tuple[int, ...] | None:
    """The per-sample shape the first fitted `Flatten` takes, e.g. `(28, 28)`; None if none.

    Example:
        >>> flatten_shape((Scale(), Flatten((28, 28))))
        (28, 28)
    """
    return next((s.input_shape for s in steps if isinstance(s, Flatten) and s.input_shape), None)
