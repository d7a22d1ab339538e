"""`purenet bench`: the report's fields, the command, and that every contender does the same job."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import purenet as pn
from purenet import optim
from purenet.cli.bench import _load_job_data, _synthetic, bench_command, render_bench, run_bench
from purenet.cli.contenders import (
    CONTENDERS,
    _per_sample_backprop,
    _per_sample_train,
    _reference_epoch,
)
from purenet.data.dataset import Dataset
from purenet.errors import PurenetError
from purenet.nn.model import loss_grad_and_output

app = typer.Typer()
app.command("bench")(bench_command)


@app.callback()
def _group() -> None:
    """Keep `bench` a subcommand, as in purenet's own app."""


runner = CliRunner()

CONTENDER_FIELDS = {
    "name",
    "seconds_per_epoch",
    "ratio_to_reference",
    "floor_fraction",
    "peak_rss_mib",
    "rss_growth_mib",
    "rss_scope",
    "threads",
    "timed_samples",
    "scaled_to_epoch",
    "version",
}
TIMING_FIELDS = {"median", "min", "max", "runs"}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def quick_json() -> dict:
    result = runner.invoke(app, ["bench", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_quick_json_has_every_field_for_every_contender(quick_json):
    data = quick_json
    assert data["format"] == "purenet.bench" and data["format_version"] == 2
    assert set(data) == {
        "format", "format_version", "job", "environment", "gemm_floor", "contenders",
        "skipped", "inference", "small_batches", "ratios",
    }  # fmt: skip
    job = data["job"]
    assert job["sizes"] == [784, 256, 128, 10] and job["batch_size"] == 128
    assert job["optimizer"] == {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.9}
    assert job["dtype"] == "float32" and job["repeats"] == 5 and job["warmup_runs"] == 1
    env = data["environment"]
    for key in ("threads", "blas", "cpu_count", "platform", "versions", "load_average_before"):
        assert key in env
    assert {"name", "version", "threads"} <= set(env["blas"])
    assert env["versions"]["numpy"] == np.__version__
    assert set(data["gemm_floor"]) == TIMING_FIELDS and data["gemm_floor"]["median"] > 0

    optional = {"jax-scan": "jax", "jax-jit": "jax", "torch": "torch",
                "torch-compile": "torch", "sklearn": "sklearn"}  # fmt: skip
    expected = [name for name in CONTENDERS if _installed(optional.get(name, "numpy"))]
    assert [c["name"] for c in data["contenders"]] == expected
    assert {s["name"] for s in data["skipped"]} == set(CONTENDERS) - set(expected)
    for contender in data["contenders"]:
        assert set(contender) == CONTENDER_FIELDS, contender["name"]
        timing = contender["seconds_per_epoch"]
        assert set(timing) == TIMING_FIELDS and len(timing["runs"]) == 5
        assert timing["min"] <= timing["median"] <= timing["max"]
        assert contender["ratio_to_reference"] > 0 and contender["floor_fraction"] > 0
        assert contender["peak_rss_mib"] > 0 and contender["rss_growth_mib"] >= 0
        assert contender["threads"] >= 1
    by_name = {c["name"]: c for c in data["contenders"]}
    assert by_name["numpy-reference"]["ratio_to_reference"] == 1.0
    assert by_name["per-sample"]["scaled_to_epoch"] is True
    assert by_name["per-sample"]["timed_samples"] == job["per_sample_timed_samples"]

    inference = data["inference"]
    assert inference["predict_samples"] == job["test_samples"]
    assert set(inference["predict_seconds"]) == TIMING_FIELDS
    assert set(inference["load_model_seconds"]) == TIMING_FIELDS
    assert inference["model_file_bytes"] > 0
    ratios = {r["name"]: r["value"] for r in data["ratios"]}
    assert all(set(r) == {"name", "value"} and r["value"] > 0 for r in data["ratios"])
    assert {"purenet / numpy-reference", "floor / purenet", "purenet / per-sample"} <= set(ratios)
    assert ("purenet / jax-scan" in ratios) == _installed("jax")
    assert ("purenet / torch" in ratios) == _installed("torch")
    medians = {c["name"]: c["seconds_per_epoch"]["median"] for c in data["contenders"]}
    assert ratios["purenet / per-sample"] == medians["purenet"] / medians["per-sample"]
    small = data["small_batches"]
    rows = {(r["name"], r["batch_size"]) for r in small}
    for batch in (1, 10):
        assert {("purenet", batch), ("purenet-numpy", batch), ("numpy-step", batch)} <= rows
    assert ("tutorial", 1) in rows and ("tutorial", 10) not in rows
    assert ("jax-jit", 1) in rows if _installed("jax") else True
    for row in small:
        assert set(row["seconds_per_step"]) == TIMING_FIELDS and row["steps"] >= 10
        assert len(row["seconds_per_step"]["runs"]) == 5
    assert "numpy-step / purenet, batch 1" in ratios


def test_table_has_a_row_per_contender_and_the_floor():
    report = run_bench(
        quick=True, repeats=1, contenders=("purenet", "numpy-reference"), small_batches=False
    )
    console = Console(width=80, record=True)
    console.print(render_bench(report))
    lines = console.export_text().splitlines()
    assert [c.name for c in report.contenders] == ["purenet", "numpy-reference"]
    # A row starts with its contender and has a number in each timing column.
    rows = {
        line.split()[0]
        for line in lines
        if len(line.split()) >= 5 and line.split()[1 if "GEMM" not in line else 2][0].isdigit()
    }
    assert {"purenet", "numpy-reference", "GEMM"} <= rows
    assert any("floor / purenet" in line for line in lines)
    result = runner.invoke(
        app, ["bench", "--quick", "--repeats", "1", "-c", "numpy-reference", "--no-small"]
    )
    assert result.exit_code == 0 and "GEMM" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_threads_are_applied_and_reported():
    pytest.importorskip("threadpoolctl")
    report = run_bench(
        quick=True, repeats=1, threads=1, contenders=("numpy-reference",), small_batches=False
    )
    assert report.environment["threads"] == 1
    assert report.environment["blas"]["threads"] == 1
    assert report.contenders[0].threads == 1


def test_bad_requests_name_what_was_wrong(tmp_path, monkeypatch):
    with pytest.raises(PurenetError, match="unknown contender 'pytorch'; choose from: purenet"):
        run_bench(quick=True, contenders=("pytorch",))
    with pytest.raises(PurenetError, match="repeats must be an integer >= 1, found 0"):
        run_bench(quick=True, repeats=0)
    with pytest.raises(PurenetError, match=f"data_dir {tmp_path / 'nowhere'}: no such directory"):
        run_bench(data_dir=tmp_path / "nowhere", contenders=("numpy-reference",))
    # A data_dir is searched as load_dataset searches: with the files nowhere else and no
    # reachable mirror, the error names the folder.
    monkeypatch.delenv("PURENET_DATA_DIR", raising=False)
    monkeypatch.setenv("PURENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PURENET_MIRROR", "http://127.0.0.1:9/")
    with pytest.raises(PurenetError, match=f"not found \\(looked in data_dir {tmp_path}"):
        run_bench(data_dir=tmp_path, contenders=("numpy-reference",))
    result = runner.invoke(app, ["bench", "--quick", "-c", "pytorch"])
    assert result.exit_code == 1
    assert "unknown contender 'pytorch'" in result.stderr


def test_real_fashion_mnist_is_found_without_downloading():
    folder = os.environ.get("PURENET_DATA_DIR")
    if not folder or not (Path(folder) / "fashion-mnist").is_dir():
        pytest.skip("set PURENET_DATA_DIR to a folder with fashion-mnist/")
    train, test, description = _load_job_data(False, None)
    assert description.startswith("fashion-mnist train")
    assert train.x.shape == (60000, 784) and train.x.dtype == np.float32
    assert test.x.shape == (10000, 784)
    assert 0.0 <= float(train.x.min()) and float(train.x.max()) <= 1.0


# The contenders must train the same network the same way, or their times compare nothing.


def _small_job(n: int = 256) -> tuple[pn.Architecture, tuple, Dataset]:
    arch = pn.Architecture((784, 256, 128, 10))
    ds = _synthetic(n, 5)
    x = (ds.x.reshape(n, -1) / np.float32(255)).astype(np.float32)
    return arch, pn.init(arch, seed=0), Dataset(x, ds.y.astype(np.int64))


def _pure_epoch(arch, params, data, order):
    spec = optim.SGD(0.05, momentum=0.9)
    state = optim.init(spec, params)
    for start in range(0, len(order), 128):
        index = order[start : start + 128]
        _, grads, _ = loss_grad_and_output(arch, params, data.x[index], data.y[index])
        updates, state = optim.update(spec, grads, state, params)
        params = optim.apply_updates(params, updates)
    return params


def test_numpy_reference_and_per_sample_do_the_same_job_as_purenet():
    arch, params, data = _small_job()
    order = np.random.default_rng(0).permutation(len(data))
    expected = _pure_epoch(arch, params, data, order)

    layers = [(np.array(p.w), np.array(p.b)) for p in params]
    velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in layers]
    _reference_epoch(layers, velocity, data.x, data.y, order)
    for (w, b), p in zip(layers, expected, strict=True):
        assert w.dtype == np.float32
        np.testing.assert_allclose(w, p.w, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b, p.b, rtol=1e-4, atol=1e-6)

    columns = [(np.ascontiguousarray(p.w.T), np.array(p.b)[:, None]) for p in params]
    velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in columns]
    _per_sample_train(columns, velocity, data.x, data.y, order)
    for (w, b), p in zip(columns, expected, strict=True):
        np.testing.assert_allclose(w.T, p.w, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b[:, 0], p.b, rtol=1e-4, atol=1e-6)


