"""SIGKILL `purenet run` at random moments and at the dangerous ones, then `--resume`.

Every run must finish with a `model.json` and `metrics.jsonl` identical (timings aside) to an
uninterrupted run's, and leave no partial or temp file. The command runs in a forked child
(`os.fork`, so no interpreter start-up per kill) through the Typer app, exactly as the
`purenet` script runs it; the dangerous moments are reached by wrapping `os.replace` in the
child only:

- right after the checkpoint's rename, before that epoch's metrics line (`after-replace`);
- inside an atomic write, after the temp file is written and flushed, before its rename
  (`before-replace`, which leaves a `.NAME.*.tmp` behind);
- at a random time (`random`), in the first run and again in the first resume.

14 kills at the dangerous moments and 20 at random ones (most of them while the run is
still going), about 25 s.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_runner import blobs, tiny_recipe, write_idx

from purenet.cli.app import app

EXPECTED = ["checkpoint.json", "metrics.jsonl", "model.json", "recipe.toml"]


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name, (n, seed) in {"train": (120, 0), "test": (30, 1)}.items():
        x, y = blobs(n, seed)
        write_idx(folder / f"{name}-images.gz", x)
        write_idx(folder / f"{name}-labels.gz", y)
    return tiny_recipe(tmp_path, train__epochs=6)


def _cli(args: list[str]) -> int:
    try:
        app(args, prog_name="purenet", standalone_mode=False)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def _child(args: list[str], kill: tuple[str, str, int] | None) -> int:
    """Fork a child that runs the command and SIGKILLs itself at `kill`: (moment, file, n)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        if kill is not None:
            moment, name, nth = kill
            real_replace = os.replace
            seen = {"replace": 0}

            def replace(src: Any, dst: Any) -> None:
                if moment == "before-replace" and Path(dst).name == name:
                    seen["replace"] += 1
                    if seen["replace"] == nth:
                        os.kill(os.getpid(), signal.SIGKILL)
                real_replace(src, dst)
                if moment == "after-replace" and Path(dst).name == name:
                    seen["replace"] += 1
                    if seen["replace"] == nth:
                        os.kill(os.getpid(), signal.SIGKILL)

            os.replace = replace  # type: ignore[assignment]
        code = _cli(args)
    except BaseException:
        code = 99
    os._exit(code)


def _wait(pid: int, *, kill_after: float | None = None) -> int:
    """The child's exit status; SIGKILL it after `kill_after` seconds if still running."""
    if kill_after is not None:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _model(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    data["meta"].pop("created")
    data["meta"]["metrics"].pop("seconds")
    return data


def _metrics(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _finish(recipe: Path, out: Path) -> None:
    status = _wait(_child(["run", str(recipe), "--out", str(out), "--quiet", "--resume"], None))
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize(
    "moment, name, nth",
    [("after-replace", "checkpoint.json", n) for n in range(1, 7)]
    + [("before-replace", "checkpoint.json", n) for n in range(1, 7)]
    + [("before-replace", "model.json", 1), ("before-replace", "recipe.toml", 1)],
)
def test_a_kill_at_a_dangerous_moment_then_resume_equals_an_uninterrupted_run(
    recipe: Path, tmp_path: Path, moment: str, name: str, nth: int
) -> None:
    whole = tmp_path / "whole"
    assert _cli(["run", str(recipe), "--out", str(whole), "--quiet"]) == 0
    out = tmp_path / "cut"
    status = _wait(_child(["run", str(recipe), "--out", str(out), "--quiet"], (moment, name, nth)))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    if moment == "before-replace":
        assert list(out.glob(f".{name}.*.tmp")), "the kill left no temp file"
    _finish(recipe, out)
    assert sorted(p.name for p in out.iterdir()) == EXPECTED
    assert _model(out / "model.json") == _model(whole / "model.json")
    assert _metrics(out / "metrics.jsonl") == _metrics(whole / "metrics.jsonl")


def test_kills_at_random_moments_then_resume_equal_an_uninterrupted_run(
    recipe: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    started = time.monotonic()
    status = _wait(_child(["run", str(recipe), "--out", str(whole), "--quiet"], None))
    assert os.waitstatus_to_exitcode(status) == 0
    span = time.monotonic() - started  # as long as a fresh run takes in a child
    rng = np.random.default_rng(16)
    killed = 0
    for attempt in range(10):
        out = tmp_path / f"cut{attempt}"
        args = ["run", str(recipe), "--out", str(out), "--quiet"]
        for command in (args, [*args, "--resume"]):
            status = _wait(_child(command, None), kill_after=float(rng.uniform(0, 0.9 * span)))
            killed += os.WIFSIGNALED(status)
        _finish(recipe, out)
        assert sorted(p.name for p in out.iterdir()) == EXPECTED
        assert _model(out / "model.json") == _model(whole / "model.json")
        assert _metrics(out / "metrics.jsonl") == _metrics(whole / "metrics.jsonl")
    # Timing decides how many were still running; far fewer than half would mean no test.
    assert killed >= 5, f"only {killed} of 20 runs were still running when killed"
