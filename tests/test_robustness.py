"""Hostile files, disk faults and signals: one clear error, bounded memory, nothing lost."""

from __future__ import annotations

import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_cli import error_line, runner
from test_runner import tiny_recipe, write_idx, write_tiny_data

from purenet.cli.app import app
from purenet.core.jsonio import read_json
from purenet.data.csv import read_csv
from purenet.data.idx import read_idx
from purenet.data.images import read_gray
from purenet.data.inputs import read_inputs
from purenet.errors import DataFormatError, ModelFormatError, PurenetError, RecipeError
from purenet.recipe.load import load_recipe
from purenet.run.runner import run_recipe


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    write_tiny_data(tmp_path)
    return tiny_recipe(tmp_path)


# ---------------------------------------------------------------------------------------------
# JSON and TOML


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 3000 + "]" * 3000, r"hostile: \$: nested deeper than 100 levels"),
        ('{"a": ' * 101 + "1" + "}" * 101, r"\$(\.a){100}: nested deeper than 100 levels"),
        ('{"n": ' + "7" * 5000 + "}", "an integer of 5000 digits"),
        ('{"a": [1, NaN]}', r"\$.a\[1\]: NaN is not valid JSON \(line 1 column 11\)"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ],
)
# Hostile files here have no .json suffix: test_written_models reads every *.json the suite wrote.


def test_json_bounds_are_refused_with_the_file_and_path(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "hostile"
    path.write_text(text)
    with pytest.raises(ModelFormatError, match=message):
        read_json(path)


def test_a_fifo_or_a_device_is_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    started = time.monotonic()
    for path in (fifo, zero, tmp_path):
        with pytest.raises(ModelFormatError, match=f"{path}: not a regular file"):
            read_json(path)
    assert time.monotonic() - started < 1


def test_the_text_cap_names_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long"
    path.write_text("[" + "0," * 100 + "0]")
    monkeypatch.setenv("PURENET_MAX_TEXT_BYTES", "100")
    with pytest.raises(ModelFormatError, match="set PURENET_MAX_TEXT_BYTES to allow more"):
        read_json(path)
    monkeypatch.setenv("PURENET_MAX_TEXT_BYTES", "many")
    with pytest.raises(PurenetError, match="PURENET_MAX_TEXT_BYTES must be a positive integer"):
        read_json(path)


@pytest.mark.parametrize(
    "value, message",
    [
        ("1979-05-27", r"\$.train.seed: TOML dates and times are not accepted here"),
        ("07:32:00", r"\$.train.seed: TOML dates and times are not accepted here"),
        ("[" * 2000 + "]" * 2000, "nested deeper than 100 levels"),
        ("9" * 5000, "not valid TOML"),
    ],
)
def test_recipe_dates_deep_nesting_and_huge_integers_are_refused(
    tmp_path: Path, value: str, message: str
) -> None:
    path = tmp_path / "r.toml"
    path.write_text(f'[data]\ntrain = "mnist:train"\n[train]\nseed = {value}\n')
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)


