"""`load_dataset`: find a named data set in `data_dir`, `PURENET_DATA_DIR` or the fetch cache and
read it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from purenet.data.csv import read_csv
from purenet.data.dataset import Dataset
from purenet.data.fetch import fetch_dataset
from purenet.data.idx import read_idx_pair
from purenet.data.registry import DATASETS, DatasetSpec, default_cache_dir
from purenet.errors import MissingExtraError, PurenetError

# ---------------------------------------------------------------------------------------------
# load_dataset


def _locations(data_dir: str | os.PathLike[str] | None) -> list[tuple[str, Path]]:
    places: list[tuple[str, Path]] = []
    if data_dir is not None:
        places.append(("data_dir", Path(data_dir)))
    env = os.environ.get("PURENET_DATA_DIR")
    if env:
        places.append(("PURENET_DATA_DIR", Path(env)))
    places.append(("cache", default_cache_dir()))
    return places


def _find_all(
    places: list[tuple[str, Path]], dataset: str, filenames: Sequence[str]
) -> list[Path] | None:
    """The first folder holding every file (each with or without `.gz`), or None."""
    for _, root in places:
        for folder in (root / dataset, root):
            found = []
            for filename in filenames:
                names = [filename, filename.removesuffix(".gz")]
                hit = next((folder / n for n in names if (folder / n).is_file()), None)
                if hit is None:
                    break
                found.append(hit)
            else:
                return found
    return None


def _build(kind: str, files: Sequence[Path]) -> Dataset:
    if kind == "csv":
        return read_csv(files[0], label="last", header=False)
    return read_idx_pair(files[0], files[1])


def _spec(name: str, split: str) -> DatasetSpec:
    if name not in DATASETS:
        raise PurenetError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    spec = DATASETS[name]
    if split not in spec.splits:
        raise PurenetError(f"unknown split {split!r} of {name}; known: {', '.join(spec.splits)}")
    return spec


def _candidates(spec: DatasetSpec, split: str) -> list[tuple[tuple[str, ...], int | None]]:
    """Each candidate: (file names, leading rows to keep); the first found on disk wins."""
    candidates: list[tuple[tuple[str, ...], int | None]] = [(spec.splits[split], None)]
    candidates += [(spec.splits[s], n) for s, n in spec.fallbacks.get(split, ())]
    return candidates


def _on_disk(
    places: list[tuple[str, Path]],
    name: str,
    candidates: list[tuple[tuple[str, ...], int | None]],
) -> tuple[list[Path], int | None] | None:
    for filenames, rows in candidates:
        found = _find_all(places, name, filenames)
        if found is not None:
            return found, rows
    return None


def check_data_dir(data_dir: str | os.PathLike[str] | None) -> None:
    """Refuse a `data_dir` that is not an existing folder (None is fine: there is none).

    A misspelled folder would otherwise be skipped silently, and the data taken from
    `$PURENET_DATA_DIR`, the cache or a download instead.

    Raises:
        PurenetError: `data_dir /x: no such directory` or `...: not a directory`.
    """
    if data_dir is None:
        return
    folder = Path(data_dir)
    if not folder.exists():
        raise PurenetError(f"data_dir {folder}: no such directory")
    if not folder.is_dir():
        raise PurenetError(f"data_dir {folder}: not a directory")


def load_dataset(
    name: str, split: str, *, data_dir: str | os.PathLike[str] | None = None
) -> Dataset:
    """Load a named data set split as raw arrays, downloading it if it is nowhere on disk.

    Looks in `data_dir`, then `$PURENET_DATA_DIR`, then the cache of `purenet fetch`
    (`$PURENET_CACHE`), each as `<dir>/<name>/<file>` or `<dir>/<file>`, with or without
    `.gz`. When the files are nowhere, they are fetched into the cache (see
    `purenet.data.fetch.fetch_dataset`; needs the `fetch` extra).

    Splits: `mnist`: `train` (the full 60k files when present, else the offline
    `train10k` files, else a download), `train10k` (the first 10,000 training digits),
    `test`; `fashion-mnist`: `train`, `test`; `microchips`: `train` (all 118 rows).

    Args:
        name: `"mnist"`, `"fashion-mnist"` or `"microchips"`.
        split: a split of that data set (above).
        data_dir: an existing folder to look in first.

    Returns:
        `Dataset(x, y)`: for the image sets `x` `(n, 28, 28)` uint8 and `y` `(n,)` uint8;
        for microchips `x` `(118, 2)` float32 and `y` `(118,)` int64.

    Raises:
        PurenetError: an unknown name or split (the message lists the choices), files that
            are missing and cannot be fetched (the message lists where it looked), or
            malformed files (`DataFormatError`).

    Example:
        >>> from purenet.data.load import load_dataset
        >>> test = load_dataset("mnist", "test")  # doctest: +SKIP
        >>> test.x.shape, int(test.y[0])  # doctest: +SKIP
        ((10000, 28, 28), 7)
    """
    spec = _spec(name, split)
    check_data_dir(data_dir)
    places = _locations(data_dir)
    candidates = _candidates(spec, split)
    on_disk = _on_disk(places, name, candidates)
    if on_disk is not None:
        files, rows = on_disk
        ds = _build(spec.kind, files)
        return ds if rows is None else Dataset(ds.x[:rows], ds.y[:rows])
    remote, rows = next(
        ((f, n) for f, n in candidates if all(x in spec.remote_names for x in f)), ((), None)
    )
    looked = "; ".join(f"{label} {root}" for label, root in places)
    wanted = ", ".join(spec.splits[split])
    if not remote:
        raise PurenetError(f"{name}:{split}: files {wanted} not found (looked in {looked})")
    try:
        folder = fetch_dataset(name, remote)
    except MissingExtraError as error:
        raise PurenetError(
            f"{name}:{split}: files {wanted} not found (looked in {looked}), and {error}"
        ) from None
    except PurenetError as error:
        raise type(error)(
            f"{name}:{split}: files {wanted} not found (looked in {looked}); fetching: {error}"
        ) from None
    ds = _build(spec.kind, [folder / f for f in remote])
    return ds if rows is None else Dataset(ds.x[:rows], ds.y[:rows])
