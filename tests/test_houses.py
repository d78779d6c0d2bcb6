"""The King County reader, the synthetic twin, splitting, scaling and the regression Dataset."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dlcli.data.houses import (
    STANDARD,
    HouseTable,
    encode_houses,
    houses_dataset,
    read_houses_csv,
    regression_metrics,
    split_indices,
    standardize,
    to_price_units,
)
from dlcli.data.houses_synthetic import houses_synthetic_dataset, synthetic_houses
from dlcli.data.target_leak import leak_reason
from dlcli.errors import DataError
from tests.conftest import write_kc_csv

HEADER = (
    "id,date,price,bedrooms,bathrooms,sqft_living,sqft_lot,floors,waterfront,view,condition,"
    "grade,sqft_above,sqft_basement,yr_built,yr_renovated,zipcode,lat,long,sqft_living15,"
    "sqft_lot15"
)
# Kaggle's own quoting: id, date, floors and zipcode are quoted; one price in e-notation.
ORIGINAL = HEADER + "\n" + "\n".join([
    '"7129300520","20141013T000000",221900,3,1,1180,5650,"1",0,0,3,7,1180,0,1955,0,"98178",'
    '47.5112,-122.257,1340,5650',
    '"6414100192","20141209T000000",538000,3,2.25,2570,7242,"2",0,0,3,7,2170,400,1951,1991,'
    '"98125",47.721,-122.319,1690,7639',
    '"5631500400","20150225T000000",180000,2,1,770,10000,"1",0,0,3,6,770,0,1933,0,"98028",'
    '47.7379,-122.233,2720,8062',
    '"2487200875","20141209T000000",604000,4,3,1960,5000,"1",0,0,5,7,1050,910,1965,0,"98136",'
    '47.5208,-122.393,1360,5000',
    '"1954400510","20150218T000000",1.01e+006,3,2,1680,8080,"1",0,0,3,8,1680,0,1987,0,"98178",'
    '47.6168,-122.045,1800,7503',
]) + "\n"
# A shared copy: columns reordered, most dropped, ISO dates, an extra numeric and a text column.
VARIANT = """price,city,zipcode,sqft_living,date,garage,lat
221900,Seattle,98178,1180,2014-10-13,1,47.5112
538000,Seattle,98125,2570,2014-12-09,2,47.721
180000,Kenmore,98028,770,2015-02-25,0,47.7379
"""


def write(tmp_path: Path, text: str, name: str = "kc.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def with_value(text: str, row: int, column: str, value: str) -> str:
    """``text`` with data row ``row`` (from 1) of ``column`` replaced by ``value``."""
    lines = text.splitlines()
    i = lines[0].split(",").index(column)
    fields = lines[row].split(",")
    fields[i] = value
    lines[row] = ",".join(fields)
    return "\n".join(lines) + "\n"


def col(table: HouseTable, name: str) -> np.ndarray:
    return table.X[:, table.feature_names.index(name)]


def test_original_format_parses_by_header_names(tmp_path: Path) -> None:
    table = read_houses_csv(write(tmp_path, ORIGINAL))
    assert table.X.shape == (5, len(table.feature_names)) and table.X.dtype == np.float64
    assert table.price.tolist() == [221900, 538000, 180000, 604000, 1010000]
    assert table.feature_names[:3] == ["sale_year", "sale_month", "bedrooms"]
    assert "id" not in table.feature_names and "price" not in table.feature_names
    assert col(table, "floors").tolist() == [1, 2, 1, 1, 1]
    assert col(table, "bathrooms")[1] == 2.25 and col(table, "long")[0] == -122.257
    zips = ["zipcode_98028", "zipcode_98125", "zipcode_98136", "zipcode_98178"]
    at = table.feature_names.index("yr_renovated") + 1  # expanded where zipcode stood
    assert table.feature_names[at: at + 5] == [*zips, "lat"]
    assert table.n_dropped == 0


def test_variant_columns_found_by_name_and_extra_columns_ignored(tmp_path: Path) -> None:
    table = read_houses_csv(write(tmp_path, VARIANT))
    assert table.feature_names == ["zipcode_98028", "zipcode_98125", "zipcode_98178",
                                   "sqft_living", "sale_year", "sale_month", "lat"]
    assert table.ignored == ["city", "garage"]
    assert col(table, "sqft_living").tolist() == [1180, 2570, 770]
    assert col(table, "sale_month").tolist() == [10, 12, 2]
    named = read_houses_csv(write(tmp_path, VARIANT), features=["garage", "lat"])
    assert named.feature_names == ["garage", "lat"]
    assert named.ignored == ["city", "zipcode", "sqft_living", "date"]
    with pytest.raises(DataError, match=r"row 1 \(line 2\), column 'city': expected a number"):
        read_houses_csv(write(tmp_path, VARIANT), features=["city"])


def test_date_modes(tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    ym = read_houses_csv(path, date="year-month")
    assert col(ym, "sale_year").tolist() == [2014, 2014, 2015, 2014, 2015]
    assert col(ym, "sale_month").tolist() == [10, 12, 2, 12, 2]
    days = read_houses_csv(path, date="days")
    assert "sale_year" not in days.feature_names
    assert col(days, "sale_days").tolist() == [0, 57, 135, 57, 128]


def test_zipcode_onehot_or_drop(tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    onehot = read_houses_csv(path, zipcode="onehot")
    zips = onehot.X[:, onehot.onehot]
    assert zips.sum(axis=1).tolist() == [1] * 5
    assert col(onehot, "zipcode_98178").tolist() == [1, 0, 0, 0, 1]
    dropped = read_houses_csv(path, zipcode="drop")
    assert not any(n.startswith("zipcode") for n in dropped.feature_names)
    assert not dropped.onehot.any()
    with pytest.raises(DataError, match="data.zipcode is 'drop'"):
        read_houses_csv(path, features=["zipcode"], zipcode="drop")


def test_features_selection_and_unknown_names(tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    table = read_houses_csv(path, features=["lat", "sqft_living", "zipcode"])
    assert table.feature_names == ["lat", "sqft_living", "zipcode_98028", "zipcode_98125",
                                   "zipcode_98136", "zipcode_98178"]
    with pytest.raises(DataError) as err:
        read_houses_csv(path, features=["sqft_livng"])
    msg = str(err.value)
    assert "unknown column 'sqft_livng'" in msg and "did you mean 'sqft_living'?" in msg
    assert "available: date, bedrooms" in msg and "\n" not in msg
    for bad in (["id"], ["price"], [], ["lat", "lat"]):
        with pytest.raises(DataError, match="data.features"):
            read_houses_csv(path, features=bad)


def test_bad_value_names_row_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, with_value(ORIGINAL, 2, "sqft_living", "abc"))
    with pytest.raises(DataError) as err:
        read_houses_csv(path)
    assert str(err.value) == (f"{path}: row 2 (line 3), column 'sqft_living': expected a number, "
                              "got 'abc'")
    with pytest.raises(DataError, match=r"row 4 \(line 5\), column 'price': .*got ''"):
        read_houses_csv(write(tmp_path, with_value(ORIGINAL, 4, "price", "")))
    with pytest.raises(DataError, match=r"column 'date': expected a date like 20141013T000000"):
        read_houses_csv(write(tmp_path, with_value(ORIGINAL, 1, "date", '"2014/10/13"')))
    # A column that is not used is not checked.
    assert read_houses_csv(path, features=["lat"]).X.shape == (5, 1)


def test_drop_invalid_counts_dropped_rows(tmp_path: Path) -> None:
    text = with_value(with_value(ORIGINAL, 2, "sqft_living", "abc"), 5, "lat", "nan")
    table = read_houses_csv(write(tmp_path, text), drop_invalid=True)
    assert table.n_dropped == 2
    assert table.price.tolist() == [221900, 180000, 604000]
    every = "\n".join(line + ",x" if i else line + ",sqft" for i, line in
                      enumerate(VARIANT.splitlines())) + "\n"
    with pytest.raises(DataError, match="all 3 rows have a missing or invalid value"):
        read_houses_csv(write(tmp_path, every), features=["sqft"], drop_invalid=True)


@pytest.mark.parametrize(("text", "expected"), [
    ("", "the file is empty"),
    (HEADER + "\n", "no data rows"),
    ("id,sqft_living\n1,100\n", "no 'price' column"),
    ("id,price,city,garage\n1,100,Kent,2\n", "no King County feature columns"),
    ("price,lat,lat\n1,2,3\n", "'lat' appears more than once"),
    ("price,lat\n1,2\n3\n", r"row 2 \(line 3\) has 1 fields, expected 2"),
])
def test_malformed_files(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(DataError, match=expected):
        read_houses_csv(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        read_houses_csv(tmp_path / "nope.csv")


def test_split_counts_fractions_and_determinism() -> None:
    tr, va, te = split_indices(100, 60, 20, 10, np.random.default_rng(3))
    assert (len(tr), len(va), len(te)) == (60, 20, 10)
    assert len(set(tr) | set(va) | set(te)) == 90
    again = split_indices(100, 60, 20, 10, np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))
    other = split_indices(100, 60, 20, 10, np.random.default_rng(4))
    assert not np.array_equal(tr, other[0])
    parts = split_indices(7, 0.6, 0.2, 0.2, np.random.default_rng(0))
    assert [len(p) for p in parts] == [4, 2, 1]
    assert sorted(np.concatenate(parts).tolist()) == list(range(7))


def test_split_rejects_impossible_requests() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match=r"asked for 80 train \+ 20 val \+ 10 test = 110 rows, "
                                        "but only 100 available"):
        split_indices(100, 80, 20, 10, rng)
    with pytest.raises(DataError, match="num_val=0.01 of 10 rows is less than one row"):
        split_indices(10, 0.5, 0.01, 0.2, rng)
    for bad in (0, -1, 0.0, 1.5, True):
        with pytest.raises(DataError, match="num_train must be a count >= 1"):
            split_indices(10, bad, 1, 1, rng)


def test_standardize_uses_train_statistics_only() -> None:
    train = np.array([[0.0, 5.0], [2.0, 5.0]])
    other = np.array([[4.0, 6.0]])
    (tr, ot), stats = standardize(train, other)
    assert stats.mean.tolist() == [1.0, 5.0] and stats.std.tolist() == [1.0, 1.0]
    assert tr.tolist() == [[-1.0, 0.0], [1.0, 0.0]]
    assert ot.tolist() == [[3.0, 1.0]]


@pytest.mark.parametrize("log_target", [False, True])
def test_houses_dataset_scaling_and_round_trip(log_target: bool) -> None:
    table = encode_houses(synthetic_houses(300, np.random.default_rng(0)))
    ds = houses_dataset(table, num_train=200, num_val=50, num_test=50, log_target=log_target,
                        rng=np.random.default_rng(1))
    F = len(table.feature_names)
    assert ds.X_train.shape == (200, F + 1) and ds.X_test.shape == (50, F + 1)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.float32
    assert ds.task == "regression" and ds.n_outputs == 1 and ds.feature_names is not None
    assert ds.feature_names[-1] == "bias" and (ds.X_val[:, -1] == 1).all()
    numeric = np.flatnonzero(~table.onehot)
    np.testing.assert_allclose(ds.X_train[:, numeric].mean(axis=0), 0, atol=1e-5)
    assert set(np.unique(ds.X_train[:, np.flatnonzero(table.onehot)])) <= {0.0, 1.0}
    assert abs(float(ds.y_train.mean())) < 1e-5 and abs(float(ds.y_train.std()) - 1) < 1e-4
    _, _, te = split_indices(300, 200, 50, 50, np.random.default_rng(1))
    np.testing.assert_allclose(to_price_units(ds.y_test, ds.info), table.price[te], rtol=1e-5)
    assert ds.info["log_target"] is log_target and ds.info["n_rows"] == 300
    assert len(ds.info["feature_std"]) == F and ds.info["price"]["min"] == table.price.min()


def test_log_target_needs_positive_prices() -> None:
    table = HouseTable(X=np.zeros((4, 1)), price=np.array([1.0, 0.0, 2.0, 3.0]),
                       feature_names=["a"], onehot=np.array([False]))
    with pytest.raises(DataError, match="every price > 0"):
        houses_dataset(table, num_train=2, num_val=1, num_test=1, log_target=True,
                       rng=np.random.default_rng(0))


def test_regression_metrics_known_answer() -> None:
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    assert m == pytest.approx({"rmse": 1.0, "mae": 0.5, "r2": 0.2})


def test_synthetic_is_deterministic_and_plausible() -> None:
    a = synthetic_houses(2000, np.random.default_rng(7))
    b = synthetic_houses(2000, np.random.default_rng(7))
    c = synthetic_houses(2000, np.random.default_rng(8))
    assert list(a) == ["id", "date", "price", *(
        "bedrooms bathrooms sqft_living sqft_lot floors waterfront view condition grade "
        "sqft_above sqft_basement yr_built yr_renovated zipcode lat long sqft_living15 "
        "sqft_lot15").split()]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["price"], c["price"])
    assert np.array_equal(a["sqft_above"] + a["sqft_basement"], a["sqft_living"])
    assert 50_000 < np.median(a["price"]) < 1_000_000 and a["price"].min() > 0
    assert a["grade"].min() >= 3 and a["grade"].max() <= 13
    assert np.corrcoef(np.log(a["sqft_living"]), a["grade"])[0, 1] > 0.5
    assert 47.0 < a["lat"].min() and a["lat"].max() < 48.0 and (a["long"] < -121.5).all()
    renovated = a["yr_renovated"] > 0
    assert (a["yr_renovated"][renovated] >= a["yr_built"][renovated]).all()
    assert len(np.unique(a["zipcode"])) > 30
    table = encode_houses(a, features=["date", "zipcode", "lat"], date="days")
    assert table.feature_names[:2] == ["sale_days", "zipcode_" + str(int(a["zipcode"].min()))]


def sample_csv() -> Path | None:
    here = Path(__file__).resolve().parents[1]
    for path in (here.parent / "shared/data/kc_house_sample.csv",
                 Path("/work/shared/data/kc_house_sample.csv")):
        if path.is_file():
            return path
    return None


@pytest.mark.skipif(sample_csv() is None, reason="kc_house_sample.csv not available")
def test_kaggle_sample_supports_linear_regression() -> None:
    from sklearn.linear_model import LinearRegression

    path = sample_csv()
    assert path is not None
    table = read_houses_csv(path)
    assert table.X.shape[0] == 2000 and table.n_dropped == 0
    ds = houses_dataset(table, num_train=0.7, num_val=0.15, num_test=0.15, log_target=True,
                        rng=np.random.default_rng(0))
    # float64: sqft_living = sqft_above + sqft_basement makes float32 least squares unstable.
    model = LinearRegression(fit_intercept=False).fit(ds.X_train.astype(np.float64), ds.y_train)
    pred = to_price_units(model.predict(ds.X_test.astype(np.float64)), ds.info)
    assert regression_metrics(to_price_units(ds.y_test, ds.info), pred)["r2"] > 0.6


# ---- no target leak: the known columns by default, extras only when named and harmless ----

def with_extras(path: Path, seed: int = 0) -> Path:
    """The CSV at ``path`` with pandas' ``Unnamed: 0`` index first, then ``price_per_sqft``
    (price / sqft_living, 2 decimals) and a harmless ``garage`` (0-3 cars) appended."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    rng = np.random.default_rng(seed)
    rows = []
    for i, line in enumerate(lines[1:]):
        cells = line.split(",")
        price = float(cells[header.index("price")])
        living = float(cells[header.index("sqft_living")])
        rows.append(f"{i},{line},{price / living:.2f},{rng.integers(0, 4)}")
    path.write_text("\n".join([",".join(["Unnamed: 0", *header, "price_per_sqft", "garage"]),
                               *rows]) + "\n")
    return path


