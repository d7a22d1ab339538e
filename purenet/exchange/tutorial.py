"""The tutorials' own JSON: `{"weights1": [[...]], "bias1": [[...]], "weights2": ..., ...}`.

The microchips tutorial saves its network as numbered nested lists: `weightsK` is layer K's
`(fan_in, fan_out)` matrix and `biasK` its `(1, fan_out)` row, for `a = f(a_in @ weights + bias)`.
The file holds no activations, preprocessing or class names: `model_from_tutorial` takes the
activations from the caller (`purenet import --hidden sigmoid --output sigmoid`). A column
layout (`biasK` shaped `(fan_out, 1)`, `weightsK` `(fan_out, fan_in)`, the "Make Your Own
Neural Network" convention `W @ x + b`) is read too, transposed.

`model_to_tutorial` writes the layout back. A tutorial's script feeds raw inputs straight to the
first layer, so purenet's preprocessing (`scale`, `standardize`, `flatten`: all affine per
feature) is folded into the first layer, in float64:
`(x * a + c) @ W + b = x @ (a * W) + (c @ W + b)`.
The written network gives, on raw inputs, purenet's outputs up to rounding (about 1e-7).

Example:
    >>> import purenet as pn
    >>> arch = pn.Architecture((2, 3, 1), hidden="sigmoid", output="sigmoid")
    >>> data = model_to_tutorial(pn.Model(arch, pn.init(arch, seed=0)))
    >>> sorted(data), len(data["bias1"][0])
    (['bias1', 'bias2', 'weights1', 'weights2'], 3)
    >>> model_from_tutorial(data, hidden="sigmoid", output="sigmoid").arch.sizes
    (2, 3, 1)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from purenet.core.arrays import shortest_float_values
from purenet.core.jsonio import read_json, write_json_atomic
from purenet.errors import ModelFormatError
from purenet.modelfile.model import Model
from purenet.nn.model import Architecture, Dense
from purenet.pipeline.steps import Flatten, Scale, Standardize

_KEY = re.compile(r"^(weights|bias)([1-9]\d*)$")


def _matrix(value: Any, where: str) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: expected a non-empty list of numbers or of rows")
    rows = value if isinstance(value[0], list) else [value]
    width = len(rows[0])
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width or not width:
            raise ValueError(f"{where}[{i}]: rows must be lists of {width} numbers")
        for j, number in enumerate(row):
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ValueError(f"{where}[{i}][{j}]: expected a number, found {number!r}")
            if not math.isfinite(number):
                raise ValueError(f"{where}[{i}][{j}]: {number} is not finite")
    return np.array(rows, dtype=np.float64)


def _layer(w: np.ndarray, b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A layer in the row convention: `w` (fan_in, fan_out), `b` (fan_out,)."""
    column = b.shape[1] == 1 and b.shape[0] > 1
    n = b.size
    if column or (w.shape[1] != n and w.shape[0] == n):
        w = w.T
    if w.shape[1] != n:
        raise ValueError(f"$.weights{k}: shape {list(w.shape)} does not fit bias{k} of {n} values")
    return w, b.reshape(-1)


def model_from_tutorial(
    data: Any,
    *,
    hidden: str | Sequence[str],
    output: str,
    loss: str | None = None,
    labels: Sequence[str] | None = None,
    dtype: str = "float64",
) -> Model:
    """Build a model from the tutorials' `weightsK` / `biasK` JSON data.

    Args:
        data: the parsed JSON object.
        hidden: the hidden activation (a key of `purenet.ACTIVATIONS`), or one per hidden
            layer.
        output: `softmax`, `sigmoid` or `identity`.
        loss: default `cross_entropy` (`mse` for an identity output).
        labels: class names; default `"0"`, `"1"`, ...
        dtype: `float64` (the tutorials' numpy default, so outputs match theirs) or `float32`.

    Returns:
        The model, without preprocessing: it takes what the tutorial's network takes.

    Raises:
        ValueError: keys that are not `weightsK` / `biasK` numbered from 1 without gaps,
            values that are not numbers, shapes that do not chain, unknown activations; the
            message names the key.
    """
    if not isinstance(data, dict):
        raise ValueError("$: expected an object of weightsK and biasK lists")
    found: dict[int, dict[str, Any]] = {}
    for key, value in data.items():
        match = _KEY.match(key)
        if match is None:
            raise ValueError(f"$.{key}: unknown key; the layout has weights1, bias1, weights2, ...")
        found.setdefault(int(match.group(2)), {})[match.group(1)] = value
    if not found or sorted(found) != list(range(1, len(found) + 1)):
        raise ValueError(f"$: layers numbered {sorted(found)}; expected 1, 2, ... without gaps")
    params: list[Dense] = []
    for k in range(1, len(found) + 1):
        for part in ("weights", "bias"):
            if part not in found[k]:
                raise ValueError(f"$: missing key '{part}{k}'")
        weights = _matrix(found[k]["weights"], f"$.weights{k}")
        w, b = _layer(weights, _matrix(found[k]["bias"], f"$.bias{k}"), k)
        if params and params[-1].w.shape[1] != w.shape[0]:
            raise ValueError(
                f"$.weights{k}: takes {w.shape[0]} inputs, layer {k - 1} gives "
                f"{params[-1].w.shape[1]}"
            )
        params.append(Dense(w.astype(dtype), b.astype(dtype)))
    sizes = (params[0].w.shape[0], *(layer.w.shape[1] for layer in params))
    loss = loss or ("mse" if output == "identity" else "cross_entropy")
    arch = Architecture(sizes, hidden if isinstance(hidden, str) else tuple(hidden), output, loss)
    if labels is None:
        return Model(arch, tuple(params))  # type: ignore[arg-type]
    return Model(arch, tuple(params), (), tuple(labels))  # type: ignore[arg-type]


