"""The benchmark job (784-256-128-10 ReLU/softmax, SGD momentum, batch 128) and its contenders.

Each contender trains the same job from the same initial weights and returns seconds per epoch.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np

from purenet import optim
from purenet.data.dataset import Dataset
from purenet.nn.model import Architecture, Params, predict

CONTENDERS = (
    "purenet",
    "purenet-numpy",
    "numpy-reference",
    "per-sample",
    "jax-scan",
    "jax-jit",
    "torch",
    "torch-compile",
    "sklearn",
)
"""Contender names, in table order; jax, torch and sklearn run only when installed.
`purenet-numpy` is `train(..., kernels=False)`: the numpy step, as without the `fast` extra."""

SIZES = (784, 256, 128, 10)

BATCH_SIZE = 128

LEARNING_RATE = 0.05

MOMENTUM = 0.9

PER_SAMPLE_TIMED = 2000
"""Samples the per-sample loop is timed on before scaling to an epoch."""

QUICK_SIZES = (512, 256, 128)
"""`--quick`: synthetic train and test samples, and the samples per-sample is timed on."""


def plain_data(value: Any) -> Any:
    """JSON data of nested dicts, tuples and lists (tuples become lists)."""
    if isinstance(value, dict):
        return {key: plain_data(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [plain_data(item) for item in value]
    return value


@attrs.frozen
class Timing:
    """Seconds of repeated runs: `median`, `min`, `max` and every run in order (`runs`)."""

    median: float
    min: float
    max: float
    runs: tuple[float, ...]

    @classmethod
    def of(cls, runs: Sequence[float]) -> Timing:
        """Summarize the runs (at least one)."""
        return cls(statistics.median(runs), min(runs), max(runs), tuple(runs))


def version_of(package: str) -> str | None:
    """The installed version of `package`, or None when it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------
# contenders: each is a callable running `epochs` epochs from the same start, returning seconds


class Contender(Protocol):
    """A way to train the job: `run(epochs)` trains from the initial weights and returns wall
    seconds per epoch."""

    name: str
    threads: int
    timed_samples: int
    scaled_to_epoch: bool
    version: str

    def run(self, epochs: int) -> float: ...


class PurenetContender:
    scaled_to_epoch = False

    def __init__(
        self, arch: Architecture, params: Params, data: Dataset, threads: int, kernels: bool
    ) -> None:
        self.arch, self.params, self.data, self.threads = arch, params, data, threads
        self.name = "purenet" if kernels else "purenet-numpy"
        # None: the kernels when numba is installed (what `train` does by default).
        self.kernels: bool | None = None if kernels else False
        self.timed_samples = len(data)
        self.version = version_of("purenet") or "unknown"
        self.spec = optim.SGD(LEARNING_RATE, momentum=MOMENTUM)
        self.trained: Params = params

    def run(self, epochs: int) -> float:
        from purenet.training.loop import train

        started = time.perf_counter()
        result = train(
            self.arch,
            self.params,
            self.spec,
            self.data,
            epochs=epochs,
            batch_size=BATCH_SIZE,
            seed=0,
            kernels=self.kernels,
        )
        seconds = time.perf_counter() - started
        self.trained = result.params
        return seconds / epochs


def _reference_epoch(
    layers: list[tuple[np.ndarray, np.ndarray]],
    velocity: list[tuple[np.ndarray, np.ndarray]],
    x: np.ndarray,
    y: np.ndarray,
    order: np.ndarray,
) -> tuple[float, int]:
    """One epoch of the straightforward numpy loop; updates `layers` and `velocity` lists."""
    total, correct = 0.0, 0
    lr, mu = np.float32(LEARNING_RATE), np.float32(MOMENTUM)
    for start in range(0, len(order), BATCH_SIZE):
        index = order[start : start + BATCH_SIZE]
        xb, yb, n = x[index], y[index], len(index)
        rows = np.arange(n)
        activations = [xb]
        for w, b in layers[:-1]:
            activations.append(np.maximum(activations[-1] @ w + b, 0))
        z = activations[-1] @ layers[-1][0] + layers[-1][1]
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        p = e / e.sum(axis=1, keepdims=True)
        total += float(-np.log(p[rows, yb]).sum())
        correct += int((p.argmax(axis=1) == yb).sum())
        delta = p.copy()
        delta[rows, yb] -= 1
        delta /= np.float32(n)
        for i in range(len(layers) - 1, -1, -1):
            grad_w, grad_b = activations[i].T @ delta, delta.sum(axis=0)
            if i:
                delta = (delta @ layers[i][0].T) * (activations[i] > 0)
            vw, vb = velocity[i]
            velocity[i] = (mu * vw + grad_w, mu * vb + grad_b)
            w, b = layers[i]
            layers[i] = (w - lr * velocity[i][0], b - lr * velocity[i][1])
    return total, correct


