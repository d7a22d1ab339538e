"""The user's own pictures of digits, turned into MNIST-style 28x28 images.

MNIST's digits are light ink on a black background, cropped to the ink, scaled (keeping the
aspect ratio) into a 20x20 box and placed in a 28x28 field so that their centre of mass sits
in the middle. `to_mnist` applies that convention to one grayscale array (pure numpy);
`load_images` decodes files with Pillow (the `image` extra) and applies it to each.

Example:
    >>> import numpy as np
    >>> from purenet.data.images import to_mnist
    >>> page = np.full((60, 40), 255, dtype=np.uint8)  # white paper
    >>> page[10:50, 5:9] = 0  # a black "1" near the left edge
    >>> digit = to_mnist(page)
    >>> digit.shape, digit.dtype, int(digit.max())
    ((28, 28), dtype('uint8'), 255)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from purenet.core.limits import IMAGE_PIXELS
from purenet.data.files import check_file
from purenet.errors import DataFormatError, require_extra

SIZE = 28
"""Side of the output field, in pixels."""

BOX = 20
"""Side of the box the ink is scaled into (the longer side of the ink becomes this long)."""

CENTRE = SIZE / 2
"""Where the centre of mass goes, in pixel-index coordinates (row, column): MNIST's digits
have theirs at (14, 14) within half a pixel (the test set averages 13.99, 14.01)."""

INK_THRESHOLD = 0.1
"""Pixels brighter than this fraction of the brightest one count as ink when cropping, so
faint noise from paper or JPEG compression does not widen the crop."""

SPECK_FRACTION = 0.05
"""Blobs of ink (8-connected) smaller than this fraction of the largest blob are dropped as
specks of dust or noise; the parts of a digit (the bar of a 5) are far larger."""


def _area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) matrix averaging the source cells each target cell covers (box filter).

    Area averaging neither drops thin strokes when shrinking a large photo (as point sampling
    would) nor invents values; every row sums to one.
    """
    step = source / target
    low = np.arange(target)[:, None] * step
    cells = np.arange(source)[None, :]
    overlap = np.minimum(low + step, cells + 1) - np.maximum(low, cells)
    return np.clip(overlap, 0.0, None) / step


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = _area_weights(image.shape[0], height)
    cols = _area_weights(image.shape[1], width)
    resized: np.ndarray = rows @ image @ cols.T
    return resized


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    rows = image.sum(axis=1) @ np.arange(image.shape[0]) / total
    cols = image.sum(axis=0) @ np.arange(image.shape[1]) / total
    return float(rows), float(cols)


