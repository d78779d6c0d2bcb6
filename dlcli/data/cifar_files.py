"""Read the real CIFAR-10 files into uint8 arrays, with a decoded cache for fast reloads.

Accepted forms (all give identical arrays, training batches concatenated in order 1..5):

* the ``cifar-10-batches-py`` folder (pickles ``data_batch_1..5``, ``test_batch``),
* the ``cifar-10-batches-bin`` folder (``data_batch_1..5.bin``, ``test_batch.bin``),
* either archive (``cifar-10-python.tar.gz``, ``cifar-10-binary.tar.gz``), read in memory,
* a folder holding one of the above (e.g. the folder ``download_cifar10`` wrote into).

Nothing a file holds can run code or make us allocate out of proportion: the pickles are
interpreted by ``safe_pickle`` (no constructor a file names is ever called), and every batch,
in a folder or in an archive, is at most ``MAX_BATCH_BYTES`` (``bounded_read``).

Shapes: ``x_* (N, 3072)`` uint8, one image per row in the official channel-major order
(1024 red, 1024 green, 1024 blue values, each 32x32 row-major, so ``x.reshape(N, 3, 32, 32)``
is (N, C, H, W)); ``y_* (N,)`` int64 labels in 0..9.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Generator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np

from dlcli.data.bounded_read import is_archive, read_file, tar_members
from dlcli.data.safe_pickle import read_batch
from dlcli.errors import DataError
from dlcli.runs import atomic_file

__all__ = ["CifarArrays", "load_cifar10", "default_cache_dir"]

ROW_BYTES = 3072  # 32 x 32 pixels x 3 channels
NUM_CLASSES = 10
PY_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
              "test_batch")
BIN_BATCHES = tuple(f"{name}.bin" for name in PY_BATCHES)
# An official batch is ~31 MB (10,000 images; the binary ones exactly 10,000 x 3073 bytes):
# twice that is room for any real batch, and bounds what a crafted one can make us read.
MAX_BATCH_BYTES = 64 * 2**20
_BATCH = "a CIFAR-10 batch"
# Where a folder may keep the dataset one level down, in the order they are tried.
_NESTED = ("cifar-10-batches-py", "cifar-10-batches-bin", "cifar-10-python.tar.gz",
           "cifar-10-binary.tar.gz")
_EXPECTED = ("expected a cifar-10-batches-py or cifar-10-batches-bin folder, "
             "or cifar-10-python.tar.gz / cifar-10-binary.tar.gz")
_CACHE_VERSION = 1  # bump when the decoded layout changes, so older cache entries are ignored

Form = Literal["py", "bin", "tar"]


@dataclass(frozen=True, eq=False)
class CifarArrays:
    """x_train (N, 3072) uint8, y_train (N,) int64, x_test (M, 3072) uint8, y_test (M,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class _Source:
    """Where the batches live: ``root`` is the batches folder (form py/bin) or the archive."""

    root: Path
    form: Form

    def files(self) -> list[Path]:
        if self.form == "tar":
            return [self.root]
        names = PY_BATCHES if self.form == "py" else BIN_BATCHES
        return [self.root / name for name in names]


def load_cifar10(path: str | Path, cache_dir: str | Path | None = None, *,
                 use_cache: bool = True) -> CifarArrays:
    """Load CIFAR-10 from any of the official forms; see the module docstring.

    Decoded arrays are cached in ``cache_dir`` (default: ``$DLCLI_CACHE_DIR`` or
    ``~/.cache/dlcli``) under a key made of each source file's resolved path, size and mtime,
    so a changed or moved source is decoded again. ``use_cache=False`` neither reads nor writes.
    """
    source = _find_source(Path(path).expanduser())
    if not use_cache:
        return _decode(source)
    entry = _cache_entry(Path(cache_dir) if cache_dir is not None else default_cache_dir(), source)
    cached = _read_cache(entry)
    if cached is not None:
        return cached
    arrays = _decode(source)
    _write_cache(entry, arrays)
    return arrays


def default_cache_dir() -> Path:
    """``$DLCLI_CACHE_DIR``, else ``$XDG_CACHE_HOME/dlcli``, else ``~/.cache/dlcli`` (the XDG
    base directory convention; an empty or relative XDG_CACHE_HOME is ignored, as it says)."""
    env = os.environ.get("DLCLI_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "dlcli"
    return Path.home() / ".cache" / "dlcli"


# --- finding the files --------------------------------------------------------------------


def _find_source(path: Path) -> _Source:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder ({_EXPECTED})")
    if path.is_file():
        if path.name.endswith((".tar.gz", ".tgz", ".tar")) or is_archive(path):
            return _Source(path, "tar")
        raise DataError(f"{path}: not a CIFAR-10 folder or tar archive ({_EXPECTED})")
    forms: tuple[tuple[Form, tuple[str, ...]], ...] = (("py", PY_BATCHES), ("bin", BIN_BATCHES))
    for form, names in forms:
        present = [(path / name).is_file() for name in names]
        if any(present):
            if not all(present):
                missing = names[present.index(False)]
                raise DataError(f"{path / missing}: missing batch "
                                f"(expected {names[0]} .. {names[4]} and {names[5]})")
            return _Source(path, form)
    for name in _NESTED:
        if (path / name).exists():
            return _find_source(path / name)
    raise DataError(f"{path}: no CIFAR-10 batches in this folder ({_EXPECTED})")


def _iter_folder(source: _Source) -> Generator[tuple[str, str, bytearray], None, None]:
    """Yield (batch file name, where, raw bytes) for each batch file of a folder."""
    for file in source.files():
        yield file.name, str(file), read_file(file, MAX_BATCH_BYTES, _BATCH)


def _iter_tar(archive: Path) -> Generator[tuple[str, str, bytearray], None, None]:
    """Yield (batch file name, where, raw bytes) for each batch member, in archive order."""
    return tar_members(archive, {*PY_BATCHES, *BIN_BATCHES}, MAX_BATCH_BYTES, _BATCH)


# --- decoding -----------------------------------------------------------------------------


def _decode(source: _Source) -> CifarArrays:
    """Decode every batch of ``source``; checks each one and that none is missing."""
    batches = _iter_tar(source.root) if source.form == "tar" else _iter_folder(source)
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    names: tuple[str, ...] = ()
    with contextlib.closing(batches):  # closes the archive at once if a batch is refused
        for name, where, raw in batches:
            if not names:  # the first batch found fixes the form (an archive may hold both)
                names = BIN_BATCHES if name.endswith(".bin") else PY_BATCHES
            if name in names and name not in parts:
                decode = _decode_binary_batch if name.endswith(".bin") else _decode_pickle_batch
                parts[name] = decode(where, raw)
                if len(parts) == len(names):
                    break  # an archive's remaining members are never read
    if not parts:
        raise DataError(f"{source.root}: no CIFAR-10 batches inside ({_EXPECTED})")
    missing = [name for name in names if name not in parts]
    if missing:
        folder = "cifar-10-batches-bin" if names == BIN_BATCHES else "cifar-10-batches-py"
        raise DataError(f"{source.root}: missing {folder}/{missing[0]} "
                        f"(expected data_batch_1 .. data_batch_5 and test_batch inside)")
    x_test, y_test = parts.pop(names[5])
    y_train = np.concatenate([parts[name][1] for name in names[:5]])
    x_train = _concatenate_releasing([parts.pop(name)[0] for name in names[:5]])
    return CifarArrays(x_train, y_train, np.require(x_test, requirements=["C", "W"]), y_test)


def _concatenate_releasing(xs: list[np.ndarray]) -> np.ndarray:
    """np.concatenate(xs), dropping each part (and the file buffer it views) once copied.

    The output's pages become resident only as they are written, so the peak is the files
    read plus one batch (~1.2x the pixels) rather than the files plus the whole set (~2x).
    """
    out = np.empty((sum(len(x) for x in xs), ROW_BYTES), dtype=np.uint8)
    at = 0
    while xs:
        x = xs.pop(0)
        out[at:at + len(x)] = x
        at += len(x)
    return out


def _decode_binary_batch(where: str, raw: bytes | bytearray) -> tuple[np.ndarray, np.ndarray]:
    """Records of 1 label byte + 3072 pixel bytes -> x (n, 3072) uint8, y (n,) int64."""
    record = 1 + ROW_BYTES
    if not raw or len(raw) % record:
        raise DataError(f"{where}: size {len(raw)} bytes is not a positive multiple of {record} "
                        f"(1 label byte + {ROW_BYTES} pixel bytes per image); truncated or corrupt")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    return _checked(where, records[:, 1:], records[:, 0].astype(np.int64))


def _decode_pickle_batch(where: str, raw: bytes | bytearray) -> tuple[np.ndarray, np.ndarray]:
    """A pickled dict {b'data': (n, 3072) uint8, b'labels': [n ints], ...} -> x, y."""
    return _checked(where, *read_batch(where, raw))


def _checked(where: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (n, 3072), y (n,) int64: one label per image, every label a class in 0..9."""
    if len(y) != len(x):
        raise DataError(f"{where}: {len(y)} labels for {len(x)} images, "
                        f"expected one label per image")
    bad = np.flatnonzero((y < 0) | (y >= NUM_CLASSES))
    if bad.size:
        raise DataError(f"{where}: label {y[bad[0]]} at index {bad[0]} is outside "
                        f"0-{NUM_CLASSES - 1}")
    return x, y


# --- the decoded cache --------------------------------------------------------------------


def _cache_entry(directory: Path, source: _Source) -> Path:
    """``cifar10-<source>-<identity>.npz``: the identity changes with any source file."""
    facts: list[list[object]] = []
    for file in source.files():
        try:
            st = file.stat()
        except OSError as err:
            raise DataError(f"{file}: cannot read ({err.strerror or err})") from None
        facts.append([str(file.resolve()), st.st_size, st.st_mtime_ns])
    identity = json.dumps([_CACHE_VERSION, source.form, facts]).encode()
    place = hashlib.sha256(str(source.root.resolve()).encode()).hexdigest()[:12]
    return directory / f"cifar10-{place}-{hashlib.sha256(identity).hexdigest()[:24]}.npz"


def _read_cache(entry: Path) -> CifarArrays | None:
    """The cached arrays, or None when the entry is absent or unusable (it is then rebuilt)."""
    try:
        with np.load(entry, allow_pickle=False) as npz:
            arrays = CifarArrays(**{f.name: npz[f.name] for f in fields(CifarArrays)})
    except Exception:  # missing, half-written by another tool, bad CRC, wrong keys: rebuild
        return None
    return arrays if _well_formed(arrays) else None


def _well_formed(a: CifarArrays) -> bool:
    pairs = ((a.x_train, a.y_train), (a.x_test, a.y_test))
    return all(
        x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == ROW_BYTES
        and y.dtype == np.int64 and y.shape == (len(x),)
        and (y.size == 0 or (y.min() >= 0 and y.max() < NUM_CLASSES))
        for x, y in pairs
    )


def _write_cache(entry: Path, arrays: CifarArrays) -> None:
    """Write through a temp file + rename, so a crash never leaves a half-written entry.

    A cache that cannot be written only costs speed, so it warns instead of failing the load.
    """
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(entry) as out:  # uncompressed: loading must be fast, not small
            np.savez(out, **{f.name: getattr(arrays, f.name) for f in fields(arrays)})
    except OSError as err:
        warnings.warn(f"{entry}: could not write the CIFAR-10 cache ({err.strerror or err}); "
                      f"the next load decodes again", RuntimeWarning, stacklevel=3)
        return
    _prune(entry)


def _prune(entry: Path) -> None:
    """Remove older entries for the same source (each is ~180 MB for the full set)."""
    place = entry.name.rsplit("-", 1)[0]
    for old in entry.parent.glob(f"{place}-*.npz"):
        if old != entry:
            with contextlib.suppress(OSError):  # another process may be removing it too
                old.unlink()
