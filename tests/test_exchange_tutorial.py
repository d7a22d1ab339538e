"""The tutorials' weights1/bias1 JSON, read and written: the tutorial's own forward pass is the
oracle."""

import json
from pathlib import Path

import numpy as np
import pytest
from exchange_support import microchips_model
from typer.testing import CliRunner

import purenet as pn
from purenet.cli.app import app
from purenet.errors import ModelFormatError
from purenet.exchange.tutorial import model_from_tutorial, model_to_tutorial, read_tutorial


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def tutorial_forward(data: dict, x: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """The microchips tutorial's own forward pass: sigmoid(a @ weightsK + biasK), layer by layer."""
    a = np.asarray(x, dtype=np.float64)
    for k in range(1, len(data) // 2 + 1):
        a = sigmoid(a @ np.array(data[f"weights{k}"]) + np.array(data[f"bias{k}"]))
    return a


def tutorial_file(tmp_path: Path) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """What the tutorial's script saves: numpy arrays as nested lists, biases as (1, n) rows."""
    rng = np.random.default_rng(3)
    weights = {
        "weights1": rng.normal(size=(2, 8)),
        "bias1": rng.normal(size=(1, 8)),
        "weights2": rng.normal(size=(8, 1)),
        "bias2": rng.normal(size=(1, 1)),
    }
    data = {key: value.tolist() for key, value in weights.items()}
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(data))
    return path, data


def test_a_tutorial_network_reads_with_the_tutorials_own_outputs(tmp_path: Path) -> None:
    path, data = tutorial_file(tmp_path)
    model = read_tutorial(path, hidden="sigmoid", output="sigmoid", labels=("rejected", "accepted"))
    assert model.arch == pn.Architecture((2, 8, 1), "sigmoid", "sigmoid", "cross_entropy")
    assert model.params[0].w.dtype == np.float64 and model.preprocess == ()
    x = np.random.default_rng(4).normal(size=(200, 2))
    expected = tutorial_forward(data, x)
    found = pn.forward(model.arch, model.params, x)
    assert np.allclose(found, expected, rtol=1e-12, atol=1e-15)
    assert np.array_equal(pn.predict(model.arch, model.params, x), (expected[:, 0] > 0.5))


def test_the_column_layout_is_read_transposed() -> None:
    rng = np.random.default_rng(5)
    w1, b1, w2, b2 = (
        rng.normal(size=(3, 2)),
        rng.normal(size=(3, 1)),
        rng.normal(size=(1, 3)),
        [[0.5]],
    )
    data = {"weights1": w1.tolist(), "bias1": b1.tolist(), "weights2": w2.tolist(), "bias2": b2}
    model = model_from_tutorial(data, hidden="tanh", output="identity")
    x = rng.normal(size=(10, 2))
    expected = (w2 @ np.tanh(w1 @ x.T + b1) + 0.5).T  # W @ x + b, one column per sample
    assert np.allclose(pn.forward(model.arch, model.params, x), expected, rtol=1e-12)
    assert model.arch.loss == "mse"


def test_a_purenet_model_writes_a_file_the_tutorial_runs_on_raw_inputs(
    data_dir: Path, tmp_path: Path
) -> None:
    model = microchips_model(data_dir)  # standardize, then 2-10-1 sigmoid
    raw = pn.load_dataset("microchips", "train", data_dir=data_dir).x
    data = json.loads(json.dumps(model_to_tutorial(model)))
    assert sorted(data) == ["bias1", "bias2", "weights1", "weights2"]
    assert np.array(data["weights1"]).shape == (2, 10) and np.array(data["bias1"]).shape == (1, 10)
    expected = pn.forward(model.arch, model.params, pn.apply_preprocess(model.preprocess, raw))
    found = tutorial_forward(data, raw)  # the standardization is folded into weights1, bias1
    assert np.abs(found - expected).max() <= 1e-6
    assert np.array_equal(found[:, 0] > 0.5, pn.labels_of(expected) == 1)


def test_scale_and_flatten_fold_into_the_first_layer() -> None:
    images = np.random.default_rng(6).integers(0, 256, (40, 3, 3), dtype=np.uint8)
    steps = pn.fit_preprocess([pn.Scale(0.01, 1.0), pn.Flatten(), pn.Standardize()], images)
    arch = pn.Architecture((9, 4, 3), hidden="sigmoid", output="softmax")
    model = pn.Model(arch, pn.init(arch, seed=0, dtype="float64"), steps)
    back = model_from_tutorial(model_to_tutorial(model), hidden="sigmoid", output="softmax")
    x = images.reshape(40, 9)
    expected = pn.forward(arch, model.params, pn.apply_preprocess(steps, images, dtype="float64"))
    assert np.abs(pn.forward(back.arch, back.params, x) - expected).max() <= 1e-6


def test_without_preprocessing_the_weights_are_written_exactly() -> None:
    arch = pn.Architecture((3, 5, 2), hidden="relu", output="softmax")
    model = pn.Model(arch, pn.init(arch, seed=1))  # float32
    data = json.loads(json.dumps(model_to_tutorial(model)))
    back = model_from_tutorial(data, hidden="relu", output="softmax", dtype="float32")
    assert pn.tree_equal(back.params, model.params)


BAD = [
    (
        {"weights1": [[1.0]], "bias1": [[0.0]], "weights3": [[1.0]], "bias3": [[0.0]]},
        "$: layers numbered [1, 3]",
    ),
    ({"weights1": [[1.0]], "bias1": [[0.0]], "W2": [[1.0]]}, "$.W2: unknown key"),
    ({"weights1": [[1.0]]}, "$: missing key 'bias1'"),
    (
        {"weights1": [[1.0, 2.0]], "bias1": [[0.0, 1.0, 2.0]]},
        "$.weights1: shape [1, 2] does not fit bias1 of 3",
    ),
    ({"weights1": [[1.0], [2.0, 3.0]], "bias1": [[0.0]]}, "$.weights1[1]: rows must be lists of 1"),
    ({"weights1": [["a"]], "bias1": [[0.0]]}, "$.weights1[0][0]: expected a number"),
    (
        {"weights1": [[1.0, 2.0]], "bias1": [[0.0, 0.0]], "weights2": [[1.0]], "bias2": [[0.0]]},
        "$.weights2: takes 1 inputs, layer 1 gives 2",
    ),
    ([1, 2], "$: expected an object"),
]


@pytest.mark.parametrize(("data", "message"), BAD, ids=range(len(BAD)))
def test_malformed_tutorial_files_are_refused_naming_the_key(
    tmp_path: Path, data: object, message: str
) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFormatError) as info:
        read_tutorial(path, hidden="sigmoid", output="sigmoid")
    assert str(info.value).startswith(f"{path}: {message}"), str(info.value)


