"""Checkpoints by time or by epochs, written on Ctrl-C and divergence, with the history in an
append-only log whose write cost does not grow with the epochs done."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_train import run, without_seconds

from purenet.core.appendlog import AppendLog
from purenet.core.tree import tree_equal
from purenet.errors import ModelFormatError
from purenet.training.checkpoint import Checkpoint
from purenet.training.reports import BatchReport, EpochReport, Track


def saved_epochs(checkpoint: Checkpoint, **kwargs: Any) -> list[int]:
    """The epoch the checkpoint file holds after each epoch's end."""
    seen: list[int] = []

    def look(report: EpochReport) -> None:
        path = checkpoint.path
        seen.append(json.loads(path.read_text())["epoch"] if path.exists() else 0)

    run(checkpoint=checkpoint, on_epoch=look, **kwargs)
    return seen


def test_by_default_a_short_run_is_checkpointed_once_at_its_end(tmp_path: Path) -> None:
    assert saved_epochs(Checkpoint(tmp_path / "c.json"), epochs=5) == [0, 0, 0, 0, 5]


def test_every_k_epochs_and_the_last(tmp_path: Path) -> None:
    assert saved_epochs(Checkpoint(tmp_path / "c.json", every=2), epochs=5) == [0, 2, 2, 4, 5]


def test_by_time_once_the_interval_has_passed(tmp_path: Path) -> None:
    tiny = Checkpoint(tmp_path / "c.json", seconds=1e-9)  # every epoch ends after it
    assert saved_epochs(tiny, epochs=3) == [1, 2, 3]


def test_checkpoint_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every"):
        Checkpoint(tmp_path / "c.json", every=0)
    with pytest.raises(ValueError, match="seconds"):
        Checkpoint(tmp_path / "c.json", seconds=-1.0)


def test_ctrl_c_saves_the_last_completed_epoch_and_resume_equals_a_whole_run(
    tmp_path: Path,
) -> None:
    whole = run(epochs=4)
    path = tmp_path / "c.json"

    def stop_in_epoch_three(report: BatchReport) -> None:
        if report.epoch == 3 and report.batch == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(epochs=4, checkpoint=Checkpoint(path), on_batch=stop_in_epoch_three)
    assert json.loads(path.read_text())["epoch"] == 2  # no save was due: Ctrl-C wrote it
    resumed = run(epochs=4, checkpoint=Checkpoint(path), resume=path)
    assert tree_equal(resumed.params, whole.params)
    assert without_seconds(resumed.history) == without_seconds(whole.history)
    lines = (tmp_path / "c.history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


def test_a_checkpoint_costs_the_same_after_many_epochs(tmp_path: Path) -> None:
    def size_after(epochs: int) -> int:
        path = tmp_path / f"c{epochs}.json"
        run(epochs=epochs, batch_size=300, checkpoint=Checkpoint(path))
        return path.stat().st_size

    # Only the numbers of the history's mark (lines, bytes) and counters grow, by digits.
    assert abs(size_after(200) - size_after(2)) < 16


def test_tracked_values_are_appended_and_resumed(tmp_path: Path) -> None:
    track = Track(("layers[0].w[1, 3]",), every="step")
    whole = run(epochs=3, track=track)
    path = tmp_path / "c.json"
    run(epochs=2, track=track, checkpoint=Checkpoint(path))
    resumed = run(epochs=3, track=track, checkpoint=Checkpoint(path), resume=path)
    assert resumed.tracked is not None and whole.tracked is not None
    assert resumed.tracked.steps.tolist() == whole.tracked.steps.tolist()
    assert resumed.tracked.values.tolist() == whole.tracked.values.tolist()
    lines = (tmp_path / "c.tracked.jsonl").read_text().splitlines()
    assert len(lines) == len(whole.tracked.steps)
    assert json.loads(lines[-1])["layers[0].w[1, 3]"] == whole.tracked.values[-1, 0]


def test_resume_into_another_checkpoint_copies_the_history(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "c.json", tmp_path / "b" / "c.json"
    first.parent.mkdir()
    second.parent.mkdir()
    run(epochs=2, checkpoint=Checkpoint(first))
    before = (tmp_path / "a" / "c.history.jsonl").read_bytes()
    run(epochs=3, checkpoint=Checkpoint(second), resume=first)
    assert (tmp_path / "a" / "c.history.jsonl").read_bytes() == before  # only read
    assert len((tmp_path / "b" / "c.history.jsonl").read_text().splitlines()) == 3
    without = run(epochs=3, resume=first)  # no checkpoint: the logs are only read
    assert [r.epoch for r in without.history] == [1, 2, 3]
    assert (tmp_path / "a" / "c.history.jsonl").read_bytes() == before


def test_a_history_log_changed_under_its_mark_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    run(epochs=2, checkpoint=Checkpoint(path))
    log = tmp_path / "c.history.jsonl"
    log.write_text(log.read_text().replace('"epoch": 2', '"epoch": 3'))
    with pytest.raises(ModelFormatError, match=r"c.history.jsonl: its first 2 lines are not"):
        run(epochs=3, resume=path)
    log.unlink()
    with pytest.raises(ModelFormatError, match=r"c.history.jsonl: no such file"):
        run(epochs=3, resume=path)


def test_a_log_marks_what_it_synced_and_refuses_nan(tmp_path: Path) -> None:
    log = AppendLog.create(tmp_path / "m.jsonl")
    log.append([{"epoch": 1}])
    mark = log.commit()
    log.append([{"epoch": 2}])
    log.close()
    assert (tmp_path / "m.jsonl").read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    assert (mark.lines, mark.bytes) == (1, 13)
    refusing = AppendLog.create(tmp_path / "n.jsonl")
    refusing.append([{"loss": float("nan")}])  # waits in memory; refused when written
    with pytest.raises(ValueError):
        refusing.close()
    assert (tmp_path / "n.jsonl").read_bytes() == b""


def test_a_second_ctrl_c_while_the_checkpoint_is_written_does_not_lose_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import purenet.training.logs as logs

    real_write, calls = logs.write_checkpoint, []

    def interrupted_once(path: Any, state: Any) -> None:
        calls.append(state.epoch)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the user presses Ctrl-C again during the write
        real_write(path, state)

    monkeypatch.setattr(logs, "write_checkpoint", interrupted_once)

    def stop_in_epoch_three(report: BatchReport) -> None:
        if report.epoch == 3:
            raise KeyboardInterrupt

    path = tmp_path / "c.json"
    with pytest.raises(KeyboardInterrupt):
        run(epochs=4, checkpoint=Checkpoint(path), on_batch=stop_in_epoch_three)
    assert calls == [2, 2] and json.loads(path.read_text())["epoch"] == 2
