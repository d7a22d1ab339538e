"""The machinery both estimators share: parameters and their validation table, the training
loop with scikit-learn's stopping rule, inference, and conversion to and from purenet models.

The meaning of each parameter is written once, in `purenet.sklearn.estimators`.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any, Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, InvalidParameterError, Options, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from purenet import optim
from purenet.data.dataset import Dataset
from purenet.errors import DivergenceError
from purenet.modelfile.model import Model, ModelMeta, n_classes
from purenet.nn.activations import ACTIVATIONS
from purenet.nn.init import INIT_SPECS, InitScheme
from purenet.nn.model import INIT_SCHEMES, Architecture, Params, forward, init
from purenet.optim.schedules import learning_rate
from purenet.sklearn.names import (
    ACTIVATION_NAMES,
    OUTPUT_NAMES,
    purenet_activation,
    sklearn_activation,
)
from purenet.training.loop import train

Array = np.ndarray
Validation = tuple[Array, Array, Array | None]
"""Early stopping's held-out part: inputs (n, features), targets as given, weights (n,) or None."""

_LBFGS = (
    "solver='lbfgs' is not supported: purenet trains with mini-batch optimizers; use "
    "solver='adam' or solver='sgd' (or scikit-learn's own MLPClassifier/MLPRegressor for L-BFGS)"
)