def test_default_features_are_the_known_columns_only(tmp_path: Path) -> None:
    path = with_extras(write_kc_csv(tmp_path / "kc.csv", 60))
    table = read_houses_csv(path)
    plain = read_houses_csv(write_kc_csv(tmp_path / "plain.csv", 60))
    assert table.feature_names == plain.feature_names
    assert np.array_equal(table.X, plain.X)
    assert table.ignored == ["Unnamed: 0", "price_per_sqft", "garage"]
    ds = houses_dataset(table, num_train=40, num_val=10, num_test=10, log_target=True,
                        rng=np.random.default_rng(0))
    assert ds.info["ignored_columns"] == ["Unnamed: 0", "price_per_sqft", "garage"]


def test_a_named_harmless_extra_column_is_used(tmp_path: Path) -> None:
    path = with_extras(write_kc_csv(tmp_path / "kc.csv", 60))
    table = read_houses_csv(path, features=["sqft_living", "garage", "Unnamed: 0"])
    assert table.feature_names == ["sqft_living", "garage", "Unnamed: 0"]
    assert col(table, "Unnamed: 0").tolist() == list(range(60))
    assert set(col(table, "garage")) <= {0, 1, 2, 3}


def derived(tmp_path: Path, name: str, make) -> Path:
    """A 60-row CSV with one more column ``name`` = ``make(price, sqft_living)``."""
    path = write_kc_csv(tmp_path / "kc.csv", 60)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    out = [f"{lines[0]},{name}"]
    for line in lines[1:]:
        cells = line.split(",")
        price = float(cells[header.index("price")])
        living = float(cells[header.index("sqft_living")])
        out.append(f"{line},{make(price, living)}")
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.mark.parametrize(("name", "make", "why"), [
    ("price_per_sqft", lambda p, s: f"{p / s:.2f}", "its name mentions the target 'price'"),
    ("Sale Price", lambda p, s: p, "its name mentions the target 'price'"),
    ("ppsf", lambda p, s: f"{p / s:.2f}", "a constant times price / sqft_living"),
    ("sqft_per_kusd", lambda p, s: f"{1000 * s / p:.4f}", "a constant times sqft_living / price"),
    ("value_k", lambda p, s: f"{p / 1000:.0f}", "correlation with price is \\+1.0000"),
    ("log_value", lambda p, s: f"{np.log(p):.3f}", "correlation with log\\(price\\)"),
])
def test_a_named_column_derived_from_the_price_is_refused(tmp_path: Path, name, make,
                                                          why: str) -> None:
    path = derived(tmp_path, name, make)
    with pytest.raises(DataError) as err:
        read_houses_csv(path, features=["bedrooms", name])
    msg = str(err.value)
    assert msg.startswith(f"{path}: data.features names {name!r}, which would leak the target")
    assert re.search(why, msg) and "\n" not in msg
    assert name not in read_houses_csv(path).feature_names  # and by default it is ignored


