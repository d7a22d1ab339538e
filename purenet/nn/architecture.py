"""The static spec of a network (`Architecture`) and its parameter tree (`Dense`, `Params`).

Per-layer options take one value for every layer or a tuple with one value per layer:

- `hidden`: an activation name per hidden layer (`len(sizes) - 2` names);
- `bias`: whether each layer has a bias (`len(sizes) - 1` flags, output layer last);
- `dropout`: the fraction of each hidden layer's units dropped in training (`len(sizes) - 2`
  rates, Keras' `Dropout(rate)` after each hidden `Dense`); `input_dropout` is the fraction of
  the network's inputs dropped (Hinton et al. used 0.2 on the inputs, 0.5 on hidden units).

A tuple whose entries are all equal is stored as that one value, so one network has one
spelling and a model file without per-layer options reads as it always did.

A layer without bias holds `b` of shape `(0,)`: the tree keeps its structure (every layer is a
`Dense(w, b)`, so `tree_map` pairs params, gradients and optimizer moments as always), the
empty `b` has an empty gradient and nothing for an optimizer or L2 to move, parameter counts
stay honest, and code that forgets the option fails loudly (an empty `b` does not broadcast
against `(batch, fan_out)`) instead of training a bias that should not exist.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np

from purenet.core.tree import readonly, tree_repr
from purenet.nn.activations import ACTIVATIONS, OUTPUTS
from purenet.nn.losses import LOSSES, supported_pairs

Array = np.ndarray


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


def _to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _choices(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _is_rate(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value < 1
    )


@attrs.frozen
class Architecture:
    """The static description of a multilayer perceptron.

    Attributes:
        sizes: layer widths, input first, e.g. `(784, 256, 128, 10)`.
        hidden: a key of `ACTIVATIONS` for every hidden layer, or a tuple of one key per
            hidden layer (`("relu", "tanh")`).
        output: `softmax`, `sigmoid` or `identity` (regression).
        loss: `cross_entropy` (categorical with softmax, per-unit binary with sigmoid),
            `mse` (the quadratic cost `1/2 * ||a - y||^2` per sample, with any output), or
            with `identity` output `mae` (`sum_k |a_k - y_k|` per sample) or `huber`.
        bias: whether layers have a bias: one flag for all, or one per layer (output last).
            A layer without bias holds `b` of shape `(0,)`.
        dropout: fraction of each hidden layer's units dropped in training (inverted dropout:
            the kept units are scaled by `1 / (1 - rate)`, so inference uses the weights as
            they are); one rate for all hidden layers or one per hidden layer, each in [0, 1).
        input_dropout: fraction of the network's inputs dropped in training, in [0, 1).
        huber_delta: the Huber loss' threshold `delta` (> 0): per unit `r**2 / 2` for
            `|r| <= delta`, else `delta * (|r| - delta / 2)`. Only with `loss="huber"`.

    Raises:
        ValueError: an unknown name, an unsupported (output, loss) pair, a per-layer tuple of
            the wrong length or a value out of range; the message lists what is supported.

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((4, 8, 8, 3), hidden=("relu", "tanh"), dropout=0.5)
        >>> arch.activations, arch.has_bias, arch.dropout_rates
        (('relu', 'tanh'), (True, True, True), (0.0, 0.5, 0.5))
    """

    sizes: tuple[int, ...] = attrs.field(converter=_to_sizes)
    hidden: str | tuple[str, ...] = attrs.field(default="relu", converter=_to_tuple)
    output: str = "softmax"
    loss: str = "cross_entropy"
    bias: bool | tuple[bool, ...] = attrs.field(default=True, converter=_to_tuple, kw_only=True)
    dropout: float | tuple[float, ...] = attrs.field(
        default=0.0, converter=_to_tuple, kw_only=True
    )
    input_dropout: float = attrs.field(default=0.0, kw_only=True)
    huber_delta: float = attrs.field(default=1.0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        n_hidden = len(self.sizes) - 2
        for name in _per_layer(self.hidden, n_hidden, "hidden", "activations", "hidden layers"):
            if not isinstance(name, str) or name not in ACTIVATIONS:
                raise ValueError(f"unknown activation {name!r}; supported: {_choices(ACTIVATIONS)}")
        for flag in _per_layer(self.bias, n_hidden + 1, "bias", "flags", "layers"):
            if not isinstance(flag, bool | np.bool_):
                raise ValueError(f"bias: expected true or false, found {flag!r}")
        if n_hidden == 0 and not isinstance(self.dropout, tuple) and self.dropout != 0:
            raise ValueError(
                f"dropout: {self.dropout!r} given, but sizes {self.sizes} have no hidden layer; "
                "use input_dropout to drop inputs"
            )
        for rate in _per_layer(self.dropout, n_hidden, "dropout", "rates", "hidden layers"):
            if not _is_rate(rate):
                raise ValueError(
                    f"dropout: rate {rate!r}; expected a fraction of units dropped, 0 <= rate < 1"
                )
        if not _is_rate(self.input_dropout):
            raise ValueError(
                f"input_dropout: rate {self.input_dropout!r}; expected a fraction of inputs "
                "dropped, 0 <= rate < 1"
            )
        self._check_output()
        for field in ("hidden", "bias", "dropout"):
            value = getattr(self, field)
            # One network, one spelling: equal per-layer values are stored as one value.
            if isinstance(value, tuple) and value and all(
                item == value[0] and type(item) is type(value[0]) for item in value
            ):
                object.__setattr__(self, field, value[0])

    def _check_output(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(
                f"unknown output activation {self.output!r}; supported: {_choices(OUTPUTS)}"
            )
        if self.output == "softmax" and self.sizes[-1] < 2:
            raise ValueError(
                f"softmax needs at least 2 output units; use sigmoid for one (sizes {self.sizes})"
            )
        if (self.output, self.loss) not in LOSSES:
            raise ValueError(
                f"unsupported output x loss pair: {self.output} x {self.loss}; "
                f"supported: {supported_pairs()}"
            )
        delta = self.huber_delta
        if isinstance(delta, bool) or not isinstance(delta, int | float) or not delta > 0:
            raise ValueError(f"huber_delta: expected a number > 0, found {delta!r}")
        if not math.isfinite(delta):
            raise ValueError(f"huber_delta: expected a finite number, found {delta!r}")
        if delta != 1.0 and self.loss != "huber":
            raise ValueError(
                f"huber_delta applies to loss 'huber' only; this architecture's loss is "
                f"{self.loss!r}"
            )

    @property
    def layer_shapes(self) -> tuple[tuple[int, int], ...]:
        """The `(fan_in, fan_out)` shape of each layer's weights."""
        return tuple(zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def activations(self) -> tuple[str, ...]:
        """One activation name per hidden layer (`len(sizes) - 2` names)."""
        return _each(self.hidden, len(self.sizes) - 2)

    @property
    def layer_activations(self) -> tuple[str, ...]:
        """One name per layer: the hidden activations, then the output activation."""
        return (*self.activations, self.output)

    @property
    def has_bias(self) -> tuple[bool, ...]:
        """Whether each layer has a bias (`len(sizes) - 1` flags, output layer last)."""
        return tuple(bool(flag) for flag in _each(self.bias, len(self.sizes) - 1))

    @property
    def dropout_rates(self) -> tuple[float, ...]:
        """The fraction of each layer's inputs dropped in training: `input_dropout`, then one
        rate per hidden layer (`len(sizes) - 1` rates)."""
        hidden = _each(self.dropout, len(self.sizes) - 2)
        return (float(self.input_dropout), *(float(rate) for rate in hidden))

    @property
    def param_shapes(self) -> tuple[tuple[tuple[int, int], tuple[int]], ...]:
        """`(w shape, b shape)` of each layer; `b` is `(0,)` for a layer without bias."""
        return tuple(
            ((fan_in, fan_out), (fan_out if bias else 0,))
            for (fan_in, fan_out), bias in zip(self.layer_shapes, self.has_bias, strict=True)
        )

    @property
    def is_regression(self) -> bool:
        """True for an identity output: `predict` gives values, `score` RMSE, MAE and R^2."""
        return self.output == "identity"


def _each(value: Any, count: int) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,) * count