def test_per_sample_backprop_is_the_gradient_of_one_sample():
    # Oracle: the package's gradient on a batch of one, in the tutorial's (fan_out, fan_in) layout.
    arch, params, data = _small_job(4)
    columns = [(np.ascontiguousarray(p.w.T), np.array(p.b)[:, None]) for p in params]
    nabla_b, nabla_w = _per_sample_backprop(columns, data.x[2].reshape(-1, 1), int(data.y[2]))
    _, grads, _ = loss_grad_and_output(arch, params, data.x[2:3], data.y[2:3])
    for nb, nw, g in zip(nabla_b, nabla_w, grads, strict=True):
        np.testing.assert_allclose(nw.T, g.w, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(nb[:, 0], g.b, rtol=1e-4, atol=1e-6)
    # As in network.py, every call hands back new arrays, never the layers' own.
    again = _per_sample_backprop(columns, data.x[2].reshape(-1, 1), int(data.y[2]))
    assert not any(np.shares_memory(a, b) for a, b in zip(nabla_w, again[1], strict=True))


def test_torch_does_the_same_job_as_purenet():
    torch = pytest.importorskip("torch")
    from purenet.cli.contenders import _torch_epoch, _torch_model

    arch, params, data = _small_job()
    order = np.random.default_rng(0).permutation(len(data))
    expected = _pure_epoch(arch, params, data, order)
    model, optimizer = _torch_model(torch, params)
    x, y = torch.from_numpy(np.array(data.x)), torch.from_numpy(np.array(data.y))
    _torch_epoch(torch, model, optimizer, x, y, order)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    for linear, p in zip(linears, expected, strict=True):
        np.testing.assert_allclose(linear.weight.detach().numpy().T, p.w, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(linear.bias.detach().numpy(), p.b, rtol=1e-4, atol=1e-5)
