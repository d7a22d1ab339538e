"""The Keras-like text summary of a model (`pn.summary`)."""

from __future__ import annotations

import purenet as pn
from purenet.pipeline.steps import Flatten, Scale


def test_summary_lists_layers_shapes_counts_preprocessing_labels_and_metrics() -> None:
    arch = pn.Architecture((64, 16, 3), hidden="tanh", bias=(True, False), dropout=0.5)
    model = pn.Model(
        arch,
        pn.init(arch, seed=0),
        (Scale(), Flatten((8, 8))),
        ("a", "b", "c"),
        pn.ModelMeta("9.9", "now", None, {"test_accuracy": 0.96666, "epochs": 4.0}),
    )
    lines = pn.summary(model).splitlines()
    assert lines[0] == "Model: 64 -> 16 -> 3, float32"
    assert lines[1].split() == [
        "layer", "output", "weights", "biases", "activation", "dropout", "parameters"
    ]
    # 64 * 16 + 16 = 1040; the output layer has no bias: 16 * 3 = 48.
    assert lines[3].split() == ["dense_0", "(batch,", "16)", "64", "x", "16", "16", "tanh", "-",
                                "1,040"]
    assert lines[4].split() == ["dense_1", "(batch,", "3)", "16", "x", "3", "-", "softmax", "0.5",
                                "48"]
    assert lines[6:] == [
        "total parameters: 1,088",
        "loss: cross_entropy",
        "input: raw (8, 8) -> scale [0, 255] to [0, 1] -> flatten [8, 8] to [64]",
        "labels (3): a, b, c",
        "metrics: test_accuracy 0.9667, epochs 4",
    ]


def test_summary_cuts_long_label_lists() -> None:
    arch = pn.Architecture((2, 30))
    text = pn.summary(pn.Model(arch, pn.init(arch, seed=0)))
    assert "labels (30): 0, 1, 2, 3, 4, 5, 6, 7, ..., 26, 27, 28, 29" in text
