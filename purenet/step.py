"""A fused training step that reuses its workspaces: the hot loop of `purenet.train`.

`make_step(arch, optimizer, batch_size=..., dtype=..., l2=...)` returns a `FastStep` whose call
`step(params, state, x, y, lr) -> (params, state, loss, n_correct)` gives the same numbers as
`value_and_grad` + `optim.update` + `optim.apply_updates` (the same float operations in the same
order: equal to the pure path bit for bit where the BLAS is deterministic, and within float
rounding in any case), but allocates nothing per batch: activations, deltas, gradients and the
scratch arrays of the optimizer live in buffers the step owns.

The contract that makes it a drop-in replacement for the pure step:

- Inputs are only read. `params`, `state`, `x` and `y` are never written, and the step keeps
  no reference to `x` or `y` after the call (they may be buffers the caller refills).
- Outputs never change. Each returned array is a read-only view of a buffer the step allocated.
  The step writes a buffer again only when no view of it is alive outside the step (CPython
  reference counts tell), so a params or state tree it handed out keeps its values for as long
  as anyone holds it: keep one for a checkpoint or early stopping and the step simply moves on
  to a fresh buffer. In the usual loop (`params, state, ... = step(params, state, ...)`) two
  buffer sets alternate and nothing is allocated. On interpreters without reference counts
  every call allocates its outputs, which is correct and slower.
- A non-finite loss or gradient raises `NonFinite` before any output exists.

`supports(arch, optimizer)` says whether a fused step exists (SGD with or without (Nesterov)
momentum, Adam, AdamW and RMSProp, for every hidden activation and every output x loss pair);
for anything else use the pure functions.

Example:
    >>> import numpy as np, purenet as pn
    >>> from purenet import optim
    >>> from purenet.step import make_step
    >>> arch = pn.Architecture((4, 8, 3))
    >>> params, spec = pn.init(arch, seed=0), optim.SGD(0.1, momentum=0.9)
    >>> state = optim.init(spec, params)
    >>> step = make_step(arch, spec, batch_size=2, dtype="float32")
    >>> x, y = np.ones((2, 4), np.float32), np.array([0, 2])
    >>> params, state, loss, n_correct = step(params, state, x, y, 0.1)
    >>> int(state.count), params[0].w.flags.writeable
    (1, False)
"""

from __future__ import annotations

import math
import sys
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from purenet import optim
from purenet.activations import ACTIVATIONS, OUTPUTS
from purenet.losses import LOSSES, check_labels
from purenet.model import Architecture, Dense, Params, check_params, labels_of

__all__ = ["FastStep", "NonFinite", "make_step", "supports"]

Array = np.ndarray

_SUPPORTED: tuple[type, ...] = (optim.SGD, optim.Adam, optim.AdamW, optim.RMSProp)


