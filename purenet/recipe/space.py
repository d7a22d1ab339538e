"""The `[sweep]` section of a recipe: which keys vary and how, the repeats, the ranking metric and
the trial budget.

A swept key is a dotted path into the recipe, as `--set` takes it (`optimizer.learning_rate`,
`model.sizes`, `pipeline.augment.0.max_degrees`). TOML lets a path be written quoted
(`"optimizer.learning_rate" = [...]`) or as nested tables (`[sweep.grid.optimizer]` then
`learning_rate = [...]`); both read the same. This module knows nothing of the other sections:
whether a path names a real key is checked by `purenet.recipe.sweep.expand_sweep`, which
structures every trial as an ordinary recipe before any trial runs.

Example (TOML):

    [sweep]
    metric = "valid_accuracy"          # ranked by; direction "max" inferred from the name
    seeds = [0, 1]                     # every configuration runs once per seed
    budget = 16                        # at most 16 trials (a larger space is subsampled)
    samples = 4                        # random draws, each combined with every grid point
    grid = {"model.sizes" = [[2, 10, 1], [2, 30, 1]]}
    random = {"optimizer.learning_rate" = {kind = "log_uniform", low = 0.1, high = 3.0}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import numpy as np

from purenet.core.checks import FieldError

SWEEP_METRICS = (
    "valid_accuracy",
    "valid_loss",
    "test_accuracy",
    "test_loss",
    "train_accuracy",
    "train_loss",
)
"""The final metrics of a run (`RunResult.metrics`) that a sweep can rank by."""

DIRECTIONS = ("max", "min")


def _error(field: str, problem: str) -> FieldError:
    # The recipe's error walker reads the path (`$.sweep.grid.optimizer.learning_rate`) and
    # the problem from the error, never its text.
    return FieldError(field, problem, text=f"SweepSpec.{field}: {problem}")


# ---------------------------------------------------------------------------------------------
# Distributions of random search


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@attrs.frozen
class Uniform:
    """A float drawn uniformly from [low, high)."""

    kind: ClassVar[str] = "uniform"
    low: float
    high: float

    def check(self) -> str | None:
        """None when valid, else the problem."""
        if not (_finite(self.low) and _finite(self.high) and self.low < self.high):
            return f"expected finite numbers low < high, found {self.low!r}, {self.high!r}"
        return None

    def draw(self, rng: np.random.Generator) -> Any:
        """One value."""
        return float(rng.uniform(self.low, self.high))

    def extremes(self) -> tuple[Any, ...]:
        """Values at the ends of the range, checked in the recipe before any trial runs."""
        return (float(self.low), float(self.high))


@attrs.frozen
class LogUniform(Uniform):
    """A float whose logarithm is uniform on [log low, log high): learning rates, L2."""

    kind: ClassVar[str] = "log_uniform"

    def check(self) -> str | None:
        """None when valid, else the problem."""
        problem = super().check()
        if problem is None and self.low <= 0:
            return f"expected 0 < low < high, found low = {self.low!r}"
        return problem

    def draw(self, rng: np.random.Generator) -> Any:
        """One value."""
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@attrs.frozen
class IntUniform:
    """An integer drawn uniformly from low..high, both included: widths, batch sizes."""

    kind: ClassVar[str] = "int_uniform"
    low: int
    high: int

    def check(self) -> str | None:
        """None when valid, else the problem."""
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high))
        if not (ints and self.low <= self.high):
            return f"expected integers low <= high, found {self.low!r}, {self.high!r}"
        return None

    def draw(self, rng: np.random.Generator) -> Any:
        """One value."""
        return int(rng.integers(self.low, self.high, endpoint=True))

    def extremes(self) -> tuple[Any, ...]:
        """Values at the ends of the range."""
        return (self.low, self.high)


@attrs.frozen
class Choice:
    """One of `values`, each equally likely (any TOML values: numbers, arrays, tables)."""

    kind: ClassVar[str] = "choice"
    values: tuple[Any, ...]

    def check(self) -> str | None:
        """None when valid, else the problem."""
        return _check_values(self.values)

    def draw(self, rng: np.random.Generator) -> Any:
        """One value."""
        return self.values[int(rng.integers(len(self.values)))]

    def extremes(self) -> tuple[Any, ...]:
        """Every value."""
        return self.values


Distribution = Uniform | LogUniform | IntUniform | Choice
"""How random search draws one swept key."""

DISTRIBUTIONS: dict[str, type[Distribution]] = {
    cls.kind: cls for cls in (Uniform, LogUniform, IntUniform, Choice)
}


def _check_values(values: Any) -> str | None:
    if not isinstance(values, list | tuple) or not values:
        return f"expected a non-empty array of values, found {values!r}"
    texts = [json.dumps(v, sort_keys=True) for v in values]
    if len(set(texts)) != len(texts):
        return f"duplicate values in {list(values)!r}"
    return None


# ---------------------------------------------------------------------------------------------
# Swept keys: nested tables or dotted keys, flattened to dotted paths


def _flatten(
    table: Any, field: str, is_leaf: Callable[[Any], bool], prefix: str = ""
) -> dict[str, Any]:
    """Nested tables of swept keys as `{dotted path: leaf}`; the docstring of `is_leaf` names
    a leaf in messages."""
    if not isinstance(table, dict):
        raise _error(field, f"expected a table of swept keys, found {table!r}")
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if is_leaf(value):
            out[path] = value
        elif isinstance(value, dict) and value:
            out.update(_flatten(value, field, is_leaf, f"{path}."))
        else:
            raise _error(f"{field}.{path}", f"expected {is_leaf.__doc__}, found {value!r}")
    return out


def _check_path(path: str, field: str) -> None:
    parts = path.split(".")
    if any(not part for part in parts):
        raise _error(field, f"{path!r}: expected a dotted path such as optimizer.learning_rate")
    if parts[0] == "sweep" or path == "output.dir":
        raise _error(
            f"{field}.{path}", "cannot be swept (each trial's folder is chosen by the sweep)"
        )


def _is_grid_leaf(value: Any) -> bool:
    """an array of values"""
    return isinstance(value, list | tuple)


def _grid(table: Any) -> dict[str, tuple[Any, ...]]:
    flat = _flatten(table, "grid", _is_grid_leaf)
    for path, values in flat.items():
        _check_path(path, "grid")
        problem = _check_values(values)
        if problem is not None:
            raise _error(f"grid.{path}", problem)
    return {path: tuple(values) for path, values in flat.items()}


def _is_random_leaf(value: Any) -> bool:
    """a table with a 'kind' (uniform, log_uniform, int_uniform or choice)"""
    return isinstance(value, Distribution) or (isinstance(value, dict) and "kind" in value)


def _distribution(path: str, value: Any) -> Distribution:
    if isinstance(value, Distribution):
        return value
    kind = value["kind"]
    if kind not in DISTRIBUTIONS:
        raise _error(
            f"random.{path}.kind", f"unknown kind {kind!r}; supported: {', '.join(DISTRIBUTIONS)}"
        )
    cls = DISTRIBUTIONS[kind]
    names = [f.name for f in attrs.fields(cls)]
    rest = {k: v for k, v in value.items() if k != "kind"}
    if sorted(rest) != sorted(names):
        raise _error(
            f"random.{path}",
            f"a {kind} distribution has keys kind, {', '.join(names)}; "
            f"found {', '.join(sorted(value))}",
        )
    if kind == "choice":
        rest["values"] = tuple(rest["values"]) if isinstance(rest["values"], list) else None
    distribution = cls(**rest)
    problem = distribution.check()
    if problem is not None:
        raise _error(f"random.{path}", problem)
    return distribution


def _random(table: Any) -> dict[str, Distribution]:
    flat = _flatten(table, "random", _is_random_leaf)
    for path in flat:
        _check_path(path, "random")
    return {path: _distribution(path, value) for path, value in flat.items()}


# ---------------------------------------------------------------------------------------------
# The section


def _check_metric(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in SWEEP_METRICS:
        raise _error("metric", f"unknown metric {value!r}; supported: {', '.join(SWEEP_METRICS)}")


def _check_direction(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and value not in DIRECTIONS:
        raise _error("direction", f"expected 'max' or 'min', found {value!r}")


@attrs.frozen
class SweepSpec:
    """`[sweep]`: many trainings from one recipe, each an ordinary run.

    The configurations are the grid's cartesian product (keys in order) combined with each of
    `samples` random draws; every configuration runs once per seed of `seeds`. A `budget`
    smaller than that keeps `budget // len(seeds)` configurations, drawn without replacement.

    Attributes:
        metric: the final metric the trials are ranked by, one of `SWEEP_METRICS`.
        direction: `max` or `min`; absent: `max` for accuracies, `min` for losses.
        grid: swept path -> the values to try (a non-empty array, no duplicates).
        random: swept path -> a distribution (`uniform`, `log_uniform`, `int_uniform`,
            `choice`), drawn `samples` times.
        samples: random draws; required (>= 1) with `random`.
        seeds: values of `train.seed`, one run of every configuration each; absent: the
            recipe's seed.
        budget: at most this many trials; absent: all of them.
        seed: seeds the random draws and the budget's subsample.
    """

    metric: str = attrs.field(validator=_check_metric)
    direction: str | None = attrs.field(default=None, validator=_check_direction)
    grid: dict[str, Any] = attrs.field(factory=dict, converter=_grid)
    random: dict[str, Any] = attrs.field(factory=dict, converter=_random)
    samples: int = 0
    seeds: tuple[int, ...] = ()
    budget: int | None = None
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.samples < 0 or (self.random and self.samples < 1):
            raise _error("samples", f"random search needs samples >= 1, found {self.samples}")
        if self.samples and not self.random:
            raise _error("samples", "samples without a [sweep.random] table draws nothing")
        if len(set(self.seeds)) != len(self.seeds):
            raise _error("seeds", f"duplicate seeds in {list(self.seeds)}")
        if self.seeds and "train.seed" in {*self.grid, *self.random}:
            raise _error("seeds", "give seeds or sweep train.seed, not both")
        if not (self.grid or self.random or len(self.seeds) > 1):
            raise _error("grid", "nothing to sweep: give grid, random or several seeds")
        if self.budget is not None and self.budget < max(1, len(self.seeds)):
            raise _error(
                "budget",
                f"expected at least one trial per seed ({max(1, len(self.seeds))}), "
                f"found {self.budget}",
            )

    @property
    def goal(self) -> str:
        """`max` or `min`: `direction`, else inferred from the metric's name."""
        if self.direction is not None:
            return self.direction
        return "max" if self.metric.endswith("accuracy") else "min"