def _affine_preprocess(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """`(a, c)`, float64 `(sizes[0],)`: the preprocessing as `x_flat * a + c` per feature."""
    a: np.ndarray = np.ones(1)
    c: np.ndarray = np.zeros(1)
    for step in model.preprocess:
        if isinstance(step, Scale):
            factor = (step.high - step.low) / step.max_value
            a, c = a * factor, c * factor + step.low
        elif isinstance(step, Standardize) and step.mean is not None and step.std is not None:
            mean, std = step.mean.astype(np.float64), step.std.astype(np.float64)
            a, c = a / std, (c - mean) / std
        elif isinstance(step, Flatten):
            a, c = a.reshape(-1), c.reshape(-1)
    width = model.arch.sizes[0]
    return np.broadcast_to(a.reshape(-1), (width,)), np.broadcast_to(c.reshape(-1), (width,))


def model_to_tutorial(model: Model) -> dict[str, list[list[float]]]:
    """The tutorials' layout of a model: `weightsK` `(fan_in, fan_out)`, `biasK` `(1, fan_out)`.

    Args:
        model: the model; its preprocessing is folded into the first layer and a target
            standardization into the last (float64).

    Returns:
        JSON-ready data; numbers are the shortest decimals that read back to the same floats.
        The activations, class names and metadata are not part of the layout.
    """
    data: dict[str, list[list[float]]] = {}
    for k, layer in enumerate(model.params, start=1):
        # The layout always has a bias: a layer without one writes zeros.
        w, b = layer.w, layer.b if layer.b.size else np.zeros(layer.w.shape[1], layer.w.dtype)
        if k == 1 and model.preprocess:
            a, c = _affine_preprocess(model)
            w64 = layer.w.astype(np.float64)
            w, b = a[:, None] * w64, c @ w64 + b.astype(np.float64)
        scaling = model.targets if k == len(model.params) else None
        if scaling is not None and scaling.std is not None and scaling.mean is not None:
            # Standardized targets: fold their undoing into the last (identity) layer.
            std, mean = scaling.std.astype(np.float64), scaling.mean.astype(np.float64)
            w, b = np.asarray(w, np.float64) * std, np.asarray(b, np.float64) * std + mean
        rows, cols = w.shape
        data[f"weights{k}"] = np.array(shortest_float_values(w)).reshape(rows, cols).tolist()
        data[f"bias{k}"] = [shortest_float_values(b)]
    return data


def read_tutorial(
    path: str | os.PathLike[str],
    *,
    hidden: str | Sequence[str],
    output: str,
    loss: str | None = None,
    labels: Sequence[str] | None = None,
    dtype: str = "float64",
) -> Model:
    """Read a tutorial's weights file (see `model_from_tutorial` for the arguments).

    Raises:
        ModelFormatError: the file is missing, not JSON, or not the layout; the message
            names the file and the key, e.g. `net.json: $.weights2: shape [3, 1] does not
            fit bias2 of 2 values`.
    """
    source = os.fspath(path)
    data = read_json(path, error=ModelFormatError)
    if isinstance(data, dict) and data.get("format") == "purenet.model":
        raise ModelFormatError(f"{source}: already a purenet model file; nothing to import")
    try:
        return model_from_tutorial(
            data, hidden=hidden, output=output, loss=loss, labels=labels, dtype=dtype
        )
    except ValueError as exc:
        raise ModelFormatError(f"{source}: {exc}") from None


def write_tutorial(path: str | os.PathLike[str], model: Model) -> None:
    """Write the tutorials' layout of `model` to a JSON file atomically (`model_to_tutorial`)."""
    write_json_atomic(path, model_to_tutorial(model))
