"""`make_step`: the training step for a model and optimizer, compiled, fused or pure.

The choice, in order: `SmallStep` / `KernelStep` (numba kernels, `purenet.training.fused`) when
numba is installed and the kernels compute the model; `FastStep` (numpy, bit-identical to the
pure functions) when `purenet.training.step.supports` says so; `PureStep` otherwise.
"""

from __future__ import annotations

from typing import Any

from numpy.typing import DTypeLike

from purenet.core.kernel import HAS_NUMBA
from purenet.errors import require_extra
from purenet.nn.model import Architecture
from purenet.training.step import FastStep, PureStep, supports


def make_step(
    arch: Architecture,
    optimizer: Any,
    *,
    batch_size: int,
    dtype: DTypeLike = "float32",
    l2: float = 0.0,
    kernels: bool | None = None,
) -> FastStep | PureStep:
    """Build the training step for `arch` and `optimizer`: compiled, fused or pure.

    With numba installed (the `fast` extra) and a model the kernels compute
    (`purenet.training.fused.supports_kernels`), a `KernelStep`, or for batches of at most
    `fused.SMALL_BATCH` a `SmallStep` (one compiled call per step); else a `FastStep` when
    `supports(arch, optimizer)`; else a `PureStep`. Anything a path does not support (a new
    optimizer, an activation without a kernel) gets the next one, so results stay correct.

    Args:
        arch: the architecture.
        optimizer: an optimizer spec.
        batch_size: the largest batch the step will see (workspaces are sized for it).
        dtype: the parameters' dtype, float32 or float64.
        l2: the L2 coefficient on the weights, as in `purenet.loss`.
        kernels: None (default): the kernels when installed and supported; False: never
            (the numpy step, bit-identical to the pure functions); True: required.

    Returns:
        A `KernelStep`, `SmallStep`, `FastStep` or `PureStep`; drive it with
        `start(params, state)`, `step(x, y, lr)`, `params()` and `state()`.

    Raises:
        ValueError: a bad batch size, dtype or l2, or `kernels=True` for a model or optimizer
            the kernels do not compute.
        MissingExtraError: `kernels=True` without numba.

    Example:
        >>> import purenet as pn
        >>> from purenet import optim
        >>> step = make_step(
        ...     pn.Architecture((784, 128, 10)), optim.Adam(), batch_size=64, kernels=False
        ... )
        >>> type(step).__name__
        'FastStep'
    """
    if kernels:
        require_extra("numba", "fast")
    if (kernels or (kernels is None and HAS_NUMBA)) and supports(arch, optimizer):
        from purenet.training import fused

        if fused.supports_kernels(arch, optimizer):
            kind = fused.SmallStep if batch_size <= fused.SMALL_BATCH else fused.KernelStep
            return kind(arch, optimizer, batch_size=batch_size, dtype=dtype, l2=l2)
    if kernels:
        raise ValueError(
            f"no kernels for {arch.hidden} hidden layers, {arch.output} x {arch.loss} output "
            f"with {type(optimizer).__name__} (kernels=None picks the numpy step)"
        )
    if supports(arch, optimizer):
        return FastStep(arch, optimizer, batch_size=batch_size, dtype=dtype, l2=l2)
    return PureStep(arch, optimizer, l2=l2)
