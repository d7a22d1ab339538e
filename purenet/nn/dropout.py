"""Inverted dropout masks, drawn from an explicit seed by the caller (never inside the math).

`dropout_masks(arch, n, seed=(seed, epoch, batch))` gives one mask per layer input: None where
the rate is 0, else `(n, width)` holding 0 (dropped) or `1 / (1 - rate)` (kept and scaled, so the
expected input is unchanged and inference needs no rescaling). Uniforms are drawn in float32
whatever the parameters' dtype, so float32 and float64 networks drop the same units.

Example:
    >>> import purenet as pn
    >>> arch = pn.Architecture((4, 8, 3), dropout=0.5)
    >>> masks = pn.dropout_masks(arch, 2, seed=(0, 1, 7))
    >>> masks.masks[0] is None, sorted(set(masks.masks[1].ravel().tolist())) == [0.0, 2.0]
    (True, True)
"""

from __future__ import annotations

import operator
from typing import Any

import attrs
import numpy as np
from numpy.typing import DTypeLike

from purenet.core.checks import float_dtype
from purenet.core.tree import readonly
from purenet.nn.architecture import Architecture

Array = np.ndarray


def _readonly_masks(value: Any) -> tuple[Array | None, ...]:
    return tuple(None if mask is None else readonly(mask) for mask in value)


@attrs.frozen(eq=False)
class DropoutMasks:
    """Explicit dropout masks: one per layer input (input first), None where nothing drops.

    Attributes:
        masks: `len(sizes) - 1` entries, each None or a read-only (batch, sizes[i]) float
            array multiplying layer i's input (0 drops a unit; kept units carry the scale).
    """

    masks: tuple[Array | None, ...] = attrs.field(converter=_readonly_masks)


Seed = int | tuple[int, ...]
"""A seed for `np.random.default_rng`: an int or a tuple such as `(seed, epoch, batch)`."""

Dropout = Seed | DropoutMasks | None
"""What the training functions take as `dropout=`: None (no units dropped), a seed, or masks."""


def check_seed(seed: Any) -> Seed:
    """Return `seed` as an int or a tuple of ints >= 0; raise `ValueError` otherwise."""
    try:
        if isinstance(seed, bool):
            raise TypeError
        parts = (
            tuple(operator.index(part) for part in seed)
            if isinstance(seed, tuple | list)
            else (operator.index(seed),)
        )
        if any(isinstance(part, bool) or part < 0 for part in parts):
            raise TypeError
    except TypeError:
        raise ValueError(
            f"dropout seed must be an int >= 0 or a tuple of them such as (seed, epoch, "
            f"batch), found {seed!r}"
        ) from None
    return parts if isinstance(seed, tuple | list) else parts[0]


def dropout_masks(
    arch: Architecture, n: int, *, seed: Seed, dtype: DTypeLike = "float32"
) -> DropoutMasks:
    """Draw inverted-dropout masks for a batch of `n` rows with `arch.dropout_rates`.

    Args:
        arch: the architecture (its `input_dropout` and `dropout` rates).
        n: the batch size.
        seed: an int or tuple of ints, e.g. `(seed, epoch, batch)`; the same seed and shapes
            give the same masks.
        dtype: the masks' float dtype (the parameters').

    Returns:
        `DropoutMasks`: per layer input, None for rate 0, else (n, sizes[i]) of 0 and
        `1 / (1 - rate)`.

    Raises:
        ValueError: a bad seed or dtype.
    """
    resolved = float_dtype(dtype)
    rng = np.random.default_rng(check_seed(seed))
    masks: list[Array | None] = []
    for rate, width in zip(arch.dropout_rates, arch.sizes[:-1], strict=True):
        if rate == 0:
            masks.append(None)
            continue
        keep = rng.random((n, width), dtype=np.float32) >= np.float32(rate)
        masks.append(keep.astype(resolved) * resolved.type(1.0 / (1.0 - rate)))
    return DropoutMasks(tuple(masks))


def resolve_dropout(
    arch: Architecture, dropout: Dropout, n: int, dtype: np.dtype
) -> tuple[Array | None, ...] | None:
    """The masks a training function applies: None for no dropout, else one entry per layer.

    Raises:
        ValueError: a bad seed, or masks whose count or shapes do not fit `arch` and `n`.
    """
    if dropout is None:
        return None
    if not isinstance(dropout, DropoutMasks):
        return dropout_masks(arch, n, seed=dropout, dtype=dtype).masks
    masks = dropout.masks
    if len(masks) != len(arch.sizes) - 1:
        raise ValueError(
            f"dropout masks: {len(masks)} given; sizes {arch.sizes} have {len(arch.sizes) - 1} "
            "layer inputs (None where nothing drops)"
        )
    for i, (mask, width) in enumerate(zip(masks, arch.sizes[:-1], strict=True)):
        if mask is not None and mask.shape != (n, width):
            raise ValueError(f"dropout masks[{i}]: shape {mask.shape}, expected {(n, width)}")
    return tuple(None if mask is None else mask.astype(dtype, copy=False) for mask in masks)
