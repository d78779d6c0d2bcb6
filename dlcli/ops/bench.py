"""Timing the lecture's naive loops against numpy over growing sizes, within a time budget."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.errors import UsageError
from dlcli.ops.operations import OPS, Args, describe_args, get_op
from dlcli.runtime.blas import limit_blas

# ---------------------------------------------------------------------------------------------
# bench: naive loops vs numpy over growing sizes, within a time budget.

DEFAULT_SIZES = (16, 32, 64, 128, 256)
_SLOW = 0.25  # seconds: one call this slow is timed once; its noise is negligible
_MIN_ROUND = 0.005  # seconds: fast calls are looped so one timing round lasts at least this
# Fast calls get extra rounds up to this many seconds: on a busy machine a BLAS call can wait a
# whole scheduler slice for a thread, and more rounds give a quiet one a chance to show.
_MIN_TOTAL = 0.05


@dataclass(frozen=True)
class BenchRow:
    op: str
    size: int
    shapes: str
    naive_s: float | None  # seconds per call; None when skipped to stay within the budget
    numpy_s: float

    @property
    def speedup(self) -> float | None:
        return None if self.naive_s is None else self.naive_s / self.numpy_s


def best_time(fn: Callable[..., Any], args: Args, repeats: int) -> float:
    """Best-of-``repeats`` seconds per call of ``fn(*args)``, measured with perf_counter."""
    start = time.perf_counter()
    fn(*args)
    best = time.perf_counter() - start
    if best >= _SLOW:
        return best
    number = max(1, int(_MIN_ROUND / max(best, 1e-9)))
    rounds, spent = 0, 0.0
    while rounds < repeats or (spent < _MIN_TOTAL and rounds < 20 * repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args)
        elapsed = time.perf_counter() - start
        best, spent, rounds = min(best, elapsed / number), spent + elapsed, rounds + 1
    return best


def _expected_cost(seconds_per_call: float, repeats: int) -> float:
    # Mirrors best_time: one call when slow, else a first call plus the timing rounds.
    if seconds_per_call >= _SLOW:
        return seconds_per_call
    return seconds_per_call + max(repeats * max(seconds_per_call, _MIN_ROUND), _MIN_TOTAL)


def _validate_bench(
    sizes: Sequence[int], repeats: int, time_budget: float, blas_threads: int | None
) -> None:
    if not sizes:
        raise UsageError("bench needs at least one size")
    if any(n < 1 for n in sizes):
        raise UsageError(f"bench sizes must be >= 1, got {list(sizes)}")
    if repeats < 1:
        raise UsageError(f"bench repeats must be >= 1, got {repeats}")
    if time_budget <= 0:
        raise UsageError(f"bench time budget must be > 0 seconds, got {time_budget}")
    if blas_threads is not None and blas_threads < 1:
        raise UsageError(f"bench BLAS threads must be >= 1 (or None), got {blas_threads}")


def bench(
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 5,
    time_budget: float = 25.0,
    ops: Sequence[str] | None = None,
    rng: np.random.Generator | None = None,
    on_row: Callable[[BenchRow], None] | None = None,
    blas_threads: int | None = 1,
) -> list[BenchRow]:
    """Time every operation's naive loops and numpy twin at each size n (see ``Op.bench_inputs``).

    Sizes run smallest first across all operations; a naive timing whose predicted cost (from the
    previous size and the operation's work exponent) would overrun ``time_budget`` seconds is
    skipped, together with the larger sizes of that operation. Rows come back by operation, size.

    ``blas_threads`` caps numpy's BLAS threads while timing (None: numpy's default). One thread
    compares like with like, as the loops use one core, and it avoids a trap on small machines:
    a BLAS worker left idle through a long Python loop cost 10-25 ms per np.dot here (2 vCPUs).
    """
    _validate_bench(sizes, repeats, time_budget, blas_threads)
    names = list(ops) if ops is not None else list(OPS)
    for name in names:
        get_op(name)  # an unknown name fails before any timing starts
    rng = rng if rng is not None else np.random.default_rng(0)
    with limit_blas(blas_threads):
        rows = _time_all(sorted(set(sizes)), names, repeats, time_budget, rng, on_row)
    return sorted(rows, key=lambda r: (names.index(r.op), r.size))


def _time_all(
    sizes: Sequence[int],
    names: Sequence[str],
    repeats: int,
    time_budget: float,
    rng: np.random.Generator,
    on_row: Callable[[BenchRow], None] | None,
) -> list[BenchRow]:
    start = time.perf_counter()
    last: dict[str, tuple[int, float]] = {}  # op -> (size, naive seconds) of its last timing
    skipped: set[str] = set()
    rows: list[BenchRow] = []
    for n in sizes:
        for name in names:
            op = OPS[name]
            args = op.bench_inputs(n, rng)
            naive_s = None
            if name not in skipped:
                n0, t0 = last.get(name, (n, 0.0))
                predicted = _expected_cost(t0 * (n / n0) ** op.work_exponent, repeats)
                if time.perf_counter() - start + predicted <= time_budget:
                    naive_s = best_time(op.naive, args, repeats)
                    last[name] = (n, naive_s)
                else:
                    skipped.add(name)
            numpy_s = best_time(op.numpy, args, repeats)
            rows.append(BenchRow(name, n, describe_args(args), naive_s, numpy_s))
            if on_row is not None:
                on_row(rows[-1])
    return rows