def test_the_leak_check_survives_a_few_damaged_rows(tmp_path: Path) -> None:
    path = derived(tmp_path, "ppsf", lambda p, s: f"{p / s:.2f}")
    text = with_value(with_value(path.read_text(), 3, "ppsf", "1"), 7, "ppsf", "999")
    with pytest.raises(DataError, match="would leak the target"):
        read_houses_csv(write(tmp_path, text), features=["ppsf"])


def test_few_rows_do_not_make_a_harmless_column_a_leak() -> None:
    # With 3 rows, 3 unrelated values correlate above 0.99 one time in ten: not checked.
    price = np.array([221900.0, 538000.0, 180000.0])
    assert leak_reason("garage", np.array([1.0, 2.0, 0.5]), price, {}) is None
    assert leak_reason("garage", np.array([1.0, 2.0, 0.5]) * 1e5, price, {}) is None


def test_refusal_through_the_cli_is_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dlcli.cli import app

    path = derived(tmp_path, "ppsf", lambda p, s: f"{p / s:.2f}")
    res = CliRunner().invoke(app, ["data", "info", "configs/houses-linear.yaml", "--set",
                                   f"data.path={path}", "--set", "data.features=[ppsf, grade]"])
    assert res.exit_code == 2 and "'ppsf', which would leak the target" in res.output


