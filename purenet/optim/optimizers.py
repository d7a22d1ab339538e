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

from typing import Any, TypeVar

import numpy as np

from purenet.core.checks import NON_NEGATIVE
from purenet.core.tree import tree_map
from purenet.optim import adam, rmsprop, sgd
from purenet.optim.adam import Adam, AdamState, AdamW
from purenet.optim.base import Rule
from purenet.optim.rmsprop import RMSProp, RMSPropState
from purenet.optim.sgd import SGD, SGDState

T = TypeVar("T")

Optimizer = SGD | Adam | AdamW | RMSProp
"""Any optimizer spec."""

OptState = SGDState | AdamState | RMSPropState
"""Any optimizer state."""

RULES: dict[type[Any], Rule] = {rule.spec: rule for rule in (sgd.RULE, *adam.RULES, rmsprop.RULE)}
"""Each optimizer's record (spec, state, pure and in-place updates), by its exact spec class."""

OPTIMIZERS: dict[str, type[Optimizer]] = {rule.spec.kind: rule.spec for rule in RULES.values()}
"""Optimizer classes by their `kind` tag (for recipes and checkpoints)."""

_ZERO = np.zeros((), dtype=np.int64)


def rule_of(spec: Any) -> Rule:
    """The `Rule` of an optimizer spec (its exact class: subclasses may change the formulas).

    Raises:
        TypeError: `spec` is not an optimizer spec; the message lists the supported ones.
    """
    rule = RULES.get(type(spec))
    if rule is None:
        raise TypeError(f"not an optimizer spec: {spec!r}; supported: {', '.join(OPTIMIZERS)}")
    return rule


def _rule_for(spec: Any, state: Any) -> Rule:
    rule = rule_of(spec)
    if type(state) is not rule.state:
        raise TypeError(f"{type(state).__name__} is not the state of {type(spec).__name__}")
    return rule


def state_moments(spec: Any, state: Any) -> list[Any]:
    """The params-shaped moment trees of `state`, in the order of the spec's `Rule.moments`.

    Raises:
        TypeError: `spec` is not an optimizer, or `state` belongs to another optimizer.
    """
    return [getattr(state, name) for name in _rule_for(spec, state).moments(spec)]


def make_state(spec: Any, count: Any, moments: list[Any]) -> OptState:
    """The state of optimizer `spec` with step `count` and moment trees in `Rule.moments` order."""
    rule = rule_of(spec)
    names = rule.moments(spec)
    state: OptState = rule.state(count, **dict(zip(names, moments, strict=True)))
    return state


def init(spec: Optimizer, params: Any) -> OptState:
    """Return the initial state of optimizer `spec` for `params` (zero moments, count 0).

    Args:
        spec: an optimizer spec.
        params: the parameter tree; moments copy its structure, shapes and dtypes.

    Returns:
        `SGDState`, `AdamState` or `RMSPropState`.

    Raises:
        TypeError: `spec` is not an optimizer spec.

    Example:
        >>> import numpy as np
        >>> state = init(Adam(), (np.zeros(3, np.float32),))
        >>> int(state.count), state.mu[0].dtype
        (0, dtype('float32'))
    """
    names = rule_of(spec).moments(spec)
    return make_state(spec, _ZERO, [tree_map(np.zeros_like, params) for _ in names])


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
    rule = _rule_for(spec, state)
    if learning_rate is None:
        if not isinstance(spec.learning_rate, float):
            raise ValueError(
                f"{type(spec).__name__} has a schedule ({spec.learning_rate.kind}); pass "
                "learning_rate=schedules.learning_rate(spec.learning_rate, epoch)"
            )
        learning_rate = spec.learning_rate
    # Zero is allowed: a schedule may decay to it (a cosine with alpha 0 at its end).
    lr: float = NON_NEGATIVE.check("learning_rate", learning_rate)
    return rule.update(spec, grads, state, params, lr)


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
    rate = -NON_NEGATIVE.check("lr", lr)

    def step(p: np.ndarray, g: np.ndarray) -> np.ndarray:
        # One temporary: the fresh product (in p's dtype) takes p added in place.
        updated = np.multiply(g, rate, dtype=p.dtype, casting="same_kind")
        updated += p
        return updated

    return tree_map(step, params, grads)
