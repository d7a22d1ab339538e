"""The model core: an `Architecture` spec, `Dense` parameter trees and pure functions on them.

`Params` is a tuple of `Dense(w, b)` layers, one per pair of adjacent sizes; gradients have the
same type. Every function here is pure: it reads its inputs, never writes them, and returns
new arrays of the parameters' dtype (float32 in, float32 out).

Example:
    >>> import numpy as np, purenet as pn
    >>> arch = pn.Architecture((2, 8, 2), hidden="tanh")
    >>> params = pn.init(arch, seed=0)
    >>> x = np.array([[0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    >>> value, grads = pn.value_and_grad(arch, params, x, np.array([1, 0]))
    >>> params = pn.sgd_step(params, grads, 0.5)
    >>> pn.predict(arch, params, x).shape
    (2,)
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np
from numpy.typing import DTypeLike

from purenet.core.checks import float_dtype
from purenet.core.tree import readonly
from purenet.nn.activations import ACTIVATIONS, OUTPUTS, RELU_LIKE
from purenet.nn.losses import LOSSES, supported_pairs

Array = np.ndarray

INIT_SCHEMES = ("he", "glorot", "normal", "small")
"""Weight initialization schemes accepted by `init`."""


def _to_sizes(value: Iterable[Any]) -> tuple[int, ...]:
    try:
        sizes = tuple(operator.index(size) for size in value)
    except TypeError:
        raise ValueError(f"sizes must be a sequence of integers, found {value!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(
            f"sizes must hold at least two positive layer widths (input first), found {sizes}"
        )
    return sizes


def _choices(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


@attrs.frozen
class Architecture:
    """The static description of a multilayer perceptron.

    Attributes:
        sizes: layer widths, input first, e.g. `(784, 256, 128, 10)`.
        hidden: a key of `ACTIVATIONS`, used by every hidden layer.
        output: `softmax`, `sigmoid` or `identity`.
        loss: `cross_entropy` (categorical with softmax, per-unit binary with sigmoid) or
            `mse` (the quadratic cost `1/2 * ||a - y||^2` per sample, with any output).

    Raises:
        ValueError: an unknown name or an unsupported (output, loss) pair; the message lists
            what is supported.
    """

    sizes: tuple[int, ...] = attrs.field(converter=_to_sizes)
    hidden: str = "relu"
    output: str = "softmax"
    loss: str = "cross_entropy"

    def __attrs_post_init__(self) -> None:
        if self.hidden not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.hidden!r}; supported: {_choices(ACTIVATIONS)}"
            )
        if self.output not in OUTPUTS:
            raise ValueError(
                f"unknown output activation {self.output!r}; supported: {_choices(OUTPUTS)}"
            )
        if (self.output, self.loss) not in LOSSES:
            raise ValueError(
                f"unsupported output x loss pair: {self.output} x {self.loss}; "
                f"supported: {supported_pairs()}"
            )

    @property
    def layer_shapes(self) -> tuple[tuple[int, int], ...]:
        """The `(fan_in, fan_out)` shape of each layer's weights."""
        return tuple(zip(self.sizes[:-1], self.sizes[1:], strict=True))


@attrs.frozen(eq=False)
class Dense:
    """One fully connected layer's parameters; `a_out = f(a_in @ w + b)`.

    The fields are read-only views of the arrays given (not copies): nothing can write
    through the tree, and no purenet function writes an array it was given. An array you
    keep and write to yourself shows through; pass `w.copy()` to detach it.

    Attributes:
        w: (fan_in, fan_out) float weights, read-only.
        b: (fan_out,) float biases, read-only.
    """

    w: Array = attrs.field(converter=readonly)
    b: Array = attrs.field(converter=readonly)


Params = tuple[Dense, ...]
"""A network's parameters (and gradients): one `Dense` per layer, input side first."""


def init(
    arch: Architecture, *, seed: int, scheme: str | None = None, dtype: DTypeLike = "float32"
) -> Params:
    """Draw initial parameters; biases start at zero.

    Args:
        arch: the architecture.
        seed: seed of the random stream (`np.random.default_rng(seed)`).
        scheme: `he` (N(0, 2/fan_in)), `glorot` (U(+-sqrt(6/(fan_in+fan_out)))), `normal`
            (N(0, 1/fan_out), the classic tutorials' choice) or `small` (0.01 * N(0, 1)).
            Default: He for ReLU-like hidden activations, Glorot otherwise.
        dtype: float32 (default) or float64. Values are drawn in float64 and rounded, so
            both dtypes start from the same numbers.

    Returns:
        Params with `w` of shape (sizes[i], sizes[i+1]) and `b` of shape (sizes[i+1],).

    Example:
        >>> import purenet as pn
        >>> params = pn.init(pn.Architecture((784, 128, 10)), seed=0)
        >>> params[0].w.shape, params[0].w.dtype
        ((784, 128), dtype('float32'))
    """
    resolved = float_dtype(dtype)
    if scheme is None:
        scheme = "he" if arch.hidden in RELU_LIKE else "glorot"
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; supported: {', '.join(INIT_SCHEMES)}")
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in arch.layer_shapes:
        shape = (fan_in, fan_out)
        if scheme == "he":
            w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        elif scheme == "glorot":
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, shape)
        elif scheme == "normal":
            w = rng.normal(0.0, fan_out**-0.5, shape)
        else:
            w = 0.01 * rng.standard_normal(shape)
        layers.append(Dense(w.astype(resolved), np.zeros(fan_out, dtype=resolved)))
    return tuple(layers)


