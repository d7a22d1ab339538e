"""The model core: pure functions on an `Architecture` and its `Dense` parameter tree.

`Params` is a tuple of `Dense(w, b)` layers, one per pair of adjacent sizes; gradients have the
same type. Every function here is pure: it reads its inputs, never writes them, and returns
new arrays of the parameters' dtype (float32 in, float32 out). The spec and tree live in
`purenet.nn.architecture`, initialization in `purenet.nn.init`, dropout masks in
`purenet.nn.dropout`; this module re-exports what the rest of the package imports from it.
Training functions take dropout's randomness explicitly (`dropout=`); `forward`, `predict` and
`score` never drop.

Example:
    >>> import numpy as np, purenet as pn
    >>> arch = pn.Architecture((2, 8, 2), hidden="tanh")
    >>> params = pn.init(arch, seed=0)
    >>> x = np.array([[0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    >>> value, grads = pn.value_and_grad(arch, params, x, np.array([1, 0]))
    >>> params = pn.sgd_step(params, grads, 0.5)
    >>> pn.predict(arch, params, x).shape
    (2,)
"""

from __future__ import annotations

from typing import cast

import attrs
import numpy as np

from purenet.nn.activations import ACTIVATIONS, OUTPUTS
from purenet.nn.architecture import Architecture, Dense, Params, check_params
from purenet.nn.dropout import Dropout, resolve_dropout
from purenet.nn.init import INIT_SCHEMES, init
from purenet.nn.losses import (
    OutputLoss,
    check_sample_weight,
    output_loss,
    regression_targets,
    weighted_loss,
)
from purenet.nn.metrics import Scores, regression_scores

__all__ = [
    "INIT_SCHEMES",
    "Architecture",
    "Dense",
    "Params",
    "Scores",
    "check_params",
    "evaluate",
    "forward",
    "grad",
    "init",
    "l2_penalty",
    "labels_of",
    "loss",
    "loss_grad_and_output",
    "predict",
    "predict_multilabel",
    "score",
    "value_and_grad",
]

Array = np.ndarray


def _check_inputs(arch: Architecture, params: Params, x: Array) -> Array:
    check_params(arch, params)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != arch.sizes[0]:
        raise ValueError(f"x has shape {x.shape}; the model expects (batch, {arch.sizes[0]})")
    return x.astype(params[0].w.dtype, copy=False)


def _check_targets(x: Array, y: Array) -> Array:
    y = np.asarray(y)
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"y has shape {y.shape}; expected labels ({x.shape[0]},) or targets ({x.shape[0]}, k)"
        )
    return y


@attrs.frozen(eq=False)
class _Trace:
    """What one forward pass keeps for backprop.

    Attributes:
        inputs: the input of each layer, after its dropout mask.
        hidden: each hidden layer's activations before its dropout mask (the derivative
            reads them); the same arrays as `inputs[1:]` where nothing drops.
        pre_activations: each hidden layer's z where its derivative needs it, else None.
        z: the output layer's (batch, sizes[-1]) logits.
        a: its (batch, sizes[-1]) activations.
    """

    inputs: list[Array]
    hidden: list[Array]
    pre_activations: list[Array | None]
    z: Array
    a: Array


def _forward_trace(
    arch: Architecture, params: Params, x: Array, masks: tuple[Array | None, ...] | None = None
) -> _Trace:
    """Run the network (with `masks` on the layer inputs, if given), keeping what backprop needs."""
    inputs: list[Array] = []
    hidden: list[Array] = []
    pre_activations: list[Array | None] = []
    a = x
    for i, layer in enumerate(params[:-1]):
        if i > 0:
            hidden.append(a)
        if masks is not None and masks[i] is not None:
            a = a * masks[i]
        inputs.append(a)
        z = a @ layer.w
        if layer.b.size:
            z += layer.b
        activation = ACTIVATIONS[arch.activations[i]]
        if activation.uses_input:
            pre_activations.append(z)
            a = activation.function(z)
        else:
            pre_activations.append(None)
            a = activation.function(z, out=z)
    if len(params) > 1:
        hidden.append(a)
    if masks is not None and masks[-1] is not None:
        a = a * masks[-1]
    inputs.append(a)
    z = a @ params[-1].w
    if params[-1].b.size:
        z += params[-1].b
    return _Trace(inputs, hidden, pre_activations, z, OUTPUTS[arch.output].function(z))


