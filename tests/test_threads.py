"""BLAS threads: free cores from the load average, the limit, `[train] threads` and --threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import threadpoolctl
from test_cli import runner, tiny

from purenet.cli.app import app
from purenet.core import threads as threads_module
from purenet.core.threads import available_cores, free_cores, limit_threads
from purenet.errors import RecipeError
from purenet.recipe.load import load_recipe

__all__ = ["tiny"]  # a fixture, used by name


def blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


@pytest.mark.parametrize(
    ("cores", "load", "free"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 9.5, 1), (8, 2.2, 6), (8, -1.0, 8)],
)
def test_free_cores_is_the_cores_minus_the_load_rounded_at_least_one(
    monkeypatch: pytest.MonkeyPatch, cores: int, load: float, free: int
) -> None:
    monkeypatch.setattr(threads_module, "available_cores", lambda: cores)
    assert free_cores(load) == free


def test_free_cores_reads_the_load_average_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads_module.os, "getloadavg", lambda: (1.0, 0.0, 0.0))
    assert free_cores() == max(1, available_cores() - 1)


def test_limit_threads_sets_the_blas_pool_inside_the_block_only() -> None:
    before = blas_threads()
    assert before, "numpy's BLAS is not visible to threadpoolctl"
    with limit_threads(1, explicit=True):
        assert blas_threads() == [1] * len(before)
        assert float((np.ones((8, 8)) @ np.ones((8, 8)))[0, 0]) == 8.0
    assert blas_threads() == before


def test_train_threads_is_checked_in_the_recipe(tiny: Path) -> None:
    assert load_recipe(tiny).train.threads is None
    assert load_recipe(tiny, overrides=["train.threads=3"]).train.threads == 3
    with pytest.raises(RecipeError, match=r"\$\.train\.threads: must be an integer >= 1, found 0"):
        load_recipe(tiny, overrides=["train.threads=0"])


def test_run_threads_is_recorded_and_may_change_on_resume(tiny: Path) -> None:
    out = tiny.parent / "run"
    first = runner.invoke(app, ["run", str(tiny), "-q", "--threads", "1"])
    assert first.exit_code == 0, first.output
    assert "(1 BLAS thread)" in first.stdout
    assert "threads = 1" in (out / "recipe.toml").read_text()
    again = runner.invoke(
        app, ["run", str(tiny), "-q", "--resume", "--threads", "2", "--set", "train.epochs=5"]
    )
    assert again.exit_code == 0, again.output
    assert "(2 BLAS threads)" in again.stdout
    bad = runner.invoke(app, ["run", str(tiny), "--threads", "0"])
    assert bad.exit_code == 2  # a usage error, like any out-of-range option
