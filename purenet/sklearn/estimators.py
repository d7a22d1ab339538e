"""scikit-learn estimators over purenet's core: `MLPClassifier` and `MLPRegressor`.

Both follow scikit-learn's `MLPClassifier` / `MLPRegressor` wherever a name is shared, and train
with `purenet.train` (one call per iteration, that is per epoch), so their weights are purenet
`Params` and `to_model()` gives a purenet `Model` (one exact JSON file with `save_model`).

How the shared names map onto purenet (scikit-learn >= 1.6):

- the network: `hidden_layer_sizes` and `activation` (`identity`, `logistic`, `tanh`, `relu`, or
  any other name of `purenet.ACTIVATIONS`); a multiclass classifier ends in softmax with the
  categorical log-loss, a binary or multilabel one in logistic units with the binary log-loss, a
  regressor in identity units with the squared error.
- `alpha`: scikit-learn adds `alpha / (2 * m) * sum ||W||^2` to the mean loss of a batch of `m`
  samples; purenet's `l2` adds `l2 / 2 * sum ||W||^2`, so `l2 = alpha / batch_size`. Exact for
  every full batch; the one shorter batch at the end of an epoch (when `batch_size` does not
  divide the training set) gets `alpha / batch_size`, where scikit-learn uses `alpha / m`
  (with sample weights, see `sample_weight` below).
- `solver`: `sgd` is `optim.SGD(learning_rate_init, momentum, nesterov=nesterovs_momentum)`, the
  same updates as scikit-learn's for a constant rate; `adam` is `optim.Adam(learning_rate_init,
  beta_1, beta_2, epsilon)`, whose `epsilon` is added to the bias-corrected root (scikit-learn
  adds it before the correction: the two differ only where `sqrt(v)` is near `epsilon`).
  `lbfgs` is refused: purenet trains with mini-batch optimizers.
- `batch_size="auto"` is `min(200, n)`; a larger integer is clipped to `n` (with a warning).
- stopping: `tol` and `n_iter_no_change` as scikit-learn, on the training loss, or with
  `early_stopping` on the validation score (accuracy or R^2) of a `validation_fraction` split
  (stratified for single-output classifiers); early stopping keeps the best iteration's weights.
  Reaching `max_iter` without stopping warns with scikit-learn's `ConvergenceWarning`.
- `loss_curve_` holds purenet's epoch `train_loss`: the mean batch loss with its penalty. For
  a regressor with k > 1 outputs it is the squared error summed over the outputs (scikit-learn
  reports the mean over outputs, with the same gradients).
- `sample_weight` (in `fit` and `partial_fit`): (n,) weights >= 0, or one number for every
  sample, not all 0 (checked by scikit-learn's `_check_sample_weight`; never modified; negative
  weights are refused, which scikit-learn's MLP lets through). As in scikit-learn, each batch's
  loss is the weighted mean of its samples' losses; `alpha` is divided by the batch's expected
  weight sum, `batch_size * mean(sample_weight)`, where scikit-learn divides by its actual sum:
  the same for a full batch (`batch_size >= n`), where integer weights train exactly as
  repeated rows and a zero weight as a dropped row (with mini-batches the two see different
  batches, so they agree only in expectation, in scikit-learn too). So, as in
  scikit-learn, scaling all weights by c is like repeating the data c times: no change with
  `alpha=0`, a penalty weighing 1/c as much otherwise. `loss_curve_` is the weighted mean over
  the epoch's samples (scikit-learn weighs each batch's mean by its size; the same for a full
  batch). With `early_stopping`, the held-out rows keep their weights and the validation score
  is weighted (`accuracy_score` / `r2_score` with `sample_weight`, as scikit-learn's);
  all-zero weights in either part raise ValueError.
- not accepted: sparse inputs, `learning_rate`/`power_t` (pass a purenet `schedule` instead),
  `warm_start`, `shuffle`, `verbose` (the library never prints).

purenet's own parameters: `schedule` (a schedule spec of `purenet.optim`, read at the iteration
count; replaces `learning_rate_init`), `init` (a weight scheme name or spec; default Glorot
uniform, `U(+-sqrt(6 / (fan_in + fan_out)))`, scikit-learn's draw for every activation but
`logistic`, where it narrows the range to `sqrt(2 / ...)`; biases start at zero, where
scikit-learn draws them from the same range), `dropout` (a rate for every hidden layer, or
one per hidden layer; inverted dropout in training, none in `predict`) and `dtype` (`float32`
default, or `float64`); `activation` may also be a tuple of names, one per hidden layer.

Example:
    >>> from sklearn.datasets import load_iris
    >>> from purenet.sklearn import MLPClassifier
    >>> x, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=300, random_state=0)
    >>> clf.fit(x, y).score(x, y) > 0.9
    True
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from purenet.modelfile.model import Model
from purenet.sklearn.base import Array, BaseMLP


class MLPClassifier(ClassifierMixin, BaseMLP):
    """A multilayer perceptron classifier with scikit-learn's interface, trained by purenet.

    Multiclass targets train a softmax output with the categorical log-loss; binary targets one
    logistic unit; multilabel indicator targets one logistic unit per label (see the module
    docstring for every parameter's meaning).

    Attributes:
        classes_: (n_classes,) the class labels, sorted (or a model's labels, in unit order).
        n_features_in_, feature_names_in_: what `fit` saw.
        loss_, loss_curve_, best_loss_, validation_scores_, best_validation_score_, n_iter_,
        t_: as scikit-learn's (`n_iter_` counts the iterations of the last call).
        arch_, params_: the purenet `Architecture` and `Params`; `coefs_` and `intercepts_`
            show the same arrays as lists.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Train a new network on `X` (n, features) and labels `y` (n,) or indicators (n, k).

        Args:
            X: (n, features) inputs.
            y: (n,) labels or (n, k) 0/1 indicators.
            sample_weight: (n,) weights >= 0, not all 0, or one number for every sample;
                None weighs each sample 1 (see the module docstring).

        Returns:
            self, fitted.

        Raises:
            ValueError: invalid data, weights or parameters (scikit-learn's messages).
            DivergenceError: the loss or a gradient became non-finite.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> Self:
        """One iteration over `(X, y)`, continuing the weights and optimizer state.

        Args:
            X: (n, features) inputs.
            y: (n,) labels, all in `classes`.
            sample_weight: (n,) weights >= 0 as in `fit`, or None.
            classes: every class label; required on the first call. The order of these two is
                scikit-learn's `MLPClassifier.partial_fit` (>= 1.7): pass `classes` by name.

        Returns:
            self.
        """
        if (
            not hasattr(self, "classes_")
            and classes is None
            and type_of_target(y) != ("multilabel-indicator")
        ):
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and hasattr(self, "classes_"):
            if not np.array_equal(np.sort(np.asarray(classes)), np.sort(self.classes_)):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to partial_fit, was: "
                    f"{self.classes_!r}"
                )
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def _targets(self, y: Array, *, first: bool, classes: Any) -> tuple[Array, int]:
        check_classification_targets(y)
        if y.ndim == 2:
            if first:
                self.classes_ = unique_labels(y)
                self._multilabel = True
            return y.astype(self.dtype), y.shape[1]
        if first:
            found = unique_labels(y if classes is None else np.asarray(classes))
            if len(found) < 2:
                raise ValueError(
                    f"the training data has one class ({found[0]!r}); a classifier needs at "
                    "least 2 classes"
                )
            self.classes_ = found
            self._multilabel = False
        order = np.argsort(self.classes_)
        sorted_classes = self.classes_[order]
        position = np.searchsorted(sorted_classes, y).clip(0, len(order) - 1)
        unknown = sorted_classes[position] != y
        if unknown.any():
            raise ValueError(
                f"Expected only labels in classes_ = {self.classes_}, got {np.unique(y[unknown])}"
            )
        labels = order[position]
        return labels, 1 if len(self.classes_) == 2 else len(self.classes_)

    def _output(self, k: int) -> tuple[str, str]:
        return ("sigmoid" if self._multilabel or k == 1 else "softmax"), "cross_entropy"

    def _decode(self, outputs: Array) -> Array:
        if self._multilabel:
            return (outputs > 0.5).astype(np.int64)
        if outputs.shape[1] == 1:
            return self.classes_[(outputs[:, 0] > 0.5).astype(np.intp)]
        return self.classes_[outputs.argmax(axis=1)]

    def _score_outputs(self, outputs: Array, y: Array, weights: Array | None) -> float:
        return float(accuracy_score(y, self._decode(outputs), sample_weight=weights))

    def predict(self, X: Any) -> Array:
        """The predicted classes, (n,) (or (n, k) 0/1 indicators for multilabel targets)."""
        return self._decode(self._forward(X))

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, (n, n_classes) in the order of `classes_`."""
        outputs = self._forward(X)
        if outputs.shape[1] == 1 and not self._multilabel:
            return np.hstack([1 - outputs, outputs])
        return outputs

    def predict_log_proba(self, X: Any) -> Array:
        """The logarithm of `predict_proba` (-inf where a probability is 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _labels(self) -> tuple[str, ...]:
        return tuple(str(label) for label in self.classes_)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    @classmethod
    def from_model(cls, model: Model, *, classes: Any = None) -> Self:
        """Wrap a purenet classification model as a fitted `MLPClassifier`.

        Args:
            model: a `Model` with a softmax or sigmoid output and no preprocessing steps.
            classes: the class labels in output-unit order (default: `model.labels`).

        Returns:
            A fitted estimator whose `predict` is `model.labels[argmax]` of the outputs (a
            single unit: its output above 0.5), mapped to `classes`.

        Raises:
            ValueError: an identity output (a regression model), preprocessing steps, or
                `classes` of the wrong length.
        """
        if model.arch.output == "identity":
            raise ValueError("the model has an identity output: use MLPRegressor.from_model")
        estimator = cls._for_model(model)
        estimator._adopt(model)
        labels = np.asarray(model.labels if classes is None else classes)
        if labels.shape != (len(model.labels),):
            raise ValueError(f"classes: {len(labels)} labels; the model has {len(model.labels)}")
        estimator.classes_ = labels
        estimator._multilabel = False
        return estimator


class MLPRegressor(RegressorMixin, BaseMLP):
    """A multilayer perceptron regressor with scikit-learn's interface, trained by purenet.

    Identity outputs with the squared error (one unit per target column); see the module
    docstring for every parameter. Attributes as `MLPClassifier`'s, without `classes_`.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Train a new network on `X` (n, features) and targets `y` (n,) or (n, k).

        Args:
            X: (n, features) inputs.
            y: (n,) or (n, k) targets.
            sample_weight: (n,) weights >= 0, not all 0, or one number for every sample;
                None weighs each sample 1 (see the module docstring).

        Returns:
            self, fitted.

        Raises:
            ValueError: invalid data, weights or parameters (scikit-learn's messages).
            DivergenceError: the loss or a gradient became non-finite.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """One iteration over `(X, y)` (weighted by `sample_weight` as in `fit`), continuing
        the weights and optimizer state."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _targets(self, y: Array, *, first: bool, classes: Any) -> tuple[Array, int]:
        targets = y.reshape(len(y), -1).astype(self.dtype, copy=False)
        return targets, targets.shape[1]

    def _output(self, k: int) -> tuple[str, str]:
        return "identity", "mse"

    def _score_outputs(self, outputs: Array, y: Array, weights: Array | None) -> float:
        return float(r2_score(y, outputs.reshape(y.shape), sample_weight=weights))

    def predict(self, X: Any) -> Array:
        """The predicted values: (n,) for one output unit, else (n, k)."""
        outputs = self._forward(X)
        return outputs[:, 0] if outputs.shape[1] == 1 else outputs

    @classmethod
    def from_model(cls, model: Model) -> Self:
        """Wrap a purenet model with an identity output as a fitted `MLPRegressor`.

        Raises:
            ValueError: another output activation, or preprocessing steps.
        """
        if model.arch.output != "identity":
            raise ValueError(
                f"the model has a {model.arch.output} output: use MLPClassifier.from_model"
            )
        estimator = cls._for_model(model)
        estimator._adopt(model)
        return estimator