class NonFinite(Exception):
    """The batch gave a non-finite loss or gradient; `what` names which ("loss (nan)")."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def supports(arch: Architecture, optimizer: Any) -> bool:
    """True when `make_step` has a fused step for this architecture and optimizer.

    Args:
        arch: the architecture (every registered activation and output x loss pair is fused).
        optimizer: an optimizer spec; `SGD`, `Adam`, `AdamW` and `RMSProp` are fused, any other
            type (including subclasses, whose formulas may differ) is not.

    Returns:
        Whether `make_step(arch, optimizer, ...)` will succeed.

    Example:
        >>> import purenet as pn
        >>> from purenet import optim
        >>> supports(pn.Architecture((2, 3, 2)), optim.Adam())
        True
    """
    return (
        type(optimizer) in _SUPPORTED
        and arch.hidden in ACTIVATIONS
        and (arch.output, arch.loss) in LOSSES
    )


def _count_refs(buffers: list[Array], i: int) -> int:
    return sys.getrefcount(buffers[i])


# References to a pool buffer while `_count_refs` looks at it and nothing else holds it: the
# pool's list slot and the call's argument. Measured, not assumed, as it varies by version.
_PRIVATE_REFS: int | None = _count_refs([np.empty(1)], 0) if hasattr(sys, "getrefcount") else None


def _is_private(buffers: list[Array]) -> bool:
    if _PRIVATE_REFS is None:
        return False
    return all(_count_refs(buffers, i) <= _PRIVATE_REFS for i in range(len(buffers)))


def _readonly_view(buffer: Array) -> Array:
    view = buffer.view()
    view.flags.writeable = False
    return view


class _Pool:
    """Buffer sets for one tree (the params, or one optimizer moment), reused when private.

    A set is private when no view of any of its buffers lives outside the pool. At most two
    sets are kept: a third request while both are held elsewhere allocates a new set and drops
    the pool's reference to the oldest (its holders keep it alive as long as they need it).
    """

    def __init__(self, shapes: Sequence[tuple[int, ...]], dtype: np.dtype) -> None:
        self._shapes = tuple(shapes)
        self._dtype = dtype
        self._sets: list[list[Array]] = []

    def take(self) -> list[Array]:
        for buffers in self._sets:
            if _is_private(buffers):
                return buffers
        fresh = [np.empty(shape, dtype=self._dtype) for shape in self._shapes]
        if _PRIVATE_REFS is None:
            return fresh
        if len(self._sets) == 2:
            del self._sets[0]
        self._sets.append(fresh)
        return fresh


def _layers(leaves: Sequence[Array]) -> Params:
    return tuple(
        Dense(_readonly_view(leaves[i]), _readonly_view(leaves[i + 1]))
        for i in range(0, len(leaves), 2)
    )


def _leaves(tree: Params) -> list[Array]:
    return [leaf for layer in tree for leaf in (layer.w, layer.b)]


def _is_finite_array(a: Array) -> bool:
    # One summing pass is cheaper than isfinite(); a non-finite sum of finite numbers is
    # overflow, not a fault, so only then is every element looked at.
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(float(np.sum(a))):
            return True
    return bool(np.isfinite(a).all())


class FastStep:
    """One optimizer step on one batch, fused and allocation-free (see the module docstring).

    Build it with `make_step`. Calls are not thread-safe (the workspaces are shared).
    """

    def __init__(
        self,
        arch: Architecture,
        optimizer: optim.Optimizer,
        *,
        batch_size: int,
        dtype: DTypeLike = "float32",
        l2: float = 0.0,
    ) -> None:
        if not supports(arch, optimizer):
            raise ValueError(
                f"no fused step for {type(optimizer).__name__}; supported optimizers: "
                f"{', '.join(t.__name__ for t in _SUPPORTED)} (use the pure functions)"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        resolved = np.dtype(dtype)
        if resolved not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, found {resolved}")
        if not (math.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {l2}")
        self.arch = arch
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.dtype = resolved
        self.l2 = float(l2)
        self._hidden = ACTIVATIONS[arch.hidden]
        self._output = OUTPUTS[arch.output]
        self._pair = LOSSES[arch.output, arch.loss]
        self._softmax_ce = (arch.output, arch.loss) == ("softmax", "cross_entropy")
        self._is_relu = arch.hidden == "relu"

        shapes = [
            s for fan_in, fan_out in arch.layer_shapes for s in ((fan_in, fan_out), (fan_out,))
        ]
        rows = batch_size
        widths = arch.sizes[1:]
        # Workspaces never leave the step: outputs of each layer, deltas, gradients, scratch.
        self._acts = [np.empty((rows, n), resolved) for n in widths]
        self._pre = [np.empty((rows, n), resolved) for n in widths[:-1]]
        self._deltas = [np.empty((rows, n), resolved) for n in widths]
        self._masks = [np.empty((rows, n), np.bool_) for n in widths[:-1]]
        self._column = np.empty((rows, 1), resolved)
        self._rows = np.arange(rows)
        self._grads = [np.empty(s, resolved) for s in shapes]
        self._scratch = [np.empty(s, resolved) for s in shapes]
        self._scratch2 = [np.empty(s, resolved) for s in shapes]
        self._params = _Pool(shapes, resolved)
        self._moments = [_Pool(shapes, resolved) for _ in range(self._moment_count())]
        self._issued: list[weakref.ref[Array]] = []

    def _moment_count(self) -> int:
        spec = self.optimizer
        if isinstance(spec, optim.SGD):
            return 1 if spec.momentum else 0
        if isinstance(spec, optim.Adam):
            return 2
        return 1

    def __call__(
        self, params: Params, state: Any, x: Array, y: Array, lr: float
    ) -> tuple[Params, Any, float, int]:
        """Take one step: the batch's loss and correct count, then the updated params and state.

        Args:
            params: current parameters fitting `arch`, in the step's dtype.
            state: the optimizer state for `params` (from `optim.init` or a previous call).
            x: (m, sizes[0]) inputs with 1 <= m <= batch_size; cast to the dtype if needed.
            y: (m,) integer labels or (m, sizes[-1]) targets.
            lr: the learning rate for this step, a float > 0.

        Returns:
            `(params, state, loss, n_correct)`: the new params and state (read-only arrays
            that never change), the batch's loss before the step (a float, with the l2
            penalty) and the number of samples whose predicted label from that same forward
            pass equals `labels_of(y)`.

        Raises:
            NonFinite: the loss or a gradient is not finite; nothing was returned or changed.
            ValueError: shapes or dtypes that do not fit, or a bad learning rate.
            TypeError: a state of another optimizer.
        """
        p = self._check_params(params)
        moments = self._check_state(state)
        lr = float(lr)
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning_rate must be a finite number > 0, got {lr}")
        x = np.asarray(x)
        m = x.shape[0] if x.ndim == 2 else 0
        if x.ndim != 2 or x.shape[1] != self.arch.sizes[0] or not 1 <= m <= self.batch_size:
            raise ValueError(
                f"x has shape {x.shape}; the step expects (m, {self.arch.sizes[0]}) "
                f"with 1 <= m <= {self.batch_size}"
            )
        x = x.astype(self.dtype, copy=False)
        y = np.asarray(y)
        if y.ndim not in (1, 2) or y.shape[0] != m:
            raise ValueError(f"y has shape {y.shape}; expected labels ({m},) or targets ({m}, k)")

        value, n_correct, delta = self._forward(p, x, y, m)
        if self.l2:
            squares = sum(float(np.square(p[i]).sum(dtype=np.float64)) for i in range(0, len(p), 2))
            value += 0.5 * self.l2 * squares
        if not math.isfinite(value):
            raise NonFinite(f"loss ({value})")
        self._backward(p, x, delta, m)
        if not all(_is_finite_array(g) for g in self._grads):
            raise NonFinite("gradient")
        new_params, new_state = self._update(p, state, moments, lr)
        self._issued = [weakref.ref(leaf) for leaf in _leaves(new_params)]
        return new_params, new_state, value, n_correct

    def _check_params(self, params: Params) -> list[Array]:
        leaves = _leaves(params) if isinstance(params, tuple) else []
        issued = self._issued
        if len(leaves) == len(issued) and all(
            leaf is ref() for leaf, ref in zip(leaves, issued, strict=True)
        ):
            return leaves
        check_params(self.arch, params)
        if params[0].w.dtype != self.dtype:
            raise ValueError(f"params have dtype {params[0].w.dtype}; the step is {self.dtype}")
        return _leaves(params)

    def _check_state(self, state: Any) -> list[list[Array]]:
        spec = self.optimizer
        if isinstance(spec, optim.SGD):
            if not isinstance(state, optim.SGDState):
                raise TypeError(f"{type(state).__name__} is not the state of SGD")
            trees = [state.velocity] if spec.momentum else []
        elif isinstance(spec, optim.Adam):
            if not isinstance(state, optim.AdamState):
                raise TypeError(f"{type(state).__name__} is not the state of {type(spec).__name__}")
            trees = [state.mu, state.nu]
        else:
            if not isinstance(state, optim.RMSPropState):
                raise TypeError(f"{type(state).__name__} is not the state of RMSProp")
            trees = [state.nu]
        moments = []
        for tree in trees:
            leaves = _leaves(tree)
            if len(leaves) != len(self._grads) or any(
                leaf.shape != g.shape or leaf.dtype != self.dtype
                for leaf, g in zip(leaves, self._grads, strict=True)
            ):
                raise ValueError(
                    f"optimizer state does not fit the params: expected {len(self._grads)} "
                    f"{self.dtype} arrays of shapes {[g.shape for g in self._grads]}"
                )
            moments.append(leaves)
        return moments

    def _forward(self, p: list[Array], x: Array, y: Array, m: int) -> tuple[float, int, Array]:
        """Run the network on the batch; return (loss, n_correct, output delta (m, k))."""
        hidden = self._hidden
        a = x
        for i in range(len(p) // 2 - 1):
            h = self._acts[i][:m]
            np.matmul(a, p[2 * i], out=h)
            h += p[2 * i + 1]
            if hidden.uses_input:
                z = self._pre[i][:m]
                np.copyto(z, h)
                hidden.function(z, out=h)
            else:
                hidden.function(h, out=h)
            a = h
        z = self._acts[-1][:m]
        np.matmul(a, p[-2], out=z)
        z += p[-1]
        if self._softmax_ce and y.ndim == 1:
            return self._softmax_cross_entropy(z, check_labels(y, z.shape[1]), m)
        out = self._output.function(z)
        value = self._pair.value(z, out, y)
        n_correct = int(np.count_nonzero(labels_of(out) == labels_of(y)))
        return value, n_correct, self._pair.delta(z, out, y)

    def _softmax_cross_entropy(self, z: Array, labels: Array, m: int) -> tuple[float, int, Array]:
        # The operations of `log_softmax`, `softmax` and the categorical delta in losses.py,
        # in place: the exp-sum is shared by the loss and the probabilities.
        rows = self._rows[:m]
        column = self._column[:m]
        shifted = self._deltas[-1][:m]
        np.max(z, axis=1, keepdims=True, out=column)
        np.subtract(z, column, out=shifted)
        picked = shifted[rows, labels]
        np.exp(shifted, out=shifted)
        np.sum(shifted, axis=1, keepdims=True, out=column)
        log_p = picked - np.log(column[:, 0])
        value = float(-log_p.mean(dtype=np.float64))
        shifted /= column
        n_correct = int(np.count_nonzero(shifted.argmax(axis=1) == labels))
        one = z.dtype.type(m)
        np.divide(shifted, one, out=shifted)
        shifted[rows, labels] -= z.dtype.type(1 / m)
        return value, n_correct, shifted

    def _backward(self, p: list[Array], x: Array, delta: Array, m: int) -> None:
        """Fill the gradient buffers from the output delta (as `loss_grad_and_output`)."""
        hidden = self._hidden
        grads = self._grads
        for i in range(len(p) // 2 - 1, -1, -1):
            inputs = x if i == 0 else self._acts[i - 1][:m]
            w = p[2 * i]
            np.matmul(inputs.T, delta, out=grads[2 * i])
            if self.l2:
                np.multiply(w, w.dtype.type(self.l2), out=self._scratch[2 * i])
                grads[2 * i] += self._scratch[2 * i]
            np.sum(delta, axis=0, out=grads[2 * i + 1])
            if i == 0:
                break
            previous = self._deltas[i - 1][:m]
            np.matmul(delta, w.T, out=previous)
            a = self._acts[i - 1][:m]
            if self._is_relu:
                mask = self._masks[i - 1][:m]
                np.greater(a, 0, out=mask)
                np.multiply(previous, mask, out=previous)
            else:
                z = self._pre[i - 1][:m] if hidden.uses_input else None
                previous *= hidden.derivative(z, a)  # type: ignore[arg-type]
            delta = previous

    def _update(
        self, p: list[Array], state: Any, moments: list[list[Array]], lr: float
    ) -> tuple[Params, Any]:
        """Write the optimizer's new params and moments into private buffers (as optim.py)."""
        spec = self.optimizer
        g, tmp, tmp2 = self._grads, self._scratch, self._scratch2
        new_p = self._params.take()
        new_moments = [pool.take() for pool in self._moments]
        count = state.count + 1
        n = len(g)
        if isinstance(spec, optim.SGD):
            mu = spec.momentum
            if not mu:
                for j in range(n):
                    np.multiply(g[j], -lr, out=tmp[j])
                    np.add(p[j], tmp[j], out=new_p[j])
                return _layers(new_p), optim.SGDState(count, ())
            v, new_v = moments[0], new_moments[0]
            for j in range(n):
                np.multiply(v[j], mu, out=new_v[j])
                new_v[j] += g[j]
                if spec.nesterov:
                    np.multiply(new_v[j], mu, out=tmp[j])
                    tmp[j] += g[j]
                    tmp[j] *= -lr
                else:
                    np.multiply(new_v[j], -lr, out=tmp[j])
                np.add(p[j], tmp[j], out=new_p[j])
            return _layers(new_p), optim.SGDState(count, _layers(new_v))
        if isinstance(spec, optim.Adam):
            b1, b2, eps = spec.b1, spec.b2, spec.eps
            t = int(count)
            step = lr / (1.0 - b1**t)
            root_correction = math.sqrt(1.0 - b2**t)
            decay = lr * spec.weight_decay if isinstance(spec, optim.AdamW) else 0.0
            (mu_old, nu_old), (mu_new, nu_new) = moments, new_moments
            for j in range(n):
                np.multiply(mu_old[j], b1, out=mu_new[j])
                np.multiply(g[j], 1.0 - b1, out=tmp[j])
                mu_new[j] += tmp[j]
                np.multiply(g[j], g[j], out=tmp[j])
                tmp[j] *= 1.0 - b2
                np.multiply(nu_old[j], b2, out=nu_new[j])
                nu_new[j] += tmp[j]
                np.multiply(mu_new[j], -step, out=tmp[j])
                np.sqrt(nu_new[j], out=tmp2[j])
                tmp2[j] /= root_correction
                tmp2[j] += eps
                tmp[j] /= tmp2[j]
                if decay and p[j].ndim >= 2:
                    np.multiply(p[j], decay, out=tmp2[j])
                    tmp[j] -= tmp2[j]
                np.add(p[j], tmp[j], out=new_p[j])
            return _layers(new_p), optim.AdamState(count, _layers(mu_new), _layers(nu_new))
        rho, eps = spec.rho, spec.eps
        nu_old, nu_new = moments[0], new_moments[0]
        for j in range(n):
            np.multiply(g[j], g[j], out=tmp[j])
            tmp[j] *= 1.0 - rho
            np.multiply(nu_old[j], rho, out=nu_new[j])
            nu_new[j] += tmp[j]
            np.multiply(g[j], -lr, out=tmp[j])
            np.sqrt(nu_new[j], out=tmp2[j])
            tmp2[j] += eps
            tmp[j] /= tmp2[j]
            np.add(p[j], tmp[j], out=new_p[j])
        return _layers(new_p), optim.RMSPropState(count, _layers(nu_new))


def make_step(
    arch: Architecture,
    optimizer: optim.Optimizer,
    *,
    batch_size: int,
    dtype: DTypeLike = "float32",
    l2: float = 0.0,
) -> FastStep:
    """Build the fused step for `arch` and `optimizer` (check `supports` first).

    Args:
        arch: the architecture.
        optimizer: an `SGD`, `Adam`, `AdamW` or `RMSProp` spec.
        batch_size: the largest batch the step will see (workspaces are sized for it).
        dtype: the parameters' dtype, float32 or float64.
        l2: the L2 coefficient on the weights, as in `purenet.loss`.

    Returns:
        A `FastStep`; call it as `step(params, state, x, y, lr)`.

    Raises:
        ValueError: an unsupported optimizer, a bad batch size, dtype or l2.

    Example:
        >>> import purenet as pn
        >>> from purenet import optim
        >>> step = make_step(pn.Architecture((784, 128, 10)), optim.Adam(), batch_size=64)
        >>> step.batch_size
        64
    """
    return FastStep(arch, optimizer, batch_size=batch_size, dtype=dtype, l2=l2)
