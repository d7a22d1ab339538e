"""Labels as users have them: names in CSV files, label_map, a subset of classes, labels in a
file of their own, multi-label 0/1 matrices; the one label rule. Counts are worked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import purenet as pn
from purenet.cli.app import app
from purenet.data.csv import read_csv, read_label_columns
from purenet.data.dataset import class_labels
from purenet.errors import DataFormatError, RecipeError
from purenet.modelfile.evaluation import MultilabelEvaluation, evaluate_model
from purenet.modelfile.io import load_model
from purenet.modelfile.model import Model
from purenet.pipeline.targets import encode_labels, fit_classes, fit_target_scaling
from purenet.recipe.load import load_recipe
from purenet.run.prepare import prepare_data

runner = CliRunner()


def write_recipe(tmp_path: Path, data: str, model: str, epochs: int = 1) -> Path:
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f"""
[data]
{data}

[pipeline]
steps = [{{kind = "standardize"}}]

[model]
{model}

[optimizer]
kind = "adam"
learning_rate = 0.05

[train]
epochs = {epochs}
batch_size = 8
seed = 0

[output]
dir = "{tmp_path / "run"}"
"""
    )
    return recipe


def yes_no(path: Path) -> None:
    """Two separable blobs labelled by name, first seen `yes`, so sorted order differs."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        label = "yes" if i % 2 == 0 else "no"
        centre = 2.0 if label == "yes" else -2.0
        a, b = rng.normal(centre, 0.5, size=2)
        rows.append(f"{float(a)!r},{float(b)!r},{label}")
    path.write_text("a,b,answer\n" + "\n".join(rows) + "\n")


# --- reading --------------------------------------------------------------------------------


def test_read_csv_keeps_names_and_detects_the_header(tmp_path: Path) -> None:
    path = tmp_path / "iris.csv"
    path.write_text("5.1,3.5,setosa\n4.9,3.0,setosa\n6.0,2.2,virginica\n6.1,2.8,virginica\n")
    ds = read_csv(path, label="last")  # no header: the first line's name recurs below
    assert ds.y.tolist() == ["setosa", "setosa", "virginica", "virginica"]
    path.write_text("sl,sw,species\n5.1,3.5,setosa\n4.9,3.0,setosa\n")
    assert read_csv(path, label="last").y.tolist() == ["setosa", "setosa"]
    path.write_text("x,y1,y2\n1,0.5,1\n2,1.5,0\n")
    assert read_csv(path, label=["y1", "y2"]).y.tolist() == [[0.5, 1.0], [1.5, 0.0]]
    path.write_text("x,y1,y2\n1,a,1\n")
    with pytest.raises(DataFormatError, match="several label columns must hold numbers"):
        read_csv(path, label=["y1", "y2"])
    path.write_text("species\nsetosa\nvirginica\n")
    assert read_label_columns(path).tolist() == ["setosa", "virginica"]


def test_class_coding_sorted_mapped_and_subset() -> None:
    y = np.array(["yes", "no", "yes", "maybe"])
    coding = fit_classes(y)
    assert coding.names == ("maybe", "no", "yes")
    assert encode_labels(y, coding).labels.tolist() == [2, 1, 2, 0]
    mapped = fit_classes(y, label_map={"yes": 1, "no": 0, "maybe": 0})
    assert mapped.names is None and encode_labels(y, mapped).labels.tolist() == [1, 0, 1, 0]
    subset = fit_classes(np.array([3, 8, 1, 8, 3, 3]), classes=[8, 3])
    coded = encode_labels(np.array([3, 8, 1, 8, 3, 3]), subset)
    assert coded.keep.tolist() == [True, True, False, True, True, True]
    assert coded.labels.tolist() == [1, 0, 0, 1, 1]  # class 0 is 8, class 1 is 3
    with pytest.raises(ValueError, match="unknown label 'never'"):
        encode_labels(np.array(["never"]), coding)


def test_the_one_label_rule() -> None:
    assert class_labels(np.array([1.0, 0.0]), 2).tolist() == [1, 0]
    with pytest.raises(
        ValueError, match=r"^labels must lie in \[0, 2\), found values in \[0, 7\]$"
    ):
        class_labels(np.array([0, 7]), 2)
    with pytest.raises(ValueError, match=r"^labels must be integers of shape \(n,\)"):
        class_labels(np.array([0.5]), 2)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        pn.one_hot(np.array([2]), 2)


# --- recipes --------------------------------------------------------------------------------


