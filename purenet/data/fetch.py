"""`fetch_dataset`: download, verify and cache the public files of a registered data set.

Each entry of the registry (`purenet.data.registry`) names its files, the SHA-256 and size of
each file's **decompressed** payload, and a default mirror. A download is verified before it
enters the cache, so a mirror that recompressed the files still verifies, and a corrupted,
truncated or substituted file is refused and never cached. Downloads go through pooch (the
`fetch` extra); the registry and the cache location need no extra.

The mirror is, in order: the `mirror` argument (`purenet fetch --mirror URL`),
`$PURENET_MIRROR`, the data set's default. A mirror is a base URL; files are fetched from
`<mirror>/<file>`, and a `{name}` in it is replaced by the data set name, so one
`PURENET_MIRROR=http://host/data/{name}/` serves every data set.

Example:
    >>> from purenet.data.fetch import fetch_dataset
    >>> folder = fetch_dataset("fashion-mnist")  # doctest: +SKIP
    >>> sorted(p.name for p in folder.iterdir())[:1]  # doctest: +SKIP
    ['t10k-images-idx3-ubyte.gz']
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from purenet.data.files import is_gzip
from purenet.data.registry import DATASETS, DatasetSpec, RemoteFile, default_cache_dir
from purenet.errors import FetchError, require_extra


def _base_url(spec: DatasetSpec, mirror: str | None) -> str:
    base = mirror or os.environ.get("PURENET_MIRROR") or spec.mirror
    if not base:
        raise FetchError(
            f"{spec.name} has no default mirror; give one with --mirror URL or PURENET_MIRROR "
            f"(files are fetched from URL/<file>; {{name}} in URL becomes {spec.name!r})"
        )
    base = base.replace("{name}", spec.name)
    return base if base.endswith("/") else base + "/"


def _payload_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file's decompressed payload (of the file itself if not gzip)."""
    digest = hashlib.sha256()
    size = 0
    with gzip.open(path, "rb") if is_gzip(path) else path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def verify_file(path: str | os.PathLike[str], remote: RemoteFile) -> None:
    """Check that a file's decompressed payload has the registry's size and SHA-256.

    Args:
        path: the downloaded or cached file (gzip or raw, decided by its bytes).
        remote: its registry entry.

    Raises:
        FetchError: corrupt or truncated gzip data, or a size or hash mismatch; the message
            gives what was expected and found.
    """
    file = Path(path)
    try:
        size, sha256 = _payload_digest(file)
    except (EOFError, OSError, zlib.error) as error:
        raise FetchError(f"{remote.name}: corrupt or truncated download ({error})") from None
    if size != remote.size:
        raise FetchError(
            f"{remote.name}: expected {remote.size} bytes of decompressed data, found {size}"
        )
    if sha256 != remote.sha256:
        raise FetchError(
            f"{remote.name}: SHA-256 of the decompressed data is {sha256}, expected {remote.sha256}"
        )


def _download(url: str, target: Path, *, progressbar: Any, timeout: float) -> None:
    require_extra("pooch", "fetch")
    import pooch
    import requests

    downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=timeout)
    try:
        downloader(url, str(target), None)
    except requests.exceptions.HTTPError as error:
        status = "?"
        if error.response is not None:
            status = str(error.response.status_code)
            # pooch streams: an unread error response would leave its socket open.
            error.response.close()
        raise FetchError(f"{url}: HTTP error {status}") from None
    except requests.exceptions.RequestException as error:
        raise FetchError(f"{url}: download failed ({type(error).__name__}: {error})") from None


def fetch_dataset(
    name: str,
    files: Collection[str] | None = None,
    *,
    mirror: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progressbar: Any = False,
    on_file: Callable[[str, str], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a data set's files (default: all) into the cache, verified; return the folder.

    Files already cached and valid are not downloaded again; a cached file that no longer
    verifies is downloaded again. Each download goes to a temporary file in the cache
    folder, is checked against the SHA-256 and size of its decompressed payload, and only
    then is moved into place: a corrupted or truncated download never enters the cache.

    Args:
        name: `"mnist"`, `"fashion-mnist"` or `"microchips"` (a key of `DATASETS`).
        files: names of the data set's files to fetch (e.g. only the test split's); None
            for all of them.
        mirror: base URL to download from (`{name}` is replaced by the data set name);
            default `$PURENET_MIRROR`, then the data set's usual public mirror.
        cache_dir: cache root; default `default_cache_dir()` (`$PURENET_CACHE` overrides).
        progressbar: passed to pooch: True for a tqdm bar (needs tqdm), or an object with
            tqdm's `total`, `update(n)`, `reset()` and `close()`.
        on_file: called as `on_file(file_name, status)` with status `"cached"`,
            `"downloading"` or `"downloaded"`, e.g. to print one line per file.
        timeout: seconds to wait for the server, per request.

    Returns:
        The folder `<cache>/<name>` holding the files (e.g. `t10k-images-idx3-ubyte.gz`).

    Raises:
        FetchError: an unknown name (lists the known ones) or file, no mirror, an HTTP error
            such as 404, a network error, or a download that does not verify.
        MissingExtraError: pooch is not installed: `pip install 'purenet[fetch]'` (only
            when something must be downloaded).

    Example:
        >>> from purenet.data.fetch import fetch_dataset
        >>> fetch_dataset("mnist", mirror="http://127.0.0.1:8000/{name}/")  # doctest: +SKIP
        PosixPath('/home/me/.cache/purenet/mnist')
    """
    if name not in DATASETS:
        raise FetchError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    spec = DATASETS[name]
    by_name = {f.name: f for f in spec.files}
    wanted = list(by_name) if files is None else list(files)
    unknown = [f for f in wanted if f not in by_name]
    if unknown:
        raise FetchError(f"{name}: no downloadable file {', '.join(unknown)}")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / name
    missing = []
    for file_name in wanted:
        cached = folder / file_name
        if cached.is_file():
            try:
                verify_file(cached, by_name[file_name])
            except FetchError:
                missing.append(file_name)
                continue
            if on_file is not None:
                on_file(file_name, "cached")
        else:
            missing.append(file_name)
    if not missing:
        return folder
    base = _base_url(spec, mirror)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
    try:
        for file_name in missing:
            if on_file is not None:
                on_file(file_name, "downloading")
            temporary = staging / file_name
            _download(base + file_name, temporary, progressbar=progressbar, timeout=timeout)
            try:
                verify_file(temporary, by_name[file_name])
            except FetchError as error:
                raise FetchError(f"{base + file_name}: refused, not cached: {error}") from None
            os.replace(temporary, folder / file_name)
            if on_file is not None:
                on_file(file_name, "downloaded")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
