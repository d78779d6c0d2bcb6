"""Run a CIFAR-10 batch's pickle on a small stack machine of our own, calling nothing it names.

A pickle is a program; ``pickle.load`` runs it and calls whatever the file names. This reader
interprets the opcodes of protocols 2-5 that the official batches and numpy's pickles of a
uint8 array use, and no others (``pickle_values`` says what REDUCE and BUILD may do: globals
are mere tokens, the only array is one it makes). It fixes the shapes values may take and
bounds what they cost:

* lists hold ints or short strings, tuples hold leaves or tuples of leaves, the one dict holds
  strings, lists or the array: nothing nests deeper than 3, nothing is walked recursively;
* a memo GET may repeat only a leaf (a string, an int, a global): a container is never shared;
* the stack holds at most 4096 values (writers batch by 1000), and everything built is charged
  against 3x the file's size (plus 64 KiB), so no file can make it allocate more;
* a byte string longer than 4 KiB stays a view of the file's buffer (the pixels: no copy).

``run(raw)`` gives the top-level dict, with string keys and values that are strings, lists or
a ``Pixels`` (whose ``x`` is the (n, 3072) uint8 array).
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Callable
from typing import cast

from dlcli.data import pickle_values as pv  # what the values are, what REDUCE and BUILD do
from dlcli.data.pickle_values import Corrupt, Refused, describe

__all__ = ["run"]

MAX_STACK = 4096  # pickle writers batch APPENDS/SETITEMS by 1000 items
MAX_MARKS = 16  # the official batches nest 3 marks deep
BUDGET_FACTOR = 3  # what a file may make us build, in multiples of its size (+ BUDGET_SLACK)
BUDGET_SLACK = 64 * 1024
BLOB_BYTES = 4096  # longer byte strings stay views of the file (only pixels are that long)
_WIDE_UTF8 = re.compile(rb"[\xc4-\xff]")  # lead bytes of characters beyond U+00FF
_BYTE = struct.Struct("<B")


class _Machine:
    """The stack, marks, memo and budget of one run; the opcode handlers are in ``_OPS``."""

    def __init__(self, raw: bytes | bytearray) -> None:
        self.raw = raw
        self.mv = memoryview(raw)
        self.pos = 0
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo: list[object] = []
        self.left = BUDGET_FACTOR * len(raw) + BUDGET_SLACK

    # --- reading an opcode's argument ---
    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.mv):
            raise Corrupt(f"the file ends inside an opcode's {n}-byte argument")
        self.pos += n
        return self.mv[self.pos - n:self.pos]

    def skip(self, n: int) -> None:
        self.take(n)

    def number(self, fmt: struct.Struct) -> int:
        if self.pos + fmt.size > len(self.mv):
            raise Corrupt(f"the file ends inside an opcode's {fmt.size}-byte argument")
        (value,) = fmt.unpack_from(self.mv, self.pos)
        self.pos += fmt.size
        return int(value)

    def line(self) -> str:
        end = self.raw.find(b"\n", self.pos, self.pos + 256)
        if end < 0:
            raise Corrupt("a GLOBAL name without its newline")
        text = bytes(self.take(end - self.pos + 1)[:-1]).decode("utf-8", "backslashreplace")
        return text if text.isprintable() else repr(text)

    # --- the budget, the stack and the memo ---
    def charge(self, nbytes: int) -> None:
        self.left -= nbytes
        if self.left < 0:
            raise Refused(f"builds more than {BUDGET_FACTOR}x the file's size in values "
                          f"(a CIFAR-10 batch is almost all pixel bytes)")

    def push(self, value: object) -> None:
        if len(self.stack) >= MAX_STACK:
            raise Refused(f"more than {MAX_STACK} values on the pickle stack")
        self.stack.append(value)

    def _check_depth(self, n: int) -> None:
        if len(self.stack) - (self.marks[-1] if self.marks else 0) < n:
            raise Corrupt("an opcode finds too few values on the pickle stack")

    def pop(self, n: int = 1) -> list[object]:
        """The top ``n`` values (above the last MARK), in the order they were pushed."""
        self._check_depth(n)
        items = self.stack[-n:]
        del self.stack[-n:]
        return items

    def top(self) -> object:
        self._check_depth(1)
        return self.stack[-1]

    def pop_mark(self) -> list[object]:
        if not self.marks:
            raise Corrupt("an opcode needs a MARK that was never set")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def leaf(self, value: object) -> None:
        if isinstance(value, (bytes, str)):
            self.charge(sys.getsizeof(value))
        elif isinstance(value, int) and not -5 <= value <= 256:  # small ints are shared
            self.charge(32)
        self.push(value)

    def put(self, index: int) -> None:
        value = self.top()
        if index > len(self.memo):
            raise Refused(f"memo PUT to index {index} out of order (next is {len(self.memo)})")
        if index == len(self.memo):
            self.charge(9)
            self.memo.append(value)
        self.memo[index] = value

    def get(self, index: int) -> None:
        if index >= len(self.memo):
            raise Corrupt(f"a memo GET of index {index}, never PUT")
        value = self.memo[index]
        if not isinstance(value, pv.SHAREABLE):
            raise Refused(f"a second reference (memo GET) to {describe(value)}: the values of a "
                          f"CIFAR-10 batch are never shared")
        self.push(value)

    # --- building values (pickle_values checks what each may hold) ---
    def tuple_of(self, items: list[object]) -> None:
        pv.check_tuple(items)
        self.charge(40 + 8 * len(items))
        self.push(tuple(items))

    def append(self, items: list[object]) -> None:
        target = self.top()
        pv.check_list(target, items)
        self.charge(9 * len(items))
        cast(list, target).extend(items)  # a list: checked above

    def setitems(self, items: list[object]) -> None:
        target = self.top()
        pairs = pv.check_dict(target, items)
        self.charge(100 * len(pairs))
        cast(dict, target).update(pairs)  # a dict: checked above


def _reduce(m: _Machine) -> None:
    func, args = m.pop(2)
    value, cost = pv.call(func, args)
    m.charge(cost)
    m.push(value)


def _build(m: _Machine) -> None:
    target, state = m.pop(2)
    pv.set_state(target, state)
    m.push(target)


def _text(m: _Machine, n: int) -> None:
    view = m.take(n)
    if n > BLOB_BYTES and _WIDE_UTF8.search(view):  # it would take up to 4 bytes a character
        raise Refused(f"a {n}-byte text with characters beyond U+00FF")
    try:
        m.leaf(str(view, "utf-8", "surrogatepass"))
    except UnicodeDecodeError:
        raise Corrupt("a text that is not UTF-8") from None


def _binary(m: _Machine, n: int) -> None:
    view = m.take(n)
    if n > BLOB_BYTES:
        m.charge(200)
        m.push(pv.Blob(view))  # pixels: a view of the file's own buffer, not a copy
    else:
        m.leaf(bytes(view))


def _stop(m: _Machine) -> None:
    if m.marks:
        raise Corrupt("a MARK still open at the pickle's STOP")
    if len(m.stack) != 1 or not isinstance(m.stack[0], dict):
        held = describe(m.stack[0]) if len(m.stack) == 1 else f"{len(m.stack)} values"
        raise Refused(f"the pickle holds {held}, expected the batch dict")
    if m.pos != len(m.mv):
        raise Corrupt(f"{len(m.mv) - m.pos} bytes after the end of the pickle")


def _mark(m: _Machine) -> None:
    if len(m.marks) >= MAX_MARKS:
        raise Refused(f"MARKs nested more than {MAX_MARKS} deep")
    m.marks.append(len(m.stack))


def _proto(m: _Machine) -> None:
    version = m.number(_BYTE)
    if m.pos != 2 or not 2 <= version <= 5:
        raise Corrupt(f"PROTO {version}, expected protocol 2-5 as the first opcode")


def _new(make: Callable[[], object]) -> Callable[[_Machine], None]:
    def op(m: _Machine) -> None:
        m.charge(64)
        m.push(make())
    return op


def _arg(fmt: str, then: Callable[[_Machine, int], None]) -> Callable[[_Machine], None]:
    """An opcode whose argument is one number, handed to ``then``."""
    packed = struct.Struct(fmt)
    return lambda m: then(m, m.number(packed))


def _tuple_n(n: int) -> Callable[[_Machine], None]:
    return lambda m: m.tuple_of(m.pop(n))


def _stack_global(m: _Machine) -> None:
    module, name = m.pop(2)
    m.push(pv.global_token(module, name))


_OPS: dict[int, Callable[[_Machine], None]] = {
    0x80: _proto,
    0x95: lambda m: m.skip(8),  # FRAME: only a hint for buffered readers
    ord("("): _mark,
    ord("}"): _new(dict),
    ord("]"): _new(list),
    ord(")"): lambda m: m.push(()),
    ord("t"): lambda m: m.tuple_of(m.pop_mark()),
    0x85: _tuple_n(1),
    0x86: _tuple_n(2),
    0x87: _tuple_n(3),
    ord("a"): lambda m: m.append(m.pop(1)),
    ord("e"): lambda m: m.append(m.pop_mark()),
    ord("s"): lambda m: m.setitems(m.pop(2)),
    ord("u"): lambda m: m.setitems(m.pop_mark()),
    ord("K"): _arg("<B", _Machine.leaf),
    ord("M"): _arg("<H", _Machine.leaf),
    ord("J"): _arg("<i", _Machine.leaf),
    ord("N"): lambda m: m.push(None),
    0x88: lambda m: m.push(True),
    0x89: lambda m: m.push(False),
    ord("U"): _arg("<B", _binary),  # SHORT_BINSTRING: a Python 2 str, read as bytes
    ord("T"): _arg("<i", _binary),  # BINSTRING
    ord("C"): _arg("<B", _binary),  # SHORT_BINBYTES
    ord("B"): _arg("<I", _binary),  # BINBYTES
    0x8E: _arg("<Q", _binary),  # BINBYTES8
    0x96: _arg("<Q", _binary),  # BYTEARRAY8 (numpy's protocol 5; never written to)
    0x8C: _arg("<B", _text),  # SHORT_BINUNICODE
    ord("X"): _arg("<I", _text),  # BINUNICODE
    0x8D: _arg("<Q", _text),  # BINUNICODE8
    ord("q"): _arg("<B", _Machine.put),  # BINPUT
    ord("r"): _arg("<I", _Machine.put),  # LONG_BINPUT
    0x94: lambda m: m.put(len(m.memo)),  # MEMOIZE
    ord("h"): _arg("<B", _Machine.get),  # BINGET
    ord("j"): _arg("<I", _Machine.get),  # LONG_BINGET
    ord("c"): lambda m: m.push(pv.global_token(m.line(), m.line())),
    0x93: _stack_global,
    ord("R"): _reduce,
    ord("b"): _build,
}


def run(raw: bytes | bytearray) -> dict[bytes | str, object]:
    """Interpret ``raw`` -> the batch dict (string keys; values strings, lists, ``pv.Pixels``).

    Raises Refused or Corrupt with ``args == (reason, offset of the opcode at fault)``.
    """
    m = _Machine(raw)
    at = 0
    try:
        while True:
            at = m.pos
            if at >= len(m.mv):
                raise Corrupt("the file ends before the pickle's STOP")
            code = m.mv[at]
            m.pos += 1
            if code == ord("."):
                _stop(m)
                return m.stack[0]  # type: ignore[return-value]  # a dict, checked by _stop
            if at == 0 and code != 0x80:
                raise Corrupt(f"starts with byte 0x{code:02x}, not a pickle of protocol 2-5")
            op = _OPS.get(code)
            if op is None:
                raise Refused(f"refused the pickle opcode {_opname(code)}, which a CIFAR-10 "
                              f"batch never uses")
            op(m)
    except Refused as err:
        raise type(err)(str(err), at) from None


def _opname(code: int) -> str:
    import pickletools

    names = {op.code: op.name for op in pickletools.opcodes}
    return names.get(chr(code), f"0x{code:02x} (no such opcode)")
