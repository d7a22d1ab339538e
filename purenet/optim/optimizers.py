"""Optimizers as data plus a pure pair: `init(spec, params)` and `update(spec, grads, state)`.

An optimizer is a frozen spec (`SGD`, `Adam`, `AdamW`, `RMSProp`); its state is a frozen tree
(a step count and moments with the structure and dtypes of the parameters). `update` turns
gradients into *updates* that are added to the parameters by `apply_updates`
(`new = params + updates`, so a descent step is a negative update). Nothing is mutated:
`update` returns a new state and never writes to `grads`, `state` or `params`.

A learning rate is a positive float or a schedule spec (`purenet.optim.schedules`). Schedules run
on an epoch clock that only the training loop knows, so with a schedule `update` needs the rate
in force passed as `learning_rate=`; `purenet.train` does this.

Example:
    >>> import numpy as np
    >>> from purenet import optim
    >>> params = (np.array([1.0, -2.0]),)
    >>> spec = optim.SGD(learning_rate=0.1, momentum=0.9)
    >>> state = optim.init(spec, params)
    >>> grads = (2 * params[0],)  # gradient of sum(p ** 2)
    >>> updates, state = optim.update(spec, grads, state, params)
    >>> optim.apply_updates(params, updates)[0].tolist()
    [0.8, -1.6]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import attrs
import numpy as np

from purenet.core.tree import readonly, tree_map
from purenet.optim.schedules import (
    Constant,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    Schedule,
    StepDecay,
)

T = TypeVar("T")


def _to_rate(value: Any) -> float | Schedule:
    if isinstance(value, Constant | InverseTimeDecay | ExponentialDecay | StepDecay | CosineDecay):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"learning_rate must be a number or a schedule spec, got {value!r}")
    rate = float(value)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {rate}")
    return rate


def _check(name: str, value: float, low: float, high: float, *, open_low: bool = False) -> None:
    above = value > low if open_low else value >= low
    if not (math.isfinite(value) and above and value < high):
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}), got {value}")


@attrs.frozen
class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum, PyTorch convention.

    `v = momentum * v + g`; the update is `-lr * v` (`-lr * (g + momentum * v)` with
    `nesterov`). With `momentum=0` there is no velocity and the step is `-lr * g`.

    Args:
        learning_rate: a float > 0 or a schedule spec.
        momentum: in [0, 1).
        nesterov: use Nesterov momentum (needs `momentum > 0`).
    """

    kind: ClassVar[str] = "sgd"
    learning_rate: float | Schedule = attrs.field(converter=_to_rate)
    momentum: float = attrs.field(default=0.0, converter=float)
    nesterov: bool = False

    def __attrs_post_init__(self) -> None:
        _check("SGD.momentum", self.momentum, 0.0, 1.0)
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD(nesterov=True) needs momentum > 0")


@attrs.frozen
class Adam:
    """Adam (Kingma & Ba) with bias correction.

    `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g**2`, and with the step number `t`
    (from 1) the update is `-lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)`.

    Args:
        learning_rate: a float > 0 or a schedule spec.
        b1, b2: moment decay rates in [0, 1).
        eps: added to the root of the second moment, > 0.
    """

    kind: ClassVar[str] = "adam"
    learning_rate: float | Schedule = attrs.field(default=1e-3, converter=_to_rate)
    b1: float = attrs.field(default=0.9, converter=float)
    b2: float = attrs.field(default=0.999, converter=float)
    eps: float = attrs.field(default=1e-8, converter=float)

    def __attrs_post_init__(self) -> None:
        _check(f"{type(self).__name__}.b1", self.b1, 0.0, 1.0)
        _check(f"{type(self).__name__}.b2", self.b2, 0.0, 1.0)
        _check(f"{type(self).__name__}.eps", self.eps, 0.0, math.inf, open_low=True)


