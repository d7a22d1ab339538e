"""Sweeps: the [sweep] section, trials as ordinary runs, the local pool and Dask, resuming,
failures, results and figures. Tiny microchips trials (a few full-batch epochs each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.core.tree import tree_equal
from purenet.errors import RecipeError
from purenet.modelfile.io import load_model
from purenet.recipe.load import load_recipe, recipe_from_data
from purenet.recipe.sweep import expand_sweep, trial_id
from purenet.recipe.toml import to_toml
from purenet.run.runner import run_recipe
from purenet.run.sweep import SweepPlan, run_sweep
from purenet.run.sweep_files import RESULTS_CSV, RESULTS_JSONL, TRIAL_FILE, trial_dir

BASE: dict[str, Any] = {
    "data": {"train": "microchips:train", "valid_fraction": 0.2},
    "pipeline": {"steps": [{"kind": "standardize"}]},
    "model": {"sizes": [2, 8, 1], "hidden": "tanh", "output": "sigmoid"},
    "optimizer": {"kind": "sgd", "learning_rate": 0.5, "momentum": 0.9},
    "train": {"epochs": 20, "batch_size": "full", "checkpoint_every": 20},
}


def write_recipe(tmp_path: Path, sweep: dict[str, Any], **sections: Any) -> Path:
    data = {**BASE, **sections, "sweep": sweep, "output": {"dir": str(tmp_path / "sweep")}}
    path = tmp_path / "sweep.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    return path


FOUR = {
    "metric": "valid_accuracy",
    "seeds": [0, 1],
    "grid": {"optimizer.learning_rate": [0.5, 2.0]},
}


def finished(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Trial id -> its metrics without the timings (which differ between runs)."""
    skip = {"seconds", "wall_seconds", "worker"}
    return {r["trial"]: {k: v for k, v in r.items() if k not in skip} for r in rows}


# ---------------------------------------------------------------------------------------------
# The [sweep] section and its trials


def test_grid_random_and_seeds_expand_in_order_and_nested_tables_read_as_dotted_keys(
    tmp_path: Path,
) -> None:
    sweep = {
        "metric": "valid_loss",
        "seeds": [3, 4],
        "samples": 2,
        "grid": {"model": {"sizes": [[2, 8, 1], [2, 16, 1]]}},
        "random": {"train.l2": {"kind": "log_uniform", "low": 1e-4, "high": 1e-2}},
    }
    recipe = load_recipe(write_recipe(tmp_path, sweep))
    assert recipe.sweep is not None and recipe.sweep.goal == "min"
    trials = expand_sweep(recipe)
    assert len(trials) == 2 * 2 * 2
    assert [t.values["model.sizes"] for t in trials] == [[2, 8, 1]] * 4 + [[2, 16, 1]] * 4
    assert [t.values["train.seed"] for t in trials] == [3, 4] * 4
    l2 = [t.values["train.l2"] for t in trials]
    assert l2[0] == l2[1] != l2[2] == l2[3] and l2[:4] == l2[4:]
    assert all(1e-4 <= v < 1e-2 for v in l2)
    # Each trial is an ordinary recipe with its values set, and no [sweep].
    for trial in trials:
        again = recipe_from_data(tomllib.loads(trial.toml))
        assert again == trial.recipe and again.sweep is None
        assert list(again.model.sizes) == trial.values["model.sizes"]
        assert again.train.l2 == trial.values["train.l2"]
        assert again.train.seed == trial.values["train.seed"]
        assert trial.id == trial_id(tomllib.loads(trial.toml))
    assert len({t.id for t in trials}) == len(trials)


def test_the_trial_id_is_a_hash_of_the_recipe_data_not_of_its_key_order() -> None:
    assert trial_id({"a": 1, "b": [1, 2]}) == trial_id({"b": [1, 2], "a": 1})
    assert trial_id({"a": 1}) != trial_id({"a": 1.5})
    assert len(trial_id({})) == 12


