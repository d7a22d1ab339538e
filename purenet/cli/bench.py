"""`purenet bench`: the canonical training job, timed against what a user would pick instead.

The job: Fashion-MNIST's 60,000 training images (or a synthetic set of the same shape when the
files are nowhere on disk), a 784-256-128-10 ReLU network with a softmax output and
cross-entropy, SGD with momentum 0.9, learning rate 0.05, batches of 128, float32.

Contenders, timed in one process, interleaved (A B C A B C ...) after one warm-up run each:

- `purenet`: `purenet.training.loop.train`, the real loop, one call per timed run;
- `numpy-reference`: the straightforward numpy loop (out-of-place expressions, a fancy-index
  gather per batch), kept here as the baseline of every ratio;
- `per-sample`: the tutorials' style, one sample at a time as column vectors, with an update
  per mini-batch, written as Nielsen's `network.py` (`backprop` returns new gradient lists,
  summed into new lists); timed on 2,000 samples and scaled to an epoch;
- `torch` (eager, `torch.nn` + `torch.optim.SGD`) and `sklearn` (`MLPClassifier.partial_fit`),
  each only when installed, with the same hyperparameters, initial weights (torch) and threads.

Figures (all seconds are wall time, `time.perf_counter`):

- seconds per epoch: median, min and max over the repeats (each repeat trains `epochs` epochs
  from the same initial weights and is divided by `epochs`);
- ratio to reference: a contender's median over numpy-reference's median;
- GEMM floor: the eight matrix products of one training step (three forward, three weight
  gradients, two back-propagated deltas) at the job's shapes, timed alone with preallocated
  outputs in every round, median step time times `n / batch_size`; a contender's floor
  fraction is floor / its median (1.0 would mean it does nothing but those products);
- peak RSS: the resident-memory high-water mark of this process while the contender ran (Linux:
  reset before each run through `/proc/self/clear_refs`; elsewhere the process peak so far).
  It includes what the bench holds for everyone (the data set as uint8 and float32, torch's
  copy of it, the libraries), so the table shows the growth instead: peak minus the resident
  memory just before the run, what the contender itself allocated;
- inference: `predict` on the 10,000 test images and `load_model` of the trained model's file.

Example:
    >>> from purenet.cli.bench import run_bench
    >>> report = run_bench(quick=True, repeats=1, contenders=("purenet", "numpy-reference"))
    >>> sorted(c.name for c in report.contenders)
    ['numpy-reference', 'purenet']
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any, Protocol

import attrs
import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from purenet import optim
from purenet.data.dataset import Dataset
from purenet.data.load import load_dataset
from purenet.errors import PurenetError, require_extra
from purenet.nn.model import Architecture, Params, init, predict
from purenet.pipeline.transforms import flatten, scale

CONTENDERS = ("purenet", "numpy-reference", "per-sample", "torch", "sklearn")
"""Contender names, in table order; `torch` and `sklearn` run only when installed."""

SIZES = (784, 256, 128, 10)

BATCH_SIZE = 128

LEARNING_RATE = 0.05

MOMENTUM = 0.9

PER_SAMPLE_TIMED = 2000
"""Samples the per-sample loop is timed on before scaling to an epoch."""

QUICK_SIZES = (512, 256, 128)
"""`--quick`: synthetic train and test samples, and the samples per-sample is timed on."""

FORMAT = "purenet.bench"

FORMAT_VERSION = 1

TARGETS = (
    ("purenet / numpy-reference", "purenet", "numpy-reference", "<=", 0.85),
    ("GEMM floor / purenet", "purenet", "floor", ">=", 0.75),
    ("purenet / per-sample", "purenet", "per-sample", "<=", 1 / 20),
    ("purenet / torch", "purenet", "torch", "<=", 0.65),
)
"""(name, contender, versus, comparison, bound): the speed targets of issue 8."""

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _plain(value: Any) -> Any:
    """JSON data of nested dicts, tuples and lists (tuples become lists)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
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


@attrs.frozen
class ContenderResult:
    """One contender's figures.

    Attributes:
        name: a name from `CONTENDERS`.
        seconds_per_epoch: the timing of one epoch over the repeats.
        ratio_to_reference: median over numpy-reference's median (None without it).
        floor_fraction: GEMM floor over this median.
        peak_rss_mib: peak resident memory while it ran, MiB (see `rss_scope`).
        rss_growth_mib: that peak minus the resident memory just before its run (the largest
            over its runs): what the contender itself added on top of the bench's data.
        rss_scope: `contender` (the peak was reset before its runs) or `process`.
        threads: threads it was allowed (BLAS or torch intra-op threads).
        timed_samples: samples trained in one timed run.
        scaled_to_epoch: whether the time was scaled from `timed_samples` to the full epoch.
        version: the version of the package that ran it.
    """

    name: str
    seconds_per_epoch: Timing
    ratio_to_reference: float | None
    floor_fraction: float
    peak_rss_mib: float
    rss_growth_mib: float
    rss_scope: str
    threads: int
    timed_samples: int
    scaled_to_epoch: bool
    version: str


