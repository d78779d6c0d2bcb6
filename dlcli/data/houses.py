"""King County house prices: choosing the features, encoding, splitting, scaling, the
regression Dataset and its metrics. The bytes are read by ``houses_csv``, the made-up table
comes from ``houses_synthetic``, the leak check from ``target_leak``.

Both sources produce the same raw columns (``Columns``: name -> ``(N,)`` array, float64 except
``date`` as ``datetime64[D]``) and share one encoding step, so ``features``, ``date`` and
``zipcode`` mean the same thing for ``houses`` and ``houses-synthetic``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from dlcli.data import Dataset
from dlcli.data.houses_csv import Columns, read_csv_columns, show, show_names
from dlcli.data.target_leak import leak_reason
from dlcli.errors import DataError

DateMode = Literal["year-month", "days"]
ZipMode = Literal["onehot", "drop"]
Amount = int | float  # a row count, or a fraction of the table in (0, 1]
Parts = tuple[np.ndarray, np.ndarray, np.ndarray]  # train, val, test row indices

# The Kaggle file's columns after id, date and price; any of them may be absent from a copy.
STANDARD = (
    "bedrooms bathrooms sqft_living sqft_lot floors waterfront view condition grade sqft_above "
    "sqft_basement yr_built yr_renovated zipcode lat long sqft_living15 sqft_lot15"
).split()
MAX_ZIPCODES = 200  # one-hot columns; King County has 70


@dataclass
class HouseTable:
    """Encoded features before any split: ``X (N, F)`` float64 raw (unscaled) values,
    ``price (N,)`` float64, one name per column of ``X``; ``onehot (F,)`` marks zipcode columns."""

    X: np.ndarray
    price: np.ndarray
    feature_names: list[str]
    onehot: np.ndarray
    n_dropped: int = 0  # rows left out by drop_invalid
    source: str = "houses-synthetic"
    # Columns of the source that are not features (neither id nor price), in file order.
    ignored: list[str] = field(default_factory=list)


def read_houses_csv(
    path: str | Path,
    *,
    features: Sequence[str] | None = None,
    date: DateMode = "year-month",
    zipcode: ZipMode = "onehot",
    drop_invalid: bool = False,
) -> HouseTable:
    """Read a King County CSV by header names (quoted fields, extra or missing columns are fine).

    Default features: the known columns present (``STANDARD`` and ``date``; never ``id`` or
    ``price``). Another column is a feature only when ``features`` names it, and then only if
    it does not look derived from the price (:mod:`dlcli.data.target_leak`). Only the target
    and the chosen features are validated; the columns left out are listed in ``ignored``.
    """
    src = str(path)
    chosen: list[str] = []

    def choose(header: list[str]) -> tuple[list[str], list[str]]:
        chosen[:] = _resolve_features(header, features, zipcode, src)
        extras = [c for c in chosen if c not in STANDARD and c != "date"]
        # Known numeric columns not chosen are read too (bad values as nan), as the x of the
        # leak check's ratios; only when there are extras to check.
        refs = [c for c in header if c in STANDARD and c not in chosen] if extras else []
        return ["price", *chosen], refs

    header, columns, n_dropped = read_csv_columns(Path(path), choose, drop_invalid=drop_invalid)
    _refuse_leaks(src, columns, chosen)
    table = encode_houses(columns, features=chosen, date=date, zipcode=zipcode, source=src,
                          n_dropped=n_dropped)
    table.ignored = [c for c in header if c not in ("id", "price", *chosen)]
    return table


def _resolve_features(available: Sequence[str], features: Sequence[str] | None, zipcode: ZipMode,
                      src: str) -> list[str]:
    """The raw columns to encode, in order: ``features``, or the known ones in ``available``."""
    candidates = [c for c in available if c not in ("id", "price")]
    if features is None:
        chosen = [c for c in candidates if (c in STANDARD or c == "date")
                  and not (c == "zipcode" and zipcode == "drop")]
        if not chosen:
            raise DataError(f"{src}: no King County feature columns (bedrooms, sqft_living, ...) "
                            f"in the header; name the columns to use in data.features")
        return chosen
    if not features:
        raise DataError(f"{src}: data.features is empty; name at least one column")
    for name in features:
        if name in ("id", "price"):
            raise DataError(f"{src}: data.features may not include {name!r} (id is never a "
                            "feature and price is the target)")
        if name not in candidates:
            close = difflib.get_close_matches(name, candidates, n=1)
            hint = f" (did you mean {show(close[0])}?)" if close else ""
            raise DataError(f"{src}: data.features names unknown column {show(name)}{hint}; "
                            f"available: {show_names(candidates)}")
        if name == "zipcode" and zipcode == "drop":
            raise DataError(f"{src}: data.features lists 'zipcode' but data.zipcode is 'drop'")
    if len(set(features)) != len(features):
        raise DataError(f"{src}: data.features lists a column twice: {list(features)}")
    return list(features)


def _refuse_leaks(src: str, columns: Columns, chosen: list[str]) -> None:
    """A named extra column computed from the price would hand the model its answer."""
    numeric = {c: v for c, v in columns.items() if c not in ("price", "date")}
    for name in chosen:
        if name in STANDARD or name == "date":
            continue
        others = {c: v for c, v in numeric.items() if c != name}
        reason = leak_reason(name, columns[name], columns["price"], others)
        if reason is not None:
            raise DataError(f"{src}: data.features names {show(name)}, which would leak the "
                            f"target into the inputs ({reason}); leave it out of data.features")


def encode_houses(columns: Columns, *, features: Sequence[str] | None = None,
                  date: DateMode = "year-month", zipcode: ZipMode = "onehot",
                  source: str = "houses-synthetic", n_dropped: int = 0,
                  zip_codes: np.ndarray | None = None, first_day: np.datetime64 | None = None,
                  ) -> HouseTable:
    """Turn raw columns into numeric features: ``date`` -> sale_year, sale_month (or sale_days
    since ``first_day``, default the earliest sale), ``zipcode`` -> one 0/1 column per code in
    ``zip_codes`` (default: every code seen in *all* rows).

    Zipcode categories come from every row, not just training rows: that uses no labels, keeps
    the feature names independent of the split, and a zipcode absent from training simply has
    a column that is zero there. A generator that knows its codes and first day passes them,
    so the training rows' features do not depend on the other splits' rows.
    """
    wanted = _resolve_features(list(columns), features, zipcode, source)
    blocks, names, onehot = [], [], []
    for name in wanted:
        col = columns[name]
        if name == "date":
            block, block_names = _encode_date(col, date, col.min() if first_day is None
                                              else first_day)
        elif name == "zipcode":
            block, block_names = _encode_zipcode(col, zip_codes, source)
        else:
            block, block_names = col[:, None], [name]
        blocks.append(block)
        names += block_names
        onehot += [name == "zipcode"] * len(block_names)
    return HouseTable(X=np.hstack(blocks).astype(np.float64, copy=False),
                      price=columns["price"].astype(np.float64, copy=False), feature_names=names,
                      onehot=np.array(onehot), n_dropped=n_dropped, source=source,
                      ignored=[c for c in columns if c not in ("id", "price", *wanted)])


def _encode_date(col: np.ndarray, date: DateMode, first_day: np.datetime64
                 ) -> tuple[np.ndarray, list[str]]:
    """``(N,)`` datetime64[D] -> ``(N, 1)`` sale_days or ``(N, 2)`` sale_year, sale_month."""
    if date == "days":
        return (col - first_day).astype(np.float64)[:, None], ["sale_days"]
    months = col.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    return np.stack([1970 + months // 12, months % 12 + 1], 1).astype(np.float64), [
        "sale_year", "sale_month"]


def _encode_zipcode(col: np.ndarray, codes: np.ndarray | None, source: str
                    ) -> tuple[np.ndarray, list[str]]:
    """``(N,)`` codes -> ``(N, K)`` 0/1 columns, one per code (at most ``MAX_ZIPCODES``: the
    block costs 8 K bytes a row, so the count of codes bounds it by the file's size)."""
    codes = np.unique(col) if codes is None else codes
    if len(codes) > MAX_ZIPCODES:
        raise DataError(f"{source}: column 'zipcode' has {len(codes):,} distinct values, more "
                        f"than the {MAX_ZIPCODES} one-hot columns allowed (King County has 70); "
                        "set data.zipcode: drop")
    names = [f"zipcode_{int(c) if float(c).is_integer() else c}" for c in codes]
    return (col[:, None] == codes).astype(np.float64), names


def split_counts(n: int, num_train: Amount, num_val: Amount, num_test: Amount, *,
                 source: str = "data") -> tuple[int, int, int]:
    """Rows per split out of ``n``. Each amount is a count (int >= 0; train >= 1) or a fraction
    of ``n`` (float in (0, 1]); fractions are rounded at the cumulative boundaries, so
    0.8/0.1/0.1 uses every row once, and the training count depends on ``num_train`` only."""
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
    return int(counts[0]), int(counts[1]), int(counts[2])


def split_indices(n: int, num_train: Amount, num_val: Amount, num_test: Amount,
                  rng: np.random.Generator, *, source: str = "data") -> Parts:
    """Shuffle ``range(n)`` once with ``rng`` and cut it into train, val and test index arrays
    of :func:`split_counts` rows."""
    tr, va, te = split_counts(n, num_train, num_val, num_test, source=source)
    order = rng.permutation(n)
    return order[:tr], order[tr: tr + va], order[tr + va: tr + va + te]


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


def _standardize_finite(names: list[str], source: str, train: np.ndarray, *others: np.ndarray
                        ) -> tuple[list[np.ndarray], Stats]:
    """:func:`standardize`, refusing a column that float32 cannot hold once scaled: values
    near 1e308 overflow its statistics, a value 1e38 standard deviations out overflows float32.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        scaled, stats = standardize(train, *others)
        ok = np.isfinite(stats.mean) & np.isfinite(stats.std)
        for x in scaled:
            ok &= (np.abs(x) <= np.finfo(np.float32).max).all(axis=0)
    if not ok.all():
        col = names[int(np.argmin(np.atleast_1d(ok)))]
        raise DataError(f"{source}: column {show(col)} has values too far apart to standardize "
                        "in float32 (its mean, standard deviation or a scaled value overflows)")
    return scaled, stats


def houses_dataset(table: HouseTable, *, num_train: Amount, num_val: Amount, num_test: Amount,
                   log_target: bool, rng: np.random.Generator) -> Dataset:
    """Split ``table`` by shuffling its rows with ``rng``, then :func:`dataset_from_parts`."""
    parts = split_indices(len(table.price), num_train, num_val, num_test, rng,
                          source=table.source)
    return dataset_from_parts(table, parts, log_target=log_target)


def dataset_from_parts(table: HouseTable, parts: Parts, *, log_target: bool) -> Dataset:
    """Scale and package a table's train, val and test rows (index arrays) for regression.

    ``X_* (N, F + 1)`` float32: numeric columns standardized with training statistics, zipcode
    one-hot columns left 0/1, then a constant 1 column named ``"bias"`` appended last so the
    bias-trick linear models (``W (F + 1, 1)``) work unchanged. ``y_* (N,)`` float32: price (or
    log price) standardized with the training mean/std kept in ``info``; invert predictions
    with :func:`to_price_units`.
    """
    if log_target and (table.price <= 0).any():
        raise DataError(f"{table.source}: data.log_target needs every price > 0, "
                        f"got {table.price.min():g}")
    target = np.log(table.price) if log_target else table.price
    (y_tr, y_va, y_te), ys = _standardize_finite(["price"], table.source,
                                                 *(target[idx] for idx in parts))
    # One-hot columns stay 0/1: scaling a rare zipcode by 1/std would give values near 20.
    num = ~table.onehot
    xs = [table.X[idx] for idx in parts]  # fancy indexing: copies
    scaled, xstats = _standardize_finite([n for n, k in zip(table.feature_names, num,
                                                            strict=True) if k],
                                         table.source, *(x[:, num] for x in xs))
    for x, s in zip(xs, scaled, strict=True):
        x[:, num] = s
    X_tr, X_va, X_te = (np.hstack([x, np.ones((len(x), 1))]).astype(np.float32) for x in xs)
    # Per feature (bias excluded); one-hot columns show mean 0, std 1: left as they are.
    mean, std = np.zeros(len(num)), np.ones(len(num))
    mean[num], std[num] = xstats.mean, xstats.std
    p = table.price  # its mean divides first: a sum of prices near 1e308 would overflow
    info = {"source": table.source, "log_target": log_target, "n_rows": len(p),
            "n_dropped": table.n_dropped, "ignored_columns": list(table.ignored),
            "target_mean": float(ys.mean), "target_std": float(ys.std),
            "feature_mean": mean.tolist(), "feature_std": std.tolist(),
            "price": {"min": float(p.min()), "median": float(np.median(p)),
                      "mean": float(np.mean(p / len(p)) * len(p)), "max": float(p.max())}}
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
