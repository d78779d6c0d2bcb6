"""The house CSV's fault matrix: whatever the bytes, a valid table or a one-line DataError.

Never another exception, never a traceback, never an allocation out of proportion to the file.
Hypothesis draws rows, cells, line endings, BOMs, truncations, mutations and raw bytes; the
named cases below pin the ones a person meets (an empty file, a quote that never closes, ...).
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcli.data.houses import (
    STANDARD,
    HouseTable,
    dataset_from_parts,
    houses_dataset,
    read_houses_csv,
)
from dlcli.errors import DataError
from tests.conftest import write_kc_csv

ROOT = Path(__file__).resolve().parents[1]
DLCLI = Path(sys.executable).with_name("dlcli")  # the console script of this environment
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
COLUMNS = ["id", "date", "price", *STANDARD, "price_per_sqft", "Unnamed: 0", "garage", "city"]


def load(path: Path, **kwargs) -> HouseTable | None:
    """Read ``path`` and build a Dataset from it; ``None`` when it is refused with a DataError.

    Any other exception fails the test, and so does a refusal that is not one line naming the
    file."""
    try:
        table = read_houses_csv(path, **kwargs)
        assert table.X.shape == (len(table.price), len(table.feature_names))
        assert np.isfinite(table.X).all() and np.isfinite(table.price).all()
        n = len(table.price)
        ds = houses_dataset(table, num_train=max(1, n - 2), num_val=min(1, n - 1),
                            num_test=1 if n > 2 else 0, log_target=False,
                            rng=np.random.default_rng(0))
        for part in (ds.X_train, ds.y_train, ds.X_val, ds.y_val, ds.X_test, ds.y_test):
            assert np.isfinite(part).all()
        return table
    except DataError as err:
        msg = str(err)
        assert "\n" not in msg and "\r" not in msg, msg
        assert msg.startswith(str(path)), msg
        assert len(msg) < 2000, msg[:300]
        return None


def peak_bytes(path: Path) -> int:
    """The peak memory traced while reading ``path`` (refused or not)."""
    tracemalloc.start()
    try:
        load(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---- drawn inputs --------------------------------------------------------------------------

NUMBER = st.one_of(st.integers(-10**6, 10**7).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["1e308", "-1e308", "1e400", "0", "2.25", "1_000", " 7 "]))
GOOD = {"date": st.sampled_from(["20141013T000000", "2014-10-13", "2015-02-25"]),
        "zipcode": st.sampled_from(["98178", '"98125"', "98028"]),
        "price": st.integers(1, 10**7).map(str)}
ODD = st.one_of(NUMBER, st.text(max_size=12),
                st.sampled_from(["", '"', '""', '"1"', "20141013T000000", "2014-10-13",
                                 "2014-13-45", "9999999999", "abc", "\x00", "nan", "\ufeff1",
                                 '"a\nb"', '"1,2"']))


def cell(name: str, odd: int) -> st.SearchStrategy[str]:
    """A plausible value for the column, or (``odd`` times in 100) anything."""
    good = GOOD.get(name, st.integers(0, 5000).map(str) | st.floats(-200, 1e5).map(repr))
    return st.integers(0, 99).flatmap(lambda k: ODD if k < odd else good)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A header drawn from the known, extra and made-up column names (mostly with ``price``),
    rows of drawn cells (sometimes one short or long), one line ending, maybe a BOM, maybe
    cut off anywhere."""
    known = st.sampled_from(COLUMNS)
    made_up = st.text("abcxyz_ :", min_size=1, max_size=8)
    header = draw(st.lists(st.one_of(known, known, known, made_up, st.text(max_size=6)),
                           min_size=1, max_size=8, unique=True))
    for name in ("price", draw(st.sampled_from(STANDARD))):  # mostly: a price and a feature
        if draw(st.integers(0, 9)) != 9 and name not in header:
            header.insert(draw(st.integers(0, len(header))), name)
    odd = draw(st.sampled_from([0, 0, 3, 30]))
    rows = [[draw(cell(name, odd)) for name in header] for _ in range(draw(st.integers(1, 12)))]
    if rows and draw(st.integers(0, 3)) == 3:  # one row a field short or long
        at = draw(st.integers(0, len(rows) - 1))
        rows[at] = rows[at][:-1] if draw(st.booleans()) else [*rows[at], "1"]
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = end.join(",".join(r) for r in [header, *rows]) + draw(st.sampled_from([end, ""]))
    data = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8", "replace")
    if draw(st.integers(0, 3)) == 3:
        data = data[:draw(st.integers(0, len(data)))]
    return data


