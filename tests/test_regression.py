"""Regression end to end: float targets from CSV and NPY, target standardization stored in the
model, RMSE/MAE/R^2 in evaluate and the run, values from `purenet predict`, the figures.

The oracles are scikit-learn's metrics on the same predictions and numpy's mean and std."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import purenet as pn
from purenet.cli.app import app
from purenet.data.csv import read_csv
from purenet.errors import DataFormatError, RecipeError
from purenet.modelfile.evaluation import RegressionEvaluation, evaluate_model, predict_values
from purenet.modelfile.io import load_model
from purenet.modelfile.model import Model
from purenet.pipeline.targets import fit_target_scaling, restore_targets, scale_targets
from purenet.recipe.load import load_recipe
from purenet.run.prepare import prepare_data

metrics = pytest.importorskip("sklearn.metrics")

runner = CliRunner()

W = np.array([[1.5, -2.0], [0.5, 3.0], [-1.0, 0.25]])
B = np.array([10.0, -4.0])


def linear_table(path: Path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A CSV `x1,x2,x3,y1,y2` whose targets are an exact affine map of the features."""
    x = np.random.default_rng(seed).uniform(-2, 2, size=(n, 3))
    y = x @ W + B
    rows = "\n".join(",".join(repr(float(v)) for v in row) for row in np.hstack([x, y]))
    path.write_text("x1,x2,x3,y1,y2\n" + rows + "\n")
    return x, y


def linear_recipe(tmp_path: Path, **extra: str) -> Path:
    linear_table(tmp_path / "train.csv", 256, 0)
    linear_table(tmp_path / "test.csv", 64, 1)
    recipe = tmp_path / "linear.toml"
    pipeline = extra.get("pipeline", 'steps = [{kind = "standardize"}]\nstandardize_targets = true')
    recipe.write_text(
        f"""
[data]
train = {{kind = "csv", path = "train.csv", label = ["y1", "y2"]}}
test = {{kind = "csv", path = "test.csv", label = ["y1", "y2"]}}

[pipeline]
{pipeline}

[model]
sizes = [3, 4, 2]
hidden = "identity"
output = "identity"
loss = "mse"

[optimizer]
kind = "adam"
learning_rate = 0.05

[train]
epochs = 60
batch_size = 32
seed = 3
dtype = "float64"

[output]
dir = "{tmp_path / "run"}"
plots = ["predicted", "residuals"]
"""
    )
    return recipe


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("linear")
    result = runner.invoke(app, ["run", str(linear_recipe(tmp_path)), "--quiet"])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_a_linear_target_is_fit_through_purenet_run(linear_run: Path) -> None:
    model = load_model(linear_run / "run" / "model.json")
    test = read_csv(linear_run / "test.csv", label=["y1", "y2"])  # as the run read it
    x, y = test.x, test.y
    predicted = predict_values(model, x)
    r2 = metrics.r2_score(y, predicted)
    assert r2 > 0.999
    # The run's own test metrics are scikit-learn's on the same predictions.
    stored = model.meta.metrics
    assert stored["test_r2"] == pytest.approx(r2, abs=1e-12)
    assert stored["test_mae"] == pytest.approx(metrics.mean_absolute_error(y, predicted), rel=1e-9)
    rmse = np.mean(np.sqrt(metrics.mean_squared_error(y, predicted, multioutput="raw_values")))
    assert stored["test_rmse"] == pytest.approx(rmse, rel=1e-9)
    assert "test_accuracy" not in stored
    assert model.labels == ("y1", "y2")  # output names from the label columns


def test_target_scaling_is_fitted_on_the_training_targets_and_stored(linear_run: Path) -> None:
    model = load_model(linear_run / "run" / "model.json")
    _, y = linear_table(linear_run / "again.csv", 256, 0)
    assert model.targets is not None and model.targets.mean is not None
    np.testing.assert_allclose(model.targets.mean, y.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(model.targets.std, y.std(axis=0), rtol=1e-6)
    data = json.loads((linear_run / "run" / "model.json").read_text())
    assert data["targets"]["kind"] == "standardize" and "multilabel" not in data


def test_scaling_round_trips() -> None:
    y = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]])
    scaling = fit_target_scaling(y)
    scaled = scale_targets(scaling, y, np.dtype(np.float64))
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(restore_targets(scaling, scaled), y, rtol=1e-6)
    assert scale_targets(None, y[:, 0], np.dtype(np.float32)).shape == (3,)


