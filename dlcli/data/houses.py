"""King County house prices: the CSV reader, a synthetic twin, and the regression Dataset.

Both sources produce the same raw columns (``Columns``: name -> ``(N,)`` array, float64 except
``date`` as ``datetime64[D]``) and share one encoding step, so ``features``, ``date`` and
``zipcode`` mean the same thing for ``houses`` and ``houses-synthetic``.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from dlcli.data import Dataset
from dlcli.errors import DataError

Columns = dict[str, np.ndarray]
DateMode = Literal["year-month", "days"]
ZipMode = Literal["onehot", "drop"]
Amount = int | float  # a row count, or a fraction of the table in (0, 1]

# The Kaggle file's columns after id, date and price; any of them may be absent from a copy.
STANDARD = (
    "bedrooms bathrooms sqft_living sqft_lot floors waterfront view condition grade sqft_above "
    "sqft_basement yr_built yr_renovated zipcode lat long sqft_living15 sqft_lot15"
).split()


@dataclass
class HouseTable:
    """Encoded features before any split: ``X (N, F)`` float64 raw (unscaled) values,
    ``price (N,)`` float64, one name per column of ``X``; ``onehot (F,)`` marks zipcode columns."""

    X: np.ndarray
    price: np.ndarray
    feature_names: list[str]
    onehot: np.ndarray
    n_dropped: int = 0
    source: str = "houses-synthetic"


def read_houses_csv(
    path: str | Path,
    *,
    features: Sequence[str] | None = None,
    date: DateMode = "year-month",
    zipcode: ZipMode = "onehot",
    drop_invalid: bool = False,
) -> HouseTable:
    """Read a King County CSV by header names (quoted fields, extra or missing columns are fine).

    Default features: every known column present except ``id`` and ``price``, plus any extra
    column whose values are all numbers. Only the target and the chosen features are validated.
    """
    header, rows, line_nos = _read_rows(Path(path))
    src = str(path)

    def numeric(name: str) -> bool:
        i = header.index(name)
        return all(_number(r[i]) is not None for r in rows)

    wanted = _resolve_features(header, features, zipcode, src, numeric)
    columns, n_dropped = _parse_columns(src, header, rows, line_nos, ["price", *wanted],
                                       drop_invalid)
    return encode_houses(columns, features=wanted, date=date, zipcode=zipcode, source=src,
                         n_dropped=n_dropped)


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows (blank lines skipped) and the line number each row ends on."""
    rows: list[list[str]] = []
    line_nos: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for row in reader:
                if row:
                    rows.append(row)
                    line_nos.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot read the CSV ({err})") from err
    if not rows:
        raise DataError(f"{path}: the file is empty; expected a header line and data rows")
    header = [h.strip() for h in rows[0]]
    if "price" not in header:
        raise DataError(f"{path}: no 'price' column in the header; found {', '.join(header)}")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise DataError(f"{path}: column {dup!r} appears more than once in the header")
    if len(rows) == 1:
        raise DataError(f"{path}: the header has no data rows below it")
    for row_no, (row, line_no) in enumerate(zip(rows[1:], line_nos[1:], strict=True), start=1):
        if len(row) != len(header):
            raise DataError(f"{path}: row {row_no} (line {line_no}) has {len(row)} fields, "
                            f"expected {len(header)} as in the header")
    return header, rows[1:], line_nos[1:]


