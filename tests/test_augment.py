"""Tests of purenet.augment against scipy.ndimage applied image by image."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage

from purenet.pipeline.augment import affine, rotate, shift, warp


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((40, 28, 28))


def test_rotate_matches_scipy_image_by_image(images: np.ndarray) -> None:
    out = rotate(images, seed=3, max_degrees=30, fill=0.25)
    angles = np.random.default_rng(3).uniform(-30, 30, len(images))
    expected = np.stack(
        [
            ndimage.rotate(im, a, reshape=False, order=1, mode="constant", cval=0.25)
            for im, a in zip(images, angles, strict=True)
        ]
    )
    assert out.dtype == np.float64
    assert np.abs(out - expected).max() < 1e-5


def test_shift_matches_scipy_image_by_image(images: np.ndarray) -> None:
    out = shift(images.astype(np.float32), seed=4, max_pixels=3)
    offsets = np.random.default_rng(4).integers(-3, 3, size=(len(images), 2), endpoint=True)
    expected = np.stack(
        [
            ndimage.shift(im, o, order=1, mode="constant", cval=0.0)
            for im, o in zip(images.astype(np.float32), offsets, strict=True)
        ]
    )
    assert out.dtype == np.float32
    assert np.abs(out - expected).max() < 1e-5


def test_warp_fractional_shift_matches_scipy(images: np.ndarray) -> None:
    offsets = np.random.default_rng(5).uniform(-2, 2, (len(images), 2))
    expected = np.stack(
        [ndimage.shift(im, o, order=1) for im, o in zip(images, offsets, strict=True)]
    )
    assert np.abs(warp(images, shifts=offsets) - expected).max() < 1e-5


def test_affine_is_rotation_then_shift_in_one_resampling(images: np.ndarray) -> None:
    rng = np.random.default_rng(6)
    angles, offsets = rng.uniform(-20, 20, len(images)), rng.integers(-2, 3, (len(images), 2))
    # Integer shifts move whole pixels, so two resamplings equal one (inside the image).
    two_steps = warp(warp(images, degrees=angles), shifts=offsets)
    one_step = warp(images, degrees=angles, shifts=offsets)
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert np.abs(one_step[inner] - two_steps[inner]).max() < 1e-5


def test_zoom_about_the_centre() -> None:
    image = np.zeros((1, 9, 9), np.float32)
    image[0, 4, 4], image[0, 4, 6] = 1.0, 1.0
    out = warp(image, zooms=2.0)
    assert out[0, 4, 4] == 1.0 and out[0, 4, 8] == 1.0  # the centre stays, 2 px become 4


def test_rotate_by_zero_is_identity_and_by_90_is_rot90(images: np.ndarray) -> None:
    np.testing.assert_array_equal(rotate(images, seed=1, max_degrees=0), images)
    np.testing.assert_array_equal(warp(images, degrees=90), np.rot90(images, axes=(1, 2)))
    np.testing.assert_array_equal(warp(images, degrees=-90), np.rot90(images, k=-1, axes=(1, 2)))
    np.testing.assert_array_equal(affine(images, seed=2), images)


def test_seeded_pure_and_per_image(images: np.ndarray) -> None:
    before = images.copy()
    a = affine(images, seed=(1, 2), max_degrees=10, max_shift=2, max_zoom=0.1)
    b = affine(images, seed=[1, 2], max_degrees=10, max_shift=2, max_zoom=0.1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(images, before)
    c = affine(images, seed=(1, 3), max_degrees=10, max_shift=2, max_zoom=0.1)
    assert not np.array_equal(a, c)
    # Each image gets its own angle: the same image repeated comes out different.
    same = np.repeat(images[:1], 5, axis=0)
    turned = rotate(same, seed=0, max_degrees=10)
    assert len({turned[i].tobytes() for i in range(5)}) == 5


def test_dtypes() -> None:
    pixels = np.full((2, 5, 5), 255, np.uint8)
    out = rotate(pixels, seed=0, max_degrees=0)
    assert out.dtype == np.float32 and out.max() == 255.0
    assert rotate(pixels.astype(np.float32), seed=0, max_degrees=5).dtype == np.float32
    assert rotate(np.zeros((0, 5, 5)), seed=0, max_degrees=5).shape == (0, 5, 5)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"shape \(n, h, w\)"):
        rotate(np.zeros((5, 5)), seed=0, max_degrees=5)
    with pytest.raises(ValueError, match="max_degrees"):
        rotate(np.zeros((1, 5, 5)), seed=0, max_degrees=-1)
    with pytest.raises(TypeError, match=r"^max_pixels must be an integer >= 0, found 1\.5$"):
        shift(np.zeros((1, 5, 5)), seed=0, max_pixels=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^max_pixels must be an integer >= 0, found -1$"):
        shift(np.zeros((1, 5, 5)), seed=0, max_pixels=-1)
    with pytest.raises(ValueError, match="max_zoom"):
        affine(np.zeros((1, 5, 5)), seed=0, max_zoom=1.0)
    with pytest.raises(ValueError, match="degrees must broadcast"):
        warp(np.zeros((3, 5, 5)), degrees=[1.0, 2.0])


def test_speed_10k_images() -> None:
    batch = np.random.default_rng(0).random((10_000, 28, 28), dtype=np.float32)
    rotate(batch[:10], seed=0, max_degrees=10)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        affine(batch, seed=0, max_degrees=10, max_shift=2, max_zoom=0.1)
        best = min(best, time.perf_counter() - start)
    # The issue asks for < 0.5 s; measured ~0.27 s on 2 idle cores. The bound is loose so a
    # busy CI machine passes, yet a per-image loop (several seconds) fails.
    assert best < 1.5
