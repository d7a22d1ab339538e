"""The progress `purenet run` shows: bars for epochs and batches, and epoch lines."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RunProgress:
    """Two rich progress bars (epochs, batches of the current epoch) fed by the callbacks.

    The bars change at most every `REFRESH_SECONDS` (rich redraws 10 times a second
    anyway) and epoch lines are printed at most every `LINE_SECONDS` (about 50 in all, and
    always the last), so a run of thousands of tiny epochs does not spend its time drawing.
    """

    REFRESH_SECONDS = 0.1
    LINE_SECONDS = 1.0

    def __init__(self, epochs: int, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.epochs = self.progress.add_task("epochs", total=epochs, status="")
        self.batches = self.progress.add_task("batches", total=None, status="")
        self.epoch = 0
        # About 50 epoch lines at most: a 3000-epoch full-batch run should not flood the screen.
        self.every = max(1, epochs // 50)
        self.last = epochs
        self.shown = {"batch": -math.inf, "epoch": -math.inf, "line": -math.inf}
        self.batch: Any = None  # the last batch's report

    def _due(self, what: str, seconds: float = REFRESH_SECONDS) -> bool:
        now = time.monotonic()
        if now - self.shown[what] < seconds:
            return False
        self.shown[what] = now
        return True

    def on_batch(self, report: Any) -> None:
        self.batch = report
        if self._due("batch"):
            self._show_batch(report)

    def _show_batch(self, report: Any) -> None:
        if report.epoch != self.epoch:
            self.epoch = report.epoch
            self.progress.reset(
                self.batches, total=report.batches, description=f"epoch {report.epoch}"
            )
        self.progress.update(
            self.batches, completed=report.batch + 1, status=f"loss {report.loss:.4f}"
        )

    def on_epoch(self, report: Any) -> None:
        if report.epoch == self.last and self.batch is not None:
            self._show_batch(self.batch)  # the bars end where the run did
        printed = report.epoch == self.last or (
            report.epoch % self.every == 0 and self._due("line", self.LINE_SECONDS)
        )
        if not (printed or self._due("epoch")):
            return
        # Accuracies for classifiers, RMSE and R^2 for regression: whichever were reported.
        parts = [
            f"{prefix}{short} {value:.4f}"
            for split, prefix in (("train", ""), ("valid", "val "), ("test", "test "))
            for name, short in SHOWN
            if (value := getattr(report, f"{split}_{name}")) is not None
        ]
        self.progress.update(self.epochs, completed=report.epoch, status=" ".join(parts))
        if printed:
            line = "  ".join([f"epoch {report.epoch:>3}", *parts])
            self.progress.console.print(
                f"{line}  lr {report.learning_rate:.3g}  {report.seconds:.1f}s"
            )


SHOWN = (("loss", "loss"), ("accuracy", "acc"), ("rmse", "rmse"), ("r2", "r2"))
"""The epoch metrics a run's progress shows, and their short names."""