def _resolve_features(available: Sequence[str], features: Sequence[str] | None, zipcode: ZipMode,
                      src: str, numeric: Callable[[str], bool]) -> list[str]:
    """The raw columns to encode, in order; ``numeric`` decides whether an extra column counts."""
    candidates = [c for c in available if c not in ("id", "price")]
    if features is None:
        chosen = [c for c in candidates if (c in STANDARD or c == "date" or numeric(c))
                  and not (c == "zipcode" and zipcode == "drop")]
        if not chosen:
            raise DataError(f"{src}: no numeric feature columns besides id and price")
        return chosen
    if not features:
        raise DataError(f"{src}: data.features is empty; name at least one column")
    for name in features:
        if name in ("id", "price"):
            raise DataError(f"{src}: data.features may not include {name!r} (id is never a "
                            "feature and price is the target)")
        if name not in candidates:
            close = difflib.get_close_matches(name, candidates, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(f"{src}: data.features names unknown column {name!r}{hint}; "
                            f"available: {', '.join(candidates)}")
        if name == "zipcode" and zipcode == "drop":
            raise DataError(f"{src}: data.features lists 'zipcode' but data.zipcode is 'drop'")
    if len(set(features)) != len(features):
        raise DataError(f"{src}: data.features lists a column twice: {list(features)}")
    return list(features)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None  # 'nan' and 'inf' count as missing


def _date(text: str) -> np.datetime64 | None:
    text = text.strip()
    if len(text) == 15 and text.endswith("T000000"):  # Kaggle's 20141013T000000
        text = f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    try:
        return np.datetime64(text, "D") if len(text) == 10 else None
    except ValueError:
        return None


def _parse_columns(src: str, header: list[str], rows: list[list[str]], line_nos: list[int],
                   names: list[str], drop_invalid: bool) -> tuple[Columns, int]:
    """Parse ``names`` from every row; a bad value raises, or with ``drop_invalid`` drops the row.
    Rows are numbered from 1 below the header."""
    where = [header.index(n) for n in names]
    kept: list[list[Any]] = []
    for row_no, (row, line_no) in enumerate(zip(rows, line_nos, strict=True), start=1):
        values: list[Any] = []
        for name, i in zip(names, where, strict=True):
            value = _date(row[i]) if name == "date" else _number(row[i])
            if value is None:
                if drop_invalid:
                    break
                what = "a date like 20141013T000000 or 2014-10-13" if name == "date" else "a number"
                raise DataError(f"{src}: row {row_no} (line {line_no}), column {name!r}: "
                                f"expected {what}, got {row[i]!r}")
            values.append(value)
        else:
            kept.append(values)
    if not kept:
        raise DataError(f"{src}: all {len(rows)} rows have a missing or invalid value")
    columns = {n: np.array([v[j] for v in kept],
                           dtype="datetime64[D]" if n == "date" else np.float64)
               for j, n in enumerate(names)}
    return columns, len(rows) - len(kept)


def encode_houses(columns: Columns, *, features: Sequence[str] | None = None,
                  date: DateMode = "year-month", zipcode: ZipMode = "onehot",
                  source: str = "houses-synthetic", n_dropped: int = 0) -> HouseTable:
    """Turn raw columns into numeric features: ``date`` -> sale_year, sale_month (or sale_days
    since the earliest sale), ``zipcode`` -> one 0/1 column per zipcode seen in *all* rows.

    Zipcode categories come from every row, not just training rows: that uses no labels, keeps
    the feature names independent of the split, and a zipcode absent from training simply has
    a column that is zero there.
    """
    wanted = _resolve_features(list(columns), features, zipcode, source, lambda _: True)
    blocks, names, onehot = [], [], []
    for name in wanted:
        block, block_names = _encode_column(name, columns[name], date)
        blocks.append(block)
        names += block_names
        onehot += [name == "zipcode"] * len(block_names)
    return HouseTable(X=np.hstack(blocks), price=columns["price"].astype(np.float64),
                      feature_names=names, onehot=np.array(onehot), n_dropped=n_dropped,
                      source=source)


def _encode_column(name: str, col: np.ndarray, date: DateMode) -> tuple[np.ndarray, list[str]]:
    """One raw ``(N,)`` column -> ``(N, k)`` float64 feature block and its ``k`` names."""
    if name == "date" and date == "days":
        return (col - col.min()).astype(np.float64)[:, None], ["sale_days"]
    if name == "date":
        months = col.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
        return np.stack([1970 + months // 12, months % 12 + 1], 1).astype(np.float64), [
            "sale_year", "sale_month"]
    if name == "zipcode":
        codes = np.unique(col)
        return (col[:, None] == codes).astype(np.float64), [f"zipcode_{int(c)}" for c in codes]
    return col.astype(np.float64)[:, None], [name]


def split_indices(n: int, num_train: Amount, num_val: Amount, num_test: Amount,
                  rng: np.random.Generator, *, source: str = "data"
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle ``range(n)`` once with ``rng`` and cut it into train, val and test index arrays.

    Each amount is a count (int >= 0; train >= 1) or a fraction of ``n`` (float in (0, 1]);
    fractions are rounded at the cumulative boundaries, so 0.8/0.1/0.1 uses every row once.
    """
    amounts = {"train": num_train, "val": num_val, "test": num_test}
    for part, a in amounts.items():
        least = 1 if part == "train" else 0  # statistics come from train, so it needs rows
        is_count = isinstance(a, int) and not isinstance(a, bool) and a >= least
        if not (is_count or (isinstance(a, float) and 0.0 < a <= 1.0)):
            raise DataError(f"{source}: num_{part} must be a count >= {least} or a fraction in "
                            f"(0, 1], got {a!r}")
    rows = [a * n if isinstance(a, float) else a for a in amounts.values()]
    ends = np.rint(np.cumsum(rows)).astype(int)
    counts = np.diff(ends, prepend=0)
    asked = " + ".join(f"{a} {p}" for p, a in amounts.items())
    if ends[-1] > n:
        raise DataError(f"{source}: asked for {asked} = {ends[-1]} rows, but only {n} available")
    for (part, a), c in zip(amounts.items(), counts, strict=True):
        if c == 0 and a != 0:
            raise DataError(f"{source}: num_{part}={a} of {n} rows is less than one row")
    order = rng.permutation(n)
    return order[: ends[0]], order[ends[0]: ends[1]], order[ends[1]: ends[2]]


class Stats(NamedTuple):
    mean: np.ndarray  # (D,) or () for a 1-d input
    std: np.ndarray


def standardize(train: np.ndarray, *others: np.ndarray) -> tuple[list[np.ndarray], Stats]:
    """``(x - mean) / std`` along axis 0 for ``train (N, D)`` and each ``other (M, D)``, with
    mean and std from ``train`` only; a constant column keeps std 1 (it is only centred)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return [(x - mean) / std for x in (train, *others)], Stats(mean, std)


def houses_dataset(table: HouseTable, *, num_train: Amount, num_val: Amount, num_test: Amount,
                   log_target: bool, rng: np.random.Generator) -> Dataset:
    """Split, scale and package a table for regression.

    ``X_* (N, F + 1)`` float32: numeric columns standardized with training statistics, zipcode
    one-hot columns left 0/1, then a constant 1 column named ``"bias"`` appended last so the
    bias-trick linear models (``W (F + 1, 1)``) work unchanged. ``y_* (N,)`` float32: price (or
    log price) standardized with the training mean/std kept in ``info``; invert predictions
    with :func:`to_price_units`.
    """
    if log_target and (table.price <= 0).any():
        raise DataError(f"{table.source}: data.log_target needs every price > 0, "
                        f"got {table.price.min():g}")
    tr, va, te = split_indices(len(table.price), num_train, num_val, num_test, rng,
                               source=table.source)
    target = np.log(table.price) if log_target else table.price
    (y_tr, y_va, y_te), ys = standardize(target[tr], target[va], target[te])
    # One-hot columns stay 0/1: scaling a rare zipcode by 1/std would give values near 20.
    num = ~table.onehot
    xs = [table.X[idx].copy() for idx in (tr, va, te)]
    scaled, xstats = standardize(*(x[:, num] for x in xs))
    for x, s in zip(xs, scaled, strict=True):
        x[:, num] = s
    X_tr, X_va, X_te = (np.hstack([x, np.ones((len(x), 1))]).astype(np.float32) for x in xs)
    # Per feature (bias excluded); one-hot columns show mean 0, std 1: left as they are.
    mean, std = np.zeros(len(num)), np.ones(len(num))
    mean[num], std[num] = xstats.mean, xstats.std
    p = table.price
    info = {"source": table.source, "log_target": log_target, "n_rows": len(p),
            "n_dropped": table.n_dropped, "target_mean": float(ys.mean),
            "target_std": float(ys.std), "feature_mean": mean.tolist(),
            "feature_std": std.tolist(),
            "price": {"min": float(p.min()), "median": float(np.median(p)),
                      "mean": float(p.mean()), "max": float(p.max())}}
    return Dataset(X_tr, y_tr.astype(np.float32), X_va, y_va.astype(np.float32), X_te,
                   y_te.astype(np.float32), task="regression", num_classes=0,
                   feature_names=[*table.feature_names, "bias"], info=info)


def to_price_units(y_pred_std: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """Undo the target scaling (and the log) of :func:`houses_dataset`: ``(N,)`` -> price."""
    y = np.asarray(y_pred_std, dtype=np.float64) * info["target_std"] + info["target_mean"]
    return np.exp(y) if info["log_target"] else y


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² of ``y_pred (N,)`` against ``y_true (N,)``; R² is nan for constant truth."""
    y_true = np.asarray(y_true, np.float64).ravel()
    err = np.asarray(y_pred, np.float64).ravel() - y_true
    total = float(((y_true - y_true.mean()) ** 2).sum())
    r2 = 1.0 - float((err**2).sum()) / total if total > 0 else float("nan")
    return {"rmse": float(np.sqrt((err**2).mean())), "mae": float(np.abs(err).mean()), "r2": r2}
