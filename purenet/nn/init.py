"""Weight initialization: frozen specs (`He()`, `Glorot()`, `Normal(std)`) and `init`.

A spec is data (a recipe or a model's metadata can store it, `{kind = "normal", std = 1.0}`)
with the one behaviour that matters, `draw(rng, fan_in, fan_out)`. The names `he`, `glorot`,
`normal` and `small` stay accepted wherever a spec is.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np
from numpy.typing import DTypeLike

from purenet.core.checks import float_dtype
from purenet.nn.activations import RELU_LIKE
from purenet.nn.architecture import Architecture, Dense, Params

Array = np.ndarray


@attrs.frozen
class He:
    """He et al. (2015): `N(0, 2 / fan_in)`, for ReLU-like activations."""

    kind: ClassVar[str] = "he"

    def draw(self, rng: np.random.Generator, fan_in: int, fan_out: int) -> Array:
        """(fan_in, fan_out) float64 weights."""
        return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


@attrs.frozen
class Glorot:
    """Glorot and Bengio (2010): `U(-l, l)` with `l = sqrt(6 / (fan_in + fan_out))`."""

    kind: ClassVar[str] = "glorot"

    def draw(self, rng: np.random.Generator, fan_in: int, fan_out: int) -> Array:
        """(fan_in, fan_out) float64 weights."""
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out))


def _check_std(instance: Normal, attribute: attrs.Attribute[float | None], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"Normal.std: expected a number > 0 or None, found {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"Normal.std: expected a finite number, found {value!r}")


@attrs.frozen
class Normal:
    """`N(0, std^2)`: `Normal(1.0)` is Nielsen's N(0, 1), `Normal(0.01)` the `small` scheme.

    Attributes:
        std: the standard deviation (> 0), or None for `1 / sqrt(fan_out)` (the `normal`
            scheme of the classic tutorials).
    """

    kind: ClassVar[str] = "normal"
    std: float | None = attrs.field(default=None, validator=_check_std)

    def draw(self, rng: np.random.Generator, fan_in: int, fan_out: int) -> Array:
        """(fan_in, fan_out) float64 weights."""
        std = fan_out**-0.5 if self.std is None else float(self.std)
        return rng.standard_normal((fan_in, fan_out)) * std


InitScheme = He | Glorot | Normal
"""An initialization spec."""

INIT_SPECS: dict[str, type[InitScheme]] = {spec.kind: spec for spec in (He, Glorot, Normal)}
"""Spec classes by `kind`, for tagged unions (`{kind = "normal", std = 1.0}`)."""

INIT_NAMES: dict[str, InitScheme] = {
    "he": He(),
    "glorot": Glorot(),
    "normal": Normal(),
    "small": Normal(0.01),
}
"""Named schemes: he, glorot, normal (N(0, 1/fan_out)), small (N(0, 0.01^2))."""

INIT_SCHEMES = tuple(INIT_NAMES)
"""Weight initialization scheme names accepted by `init`."""


def init_scheme(scheme: str | InitScheme | None, arch: Architecture) -> InitScheme:
    """Resolve a name, a spec or None (He for ReLU-like first hidden layers, else Glorot).

    Raises:
        ValueError: an unknown name or a value that is no spec; the message lists the choices.
    """
    if scheme is None:
        # A network without hidden layers keeps its (unused) `hidden` name's default, as always.
        first = arch.activations[0] if arch.activations else arch.hidden
        return He() if first in RELU_LIKE else Glorot()
    if isinstance(scheme, He | Glorot | Normal):
        return scheme
    if isinstance(scheme, str) and scheme in INIT_NAMES:
        return INIT_NAMES[scheme]
    raise ValueError(
        f"unknown init scheme {scheme!r}; supported: {', '.join(INIT_SCHEMES)}, or a spec "
        "He(), Glorot(), Normal(std)"
    )


def init(
    arch: Architecture,
    *,
    seed: int,
    scheme: str | InitScheme | None = None,
    dtype: DTypeLike = "float32",
) -> Params:
    """Draw initial parameters; biases start at zero.

    Args:
        arch: the architecture.
        seed: seed of the random stream (`np.random.default_rng(seed)`).
        scheme: a spec (`He()`, `Glorot()`, `Normal(std)`) or a name: `he` (N(0, 2/fan_in)),
            `glorot` (U(+-sqrt(6/(fan_in+fan_out)))), `normal` (N(0, 1/fan_out), the classic
            tutorials' choice) or `small` (N(0, 0.01^2)). Default: He when the first hidden
            activation is ReLU-like, Glorot otherwise.
        dtype: float32 (default) or float64. Values are drawn in float64 and rounded, so
            both dtypes start from the same numbers.

    Returns:
        Params with `w` of shape (sizes[i], sizes[i+1]) and `b` of shape (sizes[i+1],), or
        (0,) for a layer without bias.

    Raises:
        ValueError: an unknown scheme or dtype.

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((784, 128, 10))
        >>> params = pn.init(arch, seed=0, scheme=pn.Normal(1.0))
        >>> params[0].w.shape, params[0].w.dtype
        ((784, 128), dtype('float32'))
    """
    resolved = float_dtype(dtype)
    spec = init_scheme(scheme, arch)
    rng = np.random.default_rng(seed)
    return tuple(
        Dense(spec.draw(rng, *w_shape).astype(resolved), np.zeros(b_shape, dtype=resolved))
        for w_shape, b_shape in arch.param_shapes
    )