@st.composite
def mutated_kc(draw: st.DrawFn) -> bytes:
    """The original format (20 rows) with a few bytes replaced, inserted or deleted."""
    data = bytearray(KC_BYTES)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        byte = draw(st.sampled_from(b',"\n\r\x00\xff\xfe\xc3 a9.-e'))
        kind = draw(st.sampled_from(["replace", "insert", "delete"]))
        if kind == "replace":
            data[at] = byte
        elif kind == "insert":
            data.insert(at, byte)
        else:
            del data[at]
    return bytes(data)


def _kc_bytes() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return write_kc_csv(Path(tmp) / "kc.csv", 20).read_bytes()


KC_BYTES = _kc_bytes()


@FUZZ
@given(data=csv_files(), named=st.lists(st.sampled_from(COLUMNS[3:]), max_size=3, unique=True))
def test_drawn_csv_files(tmp_path: Path, data: bytes, named: list[str]) -> None:
    path = tmp_path / "drawn.csv"
    path.write_bytes(data)
    load(path)
    load(path, drop_invalid=True, date="days", zipcode="drop")
    if named:
        load(path, features=named, drop_invalid=True)


@FUZZ
@given(data=mutated_kc())
def test_mutated_original_files(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "mutated.csv"
    path.write_bytes(data)
    load(path)
    load(path, drop_invalid=True)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600), prefix=st.booleans())
def test_random_bytes(tmp_path: Path, data: bytes, prefix: bool) -> None:
    path = tmp_path / "random.csv"
    path.write_bytes((b"price,sqft_living\n" if prefix else b"") + data)
    load(path)


# ---- named cases ---------------------------------------------------------------------------

def kc_text(tmp_path: Path, n: int = 20) -> str:
    return write_kc_csv(tmp_path / "kc.csv", n).read_text()


