"""Running a sweep: every trial an ordinary run, on a local process pool or a Dask cluster.

`run_sweep` expands the recipe's `[sweep]` section (`purenet.recipe.sweep.expand_sweep`, which
refuses a bad swept key before anything runs), skips the trials whose folder already holds a
finished record, and hands the others to workers. What travels is plain data: a trial goes out
as its recipe's TOML text (plus a thread count, a row limit and a data folder), and comes back
as a dict of status, metrics, error text and the run folder's files as bytes (`model.json`,
`metrics.jsonl`, ...). No purenet object is pickled either way, so a worker needs only purenet
installed and the data reachable; Dask pickles the module-level function `run_trial` by name.

Executors:
    local pool (default)  `workers` spawned processes, each limiting its BLAS to `threads`
                          threads (default: cores // workers, so workers x threads = cores)
    "local-cluster"       a `dask.distributed.LocalCluster` of `workers` processes
    "tcp://host:8786"     the workers of an existing Dask cluster (BLAS threads left as the
                          workers have them unless `threads` is given)

A trial that diverges or fails is recorded (`trial.json` with its error) and the sweep goes
on; a worker that dies is replaced and its trials retried (`MAX_ATTEMPTS`; Dask does its own
rescheduling). Only the calling process writes the sweep folder, and a trial's record is
written last, so a trial cut short anywhere is not counted as finished.

Example:
    >>> from purenet.recipe import load_recipe
    >>> result = run_sweep(load_recipe("recipes/microchips-sweep.toml"))  # doctest: +SKIP
    >>> result.best["trial"], result.best["valid_accuracy"]  # doctest: +SKIP
    ('1f0c2a9be4d7', 0.875)
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, nullcontext
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import attrs

from purenet.core.atomic import write_text_atomic
from purenet.errors import DivergenceError, PurenetError, require_extra
from purenet.recipe.load import dump_recipe, recipe_from_data
from purenet.recipe.schema import Recipe
from purenet.recipe.sweep import Trial, expand_sweep, sweep_spec
from purenet.recipe.toml import to_toml
from purenet.run.runner import run_recipe
from purenet.run.sweep_files import (
    SWEEP_RECIPE_FILE,
    copy_best,
    is_finished,
    rank,
    read_record,
    result_row,
    write_results,
    write_trial,
)

LOCAL_CLUSTER = "local-cluster"

MAX_ATTEMPTS = 3
"""Times a trial is tried on the local pool when its worker process dies (Dask's default
`distributed.scheduler.allowed-failures` is the same)."""


# ---------------------------------------------------------------------------------------------
# One trial, on a worker


def _blas_threads(threads: int | None) -> AbstractContextManager[Any]:
    if threads is None:
        return nullcontext()
    require_extra("threadpoolctl", "sweep")
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)


def run_trial(
    recipe_toml: str,
    *,
    threads: int | None = None,
    limit: int | None = None,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Run one trial in a scratch folder and return what it produced, as plain data.

    This is what a worker runs; it takes and returns only strings, numbers and bytes.

    Args:
        recipe_toml: the trial's recipe as TOML text.
        threads: BLAS threads for this trial (threadpoolctl); None leaves them alone.
        limit: use only the first `limit` training and test rows.
        data_dir: a folder to look for named data sets in first, on the worker.

    Returns:
        `{"status": "ok" | "diverged" | "failed", "metrics": {name: float}, "error": str |
        None, "files": {name: bytes}, "worker": "host:pid", "wall_seconds": float}`; the
        files are the run folder's (`recipe.toml`, `metrics.jsonl`, `checkpoint.json`,
        `model.json`, figures), as far as the run got.
    """
    start = time.perf_counter()
    metrics: dict[str, float] = {}
    error = None
    with tempfile.TemporaryDirectory(prefix="purenet-trial-") as scratch:
        try:
            with _blas_threads(threads):
                recipe = recipe_from_data(tomllib.loads(recipe_toml), source="trial recipe")
                result = run_recipe(recipe, out_dir=scratch, limit=limit, data_dir=data_dir)
            status, metrics = "ok", dict(result.metrics)
        except DivergenceError as exc:
            status, error = "diverged", str(exc).replace(scratch, "<trial>")
            metrics = {"epochs": float(len(exc.history))}
        except Exception as exc:  # one trial's fault must not stop the sweep: record it
            status = "failed"
            text = str(exc) if isinstance(exc, PurenetError) else f"{type(exc).__name__}: {exc}"
            error = text.replace(scratch, "<trial>")
        files = {
            path.name: path.read_bytes()
            for path in sorted(Path(scratch).iterdir())
            if path.is_file() and not path.name.startswith(".")
        }
    return {
        "status": status,
        "metrics": metrics,
        "error": error,
        "files": files,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "wall_seconds": time.perf_counter() - start,
    }


