"""A Keras-like text summary of a model: layers, shapes, activations, parameter counts,
preprocessing, labels and metrics (`pn.summary(model)`, also shown by `purenet info`).
"""

from __future__ import annotations

from typing import Any

from purenet.modelfile.io import describe_model
from purenet.modelfile.model import Model

SHOWN_LABELS = 20
"""Class names listed in full up to this many; more are cut to the first and last few."""


def _labels_line(labels: list[str]) -> str:
    if len(labels) > SHOWN_LABELS:
        labels = [*labels[:8], "...", *labels[-4:]]
    return ", ".join(labels)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4g}"
    return str(value)


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Fixed-width columns; the columns in `right` are right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(header))
    return [line(header), rule, *(line(row) for row in rows), rule]


def summary(model: Model) -> str:
    """Describe a model in a few lines of text, as Keras' `model.summary()` does.

    One row per dense layer (output shape, weight and bias shapes, activation, dropout on its
    inputs when any, parameters), then the total, the loss, the preprocessing of raw inputs,
    the class names and the stored metrics.

    Args:
        model: the model.

    Returns:
        The summary, lines separated by newlines, without a trailing newline.

    Example:
        >>> import purenet as pn
        >>> arch = pn.Architecture((784, 128, 10))
        >>> print(pn.summary(pn.Model(arch, pn.init(arch, seed=0))))
        Model: 784 -> 128 -> 10, float32
        layer    output        weights    biases  activation  parameters
        ----------------------------------------------------------------
        dense_0  (batch, 128)  784 x 128     128  relu           100,480
        dense_1  (batch, 10)   128 x 10       10  softmax          1,290
        ----------------------------------------------------------------
        total parameters: 101,770
        loss: cross_entropy
        input: (batch, 784), no preprocessing
        labels (10): 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
    """
    info = describe_model(model)
    arch = model.arch
    dropout = arch.dropout_rates
    header = ["layer", "output", "weights", "biases", "activation", "parameters"]
    if any(dropout):
        header.insert(5, "dropout")
    rows = []
    for layer, rate in zip(info["layers"], dropout, strict=True):
        row = [
            f"dense_{layer['index']}",
            f"(batch, {layer['w_shape'][1]})",
            " x ".join(map(str, layer["w_shape"])),
            str(layer["b_shape"][0]) if layer["b_shape"][0] else "-",
            layer["activation"],
            f"{layer['parameters']:,}",
        ]
        if any(dropout):
            row.insert(5, f"{rate:g}" if rate else "-")
        rows.append(row)
    right = {3, len(header) - 1}
    sizes = " -> ".join(map(str, arch.sizes))
    lines = [f"Model: {sizes}, {info['dtype']}", *_table(header, rows, right)]
    lines.append(f"total parameters: {info['parameters']:,}")
    lines.append(
        f"loss: {arch.loss}" + (f" (delta {arch.huber_delta:g})" if arch.loss == "huber" else "")
    )
    raw = info["input_shape"]
    steps = [step["text"] for step in info["preprocess"]]
    source = f"raw ({', '.join(map(str, raw))})" if raw else f"(batch, {arch.sizes[0]})"
    lines.append(
        "input: " + (" -> ".join([source, *steps]) if steps else f"{source}, no preprocessing")
    )
    if info["task"] == "classification":
        lines.append(f"labels ({len(info['labels'])}): {_labels_line(info['labels'])}")
    else:
        targets = f"; targets {info['targets']['text']}" if info["targets"] else ""
        lines.append(f"{info['task']}: outputs {_labels_line(info['outputs'])}{targets}")
    if info["metrics"]:
        metrics = ", ".join(f"{name} {_number(v)}" for name, v in info["metrics"].items())
        lines.append(f"metrics: {metrics}")
    return "\n".join(lines)