def forward(arch: Architecture, params: Params, x: Array) -> Array:
    """Compute the network's output activations (inference: no unit is ever dropped).

    Args:
        arch: the architecture.
        params: parameters fitting `arch`.
        x: (batch, sizes[0]) inputs; cast to the parameters' dtype.

    Returns:
        (batch, sizes[-1]) output activations (probabilities for softmax and sigmoid, values
        for identity), in the parameters' dtype.
    """
    x = _check_inputs(arch, params, x)
    return _forward_trace(arch, params, x).a


def _pair(arch: Architecture) -> OutputLoss:
    return output_loss(arch.output, arch.loss, huber_delta=arch.huber_delta)


def l2_penalty(params: Params, l2: float) -> float:
    """The L2 penalty `l2 / 2 * sum ||w||^2` over the weights (biases excluded), in float64.

    Example:
        >>> import numpy as np, purenet as pn
        >>> pn.l2_penalty((pn.Dense(np.array([[3.0, 4.0]]), np.zeros(2)),), 0.1)
        1.25
    """
    if not l2:
        return 0.0
    squares = sum(float(np.square(layer.w).sum(dtype=np.float64)) for layer in params)
    return 0.5 * l2 * squares


def loss(
    arch: Architecture,
    params: Params,
    x: Array,
    y: Array,
    *,
    l2: float = 0.0,
    dropout: Dropout = None,
    sample_weight: Array | None = None,
) -> float:
    """Mean loss over the batch plus `l2 / 2 * sum ||w||^2` over the weights (not biases).

    Args:
        x: (batch, sizes[0]) inputs.
        y: (batch,) integer labels or (batch, sizes[-1]) targets; for regression (identity
            output) (batch,) values of a single output or (batch, sizes[-1]) values.
        l2: the L2 coefficient (>= 0).
        dropout: None (no unit dropped: the network `forward` computes), a seed (an int or
            a tuple such as `(seed, epoch, batch)`) from which `dropout_masks` draws the
            masks, or `DropoutMasks`.
        sample_weight: None (every sample counts once), or (batch,) weights >= 0: the loss
            is then the weighted mean `sum_i w_i l_i / sum_i w_i` (an integer weight `c`
            counts a sample `c` times).

    Returns:
        The loss as a Python float.
    """
    return loss_grad_and_output(
        arch, params, x, y, l2=l2, dropout=dropout, sample_weight=sample_weight, grads=False
    )[0]


def loss_grad_and_output(
    arch: Architecture,
    params: Params,
    x: Array,
    y: Array,
    *,
    l2: float = 0.0,
    dropout: Dropout = None,
    sample_weight: Array | None = None,
    grads: bool = True,
) -> tuple[float, Params, Array]:
    """One forward and one backward pass: the loss, its gradient and the network's outputs.

    Args:
        x: (batch, sizes[0]) inputs.
        y: (batch,) integer labels or (batch, sizes[-1]) targets (values for regression).
        l2: the L2 coefficient; adds `l2 * w` to each weight gradient.
        dropout: None, a seed or `DropoutMasks` (see `loss`).
        sample_weight: None or (batch,) weights >= 0 (see `loss`).
        grads: False skips the backward pass (the gradients are then `()`).

    Returns:
        (loss, grads, outputs): the same value as `loss`, gradients with the structure and
        dtype of `params` (an empty `b` for a layer without bias), and the (batch, sizes[-1])
        output activations of this pass (with its dropout).
    """
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, found {l2}")
    x = _check_inputs(arch, params, x)
    y = _check_targets(x, y)
    masks = resolve_dropout(arch, dropout, x.shape[0], x.dtype)
    trace = _forward_trace(arch, params, x, masks)
    pair = _pair(arch)
    delta: Array | None = None
    if sample_weight is not None:
        weight = check_sample_weight(sample_weight, x.shape[0])
        value, delta = weighted_loss(pair, trace.z, trace.a, y, weight)
    else:
        value = pair.value(trace.z, trace.a, y)
        if grads:
            delta = pair.delta(trace.z, trace.a, y)
    value += l2_penalty(params, l2)
    if delta is None or not grads:
        return value, (), trace.a
    return value, _backward(arch, params, trace, masks, delta, l2), trace.a


