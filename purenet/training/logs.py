"""A checkpointed run's append-only logs: the epochs' reports and the tracked values.

With a `Checkpoint`, `train` appends each epoch's `EpochReport` (every field, one JSON object
per line) to the history log and the new tracked records to the tracked log
(`Tracker.lines`); a checkpoint stores the marks of both (`purenet.core.appendlog`). On resume
the logs are read back up to those marks, so the history a resumed run returns, and the lines
on disk, are exactly those of an uninterrupted run. Lines reach the files at most
`FLUSH_SECONDS` after their epoch (`RunLogs.record`), and before every checkpoint.
"""

from __future__ import annotations

import json
import operator
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from purenet.core.appendlog import AppendLog, LogMark
from purenet.core.convert import converter
from purenet.errors import ModelFormatError
from purenet.training.checkpoint import Checkpoint, TrainingState, write_checkpoint
from purenet.training.reports import Best, EpochReport
from purenet.training.rules import Plateau
from purenet.training.tracking import Tracker

FLUSH_SECONDS = 1.0
"""The longest a run's lines wait in memory before they are written to their files."""

_REPORT_FIELDS = tuple(field.name for field in attrs.fields(EpochReport))
_report_values = operator.attrgetter(*_REPORT_FIELDS)
_REPORT_LINE = "{" + ", ".join(f'"{name}": %s' for name in _REPORT_FIELDS) + "}\n"


def report_lines(reports: list[EpochReport]) -> str:
    """The JSON lines of `reports`, every field (`json.dumps(attrs.asdict(report))` each).

    The values of all reports go through one `json.dumps` and into a line template (numbers
    and null hold no `, ` or `], [`): about 2x faster than a `json.dumps` per report.

    Raises:
        ValueError: a NaN or Inf value.
    """
    text = json.dumps([_report_values(report) for report in reports], allow_nan=False)
    rows = text[2:-2].split("], [") if reports else []
    return "".join([_REPORT_LINE % tuple(row.split(", ")) for row in rows])


@attrs.frozen(eq=False)
class Done:
    """A completed epoch, as a checkpoint written now would hold it (`TrainingState`, with
    the lines of the logs instead of their marks)."""

    run: dict[str, Any]
    epoch: int
    step: int
    params: Any
    opt_state: Any
    best: Best | None
    plateau: Plateau | None
    lines: tuple[int, int]