def test_string_labels_round_trip_through_the_model_file_and_predict(tmp_path: Path) -> None:
    yes_no(tmp_path / "answers.csv")
    recipe = write_recipe(
        tmp_path,
        'train = {kind = "csv", path = "answers.csv", label = "answer"}\n'
        'test = {kind = "csv", path = "answers.csv", label = "answer"}',
        "sizes = [2, 2]",
        epochs=20,
    )
    result = runner.invoke(app, ["run", str(recipe), "--quiet"])
    assert result.exit_code == 0, result.output
    model_file = tmp_path / "run" / "model.json"
    assert json.loads(model_file.read_text())["labels"] == ["no", "yes"]  # sorted
    model = load_model(model_file)
    assert model.meta.metrics["test_accuracy"] == 1.0
    (tmp_path / "points.csv").write_text("2.1,1.9\n-2.0,-2.2\n")
    out = runner.invoke(app, ["predict", str(model_file), str(tmp_path / "points.csv"), "--json"])
    rows = json.loads(out.stdout)["predictions"][0]["rows"]
    assert [row[0]["label"] for row in rows] == ["yes", "no"]
    by_csv = runner.invoke(
        app,
        [
            "evaluate",
            str(model_file),
            "--csv",
            str(tmp_path / "answers.csv"),
            "--label-column",
            "answer",
            "--json",
        ],
    )
    assert by_csv.exit_code == 0, by_csv.output
    assert json.loads(by_csv.stdout)["accuracy"] == 1.0


def test_names_in_the_data_are_the_class_names(tmp_path: Path) -> None:
    yes_no(tmp_path / "answers.csv")
    src = 'train = {kind = "csv", path = "answers.csv", label = "answer"}'
    recipe = write_recipe(tmp_path, src + '\nlabels = ["N", "Y"]', "sizes = [2, 2]")
    with pytest.raises(
        RecipeError, match=r"\$.data.labels: the data name their classes \(no, yes\)"
    ):
        prepare_data(load_recipe(recipe))
    renamed = write_recipe(tmp_path, src + '\nlabel_map = {no = "N", yes = "Y"}', "sizes = [2, 2]")
    assert prepare_data(load_recipe(renamed)).labels == ("N", "Y")


def test_names_mapped_to_indices_stay_the_class_names(tmp_path: Path) -> None:
    yes_no(tmp_path / "answers.csv")
    src = (
        'train = {kind = "csv", path = "answers.csv", label = "answer"}\n'
        'test = {kind = "csv", path = "answers.csv", label = "answer"}\n'
        "label_map = {yes = 0, no = 1}"
    )
    recipe = write_recipe(tmp_path, src, "sizes = [2, 2]", epochs=20)
    prepared = prepare_data(load_recipe(recipe))
    assert prepared.labels == ("yes", "no")  # the names, in the chosen index order
    assert prepared.train.y[:2].tolist() == [0, 1]  # the first row says yes
    assert runner.invoke(app, ["run", str(recipe), "--quiet"]).exit_code == 0
    # So evaluate reads the names a CSV holds (it knew only "0" and "1" before).
    by_csv = runner.invoke(
        app,
        ["evaluate", str(tmp_path / "run"), "--csv", str(tmp_path / "answers.csv"),
         "--label-column", "answer", "--json"],
    )  # fmt: skip
    assert by_csv.exit_code == 0, by_csv.output
    assert json.loads(by_csv.stdout)["accuracy"] == 1.0
    # A map that does not name every index keeps the indices as names.
    partial = write_recipe(tmp_path, src.replace("no = 1", "no = 1, maybe = 1"), "sizes = [2, 2]")
    assert prepare_data(load_recipe(partial)).labels == ("0", "1")


def test_label_map_and_classes_count_rows(tmp_path: Path) -> None:
    # Ng-style labels 1..10 (10 is the digit 0): 2 rows of each label.
    labels = np.repeat(np.arange(1, 11), 2)
    x = np.random.default_rng(1).normal(size=(20, 3))
    np.savetxt(tmp_path / "ng.csv", np.hstack([labels[:, None], x]), delimiter=",")
    src = 'train = {kind = "csv", path = "ng.csv"}'
    mapped = prepare_data(
        load_recipe(write_recipe(tmp_path, src + "\nlabel_map = {10 = 0}", "sizes = [3, 10]"))
    )
    assert np.bincount(mapped.train.y).tolist() == [2] * 10
    assert mapped.train.y[-2:].tolist() == [0, 0]  # the two 10s
    subset = prepare_data(
        load_recipe(write_recipe(tmp_path, src + "\nclasses = [10, 3]", "sizes = [3, 2]"))
    )
    assert len(subset.train) == 4 and subset.labels == ("10", "3")
    assert sorted(subset.train.y.tolist()) == [0, 0, 1, 1]
    with pytest.raises(RecipeError, match=r"\$.model.sizes: 2 output unit\(s\) tell 2 classes"):
        prepare_data(load_recipe(write_recipe(tmp_path, src, "sizes = [3, 2]")))


