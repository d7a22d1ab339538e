"""Training checkpoints: one JSON file holding everything a resumed run needs, written atomically.

The file (format `purenet.checkpoint`, version 2) holds the run's settings (`run`), the counters
(`epoch` completed, optimizer `step`s taken: the random streams derive from `(seed, epoch)` and
`(seed, epoch, batch)`, so counters are the whole RNG position), the parameters, the optimizer
state, the keep-best / early-stopping bookkeeping (`best`), the reduce-on-plateau state
(`plateau`, written only when the run has that rule), and a `LogMark` (`purenet.core.appendlog`)
of each append-only log: `history`, the JSON lines of the epochs' reports (a run folder's
`metrics.jsonl`), and `tracked`, those of the tracked parameter values (`tracked.jsonl`). The
history is not in the checkpoint, so writing one costs the same at every epoch. Arrays are
base64 of their little-endian bytes (`purenet.core.arrays`), so a resumed run continues from
bit-identical numbers. Checkpoints are taken at epoch boundaries: by default at most once a
minute of training (`Checkpoint.seconds`), or every `every` epochs, and always after the last
epoch, on an early stop, on Ctrl-C (`KeyboardInterrupt`) and on divergence (the last good
epoch's state).

Example:
    >>> import purenet as pn  # doctest: +SKIP
    >>> result = pn.train(..., checkpoint=pn.Checkpoint("run/ckpt.json"))  # doctest: +SKIP
    >>> result = pn.train(..., resume="run/ckpt.json")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import attrs
import cattrs
import numpy as np

from purenet.core.appendlog import LogMark
from purenet.core.arrays import decode_array
from purenet.core.checks import COUNT, POSITIVE, SEED, Interval
from purenet.core.convert import converter, make_converter
from purenet.core.jsonio import read_json, write_json_atomic
from purenet.errors import ModelFormatError
from purenet.training.reports import Best
from purenet.training.rules import Plateau

FORMAT = "purenet.checkpoint"

FORMAT_VERSION = 2
"""Version 2 keeps the history in an append-only log (version 1 held it whole)."""

_KEYS = {
    "format",
    "format_version",
    "run",
    "epoch",
    "step",
    "params",
    "opt_state",
    "history",
    "best",
    "tracked",
}

_OPTIONAL_KEYS = {"plateau"}
"""Keys written only when the run uses them (files without them read as before)."""

_compact = make_converter(compact_arrays=True)
"""Trees with base64 arrays: checkpoints are for programs, not for reading."""


def _optional_count(value: int | None) -> int | None:
    return None if value is None else COUNT.check("every", value)


def _optional_seconds(value: float | None) -> float | None:
    return None if value is None else POSITIVE.check("seconds", value)


@attrs.frozen
class Checkpoint:
    """Where and how often `train` saves a checkpoint.

    Args:
        path: the JSON file; rewritten atomically (temp file, then rename) each time.
        every: save after every `every`-th epoch (>= 1), or None to save by time.
        seconds: without `every`, save after the first epoch that ends at least this long
            (> 0) after the last save, or the start. Default 60.
        history: the append-only log of the epochs' reports (JSON lines); default
            `<path's stem>.history.jsonl` beside `path`.
        tracked: the log of tracked parameter values, when the run tracks some; default
            `<path's stem>.tracked.jsonl` beside `path`.

    A checkpoint is also written after the last epoch, on an early stop, on Ctrl-C and on
    divergence, whatever `every` and `seconds` say.
    """

    path: Path = attrs.field(converter=Path)
    every: int | None = attrs.field(default=None, converter=_optional_count)
    seconds: float | None = attrs.field(default=60.0, converter=_optional_seconds)
    history: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    tracked: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))

    @property
    def history_path(self) -> Path:
        return self.history or self.path.with_name(f"{self.path.stem}.history.jsonl")

    @property
    def tracked_path(self) -> Path:
        return self.tracked or self.path.with_name(f"{self.path.stem}.tracked.jsonl")

    def due(self, epoch: int, seconds_since_save: float) -> bool:
        """Whether epoch `epoch` (1-based) is one the rule saves after."""
        if self.every is not None:
            return epoch % self.every == 0
        return self.seconds is not None and seconds_since_save >= self.seconds


@attrs.frozen(eq=False)
class TrainingState:
    """Everything a training run needs to continue, as stored in a checkpoint.

    Attributes:
        run: the settings that must match on resume (architecture, optimizer, batch size,
            seed, l2, schedule clock, data sizes, early stopping, tracking), JSON-ready.
        epoch: epochs completed.
        step: optimizer steps taken.
        params: the parameters after `epoch` epochs.
        opt_state: the optimizer state after `epoch` epochs.
        history: the mark of the history log holding one report per completed epoch.
        best: the early-stopping state, or None.
        tracked: the mark of the tracked-values log, or None.
        plateau: the reduce-on-plateau state, or None.
    """

    run: dict[str, Any]
    epoch: int
    step: int
    params: Any
    opt_state: Any
    history: LogMark
    best: Best | None
    tracked: LogMark | None
    plateau: Plateau | None = None


def write_checkpoint(path: str | os.PathLike[str], state: TrainingState) -> None:
    """Write `state` to `path` as checkpoint JSON, atomically.

    The logs `state` marks must hold their marked lines on the disk already
    (`AppendLog.commit`).

    Raises:
        ValueError: a NaN or Inf anywhere (the loop never checkpoints a diverged state).
    """
    best = None
    if state.best is not None:
        # The best trees are stored only when they are not the checkpoint's own.
        earlier = state.best.epoch != state.epoch
        best = {
            "epoch": state.best.epoch,
            "value": state.best.value,
            "wait": state.best.wait,
            "params": _compact.unstructure(state.best.params) if earlier else None,
            "opt_state": _compact.unstructure(state.best.opt_state) if earlier else None,
        }
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run": state.run,
        "epoch": state.epoch,
        "step": state.step,
        "params": _compact.unstructure(state.params),
        "opt_state": _compact.unstructure(state.opt_state),
        "history": attrs.asdict(state.history),
        "best": best,
        "tracked": None if state.tracked is None else attrs.asdict(state.tracked),
    }
    if state.plateau is not None:
        data["plateau"] = converter.unstructure(state.plateau)
    write_json_atomic(path, data)


def _restore_like(template: Any, data: Any, path: str) -> Any:
    """Rebuild a tree shaped like `template` from unstructured `data`, checking every leaf."""
    if isinstance(template, tuple):
        if not isinstance(data, list) or len(data) != len(template):
            found = f"a list of {len(data)}" if isinstance(data, list) else type(data).__name__
            raise ModelFormatError(f"{path}: expected a list of {len(template)}, found {found}")
        return tuple(
            _restore_like(t, d, f"{path}[{i}]")
            for i, (t, d) in enumerate(zip(template, data, strict=True))
        )
    if attrs.has(type(template)):
        fields = attrs.fields(type(template))
        names = {f.name for f in fields}
        if not isinstance(data, dict) or set(data) != names:
            found = str(sorted(data)) if isinstance(data, dict) else type(data).__name__
            raise ModelFormatError(f"{path}: expected keys {sorted(names)}, found {found}")
        children = {
            f.alias: _restore_like(getattr(template, f.name), data[f.name], f"{path}.{f.name}")
            for f in fields
        }
        return type(template)(**children)
    array = decode_array(data, path)
    expected = np.asarray(template)
    if array.shape != expected.shape or array.dtype != expected.dtype:
        raise ModelFormatError(
            f"{path}: {array.dtype} {array.shape}, expected {expected.dtype} {expected.shape}"
        )
    return array


def _restore_best(best: Any, params: Any, opt_state: Any) -> Best | None:
    """The early-stopping state; `params`, `opt_state`: the checkpoint's own, restored."""
    if best is None:
        return None
    if not isinstance(best, dict):
        raise ModelFormatError(f"$.best: expected an object or null, found {type(best).__name__}")
    keys = {"epoch", "value", "wait", "params", "opt_state"}
    if set(best) != keys:
        raise ModelFormatError(f"$.best: expected keys {sorted(keys)}, found {sorted(best)}")
    for key in ("epoch", "wait"):
        if not SEED.contains(best[key]):
            raise ModelFormatError(f"$.best.{key}: expected an integer >= 0, found {best[key]!r}")
    if not Interval().contains(best["value"]):
        raise ModelFormatError(f"$.best.value: expected a finite number, found {best['value']!r}")
    if best["params"] is not None:
        params = _restore_like(params, best["params"], "$.best.params")
        opt_state = _restore_like(opt_state, best["opt_state"], "$.best.opt_state")
    return Best(best["epoch"], best["value"], best["wait"], params, opt_state)


