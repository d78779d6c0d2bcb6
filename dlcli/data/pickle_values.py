"""The values a CIFAR-10 batch's pickle may build, and the only calls it may make.

``pickle_reader`` runs the opcodes; this module says what each container may hold (lists:
ints or names; tuples: leaves, 2 deep at most; the one dict: strings, lists, the array) and
what its REDUCE and BUILD opcodes may do.
A global the file names becomes a ``Token``, which is only ever compared: nothing is imported
or called. The calls admitted are the ones numpy writes for one uint8 array, and ``call`` /
``set_state`` make their results themselves:

* ``_reconstruct(ndarray, (0,), b'b')`` + BUILD ``(1, (n, 3072), dtype('u1'), False, raw)``
  (the official files; protocols 2-4), or ``_frombuffer(raw, dtype('u1'), (n, 3072), 'C')``
  (protocol 5): the array is ``np.frombuffer(raw, uint8).reshape(n, 3072)``, made only when
  ``len(raw) == n * 3072``; any other dtype, shape, order or length is refused;
* ``dtype('u1', False, True)`` + BUILD ``(3, '|', None, None, None, -1, -1, 0)``;
* ``_codecs.encode(text, 'latin1')`` and ``bytes()``: how Python 3 writes bytes under protocol 2.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

__all__ = ["Blob", "Corrupt", "DType", "Pixels", "Refused", "Token", "call", "check_dict",
           "check_list", "check_tuple", "describe", "global_token", "set_state"]

ROW_BYTES = 3072


class Refused(Exception):
    """The bytes are a pickle, but not of a CIFAR-10 batch (the caller adds file and byte)."""


class Corrupt(Refused):
    """The bytes are not a readable pickle at all (truncated, garbage)."""


@dataclass(frozen=True)
class Token:
    """A global the file named: only ever compared, never imported or called."""

    name: str


RECONSTRUCT, NDARRAY = Token("numpy.core.multiarray._reconstruct"), Token("numpy.ndarray")
DTYPE, FROMBUFFER = Token("numpy.dtype"), Token("numpy.core.numeric._frombuffer")
ENCODE, BYTES = Token("_codecs.encode"), Token("builtins.bytes")
_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): RECONSTRUCT,  # the official files
    ("numpy._core.multiarray", "_reconstruct"): RECONSTRUCT,  # numpy 2
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): DTYPE,
    ("numpy.core.numeric", "_frombuffer"): FROMBUFFER,  # numpy under protocol 5
    ("numpy._core.numeric", "_frombuffer"): FROMBUFFER,
    ("_codecs", "encode"): ENCODE,  # Python 3 writes bytes so under protocol 2
    ("builtins", "bytes"): BYTES,  # ... and b"" as bytes()
    ("__builtin__", "bytes"): BYTES,
}
_U1_ARGS = (("u1", False, True), (b"u1", False, True))
_U1_STATES = ((3, "|", None, None, None, -1, -1, 0), (3, b"|", None, None, None, -1, -1, 0))


class Blob:
    """A long byte string left in the file's buffer (no copy); it can only become pixels."""

    def __init__(self, view: memoryview) -> None:
        self.view = view


class DType:
    """numpy.dtype('u1'), the only dtype admitted; usable once its state is set."""

    built = False


class Pixels:
    """The image array: ``x`` (n, 3072) uint8 C-contiguous, None until its BUILD."""

    def __init__(self, x: np.ndarray | None = None) -> None:
        self.x = x


LEAVES = (int, bool, type(None), bytes, str, Token)
SHAREABLE = (*LEAVES, Blob)  # what a memo GET may repeat: nothing that holds other values


def check_tuple(items: list[object]) -> None:
    """A tuple holds leaves, the dtype, long strings or tuples of those: 2 deep at most."""
    for item in items:
        for v in item if isinstance(item, tuple) else (item,):
            if isinstance(v, tuple):
                raise Refused("tuples nested more than 2 deep (a CIFAR-10 batch's never are)")
            if not isinstance(v, (*SHAREABLE, DType)):
                raise Refused(f"a tuple holding {describe(v)} (tuples in a CIFAR-10 batch hold "
                              f"numbers, strings or tuples of them)")


def check_list(target: object, items: list[object]) -> None:
    """A list holds int labels or file names, nothing that nests."""
    if not isinstance(target, list):
        raise Refused(f"APPEND to {describe(target)}, expected a list")
    for item in items:
        if type(item) not in (int, bytes, str):
            raise Refused(f"a list item that is {describe(item)} (the lists of a CIFAR-10 batch "
                          f"hold int labels or file names)")


