"""Image augmentation vectorized over the batch: rotation, shift and affine warps.

Every function takes a batch of images `(n, h, w)` and resamples the whole batch in one
`scipy.ndimage.map_coordinates` call (bilinear, `order=1`) over an `(n, h, w)` grid of
coordinates built by broadcasting: there is no Python loop over images. Each image gets its
own random parameters drawn from `np.random.default_rng(seed)`, so the same seed gives the
same batch. Pixels that come from outside the image take the value `fill`.

The geometry follows `scipy.ndimage.rotate(..., reshape=False)` and `scipy.ndimage.shift`
image by image (tested to 1e-5): rotation is about the image centre `((h-1)/2, (w-1)/2)` and a
positive angle turns the image counter-clockwise as displayed (90 degrees is `np.rot90`).

Example:
    >>> import numpy as np
    >>> from purenet.pipeline.augment import rotate
    >>> images = np.zeros((4, 28, 28), dtype=np.float32)
    >>> rotate(images, seed=0, max_degrees=10).shape
    (4, 28, 28)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage, special

from purenet.core.checks import check_int

# Images resampled per map_coordinates call: bounds the coordinate grid to ~40 MB.
_CHUNK = 2048


def _check_images(images: ArrayLike) -> np.ndarray:
    array = np.asarray(images)
    if array.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w); got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"images must be numeric; got dtype {array.dtype}")
    return array


def _per_image(value: ArrayLike, n: int, name: str, tail: tuple[int, ...] = ()) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    try:
        out = np.broadcast_to(array, (n, *tail))
    except ValueError:
        shape = (n, *tail)
        raise ValueError(
            f"{name} must broadcast to shape {shape}; got shape {array.shape}"
        ) from None
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must be finite")
    return out


def _out_dtype(array: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if array.dtype == np.float64 else np.dtype(np.float32)


def warp(
    images: ArrayLike,
    *,
    degrees: ArrayLike = 0.0,
    shifts: ArrayLike = 0.0,
    zooms: ArrayLike = 1.0,
    fill: float = 0.0,
) -> np.ndarray:
    """Rotate, zoom and shift each image by its own given amounts, in one bilinear resampling.

    The output pixel `o` of image `k` samples the input at
    `c + R(degrees[k]) @ (o - shifts[k] - c) / zooms[k]`, `c` being the image centre and `R`
    the rotation of `scipy.ndimage.rotate`; so `degrees` alone equals `scipy.ndimage.rotate`
    and `shifts` alone equals `scipy.ndimage.shift` (`order=1`, `mode="constant"`).

    Args:
        images: `(n, h, w)` numeric; float64 stays float64, anything else gives float32.
        degrees: `(n,)` or a scalar, counter-clockwise rotation angles in degrees.
        shifts: `(n, 2)`, `(2,)` or a scalar, `(rows, cols)` offsets in pixels (down, right).
        zooms: `(n,)` or a scalar, positive scale factors (2.0 doubles the size).
        fill: value of pixels that come from outside the image.

    Returns:
        `(n, h, w)` float array, a new array.

    Raises:
        ValueError: `images` is not `(n, h, w)`, a parameter does not broadcast to the batch,
            is not finite, or a zoom is not positive.

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.augment import warp
        >>> images = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
        >>> bool(np.allclose(warp(images, degrees=90), np.rot90(images, axes=(1, 2))))
        True
    """
    array = _check_images(images)
    n, h, w = array.shape
    angles = _per_image(degrees, n, "degrees")
    offsets = _per_image(shifts, n, "shifts", (2,))
    factors = _per_image(zooms, n, "zooms")
    if np.any(factors <= 0):
        raise ValueError("zooms must be positive")
    if not np.isfinite(fill):
        raise ValueError(f"fill must be finite; got {fill}")
    dtype = _out_dtype(array)
    out = np.empty(array.shape, dtype=dtype)
    if n == 0:
        return out
    source = array.astype(dtype, copy=False)
    # cosdg/sindg are exact at multiples of 90 degrees, so rot90 comes out exact.
    cos = (special.cosdg(angles) / factors).astype(np.float32)
    sin = (special.sindg(angles) / factors).astype(np.float32)
    rows = np.arange(h, dtype=np.float32)[:, None] - np.float32((h - 1) / 2)
    cols = np.arange(w, dtype=np.float32)[None, :] - np.float32((w - 1) / 2)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        k = slice(start, stop)
        dr = rows[None] - offsets[k, 0, None, None].astype(np.float32)
        dc = cols[None] - offsets[k, 1, None, None].astype(np.float32)
        c, s = cos[k, None, None], sin[k, None, None]
        coords = np.empty((3, stop - start, h, w), dtype=np.float32)
        coords[0] = np.arange(stop - start, dtype=np.float32)[:, None, None]
        coords[1] = c * dr + s * dc + np.float32((h - 1) / 2)
        coords[2] = c * dc - s * dr + np.float32((w - 1) / 2)
        ndimage.map_coordinates(
            source[k],
            coords,
            output=out[k],
            order=1,
            mode="constant",
            cval=fill,
            prefilter=False,
        )
    return out


def _rng(seed: int | Sequence[int]) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_max(value: float, name: str) -> float:
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0; got {value}")
    return float(value)


def rotate(
    images: ArrayLike,
    *,
    seed: int | Sequence[int],
    max_degrees: float,
    fill: float = 0.0,
) -> np.ndarray:
    """Turn each image by its own random angle in `[-max_degrees, +max_degrees]` (bilinear).

    The angles are `np.random.default_rng(seed).uniform(-max_degrees, max_degrees, n)`; the
    result equals `scipy.ndimage.rotate(image, angle, reshape=False, order=1, cval=fill)`
    image by image.

    Args:
        images: `(n, h, w)` numeric; float64 stays float64, anything else gives float32.
        seed: an int or a sequence of ints such as `(seed, epoch, batch)`.
        max_degrees: largest rotation, >= 0 (the tutorials use 10).
        fill: value of pixels that come from outside the image.

    Returns:
        `(n, h, w)` float array, a new array.

    Raises:
        ValueError: bad shape, negative or non-finite `max_degrees`.

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.augment import rotate
        >>> rotate(np.ones((2, 5, 5)), seed=1, max_degrees=10).dtype
        dtype('float64')
    """
    array = _check_images(images)
    limit = _check_max(max_degrees, "max_degrees")
    angles = _rng(seed).uniform(-limit, limit, array.shape[0])
    return warp(array, degrees=angles, fill=fill)


def shift(
    images: ArrayLike,
    *,
    seed: int | Sequence[int],
    max_pixels: int,
    fill: float = 0.0,
) -> np.ndarray:
    """Move each image by its own random whole-pixel offset of at most `max_pixels` per axis.

    The offsets are `np.random.default_rng(seed).integers(-max_pixels, max_pixels,
    size=(n, 2), endpoint=True)` as `(down, right)`; whole pixels keep the digits sharp.

    Args:
        images: `(n, h, w)` numeric; float64 stays float64, anything else gives float32.
        seed: an int or a sequence of ints.
        max_pixels: largest offset along each axis, an int >= 0.
        fill: value of pixels moved in from outside the image.

    Returns:
        `(n, h, w)` float array, a new array.

    Raises:
        ValueError: bad shape, or `max_pixels` < 0.
        TypeError: `max_pixels` is not an integer (a bool is none).

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.augment import shift
        >>> shift(np.ones((3, 28, 28), np.float32), seed=0, max_pixels=2).shape
        (3, 28, 28)
    """
    array = _check_images(images)
    max_pixels = check_int("max_pixels", max_pixels, low=0)
    offsets = _rng(seed).integers(-max_pixels, max_pixels, size=(array.shape[0], 2), endpoint=True)
    return warp(array, shifts=offsets, fill=fill)


def affine(
    images: ArrayLike,
    *,
    seed: int | Sequence[int],
    max_degrees: float = 0.0,
    max_shift: float = 0.0,
    max_zoom: float = 0.0,
    fill: float = 0.0,
) -> np.ndarray:
    """Rotate, zoom and shift each image by random amounts in one bilinear resampling.

    Per image: an angle uniform in `[-max_degrees, max_degrees]`, a zoom factor uniform in
    `[1 - max_zoom, 1 + max_zoom]` and a `(down, right)` offset uniform in
    `[-max_shift, max_shift]` pixels, drawn in that order from `np.random.default_rng(seed)`;
    then `warp(images, degrees=..., shifts=..., zooms=...)`.

    Args:
        images: `(n, h, w)` numeric; float64 stays float64, anything else gives float32.
        seed: an int or a sequence of ints.
        max_degrees: largest rotation in degrees, >= 0.
        max_shift: largest offset in pixels along each axis, >= 0 (fractional allowed).
        max_zoom: largest relative change of scale, in `[0, 1)`.
        fill: value of pixels that come from outside the image.

    Returns:
        `(n, h, w)` float array, a new array.

    Raises:
        ValueError: bad shape or out-of-range limits.

    Example:
        >>> import numpy as np
        >>> from purenet.pipeline.augment import affine
        >>> images = np.ones((3, 28, 28), np.float32)
        >>> affine(images, seed=0, max_degrees=10, max_shift=2, max_zoom=0.1).shape
        (3, 28, 28)
    """
    array = _check_images(images)
    degrees = _check_max(max_degrees, "max_degrees")
    pixels = _check_max(max_shift, "max_shift")
    zoom = _check_max(max_zoom, "max_zoom")
    if zoom >= 1:
        raise ValueError(f"max_zoom must be < 1; got {max_zoom}")
    n = array.shape[0]
    rng = _rng(seed)
    angles = rng.uniform(-degrees, degrees, n)
    zooms = rng.uniform(1 - zoom, 1 + zoom, n)
    offsets = rng.uniform(-pixels, pixels, (n, 2))
    return warp(array, degrees=angles, shifts=offsets, zooms=zooms, fill=fill)