class _NumpyReference:
    name = "numpy-reference"
    scaled_to_epoch = False

    def __init__(self, params: Params, data: Dataset, threads: int) -> None:
        self.params, self.data, self.threads = params, data, threads
        self.timed_samples = len(data)
        self.version = np.__version__

    def run(self, epochs: int) -> float:
        layers = [(np.array(p.w), np.array(p.b)) for p in self.params]
        velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in layers]
        x, y = self.data.x, self.data.y
        started = time.perf_counter()
        for epoch in range(1, epochs + 1):
            order = np.random.default_rng((0, epoch)).permutation(len(x))
            _reference_epoch(layers, velocity, x, y, order)
        return (time.perf_counter() - started) / epochs


def _per_sample_backprop(
    layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray, label: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Nielsen's `network.py` `backprop` for one column vector `x` (ReLU, softmax): new lists
    of new gradient arrays, starting, as there, from zeros of every parameter's shape."""
    nabla_b = [np.zeros(b.shape, b.dtype) for _, b in layers]
    nabla_w = [np.zeros(w.shape, w.dtype) for w, _ in layers]
    activation = x
    activations, zs = [x], []
    for w, b in layers[:-1]:
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = np.maximum(z, 0)
        activations.append(activation)
    z = np.dot(layers[-1][0], activation) + layers[-1][1]
    e = np.exp(z - z.max())
    activations.append(e / e.sum())
    delta = activations[-1].copy()
    delta[label] -= 1
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].T)
    for layer in range(2, len(layers) + 1):
        delta = np.dot(layers[-layer + 1][0].T, delta) * (zs[-layer + 1] > 0)
        nabla_b[-layer] = delta
        nabla_w[-layer] = np.dot(delta, activations[-layer - 1].T)
    return nabla_b, nabla_w


def _per_sample_train(
    layers: list[tuple[np.ndarray, np.ndarray]],
    velocity: list[tuple[np.ndarray, np.ndarray]],
    x: np.ndarray,
    y: np.ndarray,
    order: np.ndarray,
) -> None:
    """The tutorials' loop over `order`: back-propagate one column vector at a time, sum the
    gradients of a mini-batch, then one momentum step; updates the two lists in place.

    Written as Nielsen's `network.py` (`update_mini_batch` and `backprop`): `backprop` returns
    new lists of new arrays (from `np.zeros` of each shape), the mini-batch sums are new lists
    (`nabla_b = [nb + dnb ...]`), products are `np.dot` (numpy's `@` takes a slow path for the
    `(n, 1) @ (1, m)` outer products), and each input is a `(784, 1)` column, as its data
    loader shapes them. `layers` hold `(w, b)` as `(fan_out, fan_in)` and `(fan_out, 1)`.
    The step is SGD with momentum (the job's), where Nielsen's is plain SGD.
    """
    lr, mu = np.float32(LEARNING_RATE), np.float32(MOMENTUM)
    for start in range(0, len(order), BATCH_SIZE):
        chunk = order[start : start + BATCH_SIZE]
        nabla_b = [np.zeros_like(b) for _, b in layers]
        nabla_w = [np.zeros_like(w) for w, _ in layers]
        for i in chunk:
            delta_nabla_b, delta_nabla_w = _per_sample_backprop(layers, x[i].reshape(-1, 1), y[i])
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b, strict=True)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w, strict=True)]
        scale_by = np.float32(1 / len(chunk))
        for j, ((w, b), (vw, vb)) in enumerate(zip(layers, velocity, strict=True)):
            vw = mu * vw + scale_by * nabla_w[j]
            vb = mu * vb + scale_by * nabla_b[j]
            velocity[j] = (vw, vb)
            layers[j] = (w - lr * vw, b - lr * vb)