def check_dict(target: object, items: list[object]) -> dict[object, object]:
    """The batch dict: string keys, each once; values strings, lists or the pixel array."""
    if not isinstance(target, dict) or len(items) % 2:
        raise Refused(f"SETITEM on {describe(target)}, expected the batch dict")
    pairs: dict[object, object] = {}
    for key, value in zip(items[::2], items[1::2], strict=True):
        if not isinstance(key, (bytes, str)):
            raise Refused(f"a dict key that is {describe(key)}, expected a string")
        if key in target or key in pairs:
            raise Refused(f"the dict key {describe(key)} twice")
        if not isinstance(value, (bytes, str, list, Pixels)):
            raise Refused(f"a dict value that is {describe(value)} (a CIFAR-10 batch holds "
                          f"strings, lists and the pixel array)")
        pairs[key] = value
    return pairs


def global_token(module: object, name: object) -> Token:
    """The token for an admitted global; any other name is refused."""
    if isinstance(module, str) and isinstance(name, str):
        token = _GLOBALS.get((module, name))
        if token is not None:
            return token
        shown = f"{module}.{name}"
        shown = shown if shown.isprintable() and len(shown) <= 200 else repr(shown[:200])
    else:
        shown = f"{describe(module)}.{describe(name)}"
    raise Refused(f"refused to unpickle the global {shown}, which a CIFAR-10 batch never names")


def call(func: object, args: object) -> tuple[object, int]:
    """REDUCE: (the value made, the bytes it costs), for the few calls admitted."""
    if not isinstance(args, tuple):
        raise Refused(f"REDUCE with {describe(args)} as arguments")
    if func is RECONSTRUCT and len(args) == 3 and args[0] is NDARRAY and args[1] == (0,) \
            and args[2] in ("b", b"b"):
        return Pixels(), 200  # numpy's empty array, filled by the BUILD that follows
    if func is DTYPE and args in _U1_ARGS:
        return DType(), 100
    if func is FROMBUFFER and len(args) == 4 and args[3] == "C":
        return Pixels(_pixels(args[0], args[1], args[2])), 200
    if func is ENCODE and len(args) == 2 and isinstance(args[0], str) \
            and args[1] in ("latin1", "latin-1"):
        try:
            value = args[0].encode("latin-1")
        except UnicodeEncodeError:
            raise Refused("_codecs.encode of text beyond latin-1") from None
        return value, sys.getsizeof(value)
    if func is BYTES and args == ():
        return b"", 0
    shown = ", ".join(describe(a) for a in args[:5])
    raise Refused(f"refused to call {describe(func)}({shown}) (a CIFAR-10 batch only rebuilds "
                  f"a uint8 array)")


def set_state(target: object, state: object) -> None:
    """BUILD: complete a dtype or an array; anything else is refused."""
    if isinstance(target, DType) and not target.built and state in _U1_STATES:
        target.built = True
    elif isinstance(target, Pixels) and target.x is None and isinstance(state, tuple) \
            and len(state) == 5 and state[0] == 1 and state[3] is False:
        target.x = _pixels(state[4], state[2], state[1])
    else:
        shown = ", ".join(describe(s) for s in state[:8]) if isinstance(state, tuple) else ""
        raise Refused(f"refused to set the state of {describe(target)} to ({shown}) (a uint8 "
                      f"array in C order is all a CIFAR-10 batch rebuilds)")


def _pixels(raw: object, dtype: object, shape: object) -> np.ndarray:
    """raw -> (n, 3072) uint8, refusing any other dtype, shape or length."""
    if not (isinstance(dtype, DType) and dtype.built):
        raise Refused(f"the array's dtype is {describe(dtype)}, expected numpy.dtype('u1')")
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(type(d) is int for d in shape)):
        raise Refused(f"the array's shape is {describe(shape)}, expected (N, {ROW_BYTES})")
    n, cols = shape
    if cols != ROW_BYTES or n < 1:
        raise Refused(f"an array of shape {shape}, expected (N, {ROW_BYTES}): 32x32 pixels x "
                      f"3 channels per row")
    buffer = raw.view if isinstance(raw, Blob) else raw
    if not isinstance(buffer, (bytes, memoryview)) or len(buffer) != n * ROW_BYTES:
        size = f"{len(buffer)} bytes" if isinstance(buffer, (bytes, memoryview)) else (
            describe(raw))
        raise Refused(f"the array's data is {size}, expected {n} x {ROW_BYTES} bytes")
    return np.frombuffer(buffer, dtype=np.uint8).reshape(n, ROW_BYTES)


def describe(value: object) -> str:
    """A short, one-line name for a value, for messages (never its whole content)."""
    if isinstance(value, (int, bool, type(None))):
        return repr(value)
    if isinstance(value, (bytes, str)):
        shown = repr(value) if len(value) <= 24 else f"of length {len(value)}"
        return f"{type(value).__name__} {shown}"
    if isinstance(value, Token):
        return f"the global {value.name}"
    names = {Blob: "a long byte string", DType: "a dtype", Pixels: "an array"}
    return names.get(type(value), f"a {type(value).__name__}")
