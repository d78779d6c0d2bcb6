"""A CIFAR-10 python batch -> validated arrays, with nothing in the file ever run.

The batches are pickles, and unpickling runs whatever callable a file names, so they never
reach ``pickle.load``: ``pickle_reader`` interprets the opcodes itself and builds only strings,
ints, flat lists and the uint8 pixel array. This module then admits exactly the structure of
the official batches: a dict of ``batch_label`` (a string), ``labels`` (n ints), ``data`` (the
(n, 3072) uint8 array) and ``filenames`` (n strings), with bytes keys as the Python 2 files
have them or str keys as Python 3 re-pickles them; any other key, type or count is refused.
"""

from __future__ import annotations

import numpy as np

from dlcli.data.pickle_reader import run
from dlcli.data.pickle_values import Corrupt, Pixels, Refused, describe
from dlcli.errors import DataError

__all__ = ["read_batch"]

_KEYS = (b"batch_label", b"labels", b"data", b"filenames")


def read_batch(where: str, raw: bytes | bytearray) -> tuple[np.ndarray, np.ndarray]:
    """One python-form batch -> x (n, 3072) uint8 C-contiguous, y (n,) int64.

    Labels are checked to be ints here; their range (0..9) is the caller's check, shared with
    the binary form.
    """
    try:
        batch = run(raw)
    except Corrupt as err:
        raise DataError(f"{where}: not a readable CIFAR-10 python batch, truncated or corrupt "
                        f"({err.args[0]}, at byte {err.args[1]})") from None
    except Refused as err:
        raise DataError(f"{where}: {err.args[0]} (at byte {err.args[1]} of {len(raw)})") from None
    entries = _by_key(where, batch)
    data = entries.get(b"data")
    if not isinstance(data, Pixels) or data.x is None:
        what = "missing" if data is None else (
            "an array never filled (no BUILD)" if isinstance(data, Pixels) else describe(data))
        raise DataError(f"{where}: b'data' is {what}, expected a uint8 array (N, 3072)")
    n = len(data.x)
    y = _labels(where, entries.get(b"labels"), n)
    if b"filenames" in entries:
        _names(where, entries[b"filenames"], n)
    label = entries.get(b"batch_label", b"")
    if not isinstance(label, (bytes, str)):
        raise DataError(f"{where}: b'batch_label' is {describe(label)}, expected a string")
    return data.x, y


def _by_key(where: str, batch: dict[bytes | str, object]) -> dict[bytes, object]:
    """Keys as bytes (str keys from Python 3 re-pickles too); unknown or repeated: refused."""
    entries: dict[bytes, object] = {}
    for key, value in batch.items():
        name = key.encode("latin-1", "replace") if isinstance(key, str) else key
        if name not in _KEYS or name in entries:
            shown = repr(key[:40]) + ("..." if len(key) > 40 else "")
            problem = "unexpected" if name not in _KEYS else "repeated"
            raise DataError(f"{where}: {problem} key {shown} (a CIFAR-10 batch holds "
                            f"{', '.join(repr(k) for k in _KEYS)})")
        entries[name] = value
    return entries


def _labels(where: str, labels: object, n: int) -> np.ndarray:
    """A list of n ints -> (n,) int64."""
    if not isinstance(labels, list):
        what = "missing" if labels is None else describe(labels)
        raise DataError(f"{where}: b'labels' is {what}, expected a list of ints")
    if len(labels) != n:
        raise DataError(f"{where}: {len(labels)} labels for {n} images, "
                        f"expected one label per image")
    for i, v in enumerate(labels):
        if type(v) is not int:
            raise DataError(f"{where}: b'labels'[{i}] is {describe(v)}, expected an int label")
    return np.array(labels, dtype=np.int64)


def _names(where: str, names: object, n: int) -> None:
    """b'filenames': a list of n strings."""
    if not isinstance(names, list):
        raise DataError(f"{where}: b'filenames' is {describe(names)}, expected a list")
    if len(names) != n:
        raise DataError(f"{where}: {len(names)} file names for {n} images, "
                        f"expected one per image")
    for i, v in enumerate(names):
        if not isinstance(v, (bytes, str)):
            raise DataError(f"{where}: b'filenames'[{i}] is {describe(v)}, expected a file name")
