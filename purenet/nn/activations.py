"""Activation functions, each written beside its derivative, in one registry.

Hidden activations (`ACTIVATIONS`) map pre-activations `z` to activations `a` element-wise.
Each record gives `function(z, out=None)` and `derivative(z, a)`; where the math allows the
derivative is computed from the output `a` (sigmoid `a * (1 - a)`, tanh `1 - a**2`), and
`uses_input` is False so the forward pass may overwrite `z` with `a`.

Output activations (`OUTPUTS`) act on a whole row (softmax) and give the vector-Jacobian
product `vjp(z, a, g) = (da/dz)^T g` that back-propagates a loss gradient `g = dL/da`.

All functions keep the dtype of `z` (float32 stays float32) and are stable for logits of
+-1000 in float32 and float64.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np
from scipy import special

Array = np.ndarray

LEAKY_SLOPE = 0.01
"""Slope of leaky_relu for negative inputs."""


@attrs.frozen
class Activation:
    """An element-wise activation with its derivative.

    Attributes:
        name: registry key, as recipes name it.
        function: `function(z, out=None) -> a`, same shape and dtype as `z`; `out` may be `z`.
        derivative: `derivative(z, a) -> da/dz`, element-wise, same shape as `z`.
        uses_input: whether `derivative` reads `z` (else only `a`, and `z` may be discarded).
    """

    name: str
    function: Callable[..., Array]
    derivative: Callable[[Array, Array], Array]
    uses_input: bool = False


def _identity(z: Array, out: Array | None = None) -> Array:
    if out is None:
        return z.copy()
    if out is not z:
        np.copyto(out, z)
    return out


def _sigmoid(z: Array, out: Array | None = None) -> Array:
    return special.expit(z, out=out)


def _tanh(z: Array, out: Array | None = None) -> Array:
    return np.tanh(z, out=out)


def _relu(z: Array, out: Array | None = None) -> Array:
    # Against an array of zeros: numpy's maximum with a scalar 0 takes a loop 2-3x slower.
    return np.maximum(z, np.zeros(z.shape, z.dtype), out=out)


def _leaky_relu(z: Array, out: Array | None = None) -> Array:
    slope = z.dtype.type(LEAKY_SLOPE)
    return np.maximum(z, z * slope, out=out)


def _softplus(z: Array, out: Array | None = None) -> Array:
    return np.logaddexp(z, 0, out=out)


def _elu(z: Array, out: Array | None = None) -> Array:
    # expm1 only of the non-positive part, so large positive z never overflows.
    result = np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if out is None:
        return result
    np.copyto(out, result)
    return out


def _silu(z: Array, out: Array | None = None) -> Array:
    return np.multiply(z, special.expit(z), out=out)


def _silu_derivative(z: Array, a: Array) -> Array:
    s = special.expit(z)
    return s * (1 + z * (1 - s))


ACTIVATIONS: dict[str, Activation] = {
    activation.name: activation
    for activation in (
        Activation("identity", _identity, lambda z, a: np.ones_like(a)),
        Activation("sigmoid", _sigmoid, lambda z, a: a * (1 - a)),
        Activation("tanh", _tanh, lambda z, a: 1 - a * a),
        Activation("relu", _relu, lambda z, a: (a > 0).astype(a.dtype)),
        Activation(
            "leaky_relu",
            _leaky_relu,
            lambda z, a: np.where(a > 0, a.dtype.type(1), a.dtype.type(LEAKY_SLOPE)),
        ),
        # softplus' derivative is sigmoid(z) = 1 - exp(-a), from the output.
        Activation("softplus", _softplus, lambda z, a: -np.expm1(-a)),
        # elu (alpha 1): a > 0 exactly when z > 0, and exp(z) = a + 1 below zero.
        Activation("elu", _elu, lambda z, a: np.where(a > 0, a.dtype.type(1), a + 1)),
        Activation("silu", _silu, _silu_derivative, uses_input=True),
    )
}

ACTIVATIONS["swish"] = attrs.evolve(ACTIVATIONS["silu"], name="swish")

"""Hidden activations by name: identity, sigmoid, tanh, relu, leaky_relu, softplus, elu,
silu (alias swish)."""

RELU_LIKE = frozenset({"relu", "leaky_relu", "elu", "silu", "swish", "softplus"})
"""Activations whose layers are initialized with He's scheme by default."""


def softmax(z: Array) -> Array:
    """Row-wise softmax, stable for any finite logits.

    Args:
        z: (batch, k) float logits.

    Returns:
        (batch, k) probabilities of the same dtype; each row sums to 1.
    """
    shifted = z - z.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def log_softmax(z: Array) -> Array:
    """Row-wise log-softmax via log-sum-exp: (batch, k) float -> (batch, k), same dtype."""
    shifted = z - z.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


@attrs.frozen
class OutputActivation:
    """An output activation acting on whole rows, with its vector-Jacobian product.

    Attributes:
        name: registry key.
        function: `function(z) -> a`, (batch, k) -> (batch, k), same dtype.
        vjp: `vjp(z, a, g) -> dL/dz` given `g = dL/da`, all (batch, k).
    """

    name: str
    function: Callable[[Array], Array]
    vjp: Callable[[Array, Array, Array], Array]


def _softmax_vjp(z: Array, a: Array, g: Array) -> Array:
    # J = diag(a) - a a^T, so J^T g = a * (g - <g, a>) row by row; no Jacobian is formed.
    return a * (g - (g * a).sum(axis=1, keepdims=True))


OUTPUTS: dict[str, OutputActivation] = {
    output.name: output
    for output in (
        OutputActivation("softmax", softmax, _softmax_vjp),
        OutputActivation("sigmoid", lambda z: special.expit(z), lambda z, a, g: g * a * (1 - a)),
        OutputActivation("identity", lambda z: z.copy(), lambda z, a, g: g),
    )
}
"""Output activations by name: softmax, sigmoid, identity."""
