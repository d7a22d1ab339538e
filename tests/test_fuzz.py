"""Hypothesis-driven mutation of valid files against every loader: only `PurenetError` may escape.

Each format starts from a small valid file (IDX raw and gzip, CSV raw and gzip, NPY, a model, a
recipe, a checkpoint, metrics and tracked lines of a run folder) and is mutated: bit flips,
truncation, header bytes overwritten (huge and zero dimensions), or, for JSON and TOML, one
value anywhere in the tree replaced by something hostile (deep nesting, a 5,000-digit integer,
NaN, a date, a wrong type, a huge shape). Each case runs under a memory cap (tracemalloc
peak, which sees numpy's allocations) and must end in the loader's result or a `PurenetError`.

The example count per format is `PURENET_FUZZ_EXAMPLES` (default 40, about 10 s for the whole
file); a long run: `PURENET_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py`. Cases are
derandomized, so CI is deterministic.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import purenet.nn.model as m
from purenet import optim
from purenet.core.jsonio import read_jsonl
from purenet.data.csv import read_csv
from purenet.data.dataset import Dataset
from purenet.data.idx import read_idx
from purenet.data.inputs import read_inputs
from purenet.errors import PurenetError
from purenet.modelfile.io import load_model, save_model
from purenet.modelfile.model import Model
from purenet.recipe.load import load_recipe
from purenet.recipe.toml import to_toml
from purenet.run.read import load_run, read_tracked
from purenet.training.checkpoint import Checkpoint
from purenet.training.loop import train
from purenet.training.reports import EarlyStopping

EXAMPLES = int(os.environ.get("PURENET_FUZZ_EXAMPLES", "40"))

MEMORY_CAP = 64 << 20
"""Peak bytes one case may allocate (the valid files are a few KB)."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ARCH = m.Architecture((2, 3, 2))


def _xor(n: int) -> Dataset:
    x = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    return Dataset(x, (x[:, 0] * x[:, 1] > 0).astype(np.int64))


def _train(**kwargs: Any) -> Any:
    return train(
        ARCH,
        m.init(ARCH, seed=1),
        optim.SGD(0.1, momentum=0.9),
        _xor(16),
        epochs=2,
        batch_size=8,
        seed=0,
        valid=_xor(8),
        early_stopping=EarlyStopping(patience=5),
        **kwargs,
    )


