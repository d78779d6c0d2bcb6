"""Read a file, or chosen members of a tar archive, with a size bound the input cannot lift.

A file is measured before it is read. A tar member must be a regular file whose header size
is within the bound; it is read into a buffer of exactly that size, 1 MiB at a time, so a
gzip bomb costs decompression time, never memory. tarfile itself reads a pax or GNU long-name
header whole, so any single read it asks for larger than ``MAX_READ`` is refused, and at most
``max_members`` members are looked at. Every refusal is a one-line DataError.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import tarfile
import zlib
from collections.abc import Collection, Generator
from pathlib import Path, PurePosixPath
from typing import IO, cast

from dlcli.errors import DataError

__all__ = ["is_archive", "read_file", "tar_members"]

CHUNK = 1 << 20
MAX_READ = 2 * CHUNK  # larger than any tar header; our own reads are CHUNK at most
_KINDS = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link",
          tarfile.DIRTYPE: "a folder"}
_MAGIC = {b"\x1f\x8b": "gz", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}


def read_file(path: Path, limit: int, what: str) -> bytearray:
    """The whole file, refused when larger than ``limit`` bytes (``what`` names the content)."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            _check_size(str(path), size, limit, what)
            return _read_exactly(f, size, str(path))
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


def is_archive(path: Path) -> bool:
    """A compressed file (gzip, bzip2, xz) or a plain tar, by its first bytes."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    return any(head.startswith(m) for m in _MAGIC) or head[257:262] == b"ustar"


def tar_members(archive: Path, wanted: Collection[str], limit: int, what: str,
                max_members: int = 256) -> Generator[tuple[str, str, bytearray], None, None]:
    """Yield (base name, where, bytes) for each member whose base name is in ``wanted``.

    One sequential pass, in archive order; a .tar.gz is decompressed once and nothing touches
    the disk. A wanted name that is not a regular file (a link, a device) is refused.
    """
    try:
        with contextlib.ExitStack() as stack:
            raw = stack.enter_context(archive.open("rb"))
            guard = _Guard(_decompressed(raw, stack), str(archive))
            tar = stack.enter_context(tarfile.TarFile(fileobj=cast(IO[bytes], guard)))
            for count, member in enumerate(tar, 1):
                if count > max_members:
                    raise DataError(f"{archive}: more than {max_members} members before all "
                                    f"of {what} were found; not the expected archive")
                name = PurePosixPath(member.name).name
                if name in wanted:
                    yield name, f"{archive}:{_printable(member.name)}", _member(
                        tar, member, f"{archive}:{_printable(member.name)}", limit, what)
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as err:
        raise DataError(f"{archive}: not a readable tar archive, truncated or corrupt "
                        f"({' '.join(f'{type(err).__name__}: {err}'.split())})") from None


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str, limit: int,
            what: str) -> bytearray:
    if not member.isreg() or member.issparse():
        kind = _KINDS.get(member.type, "a device, a FIFO or a sparse file")
        raise DataError(f"{where}: not a regular file ({kind}), expected {what}")
    _check_size(where, member.size, limit, what)
    data = tar.extractfile(member)
    if data is None:  # pragma: no cover - isreg() members always have data
        raise DataError(f"{where}: no data, expected {what}")
    with data:
        return _read_exactly(data, member.size, where)


def _check_size(where: str, size: int, limit: int, what: str) -> None:
    if size > limit:
        raise DataError(f"{where}: {size} bytes, more than {what} can be "
                        f"({limit // 2**20} MiB at most)")


def _read_exactly(f: IO[bytes], size: int, where: str) -> bytearray:
    """``size`` bytes into one buffer, CHUNK at a time; fewer or more is an error."""
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = f.readinto(view[got:got + CHUNK])  # type: ignore[attr-defined]
        if not n:
            raise DataError(f"{where}: ends after {got} of its {size} bytes; truncated")
        got += n
    if f.read(1):
        raise DataError(f"{where}: longer than its {size} bytes (did it change while read?)")
    return buf


def _decompressed(raw: IO[bytes], stack: contextlib.ExitStack) -> IO[bytes]:
    """The tar inside (gzip, bzip2, xz or none), decompressed as it is read."""
    head = raw.read(6)
    raw.seek(0)
    kind = next((k for m, k in _MAGIC.items() if head.startswith(m)), None)
    if kind is None:
        return raw
    stream = (gzip.GzipFile(fileobj=raw, mode="rb") if kind == "gz" else
              bz2.BZ2File(raw) if kind == "bz2" else lzma.LZMAFile(raw))
    stack.callback(stream.close)
    return cast(IO[bytes], stream)


class _Guard:
    """The decompressed stream as tarfile sees it: no single read larger than MAX_READ."""

    def __init__(self, stream: IO[bytes], where: str) -> None:
        self.stream = stream
        self.where = where

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > MAX_READ:
            raise DataError(f"{self.where}: a tar header asks to read {n} bytes at once "
                            f"(more than {MAX_READ // 2**20} MiB); not the expected archive")
        return self.stream.read(n)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.stream.seek(offset, whence)

    def tell(self) -> int:
        return self.stream.tell()


def _printable(name: str) -> str:
    return name if name.isprintable() else repr(name)
