"""Raw inputs entering a model: `model_inputs`, `evaluate_model` and `predict_inputs`."""

from __future__ import annotations

import numpy as np
import pytest

import purenet as pn
from purenet.errors import DataFormatError
from purenet.evaluation import evaluate_model, model_inputs, predict_inputs
from purenet.preprocess import Flatten, Scale
from purenet.serialize import Model


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