def _idx(array: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


RECIPE = {
    "data": {"train": "microchips:train", "valid_fraction": 0.25, "labels": ["no", "yes"]},
    "pipeline": {"steps": [{"kind": "standardize"}]},
    "model": {"sizes": [2, 8, 2], "hidden": "tanh"},
    "optimizer": {"kind": "sgd", "learning_rate": 0.5},
    "train": {"epochs": 3, "batch_size": 16, "seed": 3},
    "output": {"dir": "runs/fuzz"},
}


HISTORY = "checkpoint.history.jsonl"
"""The checkpoint's history log (`Checkpoint.history_path`)."""


def _seeds() -> dict[str, bytes]:
    """The valid file of each format, as bytes."""
    with tempfile.TemporaryDirectory() as name:
        return _write_seeds(Path(name))


def _write_seeds(folder: Path) -> dict[str, bytes]:
    model = Model(ARCH, m.init(ARCH, seed=1), (), ("no", "yes"))  # type: ignore[arg-type]
    save_model(folder / "model.json", model)
    _train(checkpoint=Checkpoint(folder / "checkpoint.json"))
    # Timings vary from run to run; the seed files, and so every mutation of them, must not.
    checkpoint = json.loads((folder / "checkpoint.json").read_text())
    log = folder / HISTORY
    rows = [{**json.loads(line), "seconds": 0.125} for line in log.read_text().splitlines()]
    history = "".join(json.dumps(row) + "\n" for row in rows).encode()
    log.write_bytes(history)
    checkpoint["history"].update(bytes=len(history), sha256=hashlib.sha256(history).hexdigest())
    (folder / "checkpoint.json").write_text(json.dumps(checkpoint))
    images = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
    csv = b"label,a,b\n0,1.5,2\n1,-3,4e2\n0,0.25,7\n"
    metrics = b"".join(
        json.dumps(
            {
                "epoch": e,
                "train_loss": 1.0 / e,
                "train_accuracy": 0.5,
                "valid_loss": None,
                "valid_accuracy": None,
                "learning_rate": 0.1,
                "seconds": 0.01,
            }
        ).encode()
        + b"\n"
        for e in (1, 2, 3)
    )
    np.save(folder / "inputs.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    return {
        "inputs.npy": (folder / "inputs.npy").read_bytes(),
        "idx": _idx(images),
        "idx.gz": gzip.compress(_idx(np.array([1, 2, 3], np.int32)), mtime=0),
        "csv": csv,
        "csv.gz": gzip.compress(csv, mtime=0),
        "model.json": (folder / "model.json").read_bytes(),
        "checkpoint.json": (folder / "checkpoint.json").read_bytes(),
        HISTORY: history,
        "recipe.toml": to_toml(RECIPE).encode(),
        "metrics.jsonl": metrics,
        "tracked.jsonl": b'{"epoch": 0.5, "step": 1, "layers[0].w[0, 0]": 0.25}\n'
        b'{"epoch": 1.0, "step": 2, "layers[0].w[0, 0]": 0.5}\n',
    }


SEEDS = _seeds()


def _load_checkpoint(path: Path) -> Any:
    (path.parent / HISTORY).write_bytes(SEEDS[HISTORY])
    return _train(resume=path)


def _load_history(path: Path) -> Any:
    """Resume from the valid checkpoint beside the (mutated) history log."""
    (path.parent / "checkpoint.json").write_bytes(SEEDS["checkpoint.json"])
    return _train(resume=path.parent / "checkpoint.json")


def _load_run(path: Path) -> Any:
    folder = path.parent / "run"
    folder.mkdir(exist_ok=True)
    path.replace(folder / "metrics.jsonl")
    return load_run(folder)


LOADERS: dict[str, Callable[[Path], Any]] = {
    "inputs.npy": read_inputs,
    "idx": read_idx,
    "idx.gz": read_idx,
    "csv": read_csv,
    "csv.gz": read_csv,
    "model.json": load_model,
    "checkpoint.json": _load_checkpoint,
    HISTORY: _load_history,
    "recipe.toml": load_recipe,
    "metrics.jsonl": _load_run,
    "tracked.jsonl": read_tracked,
}

# Literals that replace one value of a JSON or TOML tree.
HOSTILE_JSON = [
    "[" * 5000 + "]" * 5000,
    "[" * 150 + "]" * 150,
    "9" * 5000,
    "NaN",
    "-Infinity",
    "1e400",
    "-1",
    "18446744073709551616",
    '"5"',
    "null",
    "true",
    "{}",
    "[]",
    '{"dtype": "float32", "shape": [9223372036854775808, 4], "data": []}',
    '{"dtype": "float32", "shape": [0, 4611686018427387904, 4611686018427387904], "data": []}',
    '"\\u001b]0;owned\\u0007"',
]
HOSTILE_TOML = [
    "[" * 5000 + "]" * 5000,
    "9" * 5000,
    "nan",
    "-inf",
    "1979-05-27",
    "1979-05-27T07:32:00Z",
    "07:32:00",
    '"5"',
    "-1",
    "[2, 40000, 40000, 1]",
    "{}",
    "[]",
    '["a", "a"]',
]

MARK = "\x00hostile\x00"


def _paths(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree[:8]):  # a few elements of long arrays are enough
            found += _paths(value, (*path, index))
    return found


def _replaced(tree: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return MARK
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[path[0]] = _replaced(tree[path[0]], path[1:])
    return copy


@st.composite
def _structured(draw: st.DrawFn, name: str) -> bytes:
    """One value of the parsed file replaced by a hostile literal."""
    toml = name.endswith(".toml")
    lines = SEEDS[name].decode().splitlines() if name.endswith(".jsonl") else None
    if toml:
        import tomllib

        tree: Any = tomllib.loads(SEEDS[name].decode())
    elif lines is not None:
        row = draw(st.integers(0, len(lines) - 1))
        tree = json.loads(lines[row])
    else:
        tree = json.loads(SEEDS[name])
    path = draw(st.sampled_from(_paths(tree)))
    literal = draw(st.sampled_from(HOSTILE_TOML if toml else HOSTILE_JSON))
    mutated = _replaced(tree, path)
    if toml:
        # TOML has no null, so the mark goes in as a string and the literal replaces it.
        text = to_toml(mutated) if isinstance(mutated, dict) else MARK
        text = text.replace(json.dumps(MARK), literal).replace(MARK, literal)
    else:
        text = json.dumps(mutated).replace(json.dumps(MARK), literal)
        if lines is not None:
            text = "\n".join([*lines[:row], text, *lines[row + 1 :]]) + "\n"
    return text.encode()


@st.composite
def _bytes(draw: st.DrawFn, name: str) -> bytes:
    """Bit flips, truncation, or header bytes overwritten with extreme values."""
    data = bytearray(SEEDS[name])
    kind = draw(st.sampled_from(["flip", "truncate", "header"]))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    raw = gzip.decompress(data) if name.endswith(".gz") else bytes(data)
    head = bytearray(raw)
    ndim = draw(st.sampled_from([head[3] if len(head) > 3 else 1, 0, 1, 65, 255]))
    dims = draw(st.lists(st.sampled_from([0, 1, 3, 4, 2**31, 2**32 - 1]), min_size=0, max_size=8))
    head[3:4] = bytes([ndim]) if len(head) > 3 else b""
    packed = struct.pack(f">{len(dims)}I", *dims)
    head[4 : 4 + len(packed)] = packed
    return gzip.compress(bytes(head), mtime=0) if name.endswith(".gz") else bytes(head)


def _mutations(name: str) -> st.SearchStrategy[bytes]:
    if name.endswith((".json", ".jsonl", ".toml")):
        return st.one_of(_bytes(name), _structured(name))
    return _bytes(name)


def _check(name: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        tracemalloc.start()
        try:
            LOADERS[name](path)
        except PurenetError:
            pass
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert peak < MEMORY_CAP, f"{name}: peak {peak:,} bytes"


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_only_purenet_errors_escape_a_loader(name: str) -> None:
    @FUZZ
    @given(content=_mutations(name))
    def case(content: bytes) -> None:
        _check(name, content)

    case()


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_the_valid_seed_loads(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(SEEDS[name])
    assert LOADERS[name](path) is not None


def test_jsonl_lines_are_read_with_the_same_bounds(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": ' + "[" * 5000 + "]" * 5000 + "}\n")
    with pytest.raises(PurenetError, match=r"line 2: \$: nested deeper than 100 levels"):
        read_jsonl(path)