@attrs.frozen
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as in PyTorch's `AdamW`.

    The update is the Adam update minus `lr * weight_decay * w`. Like `l2` in the loss, the
    decay applies to weights only: leaves with fewer than 2 dimensions (biases) are not decayed.

    Args:
        learning_rate, b1, b2, eps: as for `Adam`.
        weight_decay: >= 0.
    """

    kind: ClassVar[str] = "adamw"
    weight_decay: float = attrs.field(default=0.01, converter=float)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        _check("AdamW.weight_decay", self.weight_decay, 0.0, math.inf)


@attrs.frozen
class RMSProp:
    """RMSProp: scale the gradient by a running root mean square, PyTorch convention.

    `v = rho v + (1 - rho) g**2`; the update is `-lr * g / (sqrt(v) + eps)`.

    Args:
        learning_rate: a float > 0 or a schedule spec.
        rho: decay of the running mean square, in [0, 1).
        eps: > 0.
    """

    kind: ClassVar[str] = "rmsprop"
    learning_rate: float | Schedule = attrs.field(default=1e-3, converter=_to_rate)
    rho: float = attrs.field(default=0.9, converter=float)
    eps: float = attrs.field(default=1e-8, converter=float)

    def __attrs_post_init__(self) -> None:
        _check("RMSProp.rho", self.rho, 0.0, 1.0)
        _check("RMSProp.eps", self.eps, 0.0, math.inf, open_low=True)


Optimizer = SGD | Adam | AdamW | RMSProp
"""Any optimizer spec."""

OPTIMIZERS: dict[str, type[Optimizer]] = {cls.kind: cls for cls in (SGD, Adam, AdamW, RMSProp)}
"""Optimizer classes by their `kind` tag (for recipes and checkpoints)."""


def _readonly_tree(tree: Any) -> Any:
    return tree_map(readonly, tree)


@attrs.frozen(eq=False)
class SGDState:
    """State of `SGD`: `count` (0-d int64, steps taken) and `velocity` (params-shaped, or `()`
    when `momentum == 0`)."""

    count: np.ndarray = attrs.field(converter=readonly)
    velocity: Any = attrs.field(converter=_readonly_tree)


@attrs.frozen(eq=False)
class AdamState:
    """State of `Adam` and `AdamW`: `count` (0-d int64), first moment `mu` and second moment
    `nu`, both with the structure and dtypes of the parameters."""

    count: np.ndarray = attrs.field(converter=readonly)
    mu: Any = attrs.field(converter=_readonly_tree)
    nu: Any = attrs.field(converter=_readonly_tree)


@attrs.frozen(eq=False)
class RMSPropState:
    """State of `RMSProp`: `count` (0-d int64) and the running mean square `nu`
    (params-shaped)."""

    count: np.ndarray = attrs.field(converter=readonly)
    nu: Any = attrs.field(converter=_readonly_tree)


_ZERO = np.zeros((), dtype=np.int64)

OptState = SGDState | AdamState | RMSPropState
"""Any optimizer state."""


def _zeros_like(params: T) -> T:
    return tree_map(np.zeros_like, params)


def init(spec: Optimizer, params: Any) -> OptState:
    """Return the initial state of optimizer `spec` for `params` (zero moments, count 0).

    Args:
        spec: an optimizer spec.
        params: the parameter tree; moments copy its structure, shapes and dtypes.

    Returns:
        `SGDState`, `AdamState` or `RMSPropState`.

    Example:
        >>> import numpy as np
        >>> state = init(Adam(), (np.zeros(3, np.float32),))
        >>> int(state.count), state.mu[0].dtype
        (0, dtype('float32'))
    """
    if isinstance(spec, SGD):
        return SGDState(_ZERO, _zeros_like(params) if spec.momentum else ())
    if isinstance(spec, Adam):  # AdamW too
        return AdamState(_ZERO, _zeros_like(params), _zeros_like(params))
    if isinstance(spec, RMSProp):
        return RMSPropState(_ZERO, _zeros_like(params))
    raise TypeError(f"not an optimizer spec: {spec!r}; supported: {', '.join(OPTIMIZERS)}")


def _sgd(spec: SGD, grads: Any, state: SGDState, params: Any, lr: float) -> tuple[Any, SGDState]:
    mu = spec.momentum
    if not mu:
        return tree_map(lambda g: -lr * g, grads), SGDState(state.count + 1, ())
    velocity = tree_map(lambda v, g: mu * v + g, state.velocity, grads)
    if spec.nesterov:
        updates = tree_map(lambda g, v: -lr * (g + mu * v), grads, velocity)
    else:
        updates = tree_map(lambda v: -lr * v, velocity)
    return updates, SGDState(state.count + 1, velocity)


def _adam(
    spec: Adam, grads: Any, state: AdamState, params: Any, lr: float
) -> tuple[Any, AdamState]:
    b1, b2, eps = spec.b1, spec.b2, spec.eps
    count = state.count + 1
    t = int(count)
    # Python floats, so float32 moments stay float32 (a numpy float64 scalar would promote).
    step = lr / (1.0 - b1**t)
    root_correction = math.sqrt(1.0 - b2**t)
    mu = tree_map(lambda m, g: b1 * m + (1.0 - b1) * g, state.mu, grads)
    nu = tree_map(lambda v, g: b2 * v + (1.0 - b2) * (g * g), state.nu, grads)

    def adam_update(m: np.ndarray, v: np.ndarray) -> np.ndarray:
        return -step * m / (np.sqrt(v) / root_correction + eps)

    updates = tree_map(adam_update, mu, nu)
    if isinstance(spec, AdamW) and spec.weight_decay:
        if params is None:
            raise ValueError("AdamW.update needs params for the weight decay")
        decay = lr * spec.weight_decay
        updates = tree_map(lambda u, p: u - decay * p if p.ndim >= 2 else u, updates, params)
    return updates, AdamState(count, mu, nu)


def _rmsprop(
    spec: RMSProp, grads: Any, state: RMSPropState, params: Any, lr: float
) -> tuple[Any, RMSPropState]:
    rho, eps = spec.rho, spec.eps
    nu = tree_map(lambda v, g: rho * v + (1.0 - rho) * (g * g), state.nu, grads)
    updates = tree_map(lambda g, v: -lr * g / (np.sqrt(v) + eps), grads, nu)
    return updates, RMSPropState(state.count + 1, nu)


_UPDATES: dict[type, Callable[..., tuple[Any, Any]]] = {
    SGD: _sgd,
    Adam: _adam,
    AdamW: _adam,
    RMSProp: _rmsprop,
}

_STATES: dict[type, type] = {
    SGD: SGDState,
    Adam: AdamState,
    AdamW: AdamState,
    RMSProp: RMSPropState,
}


def update(
    spec: Optimizer,
    grads: Any,
    state: OptState,
    params: Any = None,
    *,
    learning_rate: float | None = None,
) -> tuple[Any, OptState]:
    """Turn gradients into updates (to be added to the params) and the next state. Pure.

    Args:
        spec: an optimizer spec.
        grads: gradient tree, same structure, shapes and dtypes as the params.
        state: from `init` or a previous `update`, for this `spec`.
        params: the current parameters; needed by `AdamW` (weight decay), unused otherwise.
        learning_rate: the rate for this step. Defaults to `spec.learning_rate` when that is a
            number; required when it is a schedule (the caller knows the epoch clock: use
            `purenet.optim.schedules.learning_rate(spec.learning_rate, t)`).

    Returns:
        `(updates, new_state)`: `updates` has the structure and dtypes of `grads`; apply it
        with `apply_updates`. The state's `count` is one higher.

    Raises:
        ValueError: a schedule without `learning_rate=`, or a negative or non-finite rate
            (zero is allowed: a schedule may decay to it).
        TypeError: `spec` is not an optimizer, or `state` belongs to another optimizer.

    Example:
        >>> import numpy as np
        >>> spec, params = Adam(learning_rate=0.1), (np.array([3.0]),)
        >>> updates, state = update(spec, (np.array([6.0]),), init(spec, params), params)
        >>> round(float(updates[0][0]), 6)  # the first Adam step is -lr * sign(g)
        -0.1
    """
    step_fn = _UPDATES.get(type(spec))
    if step_fn is None:
        raise TypeError(f"not an optimizer spec: {spec!r}; supported: {', '.join(OPTIMIZERS)}")
    if type(state) is not _STATES[type(spec)]:
        raise TypeError(f"{type(state).__name__} is not the state of {type(spec).__name__}")
    if learning_rate is None:
        if not isinstance(spec.learning_rate, float):
            raise ValueError(
                f"{type(spec).__name__} has a schedule ({spec.learning_rate.kind}); pass "
                "learning_rate=schedules.learning_rate(spec.learning_rate, epoch)"
            )
        learning_rate = spec.learning_rate
    lr = float(learning_rate)
    # Zero is allowed: a schedule may decay to it (a cosine with alpha 0 at its end).
    if not (math.isfinite(lr) and lr >= 0):
        raise ValueError(f"learning_rate must be a finite number >= 0, got {lr}")
    return step_fn(spec, grads, state, params, lr)


def apply_updates(params: T, updates: Any) -> T:
    """Return `params + updates` leaf by leaf, each result in its parameter's dtype.

    Args:
        params: the parameter tree.
        updates: same structure and shapes (from `update`).

    Returns:
        A new tree; `params` is unchanged.

    Example:
        >>> import numpy as np
        >>> apply_updates((np.ones(2, np.float32),), (np.full(2, 0.5),))[0].dtype
        dtype('float32')
    """
    return tree_map(lambda p, u: np.add(p, u, dtype=p.dtype, casting="same_kind"), params, updates)


def sgd_step(params: T, grads: Any, lr: float) -> T:
    """One plain gradient-descent step, `params - lr * grads`, keeping each parameter's dtype.

    Args:
        params: the parameter tree.
        grads: gradient tree of the same structure and shapes.
        lr: the learning rate (a float).

    Returns:
        A new tree; `params` and `grads` are unchanged.

    Raises:
        ValueError: `lr` is negative, NaN or infinite.

    Example:
        >>> import numpy as np
        >>> sgd_step((np.array([1.0]),), (np.array([2.0]),), 0.25)[0].tolist()
        [0.5]
    """
    if not (math.isfinite(float(lr)) and float(lr) >= 0):
        raise ValueError(f"lr must be a finite number >= 0, got {lr}")
    rate = -float(lr)

    def step(p: np.ndarray, g: np.ndarray) -> np.ndarray:
        # One temporary: the fresh product (in p's dtype) takes p added in place.
        updated = np.multiply(g, rate, dtype=p.dtype, casting="same_kind")
        updated += p
        return updated

    return tree_map(step, params, grads)