def test_import_and_export_commands_carry_a_tutorial_model_both_ways(tmp_path: Path) -> None:
    path, data = tutorial_file(tmp_path)
    runner = CliRunner()
    model_path = tmp_path / "model.json"
    args = [
        "import",
        str(path),
        "-o",
        str(model_path),
        "--hidden",
        "sigmoid",
        "--output",
        "sigmoid",
    ]
    result = runner.invoke(app, [*args, "--labels", "rejected,accepted"])
    assert result.exit_code == 0, result.output
    assert "sizes [2, 8, 1], sigmoid / sigmoid" in result.output
    assert pn.load_model(model_path).labels == ("rejected", "accepted")
    # purenet predicts with it, on a CSV of raw inputs like any model of its own.
    table = tmp_path / "x.csv"
    x = np.random.default_rng(8).normal(size=(5, 2))
    np.savetxt(table, x, delimiter=",")
    result = runner.invoke(app, ["predict", str(model_path), str(table), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["predictions"][0]["rows"]
    expected = tutorial_forward(data, x)[:, 0]
    assert [row[0]["label"] for row in rows] == [
        "accepted" if p > 0.5 else "rejected" for p in expected
    ]
    out = tmp_path / "back.json"
    result = runner.invoke(
        app, ["export", str(model_path), "--format", "tutorial-json", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == data


def test_import_asks_for_the_activations_the_file_does_not_hold(tmp_path: Path) -> None:
    path, _ = tutorial_file(tmp_path)
    result = CliRunner().invoke(app, ["import", str(path), "-o", str(tmp_path / "m.json")])
    assert result.exit_code == 1
    assert "holds no activations; give --hidden and --output" in result.output
    result = CliRunner().invoke(
        app,
        [
            "import",
            str(path),
            "-o",
            str(tmp_path / "m.json"),
            "--hidden",
            "rellu",
            "--output",
            "sigmoid",
        ],
    )
    assert result.exit_code == 1 and "unknown activation 'rellu'" in result.output


def test_layers_without_bias_write_zeros_and_per_layer_activations_read_back(
    tmp_path: Path,
) -> None:
    arch = pn.Architecture((3, 4, 4, 2), hidden=("relu", "tanh"), bias=(True, False, True))
    x = np.random.default_rng(9).normal(size=(20, 3))
    steps = pn.fit_preprocess([pn.Standardize()], x)
    model = pn.Model(arch, pn.init(arch, seed=0, dtype="float64"), steps)
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(model_to_tutorial(model)))
    assert json.loads(path.read_text())["bias2"] == [[0.0] * 4]
    runner = CliRunner()
    out = tmp_path / "model.json"
    args = ["import", str(path), "-o", str(out), "--hidden", "relu, tanh", "--output", "softmax"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    back = pn.load_model(out)
    assert back.arch.activations == ("relu", "tanh")
    expected = pn.forward(arch, model.params, pn.apply_preprocess(steps, x, dtype="float64"))
    assert np.abs(pn.forward(back.arch, back.params, x) - expected).max() <= 1e-12


def test_standardized_targets_fold_into_the_last_layer() -> None:
    from purenet.modelfile.evaluation import predict_values
    from purenet.pipeline.steps import Standardize

    arch = pn.Architecture((3, 4, 2), hidden="tanh", output="identity", loss="mse")
    scaling = Standardize(mean=np.array([50.0, -2.0]), std=np.array([10.0, 0.25]))
    model = pn.Model(arch, pn.init(arch, seed=2, dtype="float64"), (), targets=scaling)
    x = np.random.default_rng(4).normal(size=(16, 3))
    data = model_to_tutorial(model)
    hidden = np.tanh(x @ np.array(data["weights1"]) + np.array(data["bias1"]))
    outputs = hidden @ np.array(data["weights2"]) + np.array(data["bias2"])
    np.testing.assert_allclose(outputs, predict_values(model, x), rtol=1e-12, atol=1e-9)