@attrs.frozen
class TargetCheck:
    """One speed target: `value` of `name` against `bound` (`comparison` `<=` or `>=`)."""

    name: str
    value: float
    comparison: str
    bound: float
    met: bool


@attrs.frozen
class BenchReport:
    """Everything one bench run measured; `to_json()` gives plain JSON data.

    Attributes:
        job: the training job (data, sizes, optimizer, batch size, dtype, epochs, repeats).
        environment: threads, BLAS, CPU count, load average, platform and versions.
        gemm_floor: seconds per epoch of the eight matrix products alone.
        contenders: the contenders that ran, in `CONTENDERS` order.
        skipped: `(name, reason)` of requested contenders that could not run.
        inference: `predict` on the test set and `load_model` timings.
        targets: the issue's speed targets that this run can check.
    """

    job: dict[str, Any]
    environment: dict[str, Any]
    gemm_floor: Timing
    contenders: tuple[ContenderResult, ...]
    skipped: tuple[tuple[str, str], ...]
    inference: dict[str, Any]
    targets: tuple[TargetCheck, ...]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON data (dicts, lists, str, numbers, bools, None)."""
        data = _plain(attrs.asdict(self))
        data["skipped"] = [{"name": n, "reason": r} for n, r in self.skipped]
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **data}


# ---------------------------------------------------------------------------------------------
# data


def _find_fashion(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """The first folder holding all four Fashion-MNIST files, without ever downloading."""
    from purenet.data.registry import default_cache_dir

    if data_dir is not None:
        roots = [Path(data_dir)]
    else:
        env = os.environ.get("PURENET_DATA_DIR")
        roots = [Path(env)] if env else []
        roots.append(default_cache_dir())
    wanted = [name for names in _FASHION_FILES.values() for name in names]
    for root in roots:
        for folder in (root / "fashion-mnist", root):
            if all(
                (folder / f"{name}.gz").is_file() or (folder / name).is_file() for name in wanted
            ):
                return root
    return None


def _synthetic(n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n))


def _model_input(ds: Dataset) -> Dataset:
    return Dataset(flatten(scale(ds.x, low=0.0, high=1.0)), ds.y.astype(np.int64))


def _load_job_data(
    quick: bool, data_dir: str | os.PathLike[str] | None
) -> tuple[Dataset, Dataset, str]:
    if quick:
        train_n, test_n, _ = QUICK_SIZES
        return (
            _model_input(_synthetic(train_n, 1)),
            _model_input(_synthetic(test_n, 2)),
            f"synthetic ({train_n} x 28 x 28 uint8, --quick)",
        )
    root = _find_fashion(data_dir)
    if root is None:
        if data_dir is not None:
            raise PurenetError(
                f"{data_dir}: no Fashion-MNIST files (expected train-images-idx3-ubyte[.gz], "
                "train-labels-idx1-ubyte[.gz], t10k-... in it or in its fashion-mnist folder)"
            )
        return (
            _model_input(_synthetic(60000, 1)),
            _model_input(_synthetic(10000, 2)),
            "synthetic (60000 x 28 x 28 uint8; no Fashion-MNIST files found)",
        )
    train = load_dataset("fashion-mnist", "train", data_dir=root)
    test = load_dataset("fashion-mnist", "test", data_dir=root)
    return _model_input(train), _model_input(test), f"fashion-mnist train ({root})"


# ---------------------------------------------------------------------------------------------
# memory and threads


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _rss_mib(field: str = "VmHWM") -> float:
    """`VmHWM` (peak) or `VmRSS` (current) resident memory in MiB; ru_maxrss off Linux."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux and bytes on macOS.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _default_threads() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _blas_info() -> dict[str, Any]:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"name": config.get("name"), "version": config.get("version"), "threads": None}
    for pool in threadpoolctl.threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            return {
                "name": pool.get("internal_api"),
                "version": pool.get("version"),
                "threads": pool.get("num_threads"),
                "architecture": pool.get("architecture"),
            }
    return {"name": None, "version": None, "threads": None}