def _failed(error: str) -> dict[str, Any]:
    return {"status": "failed", "metrics": {}, "error": error, "files": {}}


# ---------------------------------------------------------------------------------------------
# Executors: each yields (trial, outcome) as trials finish


@attrs.frozen
class _Job:
    """What every trial of a sweep is run with, besides its recipe."""

    threads: int | None
    limit: int | None
    data_dir: str | None

    def kwargs(self) -> dict[str, Any]:
        return {"threads": self.threads, "limit": self.limit, "data_dir": self.data_dir}


def _run_local(
    trials: Sequence[Trial], workers: int, job: _Job
) -> Iterator[tuple[Trial, dict[str, Any]]]:
    attempts = dict.fromkeys((t.id for t in trials), 0)
    pending = list(trials)
    # Spawned, not forked: forking a process that holds threads (BLAS, rich) is unsafe.
    context = get_context("spawn")
    while pending:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=context)
        try:
            futures = {pool.submit(run_trial, t.toml, **job.kwargs()): t for t in pending}
            pending = []
            for future in as_completed(futures):
                trial = futures[future]
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    attempts[trial.id] += 1
                    if attempts[trial.id] < MAX_ATTEMPTS:
                        pending.append(trial)
                        continue
                    outcome = _failed(f"its worker process died ({MAX_ATTEMPTS} attempts)")
                yield trial, outcome
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _dask_client(scheduler: str, workers: int) -> tuple[Any, Any]:
    """(client, cluster or None) for a scheduler address or a new local cluster."""
    require_extra("distributed", "dask")
    from distributed import Client, LocalCluster

    if scheduler == LOCAL_CLUSTER:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="10s"), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise PurenetError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def _run_dask(
    trials: Sequence[Trial], scheduler: str, workers: int, job: _Job
) -> Iterator[tuple[Trial, dict[str, Any]]]:
    from distributed import as_completed as dask_completed

    client, cluster = _dask_client(scheduler, workers)
    try:
        futures = {
            client.submit(
                run_trial, t.toml, **job.kwargs(), key=f"trial-{t.id}-{secrets.token_hex(4)}"
            ): t
            for t in trials
        }
        for future in dask_completed(list(futures)):
            trial = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # KilledWorker after Dask's retries, a lost connection
                outcome = _failed(f"Dask: {type(exc).__name__}: {exc}")
            yield trial, outcome
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------------------------
# The sweep


@attrs.frozen
class SweepPlan:
    """What a sweep is about to do (given to `on_start`).

    Attributes:
        out_dir: the sweep folder.
        trials: every trial of the sweep.
        todo: the trials to run now (the others are finished).
        workers: worker processes (local pool, local cluster); None on a cluster given by
            its address (it has the workers it has).
        threads: BLAS threads per trial, or None when left to the workers.
        where: `local pool`, `local-cluster` or the scheduler address.
    """

    out_dir: Path
    trials: tuple[Trial, ...]
    todo: tuple[Trial, ...]
    workers: int | None
    threads: int | None
    where: str


