"""Turning a recipe with a `[sweep]` section into its trials, each an ordinary recipe.

Every trial is the recipe without `[sweep]` and without `output.dir`, with its swept values set
at their paths (as `--set` would) and structured like any recipe file, so a misspelled swept key
or a value a key does not accept is refused before any trial runs, naming `$.sweep...`. A
trial's identity is a hash of its resolved recipe: the same settings are the same trial in any
sweep, which is what lets a re-run skip the trials it has finished.

Example:
    >>> from purenet.recipe import load_recipe
    >>> trials = expand_sweep(load_recipe("recipes/microchips-sweep.toml"))  # doctest: +SKIP
    >>> trials[0].values  # doctest: +SKIP
    {'optimizer.learning_rate': 0.5, 'model.sizes': [2, 10, 1], 'train.seed': 0}
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import attrs
import numpy as np

from purenet.errors import RecipeError
from purenet.recipe.load import apply_overrides, dump_recipe, recipe_from_data
from purenet.recipe.schema import Recipe
from purenet.recipe.space import SweepSpec
from purenet.recipe.toml import to_toml


@attrs.frozen
class Trial:
    """One run of a sweep.

    Attributes:
        id: the first 12 hex digits of the SHA-256 of the trial's recipe data (canonical JSON).
        index: its place in the sweep, from 0.
        values: swept path -> value (plain data), `train.seed` included when `seeds` is given.
        recipe: the trial's ordinary recipe (no `[sweep]`, no `output.dir`).
        toml: that recipe as TOML text, what travels to the worker.
    """

    id: str
    index: int
    values: dict[str, Any]
    recipe: Recipe = attrs.field(repr=False)
    toml: str = attrs.field(repr=False)


def trial_id(data: dict[str, Any]) -> str:
    """The identity of a trial: a hash of its recipe data, independent of key order.

    Example:
        >>> a, b = {"train": {"epochs": 2, "seed": 0}}, {"train": {"seed": 0, "epochs": 2}}
        >>> trial_id(a) == trial_id(b)
        True
    """
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _value_text(value: Any) -> str:
    # A TOML value as `--set` reads it back: the same number, string, array or table (inside
    # a section, where a table is written inline).
    return to_toml({"s": {"v": value}}).partition("=")[2].strip()


def _with_values(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return apply_overrides(base, [f"{path}={_value_text(v)}" for path, v in values.items()])


def _structure(data: dict[str, Any], where: str) -> Recipe:
    return recipe_from_data(data, source=where)


def _check_each_key(spec: SweepSpec, base: dict[str, Any], source: str) -> None:
    """Structure the base recipe with each swept key alone, at each value (grid) or at the ends
    of its range (random), so a fault names the one key at fault."""
    candidates = [("grid", path, values) for path, values in spec.grid.items()]
    candidates += [("random", path, d.extremes()) for path, d in spec.random.items()]
    candidates += [("seeds", "train.seed", spec.seeds)] if spec.seeds else []
    for table, path, values in candidates:
        where = f"$.sweep.{table}" if table == "seeds" else f"$.sweep.{table}.{path}"
        for value in values:
            try:
                data = _with_values(base, {path: value})
            except RecipeError as exc:
                raise RecipeError(f"{source}: {where}: {exc}") from None
            _structure(data, f"{source}: {where} = {_value_text(value)}")


def _configurations(spec: SweepSpec) -> list[dict[str, Any]]:
    grid = [
        dict(zip(spec.grid, point, strict=True)) for point in itertools.product(*spec.grid.values())
    ]
    if not spec.random:
        return grid
    rng = np.random.default_rng(spec.seed)
    draws = [{path: d.draw(rng) for path, d in spec.random.items()} for _ in range(spec.samples)]
    return [{**point, **draw} for point in grid for draw in draws]


def _within_budget(spec: SweepSpec, configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = spec.budget // max(1, len(spec.seeds)) if spec.budget is not None else len(configs)
    if keep >= len(configs):
        return configs
    rng = np.random.default_rng([spec.seed, 1])
    chosen = np.sort(rng.choice(len(configs), size=keep, replace=False))
    return [configs[i] for i in chosen]


def sweep_spec(recipe: Recipe) -> SweepSpec:
    """The recipe's `[sweep]` section.

    Raises:
        RecipeError: the recipe has none.
    """
    if recipe.sweep is None:
        source = recipe.source or "recipe"
        raise RecipeError(f"{source}: $.sweep: missing; a sweep recipe needs a [sweep] section")
    return recipe.sweep


def expand_sweep(recipe: Recipe) -> tuple[Trial, ...]:
    """The trials of a recipe's `[sweep]` section, every one checked as a recipe.

    Order: grid points (keys in order, last key fastest), each with every random draw, each
    with every seed; a `budget` keeps a seeded subsample of whole configurations (all seeds of
    each). Trials that resolve to the same recipe (a repeated random choice) are kept once.

    Args:
        recipe: a recipe with a `sweep` section (from `load_recipe`: data paths resolved).

    Returns:
        The trials, in sweep order.

    Raises:
        RecipeError: no `[sweep]` section; a swept key that is not a recipe key or a value it
            refuses (`"x.toml: $.sweep.grid.optimizer.learnig_rate = 0.1: $.optimizer.
            learnig_rate: unknown key; did you mean 'learning_rate'?"`); a metric the trials
            cannot report (`valid_*` without `valid_fraction`, `test_*` without a test set).
    """
    source = recipe.source or "recipe"
    spec = sweep_spec(recipe)
    base = dump_recipe(attrs.evolve(recipe, sweep=None))
    base.get("output", {}).pop("dir", None)
    _check_each_key(spec, base, source)
    seeds = [{"train.seed": seed} for seed in spec.seeds] or [{}]
    trials: dict[str, Trial] = {}
    for config in _within_budget(spec, _configurations(spec)):
        for seed in seeds:
            values = {**config, **seed}
            where = f"{source}: $.sweep with " + ", ".join(
                f"{path} = {_value_text(v)}" for path, v in values.items()
            )
            trial_recipe = _structure(_with_values(base, values), where)
            _check_metric(spec, trial_recipe, where)
            data = dump_recipe(trial_recipe)
            key = trial_id(data)
            if key not in trials:
                trials[key] = Trial(key, len(trials), values, trial_recipe, to_toml(data))
    return tuple(trials.values())


def _check_metric(spec: SweepSpec, trial: Recipe, where: str) -> None:
    split = spec.metric.partition("_")[0]
    if split == "valid" and trial.data.valid_fraction <= 0:
        raise RecipeError(f"{where}: $.sweep.metric: {spec.metric} needs [data] valid_fraction > 0")
    if split == "test" and trial.data.test is None:
        raise RecipeError(f"{where}: $.sweep.metric: {spec.metric} needs a [data] test set")
