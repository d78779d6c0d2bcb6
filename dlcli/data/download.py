"""Fetch the official CIFAR-10 archive, verified by its published MD5.

The file is streamed into a temp file next to its final place and renamed only once its
checksum matches, so an interrupted or corrupt download never looks like a finished one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from dlcli.errors import DataError
from dlcli.runs import atomic_file

__all__ = ["ARCHIVE_NAME", "OFFICIAL_MD5", "OFFICIAL_URL", "download_cifar10"]

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
_CHUNK = 1 << 20


def download_cifar10(dest_dir: str | Path, *, url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5,
                     progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest_dir/cifar-10-python.tar.gz`` and return that path.

    A file already there with the right MD5 is kept and nothing is fetched; one with a wrong
    MD5 is replaced. ``progress`` shows a rich bar on stderr; ``timeout`` (seconds) bounds
    each network wait. ``load_cifar10(dest_dir)`` reads the result.
    """
    dest_dir = Path(dest_dir).expanduser()
    target = dest_dir / ARCHIVE_NAME
    expected = md5.lower()
    _check_url(url)
    have = _md5_of(target) if target.is_file() else None
    if have == expected:
        return target
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        # The archive appears under its name only once it is whole and its MD5 is right.
        with atomic_file(target) as out:
            got = _fetch(url, out, dest_dir, timeout=timeout, progress=progress, have=have)
            if got != expected:
                raise DataError(f"{target}: MD5 mismatch, expected {expected}, got {got} "
                                f"(download from {url} discarded)")
    except OSError as err:  # network errors are already DataErrors; this is the local disk
        raise DataError(f"{dest_dir}: cannot write the download ({err.strerror or err})"
                        ) from None
    return target


def _check_url(url: str) -> None:
    """Only http(s) and file URLs: anything else is a usage mistake, said in one line."""
    from urllib.parse import urlparse

    parts = urlparse(url)
    if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.path):
        raise DataError(f"--url {url!r}: expected an http://, https:// or file:// address "
                        f"(default {OFFICIAL_URL})")


def _fetch(url: str, out: IO[bytes], dest_dir: Path, *, timeout: float, progress: bool,
           have: str | None = None) -> str:
    """Stream ``url`` into ``out``; return the MD5 hex digest of what was received."""
    import http.client

    response = _open(url, dest_dir, timeout, have)
    digest = hashlib.md5(usedforsecurity=False)
    length = response.headers.get("Content-Length", "")
    total = int(length) if length.isdigit() else None
    received = 0
    with response, _progress_bar(progress, total) as advance:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as err:
                raise DataError(f"download of {url} broke off after {received} bytes "
                                f"({_reason(err)}); try again") from None
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            advance(len(chunk))
    if total is not None and received != total:
        raise DataError(f"download of {url} ended after {received} of {total} bytes; try again")
    return digest.hexdigest()


def _open(url: str, dest_dir: Path, timeout: float, have: str | None = None) -> Any:
    """The HTTP response for ``url``; any network failure becomes a one-line DataError.
    ``have``: the MD5 of a file already in place (then it is wrong, and the advice differs)."""
    import http.client
    import urllib.error
    import urllib.request

    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        raise DataError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        advice = (f"put {ARCHIVE_NAME} into {dest_dir} yourself" if have is None else
                  f"the {ARCHIVE_NAME} already in {dest_dir} does not match the expected MD5 "
                  f"(it has {have}): it is damaged or another file; replace it")
        raise DataError(f"cannot reach {url}: {_reason(err)} (check the network connection, "
                        f"or {advice})") from None


def _reason(err: BaseException) -> str:
    """The most telling part of a network error, on one line (URLError wraps the cause)."""
    reason = getattr(err, "reason", None) or err
    if isinstance(reason, OSError) and reason.strerror:  # "Connection refused", not "[Errno 111]"
        return reason.strerror
    text = str(reason) or type(reason).__name__
    return " ".join(text.split())


@contextmanager
def _progress_bar(enabled: bool, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_bytes)``: a rich bar on stderr (size, speed, ETA) or a no-op."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns: list[ProgressColumn] = [TextColumn("{task.description}"), BarColumn(),
                                     DownloadColumn(), TransferSpeedColumn()]
    if total is not None:  # without a size there is nothing to estimate from
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(ARCHIVE_NAME, total=total)
        yield lambda n: bar.advance(task, n)


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    return digest.hexdigest()