def _per_layer(value: Any, count: int, field: str, things: str, layers: str) -> tuple[Any, ...]:
    """Validate the length of a per-layer tuple; return one entry per layer."""
    if isinstance(value, tuple) and len(value) != count:
        raise ValueError(
            f"{field}: {len(value)} {things} given for {count} {layers}; give one value "
            f"for all or one per {layers.removesuffix('s')}"
        )
    return value if isinstance(value, tuple) else (value,)


@attrs.frozen(eq=False)
class Dense:
    """One fully connected layer's parameters; `a_out = f(a_in @ w + b)`.

    The fields are read-only views of the arrays given (not copies): nothing can write
    through the tree, and no purenet function writes an array it was given. An array you
    keep and write to yourself shows through; pass `w.copy()` to detach it.

    Attributes:
        w: (fan_in, fan_out) float weights, read-only.
        b: (fan_out,) float biases, or (0,) for a layer without bias; read-only.
    """

    w: Array = attrs.field(converter=readonly)
    b: Array = attrs.field(converter=readonly)

    def __repr__(self) -> str:
        return tree_repr(self)


Params = tuple[Dense, ...]
"""A network's parameters (and gradients): one `Dense` per layer, input side first."""


def check_params(arch: Architecture, params: Params) -> None:
    """Raise `ValueError` naming the path if `params` does not fit `arch`."""
    if len(params) != len(arch.sizes) - 1:
        raise ValueError(
            f"params have {len(params)} layers; sizes {arch.sizes} need {len(arch.sizes) - 1}"
        )
    dtype = params[0].w.dtype
    for i, (layer, (w_shape, b_shape)) in enumerate(zip(params, arch.param_shapes, strict=True)):
        if layer.w.shape != w_shape:
            raise ValueError(f"[{i}].w: shape {layer.w.shape}, expected {w_shape}")
        if layer.b.shape != b_shape:
            without = " (the layer has no bias)" if b_shape == (0,) else ""
            raise ValueError(f"[{i}].b: shape {layer.b.shape}, expected {b_shape}{without}")
        for name in ("w", "b"):
            found = getattr(layer, name).dtype
            if found != dtype:
                raise ValueError(f"[{i}].{name}: dtype {found}, expected {dtype} like [0].w")
