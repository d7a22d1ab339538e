"""The training step for the options the fused step does not compute: dropout drawn from
`(seed, epoch, batch)`, sample weights, gradient clipping, and models outside the fused step.

`OptionStep` is driven like `purenet.training.step`'s steps (`start`, one call per batch,
`params`, `state`), with the batch's dropout seed and weights as keywords. It is the pure
functions in a row: `loss_grad_and_output` (with `dropout=` and `sample_weight=`),
`clip_by_global_norm`, `optim.update`, `optim.apply_updates`; every tree it holds is
immutable.

Example:
    >>> import numpy as np, purenet as pn
    >>> from purenet import optim
    >>> arch = pn.Architecture((4, 8, 3), dropout=0.5)
    >>> params, spec = pn.init(arch, seed=0), optim.SGD(0.1)
    >>> step = OptionStep(arch, spec, clip_norm=1.0)
    >>> step.start(params, optim.init(spec, params))
    >>> loss, n_correct = step(np.ones((2, 4), np.float32), np.array([0, 2]), 0.1, seed=(0, 1, 0))
    >>> step.norm <= 10.0, step.penalty
    (True, 0.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from purenet import optim
from purenet.core.tree import tree_leaves
from purenet.nn.dropout import Seed
from purenet.nn.model import (
    Architecture,
    Params,
    check_params,
    l2_penalty,
    labels_of,
    loss_grad_and_output,
)
from purenet.training.rules import clip_by_global_norm
from purenet.training.step import NonFinite

Array = np.ndarray


class OptionStep:
    """One optimizer step per call through the pure functions, with the training options.

    Args:
        arch: the architecture (any: per-layer activations, no bias, dropout...).
        optimizer: an optimizer spec.
        l2: the L2 coefficient on the weights.
        clip_norm: the largest global gradient norm (gradients are scaled down to it), or
            None for no clipping.

    Attributes:
        uses_kernels: False: this step runs no numba kernel.
        penalty: the L2 penalty included in the last call's loss.
        norm: the global gradient norm of the last call before clipping (NaN without
            `clip_norm`: it is only computed to clip).
    """

    uses_kernels = False

    def __init__(
        self,
        arch: Architecture,
        optimizer: Any,
        *,
        l2: float = 0.0,
        clip_norm: float | None = None,
    ) -> None:
        self.arch, self.optimizer = arch, optimizer
        self.l2, self.clip_norm = float(l2), clip_norm
        self.penalty = 0.0
        self.norm = float("nan")
        self._params: Params = ()
        self._state: Any = None

    def start(self, params: Params, state: Any) -> None:
        """Begin from `params` and `state` (immutable trees, kept as they are)."""
        check_params(self.arch, params)
        self._params, self._state = params, state

    def __call__(
        self,
        x: Array,
        y: Array,
        lr: float,
        *,
        seed: Seed | None = None,
        weight: Array | None = None,
    ) -> tuple[float, int]:
        """One step on the batch `(x, y)` at rate `lr`.

        Args:
            x: (m, sizes[0]) inputs.
            y: (m,) labels or (m, sizes[-1]) targets.
            lr: the learning rate, >= 0.
            seed: the dropout seed, e.g. `(seed, epoch, batch)` (None: nothing dropped).
            weight: (m,) sample weights, or None.

        Returns:
            `(loss, n_correct)`: the batch's loss before the step (weighted mean, with the L2
            penalty, which `penalty` holds) and the samples whose label predicted by that
            forward pass (with its dropout) equals `labels_of(y)`.

        Raises:
            NonFinite: the loss or a gradient is not finite; nothing changes.
        """
        params = self._params
        value, grads, outputs = loss_grad_and_output(
            self.arch, params, x, y, l2=self.l2, dropout=seed, sample_weight=weight
        )
        self.penalty = l2_penalty(params, self.l2)
        if not math.isfinite(value):
            raise NonFinite(f"loss ({value})")
        if self.clip_norm is not None:
            grads, self.norm = clip_by_global_norm(grads, self.clip_norm)
        if not all(bool(np.isfinite(leaf).all()) for leaf in tree_leaves(grads)):
            raise NonFinite("gradient")
        updates, state = optim.update(self.optimizer, grads, self._state, params, learning_rate=lr)
        n_correct = int(np.count_nonzero(labels_of(outputs) == labels_of(y)))
        self._params, self._state = optim.apply_updates(params, updates), state
        return value, n_correct

    def params(self) -> Params:
        """The current parameters."""
        return self._params

    def param_value(self, layer: int, field: str, index: tuple[int, ...]) -> float:
        """One current parameter (per-step tracking)."""
        return float(getattr(self._params[layer], field)[index])

    def state(self) -> Any:
        """The current optimizer state."""
        return self._state