def check_params(arch: Architecture, params: Params) -> None:
    """Raise `ValueError` naming the path if `params` does not fit `arch`."""
    if len(params) != len(arch.sizes) - 1:
        raise ValueError(
            f"params have {len(params)} layers; sizes {arch.sizes} need {len(arch.sizes) - 1}"
        )
    dtype = params[0].w.dtype
    for i, (layer, (fan_in, fan_out)) in enumerate(zip(params, arch.layer_shapes, strict=True)):
        if layer.w.shape != (fan_in, fan_out):
            raise ValueError(f"[{i}].w: shape {layer.w.shape}, expected {(fan_in, fan_out)}")
        if layer.b.shape != (fan_out,):
            raise ValueError(f"[{i}].b: shape {layer.b.shape}, expected {(fan_out,)}")
        for name in ("w", "b"):
            found = getattr(layer, name).dtype
            if found != dtype:
                raise ValueError(f"[{i}].{name}: dtype {found}, expected {dtype} like [0].w")


def _check_inputs(arch: Architecture, params: Params, x: Array) -> Array:
    check_params(arch, params)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != arch.sizes[0]:
        raise ValueError(f"x has shape {x.shape}; the model expects (batch, {arch.sizes[0]})")
    return x.astype(params[0].w.dtype, copy=False)


def _check_targets(x: Array, y: Array) -> Array:
    y = np.asarray(y)
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"y has shape {y.shape}; expected labels ({x.shape[0]},) or targets ({x.shape[0]}, k)"
        )
    return y


def _forward_trace(
    arch: Architecture, params: Params, x: Array
) -> tuple[list[Array], list[Array | None], Array, Array]:
    """Run the network, keeping what backprop needs.

    Returns:
        (inputs, pre_activations, z, a): `inputs[i]` is the input of layer i;
        `pre_activations[i]` its z where the hidden derivative needs it (else None);
        `z` and `a` are the output layer's logits and activations, (batch, sizes[-1]).
    """
    hidden = ACTIVATIONS[arch.hidden]
    inputs: list[Array] = []
    pre_activations: list[Array | None] = []
    a = x
    for layer in params[:-1]:
        inputs.append(a)
        z = a @ layer.w
        z += layer.b
        if hidden.uses_input:
            pre_activations.append(z)
            a = hidden.function(z)
        else:
            pre_activations.append(None)
            a = hidden.function(z, out=z)
    inputs.append(a)
    z = a @ params[-1].w
    z += params[-1].b
    return inputs, pre_activations, z, OUTPUTS[arch.output].function(z)


def forward(arch: Architecture, params: Params, x: Array) -> Array:
    """Compute the network's output activations.

    Args:
        arch: the architecture.
        params: parameters fitting `arch`.
        x: (batch, sizes[0]) inputs; cast to the parameters' dtype.

    Returns:
        (batch, sizes[-1]) output activations (probabilities for softmax and sigmoid),
        in the parameters' dtype.
    """
    x = _check_inputs(arch, params, x)
    return _forward_trace(arch, params, x)[3]


def _l2_penalty(params: Params, l2: float) -> float:
    if not l2:
        return 0.0
    squares = sum(float(np.square(layer.w).sum(dtype=np.float64)) for layer in params)
    return 0.5 * l2 * squares


def loss(arch: Architecture, params: Params, x: Array, y: Array, *, l2: float = 0.0) -> float:
    """Mean loss over the batch plus `l2 / 2 * sum ||w||^2` over the weights (not biases).

    Args:
        x: (batch, sizes[0]) inputs.
        y: (batch,) integer labels or (batch, sizes[-1]) targets.
        l2: the L2 coefficient (>= 0).

    Returns:
        The loss as a Python float.
    """
    x = _check_inputs(arch, params, x)
    y = _check_targets(x, y)
    _, _, z, a = _forward_trace(arch, params, x)
    return LOSSES[arch.output, arch.loss].value(z, a, y) + _l2_penalty(params, l2)


