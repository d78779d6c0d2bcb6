"""Is a column the target in disguise? The check every extra column named in ``data.features``
passes before it becomes a feature (the known King County columns are features by meaning).

Three cheap tests, each a near-certain sign that the column was computed from the price:

- its name mentions the target (``price_per_sqft``, ``log_price``);
- on at least ``MIN_ROWS_FOR_CORRELATION`` rows, ``|corr(column, price)|`` or
  ``|corr(column, log price)|`` is at least ``CORRELATION_LIMIT`` (price in other units, a
  rescaled or log price). Fewer rows tell a leak from chance poorly (3 unrelated values reach
  0.99 one time in ten), so small files rely on the other two tests;
- for another numeric column ``x`` (``sqft_living``, ...), ``column * x / price`` or
  ``column * price / x`` is the same number within ``RATIO_TOLERANCE`` on at least
  ``RATIO_SHARE`` of the rows where it is defined (price per square foot, square feet per
  dollar, in any unit). A share, not all rows, so a few damaged rows do not hide a leak.
"""

from __future__ import annotations

import numpy as np

MIN_ROWS_FOR_CORRELATION = 10
CORRELATION_LIMIT = 0.99
RATIO_TOLERANCE = 0.01  # relative: |log(ratio / median ratio)| < 0.01
RATIO_SHARE = 0.9
MIN_ROWS_FOR_RATIO = 3


def leak_reason(name: str, col: np.ndarray, price: np.ndarray,
                others: dict[str, np.ndarray]) -> str | None:
    """Why ``col (N,)`` looks derived from ``price (N,)``, or ``None``; ``others`` are the
    numeric columns ``(N,)`` to try as the ``x`` of a ratio (nan where a value is missing)."""
    if "price" in name.lower():
        return "its name mentions the target 'price'"
    with np.errstate(all="ignore"):
        corr = _correlation(col, price)
        if corr is not None:
            return corr
        for other, x in others.items():
            # col * x / price constant: col = k * price / x; col * price / x: col = k * x / price
            for ratio, label in ((col * x / price, f"price / {other}"),
                                 (col * price / x, f"{other} / price")):
                if _nearly_constant(ratio):
                    return f"it is a constant times {label} on the rows"
    return None


def _correlation(col: np.ndarray, price: np.ndarray) -> str | None:
    ok = np.isfinite(col) & (price > 0)
    if ok.sum() < MIN_ROWS_FOR_CORRELATION or np.ptp(col[ok]) == 0:
        return None
    for target, label in ((price[ok], "price"), (np.log(price[ok]), "log(price)")):
        if np.ptp(target) == 0:
            continue
        r = float(np.corrcoef(col[ok], target)[0, 1])
        if np.isfinite(r) and abs(r) >= CORRELATION_LIMIT:
            return f"its correlation with {label} is {r:+.4f}"
    return None


def _nearly_constant(ratio: np.ndarray) -> bool:
    logs = np.log(np.abs(ratio[np.isfinite(ratio) & (ratio != 0)]))
    logs = logs[np.isfinite(logs)]
    if len(logs) < MIN_ROWS_FOR_RATIO:
        return False
    near = np.abs(logs - np.median(logs)) < RATIO_TOLERANCE
    return bool(near.mean() >= RATIO_SHARE)