@pytest.mark.skipif(sample_csv() is None, reason="kc_house_sample.csv not available")
def test_kaggle_sample_default_features_and_no_false_leaks(tmp_path: Path) -> None:
    path = sample_csv()
    assert path is not None
    table = read_houses_csv(path)
    zips = [n for n in table.feature_names if n.startswith("zipcode_")]
    at = STANDARD.index("zipcode")
    expected = ["sale_year", "sale_month", *STANDARD[:at], *zips, *STANDARD[at + 1:]]
    assert table.feature_names == expected and table.ignored == []
    # Every known column, were it an unknown extra, passes the leak check on real data.
    loose = read_houses_csv(path, features=STANDARD)
    columns = {n: col(loose, n) for n in STANDARD if n != "zipcode"}
    for name, values in columns.items():
        others = {k: v for k, v in columns.items() if k != name}
        assert leak_reason(f"extra_{name}", values, loose.price, others) is None, name
    # and price per square foot, added to the real file, is refused even when renamed.
    lines = path.read_text().splitlines()
    i, j = lines[0].split(",").index("price"), lines[0].split(",").index("sqft_living")
    rows = [f"{r},{float(r.split(',')[i]) / float(r.split(',')[j]):.2f}" for r in lines[1:]]
    copy = write(tmp_path, "\n".join([lines[0] + ",ppsf", *rows]) + "\n")
    with pytest.raises(DataError, match="price / sqft_living"):
        read_houses_csv(copy, features=["ppsf", "grade"])


