"""`purenet run`'s progress: thousands of tiny epochs cost little drawing, and the bars end
where the run did."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import purenet.cli.progress as progress
from purenet.cli.progress import RunProgress
from purenet.training.reports import BatchReport, EpochReport


def report(epoch: int) -> EpochReport:
    return EpochReport(
        epoch=epoch,
        train_loss=1.0 / epoch,
        train_accuracy=0.5,
        valid_loss=None,
        valid_accuracy=None,
        learning_rate=0.1,
        seconds=1e-4,
    )


def test_a_fast_run_draws_a_few_times_and_ends_at_its_last_epoch() -> None:
    screen = io.StringIO()
    bars = RunProgress(
        3000,
        Console(file=screen, force_terminal=True, width=120, highlight=False, color_system=None),
    )
    draws = 0
    real_refresh = bars.progress.refresh

    def counted() -> None:
        nonlocal draws
        draws += 1
        real_refresh()

    bars.progress.refresh = counted  # type: ignore[method-assign]
    with bars.progress:
        for epoch in range(1, 3001):
            bars.on_batch(BatchReport(epoch, 0, 1, 1.0 / epoch, 0.1))
            bars.on_epoch(report(epoch))
        bars.finish()  # as `purenet run` does before the bars close
    text = screen.getvalue()
    # Well under a second of epochs: the last epoch's line and bars, no line per 60 epochs.
    assert "epoch 3000  loss 0.0003" in text and "epoch  60 " not in text
    assert draws <= 5  # well under a second: the closing frame alone may show it
    assert "3000/3000" in text  # the closing frame: the bars end where the run did
    batch = bars.progress.tasks[bars.batches]
    assert (batch.description, batch.completed) == ("epoch 3000", 1)
    assert bars.progress.tasks[bars.epochs].completed == 3000


def test_a_slow_run_prints_an_epoch_line_at_most_every_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter(float(t) for t in range(10_000))  # each call: one second later
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    screen = io.StringIO()
    bars = RunProgress(
        100,
        Console(file=screen, force_terminal=True, width=120, highlight=False, color_system=None),
    )
    with bars.progress:
        for epoch in range(1, 101):
            bars.on_epoch(report(epoch))
    lines = [line for line in screen.getvalue().splitlines() if "lr 0.1" in line]
    assert len(lines) == 50  # every 2nd epoch of 100 (about 50 lines), each over a second apart