def test_features_and_labels_in_separate_files(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(12, dtype=np.float64).reshape(6, 2))
    (tmp_path / "y.csv").write_text("kind\ncat\ndog\ncat\ndog\ncat\nbird\n")
    recipe = write_recipe(
        tmp_path, 'train = {kind = "files", features = "x.npy", labels = "y.csv"}', "sizes = [2, 3]"
    )
    prepared = prepare_data(load_recipe(recipe))
    assert prepared.labels == ("bird", "cat", "dog")
    assert prepared.train.y.tolist() == [1, 2, 1, 2, 1, 0]


def test_multilabel_recipe_evaluation_and_predict(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 2))
    tags = np.stack([x[:, 0] > 0, x[:, 1] > 0], axis=1).astype(int)
    rows = "\n".join(
        f"{float(a)!r},{float(b)!r},{s},{t}" for (a, b), (s, t) in zip(x, tags, strict=True)
    )
    (tmp_path / "tags.csv").write_text("a,b,sunny,warm\n" + rows + "\n")
    recipe = write_recipe(
        tmp_path,
        'train = {kind = "csv", path = "tags.csv", label = ["sunny", "warm"]}\n'
        'test = {kind = "csv", path = "tags.csv", label = ["sunny", "warm"]}',
        'sizes = [2, 2]\noutput = "sigmoid"',
        epochs=30,
    )
    result = runner.invoke(app, ["run", str(recipe), "--quiet"])
    assert result.exit_code == 0, result.output
    model_file = tmp_path / "run" / "model.json"
    assert json.loads(model_file.read_text())["multilabel"] is True
    model = load_model(model_file)
    assert model.multilabel and model.labels == ("sunny", "warm")
    assert model.meta.metrics["test_exact_match"] > 0.9
    np.save(tmp_path / "q.npy", np.array([[1.0, -1.0], [-1.0, 1.0]]))
    out = runner.invoke(app, ["predict", str(model_file), str(tmp_path / "q.npy"), "--json"])
    assert json.loads(out.stdout)["predictions"][0]["labels"] == [[1, 0], [0, 1]]
    report = runner.invoke(app, ["evaluate", str(model_file), "--recipe-files"])
    assert report.exit_code == 0 and "sunny" in report.stdout and "exact_match" in report.stdout


def test_multilabel_precision_and_recall_against_hand_counts() -> None:
    # Identity weights: label j is predicted exactly when feature j > 0.
    arch = pn.Architecture((2, 2), output="sigmoid")
    params = (pn.Dense(np.eye(2) * 10, np.zeros(2)),)
    model = Model(arch, params, labels=("a", "b"), multilabel=True)
    x = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1], [1, 1]], dtype=np.float64)
    truth = np.array([[1, 1], [0, 0], [1, 1], [0, 0], [1, 0]])
    # predicted: [[1,1],[1,0],[0,1],[0,0],[1,1]]
    # a: predicted 3 (rows 0,1,4), true 3 (rows 0,2,4), both 2 -> precision 2/3, recall 2/3
    # b: predicted 3 (rows 0,2,4), true 2 (rows 0,2), both 2 -> precision 2/3, recall 1
    ev = evaluate_model(model, x, truth)
    assert isinstance(ev, MultilabelEvaluation)
    assert ev.precision == pytest.approx((2 / 3, 2 / 3)) and ev.recall == pytest.approx(
        (2 / 3, 1.0)
    )
    assert ev.support == (3, 2) and ev.exact_match == pytest.approx(2 / 5)  # rows 0 and 3
    with pytest.raises(DataFormatError, match=r"0/1 label matrix of shape \(5, 2\)"):
        evaluate_model(model, x, truth * 2, source="d")


def test_model_file_refuses_flags_that_do_not_fit() -> None:
    arch = pn.Architecture((2, 3))
    with pytest.raises(ValueError, match=r"\$.multilabel: multi-label models need sigmoid"):
        Model(arch, pn.init(arch, seed=0), multilabel=True)
    scaling = fit_target_scaling(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\$.targets: target scaling is for regression"):
        Model(arch, pn.init(arch, seed=0), targets=scaling)


def test_a_multilabel_model_describes_itself() -> None:
    from purenet.modelfile.io import describe_model

    arch = pn.Architecture((2, 2), output="sigmoid")
    model = Model(arch, pn.init(arch, seed=0), labels=("a", "b"), multilabel=True)
    summary = describe_model(model)
    assert summary["task"] == "multilabel" and summary["outputs"] == ["a", "b"]
    assert summary["targets"] is None