@pytest.mark.parametrize(("make", "expected"), [
    (lambda kc: b"", "the file is empty"),
    (lambda kc: b"\xef\xbb\xbf", "the file is empty"),
    (lambda kc: b"\n\r\n\n", "the file is empty"),
    (lambda kc: kc.splitlines()[0].encode() + b"\n", "no data rows"),
    (lambda kc: kc.replace("price", "cost", 1).encode(), "no 'price' column"),
    (lambda kc: b"\xff\xfeprice,sqft_living\n1,2\n", "not UTF-8"),
    (lambda kc: kc.encode()[:300] + b"\xe9t\xe9\n" + kc.encode()[300:], "not UTF-8"),
    (lambda kc: b"price,sqft_living\n" + b"1,2\n" * 5 + b'3,"4\n' + b"5,6\n" * 50,
     "never closes"),
    (lambda kc: b"price,sqft_living\n1,2\n3,4\x00\n", r"column 'sqft_living': expected a number"),
    (lambda kc: b"price,sqft_living\n1,2\n3," + b"9" * 200_000 + b"\n", "longer than"),
    (lambda kc: b'"pri\nce",sqft\n1,2\n', "no 'price' column"),
])
def test_named_faults_are_one_line_data_errors(tmp_path: Path, make, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(make(kc_text(tmp_path)))
    with pytest.raises(DataError, match=expected) as err:
        read_houses_csv(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(str(path))


def test_bom_and_crlf_read_like_the_plain_file(tmp_path: Path) -> None:
    text = kc_text(tmp_path)
    plain = read_houses_csv(write_kc_csv(tmp_path / "plain.csv", 20))
    for name, data in [("crlf", text.replace("\n", "\r\n").encode()),
                       ("bom", b"\xef\xbb\xbf" + text.encode()),
                       ("both", b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()),
                       ("no-final-newline", text.rstrip("\n").encode()),
                       ("blank-lines", text.replace("\n", "\n\n").encode())]:
        path = tmp_path / f"{name}.csv"
        path.write_bytes(data)
        table = read_houses_csv(path)
        assert table.feature_names == plain.feature_names, name
        assert np.array_equal(table.X, plain.X) and np.array_equal(table.price, plain.price)


def test_text_in_a_numeric_column_names_row_line_and_column(tmp_path: Path) -> None:
    lines = kc_text(tmp_path).splitlines()
    cells = lines[3].split(",")
    cells[lines[0].split(",").index("grade")] = "seven"
    lines[3] = ",".join(cells)
    path = tmp_path / "text.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"row 3 \(line 4\), column 'grade': expected a number, "
                                        "got 'seven'"):
        read_houses_csv(path)
    assert read_houses_csv(path, drop_invalid=True).n_dropped == 1


def test_a_long_value_is_shown_shortened(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("price,sqft_living\n1,2\n3," + "x" * 50_000 + "\n")
    with pytest.raises(DataError, match="expected a number") as err:
        read_houses_csv(path)
    assert len(str(err.value)) < 300


def test_a_huge_number_of_columns_is_refused_cheaply(tmp_path: Path) -> None:
    # 50,000 distinct names, then a repeated one: finding it by counting each name was
    # quadratic (40 s for 60,000 columns); the header is refused by its width first now.
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(50_000))
    path.write_text(f"price,{header},b,b\n" + "1," * 50_002 + "1\n")
    with pytest.raises(DataError, match="the header has 50,003 columns; at most 1000 are read"):
        read_houses_csv(path)
    assert peak_bytes(path) < 16 * path.stat().st_size + 2**20


def test_a_late_duplicate_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(",".join(f"c{i}" for i in range(900)) + ",price,b,b\n1\n")
    with pytest.raises(DataError, match="column 'b' appears more than once"):
        read_houses_csv(path)


def test_one_enormous_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "line.csv"
    path.write_bytes(b"price,sqft_living\n" + b"1," * 4_000_000 + b"\n")
    with pytest.raises(DataError, match="longer than"):
        read_houses_csv(path)
    assert peak_bytes(path) < 2 * path.stat().st_size // 4


def test_many_short_rows_cost_memory_in_proportion(tmp_path: Path) -> None:
    # 2 values in 4 bytes, 8 bytes each: the table alone is 4x the file; the parsed columns
    # live beside it while it is built. Keeping every row's text (as lists of str) was 75x.
    path = tmp_path / "rows.csv"
    path.write_bytes(b"price,sqft_living\n" + b"1,2\n" * 50_000)
    assert read_houses_csv(path).X.shape == (50_000, 1)
    tracemalloc.start()
    try:
        read_houses_csv(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * path.stat().st_size


@pytest.mark.parametrize(("rows", "column"), [
    ([(i + 1, 1e308 * (-1) ** i) for i in range(10)], "sqft_living"),  # the std overflows
    ([(1e308, i) for i in range(10)], "price"),
    ([(i + 1, 5.0 if i < 9 else 1e300) for i in range(10)], "sqft_living"),  # float32 overflows
])
def test_values_too_large_to_scale_are_refused(tmp_path: Path, rows, column: str) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("price,sqft_living\n" + "".join(f"{p!r},{s!r}\n" for p, s in rows))
    parts = (np.arange(9), np.array([9]), np.array([], int))  # the last row validates
    with pytest.raises(DataError, match=f"column '{column}' has values too far apart"):
        dataset_from_parts(read_houses_csv(path), parts, log_target=False)


def test_strange_dates_are_refused_not_misread(tmp_path: Path) -> None:
    for bad in ("9999999999", "-999999999", "+201401-01", "2014-1-1  ", "2014-13-45"):
        path = tmp_path / "date.csv"
        path.write_text(f"price,date\n1,2014-01-01\n2,{bad}\n")
        with pytest.raises(DataError, match="column 'date': expected a date"):
            read_houses_csv(path)


# ---- the CLI: exit 2, one line on stderr -----------------------------------------------------

@pytest.mark.parametrize("data", [
    bytes(range(256)) * 4,
    b'price,sqft_living\n1,2\n3,"4\n' + b"5,6\n" * 40_000,
    b"price,sqft_living\n" + b"9," * 600_000 + b"\n",
])
def test_cli_data_info_is_exit_2_with_one_error_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    res = subprocess.run([str(DLCLI), "data", "info",
                          "configs/houses-linear.yaml", "--set", f"data.path={path}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert "Traceback" not in res.stderr
