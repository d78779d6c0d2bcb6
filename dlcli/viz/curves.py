"""A run folder's metrics.csv read back as curves: the loss of every iteration and the training
and validation metric of every evaluation; and the moving average the plots draw over a noisy
loss. No matplotlib here: the HTML report and ``runs show`` may read curves without it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TRAIN_COLUMNS = ("train_accuracy", "train_r2")
VAL_COLUMNS = ("val_accuracy", "val_r2", "neg_loss")  # neg_loss: a landscape's -f(w)
MAX_WINDOW = 100  # the moving average's widest window (iterations)


@dataclass
class Curves:
    """A run folder's metrics.csv as columns (every segment of a resumed run): the loss of
    every iteration, and at each evaluation the training and validation metric (None where a
    row has none)."""

    iterations: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    train_name: str | None = None  # train_accuracy, train_r2; None for a landscape
    val_name: str | None = None  # val_accuracy, val_r2, neg_loss
    evals: list[int] = field(default_factory=list)  # the iterations with an evaluation
    train: list[float | None] = field(default_factory=list)
    val: list[float | None] = field(default_factory=list)

    @property
    def landscape(self) -> bool:
        return self.val_name == "neg_loss"

    @property
    def has_metrics(self) -> bool:
        """Whether there is a metric panel to draw (never for a landscape: it would be -f)."""
        return not self.landscape and any(v is not None for v in (*self.train, *self.val))


def read_curves(run_dir: Path) -> Curves:
    """:class:`Curves` from ``run_dir/metrics.csv``; what there is of it (a run still writing
    may end on half a line; a missing or unreadable file gives empty curves)."""
    out = Curves()
    try:
        with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as fh:
            text = fh.read()
        # A line without its newline is one being written: "1.7" may so far read "1."
        rows = csv.reader(io.StringIO(text[:text.rfind("\n") + 1]))
        head = next(rows, [])
        out.train_name = next((c for c in TRAIN_COLUMNS if c in head), None)
        out.val_name = next((c for c in VAL_COLUMNS if c in head), None)
        it, loss = head.index("iteration"), head.index("loss")
        tr = head.index(out.train_name) if out.train_name else None
        va = head.index(out.val_name) if out.val_name else None
        for row in rows:
            i, v = int(row[it]), float(row[loss])
            t, m = _cell(row, tr), _cell(row, va)
            out.iterations.append(i)
            out.losses.append(v)
            if t is not None or m is not None:
                out.evals.append(i)
                out.train.append(t)
                out.val.append(m)
    except (OSError, ValueError, IndexError, csv.Error):
        pass  # the rows read so far stand
    return out


def _cell(row: Sequence[str], index: int | None) -> float | None:
    if index is None or index >= len(row) or not row[index]:
        return None
    return float(row[index])


def moving_average(xs: Sequence[float], window: int) -> list[float]:
    """The mean of the ``window`` values centred on each one (``window`` made odd), so the
    average does not lag behind the raw curve; near either end the window shrinks to stay
    centred (the first value is its own mean: no bend a steep start does not have). Values
    that are not finite are left out. Direct sums, not a running total: one spike of 1e30 must
    not wipe out the precision of every later mean."""
    import numpy as np

    x = np.asarray(xs, dtype=np.float64)
    n, half = len(x), max(0, window // 2)
    ok = np.isfinite(x)
    vals = np.where(ok, x, 0.0)
    out = np.full(n, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        if n > 2 * half:  # the middle: full windows
            kernel = np.ones(2 * half + 1)
            sums = np.convolve(vals, kernel, mode="valid")
            counts = np.convolve(ok.astype(np.float64), kernel, mode="valid")
            out[half:n - half] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        for i in [*range(min(half, n)), *range(max(half, n - half), n)]:
            h = min(half, i, n - 1 - i)
            seen = ok[i - h:i + h + 1]
            if seen.any():
                out[i] = vals[i - h:i + h + 1].sum() / seen.sum()
    return out.tolist()


def window_for(n: int) -> int:
    """The moving average's window for ``n`` iterations: a twentieth of the run, at most 100."""
    return max(1, min(MAX_WINDOW, n // 20))
