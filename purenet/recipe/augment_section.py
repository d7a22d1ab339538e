"""`[pipeline] augment`: the augmentation specs of a recipe, each applying itself to images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import attrs
import numpy as np

from purenet.core.checks import NON_NEGATIVE, Interval
from purenet.pipeline import augment
from purenet.recipe.fields import satisfies

# Augmentation runs on raw images, before preprocessing: pixels that come from outside the
# image are a raw 0, the background, whatever the scaling.

Seed = int | Sequence[int]
"""An augmentation seed: `(seed, epoch, batch, ...)` streams, as `pipeline.augment` takes."""

_AT_LEAST_0 = satisfies(Interval(low=0, integer=True))
_NON_NEGATIVE = satisfies(NON_NEGATIVE)
_FRACTION_BELOW_1 = satisfies(Interval(0.0, 1.0, closed="left"))

# ---------------------------------------------------------------------------------------------
# Pipeline

_FILL = 0.0


@attrs.frozen
class Rotate:
    """Random rotations of up to `max_degrees` either way.

    `copies = 0` draws fresh rotations for every batch of every epoch; `copies = k` instead
    appends k rotated copies of each training image once, before training (the classic
    tutorials' expanded data set).
    """

    kind: ClassVar[str] = "rotate"
    max_degrees: float = attrs.field(validator=_NON_NEGATIVE)
    copies: int = attrs.field(default=0, validator=_AT_LEAST_0)

    def apply(self, images: np.ndarray, *, seed: Seed) -> np.ndarray:
        """`pipeline.augment.rotate` of raw `(n, h, w)` images, filling with 0."""
        return augment.rotate(images, seed=seed, max_degrees=self.max_degrees, fill=_FILL)


@attrs.frozen
class Shift:
    """Random whole-pixel shifts of up to `max_pixels` along each axis (`copies` as `Rotate`)."""

    kind: ClassVar[str] = "shift"
    max_pixels: int = attrs.field(validator=_AT_LEAST_0)
    copies: int = attrs.field(default=0, validator=_AT_LEAST_0)

    def apply(self, images: np.ndarray, *, seed: Seed) -> np.ndarray:
        """`pipeline.augment.shift` of raw `(n, h, w)` images, filling with 0."""
        return augment.shift(images, seed=seed, max_pixels=self.max_pixels, fill=_FILL)


@attrs.frozen
class Affine:
    """Random rotation, zoom and fractional shift in one resampling (`copies` as `Rotate`)."""

    kind: ClassVar[str] = "affine"
    max_degrees: float = attrs.field(default=0.0, validator=_NON_NEGATIVE)
    max_shift: float = attrs.field(default=0.0, validator=_NON_NEGATIVE)
    max_zoom: float = attrs.field(default=0.0, validator=_FRACTION_BELOW_1)
    copies: int = attrs.field(default=0, validator=_AT_LEAST_0)

    def apply(self, images: np.ndarray, *, seed: Seed) -> np.ndarray:
        """`pipeline.augment.affine` of raw `(n, h, w)` images, filling with 0."""
        return augment.affine(
            images,
            seed=seed,
            max_degrees=self.max_degrees,
            max_shift=self.max_shift,
            max_zoom=self.max_zoom,
            fill=_FILL,
        )
