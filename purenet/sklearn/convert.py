"""Fitted networks both ways: scikit-learn's `MLPClassifier`/`MLPRegressor` <-> a purenet `Model`.

Both directions copy the weights as they are (float32 or float64), so a model and its
conversion compute the same products on the same numbers: the same labels, and probabilities
equal to rounding (the two libraries write softmax and the logistic function differently).

Example:
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPRegressor
    >>> x = np.linspace(-1, 1, 40)[:, None]
    >>> sk = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2000, random_state=0)
    >>> sk = sk.fit(x, x[:, 0] ** 2)
    >>> model = from_sklearn(sk)
    >>> model.arch.sizes, model.arch.output
    ((1, 8, 1), 'identity')
    >>> bool(np.array_equal(to_sklearn(model).predict(x), sk.predict(x)))
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, LabelBinarizer
from sklearn.utils.validation import check_is_fitted

from purenet.modelfile.model import Model, ModelMeta
from purenet.nn.model import Architecture, Dense
from purenet.pipeline.steps import PreprocessStep, apply_preprocess
from purenet.sklearn.names import ACTIVATION_NAMES, OUTPUT_NAMES, sklearn_activation

_FROM_OUTPUT = {name: key for key, name in OUTPUT_NAMES.items()}


def from_sklearn(estimator: Any) -> Model:
    """A purenet `Model` of a fitted scikit-learn `MLPClassifier` or `MLPRegressor`.

    Args:
        estimator: a fitted `sklearn.neural_network.MLPClassifier` (softmax or logistic
            output) or `MLPRegressor` (identity output), or one of purenet's own estimators.

    Returns:
        A `Model` with the estimator's weights (copies, same dtype), its hidden activation,
        output and loss (cross-entropy for a classifier, squared error for a regressor), its
        classes as labels (`str` of each), no preprocessing, and its last training loss in
        `meta.metrics` when it has one.

    Raises:
        TypeError: not an MLP estimator.
        ValueError: unfitted, or an activation or output purenet does not have (`exp`, from
            `loss="poisson"`).
    """
    from purenet.sklearn.base import BaseMLP

    if isinstance(estimator, BaseMLP):
        return estimator.to_model()
    if not isinstance(estimator, SkClassifier | SkRegressor):
        raise TypeError(
            f"expected a fitted sklearn.neural_network MLPClassifier or MLPRegressor, found "
            f"{type(estimator).__name__}"
        )
    check_is_fitted(estimator)
    output = _FROM_OUTPUT.get(estimator.out_activation_)
    if output is None:
        raise ValueError(
            f"the estimator's output activation {estimator.out_activation_!r} has no purenet "
            f"equivalent; supported: {', '.join(sorted(_FROM_OUTPUT))}"
        )
    hidden = ACTIVATION_NAMES[estimator.activation]
    coefs, intercepts = estimator.coefs_, estimator.intercepts_
    arch = Architecture(
        (coefs[0].shape[0], *(w.shape[1] for w in coefs)),
        hidden=hidden,
        output=output,
        loss="mse" if output == "identity" else "cross_entropy",
    )
    params = tuple(Dense(w.copy(), b.copy()) for w, b in zip(coefs, intercepts, strict=True))
    loss = getattr(estimator, "loss_", None)
    meta = ModelMeta(metrics={} if loss is None else {"train_loss": float(loss)})
    if isinstance(estimator, SkRegressor):
        return Model(arch, params, meta=meta)  # type: ignore[arg-type]
    labels = tuple(str(c) for c in estimator.classes_)
    return Model(arch, params, labels=labels, meta=meta)  # type: ignore[arg-type]


def to_sklearn(model: Model, *, classes: Any = None) -> Any:
    """A fitted scikit-learn estimator computing what a purenet `Model` computes.

    An identity output becomes an `MLPRegressor`; softmax or sigmoid an `MLPClassifier` whose
    `predict` gives the label of the largest output (of a single unit: above 0.5), as
    `purenet.predict`. scikit-learn keeps its classes sorted, so the output units are put in
    that order (a single unit whose labels sort the other way is negated, which gives the
    other label for an output of exactly 0.5).
    A model with preprocessing steps becomes a `Pipeline` of a `FunctionTransformer` running
    them (`purenet.apply_preprocess`, to the model's dtype) and the estimator. Layers without a
    bias get zero intercepts; dropout plays no part in predictions.

    Args:
        model: the purenet model.
        classes: class labels in output-unit order, e.g. `range(10)` (default: `model.labels`,
            strings).

    Returns:
        A fitted `sklearn.neural_network.MLPClassifier` / `MLPRegressor`, or a `Pipeline`.

    Raises:
        ValueError: a hidden activation scikit-learn does not have (it has identity, logistic,
            tanh and relu), different activations per hidden layer, a sigmoid output of two
            units (scikit-learn would read only the second), or `classes` of the wrong length.
    """
    arch = model.arch
    if len(set(arch.activations)) > 1:
        raise ValueError(
            f"scikit-learn uses one activation for every hidden layer; the model has "
            f"{', '.join(arch.activations)}"
        )
    name = arch.activations[0] if arch.activations else "relu"
    activation = sklearn_activation(name)
    if activation is None:
        raise ValueError(
            f"scikit-learn has no {name!r} activation; it has {', '.join(ACTIVATION_NAMES)}"
        )
    coefs = [np.array(layer.w) for layer in model.params]
    # a layer without bias adds zeros: the same sums
    intercepts = [
        np.array(layer.b) if layer.b.size else np.zeros(layer.w.shape[1], layer.w.dtype)
        for layer in model.params
    ]
    hidden = arch.sizes[1:-1]
    estimator: Any
    if arch.output == "identity":
        estimator = SkRegressor(hidden_layer_sizes=hidden, activation=activation)
    else:
        if arch.output == "sigmoid" and arch.sizes[-1] == 2:
            raise ValueError(
                "a sigmoid output of 2 units has no scikit-learn equivalent: its binary "
                "classifier thresholds the second unit, purenet takes the larger"
            )
        labels = np.asarray(model.labels if classes is None else list(classes))
        if labels.shape != (len(model.labels),):
            raise ValueError(f"classes: {len(labels)} labels; the model has {len(model.labels)}")
        estimator = SkClassifier(hidden_layer_sizes=hidden, activation=activation)
        binarizer = LabelBinarizer().fit(labels)
        order = np.argsort(labels, kind="stable")
        if arch.sizes[-1] == 1:
            if order[0] == 1:  # the unit is P(labels[1]); scikit-learn's is P(sorted[1])
                coefs[-1], intercepts[-1] = -coefs[-1], -intercepts[-1]
        else:
            coefs[-1], intercepts[-1] = coefs[-1][:, order], intercepts[-1][order]
        estimator._label_binarizer = binarizer
        estimator.classes_ = binarizer.classes_
    estimator.coefs_, estimator.intercepts_ = coefs, intercepts
    estimator.n_layers_ = len(arch.sizes)
    estimator.n_outputs_ = arch.sizes[-1]
    estimator.out_activation_ = OUTPUT_NAMES[arch.output]
    estimator.n_features_in_ = arch.sizes[0]
    estimator.n_iter_, estimator.t_ = 0, 0
    estimator.loss_curve_, estimator.best_loss_ = [], None
    if not model.preprocess:
        return estimator
    transformer = FunctionTransformer(
        _preprocess, kw_args={"steps": model.preprocess, "dtype": coefs[0].dtype.name}
    )
    return Pipeline([("preprocess", transformer), ("mlp", estimator)])


def _preprocess(x: Any, *, steps: tuple[PreprocessStep, ...], dtype: str) -> np.ndarray:
    """`apply_preprocess` with the inputs first, as `FunctionTransformer` calls it."""
    return apply_preprocess(steps, x, dtype=dtype)
