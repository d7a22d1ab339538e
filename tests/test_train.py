"""The training loop: oracles, determinism, resume, divergence, early stopping, tracking, data."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import purenet.nn.model as m
from purenet import optim
from purenet.core.kernel import HAS_NUMBA
from purenet.core.tree import tree_allclose, tree_equal
from purenet.data.dataset import Dataset
from purenet.data.load import load_dataset
from purenet.errors import DivergenceError, ModelFormatError
from purenet.optim.schedules import Constant, InverseTimeDecay, learning_rate
from purenet.pipeline.transforms import fit_standardizer, flatten, scale, standardize
from purenet.training.checkpoint import Checkpoint, read_checkpoint
from purenet.training.loop import train
from purenet.training.reports import BatchReport, EarlyStopping, EpochReport, Track

ARCH = m.Architecture((2, 16, 2))


def xor_data(n: int, seed: int) -> Dataset:
    """Quadrant XOR: label 1 where x0 * x1 > 0; not linearly separable."""
    x = np.random.default_rng(seed).normal(size=(n, 2)).astype(np.float32)
    return Dataset(x, (x[:, 0] * x[:, 1] > 0).astype(np.int64))


DATA = xor_data(300, 0)


def without_seconds(history: tuple[EpochReport, ...]) -> list[dict[str, Any]]:
    return [attrs.asdict(r, filter=lambda a, _: a.name != "seconds") for r in history]


def run(**kwargs: Any) -> Any:
    settings: dict[str, Any] = {"epochs": 4, "batch_size": 32, "seed": 0}
    settings.update(kwargs)
    optimizer = settings.pop("optimizer", optim.SGD(0.1, momentum=0.9))
    data = settings.pop("data", DATA)
    return train(ARCH, m.init(ARCH, seed=1), optimizer, data, **settings)


def test_per_sample_sgd_matches_a_hand_written_loop() -> None:
    data = xor_data(40, 1)
    settings: dict[str, Any] = {"data": data, "epochs": 2, "batch_size": 1, "seed": 3}
    result = run(optimizer=optim.SGD(0.05), kernels=False, **settings)
    params = m.init(ARCH, seed=1)
    for epoch in (1, 2):
        for i in np.random.default_rng((3, epoch)).permutation(len(data)):
            _, grads = m.value_and_grad(ARCH, params, data.x[i : i + 1], data.y[i : i + 1])
            params = optim.sgd_step(params, grads, 0.05)
    assert tree_equal(result.params, params)  # the numpy step: the same bits
    if HAS_NUMBA:  # the compiled whole step: the same numbers to float32 rounding
        compiled = run(optimizer=optim.SGD(0.05), kernels=True, **settings)
        assert tree_allclose(compiled.params, params, rtol=1e-5, atol=1e-6)


def test_full_batch_first_loss_is_the_loss_at_the_start() -> None:
    result = run(batch_size=10_000, epochs=3)
    start = m.init(ARCH, seed=1)
    assert result.history[0].train_loss == pytest.approx(
        m.loss(ARCH, start, DATA.x, DATA.y), rel=1e-6
    )
    assert result.history[0].train_accuracy == pytest.approx(
        np.mean(m.predict(ARCH, start, DATA.x) == DATA.y)
    )
    assert int(result.opt_state.count) == 3


def test_learns_xor_and_reports_every_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    reports: list[EpochReport] = []
    result = run(epochs=30, valid=0.2, on_epoch=reports.append)
    assert tuple(reports) == result.history
    assert [r.epoch for r in reports] == list(range(1, 31))
    assert result.history[-1].train_accuracy > 0.9
    assert result.history[-1].valid_accuracy is not None
    assert result.history[-1].valid_accuracy > 0.85
    assert result.history[-1].valid_loss < result.history[0].valid_loss  # type: ignore[operator]
    assert all(r.seconds > 0 and r.learning_rate == 0.1 for r in reports)
    assert capsys.readouterr() == ("", "")  # the library prints nothing


def test_same_seed_bit_identical_other_seed_differs() -> None:
    first, second = run(valid=0.2), run(valid=0.2)
    assert tree_equal(first.params, second.params)
    assert tree_equal(first.opt_state, second.opt_state)
    assert without_seconds(first.history) == without_seconds(second.history)
    other = run(valid=0.2, seed=1)
    assert not tree_equal(first.params, other.params)
    assert without_seconds(first.history) != without_seconds(other.history)


def test_schedules_per_epoch_and_per_batch() -> None:
    schedule = InverseTimeDecay(initial=0.2, decay=0.5)
    batches: list[BatchReport] = []
    result = run(optimizer=optim.SGD(schedule), epochs=3, batch_size=100, on_batch=batches.append)
    assert [r.learning_rate for r in result.history] == [0.2, 0.2 / 1.5, 0.1]
    assert [b.learning_rate for b in batches[:3]] == [0.2, 0.2, 0.2]
    batches.clear()
    run(
        optimizer=optim.SGD(schedule),
        epochs=1,
        batch_size=100,
        schedule_per="batch",
        on_batch=batches.append,
    )
    expected = [learning_rate(schedule, b / 3) for b in range(3)]
    assert [b.learning_rate for b in batches] == expected
    assert [(b.epoch, b.batch, b.batches) for b in batches] == [(1, 0, 3), (1, 1, 3), (1, 2, 3)]


def test_augment_gets_a_fresh_seed_per_batch() -> None:
    seen: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def jitter(x: np.ndarray, *, seed: tuple[int, ...]) -> np.ndarray:
        seen.append((seed, x.shape))
        return x + np.random.default_rng(seed).normal(0, 0.01, x.shape).astype(x.dtype)

    first = run(epochs=2, batch_size=128, augment=jitter)
    assert seen[:4] == [
        ((0, 1, 0), (128, 2)),
        ((0, 1, 1), (128, 2)),
        ((0, 1, 2), (44, 2)),
        ((0, 2, 0), (128, 2)),
    ]
    assert tree_equal(first.params, run(epochs=2, batch_size=128, augment=jitter).params)
    assert not tree_equal(first.params, run(epochs=2, batch_size=128).params)


@pytest.mark.parametrize(
    "optimizer",
    [optim.SGD(0.1, momentum=0.9), optim.Adam(InverseTimeDecay(initial=0.01, decay=0.3))],
    ids=["sgd-momentum", "adam-schedule"],
)
def test_resume_is_bit_identical(optimizer: optim.Optimizer, tmp_path: Path) -> None:
    settings: dict[str, Any] = {
        "optimizer": optimizer,
        "valid": 0.2,
        "track": Track(("layers[0].w[1, 3]", "[1].b[0]"), every="step"),
        "early_stopping": EarlyStopping(patience=10, monitor="valid_accuracy"),
        "schedule_per": "batch",
    }
    whole = run(**settings)
    path = tmp_path / "ckpt.json"
    first = run(epochs=2, checkpoint=Checkpoint(path), **settings)
    assert len(first.history) == 2
    resumed = run(resume=path, **settings)
    assert tree_equal(resumed.params, whole.params)
    assert tree_equal(resumed.opt_state, whole.opt_state)
    assert without_seconds(resumed.history) == without_seconds(whole.history)
    assert resumed.history[:2] == first.history  # restored exactly, seconds included
    assert resumed.best_epoch == whole.best_epoch
    assert whole.tracked is not None and resumed.tracked is not None
    assert tree_equal(attrs.astuple(resumed.tracked), attrs.astuple(whole.tracked))


@pytest.mark.skipif(not HAS_NUMBA, reason="numba (the fast extra) is not installed")
@pytest.mark.parametrize("batch_size", [1, 32])
def test_kernel_path_is_deterministic_and_resumes_bit_identically(
    batch_size: int, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {
        "optimizer": optim.Adam(0.01),
        "valid": 0.2,
        "batch_size": batch_size,
        "epochs": 3,
        "kernels": True,
        "track": Track(("layers[0].w[1, 3]",), every="step"),
    }
    whole = run(**settings)
    assert tree_equal(run(**settings).params, whole.params)
    path = tmp_path / "ckpt.json"
    run(checkpoint=Checkpoint(path), **{**settings, "epochs": 1})
    resumed = run(resume=path, **settings)
    assert tree_equal(resumed.params, whole.params)
    assert tree_equal(resumed.opt_state, whole.opt_state)
    assert without_seconds(resumed.history) == without_seconds(whole.history)


def test_checkpoint_file_format(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.json"
    result = run(epochs=3, checkpoint=Checkpoint(path, every=2))
    data = json.loads(path.read_text())
    assert data["format"] == "purenet.checkpoint" and data["format_version"] == 2
    assert (data["epoch"], data["step"]) == (3, 30)  # saved at 2 and at the end
    first_w = data["params"][0]["w"]
    assert (first_w["dtype"], first_w["shape"]) == ("float32", [2, 16])
    raw = np.frombuffer(base64.b64decode(first_w["base64"]), dtype="<f4").reshape(2, 16)
    assert np.array_equal(raw, result.params[0].w)  # little-endian bytes, row-major
    log = (tmp_path / "ckpt.history.jsonl").read_bytes()
    assert data["history"] == {
        "file": "ckpt.history.jsonl",
        "lines": 3,
        "bytes": len(log),
        "sha256": hashlib.sha256(log).hexdigest(),
    }
    assert [json.loads(line)["epoch"] for line in log.splitlines()] == [1, 2, 3]
    assert data["run"]["optimizer"] == {
        "kind": "sgd",
        "learning_rate": 0.1,
        "momentum": 0.9,
        "nesterov": False,
    }
    saved = read_checkpoint(path, params=result.params, opt_state=result.opt_state)
    assert tree_equal(saved.params, result.params)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_resume_refuses_a_different_run(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.json"
    run(epochs=1, checkpoint=Checkpoint(path))
    with pytest.raises(ModelFormatError, match=r"batch_size 32 \(checkpoint\) vs 64"):
        run(batch_size=64, resume=path)
    with pytest.raises(ModelFormatError, match="optimizer"):
        run(optimizer=optim.Adam(), resume=path)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: d.update(format_version=3), r"\$\.format: expected 'purenet.checkpoint'"),
        (lambda d: d.update(format_version=1), "written by an older purenet: start the run"),
        (lambda d: d.pop("history"), r"missing keys \['history'\]"),
        (lambda d: d["history"].update(lines=2), r"\$\.history\.lines: 2, expected one line"),
        (lambda d: d["history"].update(file="../x"), r"\$\.history\.file: expected a file name"),
        (lambda d: d["params"][1]["b"].update(base64="AAAA"), r"\$\.params\[1\]\.b\.base64: "),
        (lambda d: d["opt_state"].pop("velocity"), r"\$\.opt_state: expected keys"),
    ],
)
def test_malformed_checkpoints_are_refused_with_the_path(
    corrupt: Any, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "ckpt.json"
    run(epochs=1, checkpoint=Checkpoint(path))
    data = json.loads(path.read_text())
    corrupt(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFormatError, match=message):
        run(resume=path)


def test_divergence_raises_with_context() -> None:
    with pytest.raises(DivergenceError, match="epoch 1, batch") as caught:
        run(optimizer=optim.SGD(1e6))
    assert caught.value.epoch == 1
    assert caught.value.learning_rate == 1e6
    assert caught.value.checkpoint is None and caught.value.history == ()


def test_divergence_keeps_the_last_finite_checkpoint(tmp_path: Path) -> None:
    # Warm-up to 1e6: epoch 1 runs at 1e6 * 1e-8 = 0.01, epoch 2 at about 5e5 and diverges.
    schedule = Constant(1e6, warmup=2, warmup_start=1e-8)
    path = tmp_path / "ckpt.json"
    with pytest.raises(DivergenceError) as caught:
        run(optimizer=optim.SGD(schedule), checkpoint=Checkpoint(path))
    error = caught.value
    assert (error.epoch, error.checkpoint) == (2, path)
    assert error.learning_rate == learning_rate(schedule, 1)
    assert [r.epoch for r in error.history] == [1]  # type: ignore[attr-defined]
    one_epoch = run(optimizer=optim.SGD(schedule), epochs=1)
    saved = read_checkpoint(path, params=one_epoch.params, opt_state=one_epoch.opt_state)
    assert saved.epoch == 1
    assert tree_equal(saved.params, one_epoch.params)


def overfitting_task() -> tuple[Dataset, Dataset]:
    """40 noisy training points (30% flipped labels) for a wide net; clean validation."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    y[rng.random(40) < 0.3] ^= 1
    xv = rng.normal(size=(400, 2)).astype(np.float32)
    return Dataset(x, y), Dataset(xv, (xv[:, 0] > 0).astype(np.int64))