class BaseMLP(BaseEstimator):
    """What both estimators share: parameters, validation, the training loop, conversion."""

    # Set by fit (scikit-learn's convention: fitted attributes end with an underscore).
    arch_: Architecture
    params_: Params
    n_features_in_: int
    n_iter_: int
    t_: int
    loss_: float | None
    loss_curve_: list[float]
    best_loss_: float | None
    validation_scores_: list[float] | None
    best_validation_score_: float | None
    _opt_state: Any
    _epochs: int
    _no_improvement_count: int
    _best_params: Params

    _parameter_constraints: dict[str, list[Any]] = {  # noqa: RUF012 (scikit-learn's name)
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({*ACTIVATION_NAMES, *ACTIVATIONS}), tuple],
        "solver": [StrOptions({"sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "schedule": [None, *optim.SCHEDULES.values()],
        "init": [None, StrOptions(set(INIT_SCHEMES)), *INIT_SPECS.values()],
        "dropout": [Interval(Real, 0, 1, closed="left"), tuple],
        "dtype": [StrOptions({"float32", "float64"})],
    }

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str | tuple[str, ...] = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        random_state: Any = None,
        tol: float = 1e-4,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        schedule: optim.Schedule | None = None,
        init: str | InitScheme | None = None,
        dropout: float | tuple[float, ...] = 0.0,
        dtype: str = "float32",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.tol = tol
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.schedule = schedule
        self.init = init
        self.dropout = dropout
        self.dtype = dtype

    # -- what subclasses define ---------------------------------------------------------------

    def _targets(self, y: Array, *, first: bool, classes: Any) -> tuple[Array, int]:
        """Training targets for purenet (labels or (n, k) floats) and the output width k."""
        raise NotImplementedError

    def _output(self, k: int) -> tuple[str, str]:
        """The (output activation, loss) of a network with k output units."""
        raise NotImplementedError

    def _score_outputs(self, outputs: Array, y: Array, weights: Array | None) -> float:
        """The validation score (higher is better) of network outputs against targets, each
        sample weighted by `weights` (n,) (None: all 1)."""
        raise NotImplementedError

    # -- fitting ------------------------------------------------------------------------------

    def _fit(
        self,
        x: Any,
        y: Any,
        *,
        incremental: bool,
        classes: Any = None,
        sample_weight: Any = None,
    ) -> Self:
        if self.solver == "lbfgs":
            raise InvalidParameterError(_LBFGS)
        self._validate_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not incremental or not hasattr(self, "params_")
        x, y = validate_data(
            self,
            x,
            y,
            multi_output=True,
            dtype=np.dtype(self.dtype),
            reset=first,
            y_numeric=isinstance(self, RegressorMixin),
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if sample_weight is not None:
            # scikit-learn's checks: length, 1-D, finite, not all 0; purenet's loop needs >= 0.
            sample_weight = _check_sample_weight(sample_weight, x, ensure_non_negative=True)
        targets, k = self._targets(y, first=first, classes=classes)
        rng = _generator(self.random_state)
        if first:
            self._initialize(x.shape[1], k, rng)
        elif self.arch_.sizes[-1] != k:
            raise ValueError(
                f"y gives {k} outputs; the network was fitted with {self.arch_.sizes[-1]}"
            )
        train_set, weights, valid = self._split(x, targets, y, sample_weight, rng)
        batch = self._batch(len(train_set))
        self._run(train_set, weights, batch, valid, rng, incremental=incremental)
        return self

    def _batch(self, n: int) -> int:
        """scikit-learn's batch size for `n` training samples: `auto` is `min(200, n)`; a
        larger number is clipped to `n`, with scikit-learn's warning."""
        if self.batch_size == "auto":
            return min(200, n)
        size = int(self.batch_size)
        if size > n:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped",
                UserWarning,
                stacklevel=4,
            )
        return min(size, n)

    def _run(
        self,
        data: Dataset,
        weights: Array | None,
        batch: int,
        valid: Validation | None,
        rng: np.random.Generator,
        *,
        incremental: bool,
    ) -> None:
        """The iterations of one fit (or one for partial_fit), with scikit-learn's stopping.

        Without validation data or a schedule, one `train` call runs as many iterations as
        cannot trigger the stopping rule (the no-improvement count must pass
        `n_iter_no_change`), and the rule is then applied to each iteration's loss in order;
        otherwise `train` runs one iteration at a time.

        `weights` (n,) weigh `data`'s samples (None: all 1). scikit-learn divides `alpha` by a
        batch's weight sum; purenet's `l2` is one number, so it is `alpha` over a batch's
        expected weight sum, `batch * mean(weights)`: the same for a full batch.
        """
        mass = batch if weights is None else batch * float(weights.mean())
        state = self._opt_state if incremental else None
        self.n_iter_ = 0
        limit = 1 if incremental else self.max_iter
        while self.n_iter_ < limit:
            chunk = 1
            if valid is None and self.schedule is None:
                quiet = self.n_iter_no_change + 1 - self._no_improvement_count
                chunk = int(min(limit - self.n_iter_, max(quiet, 1)))
            spec = self._optimizer()
            state = optim.init(spec, self.params_) if state is None else state
            try:
                result = train(
                    self.arch_,
                    self.params_,
                    spec,
                    data,
                    epochs=chunk,
                    batch_size=batch,
                    seed=int(rng.integers(2**63)),
                    l2=self.alpha / mass,
                    sample_weight=weights,
                    opt_state=state,
                )
            except DivergenceError as error:
                raise DivergenceError(
                    f"training diverged in iteration {self.n_iter_ + error.epoch}, batch "
                    f"{error.batch} (learning rate {error.learning_rate:g}); lower "
                    "learning_rate_init or scale the inputs (e.g. with StandardScaler)",
                    epoch=self.n_iter_ + error.epoch,
                    batch=error.batch,
                    learning_rate=error.learning_rate,
                ) from None
            self.params_, state = result.params, result.opt_state
            self._opt_state = state
            for report in result.history:
                self.n_iter_ += 1
                self.t_ += len(data)
                self._epochs += 1
                # scikit-learn's loss includes the penalty; purenet reports it apart.
                self.loss_ = report.train_loss + report.l2_penalty
                self.loss_curve_.append(self.loss_)
                self._count_no_improvement(valid)
            if self._no_improvement_count > self.n_iter_no_change or incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                    "optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=4,
                )
        if valid is not None:
            self.params_ = self._best_params

    def _initialize(self, n_features: int, k: int, rng: np.random.Generator) -> None:
        hidden = np.atleast_1d(np.asarray(self.hidden_layer_sizes)).tolist()
        if not all(isinstance(size, int) and size >= 1 for size in hidden):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {self.hidden_layer_sizes}")
        output, loss = self._output(k)
        self.arch_ = Architecture(
            (n_features, *hidden, k),
            hidden=purenet_activation(self.activation),
            dropout=self.dropout,
            output=output,
            loss=loss,
        )
        self.params_ = init(
            self.arch_,
            seed=int(rng.integers(2**63)),
            scheme=self.init or "glorot",
            dtype=self.dtype,
        )
        self._opt_state = None
        self.n_iter_ = 0
        self.t_ = 0
        self._epochs = 0
        self.loss_ = None
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _split(
        self,
        x: Array,
        targets: Array,
        y: Array,
        weights: Array | None,
        rng: np.random.Generator,
    ) -> tuple[Dataset, Array | None, Validation | None]:
        """The training set and its weights, and early stopping's held-out part (or None).

        With `early_stopping`, a `validation_fraction` of the rows is held out (stratified for
        single-output classifiers), each row keeping its weight.

        Raises:
            ValueError: a validation set under 2 rows, or either part's weights all 0.
        """
        if not self.early_stopping:
            return Dataset(x, targets), weights, None
        stratify = targets if isinstance(self, ClassifierMixin) and targets.ndim == 1 else None
        train, held = train_test_split(
            np.arange(len(x)),
            random_state=int(rng.integers(2**32)),
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        if len(held) < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of "
                "your dataset."
            )
        if weights is None:
            return Dataset(x[train], targets[train]), None, (x[held], y[held], None)
        for part, rows in (("training", train), ("validation", held)):
            if not weights[rows].any():
                raise ValueError(
                    f"The sample weights for the {part} set are all zero, consider using a "
                    "different random_state or validation_fraction."
                )
        return (
            Dataset(x[train], targets[train]),
            weights[train],
            (x[held], y[held], weights[held]),
        )

    def _optimizer(self) -> optim.Optimizer:
        rate = (
            self.learning_rate_init
            if self.schedule is None
            else learning_rate(self.schedule, self._epochs)
        )
        if self.solver == "sgd":
            return optim.SGD(
                rate,
                momentum=self.momentum,
                nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
            )
        return optim.Adam(rate, b1=self.beta_1, b2=self.beta_2, eps=self.epsilon)

    def _count_no_improvement(self, valid: Validation | None) -> None:
        """scikit-learn's rule: count iterations that did not beat the best by `tol` (the
        validation score, weighted as the held-out rows are, or else the training loss)."""
        if valid is not None:
            assert self.validation_scores_ is not None and self.best_validation_score_ is not None
            x_val, y_val, w_val = valid
            score = self._score_outputs(forward(self.arch_, self.params_, x_val), y_val, w_val)
            self.validation_scores_.append(score)
            worse = score < self.best_validation_score_ + self.tol
            self._no_improvement_count = self._no_improvement_count + 1 if worse else 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.params_
        else:
            assert self.best_loss_ is not None and self.loss_ is not None
            worse = self.loss_ > self.best_loss_ - self.tol
            self._no_improvement_count = self._no_improvement_count + 1 if worse else 0
            self.best_loss_ = min(self.best_loss_, self.loss_)

    # -- using the network --------------------------------------------------------------------

    def _forward(self, x: Any) -> Array:
        """The network's outputs, (n, k), for validated inputs."""
        check_is_fitted(self)
        x = validate_data(self, x, reset=False, dtype=self.params_[0].w.dtype)
        outputs: Array = forward(self.arch_, self.params_, x)
        return outputs

    @property
    def coefs_(self) -> list[Array]:
        """The weight matrices, as scikit-learn names them: `(fan_in, fan_out)` each."""
        return [layer.w for layer in self.params_]

    @property
    def intercepts_(self) -> list[Array]:
        """The bias vectors, as scikit-learn names them: `(fan_out,)` each."""
        return [layer.b for layer in self.params_]

    @property
    def n_layers_(self) -> int:
        """The number of layers, input and output included (scikit-learn's count)."""
        return len(self.arch_.sizes)

    @property
    def n_outputs_(self) -> int:
        """The number of output units."""
        return self.arch_.sizes[-1]

    @property
    def out_activation_(self) -> str:
        """The output activation in scikit-learn's words: softmax, logistic or identity."""
        return OUTPUT_NAMES[self.arch_.output]

    def _labels(self) -> tuple[str, ...]:
        return tuple(str(i) for i in range(n_classes(self.arch_)))

    def to_model(self) -> Model:
        """The fitted network as a purenet `Model` (no preprocessing; `save_model` writes it).

        Returns:
            A `Model` with this estimator's architecture and parameters, its classes as labels
            (a classifier) and, when known, the last training loss in `meta.metrics`.

        Raises:
            NotFittedError: the estimator is not fitted.
        """
        check_is_fitted(self)
        metrics = {} if not self.loss_curve_ else {"train_loss": float(self.loss_curve_[-1])}
        if self.validation_scores_:
            metrics["best_validation_score"] = float(max(self.validation_scores_))
        labels = self._labels()
        return Model(self.arch_, self.params_, labels=labels, meta=ModelMeta(metrics=metrics))  # type: ignore[arg-type]

    def _adopt(self, model: Model) -> None:
        """Take a purenet model's network as this estimator's fitted state."""
        if model.preprocess:
            kinds = ", ".join(type(step).__name__ for step in model.preprocess)
            raise ValueError(
                f"the model has preprocessing steps ({kinds}); an estimator takes model input: "
                "use purenet.sklearn.to_sklearn(model), which puts them in a Pipeline"
            )
        self.arch_ = model.arch
        self.params_ = model.params
        self.n_features_in_ = model.arch.sizes[0]
        self._opt_state = None
        self.n_iter_ = self.t_ = self._epochs = self._no_improvement_count = 0
        self.loss_ = None
        self.loss_curve_ = []
        self.validation_scores_ = self.best_validation_score_ = None
        self.best_loss_ = np.inf

    @classmethod
    def _for_model(cls, model: Model) -> Self:
        names = tuple(sklearn_activation(name) or name for name in model.arch.activations)
        activation = names if len(set(names)) > 1 else names[0] if names else "relu"
        return cls(
            hidden_layer_sizes=model.arch.sizes[1:-1],
            activation=activation,
            dropout=model.arch.dropout,
            dtype=model.params[0].w.dtype.name,
        )


def _generator(random_state: Any) -> np.random.Generator:
    """A generator for one fit: seeded by an int, drawn from a RandomState/Generator, or fresh
    from the OS when None (the global numpy RNG is never used)."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    if isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state.integers(2**63))
    return np.random.default_rng(random_state)