def _backward(
    arch: Architecture,
    params: Params,
    trace: _Trace,
    masks: tuple[Array | None, ...] | None,
    delta: Array,
    l2: float,
) -> Params:
    """Back-propagate the output delta (d loss / d z) through the layers of `trace`."""
    grads: list[Dense] = []
    for i in range(len(params) - 1, -1, -1):
        w = params[i].w
        grad_w = trace.inputs[i].T @ delta
        if l2:
            grad_w += w.dtype.type(l2) * w
        grad_b = delta.sum(axis=0) if params[i].b.size else np.zeros(0, w.dtype)
        grads.append(Dense(grad_w, grad_b))
        if i > 0:
            delta = delta @ w.T
            if masks is not None and masks[i] is not None:
                delta *= masks[i]
            derivative = ACTIVATIONS[arch.activations[i - 1]].derivative
            delta *= derivative(trace.pre_activations[i - 1], trace.hidden[i - 1])  # type: ignore[arg-type]
    return tuple(reversed(grads))


def value_and_grad(
    arch: Architecture,
    params: Params,
    x: Array,
    y: Array,
    *,
    l2: float = 0.0,
    dropout: Dropout = None,
    sample_weight: Array | None = None,
) -> tuple[float, Params]:
    """The loss (as `loss`) and its gradient with respect to every parameter.

    Args:
        x: (batch, sizes[0]) inputs.
        y: (batch,) integer labels or (batch, sizes[-1]) targets (values for regression).
        l2: the L2 coefficient.
        dropout: None, a seed or `DropoutMasks` (see `loss`).
        sample_weight: None or (batch,) weights >= 0 (see `loss`).

    Returns:
        (loss, grads): a float and Params of the same shapes and dtype as `params`.

    Example:
        >>> import numpy as np, purenet as pn
        >>> arch = pn.Architecture((2, 8, 2), dropout=0.5)
        >>> params = pn.init(arch, seed=0)
        >>> x, y = np.ones((4, 2), np.float32), np.array([0, 1, 1, 0])
        >>> value, grads = pn.value_and_grad(arch, params, x, y, dropout=(0, 1, 3))
        >>> grads[1].w.shape
        (8, 2)
    """
    value, grads, _ = loss_grad_and_output(
        arch, params, x, y, l2=l2, dropout=dropout, sample_weight=sample_weight
    )
    return value, grads


def grad(
    arch: Architecture,
    params: Params,
    x: Array,
    y: Array,
    *,
    l2: float = 0.0,
    dropout: Dropout = None,
    sample_weight: Array | None = None,
) -> Params:
    """The gradient of `loss` with respect to every parameter (see `value_and_grad`)."""
    return value_and_grad(arch, params, x, y, l2=l2, dropout=dropout, sample_weight=sample_weight)[
        1
    ]


def labels_of(y: Array) -> Array:
    """Integer labels of labels or targets.

    Args:
        y: (batch,) integer labels, (batch, 1) binary targets (> 0.5 is class 1) or
            (batch, k) one-hot or soft targets (argmax).

    Returns:
        (batch,) int64 labels.
    """
    y = np.asarray(y)
    if y.ndim == 1:
        return y.astype(np.int64, copy=False)
    if y.shape[1] == 1:
        return (y[:, 0] > 0.5).astype(np.int64)
    return y.argmax(axis=1)


def predict(arch: Architecture, params: Params, x: Array) -> Array:
    """Predicted class of each row, or predicted values for a regression model.

    Classifiers give the argmax of the outputs, or output > 0.5 for one unit; an identity
    output (regression) gives the outputs themselves. For several independent 0/1 labels
    per row (sigmoid outputs trained on a 0/1 target matrix) use `predict_multilabel`.

    Args:
        x: (batch, sizes[0]) inputs.

    Returns:
        (batch,) int64 labels; for regression (batch,) values of a single output or
        (batch, k) values, in the parameters' dtype.
    """
    outputs = forward(arch, params, x)
    if arch.is_regression:
        return outputs[:, 0] if outputs.shape[1] == 1 else outputs
    return labels_of(outputs)


