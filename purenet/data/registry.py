"""The data-set registry: which public files make up each named data set, their checksums, and the
cache folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import attrs


@attrs.frozen
class RemoteFile:
    """One downloadable file and the checks its content must pass.

    Attributes:
        name: file name on the mirror and in the cache, e.g. `t10k-labels-idx1-ubyte.gz`.
        sha256: hex SHA-256 of the decompressed payload (of the file itself if not gzip).
        size: length in bytes of the decompressed payload.
    """

    name: str
    sha256: str
    size: int


@attrs.frozen
class DatasetSpec:
    """A named data set: its files, splits and default mirror.

    Attributes:
        name: the registry key, e.g. `mnist`.
        kind: `idx` (an images file and a labels file per split) or `csv` (one table).
        mirror: default base URL, or None when the data set has no public mirror.
        files: the files that can be downloaded.
        splits: split name to its file names, e.g. `test` to (images, labels).
        fallbacks: split name to other `(split, rows)` to use when its own files are absent:
            `rows` keeps the first rows only (None: all).
    """

    name: str
    kind: Literal["idx", "csv"]
    mirror: str | None
    files: tuple[RemoteFile, ...]
    splits: Mapping[str, tuple[str, ...]]
    fallbacks: Mapping[str, tuple[tuple[str, int | None], ...]] = attrs.field(factory=dict)

    @property
    def remote_names(self) -> frozenset[str]:
        """Names of the files that can be downloaded."""
        return frozenset(f.name for f in self.files)


def _idx_splits(*names: str) -> dict[str, tuple[str, ...]]:
    prefix = {"test": "t10k"}
    return {
        split: (
            f"{prefix.get(split, split)}-images-idx3-ubyte.gz",
            f"{prefix.get(split, split)}-labels-idx1-ubyte.gz",
        )
        for split in names
    }


# Hashes of the decompressed payloads. t10k (MNIST), all of Fashion-MNIST and ex2data2.txt
# were computed here from the project's copies. The MNIST train-* values were not computed
# here (those files are not available offline): they are the SHA-256 of the decompressed
# official files as published, identically, by several independent projects whose listings
# of t10k-* also match the values computed here. Sizes follow from the IDX headers.
DATASETS: Mapping[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        kind="idx",
        mirror="https://ossci-datasets.s3.amazonaws.com/mnist/",
        files=(
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                47040016,
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                60008,
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                7840016,
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                10008,
            ),
        ),
        splits=_idx_splits("train", "train10k", "test"),
        fallbacks={"train": (("train10k", None),), "train10k": (("train", 10000),)},
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        kind="idx",
        mirror="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        files=(
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                47040016,
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                60008,
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                7840016,
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                10008,
            ),
        ),
        splits=_idx_splits("train", "test"),
    ),
    "microchips": DatasetSpec(
        name="microchips",
        kind="csv",
        # ex2data2.txt ships with Andrew Ng's course exercises and has no official mirror.
        mirror=None,
        files=(
            RemoteFile(
                "ex2data2.txt",
                "5d1fb3eca1b6328375375f5da8980f3458f1c727da4c1ca6e9163fc23b6ddcbc",
                2233,
            ),
        ),
        splits={"train": ("ex2data2.txt",)},
    ),
}


def default_cache_dir() -> Path:
    """Return the cache folder of `purenet fetch`: `$PURENET_CACHE`, else the user cache dir.

    The user cache dir is `$XDG_CACHE_HOME/purenet` or `~/.cache/purenet` on Linux,
    `~/Library/Caches/purenet` on macOS and `%LOCALAPPDATA%\\purenet\\Cache` on Windows.
    Data set `NAME` is kept in `<cache>/NAME/`.
    """
    env = os.environ.get("PURENET_CACHE")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "purenet" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "purenet"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "purenet"