_HEX = "0123456789abcdef"


def _restore_mark(mark: Any, where: str) -> LogMark:
    """A log mark as written by `write_checkpoint`, every field checked."""
    keys = {"file", "lines", "bytes", "sha256"}
    if not isinstance(mark, dict) or set(mark) != keys:
        raise ModelFormatError(f"{where}: expected an object with keys {sorted(keys)}")
    for key in ("lines", "bytes"):
        if not SEED.contains(mark[key]):
            raise ModelFormatError(f"{where}.{key}: expected an integer >= 0, found {mark[key]!r}")
    digest = mark["sha256"]
    if not (isinstance(digest, str) and len(digest) == 64 and set(digest) <= set(_HEX)):
        raise ModelFormatError(f"{where}.sha256: expected 64 hex digits")
    name = mark["file"]
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ModelFormatError(f"{where}.file: expected a file name (no folder), found {name!r}")
    return LogMark(mark["file"], mark["lines"], mark["bytes"], digest)


def _restore_plateau(plateau: Any) -> Plateau | None:
    if plateau is None:
        return None
    try:
        restored = converter.structure(plateau, Plateau)
    except Exception as error:  # cattrs raises several types; all mean a malformed state
        raise ModelFormatError(f"$.plateau: malformed plateau state ({error})") from None
    if not (restored.scale > 0 and math.isfinite(restored.scale)):
        raise ModelFormatError(f"$.plateau.scale: expected a number > 0, found {restored.scale}")
    return restored


