"""purenet.sklearn: scikit-learn's own estimator checks, its semantics (checked against
scikit-learn's MLP as the oracle), the ecosystem (Pipeline, GridSearchCV, cross_val_score) and
conversions both ways with identical predictions."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the sklearn extra is not installed")

from sklearn import neural_network as sk
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import purenet as pn
from purenet import optim
from purenet.pipeline.steps import Flatten, Scale
from purenet.sklearn import MLPClassifier, MLPRegressor, from_sklearn, to_sklearn

# Small, quick settings for scikit-learn's checks (they need > 0.83 training accuracy from a
# classifier and R^2 > 0.5 from a regressor, which these reach within max_iter=100).
QUICK = {"hidden_layer_sizes": (16,), "learning_rate_init": 0.01, "max_iter": 100}


# Settings for one check, as scikit-learn gives its own MLPs (PER_ESTIMATOR_CHECK_PARAMS in
# sklearn/utils/_test_common/instance_generator.py: solver="lbfgs" for MLPClassifier,
# solver="sgd" with tol=1e-2 for MLPRegressor). The check fits 15 rows weighted by integers 0-4
# and the same rows repeated, and wants the same probabilities to rtol 1e-7: in float32 the
# weighted and the repeated sums round differently (4e-5 apart after 100 iterations), in
# float64 they agree. Both fits are full-batch (batch "auto" is min(200, n)); with mini-batches
# the equivalence cannot hold (different batches), for scikit-learn's MLP neither.
CHECK_PARAMS = {"check_sample_weight_equivalence_on_dense_data": {"dtype": "float64"}}


# Why some checks may not run (all are about this environment, none is marked xfail):
# pytest reports them as skipped with scikit-learn's own reason: pandas is not installed
# (check_*_data_not_an_array and check_sample_weights_pandas_series), SCIPY_ARRAY_API is not
# set (check_array_api_input), and the classifiers have no decision_function (like
# scikit-learn's). ConvergenceWarning is ignored: the checks fit with max_iter=100 and some stop
# there by design.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([MLPClassifier(**QUICK), MLPRegressor(**QUICK)])
def test_scikit_learn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    params = CHECK_PARAMS.get(check.func.__name__, {})
    check(clone(estimator).set_params(**params) if params else estimator)


def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(x), y


def fit_quietly(estimator, x, y, **fit_params):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(x, y, **fit_params)


# --- the same step as scikit-learn, from the same weights (scikit-learn is the oracle) --------


def one_full_batch_epoch(ours, theirs, x, y, steps=2):  # type: ignore[no-untyped-def]
    """Run `steps` full-batch partial_fit calls on both, from the same weights."""
    for _ in range(steps):
        theirs.partial_fit(x, y)
        ours.partial_fit(x, y)
    return ours, theirs


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_classifier_steps_match_scikit_learn_alpha_momentum_and_loss(solver, nesterov) -> None:  # type: ignore[no-untyped-def]
    x, y = iris()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    # Adam's epsilon sits before the bias correction in scikit-learn and after it in purenet
    # (module docstring); a negligible epsilon makes the two updates the same numbers.
    settings = {
        "epsilon": 1e-30,
        "solver": solver,
        "alpha": 0.5,
        "learning_rate_init": 0.05,
        "momentum": 0.9,
        "nesterovs_momentum": nesterov,
        "batch_size": len(x),
    }
    start = MLPClassifier((7,), activation="tanh", dtype="float64", random_state=0, max_iter=1)
    with pytest.warns(ConvergenceWarning):
        start.fit(x, labels)
    ours = MLPClassifier.from_model(start.to_model()).set_params(**settings)
    theirs = to_sklearn(start.to_model()).set_params(**settings, shuffle=False)
    theirs._no_improvement_count, theirs.best_loss_ = 0, np.inf
    one_full_batch_epoch(ours, theirs, x, labels, steps=3)
    # alpha / (2 n) * ||W||^2 in scikit-learn is l2 = alpha / n in purenet: same weights.
    for a, b in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))


def test_binary_and_regression_steps_match_scikit_learn() -> None:
    x, y = iris()
    binary = np.where(y == 2, "yes", "no")
    settings = {"solver": "sgd", "alpha": 0.1, "learning_rate_init": 0.1, "batch_size": 150}
    start = MLPClassifier((5,), dtype="float64", random_state=1, max_iter=1)
    with pytest.warns(ConvergenceWarning):
        start.fit(x, binary)
    assert start.arch_.sizes[-1] == 1 and start.out_activation_ == "logistic"
    ours = MLPClassifier.from_model(start.to_model()).set_params(**settings)
    theirs = to_sklearn(start.to_model()).set_params(**settings, shuffle=False)
    theirs._no_improvement_count, theirs.best_loss_ = 0, np.inf
    one_full_batch_epoch(ours, theirs, x, binary)
    np.testing.assert_allclose(ours.coefs_[0], theirs.coefs_[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-12)

    targets = x[:, :1] * 2 + x[:, 1:2] ** 2
    start = MLPRegressor((6,), dtype="float64", random_state=2, max_iter=1)
    with pytest.warns(ConvergenceWarning):
        start.fit(x[:, 2:], targets[:, 0])
    ours = MLPRegressor.from_model(start.to_model()).set_params(**settings)
    theirs = to_sklearn(start.to_model()).set_params(**settings, shuffle=False)
    theirs._no_improvement_count, theirs.best_loss_ = 0, np.inf
    one_full_batch_epoch(ours, theirs, x[:, 2:], targets[:, 0])
    np.testing.assert_allclose(ours.coefs_[1], theirs.coefs_[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-12)


def test_stopping_rule_counts_like_scikit_learn() -> None:
    x, y = iris()
    # A tolerance nothing can beat: both stop after n_iter_no_change + 1 iterations.
    settings = {"tol": 1e3, "n_iter_no_change": 4, "random_state": 0, "max_iter": 50}
    ours = MLPClassifier((8,), **settings).fit(x, y)
    theirs = sk.MLPClassifier((8,), **settings).fit(x, y)
    # The first iteration improves on best_loss_ = inf; the next five do not beat it by tol.
    assert ours.n_iter_ == theirs.n_iter_ == 6
    assert len(ours.loss_curve_) == 6 and ours.best_loss_ == min(ours.loss_curve_)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\)"):
        MLPClassifier((8,), max_iter=3, random_state=0).fit(x, y)


def test_early_stopping_keeps_the_best_iteration() -> None:
    x, y = iris()
    settings = {"early_stopping": True, "validation_fraction": 0.2, "random_state": 3}
    clf = MLPClassifier((4,), learning_rate_init=0.003, n_iter_no_change=3, **settings)
    clf.fit(x, y)
    scores = clf.validation_scores_
    assert clf.best_loss_ is None and len(scores) == clf.n_iter_ == len(clf.loss_curve_)
    best = int(np.argmax(scores)) + 1
    assert best < clf.n_iter_, "the run should go past its best iteration"
    # The same run stopped at the best iteration ends with the weights early stopping kept.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        short = MLPClassifier(
            (4,), learning_rate_init=0.003, n_iter_no_change=1000, max_iter=best, **settings
        ).fit(x, y)
    assert pn.tree_equal(clf.params_, short.params_)


def test_schedule_is_read_at_the_iteration_count() -> None:
    x, y = iris()
    common = {"solver": "sgd", "random_state": 0, "batch_size": 32, "momentum": 0.5}
    decay = optim.StepDecay(initial=0.1, every=1, factor=0.5)
    scheduled = MLPClassifier((6,), schedule=decay, **common)
    by_hand = MLPClassifier((6,), learning_rate_init=0.1, **common)
    scheduled.partial_fit(x, y, classes=[0, 1, 2]).partial_fit(x, y)
    by_hand.partial_fit(x, y, classes=[0, 1, 2]).set_params(learning_rate_init=0.05)
    by_hand.partial_fit(x, y)
    assert pn.tree_equal(scheduled.params_, by_hand.params_)


def test_refusals_and_partial_fit_rules() -> None:
    x, y = iris()
    with pytest.raises(ValueError, match="solver='lbfgs' is not supported"):
        MLPClassifier(solver="lbfgs").fit(x, y)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(x, y)
    clf = MLPClassifier((4,), random_state=0).partial_fit(x[y < 2], y[y < 2], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.t_ == 100 and clf.arch_.sizes == (4, 4, 3)
    clf.partial_fit(x, y)
    assert clf.t_ == 250 and len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match="Expected only labels in classes_"):
        clf.partial_fit(x, y + 1)
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(x, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(x, y, classes=[0, 1, 2])


# --- sample weights (oracles: repeated or dropped rows, scikit-learn's steps) -----------------

# Full-batch gradient descent (batch "auto" = min(200, n) covers both the weighted rows and
# the repeated ones; the loop does not shuffle a full batch), float64, a fixed iteration count.
FULL_BATCH = {
    "dtype": "float64",
    "alpha": 0.3,
    "learning_rate_init": 0.02,
    "max_iter": 15,
    "n_iter_no_change": 1000,
    "random_state": 4,
}


def weighted_data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """60 iris rows: labels for "classifier", a smooth function of the inputs for "regressor"."""
    x, y = iris()
    rows = np.random.default_rng(0).permutation(150)[:60]
    x = x[rows]
    return (x, y[rows]) if kind == "classifier" else (x[:, 1:], np.tanh(x[:, 0] + x[:, 3]))


def estimator(kind: str, **params):  # type: ignore[no-untyped-def]
    cls = MLPClassifier if kind == "classifier" else MLPRegressor
    return cls((7,), activation="tanh", **{**FULL_BATCH, **params})


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("weights", ["integers", "zeros_and_ones"])
def test_integer_weights_are_repeated_rows_and_zero_weights_dropped_rows(
    kind: str, solver: str, weights: str
) -> None:
    x, y = weighted_data(kind)
    rng = np.random.default_rng(1)
    w = rng.integers(0, 4, 60) if weights == "integers" else (rng.random(60) < 0.7).astype(int)
    assert 0 in w and w.sum() <= 200  # dropped rows, and one full batch on both sides
    weighted = fit_quietly(estimator(kind, solver=solver), x, y, sample_weight=w)
    # Repeating row i w[i] times (0: dropped): the same batch, its mean and alpha / n.
    repeated = fit_quietly(estimator(kind, solver=solver), np.repeat(x, w, 0), np.repeat(y, w))
    assert pn.tree_allclose(weighted.params_, repeated.params_, rtol=1e-10, atol=1e-12)
    # the stopping rule's loss: the weighted mean loss with its penalty, the repeated rows' loss
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-12)
    assert weighted.t_ == 15 * 60 and repeated.t_ == 15 * w.sum()  # t_ counts rows seen


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_scaled_weights_change_nothing_without_alpha_and_divide_alpha_with_it(kind: str) -> None:
    x, y = weighted_data(kind)
    w = np.random.default_rng(2).random(60) * (np.arange(60) % 5 > 0)
    plain = fit_quietly(estimator(kind, alpha=0.0), x, y, sample_weight=w)
    scaled = fit_quietly(estimator(kind, alpha=0.0), x, y, sample_weight=w * 7.5)
    assert pn.tree_allclose(plain.params_, scaled.params_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(plain.loss_curve_, scaled.loss_curve_, rtol=1e-12)
    # scikit-learn's penalty is alpha / sum(w) (scaling w by c repeats the data c times), so
    # weights times c with alpha are weights with alpha / c.
    scaled = fit_quietly(estimator(kind, alpha=0.6), x, y, sample_weight=w * 4)
    alpha_over_c = fit_quietly(estimator(kind, alpha=0.15), x, y, sample_weight=w)
    assert pn.tree_allclose(scaled.params_, alpha_over_c.params_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_weighted_steps_match_scikit_learn(kind: str, solver: str) -> None:
    x, y = weighted_data(kind)
    w = np.random.default_rng(3).random(60) * 3 * (np.arange(60) % 4 > 0)
    start = estimator(kind, max_iter=1)
    with pytest.warns(ConvergenceWarning):
        start.fit(x, y)
    if kind == "classifier":
        y = y.astype(str)  # the model's labels, as both estimators' classes
    settings = {"solver": solver, "alpha": 0.5, "learning_rate_init": 0.05, "epsilon": 1e-30}
    model = start.to_model()
    ours = (MLPClassifier if kind == "classifier" else MLPRegressor).from_model(model)
    ours.set_params(**settings)
    theirs = to_sklearn(model).set_params(**settings, shuffle=False)
    theirs._no_improvement_count, theirs.best_loss_ = 0, np.inf
    for _ in range(3):
        theirs.partial_fit(x, y, sample_weight=w)
        ours.partial_fit(x, y, sample_weight=w)
    for a, b in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_[-3:], rtol=1e-12)


def test_early_stopping_scores_the_held_out_rows_with_their_weights() -> None:
    x, y = iris()
    # virginica weighs 0: trained on setosa and versicolor only, the network never predicts it,
    # so an accuracy of 1 is only reached by leaving the held-out virginica rows out of the
    # score (unweighted, they would cap it at 2/3).
    w = (y < 2).astype(float)
    clf = MLPClassifier(
        (8,), learning_rate_init=0.01, early_stopping=True, validation_fraction=0.3, random_state=0
    )
    clf.fit(x, y, sample_weight=w)
    assert (clf.predict(x) != 2).all() and clf.best_validation_score_ == 1.0
    # The stratified split holds out 15 rows of each class: 30 weigh 1, so every score is k/30.
    scores = np.array(clf.validation_scores_) * 30
    np.testing.assert_allclose(scores, np.round(scores), atol=1e-9)
    one = np.zeros(150)
    one[0] = 1.0
    with pytest.raises(ValueError, match=r"sample weights for the (training|validation) set"):
        MLPClassifier(early_stopping=True, random_state=0).fit(x, y, sample_weight=one)


def test_sample_weight_forms_checks_and_no_modification() -> None:
    x, y = weighted_data("classifier")
    w = np.random.default_rng(5).random(60)
    kept = w.copy()
    by_array = fit_quietly(estimator("classifier", max_iter=3), x, y, sample_weight=w)
    by_list = fit_quietly(estimator("classifier", max_iter=3), x, y, sample_weight=list(w))
    assert pn.tree_equal(by_array.params_, by_list.params_)
    scalar = fit_quietly(estimator("classifier", max_iter=3), x, y, sample_weight=2.5)
    filled = fit_quietly(estimator("classifier", max_iter=3), x, y, sample_weight=np.full(60, 2.5))
    assert pn.tree_equal(scalar.params_, filled.params_)
    clf = MLPClassifier((4,), early_stopping=True, max_iter=3, random_state=0)
    fit_quietly(clf, x, y, sample_weight=w)
    MLPRegressor((4,), random_state=0).partial_fit(x, y, sample_weight=w)
    np.testing.assert_array_equal(w, kept)  # never modified
    for bad, message in [
        (np.ones(59), r"sample_weight.shape == \(59,\), expected \(60,\)"),
        (np.ones((60, 1)), "Sample weights must be 1D array or scalar"),
        (np.where(np.arange(60) == 3, -1.0, 1.0), "Negative values in data passed to `sample"),
        (np.zeros(60), "Sample weights must contain at least one non-zero number"),
        (np.where(np.arange(60) == 3, np.nan, 1.0), "Input sample_weight contains NaN"),
    ]:
        with pytest.raises(ValueError, match=message):
            MLPClassifier().fit(x, y, sample_weight=bad)
        with pytest.raises(ValueError, match=message):
            MLPClassifier().partial_fit(x, y, classes=[0, 1, 2], sample_weight=bad)


def test_string_labels_multilabel_and_float64() -> None:
    x, y = iris()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier(
        (8,), max_iter=300, learning_rate_init=0.01, random_state=0, dtype="float64"
    )
    fit_quietly(clf, x, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.predict(x).dtype == names.dtype and clf.score(x, names) > 0.9
    assert clf.params_[0].w.dtype == np.float64
    proba = clf.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(x)), proba)
    indicators = np.stack([y == 0, y == 2], axis=1).astype(int)
    multi = MLPClassifier((8,), max_iter=300, learning_rate_init=0.01, random_state=0)
    fit_quietly(multi, x, indicators)
    assert multi.out_activation_ == "logistic" and multi.predict(x).shape == (150, 2)
    assert multi.score(x, indicators) > 0.9


# --- the ecosystem ----------------------------------------------------------------------------


def test_pipeline_grid_search_and_cross_val_score() -> None:
    x, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), learning_rate_init=0.01))
    pipe.set_params(mlpclassifier__random_state=0, mlpclassifier__max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, x, y, cv=3)
        # two worker processes: the estimator travels to them and back (pickled by joblib)
        search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 100.0]}, cv=2, n_jobs=2)
        search.fit(x, y)
    assert scores.shape == (3,) and scores.mean() > 0.85
    assert list(search.cv_results_["param_mlpclassifier__alpha"]) == [1e-4, 100.0]
    # a huge L2 penalty must cost accuracy: the search sees the parameter
    assert search.best_params_ == {"mlpclassifier__alpha": 1e-4} and search.best_score_ > 0.85
    assert isinstance(search.best_estimator_[-1], MLPClassifier)


def test_regressor_in_a_pipeline() -> None:
    x, y = make_regression(n_samples=200, n_features=5, n_targets=2, noise=1.0, random_state=0)
    reg = make_pipeline(
        StandardScaler(), MLPRegressor((32,), learning_rate_init=0.01, max_iter=400, random_state=0)
    )
    fit_quietly(reg, x, y / 100)
    assert reg.predict(x).shape == (200, 2) and reg.score(x, y / 100) > 0.9


# --- conversions both ways --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
def test_from_sklearn_classifier_gives_identical_predictions(kind) -> None:  # type: ignore[no-untyped-def]
    x, y = iris()
    targets = {
        "multiclass": np.array(["c", "a", "b"])[y],
        "binary": np.where(y == 1, "yes", "no"),
        "multilabel": np.stack([y == 0, y == 2], axis=1).astype(int),
    }[kind]
    theirs = fit_quietly(
        sk.MLPClassifier((6, 5), activation="tanh", random_state=0, max_iter=50), x, targets
    )
    model = from_sklearn(theirs)
    assert model.params[0].w.dtype == np.float64 and pn.from_sklearn(theirs).arch == model.arch
    outputs = pn.forward(model.arch, model.params, x)
    proba = theirs.predict_proba(x)
    np.testing.assert_allclose(
        outputs if kind != "binary" else outputs[:, 0],
        proba if kind != "binary" else proba[:, 1],
        rtol=1e-13,
        atol=1e-15,
    )
    if kind == "multilabel":
        return
    ours = MLPClassifier.from_model(model)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))
    back = to_sklearn(model)
    np.testing.assert_array_equal(back.predict(x), theirs.predict(x))


def test_from_sklearn_regressor_gives_identical_predictions() -> None:
    x, y = make_regression(n_samples=80, n_features=4, n_targets=3, random_state=0)
    theirs = fit_quietly(
        sk.MLPRegressor(
            hidden_layer_sizes=(9,), activation="logistic", max_iter=30, random_state=0
        ),
        x,
        y,
    )
    model = from_sklearn(theirs)
    assert (model.arch.hidden, model.arch.output, model.arch.loss) == ("sigmoid", "identity", "mse")
    np.testing.assert_array_equal(pn.forward(model.arch, model.params, x), theirs.predict(x))
    np.testing.assert_array_equal(MLPRegressor.from_model(model).predict(x), theirs.predict(x))


def test_purenet_models_become_fitted_sklearn_estimators() -> None:
    x, _ = iris()
    arch = pn.Architecture((4, 6, 3), hidden="relu")
    params = pn.init(arch, seed=5, dtype="float64")
    # labels not in sorted order: scikit-learn's sorted classes_ must still name the same units
    model = pn.Model(arch, params, labels=("dog", "ant", "cat"))
    theirs = to_sklearn(model)
    expected = np.array(model.labels)[pn.forward(arch, params, x).argmax(axis=1)]
    np.testing.assert_array_equal(theirs.predict(x), expected)
    assert list(theirs.classes_) == ["ant", "cat", "dog"]
    # (tanh: no output of exactly 0.5, where the negated unit would pick the other label)
    single = pn.Architecture((4, 3, 1), hidden="tanh", output="sigmoid")
    binary = pn.Model(single, pn.init(single, seed=1, dtype="float64"), labels=("yes", "no"))
    p_no = pn.forward(binary.arch, binary.params, x)[:, 0]
    np.testing.assert_array_equal(to_sklearn(binary).predict(x), np.where(p_no > 0.5, "no", "yes"))
    np.testing.assert_allclose(to_sklearn(binary).predict_proba(x)[:, 0], p_no, rtol=1e-12)
    np.testing.assert_array_equal(
        to_sklearn(model, classes=[7, 3, 5]).predict(x),
        np.array([7, 3, 5])[pn.forward(arch, params, x).argmax(axis=1)],
    )


def test_a_model_with_preprocessing_becomes_a_pipeline() -> None:
    arch = pn.Architecture((4, 5, 2))
    model = pn.Model(arch, pn.init(arch, seed=0), preprocess=(Scale(), Flatten((2, 2))))
    images = np.random.default_rng(0).integers(0, 256, size=(10, 2, 2), dtype=np.uint8)
    pipeline = to_sklearn(model)
    model_input = pn.apply_preprocess(model.preprocess, images)
    labels = pn.forward(arch, model.params, model_input).argmax(axis=1).astype(str)
    np.testing.assert_array_equal(pipeline.predict(images), labels)
    with pytest.raises(ValueError, match="preprocessing steps"):
        MLPClassifier.from_model(model)


def test_conversions_refuse_what_has_no_equivalent() -> None:
    arch = pn.Architecture((2, 3, 2), hidden="elu")
    with pytest.raises(ValueError, match="scikit-learn has no 'elu' activation"):
        to_sklearn(pn.Model(arch, pn.init(arch, seed=0)))
    with pytest.raises(TypeError, match=r"expected a fitted sklearn\.neural_network"):
        from_sklearn(StandardScaler())
    with pytest.raises(ValueError, match=r"use MLPRegressor\.from_model"):
        MLPClassifier.from_model(
            pn.Model(
                pn.Architecture((2, 1), output="identity", loss="mse"),
                pn.init(pn.Architecture((2, 1), output="identity", loss="mse"), seed=0),
            )
        )


def test_the_core_imports_without_scikit_learn() -> None:
    code = (
        "import sys\n"
        "sys.modules['sklearn'] = None\n"
        "import purenet as pn\n"
        "try:\n"
        "    pn.from_sklearn(object())\n"
        "except pn.MissingExtraError as error:\n"
        "    assert \"pip install 'purenet[sklearn]'\" in str(error), error\n"
        "else:\n"
        "    raise SystemExit('no MissingExtraError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_bench_sklearn_renders_rows_and_refuses_an_unknown_job() -> None:
    # The measurement itself is long by design (`purenet bench-sklearn`, README); here only
    # what surrounds it.
    from rich.console import Console
    from typer.testing import CliRunner

    from purenet.cli.app import app
    from purenet.cli.sklearn_bench import BenchRow, render_sklearn_bench

    rows = [
        BenchRow("digits", "purenet", 0.5, (0.5,), 0.97, 150.0, 3.0),
        BenchRow("digits", "scikit-learn", 1.5, (1.5,), 0.96, 140.0, 3.0),
    ]
    console = Console(width=120, record=True)
    console.print(render_sklearn_bench(rows))
    text = console.export_text()
    assert "3.00x" in text and "0.9700" in text and "scikit-learn" in text
    bad = CliRunner().invoke(app, ["bench-sklearn", "--job", "cifar"])
    assert bad.exit_code == 1 and "unknown job 'cifar'" in bad.stderr


def test_feature_names_of_a_data_frame() -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    x, y = iris()
    frame = pd.DataFrame(x, columns=["sl", "sw", "pl", "pw"])
    clf = fit_quietly(MLPClassifier((4,), max_iter=5, random_state=0), frame, y)
    assert list(clf.feature_names_in_) == ["sl", "sw", "pl", "pw"] and clf.n_features_in_ == 4
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_array_equal(clf.predict(frame), clf.predict(x))
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(frame[["sw", "sl", "pl", "pw"]])


def test_per_layer_activations_bias_flags_and_dropout() -> None:
    x, y = iris()
    clf = MLPClassifier((6, 5), activation=("tanh", "logistic"), dropout=0.2, random_state=0)
    fit_quietly(clf.set_params(max_iter=20), x, y)
    assert clf.arch_.activations == ("tanh", "sigmoid") and clf.arch_.dropout == 0.2
    back = MLPClassifier.from_model(clf.to_model(), classes=clf.classes_)
    assert back.get_params()["activation"] == ("tanh", "logistic")
    np.testing.assert_array_equal(back.predict(x), clf.predict(x))
    with pytest.raises(ValueError, match="one activation for every hidden layer"):
        to_sklearn(clf.to_model())
    # A layer without bias becomes zero intercepts: the same sums, the same labels.
    arch = pn.Architecture((4, 6, 3), hidden="tanh", bias=(False, True))
    model = pn.Model(arch, pn.init(arch, seed=0, dtype="float64"))
    theirs = to_sklearn(model)
    assert theirs.intercepts_[0].shape == (6,) and not theirs.intercepts_[0].any()
    outputs = pn.forward(arch, model.params, x)
    np.testing.assert_allclose(theirs.predict_proba(x), outputs, rtol=1e-13)


@pytest.mark.parametrize("name", ["fit", "partial_fit"])
def test_fit_methods_take_scikit_learns_arguments_in_its_order(name: str) -> None:
    import inspect

    from sklearn import neural_network

    for ours, theirs in ((MLPClassifier, neural_network.MLPClassifier),
                         (MLPRegressor, neural_network.MLPRegressor)):  # fmt: skip
        mine = list(inspect.signature(getattr(ours, name)).parameters)
        assert mine == list(inspect.signature(getattr(theirs, name)).parameters), ours