def test_predict_prints_one_column_per_output(linear_run: Path) -> None:
    model_file = linear_run / "run" / "model.json"
    x, _ = linear_table(linear_run / "rows.csv", 5, 7)
    np.save(linear_run / "rows.npy", x)
    result = runner.invoke(
        app, ["predict", str(model_file), str(linear_run / "rows.npy"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["predictions"][0]
    assert report["columns"] == ["y1", "y2"]
    np.testing.assert_allclose(report["values"], predict_values(load_model(model_file), x))
    table = runner.invoke(app, ["predict", str(model_file), str(linear_run / "rows.npy")])
    assert table.exit_code == 0 and "y1" in table.stdout and " p " not in table.stdout


def test_evaluate_reports_rmse_mae_r2_never_accuracy(linear_run: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(linear_run / "run" / "model.json"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"rmse", "mae", "r2", "per_output"} <= set(report) and "accuracy" not in report
    table = runner.invoke(app, ["evaluate", str(linear_run / "run" / "model.json")])
    assert "r2" in table.stdout and "accuracy" not in table.stdout


def test_the_run_draws_the_regression_figures(linear_run: Path) -> None:
    for name in ("predicted", "residuals"):
        assert (linear_run / "run" / f"{name}.png").stat().st_size > 1000
    result = runner.invoke(app, ["plot", str(linear_run / "run"), "--only", "confusion"])
    assert result.exit_code == 1
    assert "cannot draw confusion: it is drawn for a classifier" in result.output


def test_evaluation_matches_scikit_learn_on_a_hand_model() -> None:
    arch = pn.Architecture((1, 1), output="identity", loss="mse")
    params = (pn.Dense(np.array([[2.0]]), np.array([1.0])),)
    model = Model(arch, params)
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([1.5, 2.0, 5.0, 8.0])  # predictions 1, 3, 5, 7
    ev = evaluate_model(model, x, y)
    assert isinstance(ev, RegressionEvaluation)
    assert ev.r2 == pytest.approx(metrics.r2_score(y, [1, 3, 5, 7]))
    assert ev.mae == pytest.approx(metrics.mean_absolute_error(y, [1, 3, 5, 7]))
    assert ev.rmse == pytest.approx(np.sqrt(metrics.mean_squared_error(y, [1, 3, 5, 7])))
    assert ev.loss == pytest.approx(0.5 * np.mean(np.square(np.array([1, 3, 5, 7]) - y)), rel=0.6)
    with pytest.raises(DataFormatError, match=r"targets of shape \(4,\) or \(4, 1\)"):
        evaluate_model(model, x, np.zeros((4, 2)), source="d")


def test_npy_features_and_targets_in_separate_files(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(40, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", x[:, 0] - x[:, 1])
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        """
[data]
train = {kind = "files", features = "x.npy", labels = "y.npy"}
[model]
sizes = [2, 1]
output = "identity"
loss = "mse"
[optimizer]
kind = "sgd"
learning_rate = 0.1
[train]
epochs = 1
"""
    )
    prepared = prepare_data(load_recipe(recipe))
    assert prepared.train.y.shape == (40,) and prepared.targets is None
    np.testing.assert_allclose(prepared.train.y, (x[:, 0] - x[:, 1]).astype(np.float32))
    np.save(tmp_path / "y.npy", np.zeros(39))
    with pytest.raises(DataFormatError, match=r"y.npy: 39 labels for the 40 samples"):
        prepare_data(load_recipe(recipe))


def test_regression_options_refused_where_they_make_no_sense(tmp_path: Path) -> None:
    recipe = linear_recipe(tmp_path)
    text = recipe.read_text()
    recipe.write_text(text.replace("[data]", "[data]\nlabel_map = {1 = 0}"))
    with pytest.raises(RecipeError, match=r"\$.data.label_map: is for class labels"):
        prepare_data(load_recipe(recipe))
    recipe.write_text(
        text.replace('output = "identity"', 'output = "softmax"').replace(
            'loss = "mse"', 'loss = "cross_entropy"'
        )
    )
    with pytest.raises(RecipeError, match=r"\$.pipeline.standardize_targets: scales regression"):
        prepare_data(load_recipe(recipe))
    recipe.write_text(text.replace("sizes = [3, 4, 2]", "sizes = [3, 4, 3]"))
    with pytest.raises(RecipeError, match=r"2 target column\(s\) for 3 model output\(s\)"):
        prepare_data(load_recipe(recipe))


def test_info_names_the_task_and_the_target_scaling(linear_run: Path) -> None:
    result = runner.invoke(app, ["info", str(linear_run / "run" / "model.json"), "--json"])
    summary = json.loads(result.stdout)
    assert summary["task"] == "regression" and summary["outputs"] == ["y1", "y2"]
    assert summary["targets"]["kind"] == "standardize"
    table = runner.invoke(app, ["info", str(linear_run / "run" / "model.json")])
    assert "regression: outputs y1, y2; targets standardize" in table.stdout