@contextmanager
def _limit_threads(threads: int, explicit: bool) -> Iterator[None]:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        if explicit:
            require_extra("threadpoolctl", "bench")
        yield
        return
    with threadpoolctl.threadpool_limits(limits=threads):
        yield


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------
# contenders: each is a callable running `epochs` epochs from the same start, returning seconds


class _Contender(Protocol):
    """A way to train the job: `run(epochs)` trains from the initial weights and returns wall
    seconds per epoch."""

    name: str
    threads: int
    timed_samples: int
    scaled_to_epoch: bool
    version: str

    def run(self, epochs: int) -> float: ...


class _Purenet:
    name = "purenet"
    scaled_to_epoch = False

    def __init__(self, arch: Architecture, params: Params, data: Dataset, threads: int) -> None:
        self.arch, self.params, self.data, self.threads = arch, params, data, threads
        self.timed_samples = len(data)
        self.version = _version("purenet") or "unknown"
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


class _Torch:
    name = "torch"
    scaled_to_epoch = False

    def __init__(self, params: Params, data: Dataset, threads: int) -> None:
        import torch

        self.torch = torch
        self.params, self.threads = params, threads
        # A private copy: torch tensors must be writable, the data set's arrays are not.
        self.x = torch.from_numpy(np.array(data.x))
        self.y = torch.from_numpy(data.y.astype(np.int64))
        self.timed_samples = len(data)
        self.version = str(torch.__version__)

    def run(self, epochs: int) -> float:
        model, optimizer = _torch_model(self.torch, self.params)
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


def _gemm_step_seconds(params: Params, x: np.ndarray, reps: int) -> float:
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


def _inference(arch: Architecture, params: Params, test: Dataset, repeats: int) -> dict[str, Any]:
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
        "predict_seconds": _plain(attrs.asdict(Timing.of(predict_runs))),
        "load_model_seconds": _plain(attrs.asdict(Timing.of(load_runs))),
        "model_file_bytes": size,
    }


# ---------------------------------------------------------------------------------------------
# the bench


def _make_optional(name: str, params: Params, train: Dataset, threads: int) -> _Contender:
    if name == "torch":
        return _Torch(params, train, threads)
    return _Sklearn(train, threads)


def _make_contenders(
    names: Sequence[str],
    arch: Architecture,
    params: Params,
    train: Dataset,
    threads: int,
    per_sample_timed: int,
) -> tuple[list[_Contender], list[tuple[str, str]]]:
    made: list[_Contender] = []
    skipped: list[tuple[str, str]] = []
    for name in CONTENDERS:
        if name not in names:
            continue
        if name == "purenet":
            made.append(_Purenet(arch, params, train, threads))
        elif name == "numpy-reference":
            made.append(_NumpyReference(params, train, threads))
        elif name == "per-sample":
            made.append(_PerSample(params, train, threads, per_sample_timed))
        else:
            module = "torch" if name == "torch" else "sklearn"
            try:
                made.append(_make_optional(name, params, train, threads))
            except ImportError:
                skipped.append((name, f"{module} is not installed"))
    return made, skipped


def _check_targets(medians: dict[str, float], floor: float) -> tuple[TargetCheck, ...]:
    checks = []
    for name, contender, versus, comparison, bound in TARGETS:
        if contender not in medians or (versus != "floor" and versus not in medians):
            continue
        if versus == "floor":
            value = floor / medians[contender]
        else:
            value = medians[contender] / medians[versus]
        met = value <= bound if comparison == "<=" else value >= bound
        checks.append(TargetCheck(name, value, comparison, bound, met))
    return tuple(checks)