def test_a_budget_keeps_a_seeded_subsample_of_whole_configurations(tmp_path: Path) -> None:
    sweep = {**FOUR, "grid": {"optimizer.learning_rate": [0.1, 0.2, 0.4, 0.8, 1.6]}, "budget": 6}
    trials = expand_sweep(load_recipe(write_recipe(tmp_path, sweep)))
    assert len(trials) == 6
    rates = [t.values["optimizer.learning_rate"] for t in trials]
    assert rates[0::2] == rates[1::2] and len(set(rates)) == 3
    assert trials == expand_sweep(load_recipe(write_recipe(tmp_path, sweep)))


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (
            {"grid": {"optimizer.learnig_rate": [0.1]}},
            "$.sweep.grid.optimizer.learnig_rate = 0.1: $.optimizer.learnig_rate: unknown key; "
            "did you mean 'learning_rate'?",
        ),
        (
            {"grid": {"optimzer.learning_rate": [0.1]}},
            "$.sweep.grid.optimzer.learning_rate = 0.1: $.optimzer: unknown key",
        ),
        (
            {"random": {"train.epoch": {"kind": "int_uniform", "low": 1, "high": 3}}, "samples": 1},
            "$.sweep.random.train.epoch = 1: $.train.epoch: unknown key",
        ),
        (
            {"grid": {"optimizer.learning_rate": [0.1, -1.0]}},
            "$.sweep.grid.optimizer.learning_rate = -1.0: $.optimizer.learning_rate: ",
        ),
        (
            {"grid": {"optimizer.learning_rate": 0.1}},
            "$.sweep.grid.optimizer.learning_rate: expected an array of values, found 0.1",
        ),
        ({"grid": {"output.dir": ["a", "b"]}}, "$.sweep.grid.output.dir: cannot be swept"),
        ({"grid": {"x": [1]}, "metric": "valid_acc"}, "$.sweep.metric: unknown metric"),
        ({"grid": {"x": [1]}, "metrc": "valid_loss"}, "$.sweep.metrc: unknown key"),
        ({"seeds": [0]}, "$.sweep.grid: nothing to sweep"),
        (
            {"random": {"train.l2": {"kind": "loguniform", "low": 0.1, "high": 1}}, "samples": 1},
            "$.sweep.random.train.l2.kind: unknown kind 'loguniform'",
        ),
        (
            {"grid": {"optimizer.learning_rate": [0.1]}, "metric": "test_accuracy"},
            "$.sweep.metric: test_accuracy needs a [data] test set",
        ),
    ],
)
def test_a_bad_sweep_is_refused_before_any_trial_starts_naming_the_key(
    tmp_path: Path, sweep: dict[str, Any], message: str
) -> None:
    path = write_recipe(tmp_path, {"metric": "valid_accuracy", **sweep})
    with pytest.raises(RecipeError) as caught:
        run_sweep(load_recipe(path), workers=1)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert not (tmp_path / "sweep").exists()


def test_the_cli_refuses_a_misspelled_swept_key_with_one_line(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, {**FOUR, "grid": {"optimizer.learnig_rate": [0.1]}})
    result = CliRunner().invoke(app, ["sweep", str(path)])
    assert result.exit_code == 1
    assert "$.sweep.grid.optimizer.learnig_rate" in result.output
    assert "did you mean 'learning_rate'?" in result.output
    assert not (tmp_path / "sweep").exists()


# ---------------------------------------------------------------------------------------------
# Running: local pool, Dask, ordinary runs


def test_the_local_pool_and_a_dask_local_cluster_give_identical_trials(
    tmp_path: Path, data_dir: Path
) -> None:
    pytest.importorskip("distributed")
    recipe = load_recipe(write_recipe(tmp_path, FOUR))
    pool = run_sweep(recipe, out_dir=tmp_path / "pool", workers=2, threads=1, data_dir=data_dir)
    dask = run_sweep(
        recipe,
        out_dir=tmp_path / "dask",
        workers=2,
        threads=1,
        scheduler="local-cluster",
        data_dir=data_dir,
    )
    assert pool.ran == dask.ran == 4 and len(pool.rows) == 4
    assert all(r["status"] == "ok" for r in pool.rows)
    assert finished(list(pool.rows)) == finished(list(dask.rows))
    # Two processes did the work in each, and the weights are the same bits.
    assert len({r["worker"] for r in pool.rows}) == 2 and len({r["worker"] for r in dask.rows}) == 2
    for row in pool.rows:
        a = load_model(trial_dir(tmp_path / "pool", row["trial"]) / "model.json")
        b = load_model(trial_dir(tmp_path / "dask", row["trial"]) / "model.json")
        assert tree_equal(a.params, b.params)
    # Each trial is the ordinary run of its recipe: the same metrics as `purenet run`.
    trial = expand_sweep(recipe)[3]
    alone = run_recipe(trial.recipe, out_dir=tmp_path / "alone", data_dir=data_dir)
    row = next(r for r in pool.rows if r["trial"] == trial.id)
    assert {k: row[k] for k in alone.metrics if k != "seconds"} == {
        k: v for k, v in alone.metrics.items() if k != "seconds"
    }


