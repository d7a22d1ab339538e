"""Learning-rate schedules: frozen specs and one pure function, `learning_rate(schedule, t)`.

Time is counted in **epochs**, as a float: `t = 0.0` is the start of training, `t = 2.5` is
half-way through the third epoch. The training loop passes the integer epoch index
(`schedule_per="epoch"`, the default: the rate is constant within an epoch and changes between
epochs, as in the classic tutorials' `lr / (1 + decay * epoch)`) or the exact progress
`epoch + batch / num_batches` (`schedule_per="batch"`). Adam's bias correction does not use this
clock: it counts optimizer steps in the optimizer state.

Every schedule has an optional linear warm-up: for `t < warmup` the rate rises linearly from
`warmup_start * initial` at `t = 0` to `initial` at `t = warmup`, and the decay then runs on the
shifted clock `t - warmup` (so it starts from `initial` when the warm-up ends).

Example:
    >>> from purenet.optim.schedules import InverseTimeDecay, learning_rate
    >>> learning_rate(InverseTimeDecay(initial=0.1, decay=0.5), 2)
    0.05
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs

from purenet.core.checks import FRACTION, NON_NEGATIVE, POSITIVE, Interval

_positive = POSITIVE.validator()
_non_negative = NON_NEGATIVE.validator()
_fraction = FRACTION.validator()
_positive_fraction = Interval(0, 1, closed="right").validator()


def _warmup() -> Any:
    """The `warmup` field every schedule has: epochs of warm-up, >= 0 (see the module doc)."""
    return attrs.field(default=0.0, converter=float, validator=_non_negative, kw_only=True)


def _warmup_start() -> Any:
    """The `warmup_start` field every schedule has: the rate at `t = 0` over `initial`."""
    return attrs.field(default=0.0, converter=float, validator=_fraction, kw_only=True)


@attrs.frozen
class Constant:
    """A constant learning rate `initial` (after the optional warm-up).

    Args:
        initial: the rate, > 0.
        warmup: warm-up length in epochs, >= 0 (0: none).
        warmup_start: rate at `t = 0` as a fraction of `initial`, in [0, 1].
    """

    kind: ClassVar[str] = "constant"
    initial: float = attrs.field(converter=float, validator=_positive)
    warmup: float = _warmup()
    warmup_start: float = _warmup_start()

    def _decayed(self, t: float) -> float:
        return self.initial


@attrs.frozen
class InverseTimeDecay:
    """`initial / (1 + decay * t)`: the per-epoch decay of the classic DNN tutorials.

    Args:
        initial: the rate at `t = 0`, > 0.
        decay: decay per epoch, >= 0.
        warmup, warmup_start: see the module docstring.

    Example:
        >>> learning_rate(InverseTimeDecay(initial=0.1, decay=0.01), 10)  # 0.1 / 1.1
        0.09090909090909091
    """

    kind: ClassVar[str] = "inverse_time"
    initial: float = attrs.field(converter=float, validator=_positive)
    decay: float = attrs.field(converter=float, validator=_non_negative)
    warmup: float = _warmup()
    warmup_start: float = _warmup_start()

    def _decayed(self, t: float) -> float:
        return self.initial / (1.0 + self.decay * t)


@attrs.frozen
class ExponentialDecay:
    """`initial * rate ** (t / every)`, or `rate ** floor(t / every)` when `staircase`.

    Args:
        initial: the rate at `t = 0`, > 0.
        rate: factor applied every `every` epochs, in (0, 1].
        every: epochs per factor `rate`, > 0.
        staircase: decay in whole steps instead of continuously.
        warmup, warmup_start: see the module docstring.

    Example:
        >>> learning_rate(ExponentialDecay(initial=1.0, rate=0.5, every=2.0), 3.0)  # 0.5 ** 1.5
        0.3535533905932738
    """

    kind: ClassVar[str] = "exponential"
    initial: float = attrs.field(converter=float, validator=_positive)
    rate: float = attrs.field(converter=float, validator=_positive_fraction)
    every: float = attrs.field(default=1.0, converter=float, validator=_positive)
    staircase: bool = False
    warmup: float = _warmup()
    warmup_start: float = _warmup_start()

    def _decayed(self, t: float) -> float:
        periods = t / self.every
        return self.initial * self.rate ** (math.floor(periods) if self.staircase else periods)


@attrs.frozen
class StepDecay:
    """`initial * factor ** floor(t / every)`: multiply by `factor` every `every` epochs.

    Args:
        initial: the rate at `t = 0`, > 0.
        every: epochs between drops, > 0.
        factor: multiplier at each drop, in (0, 1].
        warmup, warmup_start: see the module docstring.

    Example:
        >>> learning_rate(StepDecay(initial=0.1, every=10, factor=0.5), 25)  # two drops
        0.025
    """

    kind: ClassVar[str] = "step"
    initial: float = attrs.field(converter=float, validator=_positive)
    every: float = attrs.field(converter=float, validator=_positive)
    factor: float = attrs.field(default=0.1, converter=float, validator=_positive_fraction)
    warmup: float = _warmup()
    warmup_start: float = _warmup_start()

    def _decayed(self, t: float) -> float:
        return self.initial * self.factor ** math.floor(t / self.every)


@attrs.frozen
class CosineDecay:
    """Half a cosine from `initial` down to `alpha * initial` over `epochs`, then flat.

    `initial * (alpha + (1 - alpha) * (1 + cos(pi * min(t, epochs) / epochs)) / 2)`.

    Args:
        initial: the rate at `t = 0`, > 0.
        epochs: length of the decay in epochs (usually the whole training), > 0.
        alpha: final rate as a fraction of `initial`, in [0, 1].
        warmup, warmup_start: see the module docstring (the decay starts after the warm-up).

    Example:
        >>> learning_rate(CosineDecay(initial=0.1, epochs=10), 5)  # half-way: half the rate
        0.05
    """

    kind: ClassVar[str] = "cosine"
    initial: float = attrs.field(converter=float, validator=_positive)
    epochs: float = attrs.field(converter=float, validator=_positive)
    alpha: float = attrs.field(default=0.0, converter=float, validator=_fraction)
    warmup: float = _warmup()
    warmup_start: float = _warmup_start()

    def _decayed(self, t: float) -> float:
        cosine = (1.0 + math.cos(math.pi * min(t, self.epochs) / self.epochs)) / 2.0
        return self.initial * (self.alpha + (1.0 - self.alpha) * cosine)


Schedule = Constant | InverseTimeDecay | ExponentialDecay | StepDecay | CosineDecay
"""Any schedule spec."""

SCHEDULES: dict[str, type[Schedule]] = {
    cls.kind: cls for cls in (Constant, InverseTimeDecay, ExponentialDecay, StepDecay, CosineDecay)
}
"""Schedule classes by their `kind` tag (for recipes and checkpoints)."""


def learning_rate(schedule: float | Schedule, t: float) -> float:
    """Return the learning rate of `schedule` at time `t` (in epochs, from 0).

    Args:
        schedule: a schedule spec, or a plain number for a constant rate.
        t: training progress in epochs, >= 0: the epoch index (0 for the first epoch) or the
            fractional progress `epoch + batch / num_batches`.

    Returns:
        The rate as a Python float (so float32 arithmetic stays float32).

    Raises:
        ValueError: `t` is negative or not finite.

    Example:
        >>> learning_rate(StepDecay(initial=0.1, every=2, warmup=1.0), 0.5)  # half-way warm-up
        0.05
    """
    NON_NEGATIVE.check("schedule time t (epochs)", t)
    if isinstance(schedule, int | float):
        return float(schedule)
    if t < schedule.warmup:
        start = schedule.warmup_start
        return schedule.initial * (start + (1.0 - start) * t / schedule.warmup)
    return float(schedule._decayed(t - schedule.warmup))