def test_early_stopping_returns_the_best_validation_epoch() -> None:
    arch = m.Architecture((2, 64, 64, 2))
    data, valid = overfitting_task()
    settings: dict[str, Any] = {"batch_size": 40, "seed": 0, "valid": valid}
    result = train(
        arch,
        m.init(arch, seed=0),
        optim.Adam(0.01),
        data,
        epochs=200,
        early_stopping=EarlyStopping(patience=5),
        **settings,
    )
    losses = [r.valid_loss for r in result.history]
    assert result.stopped_early and len(losses) < 200
    assert result.best_epoch == 1 + int(np.argmin(losses)) == len(losses) - 5
    assert m.evaluate(arch, result.params, valid.x, valid.y)[0] == min(losses)  # type: ignore[type-var]
    plain = train(
        arch, m.init(arch, seed=0), optim.Adam(0.01), data, epochs=result.best_epoch, **settings
    )
    assert tree_equal(result.params, plain.params)
    assert tree_equal(result.opt_state, plain.opt_state)


def test_tracking_records_start_and_every_epoch_or_step() -> None:
    paths = ("layers[0].w[1, 3]", "layers[1].b[0]")
    start = m.init(ARCH, seed=1)
    by_epoch = run(epochs=3, track=Track(paths))
    tracked = by_epoch.tracked
    assert tracked is not None and tracked.paths == paths
    assert tracked.values.shape == (4, 2) and tracked.values.dtype == np.float64
    assert tracked.steps.tolist() == [0, 10, 20, 30] and tracked.epochs.tolist() == [0, 1, 2, 3]
    assert tracked.values[0].tolist() == [float(start[0].w[1, 3]), float(start[1].b[0])]
    final = by_epoch.params
    assert tracked.values[-1].tolist() == [float(final[0].w[1, 3]), float(final[1].b[0])]
    by_step = run(epochs=3, track=Track(paths, every="step"))
    assert by_step.tracked is not None and by_step.tracked.values.shape == (31, 2)
    np.testing.assert_array_equal(by_step.tracked.values[::10], tracked.values)
    with pytest.raises(ValueError, match="outside shape"):
        run(track=Track(("layers[0].w[2, 0]",)))
    with pytest.raises(ValueError, match="cannot parse"):
        Track(("w[0]",))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"l2": -0.1}, "l2"),
        ({"schedule_per": "step"}, "schedule_per"),
        ({"early_stopping": EarlyStopping()}, "needs valid data"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run(**kwargs)


def test_float32_training_stays_float32() -> None:
    result = run(optimizer=optim.Adam(0.01), l2=1e-3)
    assert all(layer.w.dtype == np.float32 for layer in result.params)
    assert result.opt_state.mu[0].w.dtype == np.float32
    assert isinstance(result.history[0].train_loss, float)


def test_mnist_784_256_128_10_learns(data_dir: Path) -> None:
    train_set = load_dataset("mnist", "train10k", data_dir=data_dir)
    test_set = load_dataset("mnist", "test", data_dir=data_dir)
    x, xt = scale(flatten(train_set.x)), scale(flatten(test_set.x))
    arch = m.Architecture((784, 256, 128, 10))
    # The 20 epochs reach 0.960 (>= 0.955); 8 epochs (0.955) keep the suite fast.
    result = train(
        arch,
        m.init(arch, seed=0),
        optim.SGD(0.05, momentum=0.9),
        Dataset(x, train_set.y.astype(np.int64)),
        epochs=8,
        batch_size=128,
        seed=0,
    )
    _, accuracy = m.evaluate(arch, result.params, xt, test_set.y.astype(np.int64))
    assert accuracy >= 0.95


def test_microchips_2_10_1_sigmoid_full_batch(data_dir: Path) -> None:
    chips = load_dataset("microchips", "train", data_dir=data_dir)
    x = standardize(chips.x, fit_standardizer(chips.x))
    y = chips.y.astype(np.float32).reshape(-1, 1)
    arch = m.Architecture((2, 10, 1), hidden="sigmoid", output="sigmoid", loss="cross_entropy")
    result = train(
        arch,
        m.init(arch, seed=0),
        optim.SGD(1.0, momentum=0.9),
        Dataset(x, y),
        epochs=1000,
        batch_size=len(y),
        seed=0,
    )
    assert result.history[-1].train_accuracy >= 0.80
    assert np.mean(m.predict(arch, result.params, x) == chips.y) >= 0.80


@pytest.mark.parametrize(
    ("param_dtype", "x"),
    [("float64", DATA.x), ("float32", (np.abs(DATA.x) * 50).astype(np.uint8))],
)
def test_inputs_of_another_dtype_are_cast_to_the_params_dtype(param_dtype: str, x: Any) -> None:
    params = m.init(ARCH, seed=1, dtype=param_dtype)
    spec = optim.SGD(0.01, momentum=0.9)
    given = train(ARCH, params, spec, Dataset(x, DATA.y), epochs=2, batch_size=32, seed=0)
    cast = Dataset(x.astype(param_dtype), DATA.y)
    expected = train(ARCH, params, spec, cast, epochs=2, batch_size=32, seed=0)
    assert given.params[0].w.dtype == np.dtype(param_dtype)
    assert tree_equal(given.params, expected.params)


def test_a_non_finite_validation_loss_is_divergence() -> None:
    # Inputs near float32 max overflow the layers' products: the validation loss is NaN.
    far = Dataset(np.full((20, 2), 3e38, np.float32), np.zeros(20, np.int64))
    with pytest.raises(DivergenceError, match=r"epoch 1, .*non-finite validation loss") as caught:
        run(valid=far)
    assert caught.value.epoch == 1 and caught.value.history == ()


def test_a_cosine_schedule_shorter_than_training_holds_its_floor() -> None:
    # The cosine reaches 0 after 2 epochs; epochs 3 and 4 run at rate 0 and change nothing.
    spec = optim.Adam(optim.CosineDecay(initial=0.01, epochs=2))
    result = run(optimizer=spec, epochs=4)
    assert [r.learning_rate for r in result.history][2:] == [0.0, 0.0]
    assert tree_equal(result.params, run(optimizer=spec, epochs=2).params)