def run_bench(
    *,
    threads: int | None = None,
    epochs: int = 1,
    repeats: int = 5,
    quick: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    contenders: Sequence[str] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Time the canonical job for every contender, interleaved, and measure the GEMM floor.

    Args:
        threads: BLAS (and torch) threads for every contender; default: the CPUs this process
            may run on. Setting it needs `threadpoolctl` (the `bench` extra).
        epochs: epochs per timed run, >= 1.
        repeats: timed runs per contender (after one warm-up run each), >= 1; use >= 5 for
            figures worth quoting.
        quick: a small synthetic job (512 training samples) for tests and smoke checks.
        data_dir: the folder with the Fashion-MNIST files (itself or its `fashion-mnist/`);
            default: `$PURENET_DATA_DIR`, then the fetch cache, then a synthetic set of the
            same shape. Nothing is downloaded.
        contenders: names from `CONTENDERS` (default: all; torch and sklearn are skipped with
            a reason when not installed).
        on_progress: called with a short message before each timed run.

    Returns:
        A `BenchReport`; `report.to_json()` is the `--json` output.

    Raises:
        PurenetError: an unknown contender, bad counts, or a `data_dir` without the files.
        MissingExtraError: `threads` given but `threadpoolctl` is not installed.

    Example:
        >>> report = run_bench(quick=True, repeats=1, contenders=("numpy-reference",))
        >>> report.contenders[0].name
        'numpy-reference'
    """
    names = CONTENDERS if contenders is None else tuple(contenders)
    unknown = [name for name in names if name not in CONTENDERS]
    if unknown or not names:
        raise PurenetError(
            f"unknown contender {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from: {', '.join(CONTENDERS)}"
        )
    for label, value in (("epochs", epochs), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PurenetError(f"{label} must be an int >= 1, got {value!r}")
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise PurenetError(f"threads must be an int >= 1, got {threads!r}")
    progress = on_progress or (lambda message: None)
    explicit = threads is not None
    threads = threads if threads is not None else _default_threads()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    train, test, description = _load_job_data(quick, data_dir)
    arch = Architecture(SIZES, hidden="relu", output="softmax", loss="cross_entropy")
    params = init(arch, seed=0)
    per_sample_timed = QUICK_SIZES[2] if quick else PER_SAMPLE_TIMED
    steps_per_epoch = len(train) / BATCH_SIZE
    gemm_reps = max(20, math.ceil(steps_per_epoch))

    with ExitStack() as stack:
        stack.enter_context(_limit_threads(threads, explicit))
        made, skipped = _make_contenders(names, arch, params, train, threads, per_sample_timed)
        torch_threads = None
        for contender in made:
            if isinstance(contender, _Torch):
                torch_threads = contender.torch.get_num_threads()
                contender.torch.set_num_threads(threads)
                stack.callback(contender.torch.set_num_threads, torch_threads)
        blas = _blas_info()
        runs: dict[str, list[float]] = {c.name: [] for c in made}
        peaks: dict[str, float] = {c.name: 0.0 for c in made}
        growth: dict[str, float] = {c.name: 0.0 for c in made}
        can_reset = _reset_peak_rss()
        progress("warm-up")
        _gemm_step_seconds(params, train.x, 5)
        for contender in made:
            progress(f"warm-up: {contender.name}")
            contender.run(1)
        floor_runs = []
        for r in range(repeats):
            progress(f"round {r + 1}/{repeats}: GEMM floor")
            floor_runs.append(_gemm_step_seconds(params, train.x, gemm_reps) * steps_per_epoch)
            for contender in made:
                progress(f"round {r + 1}/{repeats}: {contender.name}")
                _reset_peak_rss()
                before = _rss_mib("VmRSS")
                runs[contender.name].append(contender.run(epochs))
                peak = _rss_mib()
                peaks[contender.name] = max(peaks[contender.name], peak)
                growth[contender.name] = max(growth[contender.name], peak - before)
        trained = next((c.trained for c in made if isinstance(c, _Purenet)), params)
        progress("inference")
        inference = _inference(arch, trained, test, repeats)

    floor = Timing.of(floor_runs)
    medians = {name: statistics.median(times) for name, times in runs.items()}
    reference = medians.get("numpy-reference")
    results = tuple(
        ContenderResult(
            name=c.name,
            seconds_per_epoch=Timing.of(runs[c.name]),
            ratio_to_reference=None if reference is None else medians[c.name] / reference,
            floor_fraction=floor.median / medians[c.name],
            peak_rss_mib=peaks[c.name],
            rss_growth_mib=growth[c.name],
            rss_scope="contender" if can_reset else "process",
            threads=threads,
            timed_samples=c.timed_samples,
            scaled_to_epoch=c.scaled_to_epoch,
            version=c.version,
        )
        for c in made
    )
    job = {
        "data": description,
        "train_samples": len(train),
        "test_samples": len(test),
        "sizes": list(SIZES),
        "hidden": "relu",
        "output": "softmax",
        "loss": "cross_entropy",
        "optimizer": {"kind": "sgd", "learning_rate": LEARNING_RATE, "momentum": MOMENTUM},
        "batch_size": BATCH_SIZE,
        "dtype": "float32",
        "epochs": epochs,
        "repeats": repeats,
        "warmup_runs": 1,
        "per_sample_timed_samples": min(per_sample_timed, len(train)),
    }
    environment = {
        "threads": threads,
        "threads_controlled": explicit or _version("threadpoolctl") is not None,
        "blas": blas,
        "cpu_count": os.cpu_count(),
        "load_average_before": None if load_before is None else list(load_before),
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "processor": platform.machine(),
        "versions": {
            "python": platform.python_version(),
            "purenet": _version("purenet"),
            "numpy": np.__version__,
            "scipy": _version("scipy"),
            "torch": _version("torch"),
            "scikit-learn": _version("scikit-learn"),
            "threadpoolctl": _version("threadpoolctl"),
        },
    }
    return BenchReport(
        job=job,
        environment=environment,
        gemm_floor=floor,
        contenders=results,
        skipped=tuple(skipped),
        inference=inference,
        targets=_check_targets(medians, floor.median),
    )


# ---------------------------------------------------------------------------------------------
# rendering and the command


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value >= 0.1 else f"{value:.4f}"


def render_bench(report: BenchReport) -> Table:
    """A rich table of the report: one row per contender plus the GEMM floor.

    Args:
        report: from `run_bench`.

    Returns:
        A `rich.table.Table`; its caption gives the data, threads, BLAS, inference and the
        speed targets.

    Example:
        >>> from rich.console import Console
        >>> Console().print(render_bench(run_bench(quick=True, repeats=1)))  # doctest: +SKIP
    """
    job, env = report.job, report.environment
    table = Table(
        title=f"purenet bench: {job['epochs']} epoch(s) x {job['repeats']} repeats, "
        f"{job['train_samples']} samples, {'-'.join(map(str, job['sizes']))}, "
        f"batch {job['batch_size']}, {job['dtype']}",
    )
    table.add_column("contender", overflow="fold")
    for header in ("s/epoch median", "min", "max", "x reference", "floor frac.", "+RSS MiB"):
        table.add_column(header, justify="right")
    for c in report.contenders:
        t = c.seconds_per_epoch
        name = c.name + (f" (scaled from {c.timed_samples})" if c.scaled_to_epoch else "")
        table.add_row(
            name,
            _seconds(t.median),
            _seconds(t.min),
            _seconds(t.max),
            "-" if c.ratio_to_reference is None else f"{c.ratio_to_reference:.2f}",
            f"{c.floor_fraction:.2f}",
            f"{c.rss_growth_mib:.0f}",
        )
    floor = report.gemm_floor
    table.add_row(
        "GEMM floor (8 products/step)",
        _seconds(floor.median),
        _seconds(floor.min),
        _seconds(floor.max),
        "-",
        "1.00",
        "-",
    )
    blas = env["blas"]
    inference = report.inference
    lines = [
        f"data: {job['data']}; threads: {env['threads']}; BLAS: {blas.get('name')} "
        f"{blas.get('version')} ({blas.get('threads')} threads); "
        + ", ".join(f"{c.name} {c.version}" for c in report.contenders if c.name != "per-sample"),
        f"predict on {inference['predict_samples']} test samples: "
        f"{_seconds(inference['predict_seconds']['median'])} s; load_model "
        f"({inference['model_file_bytes'] / 1e6:.1f} MB): "
        f"{_seconds(inference['load_model_seconds']['median'])} s (medians)",
    ]
    if report.targets:
        lines.append(
            "targets: "
            + "; ".join(
                f"{t.name} = {t.value:.3f} ({t.comparison} {t.bound:.3g}: "
                f"{'met' if t.met else 'NOT met'})"
                for t in report.targets
            )
        )
    if report.skipped:
        lines.append("skipped: " + "; ".join(f"{n} ({r})" for n, r in report.skipped))
    table.caption = "\n".join(lines)
    return table


def bench_command(
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="BLAS/torch threads (default: all CPUs).")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Epochs per timed run.")] = 1,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, help="Timed runs per contender (after a warm-up).")
    ] = 5,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small synthetic job, for tests and smoke checks.")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Folder with the Fashion-MNIST files.", file_okay=False),
    ] = None,
    contender: Annotated[
        list[str] | None,
        typer.Option("--contender", "-c", help=f"Run only these ({', '.join(CONTENDERS)})."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Time the canonical training job against numpy, per-sample loops, torch and sklearn."""
    errors = Console(stderr=True, highlight=False)
    try:
        with errors.status("benchmarking") as status:
            report = run_bench(
                threads=threads,
                epochs=epochs,
                repeats=repeats,
                quick=quick,
                data_dir=data_dir,
                contenders=contender or None,
                on_progress=lambda message: status.update(f"benchmarking: {message}"),
            )
    except PurenetError as error:
        errors.print(f"[bold red]error:[/] [red]{escape(str(error))}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n")
    else:
        Console().print(render_bench(report))