def test_results_table_best_copy_and_figures(tmp_path: Path, data_dir: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path, FOUR))
    out = tmp_path / "sweep"
    result = run_sweep(recipe, workers=2, data_dir=data_dir)
    lines = [json.loads(line) for line in (out / RESULTS_JSONL).read_text().splitlines()]
    assert [r["index"] for r in lines] == [0, 1, 2, 3]
    csv_lines = (out / RESULTS_CSV).read_text().splitlines()
    assert csv_lines[0].startswith("trial,index,status,optimizer.learning_rate,train.seed,")
    assert len(csv_lines) == 5
    accuracies = [r["valid_accuracy"] for r in lines]
    assert result.best is not None and result.best["valid_accuracy"] == max(accuracies)
    best_model = (out / "best" / "model.json").read_bytes()
    assert best_model == (trial_dir(out, result.best["trial"]) / "model.json").read_bytes()
    written = CliRunner().invoke(app, ["plot", str(out)])
    assert written.exit_code == 0, written.output
    assert (out / "sweep.png").is_file() and (out / "top.png").is_file()


def test_a_diverging_trial_and_a_failing_trial_are_recorded_and_the_others_finish(
    tmp_path: Path, data_dir: Path
) -> None:
    missing = str(tmp_path / "nowhere.csv")
    sweep = {
        "metric": "valid_accuracy",
        "grid": {
            "data.train": ["microchips:train", {"kind": "csv", "path": missing}],
            "optimizer.learning_rate": [0.5, 1e30],
        },
    }
    model = {**BASE["model"], "hidden": "relu"}
    recipe = load_recipe(write_recipe(tmp_path, sweep, model=model))
    result = run_sweep(recipe, workers=2, data_dir=data_dir)
    status = {
        (
            r["data.train"] if isinstance(r["data.train"], str) else "csv",
            r["optimizer.learning_rate"],
        ): r
        for r in result.rows
    }
    assert status["microchips:train", 0.5]["status"] == "ok"
    assert status["microchips:train", 1e30]["status"] == "diverged"
    assert "diverged" in status["microchips:train", 1e30]["error"]
    for rate in (0.5, 1e30):
        assert status["csv", rate]["status"] == "failed"
        assert missing in status["csv", rate]["error"]
    assert (
        result.best is not None and result.best["trial"] == status["microchips:train", 0.5]["trial"]
    )
    # A re-run retries the failed trials only: a divergence is the learning rate's result.
    plans: list[SweepPlan] = []
    again = run_sweep(recipe, workers=2, data_dir=data_dir, on_start=plans.append)
    assert {t.values["data.train"] == "microchips:train" for t in plans[0].todo} == {False}
    assert again.ran == 2 and again.skipped == 2


# ---------------------------------------------------------------------------------------------
# Resuming


