"""The progress `purenet run` shows: bars for epochs and batches, and epoch lines."""

from __future__ import annotations

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

from purenet.recipe.schema import Recipe


class RunProgress:
    """Two rich progress bars (epochs, batches of the current epoch) fed by the callbacks.

    The callbacks only keep the latest reports; the bars are redrawn from them at most every
    `DRAW_SECONDS`, in the training thread (no refresh thread: a redraw costs ~3 ms of CPU,
    which a refresh thread would take from training ten times a second), and epoch lines are
    printed at most every `LINE_SECONDS` (about 50 in all, and always the last). So a run of
    thousands of tiny epochs does not spend its time drawing.
    """

    DRAW_SECONDS = 0.25
    LINE_SECONDS = 1.0

    def __init__(
        self, epochs: int, console: Console, *, penalty: bool = False, batches: bool = True
    ) -> None:
        """`penalty`: the steps' losses include an L2 penalty (the batch bar says so);
        `batches`: show the batch bar (False for one batch an epoch: give no `on_batch`)."""
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            auto_refresh=False,
            disable=not console.is_terminal,  # a log file gets the epoch lines only
        )
        self.loss = "loss+l2" if penalty else "loss"
        self.epochs = self.progress.add_task("epochs", total=epochs, status="")
        self.batches = self.progress.add_task("batches", total=None, status="", visible=batches)
        self.show_batches = batches
        # About 50 epoch lines at most: a 3000-epoch full-batch run should not flood the screen.
        self.every = max(1, epochs // 50)
        self.last = epochs
        # The first drawing and the first epoch line wait a little: a run that ends sooner
        # shows only its end.
        self.drawn_at = self.printed_at = time.monotonic()
        self.shown_epoch = 0  # the epoch the batch bar counts
        self.batch: Any = None  # the latest reports
        self.report: Any = None
        self.drawn: tuple[Any, Any] = (None, None)  # the reports drawn last

    @classmethod
    def of(cls, recipe: Recipe, console: Console) -> RunProgress:
        """The progress of a recipe's run (no batch bar for full-batch training)."""
        train = recipe.train
        return cls(train.epochs, console, penalty=train.l2 > 0, batches=train.batch_size != "full")

    def resumed_at(self, epoch: int) -> None:
        """Start the epoch bar at a resumed run's checkpoint (`epoch` epochs done)."""
        self.progress.update(self.epochs, completed=epoch)

    def callbacks(self) -> dict[str, Any]:
        """`run_recipe`'s (and `train`'s) `on_epoch` and `on_batch` for these bars."""
        return {"on_epoch": self.on_epoch, "on_batch": self.on_batch if self.show_batches else None}

    def on_batch(self, report: Any) -> None:
        self.batch = report
        if time.monotonic() - self.drawn_at >= self.DRAW_SECONDS:
            self._draw()

    def on_epoch(self, report: Any) -> None:
        self.report = report
        now = time.monotonic()
        last = report.epoch == self.last
        if last or (report.epoch % self.every == 0 and now - self.printed_at >= self.LINE_SECONDS):
            self.printed_at = now
            line = "  ".join([f"epoch {report.epoch:>3}", *_scores(report)])
            self.progress.console.print(
                f"{line}  lr {report.learning_rate:.3g}  {report.seconds:.1f}s", soft_wrap=True
            )
        if now - self.drawn_at >= self.DRAW_SECONDS:
            self._draw()

    def finish(self) -> None:
        """Bring the bars up to the latest reports before they close (which draws them once
        more), so they end where the run ended or stopped."""
        if (self.batch, self.report) != self.drawn:
            self._draw(refresh=False)

    def _draw(self, *, refresh: bool = True) -> None:
        """Bring both bars up to the latest reports and (with `refresh`) redraw them, once."""
        self.drawn_at = time.monotonic()
        batch, report = self.drawn = self.batch, self.report
        if report is not None:
            status = " ".join(_scores(report))
            self.progress.update(self.epochs, completed=report.epoch, status=status)
        if batch is not None:
            fields = {"completed": batch.batch + 1, "status": f"{self.loss} {batch.loss:.4f}"}
            if batch.epoch != self.shown_epoch:
                self.shown_epoch = batch.epoch
                fields.update(total=batch.batches, description=f"epoch {batch.epoch}")
                if refresh:  # a new epoch restarts the batch bar's clock; reset() redraws
                    self.progress.reset(self.batches, **fields)
                    return
            self.progress.update(self.batches, **fields)
        if refresh:
            self.progress.refresh()


def _scores(report: Any) -> list[str]:
    """Accuracies for classifiers, RMSE and R^2 for regression: whichever were reported."""
    return [
        f"{prefix}{short} {value:.4f}"
        for split, prefix in (("train", ""), ("valid", "val "), ("test", "test "))
        for name, short in SHOWN
        if (value := getattr(report, f"{split}_{name}")) is not None
    ]


SHOWN = (("loss", "loss"), ("accuracy", "acc"), ("rmse", "rmse"), ("r2", "r2"))
"""The epoch metrics a run's progress shows, and their short names."""
