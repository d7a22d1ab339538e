"""SIGKILL `purenet run` at random moments and at the dangerous ones, then `--resume`.

Every run must finish with a `model.json` and `metrics.jsonl` identical (timings aside) to an
uninterrupted run's, and leave no partial or temp file. The command runs in a child forked
from a fork server (no interpreter start-up per kill) through the Typer app, exactly as the
`purenet` script runs it; the dangerous moments are reached by wrapping `os.replace` in the
child only:

- right after the checkpoint's rename (`after-replace`; the metrics lines it marks were synced
  before it);
- inside an atomic write, after the temp file is written and flushed, before its rename
  (`before-replace`, which leaves a `.NAME.*.tmp` behind);
- at a random time (`random`), in the first run and again in the first resume.

14 kills at the dangerous moments and 20 at random ones (most of them while the run is
still going), about 25 s.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_runner import tiny_recipe, write_tiny_data

from purenet.cli.app import app

EXPECTED = ["checkpoint.json", "metrics.jsonl", "model.json", "recipe.toml"]


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    write_tiny_data(tmp_path)
    # A checkpoint after every epoch (the default saves by time): six renames to kill around.
    return tiny_recipe(tmp_path, train__epochs=6, train__checkpoint_every=1)


def _cli(args: list[str]) -> int:
    try:
        app(args, prog_name="purenet", standalone_mode=False)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def _run(args: list[str], kill: tuple[str, str, int] | None) -> None:
    """The child's body: the command, SIGKILLing itself at `kill`: (moment, file name, n)."""
    if kill is not None:
        moment, name, nth = kill
        real_replace = os.replace
        seen = [0]

        def replace(src: Any, dst: Any) -> None:
            if moment == "before-replace" and Path(dst).name == name:
                seen[0] += 1
                if seen[0] == nth:
                    os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)
            if moment == "after-replace" and Path(dst).name == name:
                seen[0] += 1
                if seen[0] == nth:
                    os.kill(os.getpid(), signal.SIGKILL)

        os.replace = replace  # type: ignore[assignment]
    raise SystemExit(_cli(args))


# Children fork from a fresh server process that has imported only purenet's CLI: forking this
# test process itself would copy whatever threads other tests started (BLAS, JAX).
_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["purenet.cli.app", "test_runner"])


def _child(args: list[str], kill: tuple[str, str, int] | None) -> BaseProcess:
    process = _FORKS.Process(target=_run, args=(args, kill))
    process.start()
    return process


def _wait(process: BaseProcess, *, kill_after: float | None = None) -> int:
    """The child's exit code (-9 when SIGKILLed); SIGKILL it after `kill_after` seconds."""
    process.join(kill_after)
    if process.exitcode is None:
        process.kill()
        process.join()
    assert process.exitcode is not None
    return process.exitcode


def _model(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    data["meta"].pop("created")
    data["meta"]["metrics"].pop("seconds")
    return data


def _metrics(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _finish(recipe: Path, out: Path) -> None:
    assert _wait(_child(["run", str(recipe), "--out", str(out), "--quiet", "--resume"], None)) == 0


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
    code = _wait(_child(["run", str(recipe), "--out", str(out), "--quiet"], (moment, name, nth)))
    assert code == -signal.SIGKILL
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
    assert _wait(_child(["run", str(recipe), "--out", str(whole), "--quiet"], None)) == 0
    span = time.monotonic() - started  # as long as a fresh run takes in a child
    rng = np.random.default_rng(16)
    killed = 0
    for attempt in range(10):
        out = tmp_path / f"cut{attempt}"
        args = ["run", str(recipe), "--out", str(out), "--quiet"]
        for command in (args, [*args, "--resume"]):
            code = _wait(_child(command, None), kill_after=float(rng.uniform(0, 0.9 * span)))
            killed += code == -signal.SIGKILL
        _finish(recipe, out)
        assert sorted(p.name for p in out.iterdir()) == EXPECTED
        assert _model(out / "model.json") == _model(whole / "model.json")
        assert _metrics(out / "metrics.jsonl") == _metrics(whole / "metrics.jsonl")
    # Timing decides how many were still running; far fewer than half would mean no test.
    assert killed >= 5, f"only {killed} of 20 runs were still running when killed"