class _PerSample:
    name = "per-sample"
    scaled_to_epoch = True

    def __init__(self, params: Params, data: Dataset, threads: int, timed: int) -> None:
        self.data, self.threads = data, threads
        self.params = params
        self.timed_samples = min(timed, len(data))
        self.version = np.__version__

    def run(self, epochs: int) -> float:
        # C order, as the tutorials build them (np.array of w.T would keep w's F order).
        layers = [(np.ascontiguousarray(p.w.T), np.array(p.b)[:, None]) for p in self.params]
        velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in layers]
        x, y = self.data.x, self.data.y
        order = np.random.default_rng((0, 1)).permutation(len(x))[: self.timed_samples]
        started = time.perf_counter()
        _per_sample_train(layers, velocity, x, y, order)
        seconds = time.perf_counter() - started
        return seconds * len(x) / self.timed_samples


class TorchContender:
    scaled_to_epoch = False

    def __init__(self, params: Params, data: Dataset, threads: int, compiled: bool) -> None:
        import torch

        self.name = "torch-compile" if compiled else "torch"
        self.compiled = compiled
        self.torch = torch
        self.params, self.threads = params, threads
        # A private copy: torch tensors must be writable, the data set's arrays are not.
        self.x = torch.from_numpy(np.array(data.x))
        self.y = torch.from_numpy(data.y.astype(np.int64))
        self.timed_samples = len(data)
        self.version = str(torch.__version__)

    def run(self, epochs: int) -> float:
        model, optimizer = _torch_model(self.torch, self.params)
        if self.compiled:
            model = self.torch.compile(model)
        started = time.perf_counter()
        for epoch in range(1, epochs + 1):
            order = np.random.default_rng((0, epoch)).permutation(len(self.x))
            _torch_epoch(self.torch, model, optimizer, self.x, self.y, order)
        return (time.perf_counter() - started) / epochs


def _torch_model(torch: Any, params: Params) -> tuple[Any, Any]:
    """The job's network in `torch.nn`, starting from `params`, and its SGD optimizer."""
    layers: list[Any] = []
    for i, p in enumerate(params):
        linear = torch.nn.Linear(p.w.shape[0], p.w.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(p.w.T)))
            linear.bias.copy_(torch.from_numpy(np.array(p.b)))
        layers.append(linear)
        if i < len(params) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    return model, torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)


def _torch_epoch(
    torch: Any, model: Any, optimizer: Any, x: Any, y: Any, order: np.ndarray
) -> tuple[float, int]:
    """One eager-mode epoch in `order`; returns (summed loss, correct), as purenet's loop."""
    loss_fn = torch.nn.CrossEntropyLoss()
    index_all = torch.from_numpy(order)
    total, correct = 0.0, 0
    for start in range(0, len(order), BATCH_SIZE):
        index = index_all[start : start + BATCH_SIZE]
        xb, yb = x.index_select(0, index), y.index_select(0, index)
        optimizer.zero_grad(set_to_none=True)
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(index)
        correct += int((out.argmax(dim=1) == yb).sum())
    return total, correct


class _Sklearn:
    name = "sklearn"
    scaled_to_epoch = False

    def __init__(self, data: Dataset, threads: int) -> None:
        import sklearn

        self.data, self.threads = data, threads
        self.timed_samples = len(data)
        self.version = sklearn.__version__

    def run(self, epochs: int) -> float:
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(
            hidden_layer_sizes=SIZES[1:-1],
            activation="relu",
            solver="sgd",
            alpha=0.0,
            batch_size=BATCH_SIZE,
            learning_rate_init=LEARNING_RATE,
            momentum=MOMENTUM,
            nesterovs_momentum=False,
            shuffle=True,
            random_state=0,
        )
        classes = np.arange(SIZES[-1])
        started = time.perf_counter()
        for _ in range(epochs):
            model.partial_fit(self.data.x, self.data.y, classes=classes)
        return (time.perf_counter() - started) / epochs


# ---------------------------------------------------------------------------------------------
# the GEMM floor and inference