def to_mnist(gray: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Turn one grayscale picture of a digit into a 28x28 MNIST-style image.

    Steps: invert when the background (the median of the border pixels) is light; subtract
    the background level so paper grey becomes 0; drop isolated specks; crop to the ink;
    scale the ink so its longer side is 20 px, keeping the aspect ratio (area averaging);
    place it in a 28x28 field with its centre of mass moved to pixel (14, 14) (a whole-pixel
    shift, as MNIST did); stretch so the brightest pixel is 255.

    Args:
        gray: (h, w) grayscale, any real dtype, 0 = black; any size of at least 1x1.
        name: what to call the picture in error messages (a file name).

    Returns:
        (28, 28) uint8, light ink on black, centre of mass within half a pixel of
        (`CENTRE`, `CENTRE`) = (14, 14) unless the ink is pushed against the field's edge.

    Raises:
        DataFormatError: `gray` is not 2-D, holds NaN/Inf, or has no ink (a blank picture).

    Example:
        >>> import numpy as np
        >>> dot = np.zeros((5, 5)); dot[0, 0] = 255
        >>> int(to_mnist(dot)[13:15, 13:15].max())
        255
    """
    image = np.asarray(gray, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise DataFormatError(
            f"{name}: expected a non-empty 2-D grayscale image, found shape {image.shape}"
        )
    if not np.isfinite(image).all():
        raise DataFormatError(f"{name}: the image holds NaN or Inf")
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    background = float(np.median(border))
    top_value = float(image.max())
    if background > (float(image.min()) + top_value) / 2:
        image = top_value - image
        background = top_value - background
    ink = np.clip(image - background, 0.0, None)
    peak = float(ink.max())
    if peak <= 0:
        raise DataFormatError(f"{name}: no ink found (the picture is one flat shade)")
    mask = ink > INK_THRESHOLD * peak
    blobs, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count > 1:
        # Dust, paper texture or sensor noise away from the digit would stretch the crop
        # and shrink the digit: blobs much smaller than the largest are not ink.
        sizes = np.bincount(blobs.ravel())[1:]
        specks = np.isin(blobs, np.flatnonzero(sizes < SPECK_FRACTION * sizes.max()) + 1)
        ink[specks] = 0.0
        mask &= ~specks
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = ink.shape
    scale = BOX / max(height, width)
    box = _resize(ink, max(1, round(height * scale)), max(1, round(width * scale)))
    com_row, com_col = _centre_of_mass(box)
    top, left = round(CENTRE - com_row), round(CENTRE - com_col)
    field = np.zeros((SIZE, SIZE))
    # Clip the placement to the field: a lopsided digit may be pushed partly out of it.
    src_top, src_left = max(0, -top), max(0, -left)
    dst_top, dst_left = max(0, top), max(0, left)
    h = min(box.shape[0] - src_top, SIZE - dst_top)
    w = min(box.shape[1] - src_left, SIZE - dst_left)
    field[dst_top : dst_top + h, dst_left : dst_left + w] = box[
        src_top : src_top + h, src_left : src_left + w
    ]
    field *= 255.0 / field.max()
    return np.rint(field).astype(np.uint8)


def read_gray(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image file to a grayscale array with Pillow (needs the `image` extra).

    Transparent pixels are laid over white first, so a drawing on a transparent canvas reads
    as ink on paper.

    Args:
        path: any format Pillow reads (PNG, JPEG, BMP, GIF, ...).

    Returns:
        (h, w) uint8, 0 = black.

    Raises:
        MissingExtraError: Pillow is not installed.
        DataFormatError: the file is missing or is not an image Pillow can decode.
    """
    require_extra("PIL", "image")
    from PIL import Image, UnidentifiedImageError

    name = os.fspath(path)
    check_file(path)
    picture: Image.Image
    try:
        with warnings.catch_warnings():
            # PURENET_MAX_IMAGE_PIXELS is the limit (Pillow's own only warns below twice its).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                pixels = opened.width * opened.height
                if pixels > IMAGE_PIXELS.value():
                    raise DataFormatError(f"{name}: {IMAGE_PIXELS.refusal(pixels, 'pixels')}")
                opened.load()
                picture = opened
    except Image.DecompressionBombError as exc:
        raise DataFormatError(f"{name}: {exc}; set PURENET_MAX_IMAGE_PIXELS") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataFormatError(f"{name}: not an image Pillow can read ({exc})") from None
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, rgba)
    return np.asarray(picture.convert("L"), dtype=np.uint8)


def load_images(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """Read pictures of single digits and convert each to an MNIST-style 28x28 image.

    Apply the model's own preprocessing (scaling, flattening) to the result before
    `predict`; see `to_mnist` for the conversion.

    Args:
        paths: image files, one digit each, dark-on-light or light-on-dark, any size.

    Returns:
        (len(paths), 28, 28) uint8, light ink on black, in the order of `paths`.

    Raises:
        MissingExtraError: Pillow is not installed (the message names the `image` extra).
        DataFormatError: a file is missing, not an image, or blank; the message names it.

    Example:
        >>> from purenet.data.images import load_images
        >>> digits = load_images(["three.png", "seven.jpg"])  # doctest: +SKIP
        >>> digits.shape  # doctest: +SKIP
        (2, 28, 28)
    """
    images = [to_mnist(read_gray(path), name=os.fspath(path)) for path in paths]
    if not images:
        return np.zeros((0, SIZE, SIZE), dtype=np.uint8)
    return np.stack(images)