def predict_multilabel(
    arch: Architecture, params: Params, x: Array, *, threshold: float = 0.5
) -> Array:
    """Independent 0/1 labels, one per output unit: sigmoid output > `threshold`.

    Args:
        arch: an architecture with sigmoid outputs (one unit per label).
        x: (batch, sizes[0]) inputs.
        threshold: a probability in (0, 1).

    Returns:
        (batch, sizes[-1]) int64 matrix of 0 and 1, shaped like the training targets.

    Raises:
        ValueError: another output activation, or a threshold outside (0, 1).

    Example:
        >>> import numpy as np, purenet as pn
        >>> arch = pn.Architecture((3, 4), output="sigmoid")
        >>> pn.predict_multilabel(arch, pn.init(arch, seed=0), np.zeros((2, 3))).shape
        (2, 4)
    """
    if arch.output != "sigmoid":
        raise ValueError(
            f"predict_multilabel needs sigmoid outputs (one per label), found {arch.output!r}"
        )
    if isinstance(threshold, bool) or not 0 < threshold < 1:
        raise ValueError(f"threshold must lie in (0, 1), found {threshold!r}")
    return (forward(arch, params, x) > threshold).astype(np.int64)


def score(
    arch: Architecture,
    params: Params,
    x: Array,
    y: Array,
    *,
    batch_size: int = 1024,
    l2: float = 0.0,
) -> Scores:
    """Loss and metrics over a whole data set, computed in chunks to bound memory.

    Args:
        x: (n, sizes[0]) inputs.
        y: (n,) integer labels or (n, sizes[-1]) targets; values for regression.
        batch_size: rows per forward pass.
        l2: the L2 coefficient added to the loss (0 reports the data loss alone).

    Returns:
        `Scores`: the mean loss as `loss` would give it on all rows at once; for classifiers
        the accuracy (the fraction of rows whose predicted label equals `labels_of(y)`), for
        regression RMSE, MAE and R^2 (see `purenet.nn.metrics`).

    Example:
        >>> import numpy as np, purenet as pn
        >>> arch = pn.Architecture((1, 1), output="identity", loss="mse")
        >>> params = (pn.Dense(np.array([[2.0]]), np.array([1.0])),)
        >>> x = np.array([[0.0], [1.0], [2.0]])
        >>> pn.score(arch, params, x, np.array([1.0, 3.0, 5.0])).as_dict()
        {'loss': 0.0, 'rmse': 0.0, 'mae': 0.0, 'r2': 1.0}
    """
    x = _check_inputs(arch, params, x)
    y = _check_targets(x, y)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, found {batch_size}")
    n = x.shape[0]
    if n == 0:
        raise ValueError("cannot evaluate on an empty data set")
    pair = _pair(arch)
    k = arch.sizes[-1]
    total_loss = 0.0
    correct = 0
    squared, absolute = np.zeros(k), np.zeros(k)
    if arch.is_regression:
        targets = regression_targets(y, k, np.dtype(np.float64))
    else:
        truth = labels_of(y)
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        trace = _forward_trace(arch, params, x[rows])
        total_loss += pair.value(trace.z, trace.a, y[rows]) * trace.z.shape[0]
        if arch.is_regression:
            error = trace.a.astype(np.float64) - targets[rows]
            squared += np.square(error).sum(axis=0)
            absolute += np.abs(error).sum(axis=0)
        else:
            correct += int((labels_of(trace.a) == truth[rows]).sum())
    value = total_loss / n + l2_penalty(params, l2)
    if arch.is_regression:
        rmse, mae, r2 = regression_scores(squared, absolute, targets)
        return Scores(value, rmse=rmse, mae=mae, r2=r2)
    return Scores(value, accuracy=correct / n)


def evaluate(
    arch: Architecture,
    params: Params,
    x: Array,
    y: Array,
    *,
    batch_size: int = 1024,
    l2: float = 0.0,
) -> tuple[float, float]:
    """A classifier's loss and accuracy over a whole data set (see `score`).

    Args:
        x: (n, sizes[0]) inputs.
        y: (n,) integer labels or (n, sizes[-1]) targets.
        batch_size: rows per forward pass.
        l2: the L2 coefficient added to the loss (0 reports the data loss alone).

    Returns:
        (loss, accuracy): the mean loss as `loss` would give it on all rows at once, and
        the fraction of rows whose predicted label equals `labels_of(y)`.

    Raises:
        ValueError: a regression model (identity output), which has no accuracy: `score`
            gives its loss, RMSE, MAE and R^2.
    """
    if arch.is_regression:
        raise ValueError(
            "evaluate gives a classifier's loss and accuracy; an identity-output model is a "
            "regression model with no accuracy: use score() for its loss, RMSE, MAE and R^2"
        )
    scores = score(arch, params, x, y, batch_size=batch_size, l2=l2)
    return scores.loss, cast(float, scores.accuracy)
