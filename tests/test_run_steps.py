"""Many steps per compiled call (`SmallStep.run_steps`) against one step per call, and the
training loop's use of it: the same bits, reports, divergence and resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import purenet as pn
from purenet import optim
from purenet.core.kernel import HAS_NUMBA
from purenet.core.tree import tree_equal
from purenet.data.dataset import Dataset
from purenet.errors import DivergenceError
from purenet.nn.losses import dense_targets
from purenet.training.checkpoint import Checkpoint
from purenet.training.loop import train
from purenet.training.reports import BatchReport
from purenet.training.select import make_step
from purenet.training.step import NonFinite

pytestmark = pytest.mark.skipif(not HAS_NUMBA, reason="numba (the fast extra) is not installed")

SPECS = [
    optim.SGD(0.05),
    optim.SGD(0.05, momentum=0.9),
    optim.SGD(0.05, momentum=0.9, nesterov=True),
    optim.RMSProp(0.01),
    optim.Adam(0.01),  # compiled forward and backward, the update step by step
]


def _data(n: int, n_in: int, k: int, dtype: str, *, targets: bool, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype(dtype)
    x[rng.random((n, n_in)) < 0.3] = 0  # zero inputs take the kernels' skip
    labels = rng.integers(0, k, n)
    return Dataset(x, dense_targets(labels, k, np.dtype(dtype)) if targets else labels)


def _identity(x: np.ndarray, *, seed: Any) -> np.ndarray:
    return x  # an augmentation: the loop then takes one step per call


def _without_seconds(history: Any) -> list[dict[str, Any]]:
    return [attrs.asdict(r, filter=lambda a, _: a.name != "seconds") for r in history]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize(
    ("hidden", "output", "loss", "targets"),
    [
        ("sigmoid", "sigmoid", "mse", False),
        ("relu", "softmax", "cross_entropy", False),
        ("tanh", "sigmoid", "cross_entropy", True),
    ],
)
@pytest.mark.parametrize("batch_size", [1, 2, 5])  # SmallStep, SmallStep, KernelStep
def test_run_steps_is_one_step_per_call_bit_for_bit(
    spec: Any, hidden: str, output: str, loss: str, targets: bool, dtype: str, batch_size: int
) -> None:
    arch = pn.Architecture((9, 7, 4), hidden=hidden, output=output, loss=loss)
    params = pn.init(arch, seed=2, dtype=dtype)
    data = _data(21, 9, 4, dtype, targets=targets)  # 21: a short last batch at batch 2
    order = np.random.default_rng(5).permutation(21)
    steps = -(-21 // batch_size)
    one, many = (make_step(arch, spec, batch_size=batch_size, dtype=dtype) for _ in range(2))
    for step in (one, many):
        step.start(params, optim.init(spec, params))
    assert many.runs_steps and type(many).__name__ == ("KernelStep", "SmallStep")[batch_size < 5]
    singles = [
        one(data.x[rows], data.y[rows], 0.05)
        for rows in (order[b * batch_size : (b + 1) * batch_size] for b in range(steps))
    ]
    losses, correct = np.empty(steps), np.empty(steps, np.int64)
    # In two calls, the second starting mid-epoch (as the loop does with on_batch).
    first = steps // 2
    assert many.run_steps(data.x, data.y, order, 0, 0.05, losses[:first], correct[:first]) == (
        first,
        None,
    )
    done = many.run_steps(data.x, data.y, order, first, 0.05, losses[first:], correct[first:])
    assert done == (steps - first, None)
    assert losses.tolist() == [value for value, _ in singles]
    assert correct.tolist() == [right for _, right in singles]
    assert tree_equal(many.params(), one.params()) and tree_equal(many.state(), one.state())
    assert int(many.state().count) == steps


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_run_steps_stops_before_a_non_finite_step(bad: float) -> None:
    arch = pn.Architecture((3, 4, 2), output="sigmoid", loss="mse")
    params = pn.init(arch, seed=0)
    x = _data(6, 3, 2, "float32", targets=False).x.copy()
    x[4, 0] = bad
    data = Dataset(x, np.array([0, 1, 1, 0, 1, 0]))
    step, again = (make_step(arch, optim.SGD(0.1), batch_size=1) for _ in range(2))
    for each in (step, again):
        each.start(params, optim.init(optim.SGD(0.1), params))
    losses, correct = np.empty(6), np.empty(6, np.int64)
    done, fault = step.run_steps(data.x, data.y, np.arange(6), 0, 0.1, losses, correct)
    # The four steps before it, nothing of the fifth, and what one step per call reports.
    for i in range(4):
        again(data.x[i : i + 1], data.y[i : i + 1], 0.1)
    with pytest.raises(NonFinite) as caught:
        again(data.x[4:5], data.y[4:5], 0.1)
    assert (done, fault) == (4, caught.value.what)
    assert tree_equal(step.params(), again.params()) and int(step.state().count) == 4


def test_run_steps_of_what_the_compiled_step_does_not_take() -> None:
    # Soft targets for softmax: the numpy output layer, one step per batch, the same bits.
    arch = pn.Architecture((3, 4, 2))
    params = pn.init(arch, seed=0)
    x = _data(5, 3, 2, "float32", targets=False).x
    soft = np.random.default_rng(1).dirichlet([1, 1], 5).astype(np.float32)
    one, many = (make_step(arch, optim.SGD(0.1), batch_size=1) for _ in range(2))
    for step in (one, many):
        step.start(params, optim.init(optim.SGD(0.1), params))
    singles = [one(x[i : i + 1], soft[i : i + 1], 0.1)[0] for i in range(5)]
    losses, correct = np.empty(5), np.empty(5, np.int64)
    assert many.run_steps(x, soft, np.arange(5), 0, 0.1, losses, correct) == (5, None)
    assert losses.tolist() == singles and tree_equal(many.params(), one.params())
    # An l2 penalty changes every step: the loop takes the steps one by one.
    assert not make_step(arch, optim.SGD(0.1), batch_size=1, l2=1e-3).runs_steps
    kernel_step = make_step(arch, optim.SGD(0.1), batch_size=5)
    kernel_step.start(params, optim.init(optim.SGD(0.1), params))
    for step in (many, kernel_step):
        with pytest.raises(ValueError, match=r"x has shape \(1, 4\)"):
            step.run_steps(np.zeros((5, 4), np.float32), soft, np.arange(5), 0, 0.1, losses,
                           correct)  # fmt: skip
        with pytest.raises(ValueError, match=r"x has shape \(1, 3, 1\)"):
            step.run_steps(np.zeros((5, 3, 1), np.float32), soft.argmax(1), np.arange(5), 0,
                           0.1, losses, correct)  # fmt: skip


SIGMOID = pn.Architecture((9, 7, 4), hidden="sigmoid", output="sigmoid", loss="mse")


def _run(batch_size: int, arch: pn.Architecture = SIGMOID, **kwargs: Any) -> Any:
    data = _data(45, 9, 4, "float32", targets=False, seed=3)
    settings: dict[str, Any] = {"epochs": 3, "batch_size": batch_size, "seed": 4, "valid": 0.2}
    settings.update(kwargs)
    optimizer = settings.pop("optimizer", optim.SGD(0.1, momentum=0.9))
    return train(arch, pn.init(arch, seed=1), optimizer, data, **settings)


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_train_runs_the_same_steps_many_per_call(
    batch_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports: dict[str, list[BatchReport]] = {"many": [], "one": []}
    one = _run(batch_size, augment=_identity, on_batch=reports["one"].append)
    many = _run(batch_size, on_batch=reports["many"].append)  # one call per epoch
    monkeypatch.setattr("purenet.training.loop.STEPS_PER_CALL", 5)
    without = _run(batch_size)  # several calls per epoch, no on_batch
    for result in (many, without):
        assert tree_equal(result.params, one.params)
        assert tree_equal(result.opt_state, one.opt_state)
        assert _without_seconds(result.history) == _without_seconds(one.history)
    assert reports["many"] == reports["one"] and len(reports["one"]) == 3 * -(-36 // batch_size)


def test_train_reports_divergence_at_the_same_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("purenet.training.loop.STEPS_PER_CALL", 3)  # several calls an epoch
    arch = pn.Architecture((9, 7, 4), output="identity", loss="mse")
    errors, reports = [], []
    for augment in (_identity, None):
        seen: list[BatchReport] = []
        with pytest.raises(DivergenceError) as caught:
            _run(1, arch, optimizer=optim.SGD(10.0), augment=augment, on_batch=seen.append)
        errors.append((caught.value.epoch, caught.value.batch, str(caught.value)))
        reports.append(seen)
    assert errors[0] == errors[1] and reports[0] == reports[1]
    assert errors[0][:2] == (1, 4)  # in the second call, its second step


def test_train_many_per_call_resumes_bit_identically(tmp_path: Path) -> None:
    whole = _run(1, epochs=4)
    path = tmp_path / "ckpt.json"
    _run(1, epochs=2, checkpoint=Checkpoint(path))
    resumed = _run(1, epochs=4, resume=path)
    assert tree_equal(resumed.params, whole.params)
    assert tree_equal(resumed.opt_state, whole.opt_state)
    assert _without_seconds(resumed.history) == _without_seconds(whole.history)