@attrs.frozen
class SweepResult:
    """What `run_sweep` returns.

    Attributes:
        out_dir: the sweep folder.
        rows: one results row per trial (`results.jsonl`), in trial order.
        ranked: the finished rows with a metric, best first.
        best: the best row (copied to `best/`), or None.
        ran: trials run now; skipped: trials found finished.
        metric, goal: the ranking metric and `max` / `min`.
    """

    out_dir: Path
    rows: tuple[dict[str, Any], ...]
    ranked: tuple[dict[str, Any], ...]
    best: dict[str, Any] | None
    ran: int
    skipped: int
    metric: str
    goal: str


def local_cores() -> int:
    """Cores this process may use (its CPU affinity where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_sweep(
    recipe: Recipe,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    limit: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    on_start: Callable[[SweepPlan], None] | None = None,
    on_trial: Callable[[Mapping[str, Any]], None] | None = None,
) -> SweepResult:
    """Run every unfinished trial of a recipe's `[sweep]`, record them, rank them.

    Args:
        recipe: a recipe with a `[sweep]` section (`load_recipe`).
        out_dir: the sweep folder; default `recipe.output.dir`, else `runs/sweep`.
        workers: worker processes; default the local cores (local pool and local cluster)
            or, for a scheduler address, the cluster's own workers.
        scheduler: None for the local pool, `"local-cluster"`, or a Dask scheduler address
            (`tcp://host:8786`).
        threads: BLAS threads per trial; default cores // workers locally, None (left to the
            workers) on a cluster.
        limit: use only the first `limit` training and test rows of every trial.
        data_dir: a folder to look for named data sets in first (on every worker).
        on_start: called once with the `SweepPlan` before any trial runs.
        on_trial: called with each trial's results row as it is recorded.

    Returns:
        A `SweepResult`; the folder holds `trials/<id>/`, `results.csv`, `results.jsonl`,
        `sweep.toml` and `best/`.

    Raises:
        RecipeError: no `[sweep]` section, a bad swept key or value, a metric the trials
            cannot report; all before any trial starts.
        PurenetError: an unreachable Dask scheduler; `MissingExtraError` without the extra.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, found {workers}")
    spec = sweep_spec(recipe)
    trials = expand_sweep(recipe)
    out = Path(out_dir if out_dir is not None else recipe.output.dir or "runs/sweep")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / SWEEP_RECIPE_FILE, to_toml(dump_recipe(recipe)))
    records = {t.id: read_record(out, t.id) for t in trials}
    todo = tuple(t for t in trials if not is_finished(records[t.id]))
    cores = local_cores()
    remote = scheduler not in (None, LOCAL_CLUSTER)
    count = workers or cores
    if not remote:
        count = max(1, min(count, len(todo)))
        threads = threads if threads is not None else max(1, cores // count)
    where = scheduler or "local pool"
    if on_start is not None:
        on_start(SweepPlan(out, trials, todo, None if remote else count, threads, where))
    # A record may come from another sweep that ran the same trial (a smaller grid, say): its
    # place and swept keys are this sweep's.
    rows = {
        t.id: result_row({**r, "index": t.index, "values": t.values})
        for t in trials
        if (r := records[t.id]) is not None
    }
    job = _Job(threads, limit, None if data_dir is None else str(data_dir))
    if todo:
        if scheduler is None:
            outcomes = _run_local(todo, count, job)
        else:
            outcomes = _run_dask(todo, scheduler, count, job)
        for trial, outcome in outcomes:
            rows[trial.id] = result_row(write_trial(out, trial, outcome))
            write_results(out, list(rows.values()))
            if on_trial is not None:
                on_trial(rows[trial.id])
    ordered = tuple(sorted(rows.values(), key=lambda r: r["index"]))
    write_results(out, ordered)
    ranked = tuple(dict(r) for r in rank(ordered, spec.metric, spec.goal))
    best = ranked[0] if ranked else None
    copy_best(out, best["trial"] if best else None)
    return SweepResult(
        out, ordered, ranked, best, len(todo), len(trials) - len(todo), spec.metric, spec.goal
    )
