"""A checkpointed run's append-only logs: the epochs' reports and the tracked values.

With a `Checkpoint`, `train` appends each epoch's `EpochReport` (`attrs.asdict`, one JSON
object per line) to the history log and the new tracked records to the tracked log
(`Tracker.lines`); a checkpoint stores the marks of both (`purenet.core.appendlog`). On resume
the logs are read back up to those marks, so the history a resumed run returns, and the lines
on disk, are exactly those of an uninterrupted run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from purenet.core.appendlog import AppendLog, LogMark
from purenet.core.convert import converter
from purenet.errors import ModelFormatError
from purenet.training.checkpoint import Checkpoint, TrainingState
from purenet.training.reports import EpochReport
from purenet.training.tracking import Tracker


@attrs.define
class RunLogs:
    """The open logs of a run that checkpoints (both None when it does not).

    Attributes:
        history: the history log, or None without a checkpoint.
        tracked: the tracked-values log, or None without a checkpoint or tracking.
        written: tracker records already in the tracked log.
    """

    history: AppendLog | None = None
    tracked: AppendLog | None = None
    written: int = 0

    @classmethod
    def start(cls, checkpoint: Checkpoint | None, tracker: Tracker | None) -> RunLogs:
        """New, empty logs at the checkpoint's paths (none without a checkpoint)."""
        if checkpoint is None:
            return cls()
        tracked = None if tracker is None else AppendLog.create(checkpoint.tracked_path)
        return cls(AppendLog.create(checkpoint.history_path), tracked)

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
        history_log, rows = _open(where, saved.history, checkpoint, "history")
        source = str(folder / saved.history.file)
        history = _reports(rows, source)
        tracked_log = None
        if tracker is not None:
            if saved.tracked is None:
                raise ModelFormatError(f"{resume}: $.tracked: missing (the run tracks values)")
            tracked_log, lines = _open(
                folder / saved.tracked.file, saved.tracked, checkpoint, "tracked"
            )
            tracker.restore(lines, str(folder / saved.tracked.file))
        return cls(history_log, tracked_log, len(tracker) if tracker is not None else 0), history

    def append(self, report: EpochReport, tracker: Tracker | None) -> None:
        """Append an epoch's report, and the tracker's records not yet written."""
        if self.history is None:
            return
        self.history.append([attrs.asdict(report)])
        if self.tracked is not None and tracker is not None:
            self.tracked.append(tracker.lines(self.written))
            self.written = len(tracker)

    def marks(self) -> tuple[LogMark, LogMark | None]:
        """The logs' marks now (the history log must be open)."""
        assert self.history is not None, "marks of a run without a checkpoint"
        return self.history.mark(), None if self.tracked is None else self.tracked.mark()

    def commit(self) -> None:
        """Sync every appended line to the disk (before a checkpoint naming them)."""
        for log in (self.history, self.tracked):
            if log is not None:
                log.commit()

    def close(self) -> None:
        for log in (self.history, self.tracked):
            if log is not None:
                log.close()


def _open(
    where: Path, mark: LogMark, checkpoint: Checkpoint | None, kind: str
) -> tuple[AppendLog | None, list[dict[str, Any]]]:
    """The log at `where` read up to `mark`; open for appending at the checkpoint's path."""
    if checkpoint is None:
        return None, AppendLog.read(where, mark)
    target = checkpoint.history_path if kind == "history" else checkpoint.tracked_path
    if target.resolve() == where.resolve():
        return AppendLog.resume(where, mark)
    rows = AppendLog.read(where, mark)
    log = AppendLog.create(target)
    log.append(rows)
    return log, rows


def _reports(rows: list[dict[str, Any]], source: str) -> tuple[EpochReport, ...]:
    """The epochs' reports from their log lines, which must be epochs 1, 2, ... in order."""
    reports = []
    for number, row in enumerate(rows, start=1):
        try:
            report = converter.structure(row, EpochReport)
        except Exception as error:  # cattrs raises several types; all mean a malformed line
            raise ModelFormatError(
                f"{source}: line {number}: malformed epoch report ({error})"
            ) from None
        if report.epoch != number:
            raise ModelFormatError(
                f"{source}: line {number}: epoch {report.epoch}, expected {number}"
            )
        reports.append(report)
    return tuple(reports)