def _check_same_run(saved: Any, current: dict[str, Any]) -> None:
    current = json.loads(json.dumps(current))  # tuples become lists, as in the file
    if not isinstance(saved, dict):
        raise ModelFormatError("$.run: expected an object")
    differences = [
        f"{key} {saved.get(key)!r} (checkpoint) vs {current.get(key)!r} (this call)"
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key)
    ]
    if differences:
        raise ModelFormatError("written by a different run: " + "; ".join(differences))


def _check_format(data: Any) -> None:
    if not isinstance(data, dict):
        raise ModelFormatError("$: expected a checkpoint object")
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        older = data.get("format") == FORMAT and data.get("format_version") == 1
        raise ModelFormatError(
            f"$.format: expected {FORMAT!r} version {FORMAT_VERSION}, found "
            f"{data.get('format')!r} version {data.get('format_version')!r}"
            + ("; written by an older purenet: start the run afresh" if older else "")
        )


def read_checkpoint(
    path: str | os.PathLike[str],
    *,
    params: Any,
    opt_state: Any,
    run: dict[str, Any] | None = None,
) -> TrainingState:
    """Read a checkpoint, restoring its trees in the shape of the given templates.

    Args:
        path: a file written by `write_checkpoint` (or by `train(..., checkpoint=...)`).
        params: a parameter tree of the run's structure, shapes and dtypes (e.g. `init`'s).
        opt_state: an optimizer state of the same kind (e.g. `optim.init(spec, params)`).
        run: if given, the settings the checkpoint's `run` must equal (JSON-ready).

    Returns:
        The `TrainingState`; its arrays are read-only and bit-identical to those saved.

    Raises:
        ModelFormatError: unreadable JSON, a wrong format tag or version, unknown or missing
            keys, an array that does not fit the templates, or a `run` that differs; the
            message names the file and the JSON path or the differing settings.
    """
    data = read_json(path)
    try:
        _check_format(data)
        if not _KEYS <= set(data) <= _KEYS | _OPTIONAL_KEYS:
            missing, extra = sorted(_KEYS - set(data)), sorted(set(data) - _KEYS - _OPTIONAL_KEYS)
            faults = ([f"missing keys {missing}"] if missing else []) + (
                [f"unknown keys {extra}"] if extra else []
            )
            raise ModelFormatError(f"$: {', '.join(faults)}")
        if run is not None:
            _check_same_run(data["run"], run)
        for key in ("epoch", "step"):
            if not SEED.contains(data[key]):
                raise ModelFormatError(f"$.{key}: expected an integer >= 0, found {data[key]!r}")
        if not isinstance(data["run"], dict):
            raise ModelFormatError("$.run: expected an object")
        history = _restore_mark(data["history"], "$.history")
        if history.lines != data["epoch"]:
            raise ModelFormatError(
                f"$.history.lines: {history.lines}, expected one line per epoch ({data['epoch']})"
            )
        restored_params = _restore_like(params, data["params"], "$.params")
        restored_state = _restore_like(opt_state, data["opt_state"], "$.opt_state")
        return TrainingState(
            run=data["run"],
            epoch=data["epoch"],
            step=data["step"],
            params=restored_params,
            opt_state=restored_state,
            history=history,
            best=_restore_best(data["best"], restored_params, restored_state),
            tracked=(
                None if data["tracked"] is None else _restore_mark(data["tracked"], "$.tracked")
            ),
            plateau=_restore_plateau(data.get("plateau")),
        )
    except ModelFormatError as error:
        raise ModelFormatError(f"{path}: {error}") from None
    except (cattrs.BaseValidationError, TypeError, ValueError) as error:
        raise ModelFormatError(f"{path}: malformed checkpoint: {error}") from None


def read_checkpoint_epoch(path: str | os.PathLike[str]) -> int:
    """The epochs a checkpoint holds, read without its trees' templates.

    Raises:
        ModelFormatError: not a checkpoint of this format version, or an `epoch` that is no
            integer >= 0; the message names the file.
    """
    data = read_json(path)
    try:
        _check_format(data)
        epoch = data.get("epoch")
        if not SEED.contains(epoch):
            raise ModelFormatError(f"$.epoch: expected an integer >= 0, found {epoch!r}")
    except ModelFormatError as error:
        raise ModelFormatError(f"{path}: {error}") from None
    return int(epoch)
