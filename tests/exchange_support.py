"""Models the exchange tests share, trained once per session on the real data (a few seconds)."""

import functools
from pathlib import Path

import numpy as np

import purenet as pn


@functools.cache
def mnist_model(data_dir: Path) -> pn.Model:
    """A 784-64-10 relu / softmax model, 3 epochs of Adam on MNIST's 10k training digits (3 s)."""
    train = pn.load_dataset("mnist", "train10k", data_dir=data_dir)
    steps = pn.fit_preprocess([pn.Scale(), pn.Flatten()], train.x)
    x = pn.apply_preprocess(steps, train.x)
    arch = pn.Architecture((784, 64, 10))
    result = pn.train(
        arch,
        pn.init(arch, seed=0),
        pn.optim.Adam(2e-3),
        pn.Dataset(x, train.y),
        epochs=3,
        batch_size=128,
        seed=0,
    )
    return pn.Model(arch, result.params, steps)


@functools.cache
def microchips_model(data_dir: Path) -> pn.Model:
    """A 2-10-1 sigmoid model on z-scored microchip test scores (full-batch SGD, 300 epochs)."""
    data = pn.load_dataset("microchips", "train", data_dir=data_dir)
    steps = pn.fit_preprocess([pn.Standardize()], data.x)
    x = pn.apply_preprocess(steps, data.x)
    arch = pn.Architecture((2, 10, 1), hidden="sigmoid", output="sigmoid")
    result = pn.train(
        arch,
        pn.init(arch, seed=0),
        pn.optim.SGD(2.0, momentum=0.9),
        pn.Dataset(x, np.asarray(data.y)),
        epochs=300,
        batch_size=len(x),
        seed=0,
    )
    return pn.Model(arch, result.params, steps, ("rejected", "accepted"))
