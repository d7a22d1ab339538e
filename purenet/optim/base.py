"""What every optimizer provides: one `Rule` record (spec, state, pure update, in-place update).

An optimizer is a frozen spec class (its hyperparameters), a frozen state class (`count` and
params-shaped moments) and two updates that compute the same numbers in the same order:

- `update(spec, grads, state, params, lr) -> (updates, state)`: pure, over trees (Optax);
- `update_flat(spec, flat, lr, count)`: in place, over one flat array per parameter-shaped
  quantity (`Flat`), for the training step's fused path; `count` is the step number after this
  step (1 for the first);
- `update_kernel(spec, flat, lr, count)`: the same in one compiled pass over the buffers (numba,
  the `fast` extra), or None without numba. Its scalars are cast to the buffers' dtype first,
  as numpy casts Python scalars, so it computes the same operations: bit-identical to
  `update_flat` wherever the compiler keeps them unfused (numba does: no fast-math).

Both live beside each other in the optimizer's module, as an activation carries its
derivative; `purenet.optim.optimizers` and the training step look them up in one registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import attrs
import numpy as np

from purenet.core.checks import POSITIVE
from purenet.core.tree import readonly, tree_map
from purenet.optim.schedules import SCHEDULES, Schedule


def to_rate(value: Any) -> float | Schedule:
    """A learning rate field: a schedule spec as it is, else a finite number > 0 as a float.

    Raises:
        TypeError: neither a number nor a schedule spec.
        ValueError: a number that is not finite and > 0.
    """
    if isinstance(value, tuple(SCHEDULES.values())):
        return cast(Schedule, value)
    try:
        rate: float = POSITIVE.check("learning_rate", value)
    except TypeError:
        raise TypeError(
            f"learning_rate must be {POSITIVE.describe()} or a schedule spec, found {value!r}"
        ) from None
    return rate


def readonly_tree(tree: Any) -> Any:
    """`tree` with every leaf a read-only view (the converter of state moments)."""
    return tree_map(readonly, tree)


@attrs.define
class Flat:
    """The fused step's buffers: each parameter-shaped quantity as one flat array.

    Attributes:
        params: (n,) all parameters, updated in place.
        grads: (n,) their gradients (read only by the update).
        moments: the optimizer's moments, (n,) each, in the order of `Rule.moments`.
        scratch: two (n,) work arrays (the second may be the first for one-scratch updates).
        is_weight: (n,) bool, True on weight entries (leaves with ndim >= 2).
    """

    params: np.ndarray
    grads: np.ndarray
    moments: list[np.ndarray]
    scratch: tuple[np.ndarray, np.ndarray]
    is_weight: np.ndarray


@attrs.frozen
class Rule:
    """One optimizer: its spec and state classes, and its two updates.

    Attributes:
        spec: the spec class (exactly: a subclass may change the formulas).
        state: the state class; built as `state(count, *moments)`.
        moments: `moments(spec)` names the state's params-shaped fields for that spec.
        update: the pure update (see the module docstring).
        update_flat: the in-place flat update (see the module docstring).
        update_kernel: the compiled one-pass update, or None (see the module docstring).
        scratch: scratch arrays `update_flat` needs, 1 or 2.
    """

    spec: type[Any]
    state: type[Any]
    moments: Callable[[Any], tuple[str, ...]]
    update: Callable[..., tuple[Any, Any]]
    update_flat: Callable[[Any, Flat, float, int], None]
    update_kernel: Callable[[Any, Flat, float, int], None] | None
    scratch: int = 2