def loss_grad_and_output(
    arch: Architecture, params: Params, x: Array, y: Array, *, l2: float = 0.0
) -> tuple[float, Params, Array]:
    """One forward and one backward pass: the loss, its gradient and the network's outputs.

    Args:
        x: (batch, sizes[0]) inputs.
        y: (batch,) integer labels or (batch, sizes[-1]) targets.
        l2: the L2 coefficient; adds `l2 * w` to each weight gradient.

    Returns:
        (loss, grads, outputs): the same value as `loss`, gradients with the structure and
        dtype of `params`, and the (batch, sizes[-1]) output activations.
    """
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, found {l2}")
    x = _check_inputs(arch, params, x)
    y = _check_targets(x, y)
    inputs, pre_activations, z, a = _forward_trace(arch, params, x)
    pair = LOSSES[arch.output, arch.loss]
    value = pair.value(z, a, y) + _l2_penalty(params, l2)
    hidden = ACTIVATIONS[arch.hidden]
    delta = pair.delta(z, a, y)
    grads: list[Dense] = []
    for i in range(len(params) - 1, -1, -1):
        w = params[i].w
        grad_w = inputs[i].T @ delta
        if l2:
            grad_w += w.dtype.type(l2) * w
        grad_b = delta.sum(axis=0)
        grads.append(Dense(grad_w, grad_b))
        if i > 0:
            delta = delta @ w.T
            delta *= hidden.derivative(pre_activations[i - 1], inputs[i])  # type: ignore[arg-type]
    return value, tuple(reversed(grads)), a


def value_and_grad(
    arch: Architecture, params: Params, x: Array, y: Array, *, l2: float = 0.0
) -> tuple[float, Params]:
    """The loss (as `loss`) and its gradient with respect to every parameter.

    Args:
        x: (batch, sizes[0]) inputs.
        y: (batch,) integer labels or (batch, sizes[-1]) targets.
        l2: the L2 coefficient.

    Returns:
        (loss, grads): a float and Params of the same shapes and dtype as `params`.
    """
    value, grads, _ = loss_grad_and_output(arch, params, x, y, l2=l2)
    return value, grads


def grad(arch: Architecture, params: Params, x: Array, y: Array, *, l2: float = 0.0) -> Params:
    """The gradient of `loss` with respect to every parameter (see `value_and_grad`)."""
    return value_and_grad(arch, params, x, y, l2=l2)[1]


def labels_of(y: Array) -> Array:
    """Integer labels of labels or targets.

    Args:
        y: (batch,) integer labels, (batch, 1) binary targets (> 0.5 is class 1) or
            (batch, k) one-hot or soft targets (argmax).

    Returns:
        (batch,) int64 labels.
    """
    y = np.asarray(y)
    if y.ndim == 1:
        return y.astype(np.int64, copy=False)
    if y.shape[1] == 1:
        return (y[:, 0] > 0.5).astype(np.int64)
    return y.argmax(axis=1)


def predict(arch: Architecture, params: Params, x: Array) -> Array:
    """Predicted class of each row: argmax of the outputs, or output > 0.5 for one unit.

    Args:
        x: (batch, sizes[0]) inputs.

    Returns:
        (batch,) int64 labels.
    """
    return labels_of(forward(arch, params, x))


def evaluate(
    arch: Architecture,
    params: Params,
    x: Array,
    y: Array,
    *,
    batch_size: int = 1024,
    l2: float = 0.0,
) -> tuple[float, float]:
    """Loss and accuracy over a whole data set, computed in chunks to bound memory.

    Args:
        x: (n, sizes[0]) inputs.
        y: (n,) integer labels or (n, sizes[-1]) targets.
        batch_size: rows per forward pass.
        l2: the L2 coefficient added to the loss (0 reports the data loss alone).

    Returns:
        (loss, accuracy): the mean loss as `loss` would give it on all rows at once, and
        the fraction of rows whose predicted label equals `labels_of(y)`.
    """
    x = _check_inputs(arch, params, x)
    y = _check_targets(x, y)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, found {batch_size}")
    n = x.shape[0]
    if n == 0:
        raise ValueError("cannot evaluate on an empty data set")
    pair = LOSSES[arch.output, arch.loss]
    total_loss = 0.0
    correct = 0
    truth = labels_of(y)
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        _, _, z, a = _forward_trace(arch, params, x[rows])
        total_loss += pair.value(z, a, y[rows]) * z.shape[0]
        correct += int((labels_of(a) == truth[rows]).sum())
    return total_loss / n + _l2_penalty(params, l2), correct / n
