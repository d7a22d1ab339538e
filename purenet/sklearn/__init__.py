"""scikit-learn estimators over purenet (the `sklearn` extra: `pip install 'purenet[sklearn]'`).

- `MLPClassifier`, `MLPRegressor`: scikit-learn's MLP interface (`fit`, `partial_fit`,
  `predict`, `predict_proba`, `score`, `get_params`...), trained by `purenet.train`;
  `to_model()` gives a purenet `Model`, `from_model(model)` wraps one.
- `from_sklearn(estimator)`: a fitted scikit-learn `MLPClassifier`/`MLPRegressor` as a `Model`.
- `to_sklearn(model)`: a `Model` as a fitted scikit-learn estimator (or `Pipeline`).

Importing this package without scikit-learn raises `MissingExtraError` naming the extra.
"""

from purenet.errors import require_extra

require_extra("sklearn", "sklearn")

from purenet.sklearn.convert import from_sklearn, to_sklearn  # noqa: E402
from purenet.sklearn.estimators import MLPClassifier, MLPRegressor  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "from_sklearn", "to_sklearn"]