@attrs.define
class RunLogs:
    """A checkpointed run's logs and checkpoint writes (all None when it does not checkpoint).

    Attributes:
        checkpoint: where and how often to save, or None.
        history: the history log, or None without a checkpoint.
        tracked: the tracked-values log, or None without a checkpoint or tracking.
        written: tracker records already in the tracked log.
        flushed: when the logs were last written to their files (`time.monotonic`).
        done: the last completed epoch (what a checkpoint written now would hold), or None.
        saved_epoch: the epoch of the last checkpoint written (or resumed from).
        saved_at: when it was written (`time.monotonic`; the run's start before any).
        last_saved: the checkpoint file once one holds this run, else None.
    """

    checkpoint: Checkpoint | None = None
    history: AppendLog | None = None
    tracked: AppendLog | None = None
    written: int = 0
    flushed: float = attrs.Factory(time.monotonic)
    done: Done | None = None
    saved_epoch: int = 0
    saved_at: float = attrs.Factory(time.monotonic)
    last_saved: Path | None = None

    @classmethod
    def start(cls, checkpoint: Checkpoint | None, tracker: Tracker | None) -> RunLogs:
        """New, empty logs at the checkpoint's paths (none without a checkpoint)."""
        if checkpoint is None:
            return cls()
        tracked = None if tracker is None else AppendLog.create(checkpoint.tracked_path)
        return cls(checkpoint, AppendLog.create(checkpoint.history_path, report_lines), tracked)

    @classmethod
    def resume(
        cls,
        resume: str | os.PathLike[str],
        saved: TrainingState,
        checkpoint: Checkpoint | None,
        tracker: Tracker | None,
    ) -> tuple[RunLogs, tuple[EpochReport, ...]]:
        """The logs a checkpoint marks, cut back to its marks, and its history.

        The logs are found beside `resume` under the names the marks give. When `checkpoint`
        names other files (a run continued into another folder) their lines are copied there;
        without a checkpoint they are only read. `tracker` takes the tracked records.

        Raises:
            ModelFormatError: a log that is missing or does not match its mark, a report that
                is malformed or out of order, tracked records that do not fit `tracker`.
        """
        folder = Path(resume).parent
        where = folder / saved.history.file
        history_log, reports = _open(where, saved.history, checkpoint, "history")
        history = tuple(reports)
        tracked_log = None
        if tracker is not None:
            if saved.tracked is None:
                raise ModelFormatError(f"{resume}: $.tracked: missing (the run tracks values)")
            tracked_log, lines = _open(
                folder / saved.tracked.file, saved.tracked, checkpoint, "tracked"
            )
            tracker.restore(lines, str(folder / saved.tracked.file))
        logs = cls(
            checkpoint,
            history_log,
            tracked_log,
            written=len(tracker) if tracker is not None else 0,
            saved_epoch=saved.epoch,
            last_saved=Path(resume),
        )
        return logs, history

    def flush(self) -> None:
        """Write the waiting lines to their files."""
        for log in (self.history, self.tracked):
            if log is not None:
                log.flush()
        self.flushed = time.monotonic()

    def record(
        self,
        report: EpochReport,
        tracker: Tracker | None,
        run: dict[str, Any],
        step: int,
        params: Any,
        opt_state: Any,
        best: Best | None,
        plateau: Plateau | None,
        *,
        final: bool,
    ) -> None:
        """An epoch is done: append its report (and the tracker's records not yet written),
        remember its state as `done`, and write its checkpoint when it is due
        (`Checkpoint.due`, or `final`: the last epoch or an early stop); else write the
        waiting lines once `FLUSH_SECONDS` have passed. Nothing without a checkpoint.

        This runs after every epoch, so it is kept to a few microseconds.
        """
        checkpoint, history, tracked = self.checkpoint, self.history, self.tracked
        if checkpoint is None or history is None:
            return
        history.append((report,))
        if tracked is not None and tracker is not None:
            tracked.append(tracker.lines(self.written))
            self.written = len(tracker)
        counts = (history.lines, 0 if tracked is None else tracked.lines)
        epoch = report.epoch
        self.done = Done(run, epoch, step, params, opt_state, best, plateau, counts)
        now = time.monotonic()
        if final or checkpoint.due(epoch, now - self.saved_at):
            self.save()
        elif now - self.flushed >= FLUSH_SECONDS:
            self.flush()

    def save(self) -> None:
        """Write the checkpoint of the last completed epoch unless one holds it already."""
        done, checkpoint = self.done, self.checkpoint
        if checkpoint is None or done is None or done.epoch == self.saved_epoch:
            return
        history, tracked = self.commit(done.lines)  # on the disk before the checkpoint
        state = TrainingState(
            run=done.run,
            epoch=done.epoch,
            step=done.step,
            params=done.params,
            opt_state=done.opt_state,
            history=history,
            best=done.best,
            tracked=tracked,
            plateau=done.plateau,
        )
        write_checkpoint(checkpoint.path, state)
        self.saved_epoch, self.saved_at, self.last_saved = (
            done.epoch,
            time.monotonic(),
            checkpoint.path,
        )

    def save_on_interrupt(self) -> None:
        """`save` after Ctrl-C; another Ctrl-C meanwhile restarts the write (of one
        checkpoint) instead of losing it."""
        while True:
            try:
                return self.save()
            except KeyboardInterrupt:
                continue

    def commit(self, lines: tuple[int, int]) -> tuple[LogMark, LogMark | None]:
        """Sync the logs' first `lines` (a recorded epoch's `Done.lines`) to the disk, before a
        checkpoint that names them; returns their marks."""
        assert self.history is not None, "a commit of a run without a checkpoint"
        history = self.history.commit(lines[0])
        return history, None if self.tracked is None else self.tracked.commit(lines[1])

    def close(self) -> None:
        for log in (self.history, self.tracked):
            if log is not None:
                log.close()


def _open(
    where: Path, mark: LogMark, checkpoint: Checkpoint | None, kind: str
) -> tuple[AppendLog | None, list[Any]]:
    """The log at `where` read up to `mark` (the history as `EpochReport`s, tracked records
    as objects); open for appending at the checkpoint's path (copied there when that is
    another file), or None without a checkpoint."""
    history = kind == "history"
    encode, row = (report_lines, _report(where)) if history else (None, None)
    if checkpoint is None:
        return None, AppendLog.read(where, mark, row)
    target = checkpoint.history_path if history else checkpoint.tracked_path
    if target.resolve() == where.resolve():
        return AppendLog.resume(where, mark, encode, row)
    rows = AppendLog.read(where, mark, row)
    log = AppendLog.create(target, encode)
    log.append(rows)
    return log, rows


def _report(source: Path) -> Callable[[dict[str, Any], int], EpochReport]:
    """Line `number` of a history log as its `EpochReport`: the report of epoch `number`."""

    def report(row: dict[str, Any], number: int) -> EpochReport:
        try:
            found: EpochReport = converter.structure(row, EpochReport)
        except Exception as error:  # cattrs raises several types; all mean a malformed line
            raise ModelFormatError(
                f"{source}: line {number}: malformed epoch report ({error})"
            ) from None
        if found.epoch != number:
            raise ModelFormatError(
                f"{source}: line {number}: epoch {found.epoch}, expected {number}"
            )
        return found

    return report
