"""Model and training options in recipes, through `purenet run` on tiny synthetic IDX data:
what reaches the model file and the run folder, and the refusals with their key paths."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from test_runner import blobs, tiny_recipe, write_idx
from typer.testing import CliRunner

import purenet as pn
from purenet import optim
from purenet.cli.app import app
from purenet.modelfile.io import load_model
from purenet.recipe.load import load_recipe
from purenet.recipe.toml import to_toml
from purenet.run.prepare import prepare_data
from purenet.run.runner import run_recipe
from purenet.training.rules import Plateau, ReduceOnPlateau, next_plateau

runner = CliRunner()

VALID_SOURCE = {"kind": "idx", "images": "data/valid-images.gz", "labels": "data/valid-labels.gz"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Synthetic train, valid and test IDX files in tmp_path/data."""
    data = tmp_path / "data"
    data.mkdir()
    for name, (n, seed) in {"train": (120, 0), "test": (30, 1), "valid": (40, 2)}.items():
        x, y = blobs(n, seed)
        write_idx(data / f"{name}-images.gz", x)
        write_idx(data / f"{name}-labels.gz", y)
    return tmp_path


def recipe_file(folder: Path, **changes: Any) -> Path:
    """`tiny_recipe` with `section__key` changes; None removes the key."""
    path = tiny_recipe(folder)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        section, name = key.split("__")
        if value is None:
            data[section].pop(name, None)
        else:
            data[section][name] = value
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def run_cli(recipe: Path, *extra: str) -> Any:
    result = runner.invoke(app, ["run", str(recipe), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return result


def error_of(recipe: Path) -> str:
    result = runner.invoke(app, ["run", str(recipe), "--quiet"])
    assert result.exit_code == 1, result.output
    return str(result.stderr.strip())


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_model_options_reach_the_model_file_and_train_as_the_library_does(folder: Path) -> None:
    model_options = {
        "sizes": [64, 16, 8, 3],
        "hidden": ["relu", "tanh"],
        "bias": [True, False, True],
        "dropout": [0.2, 0.0],
        "input_dropout": 0.1,
        "init": {"kind": "normal", "std": 0.5},
    }
    path = recipe_file(folder, **{f"model__{key}": value for key, value in model_options.items()})
    run_cli(path)
    model = load_model(folder / "run" / "model.json")
    arch = model.arch
    assert arch.hidden == ("relu", "tanh") and arch.bias == (True, False, True)
    assert arch.dropout == (0.2, 0.0) and arch.input_dropout == 0.1
    assert model.params[1].b.shape == (0,)
    # The library with the same settings: Normal(0.5) init, dropout seeded per batch.
    recipe = load_recipe(path)
    prepared = prepare_data(recipe)
    params = pn.init(arch, seed=3, scheme=pn.Normal(0.5))
    result = pn.train(arch, params, optim.SGD(0.5, momentum=0.5), prepared.train, epochs=4,
                      batch_size=16, seed=3, valid=prepared.valid)  # fmt: skip
    assert pn.tree_equal(model.params, result.params)


def test_training_options_through_purenet_run(folder: Path) -> None:
    path = tiny_recipe(
        folder,
        data__valid_fraction=0.0,
        data__valid=VALID_SOURCE,
        train__epochs=6,
        train__clip_norm=1.0,
        train__class_weights={"a": 2.0, "2": 0.5},
        train__reduce_on_plateau={"monitor": "valid_loss", "factor": 0.5, "patience": 1},
        train__keep_best=True,
        train__test_curve=True,
    )
    run_cli(path)
    out = folder / "run"
    rows = lines(out / "metrics.jsonl")
    assert all(row["test_loss"] is not None and row["test_accuracy"] is not None for row in rows)
    # The plateau rule on the run's own valid_loss gives the rates the run used.
    spec, state, rates = ReduceOnPlateau("valid_loss", 0.5, 1), Plateau(), []
    for row in rows:
        rates.append(0.5 * state.scale)
        state = next_plateau(spec, state, row["valid_loss"], rates[-1])
    assert [row["learning_rate"] for row in rows] == pytest.approx(rates, rel=1e-12)
    # model.json is the best epoch by valid_loss; model-last.json the last one.
    recipe = load_recipe(path)
    valid = prepare_data(recipe).valid
    assert valid is not None and len(valid) == 40
    best, last = load_model(out / "model.json"), load_model(out / "model-last.json")
    losses = [row["valid_loss"] for row in rows]
    assert pn.score(best.arch, best.params, valid.x, valid.y).loss == min(losses)
    assert pn.score(last.arch, last.params, valid.x, valid.y).loss == losses[-1]
    assert best.meta.metrics["best_epoch"] == 1 + losses.index(min(losses))
    assert best.meta.metrics["valid_loss"] == min(losses)
    assert last.meta.metrics["valid_loss"] == losses[-1]


def test_weighted_clipped_plateau_run_resumes_bit_identically(folder: Path) -> None:
    options: dict[str, Any] = {
        "train__clip_norm": 0.5,
        "train__class_weights": {"0": 3.0},
        "train__reduce_on_plateau": {"monitor": "train_loss", "factor": 0.5, "patience": 1,
                                     "min_delta": 10.0},
        "train__keep_best": "valid_accuracy",
        "train__checkpoint_every": 2,
    }
    whole = run_recipe(load_recipe(recipe_file(folder, train__epochs=5, **options)))
    cut_recipe = load_recipe(recipe_file(folder, train__epochs=2, **options))
    run_recipe(cut_recipe, out_dir=folder / "cut")
    resumed = run_recipe(load_recipe(recipe_file(folder, train__epochs=5, **options)),
                         out_dir=folder / "cut", resume=True)  # fmt: skip
    assert pn.tree_equal(resumed.model.params, whole.model.params)
    assert [r.learning_rate for r in resumed.history] == [0.5, 0.5, 0.25, 0.125, 0.0625]
    last = load_model(folder / "cut" / "model-last.json")
    assert pn.tree_equal(last.params, load_model(folder / "run" / "model-last.json").params)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model__hidden": ["relu", "tanh"]}, r"\$\.model\.hidden: 2 activations given for 1"),
        ({"model__hidden": ["relu", "tanhh"]}, r"\$\.model\.hidden\[1\]: unknown activation"),
        ({"model__dropout": 1.0}, r"\$\.model\.dropout: rate 1\.0"),
        ({"model__huber_delta": 2.0}, r"\$\.model\.huber_delta: huber_delta applies to loss"),
        ({"model__init": {"kind": "xavier"}}, r"\$\.model\.init\.kind: unknown kind 'xavier'"),
        ({"data__valid_fraction": 0.0, "train__keep_best": True},
         r"\$\.train\.keep_best: keep_best monitors valid_loss, which needs valid data"),
        ({"train__keep_best": "valid_r2"}, r"\$\.train\.keep_best: .* a regression metric"),
        ({"train__reduce_on_plateau": {"monitor": "valid_rmse"}},
         r"\$\.train\.reduce_on_plateau\.monitor: reduce_on_plateau monitors valid_rmse"),
        ({"train__reduce_on_plateau": {"factor": 2.0}}, r"\$\.train\.reduce_on_plateau\.factor"),
        ({"train__clip_norm": 0.0}, r"\$\.train\.clip_norm: must be a finite number > 0"),
        ({"train__class_weights": {"zz": 1.0}}, r"\$\.train\.class_weights\.zz: not a class"),
        ({"train__class_weights": {"a": -1.0}}, r"\$\.train\.class_weights\.a: must be"),
        ({"data__valid": VALID_SOURCE}, r"\$\.data\.valid: a validation source and valid_frac"),
        ({"data__test": None, "train__test_curve": True}, r"\$\.train\.test_curve: needs a test"),
    ],
)  # fmt: skip
def test_options_that_make_no_sense_are_refused_with_their_key(
    folder: Path, changes: dict[str, Any], message: str
) -> None:
    line = error_of(recipe_file(folder, **changes))
    assert line.startswith("error: ") and "\n" not in line
    assert re.search(message, line), line


def test_run_evaluate_and_curves_agree_on_the_loss(folder: Path) -> None:
    path = recipe_file(folder, train__l2=0.01, train__test_curve=True)
    run_cli(path)
    out = folder / "run"
    model = load_model(out / "model.json")
    rows = lines(out / "metrics.jsonl")
    # Data losses everywhere; the penalty is its own number.
    assert 0 < model.meta.metrics["l2_penalty"] == rows[-1]["l2_penalty"]
    # The mean of the penalties the last epoch's steps saw: near the final weights' (L2
    # shrinks the weights within the epoch).
    assert rows[-1]["l2_penalty"] == pytest.approx(pn.l2_penalty(model.params, 0.01), rel=0.2)
    result = runner.invoke(app, ["evaluate", str(out / "model.json"), "--json", "--recipe-files"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.stdout)
    assert evaluated["loss"] == pytest.approx(rows[-1]["test_loss"], rel=1e-6)
    assert evaluated["loss"] == pytest.approx(model.meta.metrics["test_loss"], rel=1e-12)
