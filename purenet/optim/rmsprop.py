"""RMSProp: spec, state, pure update and in-place flat update."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from purenet.core.checks import POSITIVE, Interval
from purenet.core.kernel import compile_kernel
from purenet.core.tree import readonly, tree_map
from purenet.optim.base import Flat, Rule, readonly_tree, to_rate
from purenet.optim.schedules import Schedule


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
    learning_rate: float | Schedule = attrs.field(default=1e-3, converter=to_rate)
    rho: float = attrs.field(
        default=0.9, converter=float, validator=Interval(0.0, 1.0, closed="left").validator()
    )
    eps: float = attrs.field(default=1e-8, converter=float, validator=POSITIVE.validator())


@attrs.frozen(eq=False)
class RMSPropState:
    """State of `RMSProp`: `count` (0-d int64) and the running mean square `nu`
    (params-shaped)."""

    count: np.ndarray = attrs.field(converter=readonly)
    nu: Any = attrs.field(converter=readonly_tree)


def _update(
    spec: RMSProp, grads: Any, state: RMSPropState, params: Any, lr: float
) -> tuple[Any, RMSPropState]:
    rho, eps = spec.rho, spec.eps
    nu = tree_map(lambda v, g: rho * v + (1.0 - rho) * (g * g), state.nu, grads)
    updates = tree_map(lambda g, v: -lr * g / (np.sqrt(v) + eps), grads, nu)
    return updates, RMSPropState(state.count + 1, nu)


def _update_flat(spec: RMSProp, flat: Flat, lr: float, count: int) -> None:
    # `_update`'s operations in its order, in place.
    p, g, (tmp, tmp2) = flat.params, flat.grads, flat.scratch
    rho, eps = spec.rho, spec.eps
    nu = flat.moments[0]
    np.multiply(g, g, out=tmp)
    tmp *= 1.0 - rho
    nu *= rho
    nu += tmp
    np.multiply(g, -lr, out=tmp)
    np.sqrt(nu, out=tmp2)
    tmp2 += eps
    tmp /= tmp2
    p += tmp


def update_loop(p: Any, g: Any, nu: Any, rho: Any, c: Any, neg_lr: Any, eps: Any) -> None:
    """The flat update per element, plain Python: compiled here (`_LOOP`) and into
    larger kernels (`purenet.training.kernels_small`)."""
    # `_update_flat`'s operations per element, in its order (scalars in the buffers' dtype).
    for i in range(p.size):
        gi = g[i]
        v = nu[i] * rho + (gi * gi) * c
        nu[i] = v
        p[i] = p[i] + (gi * neg_lr) / (np.sqrt(v) + eps)


_LOOP = compile_kernel(update_loop)


def _update_kernel(spec: RMSProp, flat: Flat, lr: float, count: int) -> None:
    assert _LOOP is not None  # the step asks for kernels only when numba is installed
    one = flat.params.dtype.type
    nu = flat.moments[0]
    _LOOP(flat.params, flat.grads, nu, one(spec.rho), one(1.0 - spec.rho), one(-lr), one(spec.eps))


RULE = Rule(
    spec=RMSProp,
    state=RMSPropState,
    moments=lambda spec: ("nu",),
    update=_update,
    update_flat=_update_flat,
    update_kernel=None if _LOOP is None else _update_kernel,
)
"""RMSProp's record for the optimizer registry."""
