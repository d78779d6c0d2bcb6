"""Reading a house CSV at a bounded cost: the header checked, then the chosen columns parsed
row by row straight into float arrays (a row's text is dropped as soon as it is parsed).

What a file can make us allocate (rule 12) grows with its size only: a row, with the line
breaks quoted inside it, is at most ``MAX_ROW_CHARS`` characters and is read with
``readline(limit)``, so one enormous line is refused before it is held whole; a field is at
most the csv module's limit (131,072 characters); a header has at most ``MAX_COLUMNS`` names;
a parsed value costs 8 bytes, and every value costs the file at least its separator.
"""

from __future__ import annotations

import csv
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from dlcli.errors import DataError

Columns = dict[str, np.ndarray]
# (header) -> (columns parsed strictly: a bad value fails or drops the row,
#              columns parsed loosely: a bad value becomes nan)
Chooser = Callable[[list[str]], tuple[list[str], list[str]]]

MAX_ROW_CHARS = 1 << 20  # the Kaggle file's rows are ~150 characters
MAX_COLUMNS = 1000  # it has 21
_KAGGLE_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T000000")  # 20141013T000000
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def show(text: str, limit: int = 40) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters: one line, whatever the file held."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def show_names(names: Sequence[str], limit: int = 25) -> str:
    """Column names for a message: at most ``limit`` of them, each cut short."""
    shown = ", ".join(n if n.isprintable() and len(n) <= 40 else show(n) for n in names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


class _Lines:
    """The file's lines for ``csv.reader``, refusing a row longer than ``MAX_ROW_CHARS``;
    ``start_row()`` resets the count, so a row spanning lines (quoted breaks) counts whole."""

    def __init__(self, f: IO[str], src: str) -> None:
        self.f, self.src = f, src
        self.line = 0  # lines handed out so far
        self.row_chars = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def start_row(self) -> None:
        self.row_chars = 0

    def __next__(self) -> str:
        try:
            text = self.f.readline(MAX_ROW_CHARS + 1)
        except UnicodeDecodeError as err:
            raise DataError(f"{self.src}: not UTF-8 text near line {self.line + 1} "
                            f"({err.reason}: byte {err.object[err.start]:#04x})") from err
        if not text:
            raise StopIteration
        self.line += 1
        self.row_chars += len(text)
        if self.row_chars > MAX_ROW_CHARS:
            raise DataError(f"{self.src}: line {self.line}: a row longer than "
                            f"{MAX_ROW_CHARS:,} characters")
        return text


def _records(lines: _Lines) -> Iterator[tuple[list[str], int]]:
    """Non-blank CSV records and the line each one ends on."""
    reader = csv.reader(lines, strict=True)
    while True:
        lines.start_row()
        first = lines.line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            if str(err) == "unexpected end of data":
                raise DataError(f"{lines.src}: line {first}: a quote that never closes (the "
                                "file ends inside a quoted field)") from err
            if "field limit" in str(err):
                raise DataError(f"{lines.src}: line {first}: a field longer than "
                                f"{csv.field_size_limit():,} characters (a quote that never "
                                "closes?)") from err
            raise DataError(f"{lines.src}: line {lines.line}: malformed CSV ({err})") from err
        if row:
            yield row, lines.line


def check_header(src: str, header: list[str]) -> None:
    if len(header) > MAX_COLUMNS:
        raise DataError(f"{src}: the header has {len(header):,} columns; at most "
                        f"{MAX_COLUMNS} are read")
    if "price" not in header:
        raise DataError(f"{src}: no 'price' column in the header; found {show_names(header)}")
    dup = [name for name, k in Counter(header).items() if k > 1]
    if dup:
        raise DataError(f"{src}: column {show(dup[0])} appears more than once in the header")


def number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None  # 'nan' and 'inf' count as missing


def day(text: str) -> int | None:
    """Days since 1970-01-01 of ``20141013T000000`` or ``2014-10-13`` (ASCII digits only:
    numpy alone would also read years like ``9999999999``)."""
    match = _KAGGLE_DATE.fullmatch(text.strip()) or _ISO_DATE.fullmatch(text.strip())
    if match is None:
        return None
    try:
        return int(np.datetime64("-".join(match.groups()), "D").astype(np.int64))
    except ValueError:  # month 13, February 30, ...
        return None


class _Sink:
    """Parsed values per column, 8 bytes each: strict ones (a bad value refuses the row) and
    loose ones (a bad value is nan)."""

    def __init__(self, header: list[str], strict: list[str], loose: list[str]) -> None:
        # Dates as float64 days too: exact for any date a file can spell (|days| < 2**53).
        self.strict = [(n, header.index(n), array("d")) for n in strict]
        self.loose = [(header.index(n), array("d")) for n in loose]
        self.names = [*strict, *loose]

    def add(self, row: list[str]) -> tuple[str, str] | None:
        """Append ``row``'s values, or return ``(column, text)`` of its first bad value."""
        values: list[float] = []
        for name, i, _ in self.strict:
            value: float | None = day(row[i]) if name == "date" else number(row[i])
            if value is None:
                return name, row[i]
            values.append(value)
        for value, (_, _, col) in zip(values, self.strict, strict=True):
            col.append(value)
        for i, col in self.loose:
            loose = number(row[i])
            col.append(np.nan if loose is None else loose)
        return None

    def columns(self) -> Columns:
        arrays = [np.frombuffer(col, np.float64).astype(np.int64).astype("datetime64[D]")
                  if n == "date"
                  else np.frombuffer(col, np.float64) for n, _, col in self.strict]
        arrays += [np.frombuffer(col, np.float64) for _, col in self.loose]
        return dict(zip(self.names, arrays, strict=True))


def read_csv_columns(path: Path, choose: Chooser, *, drop_invalid: bool
                     ) -> tuple[list[str], Columns, int]:
    """The header, the columns ``choose(header)`` names (``(N,)`` float64, ``date`` as
    ``datetime64[D]``) and how many rows were dropped. Rows are numbered from 1 below the
    header; a bad value names its row, line and column, or with ``drop_invalid`` drops the row.
    """
    src = str(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            records = _records(_Lines(f, src))
            first = next(records, None)
            if first is None:
                raise DataError(f"{src}: the file is empty; expected a header line and data rows")
            header = [h.strip() for h in first[0]]
            check_header(src, header)
            sink = _Sink(header, *choose(header))
            n_rows = 0
            for n_rows, (row, line_no) in enumerate(records, start=1):
                if len(row) != len(header):
                    raise DataError(f"{src}: row {n_rows} (line {line_no}) has {len(row)} "
                                    f"fields, expected {len(header)} as in the header")
                bad = sink.add(row)
                if bad is not None and not drop_invalid:
                    what = ("a date like 20141013T000000 or 2014-10-13" if bad[0] == "date"
                            else "a number")
                    raise DataError(f"{src}: row {n_rows} (line {line_no}), column "
                                    f"{show(bad[0])}: expected {what}, got {show(bad[1])}")
    except OSError as err:
        raise DataError(f"{src}: cannot read the CSV ({err.strerror or err})") from err
    if n_rows == 0:
        raise DataError(f"{src}: the header has no data rows below it")
    columns = sink.columns()
    kept = len(columns["price"])
    if kept == 0:
        raise DataError(f"{src}: all {n_rows} rows have a missing or invalid value")
    return header, columns, n_rows - kept
