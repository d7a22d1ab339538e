"""The pipeline's transforms: scale, standardize, flatten (purenet.pipeline.transforms)."""

from __future__ import annotations

import numpy as np
import pytest

from purenet.pipeline.transforms import Standardizer, fit_standardizer, flatten, scale, standardize


def test_scale() -> None:
    pixels = np.array([[0, 51, 255]], np.uint8)
    before = pixels.copy()
    out = scale(pixels, 0.01, 1.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.01, 0.01 + 0.99 * 0.2, 1.0]], rtol=1e-6)
    np.testing.assert_array_equal(pixels, before)
    assert scale(pixels, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(scale(pixels), scale(pixels))
    with pytest.raises(ValueError, match="low < high"):
        scale(pixels, 1.0, 0.0)
    with pytest.raises(ValueError, match="float32 or float64"):
        scale(pixels, dtype=np.int32)


def test_standardizer() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(500, 4)).astype(np.float32)
    x[:, 3] = 7.0  # a constant feature must not divide by zero
    stats = fit_standardizer(x)
    assert isinstance(stats, Standardizer) and stats.mean.dtype == np.float32
    z = standardize(x, stats)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, :3].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :3].std(axis=0), 1, atol=1e-5)
    np.testing.assert_array_equal(z[:, 3], 0)
    overall = fit_standardizer(x, per_feature=False)
    assert overall.mean.shape == ()
    with pytest.raises(ValueError, match="shape"):
        standardize(np.zeros((2, 3)), stats)


def test_flatten() -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    flat = flatten(images)
    assert flat.shape == (2, 12) and flat.dtype == np.uint8
    np.testing.assert_array_equal(flat[1], np.arange(12, 24))
    # No samples is still a batch: (0, 28, 28) flattens to (0, 784).
    assert flatten(np.zeros((0, 28, 28), np.uint8)).shape == (0, 784)
