"""Training options against oracles: sample and class weights, gradient clipping, dropout in
the loop, reduce-on-plateau, keep-best, a test set, regression reports and the L2 penalty
reported apart from the data loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, r2_score

import purenet.nn.model as m
from purenet import optim
from purenet.core.tree import tree_allclose, tree_equal, tree_leaves, tree_map
from purenet.data.dataset import Dataset
from purenet.nn.dropout import dropout_masks
from purenet.plots.curves import plot_curves
from purenet.training.checkpoint import Checkpoint
from purenet.training.loop import DROPOUT_STREAM, train
from purenet.training.reports import EarlyStopping, EpochReport, KeepBest
from purenet.training.rules import (
    Plateau,
    ReduceOnPlateau,
    class_sample_weights,
    clip_by_global_norm,
    next_plateau,
)

ARCH = m.Architecture((3, 6, 3), hidden="tanh")


def blobs(n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[y]
    return Dataset(x, y)


DATA = blobs(60, 0)
VALID = blobs(40, 1)


def params64(arch: m.Architecture = ARCH, seed: int = 1) -> m.Params:
    return m.init(arch, seed=seed, dtype="float64")


def without_seconds(history: tuple[EpochReport, ...]) -> list[dict[str, Any]]:
    return [attrs.asdict(r, filter=lambda a, _: a.name != "seconds") for r in history]


def central_differences(f: Any, params: m.Params, eps: float = 1e-6) -> m.Params:
    leaves = [leaf.copy() for leaf in tree_leaves(params)]
    grads = []
    for leaf in leaves:
        g = np.zeros_like(leaf)
        for j in np.ndindex(leaf.shape):
            old = leaf[j]
            leaf[j] = old + eps
            up = f(_rebuild(leaves))
            leaf[j] = old - eps
            down = f(_rebuild(leaves))
            leaf[j] = old
            g[j] = (up - down) / (2 * eps)
        grads.append(g)
    return _rebuild(grads)


def _rebuild(leaves: list[np.ndarray]) -> m.Params:
    return tuple(m.Dense(leaves[i].copy(), leaves[i + 1].copy()) for i in range(0, len(leaves), 2))


# --- sample weights in the loss functions ---------------------------------------------------

LOSS_CASES = [
    m.Architecture((3, 5, 3), hidden="tanh"),
    m.Architecture((3, 5, 1), hidden="relu", output="sigmoid"),
    m.Architecture((3, 5, 3), hidden="sigmoid", output="softmax", loss="mse"),
    m.Architecture((3, 5, 2), hidden="tanh", output="identity", loss="mse"),
    m.Architecture((3, 5, 2), hidden="tanh", output="identity", loss="huber", huber_delta=0.3),
    m.Architecture((3, 5, 1), hidden="tanh", output="identity", loss="mae"),
]


def targets_for(arch: m.Architecture, n: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    if arch.is_regression:
        return rng.normal(size=(n, arch.sizes[-1])) if arch.sizes[-1] > 1 else rng.normal(size=n)
    return rng.integers(0, max(arch.sizes[-1], 2), n)


@pytest.mark.parametrize("arch", LOSS_CASES, ids=lambda a: f"{a.output}-{a.loss}")
def test_weighted_loss_gradient_matches_central_differences(arch: m.Architecture) -> None:
    x = np.random.default_rng(2).normal(size=(7, 3))
    y = targets_for(arch, 7)
    w = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.25, 1.5])
    params = params64(arch)

    def f(p: m.Params) -> float:
        return m.loss(arch, p, x, y, l2=0.1, sample_weight=w)

    value, grads = m.value_and_grad(arch, params, x, y, l2=0.1, sample_weight=w)
    assert value == pytest.approx(f(params), rel=1e-12)
    assert tree_allclose(grads, central_differences(f, params), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("arch", LOSS_CASES, ids=lambda a: f"{a.output}-{a.loss}")
def test_integer_weights_equal_duplicated_samples(arch: m.Architecture) -> None:
    x = np.random.default_rng(3).normal(size=(5, 3))
    y = targets_for(arch, 5)
    counts = np.array([1, 3, 0, 2, 1])
    params = params64(arch)
    weighted = m.value_and_grad(arch, params, x, y, sample_weight=counts)
    repeated = m.value_and_grad(arch, params, np.repeat(x, counts, 0), np.repeat(y, counts, 0))
    assert weighted[0] == pytest.approx(repeated[0], rel=1e-12)
    assert tree_allclose(weighted[1], repeated[1], rtol=1e-10, atol=1e-14)


def test_weighted_mean_by_formula_and_equal_weights() -> None:
    arch = m.Architecture((3, 1), output="identity", loss="mse")
    params = (m.Dense(np.zeros((3, 1)), np.zeros(1)),)
    x, y = np.zeros((3, 3)), np.array([1.0, 2.0, 3.0])
    # per-sample 1/2 r^2: 0.5, 2, 4.5; weights 1, 0, 3 -> (0.5 + 13.5) / 4
    assert m.loss(arch, params, x, y, sample_weight=np.array([1, 0, 3])) == 3.5
    plain = m.value_and_grad(arch, params, x, y)
    ones = m.value_and_grad(arch, params, x, y, sample_weight=np.ones(3))
    assert ones[0] == pytest.approx(plain[0], rel=1e-15)
    assert tree_allclose(ones[1], plain[1], rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        (np.ones(4), r"\(3,\) numbers"),
        (np.array([1.0, -1.0, 1.0]), ">= 0"),
        (np.array([1.0, np.nan, 1.0]), "finite"),
        (np.zeros(3), "sums to 0"),
    ],
)
def test_bad_sample_weights_are_refused(weight: np.ndarray, message: str) -> None:
    x, y = np.zeros((3, 3)), np.array([0, 1, 2])
    with pytest.raises(ValueError, match=message):
        m.loss(ARCH, params64(), x, y, sample_weight=weight)


# --- weights through train --------------------------------------------------------------------


def test_train_with_integer_weights_equals_training_on_duplicates() -> None:
    counts = np.random.default_rng(4).integers(0, 4, len(DATA))
    counts[0] = 1
    settings: dict[str, Any] = {"epochs": 3, "batch_size": 10_000, "seed": 0}
    spec = optim.SGD(0.3, momentum=0.9)
    weighted = train(ARCH, params64(), spec, DATA, sample_weight=counts, **settings)
    copies = Dataset(np.repeat(DATA.x, counts, 0), np.repeat(DATA.y, counts, 0))
    repeated = train(ARCH, params64(), spec, copies, **settings)
    assert tree_allclose(weighted.params, repeated.params, rtol=1e-10, atol=1e-12)
    for a, b in zip(weighted.history, repeated.history, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-10)


def test_class_weights_are_sample_weights_by_class() -> None:
    table = {0: 2.0, 2: 0.5}
    weights = class_sample_weights(DATA.y, table, 3)
    assert weights.tolist() == [{0: 2.0, 1: 1.0, 2: 0.5}[label] for label in DATA.y.tolist()]
    settings: dict[str, Any] = {"epochs": 2, "batch_size": 16, "seed": 2, "valid": 0.25}
    by_class = train(ARCH, params64(), optim.Adam(0.01), DATA, class_weights=table, **settings)
    by_sample = train(ARCH, params64(), optim.Adam(0.01), DATA, sample_weight=weights, **settings)
    assert tree_equal(by_class.params, by_sample.params)
    one_hot = class_sample_weights(np.eye(3)[DATA.y], table, 3)
    assert one_hot.tolist() == weights.tolist()


def test_class_weights_refused_where_they_make_no_sense() -> None:
    with pytest.raises(ValueError, match="class 3 outside"):
        class_sample_weights(DATA.y, {3: 1.0}, 3)
    regression = m.Architecture((3, 4, 1), output="identity", loss="mse")
    with pytest.raises(ValueError, match="class_weights need a classifier"):
        train(regression, params64(regression), optim.SGD(0.1), Dataset(DATA.x, DATA.x[:, 0]),
              epochs=1, batch_size=8, seed=0, class_weights={0: 2.0})  # fmt: skip


# --- clipping ---------------------------------------------------------------------------------


def test_clip_by_global_norm_by_hand() -> None:
    grads = (m.Dense(np.array([[1.0, 2.0]]), np.array([2.0])),)  # norm 3
    same, norm = clip_by_global_norm(grads, 5.0)
    assert norm == 3.0 and same is grads
    clipped, _ = clip_by_global_norm(grads, 1.5)
    assert clipped[0].w.tolist() == [[0.5, 1.0]] and clipped[0].b.tolist() == [1.0]
    with pytest.raises(ValueError, match="clip_norm must be a finite number > 0"):
        clip_by_global_norm(grads, 0.0)


@pytest.mark.parametrize("clip", [0.05, 100.0])
def test_clipped_sgd_update_has_the_clipped_norm(clip: float) -> None:
    lr, start = 0.5, params64()
    result = train(ARCH, start, optim.SGD(lr), DATA, epochs=1, batch_size=10_000, seed=0,
                   l2=0.01, clip_norm=clip)  # fmt: skip
    grads = m.grad(ARCH, start, DATA.x, DATA.y, l2=0.01)
    norm = np.sqrt(sum(float((g**2).sum()) for g in tree_leaves(grads)))
    update = tree_map(lambda a, b: a - b, result.params, start)
    update_norm = np.sqrt(sum(float((u**2).sum()) for u in tree_leaves(update)))
    assert update_norm == pytest.approx(lr * min(norm, clip), rel=1e-9)
    # The direction is the gradient's.
    expected = tree_map(lambda g: -lr * g * min(1.0, clip / norm), grads)
    assert tree_allclose(update, expected, rtol=1e-9, atol=1e-15)


# --- dropout in the loop ----------------------------------------------------------------------


def test_train_drops_units_with_the_batch_seed() -> None:
    arch = m.Architecture((3, 6, 3), hidden="tanh", dropout=0.5, input_dropout=0.2)
    start = params64(arch)
    result = train(arch, start, optim.SGD(0.5), DATA, epochs=1, batch_size=10_000, seed=7)
    masks = dropout_masks(arch, len(DATA), seed=(7, 1, 0, DROPOUT_STREAM), dtype="float64")
    grads = m.grad(arch, start, DATA.x, DATA.y, dropout=masks)
    assert tree_allclose(result.params, optim.sgd_step(start, grads, 0.5), rtol=1e-12, atol=0)
    again = train(arch, start, optim.SGD(0.5), DATA, epochs=1, batch_size=10_000, seed=7)
    assert tree_equal(result.params, again.params)
    undropped = m.Architecture((3, 6, 3), hidden="tanh")
    plain = train(undropped, start, optim.SGD(0.5), DATA, epochs=1, batch_size=10_000, seed=7)
    assert not tree_allclose(result.params, plain.params)


# --- reduce on plateau ------------------------------------------------------------------------


def test_plateau_rule_on_a_scripted_metric() -> None:
    spec = ReduceOnPlateau(monitor="valid_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    metric = [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99]
    state, rates = Plateau(), []
    for value in metric:
        rate = 0.1 * state.scale
        rates.append(rate)
        state = next_plateau(spec, state, value, rate)
    # Best 0.9 at epoch 2; epochs 3, 4 wait: reduce after 4 (0.05, cooldown 1); epoch 5 is
    # the cooldown (never counted); 6, 7 wait: reduce after 7 (0.025); 8 cools down; 9, 10
    # wait: reduce after 10 to max(0.0125, min_lr) = 0.02; at min_lr, no more reductions.
    expected = [0.1] * 4 + [0.05] * 3 + [0.025] * 3 + [0.02] * 2
    assert rates == pytest.approx(expected, rel=1e-12)
    assert state.reductions == 3


def test_plateau_in_train_scales_the_schedule_and_resumes_bit_identically(
    tmp_path: Path,
) -> None:
    # min_delta 10: no epoch ever improves, so the rate halves every 2 epochs after the first.
    spec = ReduceOnPlateau(monitor="train_loss", factor=0.5, patience=2, min_delta=10.0)
    schedule = optim.InverseTimeDecay(initial=0.2, decay=0.1)
    settings: dict[str, Any] = {"epochs": 7, "batch_size": 16, "seed": 3,
                                "reduce_on_plateau": spec}  # fmt: skip
    whole = train(ARCH, params64(), optim.SGD(schedule), DATA, **settings)
    scales = [1, 1, 1, 0.5, 0.5, 0.25, 0.25]
    expected = [0.2 / (1 + 0.1 * e) * s for e, s in enumerate(scales)]
    assert [r.learning_rate for r in whole.history] == pytest.approx(expected, rel=1e-12)
    path = tmp_path / "ckpt.json"
    first = train(ARCH, params64(), optim.SGD(schedule), DATA, checkpoint=Checkpoint(path),
                  **{**settings, "epochs": 4})  # fmt: skip
    assert first.history[-1].learning_rate == whole.history[3].learning_rate
    resumed = train(ARCH, params64(), optim.SGD(schedule), DATA, resume=path, **settings)
    assert tree_equal(resumed.params, whole.params)
    assert without_seconds(resumed.history) == without_seconds(whole.history)


def test_plateau_spec_is_validated() -> None:
    with pytest.raises(ValueError, match="factor"):
        ReduceOnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="monitor"):
        ReduceOnPlateau(monitor="test_loss")
    with pytest.raises(ValueError, match="needs valid data"):
        train(ARCH, params64(), optim.SGD(0.1), DATA, epochs=1, batch_size=8, seed=0,
              reduce_on_plateau=ReduceOnPlateau())  # fmt: skip


# --- keep best, test set ----------------------------------------------------------------------


def test_keep_best_returns_the_best_epoch_without_stopping() -> None:
    result = train(ARCH, params64(), optim.SGD(1.5, momentum=0.9), DATA, epochs=12,
                   batch_size=8, seed=0, valid=VALID, keep_best="valid_accuracy")  # fmt: skip
    accuracies = [r.valid_accuracy for r in result.history]
    assert len(result.history) == 12 and not result.stopped_early
    assert result.best_epoch == 1 + int(np.argmax(accuracies))  # the first of equal bests
    assert m.score(ARCH, result.params, VALID.x, VALID.y).accuracy == max(accuracies)
    last = m.score(ARCH, result.last_params, VALID.x, VALID.y)
    assert last.accuracy == accuracies[-1] and last.loss == result.history[-1].valid_loss
    plain = train(ARCH, params64(), optim.SGD(1.5, momentum=0.9), DATA, epochs=12,
                  batch_size=8, seed=0, valid=VALID)  # fmt: skip
    assert tree_equal(plain.params, result.last_params)


def test_keep_best_must_agree_with_early_stopping() -> None:
    with pytest.raises(ValueError, match="keep_best monitors valid_accuracy but early_stopping"):
        train(ARCH, params64(), optim.SGD(0.1), DATA, epochs=1, batch_size=8, seed=0,
              valid=VALID, early_stopping=EarlyStopping(),
              keep_best=KeepBest("valid_accuracy"))  # fmt: skip


def test_a_test_set_is_reported_and_never_decides() -> None:
    test = blobs(30, 9)
    settings: dict[str, Any] = {"epochs": 3, "batch_size": 8, "seed": 0, "valid": VALID,
                                "keep_best": "valid_loss"}  # fmt: skip
    with_test = train(ARCH, params64(), optim.Adam(0.02), DATA, test=test, **settings)
    without = train(ARCH, params64(), optim.Adam(0.02), DATA, **settings)
    assert tree_equal(with_test.params, without.params)
    last = m.score(ARCH, with_test.last_params, test.x, test.y)
    assert with_test.history[-1].test_loss == last.loss
    assert with_test.history[-1].test_accuracy == last.accuracy
    assert all(r.test_loss is None for r in without.history)
    loss_axis, accuracy_axis = plot_curves(with_test.history).axes
    losses = [r.valid_loss for r in with_test.history]
    best = with_test.history[losses.index(min(losses))].epoch  # the curves' dotted mark
    assert [line.get_label() for line in loss_axis.get_lines()] == [
        "train loss", "validation loss", "test loss", f"best epoch {best}"
    ]  # fmt: skip
    test_line = accuracy_axis.get_lines()[2]
    assert test_line.get_ydata().tolist() == [r.test_accuracy for r in with_test.history]


# --- the L2 penalty apart, regression reports ---------------------------------------------------


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_losses_are_data_losses_and_the_penalty_is_reported_apart(dropout: float) -> None:
    arch = m.Architecture((3, 6, 3), hidden="tanh", dropout=dropout)
    start = params64(arch)
    result = train(arch, start, optim.SGD(0.1), DATA, epochs=1, batch_size=10_000, seed=0,
                   l2=0.5, valid=VALID)  # fmt: skip
    report, end = result.history[0], result.params
    seed = None if not dropout else (0, 1, 0, DROPOUT_STREAM)
    # The loss before the one full-batch step, without its penalty; the rest at the end.
    data_loss = m.loss(arch, start, DATA.x, DATA.y, dropout=seed)
    assert report.train_loss == pytest.approx(data_loss, rel=1e-12)
    assert report.valid_loss == m.score(arch, end, VALID.x, VALID.y).loss
    # The penalty the one step included: that of the starting weights.
    assert report.l2_penalty == pytest.approx(m.l2_penalty(start, 0.5), rel=1e-12)
    assert report.l2_penalty > 0
    full = m.loss(arch, start, DATA.x, DATA.y, l2=0.5, dropout=seed)
    assert report.train_loss + report.l2_penalty == pytest.approx(full, rel=1e-12)


def test_regression_reports_rmse_mae_r2_and_no_accuracy() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    arch = m.Architecture((3, 1), output="identity", loss="mse")
    data, valid, test = Dataset(x[:120], y[:120]), Dataset(x[120:160], y[120:160]), \
        Dataset(x[160:], y[160:])  # fmt: skip
    result = train(arch, params64(arch), optim.SGD(0.1), data, epochs=40, batch_size=16,
                   seed=0, valid=valid, test=test, keep_best="valid_r2")  # fmt: skip
    report = result.history[-1]
    assert report.train_accuracy is None and report.valid_accuracy is None
    predicted = m.predict(arch, result.last_params, valid.x)
    assert report.valid_r2 == pytest.approx(r2_score(valid.y, predicted), rel=1e-12)
    assert report.valid_mae == pytest.approx(mean_absolute_error(valid.y, predicted), rel=1e-12)
    assert report.test_r2 is not None and report.train_rmse is not None
    assert report.valid_r2 > 0.999
    with pytest.raises(ValueError, match="regression model has no accuracy"):
        train(arch, params64(arch), optim.SGD(0.1), data, epochs=1, batch_size=16, seed=0,
              valid=valid, keep_best="valid_accuracy")  # fmt: skip
    with pytest.raises(ValueError, match="a regression metric"):
        train(ARCH, params64(), optim.SGD(0.1), DATA, epochs=1, batch_size=16, seed=0,
              valid=VALID, early_stopping=EarlyStopping(monitor="valid_r2"))  # fmt: skip


def test_options_that_take_the_pure_step_refuse_required_kernels() -> None:
    with pytest.raises(ValueError, match="kernels=True, but dropout"):
        train(ARCH, params64(), optim.SGD(0.1), DATA, epochs=1, batch_size=8, seed=0,
              clip_norm=1.0, kernels=True)  # fmt: skip