# ---- houses-synthetic: the training rows depend on (seed, num_train) only -------------------

def synthetic_cfg(**data):
    from dlcli.config import validate

    return validate({"data": {"source": "houses-synthetic", **data},
                     "model": {"name": "linear-regression"}}).data


@pytest.mark.parametrize("extra", [{}, {"date": "days", "log_target": True},
                                   {"zipcode": "drop", "features": ["date", "lat", "grade"]}])
def test_synthetic_training_rows_do_not_depend_on_the_other_splits(extra) -> None:
    a = houses_synthetic_dataset(synthetic_cfg(num_train=300, num_val=50, num_test=100,
                                               **extra), seed=3)
    b = houses_synthetic_dataset(synthetic_cfg(num_train=300, num_val=80, num_test=500,
                                               **extra), seed=3)
    assert a.feature_names == b.feature_names
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_train, b.y_train)
    assert a.info["target_mean"] == b.info["target_mean"]
    assert len(a.y_test) == 100 and len(b.y_test) == 500
    assert (len(a.y_val), len(b.y_val)) == (50, 80)
    c = houses_synthetic_dataset(synthetic_cfg(num_train=300, num_val=50, num_test=100,
                                               **extra), seed=4)
    assert not np.array_equal(a.y_train, c.y_train)


def test_synthetic_fractions_and_counts() -> None:
    a = houses_synthetic_dataset(synthetic_cfg(num_train=0.5, num_val=0.1, num_test=0.1), 0)
    b = houses_synthetic_dataset(synthetic_cfg(num_train=0.5, num_val=0.2, num_test=0.3), 0)
    assert len(a.y_train) == 5000 and len(b.y_test) == 3000
    assert np.array_equal(a.X_train, b.X_train)
    one = houses_synthetic_dataset(synthetic_cfg(num_train=20, num_val=0, num_test=0), 0)
    assert (len(one.y_train), len(one.y_val), len(one.y_test)) == (20, 0, 0)
    assert sum(n.startswith("zipcode_") for n in one.feature_names) == 70  # the world's codes
    assert one.info["n_rows"] == 20 and one.info["n_dropped"] == 0
