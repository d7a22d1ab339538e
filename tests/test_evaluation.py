"""Raw inputs entering a model: `model_inputs`, `evaluate_model` and `predict_inputs`."""

from __future__ import annotations

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
