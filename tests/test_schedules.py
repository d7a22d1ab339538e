"""Schedules against hand-computed values, and argument validation."""

from __future__ import annotations

import math

import attrs
import pytest

from purenet.optim.schedules import (
    SCHEDULES,
    Constant,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    StepDecay,
    learning_rate,
)

CASES = [
    (Constant(0.1), 0, 0.1),
    (Constant(0.1), 7.5, 0.1),
    # the classic tutorial decay: lr / (1 + decay * epoch)
    (InverseTimeDecay(initial=0.1, decay=0.01), 0, 0.1),
    (InverseTimeDecay(initial=0.1, decay=0.01), 10, 0.1 / 1.1),
    (InverseTimeDecay(initial=0.1, decay=0.01), 2.5, 0.1 / 1.025),
    # 1.0 * 0.5 ** (3 / 2) = 0.35355339059327373
    (ExponentialDecay(initial=1.0, rate=0.5, every=2.0), 3.0, 0.35355339059327373),
    (ExponentialDecay(initial=1.0, rate=0.5, every=2.0, staircase=True), 3.0, 0.5),
    (ExponentialDecay(initial=0.2, rate=0.9), 2, 0.2 * 0.81),
    (StepDecay(initial=0.1, every=10, factor=0.5), 9.99, 0.1),
    (StepDecay(initial=0.1, every=10, factor=0.5), 10, 0.05),
    (StepDecay(initial=0.1, every=10, factor=0.5), 25, 0.025),
    (CosineDecay(initial=0.1, epochs=10), 0, 0.1),
    (CosineDecay(initial=0.1, epochs=10), 5, 0.05),
    # 0.1 * (1 + cos(pi / 4)) / 2
    (CosineDecay(initial=0.1, epochs=10), 2.5, 0.08535533905932738),
    (CosineDecay(initial=0.1, epochs=10), 10, 0.0),
    (CosineDecay(initial=0.1, epochs=10), 20, 0.0),
    (CosineDecay(initial=0.1, epochs=10, alpha=0.1), 10, 0.01),
    # linear warm-up from warmup_start * initial to initial, then the decay on t - warmup
    (Constant(0.1, warmup=4), 0, 0.0),
    (Constant(0.1, warmup=4), 1, 0.025),
    (Constant(0.1, warmup=4), 4, 0.1),
    (Constant(0.1, warmup=2, warmup_start=0.2), 0, 0.02),
    (Constant(0.1, warmup=2, warmup_start=0.2), 1, 0.06),  # 0.1 * (0.2 + 0.8 / 2)
    (InverseTimeDecay(initial=0.1, decay=1.0, warmup=2), 3, 0.05),  # 0.1 / (1 + 1 * 1)
    (CosineDecay(initial=0.1, epochs=10, warmup=1), 6, 0.05),
    (0.3, 5, 0.3),
]


@pytest.mark.parametrize(("schedule", "t", "expected"), CASES)
def test_values_by_hand(schedule: object, t: float, expected: float) -> None:
    value = learning_rate(schedule, t)  # type: ignore[arg-type]
    assert type(value) is float
    assert math.isclose(value, expected, rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Constant(-0.1),
        lambda: Constant(0.0),
        lambda: Constant(math.nan),
        lambda: Constant(math.inf),
        lambda: InverseTimeDecay(initial=0.1, decay=-0.01),
        lambda: ExponentialDecay(initial=0.1, rate=0.0),
        lambda: ExponentialDecay(initial=0.1, rate=1.5),
        lambda: ExponentialDecay(initial=0.1, rate=0.5, every=0),
        lambda: StepDecay(initial=0.1, every=0),
        lambda: StepDecay(initial=0.1, every=5, factor=2.0),
        lambda: CosineDecay(initial=0.1, epochs=0),
        lambda: CosineDecay(initial=0.1, epochs=10, alpha=1.5),
        lambda: Constant(0.1, warmup=-1),
        lambda: Constant(0.1, warmup=1, warmup_start=1.5),
    ],
)
def test_invalid_arguments_raise_at_construction(make: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        make()  # type: ignore[operator]


def test_negative_time_raises() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        learning_rate(Constant(0.1), -1)


def test_kind_tags_and_frozen() -> None:
    assert set(SCHEDULES) == {"constant", "inverse_time", "exponential", "step", "cosine"}
    for kind, cls in SCHEDULES.items():
        assert cls.kind == kind
    schedule = InverseTimeDecay(initial=0.1, decay=0.01)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        schedule.initial = 1.0  # type: ignore[misc]
    assert schedule == InverseTimeDecay(initial=0.1, decay=0.01)
