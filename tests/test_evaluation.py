"""Evaluation of a model on raw inputs: `model_inputs`, `evaluate_model` and `predict_inputs`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import purenet as pn
from purenet.errors import DataFormatError
from purenet.modelfile.evaluation import evaluate_model, model_inputs, predict_inputs
from purenet.modelfile.model import Model
from purenet.pipeline.steps import Flatten, Scale, Standardize


def image_model() -> Model:
    """A (16, 3) softmax model over 4x4 images, preprocessed as `scale` then `flatten`."""
    arch = pn.Architecture((16, 3))
    return Model(arch, pn.init(arch, seed=0), (Scale(), Flatten((4, 4))))


def feature_model() -> Model:
    """A (2, 2) model over raw feature rows, without preprocessing."""
    arch = pn.Architecture((2, 2))
    return Model(arch, pn.init(arch, seed=0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused_naming_the_source_and_first_bad_row(bad: float) -> None:
    x = np.zeros((5, 2), np.float64)
    x[3, 1] = bad
    x[4, 0] = bad
    with pytest.raises(DataFormatError, match=r"^w.npy: row 3 holds NaN or Inf \(2 such rows\)"):
        model_inputs(feature_model(), x, source="w.npy")
    with pytest.raises(DataFormatError, match=r"^w.npy: row 3 holds NaN or Inf"):
        predict_inputs(feature_model(), x, source="w.npy")
    with pytest.raises(DataFormatError, match=r"^d: row 3 holds NaN or Inf"):
        evaluate_model(feature_model(), x, np.zeros(5, np.int64), source="d")


def test_non_finite_images_are_refused_before_preprocessing() -> None:
    images = np.full((1, 4, 4), np.nan, np.float32)
    with pytest.raises(DataFormatError, match=r"^wnan.npy: row 0 holds NaN or Inf"):
        predict_inputs(image_model(), images, source="wnan.npy")


def test_inputs_in_the_scale_range_are_taken() -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 4))
    expected = model_inputs(image_model(), images.astype(np.uint8))
    # The same pixels as whole-number floats (a CSV of pixel rows) and a black image.
    assert np.array_equal(model_inputs(image_model(), images.astype(np.float64)), expected)
    assert model_inputs(image_model(), np.zeros((1, 4, 4), np.float32)).max() == 0.0


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (
            np.full((2, 4, 4), 0.5, np.float32),  # already divided by 255
            r"^s.npy: values range over \[0.5, 0.5\] with fractions; the model's scale step "
            r"expects raw values in \[0, 255\] and scales them itself: already scaled\?",
        ),
        (
            np.full((2, 4, 4), -1.0),
            r"^s.npy: values range over \[-1, -1\], outside \[0, 255\] the model's scale step "
            r"expects: already scaled or standardized\?",
        ),
        (
            np.full((2, 16), 300.0),
            r"^s.npy: values range over \[300, 300\], outside \[0, 255\] the model's scale step "
            r"expects: already scaled or standardized\?",
        ),
    ],
)
def test_inputs_outside_the_scale_range_are_refused(x: np.ndarray, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        predict_inputs(image_model(), x, source="s.npy")
    with pytest.raises(DataFormatError, match=message):
        evaluate_model(image_model(), x, np.zeros(2, np.int64), source="s.npy")


def test_a_scale_step_after_standardize_sees_no_raw_values_and_is_not_checked() -> None:
    arch = pn.Architecture((2, 2))
    steps = (Standardize(np.zeros(2, np.float32), np.ones(2, np.float32)), Scale())
    model = Model(arch, pn.init(arch, seed=0), steps)
    assert model_inputs(model, np.array([[-3.0, 0.25]])).shape == (1, 2)


@pytest.mark.parametrize("shape", [(0, 4, 4), (0, 16), (0,)])
def test_inputs_without_rows_are_refused_naming_the_source(shape: tuple[int, ...]) -> None:
    empty = np.zeros(shape, np.uint8)
    with pytest.raises(DataFormatError) as caught:
        predict_inputs(image_model(), empty, source="e.npy")
    assert str(caught.value) == f"e.npy: no rows (an array of shape {shape})"


def test_a_wrong_shape_names_both_shapes_a_flatten_model_takes() -> None:
    with pytest.raises(DataFormatError) as caught:
        predict_inputs(image_model(), np.zeros((2, 15), np.uint8), source="x.npy")
    assert str(caught.value) == (
        "x.npy: expected inputs of shape (n, 4, 4) or (n, 16), found (2, 15)"
    )
    with pytest.raises(DataFormatError, match=r"or \(n, 16\), found \(2, 4, 5\)"):
        predict_inputs(image_model(), np.zeros((2, 4, 5), np.uint8), source="x.npy")
    # Both shapes are taken, and give the same model inputs.
    images = np.arange(32, dtype=np.uint8).reshape(2, 4, 4)
    rows = images.reshape(2, 16)
    assert np.array_equal(model_inputs(image_model(), images), model_inputs(image_model(), rows))


# --- counting, ranking ------------------------------------------------------------------------


def argmax_model() -> Model:
    """A (2, 2) softmax model whose prediction is the argmax of the raw input."""
    arch = pn.Architecture((2, 2))
    params = (pn.Dense(np.eye(2, dtype=np.float32), np.zeros(2, np.float32)),)
    return Model(arch, params, labels=("no", "yes"))


def test_evaluation_counts_by_hand() -> None:
    x = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 1])
    result = evaluate_model(argmax_model(), x, y)
    assert result.confusion.tolist() == [[1, 0], [1, 2]]  # rows true, columns predicted
    assert result.accuracy == 0.75
    assert result.precision == (0.5, 1.0)
    assert result.recall == (1.0, 2 / 3)
    absent = evaluate_model(argmax_model(), x[1:2], y[1:2])
    assert absent.precision == (None, 1.0) and absent.recall == (None, 1.0)
    json.dumps(absent.to_dict(), allow_nan=False)  # JSON-ready: no NaN (this raises on one)


def test_evaluation_refuses_labels_and_inputs_that_do_not_fit() -> None:
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(
        DataFormatError, match=r"^d: labels must lie in \[0, 2\), found values in \[0, 2\]$"
    ):
        evaluate_model(argmax_model(), x, np.array([0, 1, 2]), source="d")
    with pytest.raises(DataFormatError, match=r"d: inputs of shape \(3, 3\) give 3 features"):
        evaluate_model(argmax_model(), np.zeros((3, 3)), np.array([0, 1, 1]), source="d")


def test_predictions_rank_classes_like_predict() -> None:
    arch = pn.Architecture((4, 5, 3))
    model = Model(arch, pn.init(arch, seed=1))
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    prediction = predict_inputs(model, x, top_k=2)
    assert np.array_equal(prediction.classes[:, 0], pn.predict(arch, model.params, x))
    outputs = pn.forward(arch, model.params, x)
    assert np.allclose(prediction.scores[:, 0], outputs.max(axis=1))
    assert (prediction.scores[:, 0] >= prediction.scores[:, 1]).all()
    assert prediction.names[0] == tuple(str(c) for c in prediction.classes[0])


def test_one_sigmoid_unit_predicts_two_classes() -> None:
    arch = pn.Architecture((1, 1), output="sigmoid")
    params = (pn.Dense(np.ones((1, 1), np.float32), np.zeros(1, np.float32)),)
    prediction = predict_inputs(Model(arch, params), np.array([[2.0], [-2.0]]), top_k=5)
    assert prediction.classes.tolist() == [[1, 0], [0, 1]]
    p = 1 / (1 + np.exp(-2.0))
    assert np.allclose(prediction.scores, [[p, 1 - p], [p, 1 - p]])


def test_labels_follow_the_one_rule_whole_number_floats_count_as_integers() -> None:
    x = np.array([[1, 0], [0, 1]], dtype=np.float32)
    counted = evaluate_model(argmax_model(), x, np.array([0.0, 1.0]))
    assert counted.accuracy == 1.0
    with pytest.raises(
        DataFormatError,
        match=r"^d: labels must be integers of shape \(n,\), found dtype float64 shape \(2,\)$",
    ):
        evaluate_model(argmax_model(), x, np.array([0.0, 0.5]), source="d")