def gemm_step_seconds(params: Params, x: np.ndarray, reps: int) -> float:
    """Mean seconds of the eight matrix products of one step at full batch size."""
    rng = np.random.default_rng(3)
    w = [np.array(p.w) for p in params]
    xb = np.ascontiguousarray(x[:BATCH_SIZE])
    if len(xb) < BATCH_SIZE:
        xb = np.resize(xb, (BATCH_SIZE, xb.shape[1]))
    widths = [p.w.shape[1] for p in params]
    h = [np.empty((BATCH_SIZE, n), np.float32) for n in widths]
    d = [rng.standard_normal((BATCH_SIZE, n)).astype(np.float32) for n in widths]
    g = [np.empty_like(wi) for wi in w]
    started = 0.0
    # One untimed pass first: the outputs' pages are touched, and the BLAS threads are awake.
    for rep in range(reps + 1):
        if rep == 1:
            started = time.perf_counter()
        np.matmul(xb, w[0], out=h[0])
        np.matmul(h[0], w[1], out=h[1])
        np.matmul(h[1], w[2], out=h[2])
        np.matmul(h[1].T, d[2], out=g[2])
        np.matmul(d[2], w[2].T, out=d[1])
        np.matmul(h[0].T, d[1], out=g[1])
        np.matmul(d[1], w[1].T, out=d[0])
        np.matmul(xb.T, d[0], out=g[0])
    return (time.perf_counter() - started) / reps


def time_inference(
    arch: Architecture, params: Params, test: Dataset, repeats: int
) -> dict[str, Any]:
    """`predict` on `test` and `load_model` of the trained model's file, timed `repeats` times."""
    from purenet.modelfile.io import load_model, save_model
    from purenet.modelfile.model import Model
    from purenet.pipeline.steps import Flatten, Scale

    predict_runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(arch, params, test.x)
        predict_runs.append(time.perf_counter() - started)
    load_runs = []
    with tempfile.TemporaryDirectory(prefix="purenet-bench-") as folder:
        path = Path(folder) / "model.json"
        # attrs' tuple converters confuse mypy's attrs plugin (as in runner.py).
        model = Model(arch, params, (Scale(), Flatten((28, 28))))  # type: ignore[arg-type]
        save_model(path, model)
        size = path.stat().st_size
        for _ in range(repeats):
            started = time.perf_counter()
            load_model(path)
            load_runs.append(time.perf_counter() - started)
    return {
        "predict_samples": len(test),
        "predict_seconds": plain_data(attrs.asdict(Timing.of(predict_runs))),
        "load_model_seconds": plain_data(attrs.asdict(Timing.of(load_runs))),
        "model_file_bytes": size,
    }


# ---------------------------------------------------------------------------------------------
# the bench


def _make_optional(
    name: str, arch: Architecture, params: Params, train: Dataset, threads: int
) -> Contender:
    """An installed library's contender; ImportError when the library is missing."""
    if name in ("jax-scan", "jax-jit"):
        from purenet.cli.contenders_jax import JaxJit, JaxScan

        kind = JaxScan if name == "jax-scan" else JaxJit
        return kind(arch, params, train, threads, LEARNING_RATE, MOMENTUM)
    if name in ("torch", "torch-compile"):
        return TorchContender(params, train, threads, compiled=name == "torch-compile")
    return _Sklearn(train, threads)


_LIBRARY = {"jax-scan": "jax", "jax-jit": "jax", "torch": "torch", "torch-compile": "torch"}


def make_contenders(
    names: Sequence[str],
    arch: Architecture,
    params: Params,
    train: Dataset,
    threads: int,
    per_sample_timed: int,
) -> tuple[list[Contender], list[tuple[str, str]]]:
    """The requested contenders, in `CONTENDERS` order, and `(name, reason)` of those skipped."""
    made: list[Contender] = []
    skipped: list[tuple[str, str]] = []
    for name in CONTENDERS:
        if name not in names:
            continue
        if name in ("purenet", "purenet-numpy"):
            made.append(PurenetContender(arch, params, train, threads, kernels=name == "purenet"))
        elif name == "numpy-reference":
            made.append(_NumpyReference(params, train, threads))
        elif name == "per-sample":
            made.append(_PerSample(params, train, threads, per_sample_timed))
        else:
            module = _LIBRARY.get(name, "sklearn")
            try:
                made.append(_make_optional(name, arch, params, train, threads))
            except ImportError:
                extra = " or optax" if module == "jax" else ""
                skipped.append((name, f"{module}{extra} is not installed"))
    return made, skipped
