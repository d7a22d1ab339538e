"""SGD with optional (Nesterov) momentum: spec, state, pure update and in-place flat update."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from purenet.core.checks import Interval
from purenet.core.kernel import compile_kernel
from purenet.core.tree import readonly, tree_map
from purenet.optim.base import Flat, Rule, readonly_tree, to_rate
from purenet.optim.schedules import Schedule


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
    learning_rate: float | Schedule = attrs.field(converter=to_rate)
    momentum: float = attrs.field(
        default=0.0, converter=float, validator=Interval(0.0, 1.0, closed="left").validator()
    )
    nesterov: bool = False

    def __attrs_post_init__(self) -> None:
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD(nesterov=True) needs momentum > 0")


@attrs.frozen(eq=False)
class SGDState:
    """State of `SGD`: `count` (0-d int64, steps taken) and `velocity` (params-shaped, or `()`
    when `momentum == 0`)."""

    count: np.ndarray = attrs.field(converter=readonly)
    velocity: Any = attrs.field(default=(), converter=readonly_tree)


def _update(spec: SGD, grads: Any, state: SGDState, params: Any, lr: float) -> tuple[Any, SGDState]:
    mu = spec.momentum
    if not mu:
        return tree_map(lambda g: -lr * g, grads), SGDState(state.count + 1, ())
    velocity = tree_map(lambda v, g: mu * v + g, state.velocity, grads)
    if spec.nesterov:
        updates = tree_map(lambda g, v: -lr * (g + mu * v), grads, velocity)
    else:
        updates = tree_map(lambda v: -lr * v, velocity)
    return updates, SGDState(state.count + 1, velocity)


def _update_flat(spec: SGD, flat: Flat, lr: float, count: int) -> None:
    # `_update`'s operations in its order, in place.
    p, g, tmp = flat.params, flat.grads, flat.scratch[0]
    mu = spec.momentum
    if not mu:
        np.multiply(g, -lr, out=tmp)
    else:
        v = flat.moments[0]
        v *= mu
        v += g
        if spec.nesterov:
            np.multiply(v, mu, out=tmp)
            tmp += g
            tmp *= -lr
        else:
            np.multiply(v, -lr, out=tmp)
    p += tmp


def update_loop(
    p: Any, g: Any, v: Any, neg_lr: Any, mu: Any, momentum: bool, nesterov: bool
) -> None:
    """The flat update per element, plain Python: compiled here (`_LOOP`) and into
    larger kernels (`purenet.training.kernels_small`)."""
    # `_update_flat`'s operations per element, in its order (scalars in the buffers' dtype);
    # one loop per case, so each vectorizes.
    if not momentum:
        for i in range(p.size):
            p[i] = p[i] + g[i] * neg_lr
    elif nesterov:
        for i in range(p.size):
            velocity = v[i] * mu + g[i]
            v[i] = velocity
            p[i] = p[i] + (velocity * mu + g[i]) * neg_lr
    else:
        for i in range(p.size):
            velocity = v[i] * mu + g[i]
            v[i] = velocity
            p[i] = p[i] + velocity * neg_lr


_LOOP = compile_kernel(update_loop)


def _update_kernel(spec: SGD, flat: Flat, lr: float, count: int) -> None:
    assert _LOOP is not None  # the step asks for kernels only when numba is installed
    p = flat.params
    one = p.dtype.type
    v = flat.moments[0] if spec.momentum else p
    _LOOP(p, flat.grads, v, one(-lr), one(spec.momentum), bool(spec.momentum), spec.nesterov)


RULE = Rule(
    spec=SGD,
    state=SGDState,
    moments=lambda spec: ("velocity",) if spec.momentum else (),
    update=_update,
    update_flat=_update_flat,
    update_kernel=None if _LOOP is None else _update_kernel,
    scratch=1,
)
"""SGD's record for the optimizer registry."""