def test_a_killed_sweep_resumes_with_only_the_missing_trials(
    tmp_path: Path, data_dir: Path
) -> None:
    sweep = {**FOUR, "grid": {"optimizer.learning_rate": [0.25, 0.5, 1.0, 2.0]}}
    path = write_recipe(tmp_path, sweep, train={**BASE["train"], "epochs": 150})
    out = tmp_path / "sweep"
    trials = expand_sweep(load_recipe(path))
    done_files = [trial_dir(out, t.id) / TRIAL_FILE for t in trials]
    command = [sys.executable, "-m", "purenet", "sweep", str(path), "--workers", "1", "-q"]
    command += ["--data-dir", str(data_dir)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 120
        while not any(f.is_file() for f in done_files) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    before = {f: f.read_bytes() for f in done_files if f.is_file()}
    assert 1 <= len(before) < len(trials)
    # A trial cut short while its files were being written: files but no record.
    half = next(t for t in trials if not (trial_dir(out, t.id) / TRIAL_FILE).is_file())
    trial_dir(out, half.id).mkdir(parents=True, exist_ok=True)
    (trial_dir(out, half.id) / "model.json").write_text("{half a file")
    plans: list[SweepPlan] = []
    result = run_sweep(load_recipe(path), workers=2, data_dir=data_dir, on_start=plans.append)
    assert {t.id for t in plans[0].todo} == {
        t.id for t, f in zip(trials, done_files, strict=True) if f not in before
    }
    assert half in plans[0].todo
    assert result.ran == len(trials) - len(before) and result.skipped == len(before)
    assert all(f.read_bytes() == content for f, content in before.items())
    assert all(r["status"] == "ok" for r in result.rows) and len(result.rows) == len(trials)
    assert load_model(trial_dir(out, half.id) / "model.json").arch.sizes == (2, 8, 1)
    # And once everything is finished, nothing runs.
    assert run_sweep(load_recipe(path), workers=2, data_dir=data_dir).ran == 0


def test_bundled_sweep_recipes_expand() -> None:
    root = Path(__file__).parent.parent / "recipes"
    assert len(expand_sweep(load_recipe(root / "microchips-sweep.toml"))) == 18
    mnist = expand_sweep(load_recipe(root / "mnist-sweep.toml"))
    assert len(mnist) == 12
    assert np.unique([t.values["optimizer.learning_rate"] for t in mnist]).size == 3


def test_configurations_average_their_seeds_and_rank_by_the_mean() -> None:
    from purenet.run.sweep_files import by_configuration

    rows = [
        {"trial": t, "index": i, "status": s, "lr": lr, "train.seed": seed, "valid_accuracy": v}
        for i, (t, s, lr, seed, v) in enumerate(
            [
                ("a", "ok", 0.1, 0, 0.50),
                ("b", "ok", 0.1, 1, 0.70),
                ("c", "ok", 1.0, 0, 0.65),
                ("d", "ok", 1.0, 1, 0.65),
                ("e", "diverged", 9.0, 0, None),
            ]
        )
    ]
    configs = by_configuration(rows, "valid_accuracy", "max")
    # 1.0: mean 0.65, std 0; 0.1: mean 0.6, std 0.1 (population); the diverged one is left out.
    assert [c["lr"] for c in configs] == [1.0, 0.1]
    assert configs[0]["mean"] == pytest.approx(0.65) and configs[0]["std"] == pytest.approx(0.0)
    assert configs[1]["mean"] == pytest.approx(0.6) and configs[1]["std"] == pytest.approx(0.1)
    assert [c["n"] for c in configs] == [2, 2] and "train.seed" not in configs[0]


@pytest.mark.parametrize("scheduler", [None, "local-cluster"])
def test_worker_processes_killed_mid_sweep_are_replaced_and_their_trials_retried(
    tmp_path: Path, data_dir: Path, scheduler: str | None
) -> None:
    import multiprocessing

    if scheduler is not None:
        pytest.importorskip("distributed")
    path = write_recipe(tmp_path, FOUR, train={**BASE["train"], "epochs": 150})
    killed: list[int] = []

    def kill_the_workers(row: dict[str, Any]) -> None:
        # After the first trial comes back, the worker processes die (the other one mid-trial):
        # the pool's, or the Dask workers under their nannies (which start new ones).
        if not killed:
            for child in multiprocessing.active_children():
                killed.append(child.pid or 0)
                os.kill(child.pid or 0, signal.SIGKILL)

    result = run_sweep(
        load_recipe(path),
        workers=2,
        scheduler=scheduler,
        data_dir=data_dir,
        on_trial=kill_the_workers,
    )
    assert killed
    assert len(result.rows) == 4 and all(r["status"] == "ok" for r in result.rows)
    # New processes did the rest.
    assert {int(r["worker"].rpartition(":")[2]) for r in result.rows} - set(killed)
    for row in result.rows:
        record = json.loads((trial_dir(tmp_path / "sweep", row["trial"]) / TRIAL_FILE).read_text())
        assert record["status"] == "ok" and record["metrics"] == {
            k: row[k] for k in record["metrics"]
        }


def test_an_extended_grid_runs_only_its_new_trials(tmp_path: Path, data_dir: Path) -> None:
    small = {**FOUR, "seeds": [0], "grid": {"optimizer.learning_rate": [2.0]}}
    first = run_sweep(load_recipe(write_recipe(tmp_path, small)), workers=1, data_dir=data_dir)
    wider = {**FOUR, "seeds": [0], "grid": {"optimizer.learning_rate": [0.5, 2.0]}}
    second = run_sweep(load_recipe(write_recipe(tmp_path, wider)), workers=1, data_dir=data_dir)
    assert (first.ran, second.ran, second.skipped) == (1, 1, 1)
    # The reused trial takes its place in the new sweep.
    assert [(r["index"], r["optimizer.learning_rate"]) for r in second.rows] == [(0, 0.5), (1, 2.0)]
    assert second.rows[1]["trial"] == first.rows[0]["trial"]
    assert finished([second.rows[1]]) == finished([{**first.rows[0], "index": 1}])
