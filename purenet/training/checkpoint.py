"""Training checkpoints: one JSON file holding everything a resumed run needs, written atomically.

The file (format `purenet.checkpoint`, version 1) holds the run's settings (`run`), the counters
(`epoch` completed, optimizer `step`s taken: the random streams derive from `(seed, epoch)` and
`(seed, epoch, batch)`, so counters are the whole RNG position), the parameters, the optimizer
state, the per-epoch history, the keep-best / early-stopping bookkeeping (`best`), the
reduce-on-plateau state (`plateau`, written only when the run has that rule) and the tracked
parameter values. Arrays use the model file's exact encoding (`purenet.modelfile.io`), so a
resumed run continues from bit-identical numbers. Checkpoints are taken at epoch boundaries.

Example:
    >>> import purenet as pn  # doctest: +SKIP
    >>> result = pn.train(..., checkpoint=pn.Checkpoint("run/ckpt.json", every=1))  # doctest: +SKIP
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

from purenet.core.arrays import decode_array
from purenet.core.checks import COUNT, SEED, Interval
from purenet.core.convert import converter
from purenet.core.jsonio import read_json, write_json_atomic
from purenet.errors import ModelFormatError
from purenet.training.reports import Best, EpochReport
from purenet.training.rules import Plateau

FORMAT = "purenet.checkpoint"

FORMAT_VERSION = 1

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


@attrs.frozen
class Checkpoint:
    """Where and how often `train` saves a checkpoint.

    Args:
        path: the JSON file; rewritten atomically (temp file, then rename) each time.
        every: save after every `every`-th epoch (and always after the last one), >= 1.
    """

    path: Path = attrs.field(converter=Path)
    every: int = attrs.field(default=1, validator=COUNT.validator())


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
        history: one `EpochReport` per completed epoch.
        best: the early-stopping state, or None.
        tracked: `{"steps": (n,) int64, "epochs": (n,) float64, "values": (n, k) float64}`
            or None.
        plateau: the reduce-on-plateau state, or None.
    """

    run: dict[str, Any]
    epoch: int
    step: int
    params: Any
    opt_state: Any
    history: tuple[EpochReport, ...]
    best: Best | None
    tracked: dict[str, np.ndarray] | None
    plateau: Plateau | None = None


def write_checkpoint(path: str | os.PathLike[str], state: TrainingState) -> None:
    """Write `state` to `path` as checkpoint JSON, atomically.

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
            "params": converter.unstructure(state.best.params) if earlier else None,
            "opt_state": converter.unstructure(state.best.opt_state) if earlier else None,
        }
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run": state.run,
        "epoch": state.epoch,
        "step": state.step,
        "params": converter.unstructure(state.params),
        "opt_state": converter.unstructure(state.opt_state),
        "history": [converter.unstructure(report) for report in state.history],
        "best": best,
        "tracked": None if state.tracked is None else converter.unstructure(state.tracked),
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


def _restore_history(history: Any) -> tuple[EpochReport, ...]:
    if not isinstance(history, list):
        raise ModelFormatError("$.history: expected a list")
    reports = []
    for i, data in enumerate(history):
        try:
            reports.append(converter.structure(data, EpochReport))
        except Exception as error:  # cattrs raises several types; all mean a malformed report
            raise ModelFormatError(f"$.history[{i}]: malformed epoch report ({error})") from None
    return tuple(reports)


def _restore_tracked(tracked: Any) -> dict[str, np.ndarray] | None:
    if tracked is None:
        return None
    if not isinstance(tracked, dict) or set(tracked) != {"steps", "epochs", "values"}:
        raise ModelFormatError("$.tracked: expected keys ['epochs', 'steps', 'values'] or null")
    return {key: decode_array(value, f"$.tracked.{key}") for key, value in tracked.items()}


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
        if not isinstance(data, dict):
            raise ModelFormatError("$: expected a checkpoint object")
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise ModelFormatError(
                f"$.format: expected {FORMAT!r} version {FORMAT_VERSION}, found "
                f"{data.get('format')!r} version {data.get('format_version')!r}"
            )
        if not _KEYS <= set(data) <= _KEYS | _OPTIONAL_KEYS:
            missing, extra = sorted(_KEYS - set(data)), sorted(set(data) - _KEYS - _OPTIONAL_KEYS)
            raise ModelFormatError(f"$: missing keys {missing}, unknown keys {extra}")
        if run is not None:
            _check_same_run(data["run"], run)
        for key in ("epoch", "step"):
            if not SEED.contains(data[key]):
                raise ModelFormatError(f"$.{key}: expected an integer >= 0, found {data[key]!r}")
        if not isinstance(data["run"], dict):
            raise ModelFormatError("$.run: expected an object")
        restored_params = _restore_like(params, data["params"], "$.params")
        restored_state = _restore_like(opt_state, data["opt_state"], "$.opt_state")
        return TrainingState(
            run=data["run"],
            epoch=data["epoch"],
            step=data["step"],
            params=restored_params,
            opt_state=restored_state,
            history=_restore_history(data["history"]),
            best=_restore_best(data["best"], restored_params, restored_state),
            tracked=_restore_tracked(data["tracked"]),
            plateau=_restore_plateau(data.get("plateau")),
        )
    except ModelFormatError as error:
        raise ModelFormatError(f"{path}: {error}") from None
    except (cattrs.BaseValidationError, TypeError, ValueError) as error:
        raise ModelFormatError(f"{path}: malformed checkpoint: {error}") from None