def test_a_huge_bad_model_stops_collecting_errors(tmp_path: Path) -> None:
    # 100,000 wrong labels: the first few are reported, the rest are never structured.
    path = tmp_path / "bad-model"
    model = {
        "format": "purenet.model",
        "format_version": 1,
        "architecture": {"sizes": [1, 1], "hidden": "relu", "output": "sigmoid", "loss": "mse"},
        "layers": [
            {
                "w": {"dtype": "float32", "shape": [1, 1], "data": [0.5]},
                "b": {"dtype": "float32", "shape": [1], "data": [0.0]},
            }
        ],
        "preprocess": [],
        "labels": [1] * 100_000,
        "meta": {
            "purenet_version": "1",
            "created": "2024-05-01T12:00:00Z",
            "recipe": None,
            "metrics": {},
        },
    }
    path.write_text(json.dumps(model))
    tracemalloc.start()
    try:
        result = runner.invoke(app, ["info", str(path)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "labels" in error_line(result)
    assert peak < 100 << 20, f"peak {peak:,} bytes"


# ---------------------------------------------------------------------------------------------
# Data files


def _idx_header(code: int, dims: list[int]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize(
    "dims, message",
    [
        ([1] * 65, "IDX header has 65 dimensions; expected 1 to 64"),
        ([0, 2**32 - 1, 2**32 - 1, 2**32 - 1], r"claims more than 2\*\*62 bytes"),
    ],
)
def test_idx_headers_numpy_cannot_hold_are_refused(
    tmp_path: Path, dims: list[int], message: str
) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(_idx_header(0x08, dims))
    with pytest.raises(DataFormatError, match=message):
        read_idx(path)


def test_decompressed_data_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURENET_MAX_DATA_BYTES", "10000")
    monkeypatch.setenv("PURENET_MAX_CSV_BYTES", "10000")
    idx = tmp_path / "big.idx.gz"
    idx.write_bytes(gzip.compress(_idx_header(0x08, [200, 100]) + bytes(20000)))
    with pytest.raises(DataFormatError, match="20,000 bytes exceeds the limit of 10,000 bytes"):
        read_idx(idx)
    csv = tmp_path / "bomb.csv.gz"
    csv.write_bytes(gzip.compress(b"\n" * 1_000_000))
    monkeypatch.setenv("PURENET_MAX_CSV_ROWS", "100000")
    with pytest.raises(DataFormatError, match="set PURENET_MAX_CSV_BYTES to allow more"):
        read_csv(csv)
    monkeypatch.setenv("PURENET_MAX_CSV_BYTES", str(2 << 20))
    with pytest.raises(DataFormatError, match="set PURENET_MAX_CSV_ROWS to allow more"):
        read_csv(csv)


def test_read_csv_refuses_float32_overflow_and_labels_outside_int64(tmp_path: Path) -> None:
    wide = tmp_path / "wide.csv"
    wide.write_text("label,a\n0,1.5\n1,1e39\n")
    with pytest.raises(DataFormatError, match=r"data row 2, feature 1: 1e\+39 overflows float32"):
        read_csv(wide)
    assert read_csv(wide, dtype=np.float64).x[1, 0] == 1e39
    big = tmp_path / "big.csv"
    big.write_text("label,a\n1e30,1.5\n")
    with pytest.raises(DataFormatError, match="a label of 1e\\+30 does not fit int64"):
        read_csv(big)


def test_a_picture_over_the_pixel_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wide.png"
    Image.new("L", (300, 200)).save(path)
    monkeypatch.setenv("PURENET_MAX_IMAGE_PIXELS", "50000")
    with pytest.raises(DataFormatError, match="a picture of 60,000 pixels exceeds the limit"):
        read_gray(path)
    monkeypatch.setenv("PURENET_MAX_IMAGE_PIXELS", "60000")
    assert read_gray(path).shape == (200, 300)


def test_declared_layers_over_the_parameter_cap_are_refused_before_allocating(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = load_recipe(tiny, overrides=["model.sizes=[64, 40000, 40000, 3]"])
    with pytest.raises(RecipeError, match=r"\$.model.sizes: a model of 1,602,760,003 parameters"):
        run_recipe(recipe)
    monkeypatch.setenv("PURENET_MAX_PARAMETERS", "1000")
    with pytest.raises(RecipeError, match="set PURENET_MAX_PARAMETERS to allow more"):
        run_recipe(load_recipe(tiny))


def test_an_npy_header_claiming_a_huge_shape_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    np.save(path, np.zeros((2, 3), np.float32))
    text = path.read_bytes().replace(b"(2, 3)", b"(10000000, 100000)".ljust(6))
    header_end = text.index(b"\n") + 1
    path.write_bytes(text[:header_end].replace(b" " * 12 + b"\n", b"\n") + bytes(24))
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError, match=r"huge\.npy"):
            read_inputs(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_duplicate_label_names_are_refused_when_the_recipe_loads(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[data]\ntrain = "mnist:train"\nlabels = ["a", "b", "a"]\n')
    with pytest.raises(RecipeError, match=r"\$.data.labels\[2\]: duplicate class name 'a'"):
        load_recipe(path)


# ---------------------------------------------------------------------------------------------
# Disk faults and the terminal


def test_os_errors_are_one_line_errors_naming_the_path(tiny: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    line = error_line(runner.invoke(app, ["run", str(tiny), "--quiet", "--out", str(a_file)]))
    # Refused before training, naming the option and the path.
    assert line == f"error: --out: {a_file}: {a_file} is a file, not a folder"
    folder_model = tmp_path / "model.json"
    folder_model.mkdir()
    line = error_line(runner.invoke(app, ["info", str(folder_model)]))
    # A folder named model.json is no model file and holds no model.json of its own.
    assert line == (
        f"error: {folder_model}: a folder without model.json; give a model file or a run folder"
    )
    images = tmp_path / "images.gz"
    write_idx(images, np.zeros((1, 28, 28), np.uint8))
    missing = tmp_path / "no" / "digit.png"
    line = error_line(runner.invoke(app, ["show", str(images), "--out", str(missing)]))
    assert line.startswith("error: ") and str(missing.parent) in line


def test_info_escapes_control_characters_in_label_names(tiny: Path) -> None:
    path = load_recipe(tiny, overrides=['data.labels=["\\u001b]0;owned\\u0007", "b", "c"]'])
    result = run_recipe(path)
    shown = runner.invoke(app, ["info", str(result.out_dir / "model.json")])
    assert shown.exit_code == 0
    assert "\x1b" not in shown.stdout and "\\x1b]0;owned\\x07" in shown.stdout


# ---------------------------------------------------------------------------------------------
# Signals


def test_sigterm_keeps_the_checkpoint_says_so_and_exits_143(tiny: Path, tmp_path: Path) -> None:
    recipe = tiny_recipe(tmp_path, train__epochs=10**7)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "purenet", "run", str(recipe), "--quiet"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    metrics = out / "metrics.jsonl"
    # Training has begun once epoch lines reach the file (flushed at least once a second);
    # the first checkpoint by time is a minute away, so SIGTERM itself must write it.
    while not (metrics.exists() and metrics.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (out / "checkpoint.json").exists()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 143, stderr
    assert "interrupted: checkpoint of epoch" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] >= 1
