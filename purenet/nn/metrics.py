"""What `score` reports: a `Scores` record, and the regression metrics it is built from.

Classifiers are scored by accuracy; regression models (identity output) by RMSE, MAE and R^2,
never an accuracy. With several outputs each metric is computed per output and averaged
uniformly, as scikit-learn's `multioutput="uniform_average"` does (so RMSE is the mean of the
per-output RMSEs, and an output whose targets are constant scores R^2 = 1 when predicted
exactly, else 0, as scikit-learn's `r2_score` does by default).
"""

from __future__ import annotations

import attrs
import numpy as np

Array = np.ndarray


@attrs.frozen
class Scores:
    """A model's scores on a data set.

    Attributes:
        loss: the mean loss (plus the L2 penalty when one was asked for).
        accuracy: the fraction of rows predicted right (classifiers), else None.
        rmse: root mean squared error (regression), else None.
        mae: mean absolute error (regression), else None.
        r2: the coefficient of determination R^2 (regression), else None.
    """

    loss: float
    accuracy: float | None = None
    rmse: float | None = None
    mae: float | None = None
    r2: float | None = None

    def as_dict(self) -> dict[str, float]:
        """The scores that apply, by name: `{"loss", "accuracy"}` or `{"loss", "rmse", ...}`."""
        values = attrs.asdict(self)
        return {name: value for name, value in values.items() if value is not None}


def regression_scores(
    squared: Array, absolute: Array, targets: Array
) -> tuple[float, float, float]:
    """RMSE, MAE and R^2 from per-output error sums, averaged uniformly over outputs.

    Args:
        squared: (k,) float64 sums over rows of the squared errors of each output.
        absolute: (k,) float64 sums over rows of the absolute errors.
        targets: (n, k) float64 true values (for R^2's total sum of squares).

    Returns:
        (rmse, mae, r2) as Python floats.
    """
    n = targets.shape[0]
    total = np.square(targets - targets.mean(axis=0)).sum(axis=0)
    exact = squared == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1 - squared / total, np.where(exact, 1.0, 0.0))
    return (
        float(np.sqrt(squared / n).mean()),
        float((absolute / n).mean()),
        float(r2.mean()),
    )
