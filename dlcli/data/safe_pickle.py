"""A restricted unpickler for the CIFAR-10 python batches.

Unpickling runs whatever callable a file names, so a downloaded batch must never reach the plain
``pickle.load``: this one admits only what the official files hold (dicts, lists, bytes/str,
ints and numpy arrays through numpy's reconstruct function, under both the ``numpy.core`` and
``numpy._core`` module names) and refuses any other global before it is called.
"""

from __future__ import annotations

import io
import pickle
from functools import cache
from typing import IO, Any

import numpy as np

from dlcli.errors import DataError


def _latin1_encode(text: object, encoding: object = "utf-8") -> bytes:
    """Stands in for ``_codecs.encode``: Python 3 writes bytes that way under protocol 2."""
    if isinstance(text, str) and encoding in ("latin1", "latin-1"):
        return text.encode("latin1")
    raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")


def _empty_bytes(*args: object) -> bytes:
    """Stands in for ``builtins.bytes``: Python 3 writes b'' as ``bytes()`` under protocol 2."""
    if args:
        raise pickle.UnpicklingError("refused builtins.bytes with arguments")
    return b""


@cache
def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The only globals a batch may name, mapped to this numpy's real objects.

    The official files name ``numpy.core.multiarray``; numpy 2 writes ``numpy._core``.
    """
    try:
        from numpy._core import multiarray  # numpy >= 2 (numpy.core is a deprecated alias)
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("builtins", "bytes"): _empty_bytes,
        ("__builtin__", "bytes"): _empty_bytes,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    return allowed


class _CifarUnpickler(pickle.Unpickler):
    """Admits only what the official batches hold; any other global is refused before use.

    Pickle runs whatever callable a file names, so a downloaded batch must never reach
    the plain ``pickle.load``.
    """

    def __init__(self, file: IO[bytes], where: str) -> None:
        super().__init__(file, encoding="bytes")  # the batches are Python 2 pickles
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _allowed_globals()[(module, name)]
        except KeyError:
            raise DataError(f"{self._where}: refused to unpickle the global {module}.{name} "
                            f"(a CIFAR-10 batch holds only dicts, lists, bytes, ints and "
                            f"numpy arrays)") from None


def unpickle_batch(where: str, raw: bytes) -> object:
    """Load one python-form batch from ``raw`` through the restricted unpickler."""
    try:
        return _CifarUnpickler(io.BytesIO(raw), where).load()
    except DataError:
        raise
    except Exception as err:  # a damaged pickle can fail in nearly any way; all mean "corrupt"
        raise DataError(f"{where}: not a readable CIFAR-10 python batch, truncated or corrupt "
                        f"({' '.join(f'{type(err).__name__}: {err}'.split())})") from None
