"""Adam and AdamW: specs, state, pure update and in-place flat update."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from purenet.core.checks import NON_NEGATIVE, POSITIVE, Interval
from purenet.core.kernel import compile_kernel
from purenet.core.tree import readonly, tree_map
from purenet.optim.base import Flat, Rule, readonly_tree, to_rate
from purenet.optim.schedules import Schedule

_DECAY_RATE = Interval(0.0, 1.0, closed="left").validator()


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
    learning_rate: float | Schedule = attrs.field(default=1e-3, converter=to_rate)
    b1: float = attrs.field(default=0.9, converter=float, validator=_DECAY_RATE)
    b2: float = attrs.field(default=0.999, converter=float, validator=_DECAY_RATE)
    eps: float = attrs.field(default=1e-8, converter=float, validator=POSITIVE.validator())


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
    weight_decay: float = attrs.field(
        default=0.01, converter=float, validator=NON_NEGATIVE.validator()
    )


@attrs.frozen(eq=False)
class AdamState:
    """State of `Adam` and `AdamW`: `count` (0-d int64), first moment `mu` and second moment
    `nu`, both with the structure and dtypes of the parameters."""

    count: np.ndarray = attrs.field(converter=readonly)
    mu: Any = attrs.field(converter=readonly_tree)
    nu: Any = attrs.field(converter=readonly_tree)


def _update(
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


def _update_flat(spec: Adam, flat: Flat, lr: float, count: int) -> None:
    # `_update`'s operations in its order, in place.
    p, g, (tmp, tmp2) = flat.params, flat.grads, flat.scratch
    b1, b2, eps = spec.b1, spec.b2, spec.eps
    step = lr / (1.0 - b1**count)
    root_correction = math.sqrt(1.0 - b2**count)
    first, second = flat.moments
    first *= b1
    np.multiply(g, 1.0 - b1, out=tmp)
    first += tmp
    np.multiply(g, g, out=tmp)
    tmp *= 1.0 - b2
    second *= b2
    second += tmp
    np.multiply(first, -step, out=tmp)
    np.sqrt(second, out=tmp2)
    tmp2 /= root_correction
    tmp2 += eps
    tmp /= tmp2
    if isinstance(spec, AdamW) and spec.weight_decay:
        # Decoupled decay on the weights only (leaves with ndim >= 2), as `_update`.
        np.multiply(p, lr * spec.weight_decay, out=tmp2)
        np.subtract(tmp, tmp2, out=tmp, where=flat.is_weight)
    p += tmp


def update_loop(
    p: Any, g: Any, first: Any, second: Any, is_weight: Any, scalars: Any, decay: bool
) -> None:
    """The flat update per element, plain Python: compiled here (`_LOOP`) and into
    larger kernels (`purenet.training.kernels_small`)."""
    # `_update_flat`'s operations per element, in its order (scalars in the buffers' dtype):
    # b1, 1 - b1, b2, 1 - b2, -step, root_correction, eps, lr * weight_decay.
    b1, c1, b2, c2, neg_step, root, eps, wd = scalars
    for i in range(p.size):
        gi = g[i]
        m = first[i] * b1 + gi * c1
        v = second[i] * b2 + (gi * gi) * c2
        first[i] = m
        second[i] = v
        u = (m * neg_step) / (np.sqrt(v) / root + eps)
        # Decoupled decay of the weights (`decay` is loop-invariant: the compiler unswitches).
        if decay and is_weight[i]:
            u = u - p[i] * wd
        p[i] = p[i] + u


_LOOP = compile_kernel(update_loop)


def _update_kernel(spec: Adam, flat: Flat, lr: float, count: int) -> None:
    assert _LOOP is not None  # the step asks for kernels only when numba is installed
    b1, b2 = spec.b1, spec.b2
    decay = lr * spec.weight_decay if isinstance(spec, AdamW) else 0.0
    scalars = np.array(
        [b1, 1.0 - b1, b2, 1.0 - b2, -(lr / (1.0 - b1**count)), math.sqrt(1.0 - b2**count),
         spec.eps, decay],
        dtype=flat.params.dtype,
    )  # fmt: skip
    first, second = flat.moments
    _LOOP(flat.params, flat.grads, first, second, flat.is_weight, scalars, bool(decay))


RULES = tuple(
    Rule(
        spec=cls,
        state=AdamState,
        moments=lambda spec: ("mu", "nu"),
        update=_update,
        update_flat=_update_flat,
        update_kernel=None if _LOOP is None else _update_kernel,
    )
    for cls in (Adam, AdamW)
)
"""Adam's and AdamW's records for the optimizer registry."""
